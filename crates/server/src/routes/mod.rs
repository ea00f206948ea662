//! The HTTP surfaces.

pub mod admin;
pub mod lookup;
pub mod marketplace;
pub mod metrics;
pub mod monitor;
pub mod phone_numbers;
pub mod traffic;
