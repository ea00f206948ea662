//! Template fields: the values Twilio can put into a publisher's request.
//!
//! The seed lists common fields (`request_sid`, `unix_timestamp`, custom configuration fields,
//! vendor runtime fields, `SHA256:` of any field) and type-specific ones (`primary_address`,
//! `secondary_address`, `body`, and the recording fields). Which of them a given invocation can
//! supply depends on the Add-on's type and on the integration point invoking it.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::kind::{AddOnKind, IntegrationPoint};

/// A field Twilio fills in itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinField {
    /// `{{request_sid}}`: the `XR…` SID of this Add-on request, the same on every retry.
    RequestSid,
    /// `{{unix_timestamp}}`: seconds since the Unix epoch at invocation.
    UnixTimestamp,
    /// `{{primary_address}}`: the number being dipped (Lookup) or the sender (SMS, voice), E.164.
    PrimaryAddress,
    /// `{{secondary_address}}`: the number called or texted (SMS, voice), E.164.
    SecondaryAddress,
    /// `{{body}}`: the UTF-8 body of an incoming SMS (Message Analysis only).
    Body,
    /// `{{audio_data}}`: the recording's bytes (only as the body or a multipart file part).
    AudioData,
    /// `{{callback_url}}`: one-time URL where the publisher posts the analysis.
    CallbackUrl,
    /// `{{channels}}`: number of audio channels.
    Channels,
    /// `{{duration}}`: duration of the audio in milliseconds.
    Duration,
    /// `{{format}}`: the audio MIME type (`audio/x-wav` by default).
    Format,
    /// `{{media_sid}}`: the recording SID.
    MediaSid,
    /// `{{size}}`: size of the audio in bytes.
    Size,
}

impl BuiltinField {
    /// Every built-in field.
    pub const ALL: [BuiltinField; 12] = [
        BuiltinField::RequestSid,
        BuiltinField::UnixTimestamp,
        BuiltinField::PrimaryAddress,
        BuiltinField::SecondaryAddress,
        BuiltinField::Body,
        BuiltinField::AudioData,
        BuiltinField::CallbackUrl,
        BuiltinField::Channels,
        BuiltinField::Duration,
        BuiltinField::Format,
        BuiltinField::MediaSid,
        BuiltinField::Size,
    ];

    /// The name used between the braces of a template.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinField::RequestSid => "request_sid",
            BuiltinField::UnixTimestamp => "unix_timestamp",
            BuiltinField::PrimaryAddress => "primary_address",
            BuiltinField::SecondaryAddress => "secondary_address",
            BuiltinField::Body => "body",
            BuiltinField::AudioData => "audio_data",
            BuiltinField::CallbackUrl => "callback_url",
            BuiltinField::Channels => "channels",
            BuiltinField::Duration => "duration",
            BuiltinField::Format => "format",
            BuiltinField::MediaSid => "media_sid",
            BuiltinField::Size => "size",
        }
    }

    /// The built-in field with this name, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    /// Whether an Add-on of `kind`, invoked at `point`, can be given this field (the seed's
    /// "Provided by Integration Points" columns).
    pub fn is_supplied(self, kind: AddOnKind, point: IntegrationPoint) -> bool {
        use BuiltinField::*;
        use IntegrationPoint::*;
        match self {
            RequestSid | UnixTimestamp => true,
            PrimaryAddress => matches!(
                (kind, point),
                (AddOnKind::PhoneNumber, Lookups | IncomingSms | VoiceIncoming)
                    | (AddOnKind::MessageAnalysis, IncomingSms)
            ),
            SecondaryAddress => matches!(
                (kind, point),
                (AddOnKind::PhoneNumber, IncomingSms | VoiceIncoming)
                    | (AddOnKind::MessageAnalysis, IncomingSms)
            ),
            Body => kind == AddOnKind::MessageAnalysis && point == IncomingSms,
            AudioData | CallbackUrl | Channels | Duration | Format | MediaSid | Size => {
                kind == AddOnKind::RecordingAnalysis && point == Recordings
            }
        }
    }
}

/// Where a template's field comes from, resolved once at registration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// Filled in by the gateway.
    Builtin(BuiltinField),
    /// A custom configuration field, set by the developer when installing.
    Config(Box<str>),
    /// A vendor runtime field, passed by the developer on the Lookup request
    /// (`AddOns.<unique_name>.<field>=value`).
    Runtime(Box<str>),
}

impl FieldRef {
    /// The field's name as written in templates.
    pub fn name(&self) -> &str {
        match self {
            FieldRef::Builtin(field) => field.name(),
            FieldRef::Config(name) | FieldRef::Runtime(name) => name,
        }
    }
}

/// The recording-specific values of an invocation.
#[derive(Debug, Clone)]
pub struct AudioFields<'a> {
    /// The audio bytes.
    pub data: &'a [u8],
    /// Where the publisher posts its result.
    pub callback_url: &'a str,
    /// Number of channels.
    pub channels: u32,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// MIME type.
    pub format: &'a str,
    /// The recording SID.
    pub media_sid: &'a str,
}

/// Everything an invocation can fill template fields from.
#[derive(Debug, Clone)]
pub struct FieldValues<'a> {
    /// `{{request_sid}}`.
    pub request_sid: &'a str,
    /// `{{unix_timestamp}}`.
    pub unix_timestamp: i64,
    /// `{{primary_address}}`, where the integration point supplies it.
    pub primary_address: Option<&'a str>,
    /// `{{secondary_address}}`, where the integration point supplies it.
    pub secondary_address: Option<&'a str>,
    /// `{{body}}`, for Message Analysis on incoming SMS.
    pub body: Option<&'a str>,
    /// The recording fields, for Recording Analysis.
    pub audio: Option<AudioFields<'a>>,
    /// The installed Add-on's configuration (a JSON object).
    pub configuration: &'a Map<String, Value>,
    /// The Lookup request's runtime fields for this Add-on.
    pub runtime: &'a HashMap<String, String>,
}

/// A field's value, before it is turned into request text.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// Text.
    Text(std::borrow::Cow<'a, str>),
    /// A JSON scalar from the configuration (number, boolean or string).
    Json(&'a Value),
    /// An integer.
    Integer(i64),
    /// Raw bytes (the audio).
    Bytes(&'a [u8]),
}

impl FieldValue<'_> {
    /// The value as text, as it is sent in a query string, form or header. Bytes have no text
    /// form (they are only sent whole, or hashed).
    pub fn to_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            FieldValue::Text(text) => Some(Cow::Borrowed(text.as_ref())),
            FieldValue::Json(Value::String(text)) => Some(Cow::Borrowed(text.as_str())),
            FieldValue::Json(value) => Some(Cow::Owned(value.to_string())),
            FieldValue::Integer(number) => Some(Cow::Owned(number.to_string())),
            FieldValue::Bytes(_) => None,
        }
    }

    /// The value as JSON, keeping the configuration's types.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            FieldValue::Text(text) => Some(Value::String(text.to_string())),
            FieldValue::Json(value) => Some((*value).clone()),
            FieldValue::Integer(number) => Some(Value::from(*number)),
            FieldValue::Bytes(_) => None,
        }
    }

    /// The bytes a `SHA256:` expression hashes.
    pub fn hash_input(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match self {
            FieldValue::Bytes(bytes) => Cow::Borrowed(bytes),
            other => match other.to_text() {
                Some(Cow::Borrowed(text)) => Cow::Borrowed(text.as_bytes()),
                Some(Cow::Owned(text)) => Cow::Owned(text.into_bytes()),
                None => Cow::Borrowed(&[]),
            },
        }
    }
}

impl<'a> FieldValues<'a> {
    /// The value of a field, or `None` when this invocation cannot supply it.
    pub fn get(&self, field: &FieldRef) -> Option<FieldValue<'a>> {
        use std::borrow::Cow;
        match field {
            FieldRef::Builtin(builtin) => match builtin {
                BuiltinField::RequestSid => Some(FieldValue::Text(Cow::Borrowed(self.request_sid))),
                BuiltinField::UnixTimestamp => Some(FieldValue::Integer(self.unix_timestamp)),
                BuiltinField::PrimaryAddress => {
                    self.primary_address.map(|v| FieldValue::Text(Cow::Borrowed(v)))
                }
                BuiltinField::SecondaryAddress => {
                    self.secondary_address.map(|v| FieldValue::Text(Cow::Borrowed(v)))
                }
                BuiltinField::Body => self.body.map(|v| FieldValue::Text(Cow::Borrowed(v))),
                BuiltinField::AudioData => self.audio.as_ref().map(|a| FieldValue::Bytes(a.data)),
                BuiltinField::CallbackUrl => self
                    .audio
                    .as_ref()
                    .map(|a| FieldValue::Text(Cow::Borrowed(a.callback_url))),
                BuiltinField::Channels => self
                    .audio
                    .as_ref()
                    .map(|a| FieldValue::Integer(i64::from(a.channels))),
                BuiltinField::Duration => self
                    .audio
                    .as_ref()
                    .map(|a| FieldValue::Integer(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))),
                BuiltinField::Format => self
                    .audio
                    .as_ref()
                    .map(|a| FieldValue::Text(Cow::Borrowed(a.format))),
                BuiltinField::MediaSid => self
                    .audio
                    .as_ref()
                    .map(|a| FieldValue::Text(Cow::Borrowed(a.media_sid))),
                BuiltinField::Size => self
                    .audio
                    .as_ref()
                    .map(|a| FieldValue::Integer(i64::try_from(a.data.len()).unwrap_or(i64::MAX))),
            },
            FieldRef::Config(name) => match self.configuration.get(name.as_ref()) {
                None | Some(Value::Null) => None,
                Some(value) => Some(FieldValue::Json(value)),
            },
            FieldRef::Runtime(name) => self
                .runtime
                .get(name.as_ref())
                .map(|v| FieldValue::Text(Cow::Borrowed(v.as_str()))),
        }
    }

    /// The JSON dictionary of template fields that the Request Validation Schema is applied
    /// to: every field this invocation supplies, by name (the audio bytes excepted).
    pub fn validation_dictionary(&self) -> Value {
        let mut map = Map::new();
        for builtin in BuiltinField::ALL {
            if builtin == BuiltinField::AudioData {
                continue;
            }
            if let Some(value) = self.get(&FieldRef::Builtin(builtin)).and_then(|v| v.to_json()) {
                map.insert(builtin.name().to_owned(), value);
            }
        }
        for (name, value) in self.configuration {
            if !value.is_null() {
                map.insert(name.clone(), value.clone());
            }
        }
        for (name, value) in self.runtime {
            map.insert(name.clone(), Value::String(value.clone()));
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supply_matrix_follows_the_seed() {
        use AddOnKind::*;
        use BuiltinField::*;
        use IntegrationPoint::*;
        assert!(PrimaryAddress.is_supplied(PhoneNumber, Lookups));
        assert!(!SecondaryAddress.is_supplied(PhoneNumber, Lookups));
        assert!(SecondaryAddress.is_supplied(PhoneNumber, IncomingSms));
        assert!(!Body.is_supplied(PhoneNumber, IncomingSms));
        assert!(Body.is_supplied(MessageAnalysis, IncomingSms));
        assert!(AudioData.is_supplied(RecordingAnalysis, Recordings));
        assert!(!AudioData.is_supplied(PhoneNumber, Lookups));
        assert!(RequestSid.is_supplied(RecordingAnalysis, Recordings));
    }

    #[test]
    fn validation_dictionary_holds_supplied_fields() {
        let configuration = serde_json::json!({"language": "en_US", "combine": true, "unset": null});
        let configuration = configuration.as_object().cloned().unwrap_or_default();
        let runtime = HashMap::from([("dob".to_owned(), "1970-01-01".to_owned())]);
        let values = FieldValues {
            request_sid: "XR00000000000000000000000000000000",
            unix_timestamp: 1_700_000_000,
            primary_address: Some("+15108675310"),
            secondary_address: None,
            body: None,
            audio: None,
            configuration: &configuration,
            runtime: &runtime,
        };
        assert_eq!(
            values.validation_dictionary(),
            serde_json::json!({
                "request_sid": "XR00000000000000000000000000000000",
                "unix_timestamp": 1_700_000_000,
                "primary_address": "+15108675310",
                "language": "en_US",
                "combine": true,
                "dob": "1970-01-01"
            })
        );
    }
}
