//! The Mews adapter against the simulator and the official Mews docs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

mod mews_adapter;
mod mews_contract;
mod mews_faults;
mod mews_spec;
mod mews_support;

/// The factory with this vendor registered, as the functions register it.
pub fn vendor_factory(
    secrets: std::sync::Arc<pms_domain::ports::CachedSecrets>,
    clock: std::sync::Arc<dyn pms_domain::ports::Clock>,
    secrets_prefix: &str,
) -> pms_vendor_kit::pms::AdapterFactory {
    pms_vendor_kit::pms::AdapterFactory::new(secrets, clock, secrets_prefix)
        .with_vendor(pms_mews::vendor())
}
