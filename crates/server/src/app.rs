//! Building and running the gateway: storage opened and migrated, the catalog loaded, the
//! router assembled, the port bound (port 0 picks a free one, as tests use).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use addons_domain::manifest::{RegistrationPolicy, Secret};
use addons_engine::client::ClientOptions;
use addons_engine::inbound::WebhookOptions;
use addons_engine::retry::RetrySchedule;
use addons_engine::{Catalog, Engine, EngineOptions};
use addons_store::{Store, Vault};
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::admission::Admission;
use crate::config::{Config, decode_key};
use crate::error::{method_not_allowed, route_not_found};
use crate::metrics::Metrics;
use crate::routes;
use crate::service::Services;
use crate::serving::{self, Serving};
use crate::state::{AppState, Inner};

/// A built gateway, bound to its port, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    operator_token: Secret,
}

/// The router over a state: every surface, the Twilio-shaped fallbacks, body limit and metrics.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::lookup::router())
        .merge(routes::phone_numbers::router())
        .merge(routes::traffic::router())
        .merge(routes::monitor::router())
        .merge(routes::marketplace::router())
        .merge(routes::admin::router())
        .merge(routes::metrics::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .with_state(state)
}

impl Application {
    /// Opens storage, migrates it, loads the catalog and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        config.validate()?;
        let data_dir = config.database.data_dir.clone();
        let url = if config.database.url.is_empty() {
            Store::sqlite_url_in(&data_dir)
                .with_context(|| format!("creating the data directory {}", data_dir.display()))?
        } else {
            config.database.url.clone()
        };
        let key = match &config.security.encryption_key {
            Some(key) => decode_key(key.expose())?,
            None => decode_key(
                read_or_create(&data_dir, "encryption.key", || {
                    let mut key = [0u8; 32];
                    rand::rng().fill_bytes(&mut key);
                    base64::engine::general_purpose::STANDARD.encode(key)
                })?
                .expose(),
            )?,
        };
        let operator_token = match &config.security.operator_token {
            Some(token) => token.clone(),
            None => read_or_create(&data_dir, "operator.token", || {
                let mut bytes = [0u8; 16];
                rand::rng().fill_bytes(&mut bytes);
                hex_string(&bytes)
            })?,
        };

        let store = Store::connect(&url, Vault::new(&key))
            .await
            .with_context(|| format!("opening the database ({})", redact_url(&url)))?;
        store.migrate().await.context("migrating the database")?;
        let catalog = Catalog::load(store.clone())
            .await
            .context("loading the catalog")?;
        catalog
            .follow_other_instances()
            .await
            .context("listening for catalog changes")?;
        let policy = RegistrationPolicy {
            allow_insecure_endpoints: config.publishers.allow_insecure_endpoints,
        };
        let services = Services::new(store.clone(), Arc::clone(&catalog), policy);
        let metrics = Metrics::new();
        let outbound = &config.outbound;
        let engine = Engine::new(
            Arc::clone(&catalog),
            store.clone(),
            EngineOptions {
                client: ClientOptions {
                    connect_timeout: Duration::from_millis(outbound.connect_timeout_ms),
                    pool_idle_timeout: Duration::from_millis(outbound.pool_idle_timeout_ms),
                    block_private_networks: config.publishers.block_private_networks,
                    extra_root_certificates: Vec::new(),
                },
                retry: RetrySchedule::new(
                    outbound
                        .retry_backoff_ms
                        .iter()
                        .map(|ms| Duration::from_millis(*ms))
                        .collect(),
                    outbound.retry_jitter,
                ),
                record_batch_size: config.recorder.batch_size,
                record_flush_interval: Duration::from_millis(config.recorder.flush_interval_ms),
                webhook: WebhookOptions {
                    timeout: Duration::from_millis(config.webhooks.timeout_ms),
                    max_response_bytes: config.webhooks.max_response_bytes,
                },
            },
            metrics.registry(),
        )
        .map_err(anyhow::Error::msg)?;
        // The numbering-plan metadata takes a moment to load; the first Lookup should not wait.
        addons_domain::phone::warm_up();
        let listener = serving::bind(config.server.listen, config.server.threads > 0)
            .with_context(|| format!("binding {}", config.server.listen))?;
        let config_limit = config.server.max_in_flight;
        let state = AppState::new(Inner {
            operator_token_hash: Sha256::digest(operator_token.expose().as_bytes()).into(),
            config,
            store,
            catalog,
            engine: Arc::new(engine),
            services,
            admission: Admission::new(config_limit, metrics.registry()),
            metrics,
        });
        tracing::info!(addr = %listener.local_addr()?, backend = state.store.backend_name(), "gateway ready");
        Ok(Application {
            listener,
            state,
            operator_token,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The shared state (for the sandbox and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The operator's admin password.
    pub fn operator_token(&self) -> &Secret {
        &self.operator_token
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for up to the
    /// configured grace period: on the main runtime's worker threads, or with
    /// `server.threads` set, on serving threads of its own ([`serving`]).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.config.shutdown_grace();
        let threads = self.state.config.server.threads;
        let store = self.state.store.clone();
        let engine = Arc::clone(&self.state.engine);
        let result = if threads == 0 {
            serve_here(self.listener, self.state, shutdown, grace).await
        } else {
            match Serving::start(self.listener, threads, &self.state) {
                Ok(serving) => {
                    tracing::info!(threads, "serving on threads of its own");
                    shutdown.await;
                    serving.stop(grace).await;
                    Ok(())
                }
                Err(error) => Err(error),
            }
        };
        // Every Add-on request answered is recorded before the database closes.
        engine.close().await;
        store.close().await;
        result
    }
}

/// Serves on the current runtime until `shutdown`, then lets in-flight requests and the
/// fan-outs of developers who hung up finish, for at most `grace`.
async fn serve_here(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let engine = Arc::clone(&state.engine);
    let stopping = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&stopping);
    let server = serving::serve_until(listener, state, async move {
        shutdown.await;
        notify.notify_one();
    });
    let drained = async {
        let result = server.await;
        engine.fan_outs_finished().await;
        result
    };
    tokio::select! {
        result = drained => result,
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "in-flight requests did not finish within the grace period");
            Ok(())
        }
    }
}

/// Brings the configured database's schema up to date, without starting the gateway.
pub async fn migrate(config: &Config) -> anyhow::Result<&'static str> {
    let url = if config.database.url.is_empty() {
        Store::sqlite_url_in(&config.database.data_dir)?
    } else {
        config.database.url.clone()
    };
    // Migrations never open a sealed secret, so any key will do here.
    let store = Store::connect(&url, Vault::new(&[0u8; 32]))
        .await
        .with_context(|| format!("opening the database ({})", redact_url(&url)))?;
    store.migrate().await.context("migrating the database")?;
    let backend = store.backend_name();
    store.close().await;
    Ok(backend)
}

/// Reads a generated secret from the data directory, creating it (readable by the owner only)
/// the first time.
fn read_or_create(dir: &Path, name: &str, generate: impl FnOnce() -> String) -> anyhow::Result<Secret> {
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(text.trim().to_owned()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let value = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write as _;
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(value.as_bytes())?;
    tracing::warn!(path = %path.display(), "generated {name}; set it in the configuration for shared deployments");
    Ok(Secret::new(value))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_not_shown() {
        assert_eq!(
            redact_url("postgres://app:secret@db:5432/x"),
            "postgres://app:****@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("sqlite://data/g.db"), "sqlite://data/g.db");
    }
}
