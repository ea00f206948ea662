//! Request extractors whose rejections are Twilio errors naming the field at fault: form bodies
//! (Twilio's writes are form-encoded), JSON bodies (the admin API), query strings and paths.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::Value;

use crate::error::{ApiError, codes};

/// Reads a request body, answering 413 when it is larger than the configured limit.
async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                "The request body is too large",
            )
        } else {
            ApiError::invalid("body", rejection.body_text())
        }
    })
}

fn content_type(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Form parameters, in order, repeated names kept.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `a=b&c=d`.
    pub fn parse(text: &[u8]) -> Params {
        Params(form_urlencoded::parse(text).into_owned().collect())
    }

    /// The last value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::invalid(name, "is required"))
    }

    /// A boolean, written as Twilio's SDKs write it (`true`/`false`, any case).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(text) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(text) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(text) => Err(ApiError::invalid(name, format!("'{text}' is not true or false"))),
        }
    }
}

/// A form-encoded body.
#[derive(Debug)]
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let kind = content_type(&request);
        let bytes = body_bytes(request, state).await?;
        if !bytes.is_empty() && kind != "application/x-www-form-urlencoded" {
            return Err(ApiError::invalid(
                "Content-Type",
                format!("expected application/x-www-form-urlencoded, got '{kind}'"),
            ));
        }
        Ok(Form(Params::parse(&bytes)))
    }
}

/// A JSON body (any JSON value; the handler checks its shape).
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let kind = content_type(&request);
        let bytes = body_bytes(request, state).await?;
        if kind != "application/json" && !kind.ends_with("+json") {
            return Err(ApiError::invalid(
                "Content-Type",
                format!("expected application/json, got '{kind}'"),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::invalid("body", format!("not valid JSON: {error}")))
    }
}

/// The query string's parameters.
#[derive(Debug)]
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Query(Params::parse(
            parts.uri.query().unwrap_or_default().as_bytes(),
        )))
    }
}

/// Page and PageSize from a query, Twilio style: page from 0, size 1 to 1000, 50 by default.
pub fn page_request(query: &Params) -> Result<addons_store::PageRequest, ApiError> {
    let page = match query.get("Page") {
        None => 0,
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| ApiError::invalid("Page", format!("'{text}' is not a page number (0, 1, 2…)")))?,
    };
    let page_size = match query.get("PageSize") {
        None => 50,
        Some(text) => match text.parse::<u32>() {
            Ok(size @ 1..=1000) => size,
            _ => {
                return Err(ApiError::invalid(
                    "PageSize",
                    format!("'{text}' is not between 1 and 1000"),
                ));
            }
        },
    };
    if u64::from(page) * u64::from(page_size) > i64::MAX as u64 / 2 {
        return Err(ApiError::invalid("Page", "is too large"));
    }
    Ok(addons_store::PageRequest { page, page_size })
}

/// Path parameters; a path that does not fit is a Twilio 404, never a plain-text 400.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(_) => Err(ApiError::not_found(parts.uri.path())),
        }
    }
}
