//! `demo_spam_score`: whether a phone number is likely spam, deterministically.
//!
//! Parameter: `phone` (E.164). The rule, first match wins:
//!
//! 1. a number on the built-in list of reported numbers ([`REPORTED`]) scores 1
//!    (`reported_spam`);
//! 2. a +1 900 number (premium rate) scores 1 (`premium_rate`);
//! 3. a number whose last four digits are one digit repeated (`…0000`, `…7777`) scores 1
//!    (`repeated_digits`), as dialers that walk number ranges use them;
//! 4. anything else scores 0, with no reasons.
//!
//! Answer: `{"status": "success", "message": null, "score": 0|1, "reasons": [...]}`. A `phone`
//! that is not an E.164 number answers 200 with `"status": "failed"` and an `error` element,
//! which the manifest's `non_billable_elements` makes free.

use serde_json::{Map, Value, json};

use super::{AppError, e164_digits, required_param};

/// Numbers reported as spam (all in ranges reserved for fiction).
pub const REPORTED: &[&str] = &[
    "+12025550143",
    "+13125550178",
    "+14155550132",
    "+16465550199",
    "+18005550123",
];

/// A spam verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// 1 for likely spam, 0 otherwise.
    pub score: u8,
    /// Why (empty when the score is 0).
    pub reasons: Vec<&'static str>,
}

/// The verdict for the digits of an E.164 number (without the `+`).
pub fn score(digits: &str) -> Verdict {
    let mut reasons = Vec::new();
    if REPORTED.iter().any(|reported| reported[1..] == *digits) {
        reasons.push("reported_spam");
    }
    if digits.starts_with("1900") {
        reasons.push("premium_rate");
    }
    let tail = &digits.as_bytes()[digits.len().saturating_sub(4)..];
    if tail.len() == 4 && tail.iter().all(|digit| *digit == tail[0]) {
        reasons.push("repeated_digits");
    }
    Verdict {
        score: u8::from(!reasons.is_empty()),
        reasons,
    }
}

/// The app's answer to its parameters.
pub fn answer(params: &Map<String, Value>) -> Result<Value, AppError> {
    let phone = required_param(params, "phone")?;
    match e164_digits("phone", &phone) {
        Ok(digits) => {
            let verdict = score(digits);
            Ok(json!({
                "status": "success",
                "message": null,
                "score": verdict.score,
                "reasons": verdict.reasons,
            }))
        }
        Err(error) => Ok(json!({
            "status": "failed",
            "message": error.message,
            "score": null,
            "reasons": [],
            "error": "invalid_number",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_for(phone: &str) -> Value {
        let params = json!({"phone": phone}).as_object().cloned().expect("object");
        answer(&params).expect("answers")
    }

    #[test]
    fn reported_numbers_score_one() {
        let answer = answer_for("+14155550132");
        assert_eq!(answer["score"], json!(1));
        assert_eq!(answer["reasons"], json!(["reported_spam"]));
        assert_eq!(answer["status"], json!("success"));
        assert_eq!(answer["message"], Value::Null);
    }

    #[test]
    fn premium_rate_numbers_score_one() {
        let answer = answer_for("+19005550100");
        assert_eq!(answer["score"], json!(1));
        assert_eq!(answer["reasons"], json!(["premium_rate"]));
    }

    #[test]
    fn repeated_digits_score_one() {
        assert_eq!(score("14155557777").reasons, vec!["repeated_digits"]);
        assert_eq!(
            score("19005550000").reasons,
            vec!["premium_rate", "repeated_digits"]
        );
    }

    #[test]
    fn ordinary_numbers_score_zero() {
        let answer = answer_for("+18778894546");
        assert_eq!(answer["score"], json!(0));
        assert_eq!(answer["reasons"], json!([]));
        assert_eq!(answer_for("+18778894546"), answer, "deterministic");
    }

    #[test]
    fn malformed_numbers_carry_a_non_billable_error() {
        let answer = answer_for("4155550132");
        assert_eq!(answer["status"], json!("failed"));
        assert_eq!(answer["error"], json!("invalid_number"));
    }

    #[test]
    fn a_missing_phone_is_a_bad_request() {
        assert!(answer(&Map::new()).is_err());
    }
}
