//! Demo Add-on publishers: real HTTP services on the publisher's side of Twilio's Add-on
//! system, for demos and tests.
//!
//! A publisher server ([`start`]) runs one [`DemoApp`]. For every request it:
//!
//! 1. records it ([`RunningPublisher::received`]);
//! 2. verifies what Twilio promises publishers, in order: `X-Twilio-Signature` (with
//!    `bodySHA256` for a non-form body), `X-Twilio-VendorAccountSid` (when configured),
//!    `InvocationDate` and `InvocationTtlMs` (present, well-formed, neither stale nor from the
//!    future beyond the clock skew), and `X-Twilio-RequestSid`; a failure is answered 403 with
//!    `{"status": "failed", "message": …, "code": …}` ([`Rejection`]);
//! 3. checks the credential its manifest declares (bearer token, `api_key` query parameter,
//!    HTTP Basic, or `api_token` body parameter), 401 when wrong;
//! 4. misbehaves if told to ([`Behavior`]);
//! 5. answers a repeated `X-Twilio-RequestSid` with the remembered answer, without running the
//!    app again;
//! 6. otherwise runs the app and answers its JSON (400 for a missing or malformed parameter).
//!
//! The apps' manifests come from [`manifest`] (or [`RunningPublisher::manifest`], which
//! points at the running server).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use demo_publishers::{DemoApp, PublisherConfig, start};
//!
//! let publisher = start(
//!     "127.0.0.1:0".parse().expect("an address"),
//!     PublisherConfig::new("the publisher account's auth token"),
//!     DemoApp::Anagrams,
//! )
//! .await?;
//! let manifest = publisher.manifest(); // register this with the gateway
//! # let _ = manifest;
//! publisher.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod apps;
mod config;
mod manifest;
mod server;
mod verify;

pub use apps::{AppError, CustomApp, DemoApp, demo_apps};
pub use config::{
    API_KEY_PARAMETER, BODY_TOKEN_PARAMETER, Credentials, DEFAULT_CLOCK_SKEW, DEFAULT_RECEIVED_CAPACITY,
    DEFAULT_REPLAY_CAPACITY, PublisherConfig,
};
pub use manifest::{manifest, manifest_with_credentials};
pub use server::{Behavior, ReceivedRequest, RunningPublisher, start};
pub use verify::{INVOCATION_DATE_PARAM, INVOCATION_TTL_PARAM, Rejection, VerifiedRequest};
