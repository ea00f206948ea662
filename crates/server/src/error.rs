//! The one error type of the HTTP edge: every failure becomes Twilio's error JSON,
//! `{"code", "message", "more_info", "status"}`, plus `details` where there is more to say.
//! A client's mistake is never a 5xx, and internals never reach the body.

use addons_domain::error_code::more_info_url;
use addons_domain::problem::Problem;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Twilio-style codes for errors that have no more specific code (they mirror the status).
pub mod codes {
    /// A parameter is missing or invalid.
    pub const INVALID_PARAMETER: u32 = 20001;
    /// Authentication failed.
    pub const AUTHENTICATE: u32 = 20003;
    /// Method not allowed on this resource.
    pub const METHOD_NOT_ALLOWED: u32 = 20004;
    /// The account may not do this.
    pub const FORBIDDEN: u32 = 20403;
    /// Not found.
    pub const NOT_FOUND: u32 = 20404;
    /// A unique name is taken.
    pub const CONFLICT: u32 = 20409;
    /// Request body too large.
    pub const TOO_LARGE: u32 = 20413;
    /// Internal error.
    pub const INTERNAL: u32 = 20500;
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// 401: missing or wrong credentials.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, codes::AUTHENTICATE, "Authenticate")
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }

    /// 404 for a path, in Twilio's words.
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("The requested resource {path} was not found"),
        )
    }

    /// 400 naming the parameter and the reason.
    pub fn invalid(parameter: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            format!("Invalid parameter {parameter}: {reason}"),
        )
    }

    /// 400 for a document with problems, each with its JSON pointer.
    pub fn problems(what: &str, problems: &[Problem]) -> ApiError {
        let summary: Vec<String> = problems
            .iter()
            .map(|p| {
                if p.pointer.is_empty() {
                    p.message.clone()
                } else {
                    format!("{}: {}", p.pointer, p.message)
                }
            })
            .collect();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            format!(
                "The {what} has {} problem{}: {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                summary.join("; ")
            ),
        )
        .with_details(json!({ "problems": problems }))
    }

    /// 409: a unique name is taken.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, message)
    }

    /// 500, logging the cause and saying nothing of it to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "Internal Server Error",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": more_info_url(self.code),
            "status": self.status.as_u16(),
        });
        if let (Some(details), Some(object)) = (self.details, body.as_object_mut()) {
            object.insert("details".to_owned(), details);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

impl From<addons_store::StoreError> for ApiError {
    fn from(error: addons_store::StoreError) -> ApiError {
        match error {
            addons_store::StoreError::Conflict(message) => ApiError::conflict(message),
            other => ApiError::internal(&other),
        }
    }
}

/// Fallback for unknown paths.
pub async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

/// Fallback for known paths with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("Method {method} is not allowed on {}", uri.path()),
    )
}
