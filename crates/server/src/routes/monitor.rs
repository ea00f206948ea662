//! The developer-facing error log, as Twilio's Monitor v1 Alerts: webhook failures (112xx,
//! 11750) and Add-on warnings (61006).

use addons_domain::error_code::more_info_url;
use addons_domain::sid::AlertSid;
use addons_store::AlertRecord;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Path, Query, page_request};
use crate::links::{BaseUrl, iso8601, list};
use crate::state::AppState;

/// The Alerts routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/Alerts", get(list_alerts))
        .route("/v1/Alerts/{sid}", get(fetch_alert))
}

fn alert_json(alert: &AlertRecord, base: &BaseUrl) -> Value {
    let date = iso8601(&alert.date_created);
    json!({
        "sid": alert.sid,
        "account_sid": alert.account_sid,
        "alert_text": alert.alert_text,
        "api_version": "2010-04-01",
        "date_created": date,
        "date_generated": date,
        "date_updated": date,
        "error_code": alert.error_code.to_string(),
        "log_level": alert.log_level,
        "more_info": more_info_url(alert.error_code.unsigned_abs()),
        "request_method": alert.request_method,
        "request_url": alert.request_url,
        "resource_sid": alert.resource_sid,
        "service_sid": null,
        "url": base.join(&format!("/v1/Alerts/{}", alert.sid)),
    })
}

async fn list_alerts(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let alerts = state.store.alerts(&account.sid, page).await?;
    let items = alerts.items.iter().map(|a| alert_json(a, &base)).collect();
    Ok(axum::Json(list(
        &base,
        "/v1/Alerts",
        "alerts",
        items,
        page,
        alerts.has_more,
    )))
}

async fn fetch_alert(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/v1/Alerts/{sid}");
    let sid = AlertSid::parse(&sid).map_err(|_| ApiError::not_found(&path))?;
    let alert = state
        .store
        .alert(&account.sid, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))?;
    Ok(axum::Json(alert_json(&alert, &base)))
}
