//! Test support (feature `testing`): pms-testkit, and the Mews spec checks.

pub mod mews_spec;

pub use pms_testkit::{counting, oas, store_contract};
