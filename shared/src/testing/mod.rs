//! Test support (feature `testing`): pms-testkit.

pub use pms_testkit::{counting, oas, store_contract};
