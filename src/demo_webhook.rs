//! The sandbox developer's webhook: a small server standing for the developer's application.
//! It checks `X-Twilio-Signature` with the developer's auth token, reads the `AddOns`
//! parameter, and answers TwiML that repeats what the Add-ons found, so that a simulated SMS
//! shows the whole round trip. `GET /received` lists what it was sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use addons_domain::signature::Signer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How many requests are kept for `GET /received`.
const KEPT: usize = 50;

#[derive(Clone)]
struct Shared {
    signer: Signer,
    base_url: String,
    received: Arc<Mutex<Vec<Value>>>,
}

/// A running demo webhook.
#[derive(Debug)]
pub struct DemoWebhook {
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl DemoWebhook {
    /// Starts it on a free local port; `auth_token` is the developer's.
    pub async fn start(auth_token: &str) -> std::io::Result<DemoWebhook> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Shared {
            signer: Signer::new(auth_token),
            base_url: base_url.clone(),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/received", get(received))
            .route("/sms", any(sms))
            .route("/voice", any(voice))
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(DemoWebhook {
            base_url,
            stop: Some(stop),
        })
    }

    /// Where incoming messages are announced.
    pub fn sms_url(&self) -> String {
        format!("{}/sms", self.base_url)
    }

    /// Where incoming calls are announced.
    pub fn voice_url(&self) -> String {
        format!("{}/voice", self.base_url)
    }

    /// What it was sent, as JSON.
    pub fn received_url(&self) -> String {
        format!("{}/received", self.base_url)
    }

    /// Stops it.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn received(State(shared): State<Shared>) -> impl IntoResponse {
    let received = shared.received.lock().map(|r| r.clone()).unwrap_or_default();
    axum::Json(Value::Array(received))
}

/// The parameters of a webhook request, checked against its signature.
fn verified(
    shared: &Shared,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Vec<(String, String)>, bool) {
    let url = format!("{}{}", shared.base_url, uri.0);
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A GET carries its parameters in the signed URL; a POST in the signed form body.
    let form: Vec<(String, String)> = if method == Method::GET {
        Vec::new()
    } else {
        form_urlencoded::parse(body).into_owned().collect()
    };
    let params = if method == Method::GET {
        form_urlencoded::parse(uri.0.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    } else {
        form.clone()
    };
    let valid = shared.signer.validate(
        &url,
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
        signature,
    );
    (params, valid)
}

fn remember(shared: &Shared, path: &str, method: &Method, params: &[(String, String)], valid: bool) {
    let entry = json!({
        "path": path,
        "method": method.as_str(),
        "signature_valid": valid,
        "params": params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    if let Ok(mut received) = shared.received.lock() {
        received.push(entry);
        let excess = received.len().saturating_sub(KEPT);
        received.drain(..excess);
    }
}

/// A sentence about the Add-on results in `AddOns`.
fn summary(params: &[(String, String)]) -> String {
    let Some((_, add_ons)) = params.iter().find(|(k, _)| k == "AddOns") else {
        return "no Add-on results (a GET webhook, or no Add-on enabled)".to_owned();
    };
    let Ok(add_ons) = serde_json::from_str::<Value>(add_ons) else {
        return "unreadable Add-on results".to_owned();
    };
    let mut parts = Vec::new();
    for (name, result) in add_ons["results"].as_object().into_iter().flatten() {
        let found = &result["result"];
        let text = if result["status"] != "successful" {
            format!("failed ({})", result["code"])
        } else if let Some(sentiment) = found["sentiment"].as_str() {
            format!(
                "{sentiment}, intent {}",
                found["intent"].as_str().unwrap_or("unknown")
            )
        } else if let Some(score) = found.get("score") {
            format!("score {score}")
        } else if let Some(caller) = found["caller_name"].as_str() {
            caller.to_owned()
        } else if let Some(first) = found["anagrams"].get(0).and_then(Value::as_str) {
            first.to_owned()
        } else {
            "ok".to_owned()
        };
        parts.push(format!("{name}: {text}"));
    }
    parts.join("; ")
}

/// A TwiML answer with one verb (`Message` or `Say`) holding `text`.
fn twiml(verb: &str, text: &str) -> Response {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        [(header::CONTENT_TYPE, "text/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><{verb}>{escaped}</{verb}></Response>"),
    )
        .into_response()
}

async fn sms(
    State(shared): State<Shared>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        &shared,
        "/sms",
        "Message",
        "Thanks! Add-ons",
        method,
        uri,
        headers,
        body,
    )
}

async fn voice(
    State(shared): State<Shared>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        &shared,
        "/voice",
        "Say",
        "Hello. Add-ons",
        method,
        uri,
        headers,
        body,
    )
}

#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    path: &str,
    verb: &str,
    greeting: &str,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, valid) = verified(shared, &method, &uri, &headers, &body);
    remember(shared, path, &method, &params, valid);
    if !valid {
        return (StatusCode::FORBIDDEN, "invalid X-Twilio-Signature").into_response();
    }
    twiml(verb, &format!("{greeting}: {}", summary(&params)))
}
