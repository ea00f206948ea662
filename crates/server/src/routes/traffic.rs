//! The simulated phone network and what it leaves behind.
//!
//! `POST /sandbox/v1/Messages` (`From`, `To`, `Body`) and `POST /sandbox/v1/Calls` (`From`,
//! `To`) stand for an SMS or a call arriving at one of the authenticated account's numbers:
//! the enabled Add-ons run, the number's webhook is called as Twilio would call it, and the
//! answer shows the stored message or call, what the webhook was sent and what it answered.
//!
//! The Messages and Calls resources (2010-04-01, Twilio's field names) list and fetch them;
//! besides Twilio's fields each carries `add_ons` (the results envelope) and `webhook` (the URL,
//! method, status and TwiML answer).

use addons_domain::phone;
use addons_engine::inbound::{Arrival, ArrivalError, Delivery};
use addons_store::{EventKind, InboundEventRecord};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Form, Path, Query, page_request};
use crate::links::{list_2010, rfc2822};
use crate::routes::phone_numbers::{own_account, path_sid};
use crate::state::AppState;

/// The simulation and the Messages and Calls resources.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sandbox/v1/Messages", post(simulate_message))
        .route("/sandbox/v1/Calls", post(simulate_call))
        .route("/2010-04-01/Accounts/{account}/Messages.json", get(list_messages))
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{sid}",
            get(fetch_message),
        )
        .route("/2010-04-01/Accounts/{account}/Calls.json", get(list_calls))
        .route("/2010-04-01/Accounts/{account}/Calls/{sid}", get(fetch_call))
}

fn webhook_json(event: &InboundEventRecord) -> Value {
    json!({
        "url": event.webhook_url,
        "method": event.webhook_method,
        "status_code": event.webhook_status,
        "response": event.webhook_response,
    })
}

fn uri(event: &InboundEventRecord, collection: &str) -> String {
    format!(
        "/2010-04-01/Accounts/{}/{collection}/{}.json",
        event.account_sid, event.sid
    )
}

fn message_json(event: &InboundEventRecord) -> Value {
    let body = event.body.clone().unwrap_or_default();
    json!({
        "sid": event.sid,
        "account_sid": event.account_sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": rfc2822(&event.date_created),
        "date_sent": rfc2822(&event.date_created),
        "date_updated": rfc2822(&event.date_created),
        "direction": "inbound",
        "error_code": event.error_code,
        "error_message": event.error_message,
        "from": event.from_number,
        "to": event.to_number,
        "messaging_service_sid": null,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "status": event.status,
        "subresource_uris": {"media": uri(event, "Messages").replace(".json", "/Media.json")},
        "uri": uri(event, "Messages"),
        "add_ons": event.add_ons,
        "webhook": webhook_json(event),
    })
}

fn call_json(event: &InboundEventRecord) -> Value {
    json!({
        "sid": event.sid,
        "account_sid": event.account_sid,
        "api_version": "2010-04-01",
        "date_created": rfc2822(&event.date_created),
        "date_updated": rfc2822(&event.date_created),
        "start_time": rfc2822(&event.date_created),
        "end_time": rfc2822(&event.date_created),
        "direction": "inbound",
        "duration": "0",
        "from": event.from_number,
        "from_formatted": formatted(&event.from_number),
        "to": event.to_number,
        "to_formatted": formatted(&event.to_number),
        "phone_number_sid": event.phone_number_sid,
        "caller_name": null,
        "answered_by": null,
        "forwarded_from": null,
        "parent_call_sid": null,
        "price": null,
        "price_unit": "USD",
        "status": event.status,
        "queue_time": "0",
        "subresource_uris": {"recordings": uri(event, "Calls").replace(".json", "/Recordings.json")},
        "uri": uri(event, "Calls"),
        "add_ons": event.add_ons,
        "webhook": webhook_json(event),
    })
}

fn formatted(e164: &str) -> String {
    phone::parse(e164, None).map_or_else(|_| e164.to_owned(), |n| n.national_format)
}

fn delivery_json(delivery: Option<&Delivery>) -> Value {
    match delivery {
        None => Value::Null,
        Some(delivery) => json!({
            "url": delivery.url,
            "method": delivery.method,
            "params": delivery.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "status_code": delivery.status,
            "response": delivery.response,
            "error_code": delivery.error.as_ref().map(|(code, _)| *code),
            "error_message": delivery.error.as_ref().map(|(_, message)| message.clone()),
        }),
    }
}

fn arrival_error(error: ArrivalError) -> ApiError {
    match error {
        ArrivalError::UnknownNumber(_) => ApiError::invalid("To", error),
        ArrivalError::BadSender(_) => ApiError::invalid("From", error),
    }
}

async fn simulate_message(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let from = form.required("From")?;
    let to = form.required("To")?;
    let body = form.get("Body").unwrap_or_default();
    if body.chars().count() > 1600 {
        return Err(ApiError::invalid("Body", "is longer than 1600 characters"));
    }
    let received = state
        .engine
        .receive(&account, Arrival::Message { from, to, body })
        .await
        .map_err(arrival_error)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "message": message_json(&received.event),
            "webhook_request": delivery_json(received.delivery.as_ref()),
        })),
    ))
}

async fn simulate_call(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let from = form.required("From")?;
    let to = form.required("To")?;
    let received = state
        .engine
        .receive(&account, Arrival::Call { from, to })
        .await
        .map_err(arrival_error)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "call": call_json(&received.event),
            "webhook_request": delivery_json(received.delivery.as_ref()),
        })),
    ))
}

async fn list_events(
    state: &AppState,
    account: &addons_domain::sid::AccountSid,
    path_account: &str,
    query: &crate::extract::Params,
    kind: EventKind,
) -> Result<Value, ApiError> {
    let (collection, key, render): (&str, &str, fn(&InboundEventRecord) -> Value) = match kind {
        EventKind::Message => ("Messages", "messages", message_json),
        EventKind::Call => ("Calls", "calls", call_json),
    };
    let path = format!("/2010-04-01/Accounts/{path_account}/{collection}.json");
    own_account(path_account, account, &path)?;
    let page = page_request(query)?;
    let events = state.store.inbound_events(account, kind, page).await?;
    let items = events.items.iter().map(render).collect();
    Ok(list_2010(&path, key, items, page, events.has_more))
}

async fn fetch_event(
    state: &AppState,
    account: &addons_domain::sid::AccountSid,
    path_account: &str,
    segment: &str,
    kind: EventKind,
) -> Result<InboundEventRecord, ApiError> {
    let collection = if kind == EventKind::Message {
        "Messages"
    } else {
        "Calls"
    };
    let path = format!("/2010-04-01/Accounts/{path_account}/{collection}/{segment}");
    own_account(path_account, account, &path)?;
    let sid: String = path_sid(segment, &path)?;
    state
        .store
        .inbound_event(account, kind, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))
}

async fn list_messages(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path(path_account): Path<String>,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        list_events(&state, &account.sid, &path_account, &query, EventKind::Message).await?,
    ))
}

async fn fetch_message(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path((path_account, segment)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let event = fetch_event(&state, &account.sid, &path_account, &segment, EventKind::Message).await?;
    Ok(axum::Json(message_json(&event)))
}

async fn list_calls(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path(path_account): Path<String>,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        list_events(&state, &account.sid, &path_account, &query, EventKind::Call).await?,
    ))
}

async fn fetch_call(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path((path_account, segment)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let event = fetch_event(&state, &account.sid, &path_account, &segment, EventKind::Call).await?;
    Ok(axum::Json(call_json(&event)))
}
