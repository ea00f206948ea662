//! `publisher_anagrams`: English words a phone number's trailing digits spell on a phone keypad
//! (2 = ABC, 3 = DEF, … 9 = WXYZ), such as `+18778TWILIO` for `+18778894546`.
//!
//! Parameters: `phone_number` (E.164, required); `phone_number_sha256` (optional: when sent, it
//! must be the lower-case hex SHA-256 of `phone_number`, which checks the gateway's
//! `{{SHA256:…}}` templating end to end).
//!
//! Answer: `{"anagrams": ["+18778TWILIO", …], "usage": {"lookups_today": n}}`. The `usage`
//! object is there for the manifest's response cleaning to remove.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{AppError, e164_digits, required_param, text_param};

/// The embedded word list.
const WORDS: &str = include_str!("words.txt");

/// The shortest and longest words looked for.
pub const WORD_LENGTHS: std::ops::RangeInclusive<usize> = 3..=7;

/// The most anagrams in one answer, so that a number with many matches stays well under the
/// phone-number Add-on response limit.
pub const MAX_ANAGRAMS: usize = 25;

/// The keypad digit for a letter.
pub fn keypad_digit(letter: char) -> Option<char> {
    let digit = match letter.to_ascii_lowercase() {
        'a'..='c' => '2',
        'd'..='f' => '3',
        'g'..='i' => '4',
        'j'..='l' => '5',
        'm'..='o' => '6',
        'p'..='s' => '7',
        't'..='v' => '8',
        'w'..='z' => '9',
        _ => return None,
    };
    Some(digit)
}

/// Words of the list by the digits that spell them; built once.
fn index() -> &'static HashMap<String, Vec<&'static str>> {
    static INDEX: OnceLock<HashMap<String, Vec<&'static str>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<String, Vec<&'static str>> = HashMap::new();
        let words = WORDS
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .filter(|word| WORD_LENGTHS.contains(&word.len()));
        for word in words {
            let Some(digits) = word.chars().map(keypad_digit).collect::<Option<String>>() else {
                continue;
            };
            let entry = index.entry(digits).or_default();
            if !entry.contains(&word) {
                entry.push(word);
            }
        }
        for words in index.values_mut() {
            words.sort_unstable();
        }
        index
    })
}

/// Whether the embedded list has this word (lower-case).
pub fn knows_word(word: &str) -> bool {
    word.chars()
        .map(keypad_digit)
        .collect::<Option<String>>()
        .and_then(|digits| index().get(&digits))
        .is_some_and(|words| words.contains(&word))
}

/// Every spelling of the number with an English word in place of its last 3 to 7 digits,
/// longest words first, then alphabetical; at most [`MAX_ANAGRAMS`].
pub fn anagrams(number: &str) -> Vec<String> {
    let Some(digits) = number.strip_prefix('+') else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for length in WORD_LENGTHS.rev() {
        // The country code stays digits: a word never starts at the first digit.
        if length >= digits.len() {
            continue;
        }
        let (head, tail) = digits.split_at(digits.len() - length);
        if let Some(words) = index().get(tail) {
            for word in words {
                found.push(format!("+{head}{}", word.to_ascii_uppercase()));
            }
        }
    }
    found.truncate(MAX_ANAGRAMS);
    found
}

/// The app's answer to its parameters.
pub fn answer(params: &Map<String, Value>, lookups_today: u64) -> Result<Value, AppError> {
    let number = required_param(params, "phone_number")?;
    e164_digits("phone_number", &number)?;
    if let Some(hash) = text_param(params, "phone_number_sha256")
        && !hash.eq_ignore_ascii_case(&hex::encode(Sha256::digest(number.as_bytes())))
    {
        return Err(AppError::invalid(
            "phone_number_sha256",
            "is not the SHA-256 of phone_number",
        ));
    }
    Ok(json!({
        "anagrams": anagrams(&number),
        "usage": {"lookups_today": lookups_today},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn the_list_is_large_and_has_twilio() {
        let words: usize = index().values().map(Vec::len).sum();
        assert!(words > 500, "only {words} words");
        assert!(knows_word("twilio"));
        assert!(!knows_word("qwzx"));
    }

    #[test]
    fn twilios_number_spells_twilio() {
        let found = anagrams("+18778894546");
        assert!(found.contains(&"+18778TWILIO".to_owned()), "{found:?}");
        let position = |a: &str| found.iter().position(|f| f == a);
        // Longer words come first.
        for shorter in found.iter().filter(|f| f.len() < "+18778TWILIO".len()) {
            assert!(position(shorter) > position("+18778TWILIO"));
        }
    }

    #[test]
    fn keypad_mapping_follows_the_phone() {
        let spelled: String = "twilio".chars().filter_map(keypad_digit).collect();
        assert_eq!(spelled, "894546");
        assert_eq!(keypad_digit('s'), Some('7'));
        assert_eq!(keypad_digit('z'), Some('9'));
        assert_eq!(keypad_digit('1'), None);
    }

    #[test]
    fn zeros_and_ones_spell_nothing() {
        assert!(anagrams("+14155550100").is_empty());
        assert!(anagrams("not a number").is_empty());
    }

    #[test]
    fn the_answer_carries_usage() {
        let answer = answer(&params(json!({"phone_number": "+18778894546"})), 7).expect("answers");
        assert_eq!(answer["usage"]["lookups_today"], json!(7));
        assert!(
            answer["anagrams"]
                .as_array()
                .expect("array")
                .contains(&json!("+18778TWILIO"))
        );
    }

    #[test]
    fn a_matching_hash_is_accepted_and_a_wrong_one_refused() {
        let number = "+18778894546";
        let hash = hex::encode(Sha256::digest(number.as_bytes()));
        assert!(
            answer(
                &params(json!({"phone_number": number, "phone_number_sha256": hash})),
                1
            )
            .is_ok()
        );
        let wrong = answer(
            &params(json!({"phone_number": number, "phone_number_sha256": "00"})),
            1,
        );
        assert_eq!(wrong.map_err(|e| e.code), Err(super::super::INVALID_PARAMETER));
    }

    #[test]
    fn missing_or_malformed_numbers_are_bad_requests() {
        assert_eq!(
            answer(&params(json!({})), 1).map_err(|e| e.code),
            Err(super::super::MISSING_PARAMETER)
        );
        assert!(answer(&params(json!({"phone_number": "8778894546"})), 1).is_err());
    }
}
