//! `demo_caller_name`: a made-up but deterministic caller name (CNAM) for a number.
//!
//! Parameters: `number` (E.164, required); `include_location` (`"true"`/`"false"`, or a JSON
//! boolean; optional, default false).
//!
//! Rules: a few known numbers have their real owner ([`KNOWN`]); North American toll-free
//! numbers (+1 800, 833, 844, 855, 866, 877, 888) are `BUSINESS`, named from the number's
//! digits; every other number is a `CONSUMER` with a first and last name chosen from the
//! digits. The location, when asked for, comes from the area code ([`AREA_CODES`]); it has
//! `null` city and state where the area code is not in the table.
//!
//! Answer: `{"caller_name": "...", "caller_type": "CONSUMER"|"BUSINESS", "location": {...}}`,
//! the `location` only when asked for.

use serde_json::{Map, Value, json};

use super::{AppError, e164_digits, required_param, text_param};

/// Numbers whose owner is known.
pub const KNOWN: &[(&str, &str)] = &[("+18778894546", "TWILIO INC"), ("+14158675309", "JENNY TUTONE")];

/// North American toll-free area codes.
pub const TOLL_FREE: &[&str] = &["800", "833", "844", "855", "866", "877", "888"];

/// Area codes with a city and state.
pub const AREA_CODES: &[(&str, &str, &str)] = &[
    ("202", "Washington", "DC"),
    ("206", "Seattle", "WA"),
    ("212", "New York", "NY"),
    ("213", "Los Angeles", "CA"),
    ("303", "Denver", "CO"),
    ("305", "Miami", "FL"),
    ("312", "Chicago", "IL"),
    ("415", "San Francisco", "CA"),
    ("512", "Austin", "TX"),
    ("617", "Boston", "MA"),
    ("646", "New York", "NY"),
    ("702", "Las Vegas", "NV"),
];

const FIRST_NAMES: &[&str] = &[
    "ALEX", "BLAIR", "CASEY", "DANA", "EMERSON", "FRANCIS", "GRAY", "HARPER", "IVY", "JORDAN",
];
const LAST_NAMES: &[&str] = &[
    "ADAMS", "BROOKS", "CHEN", "DIAZ", "EVANS", "FISCHER", "GARCIA", "HOLM", "IBRAHIM", "JONES",
];
const BUSINESS_WORDS: &[&str] = &[
    "ACME", "BLUE", "CEDAR", "DELTA", "ECHO", "FALCON", "GRANITE", "HARBOR", "IRON", "JUNIPER",
];
const BUSINESS_KINDS: &[&str] = &[
    "SUPPLY CO",
    "SERVICES",
    "HOLDINGS",
    "TRAVEL",
    "INSURANCE",
    "MEDICAL",
    "LOGISTICS",
    "BANK",
    "MOTORS",
    "SOLUTIONS",
];

/// Whether the caller is a person or a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerType {
    /// A person.
    Consumer,
    /// A company.
    Business,
}

impl CallerType {
    /// The name in the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            CallerType::Consumer => "CONSUMER",
            CallerType::Business => "BUSINESS",
        }
    }
}

/// The area code of a +1 number's digits (without the `+`).
fn area_code(digits: &str) -> Option<&str> {
    digits.strip_prefix('1').and_then(|rest| rest.get(..3))
}

/// Picks from a list by one digit of the number, so that the choice is stable.
fn pick<'a>(list: &[&'a str], digit: Option<u8>) -> &'a str {
    let index = usize::from(digit.map_or(0, |d| d.saturating_sub(b'0')));
    list[index % list.len()]
}

/// The caller name and type for the digits of an E.164 number (without the `+`).
pub fn lookup(digits: &str) -> (String, CallerType) {
    let bytes = digits.as_bytes();
    let from_end = |n: usize| bytes.len().checked_sub(n).map(|i| bytes[i]);
    let toll_free = area_code(digits).is_some_and(|code| TOLL_FREE.contains(&code));
    if let Some((_, name)) = KNOWN.iter().find(|(number, _)| number[1..] == *digits) {
        let kind = if toll_free {
            CallerType::Business
        } else {
            CallerType::Consumer
        };
        return ((*name).to_owned(), kind);
    }
    if toll_free {
        let name = format!(
            "{} {}",
            pick(BUSINESS_WORDS, from_end(1)),
            pick(BUSINESS_KINDS, from_end(2))
        );
        return (name, CallerType::Business);
    }
    let name = format!(
        "{} {}",
        pick(FIRST_NAMES, from_end(1)),
        pick(LAST_NAMES, from_end(2))
    );
    (name, CallerType::Consumer)
}

/// The location of a number's digits (without the `+`).
pub fn location(digits: &str) -> Value {
    let Some(code) = area_code(digits) else {
        let country_code: String = digits.chars().take(3).collect();
        return json!({"city": null, "state": null, "country": null, "country_code": country_code});
    };
    if TOLL_FREE.contains(&code) {
        return json!({"city": null, "state": null, "country": "US", "area_code": code, "toll_free": true});
    }
    match AREA_CODES.iter().find(|(known, _, _)| *known == code) {
        Some((_, city, state)) => {
            json!({"city": city, "state": state, "country": "US", "area_code": code, "toll_free": false})
        }
        None => json!({"city": null, "state": null, "country": "US", "area_code": code, "toll_free": false}),
    }
}

/// The app's answer to its parameters.
pub fn answer(params: &Map<String, Value>) -> Result<Value, AppError> {
    let number = required_param(params, "number")?;
    let digits = e164_digits("number", &number)?;
    let include_location = match text_param(params, "include_location").as_deref() {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(AppError::invalid("include_location", "must be true or false")),
    };
    let (name, kind) = lookup(digits);
    let mut answer = json!({"caller_name": name, "caller_type": kind.as_str()});
    if include_location {
        answer["location"] = location(digits);
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_for(params: Value) -> Result<Value, AppError> {
        answer(&params.as_object().cloned().expect("object"))
    }

    #[test]
    fn toll_free_numbers_are_businesses() {
        let answer = answer_for(json!({"number": "+18005550100"})).expect("answers");
        assert_eq!(answer["caller_type"], json!("BUSINESS"));
        assert!(answer.get("location").is_none());
        let twilio = answer_for(json!({"number": "+18778894546"})).expect("answers");
        assert_eq!(twilio["caller_name"], json!("TWILIO INC"));
        assert_eq!(twilio["caller_type"], json!("BUSINESS"));
    }

    #[test]
    fn other_numbers_are_consumers_with_stable_names() {
        let first = answer_for(json!({"number": "+14155550123"})).expect("answers");
        assert_eq!(first["caller_type"], json!("CONSUMER"));
        assert_eq!(first["caller_name"], json!("DANA CHEN"));
        assert_eq!(
            answer_for(json!({"number": "+14155550123"})).expect("answers"),
            first
        );
    }

    #[test]
    fn location_only_when_asked() {
        let with =
            answer_for(json!({"number": "+14155550123", "include_location": "true"})).expect("answers");
        assert_eq!(with["location"]["city"], json!("San Francisco"));
        assert_eq!(with["location"]["state"], json!("CA"));
        let json_bool =
            answer_for(json!({"number": "+12125550100", "include_location": true})).expect("answers");
        assert_eq!(json_bool["location"]["state"], json!("NY"));
        let without =
            answer_for(json!({"number": "+14155550123", "include_location": "false"})).expect("answers");
        assert!(without.get("location").is_none());
        let toll_free =
            answer_for(json!({"number": "+18005550100", "include_location": "true"})).expect("answers");
        assert_eq!(toll_free["location"]["toll_free"], json!(true));
    }

    #[test]
    fn bad_parameters_are_bad_requests() {
        assert!(answer_for(json!({})).is_err());
        assert!(answer_for(json!({"number": "+14155550123", "include_location": "maybe"})).is_err());
        assert!(answer_for(json!({"number": "415"})).is_err());
    }
}
