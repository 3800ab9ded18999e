//! PMS adapters: the trait, its error, the retry policy, the rate limiter, the deadline they
//! work to, and the implementations.

mod adapter;
pub mod cloudbeds;
pub mod deadline;
#[cfg(any(test, feature = "testing"))]
pub mod decode;
mod error;
mod factory;
pub mod http;
pub mod mews;
pub mod mock;
pub mod ohip;
pub mod ratelimit;
mod retry;

pub use adapter::{
    ChangeWindow, EntityKind, EntityRef, Fetched, ItemFailure, PmsAdapter, Refreshed,
};
pub use error::{classify_transport, PmsError, PmsResult, UnavailableCause, DEFAULT_RETRYABLE};
pub use factory::{
    credentials_secret_name, AdapterDeps, AdapterFactory, VendorBuilder, VENDOR_CALL_TIMEOUT,
};
pub use retry::{RetryPolicy, RetrySettings};

/// The factory with every vendor adapter this build knows.
pub fn default_factory(
    secrets: std::sync::Arc<crate::ports::CachedSecrets>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
    secrets_prefix: &str,
) -> AdapterFactory {
    let mut factory = AdapterFactory::new(secrets, clock, secrets_prefix);
    factory.register(crate::domain::Provider::Opera, ohip::builder());
    factory.register(crate::domain::Provider::Mews, mews::builder());
    factory.register(crate::domain::Provider::Cloudbeds, cloudbeds::builder());
    factory
}
