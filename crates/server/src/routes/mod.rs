//! The HTTP surfaces.

pub mod admin;
pub mod lookup;
pub mod marketplace;
pub mod metrics;
