//! Logging setup.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

/// Installs the global subscriber (`RUST_LOG` overrides the configured filter). Calling it
/// again is harmless.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if config.format == "json" {
        registry.with(tracing_subscriber::fmt::layer().json()).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
}
