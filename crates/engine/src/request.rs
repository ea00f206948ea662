//! Building one publisher request from a compiled Add-on version: template fields rendered into
//! the parameter carrier, the publisher's credentials, the default headers, the invocation date
//! and TTL, and the signature.
//!
//! The invocation date and TTL travel in the URL's query string, as `InvocationDate` (ISO 8601
//! UTC, seconds) and `InvocationTtlMs`, appended after the publisher's own query parameters and
//! before `bodySHA256`. Being part of the URL, they are covered by `X-Twilio-Signature` whatever
//! the carrier. They are the same on every retry of a request: a publisher refuses a request
//! once `InvocationDate + InvocationTtlMs` (plus its allowance for clock skew) has passed.

use std::time::Duration;

use addons_domain::fields::{FieldRef, FieldValues};
use addons_domain::manifest::{Carrier, HttpMethod, Parameter, ParameterValue, Placement, PublisherAuth};
use addons_domain::sid::RequestSid;
use addons_domain::signature::{BODY_SHA256_PARAM, body_sha256_hex};
use addons_domain::template::scalar_text;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::catalog::{Account, Installed};
use crate::client::Outbound;

/// The query parameter carrying the invocation date.
pub const INVOCATION_DATE_PARAM: &str = "InvocationDate";
/// The query parameter carrying the request's time to live, in milliseconds.
pub const INVOCATION_TTL_PARAM: &str = "InvocationTtlMs";

/// Header names, as the seed lists them.
pub mod headers {
    use http::header::HeaderName;

    /// The publisher's account SID.
    pub const VENDOR_ACCOUNT_SID: HeaderName = HeaderName::from_static("x-twilio-vendoraccountsid");
    /// The request's signature.
    pub const SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
    /// The request SID (`XR…`).
    pub const REQUEST_SID: HeaderName = HeaderName::from_static("x-twilio-requestsid");
    /// The Add-on (`XB…`).
    pub const ADD_ON_SID: HeaderName = HeaderName::from_static("x-twilio-addonsid");
    /// The Add-on version (`XC…`).
    pub const ADD_ON_VERSION_SID: HeaderName = HeaderName::from_static("x-twilio-addonversionsid");
    /// The developer's installation (`XD…`).
    pub const ADD_ON_INSTALL_SID: HeaderName = HeaderName::from_static("x-twilio-addoninstallsid");
    /// The installed Add-on, i.e. its configuration (`XE…`).
    pub const ADD_ON_CONFIGURATION_SID: HeaderName =
        HeaderName::from_static("x-twilio-addonconfigurationsid");
}

/// The headers that are the same on every request of an installed Add-on (its SIDs and its
/// publisher's), made once when the catalog is loaded.
#[derive(Debug, Clone)]
pub struct IdentityHeaders(Vec<(HeaderName, HeaderValue)>);

/// Headers every request has beyond the identity headers: the signature, the request SID, the
/// content type and the publisher's credentials, with room for a few header parameters.
const PER_REQUEST_HEADERS: usize = 8;

impl IdentityHeaders {
    /// The identity headers of an installed Add-on of `publisher_sid`'s (SIDs are ASCII, so
    /// always valid header values).
    pub fn new(
        publisher_sid: &str,
        add_on_sid: &str,
        version_sid: &str,
        install_sid: &str,
        configuration_sid: &str,
    ) -> IdentityHeaders {
        IdentityHeaders(
            [
                (headers::VENDOR_ACCOUNT_SID, publisher_sid),
                (headers::ADD_ON_SID, add_on_sid),
                (headers::ADD_ON_VERSION_SID, version_sid),
                (headers::ADD_ON_INSTALL_SID, install_sid),
                (headers::ADD_ON_CONFIGURATION_SID, configuration_sid),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, HeaderValue::from_str(value).ok()?)))
            .collect(),
        )
    }
}

/// Why the request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A non-optional parameter needs a field this invocation does not have (61009).
    #[error("the parameter '{parameter}' needs {{{{{field}}}}}, which is not available")]
    MissingField {
        /// The publisher's parameter.
        parameter: String,
        /// The field.
        field: String,
    },
    /// A rendered header value is not a valid header (61009).
    #[error("the header parameter '{0}' renders to a value that cannot be sent in a header")]
    BadHeader(String),
}

/// Who and what a request is for.
#[derive(Debug)]
pub struct RequestContext<'a> {
    /// The installed Add-on.
    pub installed: &'a Installed,
    /// The publisher account (signs the request).
    pub publisher: &'a Account,
    /// This request's SID.
    pub request_sid: &'a RequestSid,
    /// When the invocation started (seconds precision).
    pub invocation_date: DateTime<Utc>,
    /// The request's time to live.
    pub ttl: Duration,
}

enum BodyParameters {
    None,
    Json(Map<String, Value>),
    Form(Vec<(String, String)>),
    Multipart(Vec<(String, String)>),
}

/// Builds and signs the request.
pub fn build(context: &RequestContext<'_>, values: &FieldValues<'_>) -> Result<Outbound, BuildError> {
    let version = &context.installed.version;
    let definition = &version.definition;
    let carrier = definition.endpoint.carrier;
    let mut query: Vec<(String, String)> = Vec::new();
    let mut header_params: Vec<(String, String)> = Vec::new();
    let mut body = match carrier {
        Carrier::Json => BodyParameters::Json(Map::new()),
        Carrier::Form => BodyParameters::Form(Vec::new()),
        Carrier::Multipart => BodyParameters::Multipart(Vec::new()),
        Carrier::Query | Carrier::AudioBody => BodyParameters::None,
    };
    let mut audio_part: Option<&str> = None;

    for parameter in &definition.parameters {
        if parameter.is_audio_part {
            audio_part = Some(&parameter.name);
            continue;
        }
        let rendered = match render(parameter, carrier, values) {
            Ok(rendered) => rendered,
            Err(_) if parameter.optional => continue,
            Err(field) => {
                return Err(BuildError::MissingField {
                    parameter: parameter.name.clone(),
                    field: field.name().to_owned(),
                });
            }
        };
        match (parameter.placement, &mut body) {
            (Placement::Query, _) => query.push((parameter.name.clone(), text_of(rendered))),
            (Placement::Header, _) => header_params.push((parameter.name.clone(), text_of(rendered))),
            (Placement::Body, BodyParameters::Json(map)) => {
                map.insert(parameter.name.clone(), rendered);
            }
            (Placement::Body, BodyParameters::Form(pairs) | BodyParameters::Multipart(pairs)) => {
                pairs.push((parameter.name.clone(), text_of(rendered)));
            }
            // Registration only allows body parameters with a body carrier.
            (Placement::Body, BodyParameters::None) => {
                query.push((parameter.name.clone(), text_of(rendered)))
            }
        }
    }

    let identity = &context.installed.identity_headers.0;
    let mut request_headers = HeaderMap::with_capacity(identity.len() + PER_REQUEST_HEADERS);
    match &definition.auth {
        PublisherAuth::None => {}
        PublisherAuth::Query { parameter, secret } => {
            query.push((parameter.clone(), secret.expose().to_owned()))
        }
        PublisherAuth::Body { parameter, secret } => match &mut body {
            BodyParameters::Json(map) => {
                map.insert(parameter.clone(), Value::String(secret.expose().to_owned()));
            }
            BodyParameters::Form(pairs) | BodyParameters::Multipart(pairs) => {
                pairs.push((parameter.clone(), secret.expose().to_owned()));
            }
            BodyParameters::None => query.push((parameter.clone(), secret.expose().to_owned())),
        },
        PublisherAuth::Basic { username, secret } => {
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", secret.expose()));
            insert(
                &mut request_headers,
                AUTHORIZATION,
                &format!("Basic {credentials}"),
            )?;
        }
        PublisherAuth::Bearer { secret } => {
            insert(
                &mut request_headers,
                AUTHORIZATION,
                &format!("Bearer {}", secret.expose()),
            )?;
        }
    }

    let (bytes, content_type, form_pairs): (Bytes, Option<String>, Vec<(String, String)>) = match body {
        BodyParameters::Json(map) => (
            Bytes::from(serde_json::to_vec(&Value::Object(map)).unwrap_or_default()),
            Some("application/json".to_owned()),
            Vec::new(),
        ),
        BodyParameters::Form(pairs) => {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            (
                Bytes::from(encoded),
                Some("application/x-www-form-urlencoded".to_owned()),
                pairs,
            )
        }
        BodyParameters::Multipart(pairs) => {
            let (bytes, content_type) = multipart(&pairs, audio_part, values, context.request_sid);
            (bytes, Some(content_type), Vec::new())
        }
        BodyParameters::None if carrier == Carrier::AudioBody => {
            let audio = values.audio.as_ref();
            (
                Bytes::copy_from_slice(audio.map(|a| a.data).unwrap_or_default()),
                Some(audio.map_or("audio/x-wav", |a| a.format).to_owned()),
                Vec::new(),
            )
        }
        BodyParameters::None => (Bytes::new(), None, Vec::new()),
    };
    let mut url = definition.endpoint.url.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &query {
            pairs.append_pair(name, value);
        }
        pairs.append_pair(
            INVOCATION_DATE_PARAM,
            &context
                .invocation_date
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        pairs.append_pair(INVOCATION_TTL_PARAM, &context.ttl.as_millis().to_string());
        // Any body that is not a form is covered by its hash in the URL.
        if content_type.is_some() && carrier != Carrier::Form {
            pairs.append_pair(BODY_SHA256_PARAM, &body_sha256_hex(&bytes));
        }
    }

    let signature = context.publisher.signer.sign(
        url.as_str(),
        form_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );

    for (name, value) in &header_params {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| BuildError::BadHeader(name.clone()))?;
        let value = HeaderValue::from_str(value).map_err(|_| BuildError::BadHeader(name.to_string()))?;
        request_headers.insert(name, value);
    }
    if let Some(content_type) = &content_type {
        insert(&mut request_headers, CONTENT_TYPE, content_type)?;
    }
    for (name, value) in identity {
        request_headers.insert(name.clone(), value.clone());
    }
    insert(&mut request_headers, headers::SIGNATURE, &signature)?;
    insert(
        &mut request_headers,
        headers::REQUEST_SID,
        context.request_sid.as_str(),
    )?;

    Ok(Outbound {
        method: match definition.endpoint.method {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
            HttpMethod::Put => http::Method::PUT,
        },
        url,
        headers: request_headers,
        body: bytes,
    })
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) -> Result<(), BuildError> {
    let header = HeaderValue::from_str(value).map_err(|_| BuildError::BadHeader(name.to_string()))?;
    headers.insert(name, header);
    Ok(())
}

/// A parameter's value: typed JSON for a JSON body, text (as a JSON string) otherwise.
fn render(parameter: &Parameter, carrier: Carrier, values: &FieldValues<'_>) -> Result<Value, FieldRef> {
    let typed = carrier == Carrier::Json && parameter.placement == Placement::Body;
    match &parameter.value {
        ParameterValue::Constant(value) if typed => Ok(value.clone()),
        ParameterValue::Constant(value) => Ok(Value::String(scalar_text(value).into_owned())),
        ParameterValue::Template(template) if typed => {
            template.render_json(values).map_err(|missing| missing.0)
        }
        ParameterValue::Template(template) => template
            .render_text(values)
            .map(Value::String)
            .map_err(|missing| missing.0),
    }
}

fn text_of(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// A multipart/form-data body: text parts, then the audio as a file part.
fn multipart(
    pairs: &[(String, String)],
    audio_part: Option<&str>,
    values: &FieldValues<'_>,
    request_sid: &RequestSid,
) -> (Bytes, String) {
    // The request SID is unique, so the boundary cannot collide with another request's, and
    // a 32-hex-digit token does not occur by chance in text or audio.
    let boundary = format!("twilio-addon-{}", &request_sid.as_str()[2..]);
    let mut body: Vec<u8> = Vec::new();
    for (name, value) in pairs {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                quote(name)
            )
            .as_bytes(),
        );
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    if let (Some(name), Some(audio)) = (audio_part, values.audio.as_ref()) {
        let extension = if audio.format.contains("mpeg") {
            "mp3"
        } else {
            "wav"
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}.{extension}\"\r\nContent-Type: {}\r\n\r\n",
                quote(name),
                audio.media_sid,
                audio.format
            )
            .as_bytes(),
        );
        body.extend_from_slice(audio.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        Bytes::from(body),
        format!("multipart/form-data; boundary={boundary}"),
    )
}

fn quote(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}
