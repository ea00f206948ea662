//! The HTTP surfaces.

pub mod admin;
pub mod marketplace;
pub mod metrics;
