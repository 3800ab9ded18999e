//! Infrastructure around the core: the local stack (`pms-local`), the ops CLI (`pmsctl`), and
//! the vendor simulators.

pub mod ctl;
pub mod local;
pub mod sim;
