//! Marketplace v1, as Twilio's (`twilio_marketplace_v1.json`): AvailableAddOns and their
//! Extensions; InstalledAddOns (create, list, fetch, update, delete) and their Extensions.
//! Field names, status codes, paging and errors follow Twilio's, so the official SDKs work
//! with only their base URL changed.

use addons_domain::sid::{AddOnSid, ExtensionSid, InstalledAddOnSid, VersionSid};
use addons_engine::CompiledVersion;
use addons_store::{AddOnRecord, ExtensionRecord, InstallRecord, InstalledExtensionRecord};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Form, Path, Query, page_request};
use crate::links::{BaseUrl, iso8601, list};
use crate::service::{InstallRequest, UpdateRequest, VersionChoice};
use crate::state::AppState;

/// The Marketplace routes, under `/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/AvailableAddOns", get(list_available))
        .route("/v1/AvailableAddOns/{sid}", get(fetch_available))
        .route(
            "/v1/AvailableAddOns/{sid}/Extensions",
            get(list_available_extensions),
        )
        .route(
            "/v1/AvailableAddOns/{sid}/Extensions/{extension}",
            get(fetch_available_extension),
        )
        .route("/v1/InstalledAddOns", get(list_installed).post(create_installed))
        .route(
            "/v1/InstalledAddOns/{sid}",
            get(fetch_installed)
                .post(update_installed)
                .delete(delete_installed),
        )
        .route(
            "/v1/InstalledAddOns/{sid}/Extensions",
            get(list_installed_extensions),
        )
        .route(
            "/v1/InstalledAddOns/{sid}/Extensions/{extension}",
            get(fetch_installed_extension).post(update_installed_extension),
        )
}

fn compiled(state: &AppState, sid: &VersionSid) -> Result<std::sync::Arc<CompiledVersion>, ApiError> {
    state
        .catalog
        .compiled_version(sid)
        .ok_or_else(|| ApiError::internal(&format!("version {sid} is not in the catalog")))
}

fn available_json(state: &AppState, add_on: &AddOnRecord, base: &BaseUrl) -> Result<Value, ApiError> {
    let version = compiled(state, &add_on.latest.sid)?;
    let definition = &version.definition;
    let url = base.join(&format!("/v1/AvailableAddOns/{}", add_on.sid));
    Ok(json!({
        "sid": add_on.sid,
        "friendly_name": definition.friendly_name,
        "description": definition.description,
        "pricing_type": definition.pricing.pricing_type(),
        "configuration_schema": definition.configuration_schema_source(),
        "url": url,
        "links": {"extensions": format!("{url}/Extensions")},
    }))
}

fn available_extension_json(extension: &ExtensionRecord, base: &BaseUrl) -> Value {
    json!({
        "sid": extension.sid,
        "available_add_on_sid": extension.add_on_sid,
        "friendly_name": extension.point.friendly_name(),
        "product_name": extension.point.product_name(),
        "unique_name": extension.point.unique_name(),
        "url": base.join(&format!("/v1/AvailableAddOns/{}/Extensions/{}", extension.add_on_sid, extension.sid)),
    })
}

async fn available(state: &AppState, sid: &str) -> Result<AddOnRecord, ApiError> {
    let path = format!("/v1/AvailableAddOns/{sid}");
    let sid = AddOnSid::parse(sid).map_err(|_| ApiError::not_found(&path))?;
    state
        .store
        .available_add_on(&sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&path))
}

/// The extensions of the Add-on's latest version.
async fn latest_extensions(state: &AppState, add_on: &AddOnRecord) -> Result<Vec<ExtensionRecord>, ApiError> {
    let version = compiled(state, &add_on.latest.sid)?;
    Ok(state
        .store
        .extensions(&add_on.sid)
        .await?
        .into_iter()
        .filter(|e| version.definition.integration_points.contains(&e.point))
        .collect())
}

async fn list_available(
    State(state): State<AppState>,
    _account: Authenticated,
    base: BaseUrl,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let add_ons = state.store.available_add_ons(page).await?;
    let items = add_ons
        .items
        .iter()
        .map(|add_on| available_json(&state, add_on, &base))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(list(
        &base,
        "/v1/AvailableAddOns",
        "available_add_ons",
        items,
        page,
        add_ons.has_more,
    )))
}

async fn fetch_available(
    State(state): State<AppState>,
    _account: Authenticated,
    base: BaseUrl,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = available(&state, &sid).await?;
    Ok(axum::Json(available_json(&state, &add_on, &base)?))
}

async fn list_available_extensions(
    State(state): State<AppState>,
    _account: Authenticated,
    base: BaseUrl,
    Path(sid): Path<String>,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let add_on = available(&state, &sid).await?;
    let extensions = latest_extensions(&state, &add_on).await?;
    let (items, has_more) = page_of(&extensions, page);
    let items = items.iter().map(|e| available_extension_json(e, &base)).collect();
    let path = format!("/v1/AvailableAddOns/{}/Extensions", add_on.sid);
    Ok(axum::Json(list(
        &base,
        &path,
        "extensions",
        items,
        page,
        has_more,
    )))
}

async fn fetch_available_extension(
    State(state): State<AppState>,
    _account: Authenticated,
    base: BaseUrl,
    Path((sid, extension)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/v1/AvailableAddOns/{sid}/Extensions/{extension}");
    let add_on = available(&state, &sid).await?;
    let extension = ExtensionSid::parse(&extension).map_err(|_| ApiError::not_found(&path))?;
    let found = latest_extensions(&state, &add_on)
        .await?
        .into_iter()
        .find(|e| e.sid == extension)
        .ok_or_else(|| ApiError::not_found(&path))?;
    Ok(axum::Json(available_extension_json(&found, &base)))
}

/// Pages a list that is already in memory.
fn page_of<T>(items: &[T], page: addons_store::PageRequest) -> (&[T], bool) {
    let start = (page.page as usize)
        .saturating_mul(page.page_size as usize)
        .min(items.len());
    let end = start.saturating_add(page.page_size as usize).min(items.len());
    (&items[start..end], end < items.len())
}

fn installed_json(state: &AppState, install: &InstallRecord, base: &BaseUrl) -> Result<Value, ApiError> {
    let version = compiled(state, &install.version_sid)?;
    let url = base.join(&format!("/v1/InstalledAddOns/{}", install.sid));
    Ok(json!({
        "sid": install.sid,
        "account_sid": install.account_sid,
        "friendly_name": version.definition.friendly_name,
        "description": version.definition.description,
        "configuration": install.configuration,
        "unique_name": install.unique_name,
        "date_created": iso8601(&install.date_created),
        "date_updated": iso8601(&install.date_updated),
        "url": url,
        "links": {
            "extensions": format!("{url}/Extensions"),
            "available_add_on": base.join(&format!("/v1/AvailableAddOns/{}", install.add_on_sid)),
        },
        "available_add_on_sid": install.add_on_sid,
        "add_on_version_sid": install.version_sid,
        "add_on_install_sid": install.install_sid,
    }))
}

fn installed_extension_json(extension: &InstalledExtensionRecord, base: &BaseUrl) -> Value {
    json!({
        "sid": extension.extension_sid,
        "installed_add_on_sid": extension.installed_add_on_sid,
        "friendly_name": extension.point.friendly_name(),
        "product_name": extension.point.product_name(),
        "unique_name": extension.point.unique_name(),
        "enabled": extension.enabled,
        "url": base.join(&format!(
            "/v1/InstalledAddOns/{}/Extensions/{}",
            extension.installed_add_on_sid, extension.extension_sid
        )),
    })
}

fn parse_configuration(text: Option<&str>) -> Result<Option<Value>, ApiError> {
    text.map(|text| {
        serde_json::from_str::<Value>(text)
            .map_err(|error| ApiError::invalid("Configuration", format!("is not valid JSON: {error}")))
    })
    .transpose()
}

async fn create_installed(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let add_on = form.required("AvailableAddOnSid")?;
    let add_on = AddOnSid::parse(add_on).map_err(|error| ApiError::invalid("AvailableAddOnSid", error))?;
    let accept = form
        .boolean("AcceptTermsOfService")?
        .ok_or_else(|| ApiError::invalid("AcceptTermsOfService", "is required"))?;
    let install = state
        .services
        .install(
            &account.sid,
            InstallRequest {
                add_on,
                accept_terms_of_service: accept,
                configuration: parse_configuration(form.get("Configuration"))?,
                unique_name: form.get("UniqueName").map(str::to_owned),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(installed_json(&state, &install, &base)?),
    ))
}

async fn list_installed(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let installs = state.store.installs(&account.sid, page).await?;
    let items = installs
        .items
        .iter()
        .map(|install| installed_json(&state, install, &base))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(list(
        &base,
        "/v1/InstalledAddOns",
        "installed_add_ons",
        items,
        page,
        installs.has_more,
    )))
}

fn installed_sid(sid: &str) -> Result<InstalledAddOnSid, ApiError> {
    InstalledAddOnSid::parse(sid).map_err(|_| ApiError::not_found(&format!("/v1/InstalledAddOns/{sid}")))
}

async fn fetch_installed(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let sid = installed_sid(&sid)?;
    let install = state
        .store
        .install(&account.sid, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("/v1/InstalledAddOns/{sid}")))?;
    Ok(axum::Json(installed_json(&state, &install, &base)?))
}

async fn update_installed(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path(sid): Path<String>,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let sid = installed_sid(&sid)?;
    let version = match form.get("AddOnVersionSid") {
        None => None,
        Some("latest") => Some(VersionChoice::Latest),
        Some(text) => Some(VersionChoice::Version(
            VersionSid::parse(text).map_err(|error| ApiError::invalid("AddOnVersionSid", error))?,
        )),
    };
    let install = state
        .services
        .update_install(
            &account.sid,
            &sid,
            UpdateRequest {
                configuration: parse_configuration(form.get("Configuration"))?,
                unique_name: form.get("UniqueName").map(str::to_owned),
                version,
            },
        )
        .await?;
    Ok(axum::Json(installed_json(&state, &install, &base)?))
}

async fn delete_installed(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let sid = installed_sid(&sid)?;
    state.services.delete_install(&account.sid, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_installed_extensions(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path(sid): Path<String>,
    Query(query): Query,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query)?;
    let sid = installed_sid(&sid)?;
    if state.store.install(&account.sid, &sid).await?.is_none() {
        return Err(ApiError::not_found(&format!(
            "/v1/InstalledAddOns/{sid}/Extensions"
        )));
    }
    let extensions = state.store.install_extensions(&account.sid, &sid).await?;
    let (items, has_more) = page_of(&extensions, page);
    let items = items.iter().map(|e| installed_extension_json(e, &base)).collect();
    let path = format!("/v1/InstalledAddOns/{sid}/Extensions");
    Ok(axum::Json(list(
        &base,
        &path,
        "extensions",
        items,
        page,
        has_more,
    )))
}

async fn fetch_installed_extension(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path((sid, extension)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/v1/InstalledAddOns/{sid}/Extensions/{extension}");
    let sid = installed_sid(&sid)?;
    let extension = ExtensionSid::parse(&extension).map_err(|_| ApiError::not_found(&path))?;
    let found = state
        .store
        .install_extensions(&account.sid, &sid)
        .await?
        .into_iter()
        .find(|e| e.extension_sid == extension)
        .ok_or_else(|| ApiError::not_found(&path))?;
    Ok(axum::Json(installed_extension_json(&found, &base)))
}

async fn update_installed_extension(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path((sid, extension)): Path<(String, String)>,
    Form(form): Form,
) -> Result<impl IntoResponse, ApiError> {
    let path = format!("/v1/InstalledAddOns/{sid}/Extensions/{extension}");
    let sid = installed_sid(&sid)?;
    let extension = ExtensionSid::parse(&extension).map_err(|_| ApiError::not_found(&path))?;
    let enabled = form
        .boolean("Enabled")?
        .ok_or_else(|| ApiError::invalid("Enabled", "is required"))?;
    let record = state
        .services
        .set_extension(&account.sid, &sid, &extension, enabled)
        .await?;
    Ok(axum::Json(installed_extension_json(&record, &base)))
}
