//! What every handler shares.

use std::sync::Arc;

use addons_engine::{Catalog, Engine};
use addons_store::Store;

use crate::admission::Admission;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::service::Services;

/// Shared application state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of the state.
#[derive(Debug)]
pub struct Inner {
    /// Configuration.
    pub config: Config,
    /// Storage (never read on the request path).
    pub store: Store,
    /// The in-memory catalog.
    pub catalog: Arc<Catalog>,
    /// The invocation engine.
    pub engine: Arc<Engine>,
    /// Catalog writes.
    pub services: Services,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The limit on requests in progress.
    pub admission: Admission,
    /// SHA-256 of the operator's password.
    pub operator_token_hash: [u8; 32],
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
