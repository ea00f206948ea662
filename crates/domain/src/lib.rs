//! The Add-on Marketplace's domain, without I/O: identifiers, the seed's Add-on types and
//! integration points, manifests compiled into Add-on definitions (template fields, schemas,
//! response cleaning, auth, pricing, limits), Twilio error codes and request signing.
#![forbid(unsafe_code)]

pub mod cleaning;
pub mod config_schema;
pub mod error_code;
pub mod fields;
pub mod kind;
pub mod manifest;
pub mod phone;
pub mod pricing;
pub mod problem;
pub mod schema;
pub mod sid;
pub mod signature;
pub mod template;

pub use error_code::AddOnErrorCode;
pub use kind::{AddOnKind, IntegrationPoint};
pub use manifest::AddOnDefinition;
