//! Lookup v1: `GET /v1/PhoneNumbers/{PhoneNumber}` with `AddOns` and
//! `AddOns.<unique_name>.<field>` (as twilio-python's `add_ons_data` sends them), `Type` and
//! `CountryCode`.
//!
//! The number is parsed with the libphonenumber metadata. `Type=carrier` and
//! `Type=caller-name` answer simulated data: the line type comes from the numbering plan, the
//! carrier name is a placeholder for it, and the caller name is unknown (`null`) with a caller
//! type of BUSINESS for toll-free numbers and CONSUMER otherwise.

use std::collections::HashMap;

use addons_domain::kind::IntegrationPoint;
use addons_domain::phone::LineType;
use addons_engine::{Envelope, Inputs, RuntimeFields};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::links::BaseUrl;
use crate::state::AppState;

/// The Lookup route.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/PhoneNumbers/{number}", get(lookup))
}

async fn lookup(
    State(state): State<AppState>,
    Authenticated(account): Authenticated,
    base: BaseUrl,
    Path(number): Path<String>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let parsed = state
        .engine
        .parse_number(&number, query.get("CountryCode"))
        .map_err(|_| ApiError::not_found(&format!("/PhoneNumbers/{number}")))?;

    let (mut carrier, mut caller_name) = (Value::Null, Value::Null);
    for kind in query.all("Type") {
        match kind {
            "carrier" => carrier = simulated_carrier(parsed.line_type),
            "caller-name" => caller_name = simulated_caller_name(parsed.line_type),
            other => {
                return Err(ApiError::invalid(
                    "Type",
                    format!("'{other}' is not carrier or caller-name"),
                ));
            }
        }
    }

    let mut names: Vec<String> = Vec::new();
    for name in query.all("AddOns") {
        if name.is_empty() {
            return Err(ApiError::invalid(
                "AddOns",
                "an Add-on's unique name cannot be empty",
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    let mut runtime: RuntimeFields = HashMap::new();
    for (key, value) in &query.0 {
        let Some(rest) = key.strip_prefix("AddOns.") else {
            continue;
        };
        let Some((name, field)) = rest
            .split_once('.')
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
        else {
            return Err(ApiError::invalid(key, "expected AddOns.<unique_name>.<field>"));
        };
        if !names.iter().any(|n| n == name) {
            return Err(ApiError::invalid(
                key,
                format!("'{name}' is not one of the AddOns requested"),
            ));
        }
        runtime
            .entry(name.to_owned())
            .or_default()
            .insert(field.to_owned(), value.clone());
    }

    let results = if names.is_empty() {
        None
    } else {
        let inputs = Inputs {
            primary_address: Some(parsed.e164.clone()),
            ..Inputs::default()
        };
        Some(
            state
                .engine
                .invoke_named(&account.sid, IntegrationPoint::Lookups, names, inputs, runtime)
                .await,
        )
    };

    let body = LookupBody {
        caller_name,
        country_code: parsed.country_code.as_deref(),
        phone_number: &parsed.e164,
        national_format: &parsed.national_format,
        carrier,
        add_ons: results.as_deref().map(Envelope),
        url: base.join(&format!("/v1/PhoneNumbers/{}", parsed.e164)),
    };
    // Serialized here, while the answer still borrows the parsed number and the results, into
    // a `Vec` sized for a Lookup with a few results (serde_json writes each token separately,
    // which a `Vec` takes faster than the `BytesMut` writer behind `axum::Json`).
    let mut json = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut json, &body) {
        Ok(()) => Ok(([(CONTENT_TYPE, APPLICATION_JSON)], json).into_response()),
        Err(error) => Err(ApiError::internal(&error)),
    }
}

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A Lookup answer, in Twilio's field order, written straight from the results.
#[derive(Serialize)]
struct LookupBody<'a> {
    caller_name: Value,
    country_code: Option<&'a str>,
    phone_number: &'a str,
    national_format: &'a str,
    carrier: Value,
    add_ons: Option<Envelope<'a>>,
    url: String,
}

fn simulated_carrier(line_type: LineType) -> Value {
    let (name, kind) = match line_type {
        LineType::Mobile => ("Sandbox Wireless", "mobile"),
        LineType::Landline => ("Sandbox Telephone", "landline"),
        LineType::Voip => ("Sandbox VoIP", "voip"),
        LineType::TollFree => ("Sandbox Toll-Free", "landline"),
        LineType::Other => ("Sandbox Telephone", "landline"),
    };
    json!({
        "mobile_country_code": null,
        "mobile_network_code": null,
        "name": name,
        "type": kind,
        "error_code": null,
    })
}

fn simulated_caller_name(line_type: LineType) -> Value {
    json!({
        "caller_name": null,
        "caller_type": if line_type == LineType::TollFree { "BUSINESS" } else { "CONSUMER" },
        "error_code": null,
    })
}
