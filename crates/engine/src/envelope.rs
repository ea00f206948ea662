//! The `add_ons` envelope Twilio returns: a status for the whole, and one result per Add-on
//! (in the order requested), each with its request SID, status, message, code and result.

use addons_domain::sid::RequestSid;
use serde_json::{Map, Value, json};

/// What one Add-on produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The publisher's answer, validated and cleaned.
    Success(Value),
    /// A failure: a Twilio code (or the publisher's own, for an error it reported), a message.
    Failure {
        /// The code.
        code: Option<u32>,
        /// The message.
        message: String,
    },
}

/// One Add-on's result.
#[derive(Debug, Clone, PartialEq)]
pub struct AddOnResult {
    /// The name it was invoked by.
    pub unique_name: String,
    /// Its request SID (none when nothing was invoked, such as an unknown name).
    pub request_sid: Option<RequestSid>,
    /// What happened.
    pub outcome: Outcome,
}

impl AddOnResult {
    /// Whether it succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Success(_))
    }

    /// The result as it appears under `results`.
    pub fn to_json(&self) -> Value {
        let (status, message, code, result) = match &self.outcome {
            Outcome::Success(result) => ("successful", Value::Null, Value::Null, result.clone()),
            Outcome::Failure { code, message } => (
                "failed",
                Value::String(message.clone()),
                code.map_or(Value::Null, Value::from),
                Value::Null,
            ),
        };
        json!({
            "request_sid": self.request_sid,
            "status": status,
            "message": message,
            "code": code,
            "result": result,
        })
    }
}

/// The envelope. Its status is `successful` unless every Add-on failed; the per-result
/// statuses say which did.
pub fn envelope(results: &[AddOnResult]) -> Value {
    let mut map = Map::with_capacity(results.len());
    for result in results {
        map.insert(result.unique_name.clone(), result.to_json());
    }
    let all_failed = !results.is_empty() && results.iter().all(|r| !r.succeeded());
    if all_failed {
        json!({
            "status": "failed",
            "message": "Every requested Add-on failed; each result says why",
            "code": Value::Null,
            "results": map,
        })
    } else {
        json!({"status": "successful", "message": Value::Null, "code": Value::Null, "results": map})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_results_keep_their_order_and_statuses() {
        let sid = RequestSid::generate();
        let results = vec![
            AddOnResult {
                unique_name: "b_addon".into(),
                request_sid: Some(sid.clone()),
                outcome: Outcome::Success(json!({"score": 1})),
            },
            AddOnResult {
                unique_name: "a_addon".into(),
                request_sid: None,
                outcome: Outcome::Failure {
                    code: Some(61001),
                    message: "timed out".into(),
                },
            },
        ];
        let value = envelope(&results);
        assert_eq!(value["status"], json!("successful"));
        assert_eq!(value["results"]["b_addon"]["request_sid"], json!(sid.as_str()));
        assert_eq!(value["results"]["b_addon"]["result"], json!({"score": 1}));
        assert_eq!(value["results"]["a_addon"]["code"], json!(61001));
        assert_eq!(value["results"]["a_addon"]["result"], Value::Null);
        let names: Vec<&String> = value["results"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(names, vec!["b_addon", "a_addon"]);
    }

    #[test]
    fn all_failed_is_a_failed_envelope() {
        let failed = AddOnResult {
            unique_name: "x".into(),
            request_sid: None,
            outcome: Outcome::Failure {
                code: None,
                message: "no".into(),
            },
        };
        assert_eq!(envelope(&[failed])["status"], json!("failed"));
        assert_eq!(envelope(&[])["status"], json!("successful"));
    }
}
