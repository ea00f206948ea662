//! Phone numbers, parsed with the libphonenumber metadata: E.164 form, national format,
//! country, and the line type that the simulated carrier information is derived from.

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type};

/// A valid phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    /// `+<country code><number>`.
    pub e164: String,
    /// The number as written inside its country.
    pub national_format: String,
    /// ISO 3166-1 alpha-2 country, when the number belongs to one region.
    pub country_code: Option<String>,
    /// What the numbering plan says the number is.
    pub line_type: LineType,
}

/// Line types, in the Lookup API's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineType {
    /// Mobile.
    Mobile,
    /// Landline.
    Landline,
    /// Voice over IP.
    Voip,
    /// Toll-free.
    TollFree,
    /// Anything else the plan knows (premium rate, shared cost, pager…), or unknown.
    Other,
}

impl LineType {
    /// The name Lookup uses (`carrier.type`). Numbers whose plan cannot tell fixed from mobile
    /// (the USA's) count as mobile.
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Mobile => "mobile",
            LineType::Landline => "landline",
            LineType::Voip => "voip",
            LineType::TollFree => "toll-free",
            LineType::Other => "other",
        }
    }
}

/// Why a number is not a valid phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// The text does not parse as a number.
    #[error("'{0}' is not a phone number")]
    Unparsable(String),
    /// The country code is not an ISO 3166-1 alpha-2 code known to the numbering plan.
    #[error("'{0}' is not a known country code")]
    UnknownCountry(String),
    /// It parses, but no numbering plan has it.
    #[error("'{0}' is not a valid phone number")]
    Invalid(String),
}

/// Loads the numbering-plan metadata now (about half a second in a debug build), so that the
/// first request does not pay for it.
pub fn warm_up() {
    let _ = parse("+18778894546", None);
}

/// Parses a number given in E.164, or in national format together with a country
/// (`default_country`, ISO alpha-2; Lookup's `CountryCode`, US when not given).
pub fn parse(text: &str, default_country: Option<&str>) -> Result<PhoneNumber, PhoneError> {
    let trimmed = text.trim();
    let country = match default_country {
        Some(code) => Some(
            code.to_ascii_uppercase()
                .parse::<phonenumber::country::Id>()
                .map_err(|_| PhoneError::UnknownCountry(code.to_owned()))?,
        ),
        None if trimmed.starts_with('+') => None,
        None => Some(phonenumber::country::Id::US),
    };
    let number = phonenumber::parse(country, trimmed).map_err(|_| PhoneError::Unparsable(text.to_owned()))?;
    if !number.is_valid() {
        return Err(PhoneError::Invalid(text.to_owned()));
    }
    let line_type = match number.number_type(&DATABASE) {
        Type::Mobile | Type::FixedLineOrMobile => LineType::Mobile,
        Type::FixedLine => LineType::Landline,
        Type::Voip => LineType::Voip,
        Type::TollFree => LineType::TollFree,
        _ => LineType::Other,
    };
    Ok(PhoneNumber {
        e164: number.format().mode(Mode::E164).to_string(),
        national_format: number.format().mode(Mode::National).to_string(),
        country_code: number.country().id().map(|id| id.as_ref().to_owned()),
        line_type,
    })
}

/// A bounded memo of [`parse`]: parsing against the numbering plan costs tens of
/// microseconds, and the same numbers are looked up again and again. Two generations of at
/// most half the capacity each: entries are added to the current one; when it fills, it
/// becomes the previous one and the old previous one is dropped; a hit in the previous
/// generation moves the entry back to the current one. Memory stays bounded and what is in
/// use stays cached, without per-entry bookkeeping.
#[derive(Debug)]
pub struct PhoneBook {
    generation_size: usize,
    generations: std::sync::Mutex<Generations>,
}

type Parsed = Result<PhoneNumber, PhoneError>;

#[derive(Debug, Default)]
struct Generations {
    current: std::collections::HashMap<(String, Option<String>), Parsed>,
    previous: std::collections::HashMap<(String, Option<String>), Parsed>,
}

impl PhoneBook {
    /// A memo holding at most `capacity` numbers.
    pub fn new(capacity: usize) -> PhoneBook {
        PhoneBook {
            generation_size: (capacity / 2).max(1),
            generations: std::sync::Mutex::default(),
        }
    }

    /// [`parse`], remembered.
    pub fn parse(&self, text: &str, default_country: Option<&str>) -> Parsed {
        let key = (text.to_owned(), default_country.map(str::to_owned));
        {
            let mut generations = self.lock();
            if let Some(hit) = generations.current.get(&key) {
                return hit.clone();
            }
            if let Some(hit) = generations.previous.remove(&key) {
                self.insert(&mut generations, key, hit.clone());
                return hit;
            }
        }
        let parsed = parse(text, default_country);
        self.insert(&mut self.lock(), key, parsed.clone());
        parsed
    }

    /// How many numbers are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self.lock();
        generations.current.len() + generations.previous.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps are consistent after every statement, so a panic elsewhere while the lock
        // was held leaves nothing half-done.
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, generations: &mut Generations, key: (String, Option<String>), parsed: Parsed) {
        if generations.current.len() >= self.generation_size {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(key, parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phone_book_remembers_within_its_capacity() {
        let book = PhoneBook::new(4);
        assert_eq!(book.parse("+18778894546", None), parse("+18778894546", None));
        assert_eq!(book.parse("+18778894546", None), parse("+18778894546", None));
        assert_eq!(book.len(), 1);
        assert_eq!(book.parse("hello", None), parse("hello", None));
        assert_eq!(
            book.parse("5108675310", Some("ZZ")),
            parse("5108675310", Some("ZZ"))
        );
        // Same text, another country: another entry.
        assert_eq!(
            book.parse("2077651182", Some("GB")),
            parse("2077651182", Some("GB"))
        );
        assert_eq!(book.parse("2077651182", None), parse("2077651182", None));
        assert!(book.len() <= 4);
        for n in 0..100 {
            let text = format!("+1510867{n:04}");
            assert_eq!(book.parse(&text, None), parse(&text, None));
            assert!(book.len() <= 4, "holds {} numbers", book.len());
        }
        // A number in use survives the turnover of others.
        for n in 0..20 {
            book.parse("+18778894546", None).expect("valid");
            book.parse(&format!("+1415555{n:04}"), None).expect("valid");
        }
        let generations = book.lock();
        assert!(
            generations
                .current
                .contains_key(&("+18778894546".to_owned(), None))
                || generations
                    .previous
                    .contains_key(&("+18778894546".to_owned(), None))
        );
    }

    #[test]
    fn parses_the_seeds_number() {
        let number = parse("+18778894546", None).expect("valid");
        assert_eq!(number.e164, "+18778894546");
        assert_eq!(number.national_format, "(877) 889-4546");
        assert_eq!(number.country_code.as_deref(), Some("US"));
        assert_eq!(number.line_type, LineType::TollFree);
    }

    #[test]
    fn national_numbers_use_the_country_code() {
        assert_eq!(parse("(510) 867-5310", None).expect("valid").e164, "+15108675310");
        let uk = parse("020 7765 1182", Some("gb")).expect("valid");
        assert_eq!(uk.e164, "+442077651182");
        assert_eq!(uk.country_code.as_deref(), Some("GB"));
    }

    #[test]
    fn rejects_invalid_numbers() {
        assert!(matches!(
            parse("+1877", None),
            Err(PhoneError::Invalid(_)) | Err(PhoneError::Unparsable(_))
        ));
        assert!(parse("hello", None).is_err());
        assert_eq!(
            parse("5108675310", Some("ZZ")),
            Err(PhoneError::UnknownCountry("ZZ".into()))
        );
    }
}
