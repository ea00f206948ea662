//! The `add_ons` envelope Twilio returns: a status for the whole, and one result per Add-on
//! (in the order requested), each with its request SID, status, message, code and result.

use addons_domain::sid::RequestSid;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

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
}

/// The result as it appears under `results`.
impl Serialize for AddOnResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("request_sid", &self.request_sid)?;
        match &self.outcome {
            Outcome::Success(result) => {
                map.serialize_entry("status", "successful")?;
                map.serialize_entry("message", &())?;
                map.serialize_entry("code", &())?;
                map.serialize_entry("result", result)?;
            }
            Outcome::Failure { code, message } => {
                map.serialize_entry("status", "failed")?;
                map.serialize_entry("message", message)?;
                map.serialize_entry("code", code)?;
                map.serialize_entry("result", &())?;
            }
        }
        map.end()
    }
}

/// The envelope over a Lookup's or an event's results, serialized as it is sent: its status
/// is `successful` unless every Add-on failed; the per-result statuses say which did. It
/// borrows the results, so that a response is written without building a JSON tree first.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a>(pub &'a [AddOnResult]);

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Results<'a>(&'a [AddOnResult]);
        impl Serialize for Results<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for result in self.0 {
                    map.serialize_entry(&result.unique_name, result)?;
                }
                map.end()
            }
        }

        let results = self.0;
        let all_failed = !results.is_empty() && results.iter().all(|r| !r.succeeded());
        let mut map = serializer.serialize_map(Some(4))?;
        if all_failed {
            map.serialize_entry("status", "failed")?;
            map.serialize_entry("message", "Every requested Add-on failed; each result says why")?;
        } else {
            map.serialize_entry("status", "successful")?;
            map.serialize_entry("message", &())?;
        }
        map.serialize_entry("code", &())?;
        map.serialize_entry("results", &Results(results))?;
        map.end()
    }
}

/// The envelope as a JSON value (see [`Envelope`]).
pub fn envelope(results: &[AddOnResult]) -> Value {
    serde_json::to_value(Envelope(results)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
