//! A client that calls publisher servers the way the gateway does: parameters per carrier,
//! `InvocationDate`/`InvocationTtlMs` in the query string, and Twilio's signature.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use addons_domain::signature::{Signer, url_with_body_sha256};
use chrono::{DateTime, SecondsFormat, Utc};
use demo_publishers::{DemoApp, PublisherConfig, RunningPublisher, start};
use reqwest::Method;
use serde_json::Value;

/// The publisher account's auth token in these tests.
pub const TOKEN: &str = "publisher-auth-token-for-tests";
/// The publisher account's SID in these tests.
pub const VENDOR: &str = "AC0123456789abcdef0123456789abcdef";

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    // Another test in the same binary may have installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// A publisher for `app` on a free local port, insisting on [`VENDOR`].
pub async fn publisher(app: DemoApp) -> RunningPublisher {
    publisher_with(PublisherConfig::new(TOKEN).with_vendor_account_sid(VENDOR), app).await
}

/// A publisher with these settings on a free local port.
pub async fn publisher_with(config: PublisherConfig, app: DemoApp) -> RunningPublisher {
    start("127.0.0.1:0".parse().expect("an address"), config, app)
        .await
        .expect("the publisher starts")
}

/// A fresh `XR` SID.
pub fn request_sid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("XR{nanos:016x}{:016x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `InvocationDate` as the gateway writes it.
pub fn invocation_date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// How parameters travel.
#[derive(Debug, Clone)]
pub enum Payload {
    /// No body.
    None,
    /// A www-form-encoded body.
    Form(Vec<(String, String)>),
    /// A JSON body.
    Json(Value),
}

/// One signed request, as the gateway would send it; every field can be spoiled by a test.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub method: Method,
    pub path: String,
    /// Query parameters before `InvocationDate` and `InvocationTtlMs`.
    pub query: Vec<(String, String)>,
    pub payload: Payload,
    /// `InvocationDate` (left out when `None`).
    pub date: Option<String>,
    /// `InvocationTtlMs` (left out when `None`).
    pub ttl_ms: Option<String>,
    pub request_sid: String,
    pub vendor_account_sid: String,
    pub authorization: Option<String>,
    /// The token the request is signed with.
    pub signing_token: String,
    /// The URL origin the request is signed for (the publisher's base URL when `None`).
    pub signed_origin: Option<String>,
    /// Sends this signature instead of the right one (`Some(None)` sends none).
    pub signature: Option<Option<String>>,
    /// Sends these bytes instead of the signed body.
    pub sent_body: Option<Vec<u8>>,
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

impl Invocation {
    fn new(method: Method, path: &str, payload: Payload) -> Invocation {
        Invocation {
            method,
            path: path.to_owned(),
            query: Vec::new(),
            payload,
            date: Some(invocation_date(Utc::now())),
            ttl_ms: Some("2000".to_owned()),
            request_sid: request_sid(),
            vendor_account_sid: VENDOR.to_owned(),
            authorization: None,
            signing_token: TOKEN.to_owned(),
            signed_origin: None,
            signature: None,
            sent_body: None,
        }
    }

    /// A POST with a JSON body.
    pub fn json(path: &str, body: Value) -> Invocation {
        Invocation::new(Method::POST, path, Payload::Json(body))
    }

    /// A POST with a form body.
    pub fn form(path: &str, form: &[(&str, &str)]) -> Invocation {
        Invocation::new(Method::POST, path, Payload::Form(pairs(form)))
    }

    /// Parameters in the query string only.
    pub fn query(method: Method, path: &str, query: &[(&str, &str)]) -> Invocation {
        let mut invocation = Invocation::new(method, path, Payload::None);
        invocation.query = pairs(query);
        invocation
    }

    /// Adds an `Authorization` header.
    pub fn authorization(mut self, value: impl Into<String>) -> Invocation {
        self.authorization = Some(value.into());
        self
    }

    /// The URL, body, content type and signature, signed for `origin`.
    pub fn signed(&self, origin: &str) -> (String, Vec<u8>, Option<&'static str>, String) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(&self.query);
        if let Some(date) = &self.date {
            query.append_pair("InvocationDate", date);
        }
        if let Some(ttl) = &self.ttl_ms {
            query.append_pair("InvocationTtlMs", ttl);
        }
        let query = query.finish();
        let mut url = format!("{origin}{}", self.path);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        let signer = Signer::new(&self.signing_token);
        match &self.payload {
            Payload::None => {
                let signature = signer.sign(&url, []);
                (url, Vec::new(), None, signature)
            }
            Payload::Form(form) => {
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish()
                    .into_bytes();
                let signature = signer.sign(&url, form.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                (url, body, Some("application/x-www-form-urlencoded"), signature)
            }
            Payload::Json(value) => {
                let body = serde_json::to_vec(value).expect("JSON");
                let url = url_with_body_sha256(&url, &body);
                let signature = signer.sign(&url, []);
                (url, body, Some("application/json"), signature)
            }
        }
    }

    /// Sends the request to a publisher.
    pub async fn send(&self, client: &reqwest::Client, publisher: &RunningPublisher) -> reqwest::Response {
        let base = publisher.base_url();
        let origin = self.signed_origin.as_deref().unwrap_or(base);
        let (signed_url, body, content_type, signature) = self.signed(origin);
        // The request goes to the server itself even when signed for another origin.
        let url = format!("http://{}{}", publisher.local_addr(), &signed_url[origin.len()..]);
        let mut request = client
            .request(self.method.clone(), url)
            .header("X-Twilio-VendorAccountSid", &self.vendor_account_sid)
            .header("X-Twilio-RequestSid", &self.request_sid)
            .header("X-Twilio-AddOnSid", "XB0123456789abcdef0123456789abcdef")
            .header("X-Twilio-AddOnVersionSid", "XC0123456789abcdef0123456789abcdef")
            .header("X-Twilio-AddOnInstallSid", "XD0123456789abcdef0123456789abcdef")
            .header(
                "X-Twilio-AddOnConfigurationSid",
                "XE0123456789abcdef0123456789abcdef",
            );
        match &self.signature {
            None => request = request.header("X-Twilio-Signature", signature),
            Some(Some(forged)) => request = request.header("X-Twilio-Signature", forged),
            Some(None) => {}
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let body = self.sent_body.clone().unwrap_or(body);
        if !body.is_empty() {
            request = request.body(body);
        }
        request.send().await.expect("the publisher answers")
    }
}

/// Sends and reads the answer as JSON.
pub async fn send_json(
    invocation: &Invocation,
    client: &reqwest::Client,
    publisher: &RunningPublisher,
) -> (u16, Value) {
    let response = invocation.send(client, publisher).await;
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("a body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (status, json)
}
