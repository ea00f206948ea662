//! The admin API (JSON): the operator creates accounts; publishers register Add-ons from
//! manifests, publish versions, and read back their own Add-ons and versions (never another
//! publisher's: those are 404).

use addons_domain::manifest::Secret;
use addons_domain::sid::{AccountSid, AddOnSid, VersionSid};
use addons_engine::CompiledVersion;
use addons_store::{AccountRecord, AccountRole, AddOnRecord, NewAccount, VersionRecord};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::{Operator, Publisher};
use crate::error::ApiError;
use crate::extract::{JsonBody, Path, Query, page_request};
use crate::links::{BaseUrl, iso8601, list};
use crate::service::RegistrationOutcome;
use crate::state::AppState;

/// The admin routes, under `/admin/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/Accounts", post(create_account).get(list_accounts))
        .route("/admin/v1/Accounts/{sid}", get(fetch_account))
        .route("/admin/v1/AddOns", post(create_add_on).get(list_add_ons))
        .route("/admin/v1/AddOns/{sid}", get(fetch_add_on))
        .route(
            "/admin/v1/AddOns/{sid}/Versions",
            post(publish_version).get(list_versions),
        )
        .route("/admin/v1/AddOns/{sid}/Versions/{version}", get(fetch_version))
        .route("/admin/v1/Manifests", post(register_manifest))
}

fn account_json(account: &AccountRecord, base: &BaseUrl, with_token: bool) -> Value {
    let mut value = json!({
        "sid": account.sid,
        "friendly_name": account.friendly_name,
        "role": account.role.as_str(),
        "date_created": iso8601(&account.date_created),
        "date_updated": iso8601(&account.date_updated),
        "url": base.join(&format!("/admin/v1/Accounts/{}", account.sid)),
    });
    if with_token && let Some(object) = value.as_object_mut() {
        object.insert(
            "auth_token".into(),
            Value::String(account.auth_token.expose().to_owned()),
        );
    }
    value
}

fn string_field<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ApiError::invalid(name, "must be a string")),
    }
}

async fn create_account(
    State(state): State<AppState>,
    _operator: Operator,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    if !body.is_object() {
        return Err(ApiError::invalid(
            "body",
            "must be a JSON object: {\"friendly_name\", \"role\"}",
        ));
    }
    let friendly_name = string_field(&body, "friendly_name")?
        .ok_or_else(|| ApiError::invalid("friendly_name", "is required"))?;
    let role = string_field(&body, "role")?
        .ok_or_else(|| ApiError::invalid("role", "is required: publisher or developer"))?;
    let role = AccountRole::parse(role)
        .ok_or_else(|| ApiError::invalid("role", format!("'{role}' is not publisher or developer")))?;
    let sid = string_field(&body, "sid")?
        .map(|sid| AccountSid::parse(sid).map_err(|error| ApiError::invalid("sid", error)))
        .transpose()?;
    let auth_token = string_field(&body, "auth_token")?
        .map(|token| {
            let valid = (32..=128).contains(&token.len())
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if valid {
                Ok(Secret::new(token))
            } else {
                Err(ApiError::invalid(
                    "auth_token",
                    "must be 32 to 128 letters, digits, '_' or '-'",
                ))
            }
        })
        .transpose()?;
    for key in body.as_object().into_iter().flat_map(|o| o.keys()) {
        if !["friendly_name", "role", "sid", "auth_token"].contains(&key.as_str()) {
            return Err(ApiError::invalid(
                key,
                "is not a field of an account (friendly_name, role, sid, auth_token)",
            ));
        }
    }
    let account = state
        .services
        .create_account(NewAccount {
            friendly_name: friendly_name.to_owned(),
            role,
            sid,
            auth_token,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(account_json(&account, &base, true)),
    ))
}

async fn list_accounts(
    State(state): State<AppState>,
    _operator: Operator,
    base: BaseUrl,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let accounts = state.store.accounts(page).await?;
    let items = accounts
        .items
        .iter()
        .map(|a| account_json(a, &base, false))
        .collect();
    Ok(axum::Json(list(
        &base,
        "/admin/v1/Accounts",
        "accounts",
        items,
        page,
        accounts.has_more,
    )))
}

async fn fetch_account(
    State(state): State<AppState>,
    _operator: Operator,
    base: BaseUrl,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/admin/v1/Accounts/{sid}");
    let sid = AccountSid::parse(&sid).map_err(|_| ApiError::not_found(&path))?;
    let account = state
        .store
        .account(&sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))?;
    Ok(axum::Json(account_json(&account, &base, false)))
}

fn version_json(version: &VersionRecord, base: &BaseUrl) -> Value {
    json!({
        "sid": version.sid,
        "add_on_sid": version.add_on_sid,
        "version_number": version.number,
        "manifest": version.manifest,
        "date_created": iso8601(&version.date_created),
        "url": base.join(&format!("/admin/v1/AddOns/{}/Versions/{}", version.add_on_sid, version.sid)),
    })
}

/// Pricing as publishers and developers see it.
pub fn pricing_json(version: &CompiledVersion) -> Value {
    let pricing = &version.definition.pricing;
    json!({
        "model": pricing.model(),
        "pricing_type": pricing.pricing_type(),
        "price": pricing.price(),
        "currency": "USD",
    })
}

fn add_on_json(state: &AppState, add_on: &AddOnRecord, base: &BaseUrl) -> Result<Value, ApiError> {
    let version = state
        .catalog
        .compiled_version(&add_on.latest.sid)
        .ok_or_else(|| ApiError::internal(&format!("version {} is not in the catalog", add_on.latest.sid)))?;
    let definition = &version.definition;
    let url = base.join(&format!("/admin/v1/AddOns/{}", add_on.sid));
    Ok(json!({
        "sid": add_on.sid,
        "publisher_sid": add_on.publisher_sid,
        "unique_name": add_on.unique_name,
        "friendly_name": definition.friendly_name,
        "description": definition.description,
        "type": add_on.kind.as_str(),
        "integration_points": definition.integration_points.iter().map(|p| p.unique_name()).collect::<Vec<_>>(),
        "pricing": pricing_json(&version),
        "latest_version_sid": add_on.latest.sid,
        "latest_version_number": add_on.latest.number,
        "date_created": iso8601(&add_on.date_created),
        "date_updated": iso8601(&add_on.date_updated),
        "url": url,
        "links": {"versions": format!("{url}/Versions")},
    }))
}

async fn create_add_on(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    JsonBody(manifest): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = state.services.register_add_on(&publisher.sid, &manifest).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(add_on_json(&state, &add_on, &base)?),
    ))
}

async fn register_manifest(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    JsonBody(manifest): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let (add_on, outcome) = state
        .services
        .register_or_publish(&publisher.sid, &manifest)
        .await?;
    let (status, word) = match outcome {
        RegistrationOutcome::Created => (StatusCode::CREATED, "created"),
        RegistrationOutcome::Published => (StatusCode::CREATED, "published"),
        RegistrationOutcome::Unchanged => (StatusCode::OK, "unchanged"),
    };
    let mut body = add_on_json(&state, &add_on, &base)?;
    if let Some(object) = body.as_object_mut() {
        object.insert("outcome".into(), Value::String(word.into()));
    }
    Ok((status, axum::Json(body)))
}

async fn list_add_ons(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let add_ons = state.store.publisher_add_ons(&publisher.sid, page).await?;
    let items = add_ons
        .items
        .iter()
        .map(|add_on| add_on_json(&state, add_on, &base))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(list(
        &base,
        "/admin/v1/AddOns",
        "add_ons",
        items,
        page,
        add_ons.has_more,
    )))
}

async fn owned_add_on(state: &AppState, publisher: &AccountSid, sid: &str) -> Result<AddOnRecord, ApiError> {
    let path = format!("/admin/v1/AddOns/{sid}");
    let sid = AddOnSid::parse(sid).map_err(|_| ApiError::not_found(&path))?;
    state
        .store
        .publisher_add_on(publisher, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))
}

async fn fetch_add_on(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = owned_add_on(&state, &publisher.sid, &sid).await?;
    Ok(axum::Json(add_on_json(&state, &add_on, &base)?))
}

async fn publish_version(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    Path(sid): Path<String>,
    JsonBody(manifest): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = owned_add_on(&state, &publisher.sid, &sid).await?;
    let version = state
        .services
        .publish_version(&publisher.sid, &add_on.sid, &manifest)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(version_json(&version, &base))))
}

async fn list_versions(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    Path(sid): Path<String>,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = owned_add_on(&state, &publisher.sid, &sid).await?;
    let page = page_request(&query)?;
    let versions = state.store.versions(&add_on.sid, page).await?;
    let items = versions.items.iter().map(|v| version_json(v, &base)).collect();
    let path = format!("/admin/v1/AddOns/{}/Versions", add_on.sid);
    Ok(axum::Json(list(
        &base,
        &path,
        "versions",
        items,
        page,
        versions.has_more,
    )))
}

async fn fetch_version(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    base: BaseUrl,
    Path((sid, version)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = owned_add_on(&state, &publisher.sid, &sid).await?;
    let path = format!("/admin/v1/AddOns/{sid}/Versions/{version}");
    let version = VersionSid::parse(&version).map_err(|_| ApiError::not_found(&path))?;
    let version = state
        .store
        .version(&add_on.sid, &version)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))?;
    Ok(axum::Json(version_json(&version, &base)))
}
