//! PMS adapters: pms-vendor-kit (the trait, its error, the retry policy, the factory) and the
//! vendor crates, at the paths they had here.

pub use pms_cloudbeds as cloudbeds;
pub use pms_mews as mews;
pub use pms_mock as mock;
pub use pms_opera as ohip;
pub use pms_vendor_kit::pms::*;

/// The factory with every vendor adapter this build knows.
pub fn default_factory(
    secrets: std::sync::Arc<crate::ports::CachedSecrets>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
    secrets_prefix: &str,
) -> AdapterFactory {
    let mut factory = AdapterFactory::new(secrets, clock, secrets_prefix);
    for vendor in all_vendors() {
        factory.add(vendor);
    }
    factory
}

/// Every vendor this build knows, the mock PMS included.
pub fn all_vendors() -> [Vendor; 4] {
    [
        pms_opera::vendor(),
        pms_mews::vendor(),
        pms_cloudbeds::vendor(),
        pms_mock::vendor(),
    ]
}
