//! How a publisher server is set up: the auth token it checks signatures with, the account it
//! expects, and the credentials its Add-on's manifest gives the gateway.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How far the invocation date may be off the publisher's clock, by default.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// How many responses are remembered for replays, by default.
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;

/// How many received requests are kept for inspection, by default.
pub const DEFAULT_RECEIVED_CAPACITY: usize = 10_000;

/// The query parameter the spam-score Add-on's API key travels in.
pub const API_KEY_PARAMETER: &str = "api_key";

/// The body parameter the sentiment Add-on's token travels in.
pub const BODY_TOKEN_PARAMETER: &str = "api_token";

/// The credentials the gateway presents to the demo Add-ons, one per auth scheme. The manifests
/// declare them and the server checks them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Anagrams: `Authorization: Bearer <token>`.
    pub bearer_token: String,
    /// Spam score: the `api_key` query parameter.
    pub api_key: String,
    /// Caller name: the HTTP Basic user name.
    pub basic_username: String,
    /// Caller name: the HTTP Basic password.
    pub basic_password: String,
    /// Sentiment: the `api_token` body parameter.
    pub body_token: String,
}

impl Default for Credentials {
    /// Fixed demo credentials, so that [`crate::manifest`] can be written without a running
    /// server. They protect nothing but demo data.
    fn default() -> Self {
        Credentials {
            bearer_token: "demo-anagrams-bearer-token".to_owned(),
            api_key: "demo-spam-score-api-key".to_owned(),
            basic_username: "twilio".to_owned(),
            basic_password: "demo-caller-name-password".to_owned(),
            body_token: "demo-sentiment-api-token".to_owned(),
        }
    }
}

impl Credentials {
    /// Credentials derived from a secret (such as the publisher account's auth token), for
    /// publishers that should not share the fixed demo credentials. Anyone holding the secret
    /// can derive them again, and they reveal nothing of it.
    pub fn derived_from(secret: &str) -> Credentials {
        let derive = |label: &str| {
            let digest = Sha256::digest(format!("demo-publishers/{label}/{secret}").as_bytes());
            hex::encode(&digest[..16])
        };
        Credentials {
            bearer_token: derive("bearer"),
            api_key: derive("api-key"),
            basic_username: "twilio".to_owned(),
            basic_password: derive("basic"),
            body_token: derive("body"),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("basic_username", &self.basic_username)
            .finish_non_exhaustive()
    }
}

/// A publisher server's settings.
#[derive(Clone)]
pub struct PublisherConfig {
    /// The publisher account's auth token: the key of `X-Twilio-Signature`.
    pub auth_token: String,
    /// The `X-Twilio-VendorAccountSid` to insist on; any is accepted when `None`.
    pub vendor_account_sid: Option<String>,
    /// How far the invocation date may be off this server's clock.
    pub clock_skew: Duration,
    /// The base URL the gateway calls (`scheme://host:port`, as written in the manifest). Its
    /// scheme and authority, with the path and query received, make the URL whose signature is
    /// checked, so it must be the URL the gateway signs, not the address the server binds (they
    /// differ behind a proxy or a host name). `http://<local address>` when `None`.
    pub public_base_url: Option<String>,
    /// The credentials the Add-on's manifest declares and the server checks.
    pub credentials: Credentials,
    /// How many responses are remembered by `X-Twilio-RequestSid` for replays.
    pub replay_capacity: usize,
    /// How many received requests [`crate::RunningPublisher::received`] keeps (the oldest go).
    pub received_capacity: usize,
}

impl PublisherConfig {
    /// Settings for a publisher account's auth token, with the defaults: any vendor account,
    /// 60 s of clock skew, the local address as base URL, and the fixed demo credentials.
    pub fn new(auth_token: impl Into<String>) -> PublisherConfig {
        PublisherConfig {
            auth_token: auth_token.into(),
            vendor_account_sid: None,
            clock_skew: DEFAULT_CLOCK_SKEW,
            public_base_url: None,
            credentials: Credentials::default(),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            received_capacity: DEFAULT_RECEIVED_CAPACITY,
        }
    }

    /// Insists on this `X-Twilio-VendorAccountSid`.
    pub fn with_vendor_account_sid(mut self, sid: impl Into<String>) -> PublisherConfig {
        self.vendor_account_sid = Some(sid.into());
        self
    }

    /// Sets the tolerated clock skew.
    pub fn with_clock_skew(mut self, skew: Duration) -> PublisherConfig {
        self.clock_skew = skew;
        self
    }

    /// Sets the base URL the gateway calls.
    pub fn with_public_base_url(mut self, url: impl Into<String>) -> PublisherConfig {
        self.public_base_url = Some(url.into());
        self
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> PublisherConfig {
        self.credentials = credentials;
        self
    }
}

impl fmt::Debug for PublisherConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherConfig")
            .field("auth_token", &"[redacted]")
            .field("vendor_account_sid", &self.vendor_account_sid)
            .field("clock_skew", &self.clock_skew)
            .field("public_base_url", &self.public_base_url)
            .field("credentials", &self.credentials)
            .field("replay_capacity", &self.replay_capacity)
            .field("received_capacity", &self.received_capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_credentials_are_stable_and_distinct() {
        let a = Credentials::derived_from("token-a");
        assert_eq!(a, Credentials::derived_from("token-a"));
        assert_ne!(a, Credentials::derived_from("token-b"));
        assert_ne!(a.bearer_token, a.api_key);
        assert_eq!(a.bearer_token.len(), 32);
    }

    #[test]
    fn secrets_do_not_print() {
        let config = PublisherConfig::new("very-secret-token");
        let printed = format!("{config:?}");
        assert!(!printed.contains("very-secret-token"));
        assert!(!printed.contains("demo-anagrams-bearer-token"));
    }
}
