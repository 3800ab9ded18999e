//! The application: every use case of the integration layer over the ports and the PMS adapter
//! trait. Records and their one merge rule ([`records`]), partner ingestion ([`ingest`]),
//! webhook intake ([`webhooks`]), the sync (jobs, refreshes, scheduled feeds and their runs),
//! partner reads and writes with the read-through cache, the registry of hotels, tokens and
//! keys, and the [`runtime::Services`] a process wires them from. It names no vendor and no AWS
//! service: the processes register the vendors they serve and build the ports.

pub mod cache;
pub mod ingest;
pub mod jobs;
pub mod names;
pub mod obs;
pub mod reads;
pub mod records;
pub mod refresh;
pub mod registry;
pub mod runtime;
pub mod sync;
pub mod sync_runs;
pub mod webhooks;
pub mod writes;

// Phase-A facade (notes/split-facades.md): the `crate::` paths these files had in pms-core.
#[cfg(test)]
use pms_domain::memory;
use pms_domain::{config, domain, ports};
mod pms {
    #[cfg(test)]
    pub use pms_mock as mock;
    pub use pms_vendor_kit::pms::*;

    /// The factory the unit tests build adapters with: the mock PMS.
    #[cfg(test)]
    pub fn default_factory(
        secrets: std::sync::Arc<crate::ports::CachedSecrets>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
        secrets_prefix: &str,
    ) -> AdapterFactory {
        AdapterFactory::new(secrets, clock, secrets_prefix).with_vendor(pms_mock::vendor())
    }
}
