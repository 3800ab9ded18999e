//! Who and what: hotel configurations, vendor credentials, partner tokens, ingestion keys.

mod credentials;
mod hotels;
mod ingest_keys;
mod negative_cache;
mod tokens;

pub use credentials::{OperaGrant, VendorCredentials};
pub use hotels::{HotelRegistry, RegistryError};
pub use ingest_keys::{IngestCredentials, IngestKeys, PartnerSystem};
pub use negative_cache::NegativeCache;
pub use tokens::{AuthError, PartnerToken, Principal, Scope, TokenService};
