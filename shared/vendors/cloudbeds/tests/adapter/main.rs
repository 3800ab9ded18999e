//! The Cloudbeds adapter against the simulator and the v1.3 spec excerpt.

// Phase-A facade (notes/split-facades.md): the moved tests' `pms_core::` and `pms_infra::`
// paths resolve in this crate.
extern crate self as pms_core;
extern crate self as pms_infra;

mod cloudbeds_contract;
mod cloudbeds_factory;
mod cloudbeds_faults;
mod cloudbeds_sim;
mod cloudbeds_support;
mod cloudbeds_tz;

pub use pms_domain::{config, domain, memory, ports};
pub use pms_sim as sim;
pub use pms_testkit as testing;
pub use pms_vendor_kit::registry;

pub mod aws {
    pub use pms_aws::*;
}

pub mod pms {
    pub use pms_cloudbeds as cloudbeds;
    pub use pms_vendor_kit::pms::*;

    /// The factory with this vendor registered, as the functions register it.
    pub fn default_factory(
        secrets: std::sync::Arc<crate::ports::CachedSecrets>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
        secrets_prefix: &str,
    ) -> AdapterFactory {
        AdapterFactory::new(secrets, clock, secrets_prefix).with_vendor(pms_cloudbeds::vendor())
    }
}
