//! What vendor adapters are built with (the trait, its error and the retry policy are
//! pms-domain's `pms` module).

#[cfg(any(test, feature = "testing"))]
pub mod decode;
pub mod degraded;
pub mod factory;
pub mod http;
pub mod known;
pub mod ratelimit;
pub mod refcache;
pub mod vendor;

pub use factory::{credentials_secret_name, AdapterDeps, AdapterFactory, VENDOR_CALL_TIMEOUT};
pub use vendor::{CredentialFreeBuilder, CredentialSchema, Vendor, VendorBuilder, Vendors};
