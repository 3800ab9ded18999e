//! Who and what: hotel configurations, vendor credentials, partner tokens.

mod credentials;
mod hotels;
mod tokens;

pub use credentials::{OperaGrant, VendorCredentials};
pub use hotels::{HotelRegistry, RegistryError};
pub use tokens::{AuthError, PartnerToken, Principal, Scope, TokenService};
