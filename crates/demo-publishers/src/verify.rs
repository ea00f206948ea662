//! What a publisher checks before it trusts a request: Twilio's signature, the vendor account,
//! the invocation date and TTL, the request SID, and the Add-on's own credentials.

use std::fmt;
use std::time::Duration;

use addons_domain::signature::{BODY_SHA256_PARAM, Signer, body_sha256_hex};
use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::apps::{AppError, DemoApp, INVALID_PARAMETER};
use crate::config::{API_KEY_PARAMETER, BODY_TOKEN_PARAMETER, Credentials};

/// The query parameter carrying the invocation's start.
pub const INVOCATION_DATE_PARAM: &str = "InvocationDate";
/// The query parameter carrying the invocation's time to live, in milliseconds.
pub const INVOCATION_TTL_PARAM: &str = "InvocationTtlMs";

/// A request that passed every check, as the app sees it.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, as received.
    pub path: String,
    /// The raw query string, as received.
    pub query: Option<String>,
    /// The parameters: the query's pairs, then the form's pairs or the JSON body's members,
    /// which override query pairs of the same name (a later pair overrides an earlier one).
    /// Query and form values are strings; JSON values keep their types.
    pub params: Map<String, Value>,
    /// The headers, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// `X-Twilio-RequestSid`.
    pub request_sid: String,
    /// `InvocationDate`.
    pub invocation_date: DateTime<Utc>,
    /// `InvocationTtlMs`.
    pub invocation_ttl: Duration,
    /// How many times this server's app has run today (UTC), this request included; replays
    /// do not count.
    pub app_runs_today: u64,
}

impl VerifiedRequest {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// A parameter.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Why a request was refused before the app saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// No `X-Twilio-Signature`.
    MissingSignature,
    /// A non-form body without `bodySHA256` in the URL: the signature would not cover it.
    BodyNotSigned,
    /// `bodySHA256` is not the SHA-256 of the body.
    BodyHashMismatch,
    /// The signature does not match the URL and parameters.
    InvalidSignature,
    /// `X-Twilio-VendorAccountSid` is missing or not the configured account.
    WrongVendorAccount,
    /// No `InvocationDate` in the query string.
    MissingInvocationDate,
    /// `InvocationDate` is not an RFC 3339 date.
    MalformedInvocationDate,
    /// No `InvocationTtlMs` in the query string.
    MissingInvocationTtl,
    /// `InvocationTtlMs` is not a positive whole number of milliseconds.
    MalformedInvocationTtl,
    /// Now is past the invocation date plus its TTL plus the clock skew.
    StaleInvocation,
    /// The invocation date is further in the future than the clock skew.
    FutureInvocation,
    /// `X-Twilio-RequestSid` is missing or not `XR` + 32 hex digits.
    InvalidRequestSid,
    /// The Add-on's own credential (bearer token, API key, Basic password, body token) is
    /// missing or wrong.
    InvalidCredentials,
}

impl Rejection {
    /// The HTTP status answered: 401 for credentials, 403 for the rest.
    pub fn status(self) -> u16 {
        match self {
            Rejection::InvalidCredentials => 401,
            _ => 403,
        }
    }

    /// The `code` in the JSON body.
    pub fn code(self) -> u32 {
        match self {
            Rejection::MissingSignature => 40301,
            Rejection::BodyNotSigned => 40302,
            Rejection::BodyHashMismatch => 40303,
            Rejection::InvalidSignature => 40304,
            Rejection::WrongVendorAccount => 40305,
            Rejection::MissingInvocationDate => 40306,
            Rejection::MalformedInvocationDate => 40307,
            Rejection::MissingInvocationTtl => 40308,
            Rejection::MalformedInvocationTtl => 40309,
            Rejection::StaleInvocation => 40310,
            Rejection::FutureInvocation => 40311,
            Rejection::InvalidRequestSid => 40312,
            Rejection::InvalidCredentials => 40101,
        }
    }

    /// A stable name for the reason, as [`crate::ReceivedRequest::rejection`] records it.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing_signature",
            Rejection::BodyNotSigned => "body_not_signed",
            Rejection::BodyHashMismatch => "body_hash_mismatch",
            Rejection::InvalidSignature => "invalid_signature",
            Rejection::WrongVendorAccount => "wrong_vendor_account",
            Rejection::MissingInvocationDate => "missing_invocation_date",
            Rejection::MalformedInvocationDate => "malformed_invocation_date",
            Rejection::MissingInvocationTtl => "missing_invocation_ttl",
            Rejection::MalformedInvocationTtl => "malformed_invocation_ttl",
            Rejection::StaleInvocation => "stale_invocation",
            Rejection::FutureInvocation => "future_invocation",
            Rejection::InvalidRequestSid => "invalid_request_sid",
            Rejection::InvalidCredentials => "invalid_credentials",
        }
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing X-Twilio-Signature",
            Rejection::BodyNotSigned => {
                "the body is not covered by the signature: bodySHA256 is missing from the URL"
            }
            Rejection::BodyHashMismatch => "bodySHA256 in the URL is not the SHA-256 of the body",
            Rejection::InvalidSignature => "invalid X-Twilio-Signature",
            Rejection::WrongVendorAccount => {
                "X-Twilio-VendorAccountSid is missing or not this publisher's account"
            }
            Rejection::MissingInvocationDate => "missing InvocationDate",
            Rejection::MalformedInvocationDate => "InvocationDate is not an RFC 3339 date",
            Rejection::MissingInvocationTtl => "missing InvocationTtlMs",
            Rejection::MalformedInvocationTtl => {
                "InvocationTtlMs is not a positive whole number of milliseconds"
            }
            Rejection::StaleInvocation => {
                "the invocation is stale: its InvocationDate plus InvocationTtlMs has passed"
            }
            Rejection::FutureInvocation => "InvocationDate is in the future",
            Rejection::InvalidRequestSid => "X-Twilio-RequestSid is missing or malformed",
            Rejection::InvalidCredentials => "missing or invalid credentials",
        }
    }

    /// The JSON body answered.
    pub fn to_json(self) -> Value {
        json!({"status": "failed", "message": self.message(), "code": self.code()})
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

impl std::error::Error for Rejection {}

/// The request as it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What the checks found that the rest of the request needs.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub request_sid: String,
    pub invocation_date: DateTime<Utc>,
    pub invocation_ttl: Duration,
}

/// The result of verification: whether the signature held (recorded even when a later check
/// failed), and the outcome.
#[derive(Debug, Clone)]
pub(crate) struct Verification {
    pub signature_valid: bool,
    pub outcome: Result<Checked, Rejection>,
}

/// The settings verification needs.
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    pub signer: Signer,
    /// `scheme://authority` of the URL the gateway signs.
    pub origin: String,
    pub vendor_account_sid: Option<String>,
    pub clock_skew: Duration,
}

/// `scheme://authority` of a base URL, as written (a parsed URL would drop a default port,
/// and the signature is over the text).
pub(crate) fn origin_of(base_url: &str) -> String {
    let after_scheme = base_url.find("://").map_or(0, |i| i + 3);
    let end = base_url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(base_url.len(), |i| after_scheme + i);
    base_url[..end].to_owned()
}

pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|media| media == "application/x-www-form-urlencoded")
}

fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|media| media == "application/json" || media.ends_with("+json"))
}

/// The media type of the body, lower-case, without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn is_request_sid(value: &str) -> bool {
    value.len() == 34 && value.starts_with("XR") && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Verifier {
    /// The URL the gateway signed: the public origin, then the path and query as received.
    pub fn signed_url(&self, path: &str, query: Option<&str>) -> String {
        match query {
            Some(query) => format!("{}{path}?{query}", self.origin),
            None => format!("{}{path}", self.origin),
        }
    }

    /// Runs the checks in order; the first that fails is the rejection.
    pub fn verify(&self, request: Incoming<'_>, now: DateTime<Utc>) -> Verification {
        match self.check_signature(request) {
            Err(rejection) => Verification {
                signature_valid: false,
                outcome: Err(rejection),
            },
            Ok(()) => Verification {
                signature_valid: true,
                outcome: self.check_rest(request, now),
            },
        }
    }

    fn check_signature(&self, request: Incoming<'_>) -> Result<(), Rejection> {
        let signature = header_text(request.headers, "x-twilio-signature")
            .filter(|signature| !signature.is_empty())
            .ok_or(Rejection::MissingSignature)?;
        let url = self.signed_url(request.path, request.query);
        let form: Vec<(String, String)> = if is_form(request.headers) {
            form_urlencoded::parse(request.body).into_owned().collect()
        } else {
            match query_value(request.query, BODY_SHA256_PARAM) {
                None if !request.body.is_empty() => return Err(Rejection::BodyNotSigned),
                Some(hash)
                    if !constant_time_eq(
                        hash.to_ascii_lowercase().as_bytes(),
                        body_sha256_hex(request.body).as_bytes(),
                    ) =>
                {
                    return Err(Rejection::BodyHashMismatch);
                }
                _ => Vec::new(),
            }
        };
        let pairs = form.iter().map(|(name, value)| (name.as_str(), value.as_str()));
        if self.signer.validate(&url, pairs, request.body, signature) {
            Ok(())
        } else {
            Err(Rejection::InvalidSignature)
        }
    }

    fn check_rest(&self, request: Incoming<'_>, now: DateTime<Utc>) -> Result<Checked, Rejection> {
        if let Some(expected) = &self.vendor_account_sid {
            let sent = header_text(request.headers, "x-twilio-vendoraccountsid").unwrap_or_default();
            if !sent.eq_ignore_ascii_case(expected) {
                return Err(Rejection::WrongVendorAccount);
            }
        }
        let date =
            query_value(request.query, INVOCATION_DATE_PARAM).ok_or(Rejection::MissingInvocationDate)?;
        let date = DateTime::parse_from_rfc3339(&date)
            .map_err(|_| Rejection::MalformedInvocationDate)?
            .with_timezone(&Utc);
        let ttl = query_value(request.query, INVOCATION_TTL_PARAM).ok_or(Rejection::MissingInvocationTtl)?;
        let ttl_ms = ttl
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or(Rejection::MalformedInvocationTtl)?;
        let ttl = Duration::from_millis(ttl_ms);
        let skew = TimeDelta::from_std(self.clock_skew).unwrap_or(TimeDelta::MAX);
        let expires = TimeDelta::from_std(ttl)
            .ok()
            .and_then(|ttl| date.checked_add_signed(ttl))
            .ok_or(Rejection::MalformedInvocationTtl)?;
        if expires.checked_add_signed(skew).is_some_and(|limit| now > limit) {
            return Err(Rejection::StaleInvocation);
        }
        if now.checked_add_signed(skew).is_some_and(|limit| date > limit) {
            return Err(Rejection::FutureInvocation);
        }
        let request_sid = header_text(request.headers, "x-twilio-requestsid")
            .filter(|sid| is_request_sid(sid))
            .ok_or(Rejection::InvalidRequestSid)?;
        Ok(Checked {
            request_sid: request_sid.to_owned(),
            invocation_date: date,
            invocation_ttl: ttl,
        })
    }
}

/// The parameters the publisher received: query pairs, then the body's (form pairs or a JSON
/// object's members) over them.
pub(crate) fn parameters(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, AppError> {
    let mut params = Map::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        params.insert(name.into_owned(), Value::String(value.into_owned()));
    }
    if is_form(headers) {
        for (name, value) in form_urlencoded::parse(body) {
            params.insert(name.into_owned(), Value::String(value.into_owned()));
        }
    } else if !body.is_empty() || is_json(headers) {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) => params.extend(members),
            _ => {
                return Err(AppError {
                    code: INVALID_PARAMETER,
                    message: "the body must be a JSON object (or a www-form-encoded form)".to_owned(),
                });
            }
        }
    }
    Ok(params)
}

/// Checks the credential the app's manifest declares. [`DemoApp::Custom`] declares none.
pub(crate) fn check_credentials(
    app: &DemoApp,
    credentials: &Credentials,
    headers: &HeaderMap,
    query: Option<&str>,
    params: &Map<String, Value>,
) -> Result<(), Rejection> {
    let authorization = header_text(headers, "authorization").unwrap_or_default();
    let accepted = match app {
        DemoApp::Anagrams => authorization
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, token)| {
                constant_time_eq(token.trim().as_bytes(), credentials.bearer_token.as_bytes())
            }),
        DemoApp::SpamScore => query_value(query, API_KEY_PARAMETER)
            .is_some_and(|key| constant_time_eq(key.as_bytes(), credentials.api_key.as_bytes())),
        DemoApp::CallerName => {
            let expected = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                credentials.basic_username, credentials.basic_password
            ));
            authorization
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
                .is_some_and(|(_, sent)| constant_time_eq(sent.trim().as_bytes(), expected.as_bytes()))
        }
        DemoApp::Sentiment => params
            .get(BODY_TOKEN_PARAMETER)
            .and_then(Value::as_str)
            .is_some_and(|token| constant_time_eq(token.as_bytes(), credentials.body_token.as_bytes())),
        DemoApp::Custom(_) => true,
    };
    if accepted {
        Ok(())
    } else {
        Err(Rejection::InvalidCredentials)
    }
}

#[cfg(test)]
mod tests {
    use addons_domain::signature::url_with_body_sha256;
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "publisher-auth-token";
    const ORIGIN: &str = "http://127.0.0.1:8080";
    const SID: &str = "XR0123456789abcdef0123456789abcdef";

    fn verifier() -> Verifier {
        Verifier {
            signer: Signer::new(TOKEN),
            origin: ORIGIN.to_owned(),
            vendor_account_sid: Some("AC0123456789abcdef0123456789abcdef".to_owned()),
            clock_skew: Duration::from_secs(60),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T14:51:43Z")
            .expect("a date")
            .with_timezone(&Utc)
    }

    struct Request {
        path_and_query: String,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Request {
        fn verify(&self, verifier: &Verifier, now: DateTime<Utc>) -> Verification {
            let (path, query) = match self.path_and_query.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (self.path_and_query.as_str(), None),
            };
            verifier.verify(
                Incoming {
                    path,
                    query,
                    headers: &self.headers,
                    body: &self.body,
                },
                now,
            )
        }

        fn set(&mut self, name: &'static str, value: &str) {
            self.headers
                .insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
    }

    fn base_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-twilio-vendoraccountsid",
            HeaderValue::from_static("AC0123456789abcdef0123456789abcdef"),
        );
        headers.insert("x-twilio-requestsid", HeaderValue::from_static(SID));
        headers
    }

    fn json_request(query: &str, body: &str) -> Request {
        let path_and_query = url_with_body_sha256(&format!("/v1/anagrams?{query}"), body.as_bytes());
        let signature = Signer::new(TOKEN).sign(&format!("{ORIGIN}{path_and_query}"), []);
        let mut request = Request {
            path_and_query,
            headers: base_headers(),
            body: body.as_bytes().to_vec(),
        };
        request.set("content-type", "application/json");
        request.set("x-twilio-signature", &signature);
        request
    }

    fn form_request(query: &str, form: &[(&str, &str)]) -> Request {
        let path_and_query = format!("/v1/caller-name?{query}");
        let signature = Signer::new(TOKEN).sign(&format!("{ORIGIN}{path_and_query}"), form.iter().copied());
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = Request {
            path_and_query,
            headers: base_headers(),
            body: body.into_bytes(),
        };
        request.set("content-type", "application/x-www-form-urlencoded");
        request.set("x-twilio-signature", &signature);
        request
    }

    const GOOD_QUERY: &str = "InvocationDate=2026-11-27T14%3A51%3A42Z&InvocationTtlMs=2000";

    #[test]
    fn a_signed_json_request_passes() {
        let request = json_request(GOOD_QUERY, r#"{"phone_number":"+18778894546"}"#);
        let verification = request.verify(&verifier(), now());
        assert!(verification.signature_valid);
        let checked = verification.outcome.expect("verified");
        assert_eq!(checked.request_sid, SID);
        assert_eq!(checked.invocation_ttl, Duration::from_millis(2000));
    }

    #[test]
    fn a_signed_form_request_passes() {
        let request = form_request(GOOD_QUERY, &[("number", "+14155550123"), ("x", "1")]);
        let verification = request.verify(&verifier(), now());
        assert!(verification.signature_valid, "{verification:?}");
        assert!(verification.outcome.is_ok());
    }

    #[test]
    fn signature_problems_are_told_apart() {
        let mut missing = json_request(GOOD_QUERY, "{}");
        missing.headers.remove("x-twilio-signature");
        assert_eq!(
            missing.verify(&verifier(), now()).outcome.err(),
            Some(Rejection::MissingSignature)
        );

        let mut tampered = json_request(GOOD_QUERY, r#"{"a":1}"#);
        tampered.body = br#"{"a":2}"#.to_vec();
        let verification = tampered.verify(&verifier(), now());
        assert!(!verification.signature_valid);
        assert_eq!(verification.outcome.err(), Some(Rejection::BodyHashMismatch));

        // Signed over the URL alone, as a form would be, but carrying a JSON body.
        let path_and_query = format!("/v1/anagrams?{GOOD_QUERY}");
        let mut unsigned = Request {
            headers: base_headers(),
            body: b"{}".to_vec(),
            path_and_query: path_and_query.clone(),
        };
        unsigned.set("content-type", "application/json");
        unsigned.set(
            "x-twilio-signature",
            &Signer::new(TOKEN).sign(&format!("{ORIGIN}{path_and_query}"), []),
        );
        assert_eq!(
            unsigned.verify(&verifier(), now()).outcome.err(),
            Some(Rejection::BodyNotSigned)
        );

        let mut forged = form_request(GOOD_QUERY, &[("number", "+14155550123")]);
        forged.body = b"number=%2B14155550999".to_vec();
        assert_eq!(
            forged.verify(&verifier(), now()).outcome.err(),
            Some(Rejection::InvalidSignature)
        );

        let other_token = Verifier {
            signer: Signer::new("another-token"),
            ..verifier()
        };
        let request = json_request(GOOD_QUERY, "{}");
        assert_eq!(
            request.verify(&other_token, now()).outcome.err(),
            Some(Rejection::InvalidSignature)
        );
    }

    #[test]
    fn the_vendor_account_is_checked_when_configured() {
        let mut request = json_request(GOOD_QUERY, "{}");
        request.set("x-twilio-vendoraccountsid", "AC00000000000000000000000000000000");
        let verification = request.verify(&verifier(), now());
        assert!(verification.signature_valid);
        assert_eq!(verification.outcome.err(), Some(Rejection::WrongVendorAccount));
        let any_account = Verifier {
            vendor_account_sid: None,
            ..verifier()
        };
        assert!(request.verify(&any_account, now()).outcome.is_ok());
    }

    #[test]
    fn dates_and_ttls_are_checked() {
        let cases = [
            ("InvocationTtlMs=2000", Rejection::MissingInvocationDate),
            (
                "InvocationDate=yesterday&InvocationTtlMs=2000",
                Rejection::MalformedInvocationDate,
            ),
            (
                "InvocationDate=2026-11-27T14%3A51%3A42Z",
                Rejection::MissingInvocationTtl,
            ),
            (
                "InvocationDate=2026-11-27T14%3A51%3A42Z&InvocationTtlMs=-5",
                Rejection::MalformedInvocationTtl,
            ),
            (
                "InvocationDate=2026-11-27T14%3A51%3A42Z&InvocationTtlMs=0",
                Rejection::MalformedInvocationTtl,
            ),
            (
                "InvocationDate=2026-11-27T14%3A49%3A00Z&InvocationTtlMs=2000",
                Rejection::StaleInvocation,
            ),
            (
                "InvocationDate=2026-11-27T14%3A53%3A00Z&InvocationTtlMs=2000",
                Rejection::FutureInvocation,
            ),
        ];
        for (query, expected) in cases {
            let request = json_request(query, "{}");
            let verification = request.verify(&verifier(), now());
            assert!(verification.signature_valid, "{query}");
            assert_eq!(verification.outcome.err(), Some(expected), "{query}");
        }
    }

    #[test]
    fn the_clock_skew_is_tolerated_both_ways() {
        // 61 s after a 2 s TTL ran out: stale with 60 s skew; 30 s ahead: fine.
        let late = json_request(
            "InvocationDate=2026-11-27T14%3A50%3A40Z&InvocationTtlMs=2000",
            "{}",
        );
        assert_eq!(
            late.verify(&verifier(), now()).outcome.err(),
            Some(Rejection::StaleInvocation)
        );
        let just_in_time = json_request(
            "InvocationDate=2026-11-27T14%3A50%3A42Z&InvocationTtlMs=2000",
            "{}",
        );
        assert!(just_in_time.verify(&verifier(), now()).outcome.is_ok());
        let ahead = json_request(
            "InvocationDate=2026-11-27T14%3A52%3A13Z&InvocationTtlMs=2000",
            "{}",
        );
        assert!(ahead.verify(&verifier(), now()).outcome.is_ok());
    }

    #[test]
    fn the_request_sid_must_be_well_formed() {
        let mut request = json_request(GOOD_QUERY, "{}");
        request.set("x-twilio-requestsid", "XR123");
        assert_eq!(
            request.verify(&verifier(), now()).outcome.err(),
            Some(Rejection::InvalidRequestSid)
        );
    }

    #[test]
    fn origins_keep_the_text_as_written() {
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            origin_of("https://example.com:443/prefix/"),
            "https://example.com:443"
        );
        assert_eq!(origin_of("http://localhost?x"), "http://localhost");
    }

    #[test]
    fn parameters_merge_query_then_body() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let params = parameters(Some("a=1&b=q%2B1"), &headers, br#"{"a": 2, "c": true}"#).expect("parses");
        assert_eq!(Value::Object(params), json!({"a": 2, "b": "q+1", "c": true}));

        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        let params = parameters(Some("a=1"), &headers, b"a=2&d=%2B1").expect("parses");
        assert_eq!(Value::Object(params), json!({"a": "2", "d": "+1"}));

        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(parameters(None, &headers, b"[1]").is_err());
        assert!(parameters(None, &HeaderMap::new(), b"").is_ok());
    }

    #[test]
    fn credentials_follow_the_manifest() {
        let credentials = Credentials::default();
        let mut headers = HeaderMap::new();
        let none = Map::new();
        assert_eq!(
            check_credentials(&DemoApp::Anagrams, &credentials, &headers, None, &none),
            Err(Rejection::InvalidCredentials)
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", credentials.bearer_token)).expect("a header"),
        );
        assert!(check_credentials(&DemoApp::Anagrams, &credentials, &headers, None, &none).is_ok());

        let query = format!("api_key={}", credentials.api_key);
        assert!(check_credentials(&DemoApp::SpamScore, &credentials, &headers, Some(&query), &none).is_ok());
        assert!(
            check_credentials(
                &DemoApp::SpamScore,
                &credentials,
                &headers,
                Some("api_key=x"),
                &none
            )
            .is_err()
        );

        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            credentials.basic_username, credentials.basic_password
        ));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).expect("a header"),
        );
        assert!(check_credentials(&DemoApp::CallerName, &credentials, &headers, None, &none).is_ok());
        assert!(check_credentials(&DemoApp::Anagrams, &credentials, &headers, None, &none).is_err());

        let body = json!({"api_token": credentials.body_token})
            .as_object()
            .cloned()
            .expect("object");
        assert!(check_credentials(&DemoApp::Sentiment, &credentials, &headers, None, &body).is_ok());
        assert!(check_credentials(&DemoApp::Sentiment, &credentials, &headers, None, &none).is_err());
        let custom = DemoApp::custom(|_| Value::Null);
        assert!(check_credentials(&custom, &credentials, &HeaderMap::new(), None, &none).is_ok());
    }
}
