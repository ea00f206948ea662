//! The invocation engine: everything between an authenticated developer request and the merged
//! Add-on results, with no database reads on the way.
//!
//! - [`catalog`]: the in-memory snapshot of accounts, installs and compiled versions;
//! - [`invoke`]: the request path, phase by phase ([`Engine`]);
//! - [`request`]: building and signing one publisher request;
//! - [`client`]: the outbound HTTP client (timeouts, size cap, redirects, TLS, SSRF guard);
//! - [`retry`]: the retry schedule;
//! - [`envelope`]: the `add_ons` JSON returned to developers;
//! - [`recorder`]: Add-on request records, written in batches off the response path;
//! - [`inbound`]: incoming messages and calls, delivered to developers' webhooks.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod client;
pub mod envelope;
pub mod inbound;
pub mod invoke;
pub mod recorder;
pub mod request;
pub mod retry;

pub use catalog::{Account, Catalog, CompiledVersion, Installed};
pub use envelope::{AddOnResult, Envelope, Outcome, envelope};
pub use invoke::{Audio, Engine, EngineOptions, Inputs, RuntimeFields};
