//! Pricing: the seed's three billing models, and money as an exact integer.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::cleaning::JsonPathExpr;

/// An amount of US dollars in billionths (nano-dollars), so that prices such as $0.0001 per
/// lookup add up exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

const NANOS_PER_DOLLAR: i64 = 1_000_000_000;

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// From nano-dollars.
    pub fn from_nanos(nanos: i64) -> Money {
        Money(nanos)
    }

    /// In nano-dollars.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal amount with up to nine decimal places ("0.0001").
    pub fn parse(text: &str) -> Result<Money, String> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || text.ends_with('.') {
            return Err(format!("'{text}' is not a decimal amount such as \"0.0001\""));
        }
        if fraction.len() > 9 {
            return Err(format!("'{text}' has more than 9 decimal places"));
        }
        let whole: i64 = whole
            .parse()
            .ok()
            .filter(|w: &i64| *w <= 1_000_000)
            .ok_or_else(|| format!("'{text}' is larger than 1000000"))?;
        let mut nanos_fraction: i64 = 0;
        for (position, digit) in fraction.bytes().enumerate() {
            let place = 10_i64.pow(8 - position as u32);
            nanos_fraction += i64::from(digit - b'0') * place;
        }
        Ok(Money(whole * NANOS_PER_DOLLAR + nanos_fraction))
    }

    /// Multiplies by a whole number of units, saturating.
    pub fn times(self, units: i64) -> Money {
        Money(self.0.saturating_mul(units))
    }

    /// Adds, saturating.
    pub fn plus(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let whole = magnitude / NANOS_PER_DOLLAR as u64;
        let fraction = magnitude % NANOS_PER_DOLLAR as u64;
        let fraction = format!("{fraction:09}");
        let trimmed = fraction.trim_end_matches('0');
        let shown = if trimmed.len() < 2 {
            &fraction[..2]
        } else {
            trimmed
        };
        write!(f, "{sign}{whole}.{shown}")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// How a developer is charged for an Add-on.
#[derive(Debug, Clone, PartialEq)]
pub enum Pricing {
    /// A price for every successful result.
    PayPerUse {
        /// Price per result.
        price: Money,
    },
    /// A price per started minute of audio (recording Add-ons).
    PayPerMinute {
        /// Price per minute.
        price: Money,
    },
    /// A price per result, unless the response holds one of the listed JSON elements or came
    /// with one of the listed HTTP status codes.
    PayPerSuccess {
        /// Price per billable result.
        price: Money,
        /// Elements whose presence makes a result free.
        non_billable_elements: Vec<JsonPathExpr>,
        /// Status codes that make a result free.
        non_billable_statuses: Vec<u16>,
    },
}

impl Pricing {
    /// The model's name in manifests.
    pub fn model(&self) -> &'static str {
        match self {
            Pricing::PayPerUse { .. } => "pay-per-use",
            Pricing::PayPerMinute { .. } => "pay-per-minute",
            Pricing::PayPerSuccess { .. } => "pay-per-success",
        }
    }

    /// The Marketplace's `pricing_type` wording.
    pub fn pricing_type(&self) -> &'static str {
        match self {
            Pricing::PayPerUse { .. } => "per use",
            Pricing::PayPerMinute { .. } => "per minute",
            Pricing::PayPerSuccess { .. } => "per success",
        }
    }

    /// The unit price.
    pub fn price(&self) -> Money {
        match self {
            Pricing::PayPerUse { price }
            | Pricing::PayPerMinute { price }
            | Pricing::PayPerSuccess { price, .. } => *price,
        }
    }
}

/// Why a successful result is not billed, when it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NonBillableReason {
    /// The result failed (any error code).
    Failed,
    /// Pay-per-success: the response contained a listed element.
    ElementPresent(String),
    /// Pay-per-success: the publisher answered with a listed status.
    Status(u16),
}

impl NonBillableReason {
    /// A short text for records.
    pub fn describe(&self) -> String {
        match self {
            NonBillableReason::Failed => "failed".to_owned(),
            NonBillableReason::ElementPresent(path) => format!("element present: {path}"),
            NonBillableReason::Status(status) => format!("status {status}"),
        }
    }
}

impl Pricing {
    /// Decides whether a successful response is billable. `response` is the publisher's JSON
    /// as received (before cleaning, so that cleaning cannot hide a non-billable element).
    pub fn billability(&self, status: u16, response: &serde_json::Value) -> Result<(), NonBillableReason> {
        if let Pricing::PayPerSuccess {
            non_billable_elements,
            non_billable_statuses,
            ..
        } = self
        {
            if non_billable_statuses.contains(&status) {
                return Err(NonBillableReason::Status(status));
            }
            if let Some(path) = non_billable_elements.iter().find(|path| path.matches(response)) {
                return Err(NonBillableReason::ElementPresent(path.source().to_owned()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn money_parses_and_prints_exactly() {
        assert_eq!(Money::parse("0.0001").map(Money::nanos), Ok(100_000));
        assert_eq!(Money::parse("1").map(Money::nanos), Ok(1_000_000_000));
        assert_eq!(Money::parse("0.000000001").map(Money::nanos), Ok(1));
        assert!(Money::parse("0.0000000001").is_err());
        assert!(Money::parse("-1").is_err());
        assert!(Money::parse("1.").is_err());
        assert!(Money::parse("abc").is_err());
        assert_eq!(Money::from_nanos(100_000).to_string(), "0.0001");
        assert_eq!(Money::from_nanos(1_500_000_000).to_string(), "1.50");
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!(Money::from_nanos(100_000).times(3).to_string(), "0.0003");
    }

    #[test]
    fn pay_per_success_checks_elements_and_statuses() {
        let pricing = Pricing::PayPerSuccess {
            price: Money::from_nanos(1),
            non_billable_elements: vec![JsonPathExpr::parse("$.error").expect("parses")],
            non_billable_statuses: vec![203],
        };
        assert_eq!(pricing.billability(200, &json!({"score": 1})), Ok(()));
        assert_eq!(
            pricing.billability(200, &json!({"error": "not found"})),
            Err(NonBillableReason::ElementPresent("$.error".into()))
        );
        assert_eq!(
            pricing.billability(203, &json!({})),
            Err(NonBillableReason::Status(203))
        );
        let per_use = Pricing::PayPerUse {
            price: Money::from_nanos(1),
        };
        assert_eq!(per_use.billability(203, &json!({"error": 1})), Ok(()));
    }
}
