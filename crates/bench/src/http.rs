//! A small HTTP/1.1 client over hyper: keep-alive connections, no TLS (everything the bench
//! talks to is on 127.0.0.1).

use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The pooled client.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client keeping up to `max_idle` idle connections per host.
pub fn client(max_idle: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    // Small requests and answers: Nagle's algorithm would only add delay.
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text, for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request body and its content type.
#[derive(Debug)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON document.
    Json(serde_json::Value),
    /// A www-form-encoded body from these pairs.
    Form(Vec<(String, String)>),
}

/// Sends one request and reads the whole answer.
pub async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    authorization: Option<&str>,
    body: Body,
) -> anyhow::Result<Reply> {
    let mut builder = Request::builder().method(method.clone()).uri(url);
    if let Some(authorization) = authorization {
        builder = builder.header(AUTHORIZATION, authorization);
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Json(value) => {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Bytes::from(serde_json::to_vec(&value)?)
        }
        Body::Form(pairs) => {
            builder = builder.header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &pairs {
                form.append_pair(name, value);
            }
            Bytes::from(form.finish())
        }
    };
    let request = builder
        .body(Full::new(bytes))
        .with_context(|| format!("building {method} {url}"))?;
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .with_context(|| format!("{method} {url}: no answer within 30 s"))?
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer to {method} {url}"))?
        .to_bytes();
    Ok(Reply { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(basic("operator", "secret"), "Basic b3BlcmF0b3I6c2VjcmV0");
    }
}
