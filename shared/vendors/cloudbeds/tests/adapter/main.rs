//! The Cloudbeds adapter against the simulator and the v1.3 spec excerpt.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

mod cloudbeds_contract;
mod cloudbeds_factory;
mod cloudbeds_faults;
mod cloudbeds_sim;
mod cloudbeds_support;
mod cloudbeds_tz;

/// The factory with this vendor registered, as the functions register it.
pub fn vendor_factory(
    secrets: std::sync::Arc<pms_domain::ports::CachedSecrets>,
    clock: std::sync::Arc<dyn pms_domain::ports::Clock>,
    secrets_prefix: &str,
) -> pms_vendor_kit::pms::AdapterFactory {
    pms_vendor_kit::pms::AdapterFactory::new(secrets, clock, secrets_prefix)
        .with_vendor(pms_cloudbeds::vendor())
}
