//! Absolute URLs in responses (`url`, `links`, paging), from the configured public URL or the
//! request's Host header, and Twilio's list envelope.

use addons_store::PageRequest;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// The base URL of this gateway as the client reached it.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    /// `base + path`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let configured = state.config.server.public_url.trim_end_matches('/');
        if !configured.is_empty() {
            return Ok(BaseUrl(configured.to_owned()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Ok(BaseUrl(format!("http://{host}")))
    }
}

/// Twilio's list envelope: the items under `key`, and `meta` with paging URLs.
pub fn list(
    base: &BaseUrl,
    path: &str,
    key: &str,
    items: Vec<Value>,
    page: PageRequest,
    has_more: bool,
) -> Value {
    let url_for =
        |page_index: u32| base.join(&format!("{path}?PageSize={}&Page={page_index}", page.page_size));
    json!({
        key: items,
        "meta": {
            "page": page.page,
            "page_size": page.page_size,
            "first_page_url": url_for(0),
            "previous_page_url": if page.page > 0 { Value::String(url_for(page.page - 1)) } else { Value::Null },
            "url": url_for(page.page),
            "next_page_url": if has_more { Value::String(url_for(page.page + 1)) } else { Value::Null },
            "key": key,
        }
    })
}

/// ISO 8601 as Marketplace v1 writes dates (`2016-04-07T23:52:28Z`).
pub fn iso8601(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
