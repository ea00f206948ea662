//! The demo Add-ons' business logic: pure functions from the parameters a publisher received
//! to the JSON it answers. Nothing here knows about HTTP or signatures.

pub mod anagrams;
pub mod caller_name;
pub mod sentiment;
pub mod spam_score;

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::verify::VerifiedRequest;

/// A caller-supplied answer for [`DemoApp::Custom`].
pub type CustomApp = Arc<dyn Fn(&VerifiedRequest) -> Value + Send + Sync>;

/// Which Add-on a publisher server runs.
#[derive(Clone)]
pub enum DemoApp {
    /// `publisher_anagrams`: English words a phone number spells on a keypad.
    Anagrams,
    /// `demo_spam_score`: whether a number is likely spam.
    SpamScore,
    /// `demo_caller_name`: a made-up but deterministic caller name (CNAM).
    CallerName,
    /// `demo_sentiment`: sentiment and intent of an incoming SMS.
    Sentiment,
    /// A test's own answer: always HTTP 200 with the returned JSON.
    Custom(CustomApp),
}

impl fmt::Debug for DemoApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoApp::Custom(_) => f.write_str("Custom(..)"),
            other => f.write_str(other.unique_name()),
        }
    }
}

/// The four built-in demo Add-ons.
pub fn demo_apps() -> [DemoApp; 4] {
    [
        DemoApp::Anagrams,
        DemoApp::SpamScore,
        DemoApp::CallerName,
        DemoApp::Sentiment,
    ]
}

impl DemoApp {
    /// Wraps a closure as a custom app.
    pub fn custom(answer: impl Fn(&VerifiedRequest) -> Value + Send + Sync + 'static) -> DemoApp {
        DemoApp::Custom(Arc::new(answer))
    }

    /// The Add-on's `unique_name` in its manifest.
    pub fn unique_name(&self) -> &'static str {
        match self {
            DemoApp::Anagrams => "publisher_anagrams",
            DemoApp::SpamScore => "demo_spam_score",
            DemoApp::CallerName => "demo_caller_name",
            DemoApp::Sentiment => "demo_sentiment",
            DemoApp::Custom(_) => "demo_custom",
        }
    }

    /// The path of the app's endpoint under the publisher's base URL.
    pub fn path(&self) -> &'static str {
        match self {
            DemoApp::Anagrams => "/v1/anagrams",
            DemoApp::SpamScore => "/v1/spam-score",
            DemoApp::CallerName => "/v1/caller-name",
            DemoApp::Sentiment => "/v1/sentiment",
            DemoApp::Custom(_) => "/v1/custom",
        }
    }

    /// Runs the app on a verified request.
    pub fn respond(&self, request: &VerifiedRequest) -> Result<Value, AppError> {
        match self {
            DemoApp::Anagrams => anagrams::answer(&request.params, request.app_runs_today),
            DemoApp::SpamScore => spam_score::answer(&request.params),
            DemoApp::CallerName => caller_name::answer(&request.params),
            DemoApp::Sentiment => sentiment::answer(&request.params),
            DemoApp::Custom(answer) => Ok(answer(request)),
        }
    }
}

/// A request the app cannot answer (a missing or malformed parameter): HTTP 400, which the
/// gateway reports to the developer as 61005.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// A publisher-specific error code.
    pub code: u32,
    /// What is wrong.
    pub message: String,
}

/// The code of an [`AppError`] for a missing parameter.
pub const MISSING_PARAMETER: u32 = 40001;
/// The code of an [`AppError`] for a malformed parameter.
pub const INVALID_PARAMETER: u32 = 40002;

impl AppError {
    pub(crate) fn missing(name: &str) -> AppError {
        AppError {
            code: MISSING_PARAMETER,
            message: format!("the parameter '{name}' is required"),
        }
    }

    pub(crate) fn invalid(name: &str, why: &str) -> AppError {
        AppError {
            code: INVALID_PARAMETER,
            message: format!("the parameter '{name}' {why}"),
        }
    }

    /// The JSON body of the 400 answer, in the publishers' usual error shape.
    pub fn to_json(&self) -> Value {
        json!({"status": "failed", "message": self.message, "code": self.code})
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for AppError {}

/// A parameter as text, whatever carrier brought it: query and form values are strings, but a
/// JSON body keeps numbers and booleans as such.
pub(crate) fn text_param(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

pub(crate) fn required_param(params: &Map<String, Value>, name: &str) -> Result<String, AppError> {
    text_param(params, name).ok_or_else(|| AppError::missing(name))
}

/// The digits of an E.164 number (`+` and 8 to 15 digits), or why it is not one. Digits only
/// from 8 on, because shorter strings are short codes, which none of the apps handle.
pub(crate) fn e164_digits<'a>(params_name: &str, number: &'a str) -> Result<&'a str, AppError> {
    let digits = number
        .strip_prefix('+')
        .ok_or_else(|| AppError::invalid(params_name, "must be an E.164 number such as +14155550100"))?;
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(AppError::invalid(
            params_name,
            "must be an E.164 number such as +14155550100",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_params_accept_json_scalars() {
        let params = json!({"a": "x", "b": 3, "c": true, "d": null})
            .as_object()
            .cloned()
            .expect("object");
        assert_eq!(text_param(&params, "a").as_deref(), Some("x"));
        assert_eq!(text_param(&params, "b").as_deref(), Some("3"));
        assert_eq!(text_param(&params, "c").as_deref(), Some("true"));
        assert_eq!(text_param(&params, "d"), None);
        assert_eq!(text_param(&params, "e"), None);
    }

    #[test]
    fn e164_numbers_are_checked() {
        assert_eq!(e164_digits("n", "+18778894546"), Ok("18778894546"));
        assert!(e164_digits("n", "18778894546").is_err());
        assert!(e164_digits("n", "+1877-889").is_err());
        assert!(e164_digits("n", "+1234").is_err());
    }

    #[test]
    fn apps_have_distinct_names_and_paths() {
        let apps = demo_apps();
        for (i, a) in apps.iter().enumerate() {
            for b in &apps[i + 1..] {
                assert_ne!(a.unique_name(), b.unique_name());
                assert_ne!(a.path(), b.path());
            }
        }
    }
}
