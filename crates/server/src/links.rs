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

/// RFC 2822 as the 2010-04-01 API writes dates (`Wed, 01 Sep 2010 15:15:41 +0000`).
pub fn rfc2822(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// The 2010-04-01 API's list envelope: items under `key`, paging as relative URIs.
pub fn list_2010(path: &str, key: &str, items: Vec<Value>, page: PageRequest, has_more: bool) -> Value {
    let uri_for = |page_index: u32| format!("{path}?PageSize={}&Page={page_index}", page.page_size);
    let start = u64::from(page.page) * u64::from(page.page_size);
    let end = (start + items.len() as u64).saturating_sub(1);
    json!({
        key: items,
        "page": page.page,
        "page_size": page.page_size,
        "start": start,
        "end": end,
        "first_page_uri": uri_for(0),
        "previous_page_uri": if page.page > 0 { Value::String(uri_for(page.page - 1)) } else { Value::Null },
        "uri": uri_for(page.page),
        "next_page_uri": if has_more { Value::String(uri_for(page.page + 1)) } else { Value::Null },
    })
}
