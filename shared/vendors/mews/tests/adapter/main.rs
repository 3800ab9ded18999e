//! The Mews adapter against the simulator and the official Mews docs.

// Phase-A facade (notes/split-facades.md): the moved tests' `pms_core::` and `pms_infra::`
// paths resolve in this crate.
extern crate self as pms_core;
extern crate self as pms_infra;

mod mews_adapter;
mod mews_contract;
mod mews_faults;
mod mews_spec;
mod mews_support;

pub use pms_domain::{config, domain, memory, ports};
pub use pms_sim as sim;
pub use pms_vendor_kit::registry;

pub mod testing {
    pub(crate) use crate::mews_spec;
}

pub mod pms {
    pub use pms_mews as mews;
    pub use pms_vendor_kit::pms::*;

    /// The factory with this vendor registered, as the functions register it.
    pub fn default_factory(
        secrets: std::sync::Arc<crate::ports::CachedSecrets>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
        secrets_prefix: &str,
    ) -> AdapterFactory {
        AdapterFactory::new(secrets, clock, secrets_prefix).with_vendor(pms_mews::vendor())
    }
}
