//! A developer's webhook for tests: records every request, answers TwiML (or misbehaves as
//! told), and checks the signature with the developer's auth token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use addons_domain::signature::Signer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

/// One request the webhook received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Method.
    pub method: Method,
    /// The full URL as requested.
    pub url: String,
    /// Query or form parameters, as received.
    pub params: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// `X-Twilio-Signature`.
    pub signature: String,
    /// Whether the signature checks out with the developer's token.
    pub signature_valid: bool,
}

impl Hit {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the webhook answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Body.
    pub body: String,
    /// Delay before answering.
    pub delay: Duration,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            status: 200,
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Got it</Message></Response>"
                .into(),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Clone)]
struct Shared {
    signer: Signer,
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    answer: Arc<Mutex<Answer>>,
}

/// A running test webhook.
pub struct Webhook {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Shared,
}

impl Webhook {
    /// Starts a webhook for a developer's auth token.
    pub async fn start(auth_token: &str) -> Webhook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let shared = Shared {
            signer: Signer::new(auth_token),
            base: base.clone(),
            hits: Arc::default(),
            answer: Arc::default(),
        };
        let app = Router::new().fallback(any(handle)).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Webhook { base, shared }
    }

    /// A URL on it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What it received.
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Changes how it answers.
    pub fn answer_with(&self, answer: Answer) {
        if let Ok(mut current) = self.shared.answer.lock() {
            *current = answer;
        }
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!("{}{}", shared.base, uri.0);
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let params = if method == Method::GET {
        form_urlencoded::parse(uri.0.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    } else {
        form.clone()
    };
    let signature_valid = shared.signer.validate(
        &url,
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &body,
        &signature,
    );
    if let Ok(mut hits) = shared.hits.lock() {
        hits.push(Hit {
            method,
            url,
            params,
            body,
            signature,
            signature_valid,
        });
    }
    let answer = shared.answer.lock().map(|a| a.clone()).unwrap_or_default();
    tokio::time::sleep(answer.delay).await;
    (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
        [(header::CONTENT_TYPE, "text/xml")],
        answer.body,
    )
        .into_response()
}
