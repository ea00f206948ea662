//! The gateway's HTTP surfaces (axum on hyper): the Marketplace API, the publisher admin API,
//! metrics; and the application that wires storage, catalog and routes together.
#![forbid(unsafe_code)]

pub mod admission;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod links;
pub mod metrics;
pub mod routes;
pub mod service;
pub mod serving;
pub mod state;
pub mod telemetry;

pub use app::{Application, router};
pub use config::Config;
