//! Twilio resource identifiers: a two-letter prefix and 32 lowercase hex digits.
//!
//! Each resource kind has its own type so that an Add-on SID can never be passed where an
//! installed Add-on SID is expected. A SID is parsed once, at the edge, and is valid from then on.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    /// The string does not have the `XX` + 32 hex digits shape.
    #[error("expected a {prefix} SID: '{prefix}' followed by 32 hexadecimal digits")]
    Malformed {
        /// The prefix that was expected.
        prefix: &'static str,
    },
}

/// The length of every SID: a two-letter prefix and 32 hex digits.
const SID_LEN: usize = 34;

/// `value` with its hex digits lower-cased, if it is a SID with `prefix`: checked and copied
/// in one pass.
fn normalize(value: &str, prefix: &str) -> Option<String> {
    let digits = value.strip_prefix(prefix)?;
    if value.len() != SID_LEN {
        return None;
    }
    let mut normalized = String::with_capacity(SID_LEN);
    normalized.push_str(prefix);
    for byte in digits.bytes() {
        let lower = byte.to_ascii_lowercase();
        if !(lower.is_ascii_digit() || (b'a'..=b'f').contains(&lower)) {
            return None;
        }
        normalized.push(char::from(lower));
    }
    Some(normalized)
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefix of this kind of SID.
            pub const PREFIX: &'static str = $prefix;

            /// Parses a SID, accepting upper-case hex digits as Twilio does and storing them lower-case.
            pub fn parse(value: &str) -> Result<Self, SidError> {
                normalize(value, $prefix).map(Self).ok_or(SidError::Malformed { prefix: $prefix })
            }

            /// A new SID of this kind: a UUID v7 (a millisecond timestamp, then 74 random bits),
            /// so that new rows land at the end of the indexes that hold them rather than on
            /// a random page.
            pub fn generate() -> Self {
                let mut digits = [0u8; uuid::fmt::Simple::LENGTH];
                let mut sid = String::with_capacity(SID_LEN);
                sid.push_str($prefix);
                sid.push_str(uuid::Uuid::now_v7().simple().encode_lower(&mut digits));
                Self(sid)
            }

            /// The SID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = SidError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }
    };
}

sid_type!(
    /// An account (`AC…`): a publisher's or a developer's.
    AccountSid,
    "AC"
);
sid_type!(
    /// An Add-on as listed in the Marketplace (`XB…`, Twilio's AvailableAddOn).
    AddOnSid,
    "XB"
);
sid_type!(
    /// One immutable published version of an Add-on (`XC…`).
    VersionSid,
    "XC"
);
sid_type!(
    /// A developer account's installation of an Add-on (`XD…`), shared by all of that account's
    /// configurations of the same Add-on.
    InstallSid,
    "XD"
);
sid_type!(
    /// An installed Add-on with its configuration (`XE…`, Twilio's InstalledAddOn).
    InstalledAddOnSid,
    "XE"
);
sid_type!(
    /// An Add-on extension: one integration point of an Add-on (`XF…`).
    ExtensionSid,
    "XF"
);
sid_type!(
    /// One Add-on request (`XR…`), the same on every retry of it.
    RequestSid,
    "XR"
);
sid_type!(
    /// One payload of an Add-on result (`XH…`).
    PayloadSid,
    "XH"
);
sid_type!(
    /// A recording (`RE…`).
    RecordingSid,
    "RE"
);
sid_type!(
    /// A phone number owned by a developer account (`PN…`).
    PhoneNumberSid,
    "PN"
);
sid_type!(
    /// A message (`SM…`).
    MessageSid,
    "SM"
);
sid_type!(
    /// A call (`CA…`).
    CallSid,
    "CA"
);
sid_type!(
    /// An alert in the developer's error log (`NO…`, as Twilio's Monitor API).
    AlertSid,
    "NO"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sids_have_twilio_shape() {
        let sid = AccountSid::generate();
        assert_eq!(sid.as_str().len(), 34);
        assert!(sid.as_str().starts_with("AC"));
        assert_eq!(AccountSid::parse(sid.as_str()), Ok(sid));
    }

    #[test]
    fn parse_rejects_wrong_prefix_length_and_digits() {
        assert!(AddOnSid::parse("XC00000000000000000000000000000000").is_err());
        assert!(AddOnSid::parse("XB0000").is_err());
        assert!(AddOnSid::parse("XB0000000000000000000000000000000g").is_err());
        assert!(AddOnSid::parse("XBé000000000000000000000000000000").is_err());
    }

    #[test]
    fn parse_lowercases_hex_digits() {
        let sid = AddOnSid::parse("XBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("valid");
        assert_eq!(sid.as_str(), "XBaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    }
}
