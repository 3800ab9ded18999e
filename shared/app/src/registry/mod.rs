//! Who and what: hotel configurations, partner tokens, ingestion keys (vendor credentials are
//! each vendor crate's: `pms_vendor_kit::pms::Vendor`).

mod hotels;
mod ingest_keys;
mod negative_cache;
mod tokens;

pub use hotels::{HotelRegistry, RegistryError};
pub use ingest_keys::{IngestCredentials, IngestKeys, PartnerSystem};
pub use negative_cache::NegativeCache;
pub use tokens::{AuthError, PartnerToken, Principal, Scope, TokenService};
