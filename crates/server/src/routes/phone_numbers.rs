//! IncomingPhoneNumbers, as Twilio's 2010-04-01 API: a developer's numbers and the webhooks
//! their messages and calls are announced on (`SmsUrl`, `SmsMethod`, `VoiceUrl`,
//! `VoiceMethod`). Creating one stands for buying it: any valid number no account has yet.

use addons_domain::sid::{AccountSid, PhoneNumberSid};
use addons_store::{PhoneNumberRecord, PhoneNumberSettings};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Form, Params, Path, Query, page_request};
use crate::links::{list_2010, rfc2822};
use crate::state::AppState;

/// The IncomingPhoneNumbers routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(list).post(create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}",
            get(fetch).post(update).delete(delete),
        )
}

/// The account in a 2010-04-01 path must be the authenticated one; another account's
/// resources do not exist for this caller.
pub fn own_account(path_account: &str, authenticated: &AccountSid, path: &str) -> Result<(), ApiError> {
    if path_account == authenticated.as_str() {
        Ok(())
    } else {
        Err(ApiError::not_found(path))
    }
}

/// A resource SID from a 2010-04-01 path segment (`PN….json`).
pub fn path_sid<T: std::str::FromStr>(segment: &str, path: &str) -> Result<T, ApiError> {
    segment
        .strip_suffix(".json")
        .unwrap_or(segment)
        .parse()
        .map_err(|_| ApiError::not_found(path))
}

fn number_json(number: &PhoneNumberRecord) -> Value {
    json!({
        "sid": number.sid,
        "account_sid": number.account_sid,
        "friendly_name": number.friendly_name,
        "phone_number": number.phone_number,
        "sms_url": number.sms_url.clone().unwrap_or_default(),
        "sms_method": number.sms_method,
        "voice_url": number.voice_url.clone().unwrap_or_default(),
        "voice_method": number.voice_method,
        "capabilities": {"voice": true, "sms": true, "mms": false, "fax": false},
        "status": "in-use",
        "api_version": "2010-04-01",
        "date_created": rfc2822(&number.date_created),
        "date_updated": rfc2822(&number.date_updated),
        "uri": format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json", number.account_sid, number.sid),
    })
}

fn webhook_url(form: &Params, name: &str, current: Option<String>) -> Result<Option<String>, ApiError> {
    match form.get(name) {
        None => Ok(current),
        Some("") => Ok(None),
        Some(text) => match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                Ok(Some(text.to_owned()))
            }
            _ => Err(ApiError::invalid(name, format!("'{text}' is not an http(s) URL"))),
        },
    }
}

fn webhook_method(form: &Params, name: &str, current: &str) -> Result<String, ApiError> {
    match form.get(name).map(str::to_ascii_uppercase) {
        None => Ok(current.to_owned()),
        Some(method) if method == "GET" || method == "POST" => Ok(method),
        Some(other) => Err(ApiError::invalid(name, format!("'{other}' is not GET or POST"))),
    }
}

fn settings(
    form: &Params,
    current: Option<&PhoneNumberRecord>,
    default_name: &str,
) -> Result<PhoneNumberSettings, ApiError> {
    let friendly_name = form
        .get("FriendlyName")
        .map(str::to_owned)
        .or_else(|| current.map(|c| c.friendly_name.clone()))
        .unwrap_or_else(|| default_name.to_owned());
    if friendly_name.len() > 64 {
        return Err(ApiError::invalid("FriendlyName", "must be at most 64 characters"));
    }
    Ok(PhoneNumberSettings {
        friendly_name,
        sms_url: webhook_url(form, "SmsUrl", current.and_then(|c| c.sms_url.clone()))?,
        sms_method: webhook_method(
            form,
            "SmsMethod",
            current.map_or("POST", |c| c.sms_method.as_str()),
        )?,
        voice_url: webhook_url(form, "VoiceUrl", current.and_then(|c| c.voice_url.clone()))?,
        voice_method: webhook_method(
            form,
            "VoiceMethod",
            current.map_or("POST", |c| c.voice_method.as_str()),
        )?,
    })
}

async fn create(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path(path_account): Path<String>,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/2010-04-01/Accounts/{path_account}/IncomingPhoneNumbers.json");
    own_account(&path_account, &account.sid, &path)?;
    let number = form.required("PhoneNumber")?;
    let settings = settings(&form, None, number)?;
    let record = state
        .services
        .create_phone_number(&account.sid, number, &settings)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(number_json(&record))))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path(path_account): Path<String>,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/2010-04-01/Accounts/{path_account}/IncomingPhoneNumbers.json");
    own_account(&path_account, &account.sid, &path)?;
    let page = page_request(&query)?;
    let numbers = state.store.phone_numbers(&account.sid, page).await?;
    let items = numbers.items.iter().map(number_json).collect();
    Ok(axum::Json(list_2010(
        &path,
        "incoming_phone_numbers",
        items,
        page,
        numbers.has_more,
    )))
}

async fn owned(
    state: &AppState,
    account: &AccountSid,
    path_account: &str,
    segment: &str,
) -> Result<PhoneNumberRecord, ApiError> {
    let path = format!("/2010-04-01/Accounts/{path_account}/IncomingPhoneNumbers/{segment}");
    own_account(path_account, account, &path)?;
    let sid: PhoneNumberSid = path_sid(segment, &path)?;
    state
        .store
        .phone_number(account, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))
}

async fn fetch(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path((path_account, segment)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let number = owned(&state, &account.sid, &path_account, &segment).await?;
    Ok(axum::Json(number_json(&number)))
}

async fn update(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path((path_account, segment)): Path<(String, String)>,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let current = owned(&state, &account.sid, &path_account, &segment).await?;
    let settings = settings(&form, Some(&current), &current.phone_number)?;
    let record = state
        .services
        .update_phone_number(&account.sid, &current.sid, &settings)
        .await?;
    Ok(axum::Json(number_json(&record)))
}

async fn delete(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path((path_account, segment)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let current = owned(&state, &account.sid, &path_account, &segment).await?;
    state
        .services
        .delete_phone_number(&account.sid, &current.sid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
