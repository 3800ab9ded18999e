//! PMS adapters: the trait, its error and the retry policy (from pms-domain), and what vendor
//! adapters are built with.

#[cfg(any(test, feature = "testing"))]
pub mod decode;
pub mod factory;
pub mod http;
pub mod ratelimit;

pub use factory::{
    credentials_secret_name, AdapterDeps, AdapterFactory, CredentialFreeBuilder, Vendor,
    VendorBuilder, VENDOR_CALL_TIMEOUT,
};
pub use pms_domain::pms::*;
