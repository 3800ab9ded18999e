//! Compatibility facade (phase A of the workspace split, notes/split-facades.md): the paths of
//! the former one-crate core, `pms_core::...`, over the crates it was split into, so the tests
//! and tools build unchanged until their paths are rewritten. New code uses those crates:
//! pms-domain, pms-app, pms-aws, pms-runtime, pms-vendor-kit, the vendor crates (pms-opera,
//! pms-mews, pms-cloudbeds, pms-mock) and pms-testkit.

pub mod pms;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use pms_app::{
    cache, ingest, jobs, obs, reads, records, refresh, registry, sync, sync_runs, writes,
};
pub use pms_domain::{config, domain, memory, ports};

#[cfg(feature = "aws")]
pub mod aws {
    pub use pms_app::runtime::{MissingEnv, ResourceNames};
    pub use pms_aws::*;
}

pub mod runtime {
    pub use pms_app::runtime::*;
    #[cfg(feature = "aws")]
    pub use pms_runtime::AwsServices;
}

pub mod webhooks {
    pub use pms_app::webhooks::*;
    pub use pms_cloudbeds::webhook as cloudbeds;
    pub use pms_mews::webhook as mews;
}
