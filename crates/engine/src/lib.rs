//! The invocation engine: everything between an authenticated developer request and the merged
//! Add-on results, with no database reads on the way.
#![forbid(unsafe_code)]

pub mod catalog;

pub use catalog::{Account, Catalog, CompiledVersion, Installed};
