//! Who and what: hotel configurations, vendor credentials, partner tokens, ingestion keys.

mod hotels;
mod ingest_keys;
mod tokens;

pub use hotels::{HotelRegistry, RegistryError};
pub use ingest_keys::{IngestCredentials, IngestKeys, PartnerSystem};
pub use pms_vendor_kit::registry::{OperaGrant, VendorCredentials};
pub use tokens::{AuthError, PartnerToken, Principal, Scope, TokenService};
