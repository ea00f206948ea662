//! Configuration: the committed default (`config/default.toml`, compiled in), an optional
//! file, then `ADDONS_<SECTION>__<KEY>` environment variables and `DATABASE_URL`. Ranges are
//! checked once, at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use addons_domain::manifest::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// The committed defaults.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// The gateway's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Storage.
    pub database: DatabaseConfig,
    /// Keys and the operator's credential.
    pub security: SecurityConfig,
    /// What publishers may register.
    pub publishers: PublishersConfig,
    /// Calls to publishers.
    pub outbound: OutboundConfig,
    /// Calls to developers' webhooks.
    pub webhooks: WebhooksConfig,
    /// Writing Add-on request records.
    pub recorder: RecorderConfig,
    /// The demo sandbox.
    pub sandbox: SandboxConfig,
    /// Logging.
    pub log: LogConfig,
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Base URL for links in responses (empty: from the Host header).
    #[serde(default)]
    pub public_url: String,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// At most this many API requests are served at once; more get 429 (20429).
    pub max_in_flight: usize,
    /// Drain time on shutdown, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Serving threads of its own, each a single-threaded runtime (0: the main runtime's
    /// worker threads serve).
    #[serde(default)]
    pub threads: usize,
}

/// Storage settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    /// Database URL (empty: SQLite in `data_dir`).
    #[serde(default)]
    pub url: String,
    /// Data directory.
    pub data_dir: PathBuf,
}

/// Secrets.
#[derive(Clone, Deserialize)]
pub struct SecurityConfig {
    /// Base64 32-byte key sealing secrets at rest.
    #[serde(default, deserialize_with = "secret")]
    pub encryption_key: Option<Secret>,
    /// The operator's admin password.
    #[serde(default, deserialize_with = "secret")]
    pub operator_token: Option<Secret>,
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

fn secret<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.filter(|t| !t.is_empty()).map(Secret::new))
}

/// Publisher registration policy.
#[derive(Debug, Clone, Deserialize)]
pub struct PublishersConfig {
    /// Accept http:// endpoints.
    pub allow_insecure_endpoints: bool,
    /// Refuse endpoints resolving to private addresses.
    pub block_private_networks: bool,
}

/// Outbound calls.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboundConfig {
    /// Connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Retry delays, milliseconds.
    pub retry_backoff_ms: Vec<u64>,
    /// Jitter fraction.
    pub retry_jitter: f64,
    /// Idle pooled connection lifetime, milliseconds.
    pub pool_idle_timeout_ms: u64,
}

/// Webhook delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhooksConfig {
    /// Timeout, milliseconds.
    pub timeout_ms: u64,
    /// Largest answer read, bytes.
    pub max_response_bytes: u64,
}

/// Request-record batching.
#[derive(Debug, Clone, Deserialize)]
pub struct RecorderConfig {
    /// Records per batch.
    pub batch_size: usize,
    /// Flush interval, milliseconds.
    pub flush_interval_ms: u64,
}

/// The sandbox.
#[derive(Clone, Deserialize)]
pub struct SandboxConfig {
    /// Whether the sandbox is set up on an empty database.
    pub enabled: bool,
    /// Manifests registered at start.
    #[serde(default)]
    pub manifests_dir: Option<PathBuf>,
    /// A fixed SID for the sandbox publisher (empty: generated).
    #[serde(default)]
    pub publisher_sid: String,
    /// A fixed auth token for the sandbox publisher (empty: generated).
    #[serde(default, deserialize_with = "secret")]
    pub publisher_token: Option<Secret>,
    /// A fixed SID for the sandbox developer (empty: generated).
    #[serde(default)]
    pub developer_sid: String,
    /// A fixed auth token for the sandbox developer (empty: generated).
    #[serde(default, deserialize_with = "secret")]
    pub developer_token: Option<Secret>,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("enabled", &self.enabled)
            .field("manifests_dir", &self.manifests_dir)
            .field("publisher_sid", &self.publisher_sid)
            .field("developer_sid", &self.developer_sid)
            .finish_non_exhaustive()
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    /// "pretty" or "json".
    pub format: String,
    /// Filter directives.
    pub filter: String,
}

/// A configuration value out of range.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads the configuration: defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ADDONS_CONFIG").map(PathBuf::from));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed("ADDONS_").split("__").ignore(&["config"]))
            .merge(Env::raw().only(&["database_url"]).map(|_| "database.url".into()));
        let config: Config = figment
            .extract()
            .map_err(|error| ConfigError(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults alone (tests start from these).
    pub fn defaults() -> Config {
        match Figment::from(Toml::string(DEFAULT_TOML)).extract() {
            Ok(config) => config,
            Err(error) => unreachable!("the committed default configuration parses: {error}"),
        }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: &str| Err(ConfigError(message.to_owned()));
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return fail("server.max_body_bytes must be between 1 KiB and 64 MiB");
        }
        if !(1..=1_000_000).contains(&self.server.max_in_flight) {
            return fail("server.max_in_flight must be between 1 and 1000000");
        }
        if self.server.threads > 1024 {
            return fail("server.threads must be at most 1024");
        }
        if self.server.shutdown_grace_ms > 120_000 {
            return fail("server.shutdown_grace_ms must be at most 120000");
        }
        let public_url = &self.server.public_url;
        if !(public_url.is_empty() || public_url.starts_with("http://") || public_url.starts_with("https://"))
        {
            return fail("server.public_url must be an http(s) URL or empty");
        }
        if !(1..=30_000).contains(&self.outbound.connect_timeout_ms) {
            return fail("outbound.connect_timeout_ms must be between 1 and 30000");
        }
        if self.outbound.retry_backoff_ms.is_empty()
            || self.outbound.retry_backoff_ms.iter().any(|d| *d > 60_000)
        {
            return fail("outbound.retry_backoff_ms must list delays of at most 60000 ms");
        }
        if !(0.0..=1.0).contains(&self.outbound.retry_jitter) {
            return fail("outbound.retry_jitter must be between 0 and 1");
        }
        if !(1..=60_000).contains(&self.webhooks.timeout_ms) {
            return fail("webhooks.timeout_ms must be between 1 and 60000");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.webhooks.max_response_bytes) {
            return fail("webhooks.max_response_bytes must be between 1 KiB and 16 MiB");
        }
        if !(1..=100_000).contains(&self.recorder.batch_size) {
            return fail("recorder.batch_size must be between 1 and 100000");
        }
        if !(1..=60_000).contains(&self.recorder.flush_interval_ms) {
            return fail("recorder.flush_interval_ms must be between 1 and 60000");
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return fail("log.format must be \"pretty\" or \"json\"");
        }
        if let Some(key) = &self.security.encryption_key {
            decode_key(key.expose())?;
        }
        Ok(())
    }

    /// Shutdown drain time.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.server.shutdown_grace_ms)
    }
}

/// Decodes a base64 32-byte key.
pub fn decode_key(text: &str) -> Result<[u8; 32], ConfigError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| ConfigError("security.encryption_key is not base64".to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| ConfigError("security.encryption_key must decode to 32 bytes".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_defaults_are_valid() {
        let config = Config::defaults();
        config.validate().expect("valid");
        assert!(config.sandbox.enabled);
        assert_eq!(config.outbound.retry_backoff_ms[0], 50);
    }

    #[test]
    fn ranges_are_checked() {
        let mut config = Config::defaults();
        config.outbound.retry_jitter = 2.0;
        assert!(config.validate().is_err());
        let mut config = Config::defaults();
        config.security.encryption_key = Some(Secret::new("not base64!"));
        assert!(config.validate().is_err());
        config.security.encryption_key = Some(Secret::new("AAAA"));
        assert!(config.validate().is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut config = Config::defaults();
        config.security.operator_token = Some(Secret::new("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
