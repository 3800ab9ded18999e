//! Compatibility facade (phase A of the workspace split, notes/split-facades.md): the tools'
//! former paths, `pms_infra::{ctl, local, sim}`, over the crates they were split into (pmsctl,
//! pms-local, pms-sim), until the tests' paths are rewritten.

pub use pms_local as local;
pub use pms_sim as sim;
pub use pmsctl as ctl;
