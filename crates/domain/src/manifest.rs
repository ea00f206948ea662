//! Add-on manifests: everything the seed lets a publisher declare, checked once at registration
//! and compiled into an [`AddOnDefinition`] that the request path uses as is.
//!
//! A manifest is JSON:
//!
//! ```json
//! {
//!   "unique_name": "publisher_anagrams",
//!   "friendly_name": "Anagram",
//!   "description": "English words a phone number spells",
//!   "type": "phone-number",
//!   "integration_points": ["lookups"],
//!   "endpoint": {"url": "https://anagrams.example.com/v1", "method": "POST", "carrier": "json"},
//!   "parameters": {
//!     "number": "{{primary_address}}",
//!     "id": {"value": "{{request_sid}}", "in": "header"},
//!     "source": "twilio"
//!   },
//!   "runtime_fields": {"dob": {"required": true}},
//!   "configuration_schema": {"type": "object", "properties": {}},
//!   "request_validation_schema": {"type": "object"},
//!   "response_validation_schema": {"type": "object"},
//!   "response_cleaning": ["$.api_key"],
//!   "auth": {"scheme": "bearer", "secret": "…"},
//!   "pricing": {"model": "pay-per-use", "price": "0.0001"},
//!   "limits": {"timeout_ms": 1500, "max_response_bytes": 20000},
//!   "retries": {"count": 2, "ttl_ms": 2000}
//! }
//! ```
//!
//! Every problem is reported with the JSON pointer of the value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use crate::cleaning::JsonPathExpr;
use crate::config_schema::ConfigSchema;
use crate::fields::{BuiltinField, FieldRef};
use crate::kind::{AddOnKind, Consumption, IntegrationPoint};
use crate::pricing::{Money, Pricing};
use crate::problem::{Problem, Problems, pointer};
use crate::schema::CompiledSchema;
use crate::template::{Template, TemplateError};

/// What the operator allows publishers to register.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegistrationPolicy {
    /// Whether plain-http endpoints are accepted (local development and tests only).
    pub allow_insecure_endpoints: bool,
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The HTTP method of the publisher's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// GET (query-string carrier only).
    Get,
    /// POST.
    Post,
    /// PUT (audio carriers only).
    Put,
}

impl HttpMethod {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
        }
    }
}

/// How parameters travel to the publisher (the seed's "API parameters" table), and for
/// recordings how the audio does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// Query-string parameters (GET or POST).
    Query,
    /// A JSON dictionary body (POST).
    Json,
    /// A www-form-encoded body (POST).
    Form,
    /// The audio as the raw request body; parameters in the query string (POST/PUT).
    AudioBody,
    /// A multipart body: the audio as the part named by the `{{audio_data}}` parameter, other
    /// body parameters as text parts (POST/PUT).
    Multipart,
}

impl Carrier {
    /// The carrier's manifest name.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Query => "query",
            Carrier::Json => "json",
            Carrier::Form => "form",
            Carrier::AudioBody => "audio-body",
            Carrier::Multipart => "multipart",
        }
    }

    fn parse(value: &str) -> Option<Carrier> {
        [
            Carrier::Query,
            Carrier::Json,
            Carrier::Form,
            Carrier::AudioBody,
            Carrier::Multipart,
        ]
        .into_iter()
        .find(|carrier| carrier.as_str() == value)
    }

    fn carries_audio(self) -> bool {
        matches!(self, Carrier::AudioBody | Carrier::Multipart)
    }

    fn default_placement(self) -> Placement {
        match self {
            Carrier::Query | Carrier::AudioBody => Placement::Query,
            Carrier::Json | Carrier::Form | Carrier::Multipart => Placement::Body,
        }
    }

    fn has_parameter_body(self) -> bool {
        matches!(self, Carrier::Json | Carrier::Form | Carrier::Multipart)
    }
}

/// The publisher's endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The URL (https unless the operator allows otherwise).
    pub url: Url,
    /// The method.
    pub method: HttpMethod,
    /// The parameter carrier.
    pub carrier: Carrier,
}

/// Where one parameter is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the query string.
    Query,
    /// In the body (JSON dictionary, form, or multipart text part).
    Body,
    /// As an HTTP header.
    Header,
}

/// A parameter's value: a constant, or a template to fill in.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterValue {
    /// Hard-coded by the publisher (a JSON scalar: it keeps its type in a JSON body).
    Constant(Value),
    /// Filled from template fields.
    Template(Template),
}

/// One publisher parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// The publisher's parameter (or header) name.
    pub name: String,
    /// Its value.
    pub value: ParameterValue,
    /// Where it is sent.
    pub placement: Placement,
    /// Whether it is left out, rather than failing the request (61009), when a field it needs
    /// is not available (an optional configuration field the developer did not set).
    pub optional: bool,
    /// Whether this is the multipart part carrying the audio.
    pub is_audio_part: bool,
}

/// A vendor runtime field: passed by the developer on a Lookup request.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeField {
    /// The field name (`AddOns.<unique_name>.<name>=value`).
    pub name: String,
    /// Whether a Lookup without it fails with 61003.
    pub required: bool,
    /// What the developer should pass.
    pub description: String,
}

/// How the gateway authenticates to the publisher (one set of credentials per Add-on version).
#[derive(Debug, Clone, PartialEq)]
pub enum PublisherAuth {
    /// No credentials.
    None,
    /// A credential in the URL query string.
    Query {
        /// The query parameter's name.
        parameter: String,
        /// Its value.
        secret: Secret,
    },
    /// A credential in the request body (JSON or form).
    Body {
        /// The body parameter's name.
        parameter: String,
        /// Its value.
        secret: Secret,
    },
    /// HTTP Basic.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        secret: Secret,
    },
    /// HTTP Bearer.
    Bearer {
        /// The token.
        secret: Secret,
    },
}

impl PublisherAuth {
    /// The scheme's manifest name.
    pub fn scheme(&self) -> &'static str {
        match self {
            PublisherAuth::None => "none",
            PublisherAuth::Query { .. } => "query",
            PublisherAuth::Body { .. } => "body",
            PublisherAuth::Basic { .. } => "basic",
            PublisherAuth::Bearer { .. } => "bearer",
        }
    }
}

/// Time and size limits for one Add-on version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most one attempt may take.
    pub timeout: Duration,
    /// The largest response accepted.
    pub max_response_bytes: u64,
}

/// Retries of 5xx answers and connection failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// No attempt starts, and none runs, past this time after the first began.
    pub ttl: Duration,
}

/// A validated, compiled Add-on version definition.
#[derive(Debug, Clone, PartialEq)]
pub struct AddOnDefinition {
    /// Globally unique name; also the default name developers invoke it by.
    pub unique_name: String,
    /// Display name.
    pub friendly_name: String,
    /// Short description.
    pub description: String,
    /// The seed's Add-on type.
    pub kind: AddOnKind,
    /// Where it can be used, in a stable order.
    pub integration_points: Vec<IntegrationPoint>,
    /// The publisher's API.
    pub endpoint: Endpoint,
    /// The parameter map.
    pub parameters: Vec<Parameter>,
    /// Vendor runtime fields (Lookup only).
    pub runtime_fields: Vec<RuntimeField>,
    /// Configuration JSON Schema.
    pub configuration_schema: Option<ConfigSchema>,
    /// Request Validation Schema, applied to the template-field dictionary.
    pub request_validation_schema: Option<CompiledSchema>,
    /// Response Validation Schema.
    pub response_validation_schema: Option<CompiledSchema>,
    /// Response cleaning paths.
    pub response_cleaning: Vec<JsonPathExpr>,
    /// Credentials.
    pub auth: PublisherAuth,
    /// Billing.
    pub pricing: Pricing,
    /// Limits.
    pub limits: Limits,
    /// Retries.
    pub retry: RetryPolicy,
}

impl AddOnDefinition {
    /// The configuration schema as the Marketplace shows it (`null` when none).
    pub fn configuration_schema_source(&self) -> Option<&Value> {
        self.configuration_schema.as_ref().map(ConfigSchema::source)
    }
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "unique_name",
    "friendly_name",
    "description",
    "type",
    "integration_points",
    "endpoint",
    "parameters",
    "runtime_fields",
    "configuration_schema",
    "request_validation_schema",
    "response_validation_schema",
    "response_cleaning",
    "auth",
    "pricing",
    "limits",
    "retries",
];

/// The redaction shown instead of a secret.
pub const REDACTED: &str = "********";

/// The most retries a version may ask for.
pub const MAX_RETRIES: u32 = 5;

/// Checks and compiles a manifest. On failure, every problem found, each with its pointer.
pub fn compile(manifest: &Value, policy: RegistrationPolicy) -> Result<AddOnDefinition, Vec<Problem>> {
    let mut problems = Problems::new();
    let Some(root) = manifest.as_object() else {
        problems.push("", "a manifest must be a JSON object");
        return Err(problems.into_vec());
    };
    for key in root.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            problems.push(
                pointer("", key),
                format!(
                    "unknown manifest field '{key}' (known: {})",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            );
        }
    }

    let unique_name = required_string(root, "unique_name", "", &mut problems).map(|name| {
        check_unique_name(name, &mut problems);
        name.to_owned()
    });
    let friendly_name = required_string(root, "friendly_name", "", &mut problems).map(|name| {
        if name.trim().is_empty() || name.len() > 255 {
            problems.push("/friendly_name", "friendly_name must be 1 to 255 characters");
        }
        name.to_owned()
    });
    let description = optional_string(root, "description", "", &mut problems).unwrap_or_default();

    let kind = required_string(root, "type", "", &mut problems).and_then(|name| {
        let kind = AddOnKind::parse(name);
        if kind.is_none() {
            problems.push(
                "/type",
                format!(
                    "'{name}' is not an Add-on type: use phone-number, message-analysis or recording-analysis"
                ),
            );
        }
        kind
    });

    let integration_points = kind.map(|kind| check_integration_points(root, kind, &mut problems));
    let endpoint = kind.and_then(|kind| check_endpoint(root, kind, policy, &mut problems));

    let configuration_schema = match root.get("configuration_schema") {
        None | Some(Value::Null) => None,
        Some(schema) => ConfigSchema::compile(schema, "/configuration_schema", &mut problems),
    };
    let configuration_failed =
        root.get("configuration_schema").is_some_and(|v| !v.is_null()) && configuration_schema.is_none();

    let runtime_fields = check_runtime_fields(
        root,
        integration_points.as_deref(),
        &configuration_schema,
        &mut problems,
    );

    let auth = check_auth(root, endpoint.as_ref().map(|e| e.carrier), &mut problems);

    let parameters = match (kind, &integration_points, &endpoint) {
        (Some(kind), Some(points), Some(endpoint)) => check_parameters(
            root,
            &FieldScope {
                kind,
                points,
                configuration: configuration_schema.as_ref(),
                configuration_failed,
                runtime: &runtime_fields,
            },
            endpoint,
            &auth,
            &mut problems,
        ),
        _ => Vec::new(),
    };

    let request_validation_schema = optional_schema(root, "request_validation_schema", &mut problems);
    let response_validation_schema = optional_schema(root, "response_validation_schema", &mut problems);
    let response_cleaning = json_paths(root.get("response_cleaning"), "/response_cleaning", &mut problems);
    let pricing = check_pricing(root, kind, &mut problems);
    let (limits, retry) = kind.map(|kind| check_limits(root, kind, &mut problems)).unzip();

    if !problems.is_empty() {
        return Err(problems.into_vec());
    }
    match (
        unique_name,
        friendly_name,
        kind,
        integration_points,
        endpoint,
        pricing,
        limits,
        retry,
    ) {
        (
            Some(unique_name),
            Some(friendly_name),
            Some(kind),
            Some(integration_points),
            Some(endpoint),
            Some(pricing),
            Some(limits),
            Some(retry),
        ) => Ok(AddOnDefinition {
            unique_name,
            friendly_name,
            description,
            kind,
            integration_points,
            endpoint,
            parameters,
            runtime_fields,
            configuration_schema,
            request_validation_schema,
            response_validation_schema,
            response_cleaning,
            auth,
            pricing,
            limits,
            retry,
        }),
        _ => {
            problems.push("", "the manifest is incomplete");
            Err(problems.into_vec())
        }
    }
}

/// The manifest with its credential replaced by [`REDACTED`], for storage and display; and the
/// credential itself, which is stored apart, encrypted.
pub fn split_secret(manifest: &Value) -> (Value, Option<String>) {
    let mut redacted = manifest.clone();
    let secret = redacted
        .get_mut("auth")
        .and_then(Value::as_object_mut)
        .and_then(|auth| auth.get_mut("secret"))
        .and_then(
            |secret| match std::mem::replace(secret, Value::String(REDACTED.to_owned())) {
                Value::String(text) => Some(text),
                _ => None,
            },
        );
    (redacted, secret)
}

/// Puts a stored credential back into a redacted manifest.
pub fn join_secret(redacted: &Value, secret: Option<&str>) -> Value {
    let mut manifest = redacted.clone();
    if let (Some(secret), Some(auth)) = (secret, manifest.get_mut("auth").and_then(Value::as_object_mut)) {
        auth.insert("secret".to_owned(), Value::String(secret.to_owned()));
    }
    manifest
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    at: &str,
    problems: &mut Problems,
) -> Option<&'a str> {
    match object.get(key) {
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            problems.push(pointer(at, key), format!("{key} must be a string"));
            None
        }
        None => {
            problems.push(pointer(at, key), format!("{key} is required"));
            None
        }
    }
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
    problems: &mut Problems,
) -> Option<String> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(pointer(at, key), format!("{key} must be a string"));
            None
        }
    }
}

fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    at: &str,
    problems: &mut Problems,
) -> Option<&'a Map<String, Value>> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            problems.push(pointer(at, key), format!("{key} must be an object"));
            None
        }
    }
}

fn unknown_keys(object: &Map<String, Value>, known: &[&str], at: &str, problems: &mut Problems) {
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(
                pointer(at, key),
                format!("unknown field '{key}' (known: {})", known.join(", ")),
            );
        }
    }
}

fn check_unique_name(name: &str, problems: &mut Problems) {
    let valid = (2..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        problems.push(
            "/unique_name",
            "unique_name must be 2 to 64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
        );
    }
}

fn check_integration_points(
    root: &Map<String, Value>,
    kind: AddOnKind,
    problems: &mut Problems,
) -> Vec<IntegrationPoint> {
    let allowed = kind.integration_points();
    let names: Vec<&str> = allowed.iter().map(|p| p.unique_name()).collect();
    let mut points = BTreeSet::new();
    match root.get("integration_points") {
        None => problems.push(
            "/integration_points",
            format!("integration_points is required: any of {}", names.join(", ")),
        ),
        Some(Value::Array(items)) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                let at = format!("/integration_points/{index}");
                match item.as_str().map(|s| (s, IntegrationPoint::parse(s))) {
                    Some((_, Some(point))) if allowed.contains(&point) => {
                        if !points.insert(point) {
                            problems.push(at, format!("'{}' is listed twice", point.unique_name()));
                        }
                    }
                    Some((name, Some(_))) => problems.push(
                        at,
                        format!(
                            "a {} Add-on cannot be used at '{name}': allowed are {}",
                            kind.as_str(),
                            names.join(", ")
                        ),
                    ),
                    Some((name, None)) => problems.push(
                        at,
                        format!(
                            "'{name}' is not an integration point: allowed are {}",
                            names.join(", ")
                        ),
                    ),
                    None => problems.push(at, "an integration point is a string"),
                }
            }
        }
        Some(_) => problems.push(
            "/integration_points",
            format!(
                "integration_points must be a non-empty array: any of {}",
                names.join(", ")
            ),
        ),
    }
    points.into_iter().collect()
}

fn check_endpoint(
    root: &Map<String, Value>,
    kind: AddOnKind,
    policy: RegistrationPolicy,
    problems: &mut Problems,
) -> Option<Endpoint> {
    let Some(endpoint) = root.get("endpoint") else {
        problems.push(
            "/endpoint",
            "endpoint is required: {\"url\", \"method\", \"carrier\"}",
        );
        return None;
    };
    let Some(endpoint) = endpoint.as_object() else {
        problems.push(
            "/endpoint",
            "endpoint must be an object: {\"url\", \"method\", \"carrier\"}",
        );
        return None;
    };
    unknown_keys(endpoint, &["url", "method", "carrier"], "/endpoint", problems);
    let url = required_string(endpoint, "url", "/endpoint", problems).and_then(|text| {
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(error) => {
                problems.push("/endpoint/url", format!("not a URL: {error}"));
                return None;
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_insecure_endpoints => {}
            "http" => {
                problems.push(
                    "/endpoint/url",
                    "the endpoint must use https (TLS 1.2 or later); plain http is only accepted where the operator allows insecure endpoints",
                );
                return None;
            }
            other => {
                problems.push("/endpoint/url", format!("unsupported URL scheme '{other}': use https"));
                return None;
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            problems.push("/endpoint/url", "the endpoint URL needs a host");
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            problems.push("/endpoint/url", "credentials do not belong in the URL: declare them under auth");
            return None;
        }
        if url.fragment().is_some() {
            problems.push("/endpoint/url", "the endpoint URL cannot have a fragment");
            return None;
        }
        Some(url)
    });
    let method = match endpoint.get("method") {
        None => Some(HttpMethod::Post),
        Some(Value::String(method)) => match method.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "PUT" => Some(HttpMethod::Put),
            _ => {
                problems.push(
                    "/endpoint/method",
                    format!("'{method}' is not supported: use GET, POST or PUT"),
                );
                None
            }
        },
        Some(_) => {
            problems.push("/endpoint/method", "method must be a string: GET, POST or PUT");
            None
        }
    };
    let default_carrier = if kind == AddOnKind::RecordingAnalysis {
        Carrier::AudioBody
    } else {
        Carrier::Json
    };
    let carrier = match endpoint.get("carrier") {
        None => Some(default_carrier),
        Some(Value::String(name)) => {
            let carrier = Carrier::parse(name);
            if carrier.is_none() {
                problems.push(
                    "/endpoint/carrier",
                    format!("'{name}' is not a carrier: use query, json, form, audio-body or multipart"),
                );
            }
            carrier
        }
        Some(_) => {
            problems.push("/endpoint/carrier", "carrier must be a string");
            None
        }
    };
    let (url, method, carrier) = (url?, method?, carrier?);
    if kind == AddOnKind::RecordingAnalysis && !carrier.carries_audio() {
        problems.push(
            "/endpoint/carrier",
            "a recording-analysis Add-on receives the audio: use audio-body or multipart",
        );
    }
    if kind != AddOnKind::RecordingAnalysis && carrier.carries_audio() {
        problems.push(
            "/endpoint/carrier",
            format!("a {} Add-on has no audio: use query, json or form", kind.as_str()),
        );
    }
    match (method, carrier) {
        (HttpMethod::Get, Carrier::Query) | (HttpMethod::Post, _) => {}
        (HttpMethod::Put, Carrier::AudioBody | Carrier::Multipart) => {}
        (HttpMethod::Get, _) => problems.push(
            "/endpoint/method",
            format!(
                "GET cannot carry a {} body: use POST, or the query carrier",
                carrier.as_str()
            ),
        ),
        (HttpMethod::Put, _) => problems.push(
            "/endpoint/method",
            "PUT is only supported for recordings' audio (audio-body or multipart)",
        ),
    }
    Some(Endpoint { url, method, carrier })
}

fn check_runtime_fields(
    root: &Map<String, Value>,
    points: Option<&[IntegrationPoint]>,
    configuration: &Option<ConfigSchema>,
    problems: &mut Problems,
) -> Vec<RuntimeField> {
    let Some(fields) = optional_object(root, "runtime_fields", "", problems) else {
        return Vec::new();
    };
    if let Some(points) = points
        && !fields.is_empty()
        && !points.iter().any(|p| p.supports_runtime_fields())
    {
        problems.push(
            "/runtime_fields",
            "vendor runtime fields are only supported for Lookup: add 'lookups' to integration_points or remove them",
        );
    }
    let mut out = Vec::new();
    for (name, spec) in fields {
        let at = pointer("/runtime_fields", name);
        let valid_name = {
            let mut chars = name.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !valid_name {
            problems.push(
                &at,
                format!("'{name}' cannot be a template variable: use letters, digits and '_'"),
            );
            continue;
        }
        if BuiltinField::parse(name).is_some() {
            problems.push(
                &at,
                format!("'{name}' is filled in by Twilio and cannot be a runtime field"),
            );
            continue;
        }
        if configuration.as_ref().is_some_and(|c| c.has_field(name)) {
            problems.push(&at, format!("'{name}' is already a configuration field"));
            continue;
        }
        let Some(spec) = spec.as_object() else {
            problems.push(
                &at,
                "a runtime field is an object: {\"required\": true, \"description\": \"…\"}",
            );
            continue;
        };
        unknown_keys(spec, &["required", "description"], &at, problems);
        let required = match spec.get("required") {
            None => true,
            Some(Value::Bool(required)) => *required,
            Some(_) => {
                problems.push(pointer(&at, "required"), "required must be true or false");
                true
            }
        };
        let description = optional_string(spec, "description", &at, problems).unwrap_or_default();
        out.push(RuntimeField {
            name: name.clone(),
            required,
            description,
        });
    }
    out
}

fn check_auth(root: &Map<String, Value>, carrier: Option<Carrier>, problems: &mut Problems) -> PublisherAuth {
    let Some(auth) = optional_object(root, "auth", "", problems) else {
        return PublisherAuth::None;
    };
    let scheme = required_string(auth, "scheme", "/auth", problems).unwrap_or("none");
    let secret = || {
        let mut local = Problems::new();
        let secret = required_string(auth, "secret", "/auth", &mut local).map(Secret::new);
        (secret, local)
    };
    let (auth_value, known): (Option<PublisherAuth>, &[&str]) = match scheme {
        "none" => (Some(PublisherAuth::None), &["scheme"]),
        "query" | "body" => {
            let (secret, local) = secret();
            for problem in local.into_vec() {
                problems.push(problem.pointer, problem.message);
            }
            let parameter = required_string(auth, "parameter", "/auth", problems).map(str::to_owned);
            if scheme == "body" && carrier.is_some_and(|c| !matches!(c, Carrier::Json | Carrier::Form)) {
                problems.push(
                    "/auth/scheme",
                    "credentials in the body need the json or form carrier",
                );
            }
            let value = match (parameter, secret) {
                (Some(parameter), Some(secret)) if scheme == "query" => {
                    Some(PublisherAuth::Query { parameter, secret })
                }
                (Some(parameter), Some(secret)) => Some(PublisherAuth::Body { parameter, secret }),
                _ => None,
            };
            (value, &["scheme", "parameter", "secret"])
        }
        "basic" => {
            let (secret, local) = secret();
            for problem in local.into_vec() {
                problems.push(problem.pointer, problem.message);
            }
            let username = required_string(auth, "username", "/auth", problems).map(str::to_owned);
            if username.as_deref().is_some_and(|u| u.contains(':')) {
                problems.push("/auth/username", "a Basic user name cannot contain ':'");
            }
            let value = username
                .zip(secret)
                .map(|(username, secret)| PublisherAuth::Basic { username, secret });
            (value, &["scheme", "username", "secret"])
        }
        "bearer" => {
            let (secret, local) = secret();
            for problem in local.into_vec() {
                problems.push(problem.pointer, problem.message);
            }
            (
                secret.map(|secret| PublisherAuth::Bearer { secret }),
                &["scheme", "secret"],
            )
        }
        other => {
            problems.push(
                "/auth/scheme",
                format!("'{other}' is not an auth scheme: use none, query, body, basic or bearer"),
            );
            (None, &["scheme", "parameter", "username", "secret"])
        }
    };
    unknown_keys(auth, known, "/auth", problems);
    if let Some(Value::String(secret)) = auth.get("secret")
        && (secret.is_empty() || secret == REDACTED)
    {
        problems.push(
            "/auth/secret",
            "the secret is empty or redacted: give the credential itself",
        );
    }
    auth_value.unwrap_or(PublisherAuth::None)
}

struct FieldScope<'a> {
    kind: AddOnKind,
    points: &'a [IntegrationPoint],
    configuration: Option<&'a ConfigSchema>,
    configuration_failed: bool,
    runtime: &'a [RuntimeField],
}

impl FieldScope<'_> {
    fn resolve(&self, name: &str, sha256: bool) -> Result<FieldRef, String> {
        if let Some(builtin) = BuiltinField::parse(name) {
            let missing: Vec<&str> = self
                .points
                .iter()
                .filter(|point| !builtin.is_supplied(self.kind, **point))
                .map(|point| point.unique_name())
                .collect();
            if !missing.is_empty() {
                let supplied_anywhere = self
                    .kind
                    .integration_points()
                    .iter()
                    .any(|point| builtin.is_supplied(self.kind, *point));
                return Err(if supplied_anywhere {
                    format!(
                        "{{{{{name}}}}} is not supplied at {}: remove those integration points or the field",
                        missing.join(", ")
                    )
                } else {
                    format!("{{{{{name}}}}} is not supplied to {} Add-ons", self.kind.as_str())
                });
            }
            if builtin == BuiltinField::AudioData && !sha256 {
                return Err(
                    "{{audio_data}} is the audio itself: use it whole as the multipart file parameter, or {{SHA256:audio_data}}"
                        .to_owned(),
                );
            }
            return Ok(FieldRef::Builtin(builtin));
        }
        if self.configuration.is_some_and(|c| c.has_field(name)) {
            return Ok(FieldRef::Config(name.into()));
        }
        if self.runtime.iter().any(|field| field.name == name) {
            let elsewhere: Vec<&str> = self
                .points
                .iter()
                .filter(|point| !point.supports_runtime_fields())
                .map(|point| point.unique_name())
                .collect();
            if !elsewhere.is_empty() {
                return Err(format!(
                    "runtime field {{{{{name}}}}} is only supplied by Lookup, not at {}",
                    elsewhere.join(", ")
                ));
            }
            return Ok(FieldRef::Runtime(name.into()));
        }
        if self.configuration_failed {
            return Err(format!(
                "{{{{{name}}}}} is not a known field (the configuration schema has problems)"
            ));
        }
        Err(format!(
            "{{{{{name}}}}} is not a template field of a {} Add-on: declare it in configuration_schema or runtime_fields",
            self.kind.as_str()
        ))
    }
}

fn check_parameters(
    root: &Map<String, Value>,
    scope: &FieldScope<'_>,
    endpoint: &Endpoint,
    auth: &PublisherAuth,
    problems: &mut Problems,
) -> Vec<Parameter> {
    let Some(parameters) = optional_object(root, "parameters", "", problems) else {
        if endpoint.carrier == Carrier::Multipart {
            problems.push(
                "/parameters",
                "the multipart carrier needs a parameter whose value is {{audio_data}}",
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen: BTreeMap<(u8, String), ()> = BTreeMap::new();
    for (name, spec) in parameters {
        let at = pointer("/parameters", name);
        let (value, placement, optional) = match spec {
            Value::Object(spec) => {
                unknown_keys(spec, &["value", "in", "optional"], &at, problems);
                let placement = match spec.get("in") {
                    None => endpoint.carrier.default_placement(),
                    Some(Value::String(place)) => match place.as_str() {
                        "query" => Placement::Query,
                        "body" => Placement::Body,
                        "header" => Placement::Header,
                        other => {
                            problems.push(
                                pointer(&at, "in"),
                                format!("'{other}' is not a placement: use query, body or header"),
                            );
                            continue;
                        }
                    },
                    Some(_) => {
                        problems.push(pointer(&at, "in"), "in must be query, body or header");
                        continue;
                    }
                };
                let optional = match spec.get("optional") {
                    None => false,
                    Some(Value::Bool(optional)) => *optional,
                    Some(_) => {
                        problems.push(pointer(&at, "optional"), "optional must be true or false");
                        false
                    }
                };
                match spec.get("value") {
                    Some(value) => (value, placement, optional),
                    None => {
                        problems.push(pointer(&at, "value"), "value is required");
                        continue;
                    }
                }
            }
            scalar => (scalar, endpoint.carrier.default_placement(), false),
        };
        let value_at = if spec.is_object() {
            pointer(&at, "value")
        } else {
            at.clone()
        };
        if name.is_empty() {
            problems.push(&at, "a parameter needs a name");
            continue;
        }
        if placement == Placement::Body && !endpoint.carrier.has_parameter_body() {
            problems.push(
                &at,
                format!(
                    "the {} carrier has no parameter body: send it in the query or a header",
                    endpoint.carrier.as_str()
                ),
            );
            continue;
        }
        if placement == Placement::Header {
            check_header_name(name, auth, &at, problems);
        }
        let slot = match placement {
            Placement::Query => 0,
            Placement::Body => 1,
            Placement::Header => 2,
        };
        let key = if placement == Placement::Header {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        if seen.insert((slot, key), ()).is_some() {
            problems.push(&at, format!("'{name}' is sent twice in the same place"));
        }
        let clashes_with_auth = match auth {
            PublisherAuth::Query { parameter, .. } => placement == Placement::Query && parameter == name,
            PublisherAuth::Body { parameter, .. } => placement == Placement::Body && parameter == name,
            _ => false,
        };
        if clashes_with_auth {
            problems.push(&at, format!("'{name}' is also the auth parameter"));
        }
        let value = match value {
            Value::String(text) if text.contains("{{") => {
                if endpoint.carrier == Carrier::Multipart && is_audio_template(text) {
                    if placement != Placement::Body {
                        problems.push(&at, "the audio can only be sent as a multipart body part");
                        continue;
                    }
                    out.push(Parameter {
                        name: name.clone(),
                        value: ParameterValue::Template(Template::constant("")),
                        placement,
                        optional: false,
                        is_audio_part: true,
                    });
                    continue;
                }
                match Template::compile(text, |field, sha| scope.resolve(field, sha)) {
                    Ok(template) => ParameterValue::Template(template),
                    Err(errors) => {
                        for error in errors {
                            let message = match error {
                                TemplateError::Unavailable(reason) => reason,
                                other => other.to_string(),
                            };
                            problems.push(&value_at, message);
                        }
                        continue;
                    }
                }
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) => ParameterValue::Constant(value.clone()),
            _ => {
                problems.push(
                    &value_at,
                    "a parameter value is a string, number, boolean, or {\"value\", \"in\", \"optional\"}",
                );
                continue;
            }
        };
        out.push(Parameter {
            name: name.clone(),
            value,
            placement,
            optional,
            is_audio_part: false,
        });
    }
    let audio_parts = out.iter().filter(|p| p.is_audio_part).count();
    if endpoint.carrier == Carrier::Multipart && audio_parts != 1 {
        problems.push(
            "/parameters",
            "the multipart carrier needs exactly one parameter whose value is {{audio_data}} (it names the file part)",
        );
    }
    out
}

fn is_audio_template(text: &str) -> bool {
    matches!(
        crate::template::parse(text).as_deref(),
        Ok([crate::template::RawSegment::Expression { name, sha256: false }]) if name == "audio_data"
    )
}

fn check_header_name(name: &str, auth: &PublisherAuth, at: &str, problems: &mut Problems) {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        problems.push(at, format!("'{name}' is not a valid HTTP header name"));
        return;
    }
    let lower = name.to_ascii_lowercase();
    const RESERVED: &[&str] = &[
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "user-agent",
    ];
    if lower.starts_with("x-twilio-") {
        problems.push(at, format!("'{name}': X-Twilio-* headers are set by Twilio"));
    } else if RESERVED.contains(&lower.as_str()) {
        problems.push(at, format!("'{name}' is set by the gateway"));
    } else if lower == "authorization"
        && matches!(auth, PublisherAuth::Basic { .. } | PublisherAuth::Bearer { .. })
    {
        problems.push(at, "Authorization is already set by the auth scheme");
    }
}

fn optional_schema(root: &Map<String, Value>, key: &str, problems: &mut Problems) -> Option<CompiledSchema> {
    match root.get(key) {
        None | Some(Value::Null) => None,
        Some(schema) => match CompiledSchema::compile(schema) {
            Ok(compiled) => Some(compiled),
            Err(errors) => {
                for (path, message) in errors {
                    problems.push(format!("{}{path}", pointer("", key)), message);
                }
                None
            }
        },
    }
}

fn json_paths(value: Option<&Value>, at: &str, problems: &mut Problems) -> Vec<JsonPathExpr> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let here = format!("{at}/{index}");
                match item.as_str().map(JsonPathExpr::parse) {
                    Some(Ok(path)) => Some(path),
                    Some(Err(message)) => {
                        problems.push(here, message);
                        None
                    }
                    None => {
                        problems.push(here, "a JSONPath is a string such as \"$.api_key\"");
                        None
                    }
                }
            })
            .collect(),
        Some(_) => {
            problems.push(at, "expected an array of JSONPath strings");
            Vec::new()
        }
    }
}

fn check_pricing(
    root: &Map<String, Value>,
    kind: Option<AddOnKind>,
    problems: &mut Problems,
) -> Option<Pricing> {
    let Some(pricing) = root.get("pricing") else {
        problems.push(
            "/pricing",
            "pricing is required: {\"model\": \"pay-per-use\", \"price\": \"0.0001\"}",
        );
        return None;
    };
    let Some(pricing) = pricing.as_object() else {
        problems.push("/pricing", "pricing must be an object: {\"model\", \"price\"}");
        return None;
    };
    let model = required_string(pricing, "model", "/pricing", problems);
    let price = match pricing.get("price") {
        Some(Value::String(text)) => Money::parse(text)
            .map_err(|e| problems.push("/pricing/price", e))
            .ok(),
        Some(Value::Number(number)) => Money::parse(&number.to_string())
            .map_err(|e| problems.push("/pricing/price", e))
            .ok(),
        Some(_) => {
            problems.push(
                "/pricing/price",
                "price is a decimal amount in USD, such as \"0.0001\"",
            );
            None
        }
        None => {
            problems.push(
                "/pricing/price",
                "price is required (USD per unit, such as \"0.0001\")",
            );
            None
        }
    };
    let known: &[&str] = if model == Some("pay-per-success") {
        &["model", "price", "non_billable_elements", "non_billable_statuses"]
    } else {
        &["model", "price"]
    };
    unknown_keys(pricing, known, "/pricing", problems);
    let pricing = match model? {
        "pay-per-use" => Pricing::PayPerUse { price: price? },
        "pay-per-minute" => {
            if kind.is_some_and(|kind| kind != AddOnKind::RecordingAnalysis) {
                problems.push(
                    "/pricing/model",
                    "pay-per-minute is for recording-analysis Add-ons (billed by audio minute)",
                );
                return None;
            }
            Pricing::PayPerMinute { price: price? }
        }
        "pay-per-success" => {
            let elements = json_paths(
                pricing.get("non_billable_elements"),
                "/pricing/non_billable_elements",
                problems,
            );
            let statuses = match pricing.get("non_billable_statuses") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| match item.as_u64() {
                        Some(status @ 100..=599) => u16::try_from(status).ok(),
                        _ => {
                            problems.push(
                                format!("/pricing/non_billable_statuses/{index}"),
                                "an HTTP status code between 100 and 599",
                            );
                            None
                        }
                    })
                    .collect(),
                Some(_) => {
                    problems.push(
                        "/pricing/non_billable_statuses",
                        "expected an array of HTTP status codes",
                    );
                    Vec::new()
                }
            };
            if elements.is_empty()
                && statuses.is_empty()
                && !pricing.contains_key("non_billable_elements")
                && !pricing.contains_key("non_billable_statuses")
            {
                problems.push(
                    "/pricing",
                    "pay-per-success needs non_billable_elements (JSONPaths) and/or non_billable_statuses",
                );
            }
            Pricing::PayPerSuccess {
                price: price?,
                non_billable_elements: elements,
                non_billable_statuses: statuses,
            }
        }
        other => {
            problems.push(
                "/pricing/model",
                format!(
                    "'{other}' is not a billing model: use pay-per-use, pay-per-minute or pay-per-success"
                ),
            );
            return None;
        }
    };
    Some(pricing)
}

fn millis(value: &Value, at: &str, problems: &mut Problems) -> Option<u64> {
    match value.as_u64() {
        Some(ms) if ms > 0 => Some(ms),
        _ => {
            problems.push(at, "expected a positive whole number of milliseconds");
            None
        }
    }
}

fn check_limits(
    root: &Map<String, Value>,
    kind: AddOnKind,
    problems: &mut Problems,
) -> (Limits, RetryPolicy) {
    let max_timeout = kind.max_timeout();
    let max_bytes = kind.max_response_bytes();
    let mut limits = Limits {
        timeout: max_timeout,
        max_response_bytes: max_bytes,
    };
    if let Some(spec) = optional_object(root, "limits", "", problems) {
        unknown_keys(spec, &["timeout_ms", "max_response_bytes"], "/limits", problems);
        if let Some(value) = spec.get("timeout_ms")
            && let Some(ms) = millis(value, "/limits/timeout_ms", problems)
        {
            if Duration::from_millis(ms) > max_timeout {
                problems.push(
                    "/limits/timeout_ms",
                    format!(
                        "{ms} ms is above the {} limit of {} ms: a stricter limit is allowed, a looser one is not",
                        kind.as_str(),
                        max_timeout.as_millis()
                    ),
                );
            } else {
                limits.timeout = Duration::from_millis(ms);
            }
        }
        if let Some(value) = spec.get("max_response_bytes") {
            match value.as_u64() {
                Some(bytes) if bytes > max_bytes => problems.push(
                    "/limits/max_response_bytes",
                    format!(
                        "{bytes} bytes is above the {} limit of {max_bytes} bytes: a stricter limit is allowed, a looser one is not",
                        kind.as_str()
                    ),
                ),
                Some(bytes) if bytes > 0 => limits.max_response_bytes = bytes,
                _ => problems.push("/limits/max_response_bytes", "expected a positive whole number of bytes"),
            }
        }
    }
    let max_ttl = match kind.consumption() {
        Consumption::Synchronous => max_timeout,
        Consumption::Asynchronous => Duration::from_secs(3600),
    };
    let mut retry = RetryPolicy {
        max_retries: 2,
        ttl: match kind.consumption() {
            Consumption::Synchronous => max_timeout,
            Consumption::Asynchronous => Duration::from_secs(600),
        },
    };
    if let Some(spec) = optional_object(root, "retries", "", problems) {
        unknown_keys(spec, &["count", "ttl_ms"], "/retries", problems);
        if let Some(value) = spec.get("count") {
            match value.as_u64() {
                Some(count) if count <= u64::from(MAX_RETRIES) => retry.max_retries = count as u32,
                _ => problems.push(
                    "/retries/count",
                    format!("expected a whole number from 0 to {MAX_RETRIES}"),
                ),
            }
        }
        if let Some(value) = spec.get("ttl_ms")
            && let Some(ms) = millis(value, "/retries/ttl_ms", problems)
        {
            if Duration::from_millis(ms) > max_ttl {
                problems.push(
                    "/retries/ttl_ms",
                    format!(
                        "{ms} ms is above the {} limit of {} ms",
                        kind.as_str(),
                        max_ttl.as_millis()
                    ),
                );
            } else {
                retry.ttl = Duration::from_millis(ms);
            }
        }
    }
    (limits, retry)
}

#[cfg(test)]
mod tests;
