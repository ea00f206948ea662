//! The seed's three Add-on types and the Twilio integration points that can invoke them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an Add-on analyses (the seed's "Add-on Type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddOnKind {
    /// Phone number based queries: Lookups, incoming SMS, incoming voice. Synchronous.
    PhoneNumber,
    /// Message body analysis on incoming SMS. Synchronous.
    MessageAnalysis,
    /// Audio analysis of recordings. Asynchronous: the publisher posts results to a callback.
    RecordingAnalysis,
}

/// Whether the developer waits for the publisher's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumption {
    /// Twilio POSTs and expects the result in the response body.
    Synchronous,
    /// Twilio POSTs, expects 202/204, and the result arrives later at a callback URL.
    Asynchronous,
}

impl AddOnKind {
    /// Every kind, in the seed's order.
    pub const ALL: [AddOnKind; 3] = [
        AddOnKind::PhoneNumber,
        AddOnKind::MessageAnalysis,
        AddOnKind::RecordingAnalysis,
    ];

    /// The name used in manifests and API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            AddOnKind::PhoneNumber => "phone-number",
            AddOnKind::MessageAnalysis => "message-analysis",
            AddOnKind::RecordingAnalysis => "recording-analysis",
        }
    }

    /// Parses the manifest name of a kind.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The integration points the seed allows for this kind.
    pub fn integration_points(self) -> &'static [IntegrationPoint] {
        match self {
            AddOnKind::PhoneNumber => &[
                IntegrationPoint::Lookups,
                IntegrationPoint::IncomingSms,
                IntegrationPoint::VoiceIncoming,
            ],
            AddOnKind::MessageAnalysis => &[IntegrationPoint::IncomingSms],
            AddOnKind::RecordingAnalysis => &[IntegrationPoint::Recordings],
        }
    }

    /// Synchronous or asynchronous consumption.
    pub fn consumption(self) -> Consumption {
        match self {
            AddOnKind::PhoneNumber | AddOnKind::MessageAnalysis => Consumption::Synchronous,
            AddOnKind::RecordingAnalysis => Consumption::Asynchronous,
        }
    }

    /// The longest a publisher may take to answer the request itself. For synchronous kinds
    /// this is the seed's hard limit ("any request taking longer than 2000 ms will be failed");
    /// for recordings it bounds the upload that must be answered with 202 (the analysis itself
    /// is bounded by [`AddOnKind::callback_deadline`]).
    pub fn max_timeout(self) -> Duration {
        match self {
            AddOnKind::PhoneNumber | AddOnKind::MessageAnalysis => Duration::from_millis(2000),
            AddOnKind::RecordingAnalysis => Duration::from_secs(60),
        }
    }

    /// The largest response the seed accepts for this kind: 50 KB for phone-number, 64 KB for
    /// message analysis, 100 MB for a recording's callback (KB and MB read as 1024-based).
    pub fn max_response_bytes(self) -> u64 {
        match self {
            AddOnKind::PhoneNumber => 50 * 1024,
            AddOnKind::MessageAnalysis => 64 * 1024,
            AddOnKind::RecordingAnalysis => 100 * 1024 * 1024,
        }
    }

    /// For recordings: the time after which a result that has not been posted back fails
    /// ("any request taking longer than 10x duration will be failed").
    pub fn callback_deadline(self, audio_duration: Duration) -> Option<Duration> {
        match self {
            AddOnKind::RecordingAnalysis => Some(audio_duration * 10),
            _ => None,
        }
    }
}

/// A Twilio product that can invoke an Add-on: an Add-on "extension" in the Marketplace API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IntegrationPoint {
    /// The Lookup API (`AddOns=` on `GET /v1/PhoneNumbers/{n}`).
    #[serde(rename = "lookups")]
    Lookups,
    /// An SMS arriving at one of the developer's numbers.
    #[serde(rename = "incoming-sms")]
    IncomingSms,
    /// A call arriving at one of the developer's numbers.
    #[serde(rename = "voice-incoming")]
    VoiceIncoming,
    /// A recording made on one of the developer's calls.
    #[serde(rename = "recordings")]
    Recordings,
}

impl IntegrationPoint {
    /// Every integration point.
    pub const ALL: [IntegrationPoint; 4] = [
        IntegrationPoint::Lookups,
        IntegrationPoint::IncomingSms,
        IntegrationPoint::VoiceIncoming,
        IntegrationPoint::Recordings,
    ];

    /// The extension's unique name, as Twilio's Marketplace API shows it.
    pub fn unique_name(self) -> &'static str {
        match self {
            IntegrationPoint::Lookups => "lookups",
            IntegrationPoint::IncomingSms => "incoming-sms",
            IntegrationPoint::VoiceIncoming => "voice-incoming",
            IntegrationPoint::Recordings => "recordings",
        }
    }

    /// Parses an extension unique name. `incoming-voice` is accepted as another spelling of
    /// `voice-incoming`, since publishers meet both.
    pub fn parse(value: &str) -> Option<Self> {
        if value == "incoming-voice" {
            return Some(IntegrationPoint::VoiceIncoming);
        }
        Self::ALL.into_iter().find(|point| point.unique_name() == value)
    }

    /// The extension's friendly name.
    pub fn friendly_name(self) -> &'static str {
        match self {
            IntegrationPoint::Lookups => "Lookups",
            IntegrationPoint::IncomingSms => "Incoming SMS Message",
            IntegrationPoint::VoiceIncoming => "Incoming Voice Call",
            IntegrationPoint::Recordings => "Recording Analysis",
        }
    }

    /// The Twilio product the extension belongs to.
    pub fn product_name(self) -> &'static str {
        match self {
            IntegrationPoint::Lookups => "Lookups",
            IntegrationPoint::IncomingSms => "Programmable SMS",
            IntegrationPoint::VoiceIncoming | IntegrationPoint::Recordings => "Programmable Voice",
        }
    }

    /// Whether request-time (vendor runtime) fields can be passed at this point. The seed:
    /// "Request time parameters are only supported for Lookup at this time."
    pub fn supports_runtime_fields(self) -> bool {
        self == IntegrationPoint::Lookups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_allow_the_seeds_integration_points() {
        assert!(
            AddOnKind::PhoneNumber
                .integration_points()
                .contains(&IntegrationPoint::Lookups)
        );
        assert!(
            !AddOnKind::MessageAnalysis
                .integration_points()
                .contains(&IntegrationPoint::Lookups)
        );
        assert_eq!(
            AddOnKind::RecordingAnalysis.integration_points(),
            &[IntegrationPoint::Recordings]
        );
    }

    #[test]
    fn both_voice_spellings_parse() {
        assert_eq!(
            IntegrationPoint::parse("incoming-voice"),
            Some(IntegrationPoint::VoiceIncoming)
        );
        assert_eq!(
            IntegrationPoint::parse("voice-incoming"),
            Some(IntegrationPoint::VoiceIncoming)
        );
        assert_eq!(IntegrationPoint::parse("voice"), None);
    }

    #[test]
    fn size_limits_follow_the_seed() {
        assert_eq!(AddOnKind::PhoneNumber.max_response_bytes(), 51_200);
        assert_eq!(AddOnKind::MessageAnalysis.max_response_bytes(), 65_536);
        assert_eq!(
            AddOnKind::RecordingAnalysis.callback_deadline(Duration::from_secs(3)),
            Some(Duration::from_secs(30))
        );
    }
}
