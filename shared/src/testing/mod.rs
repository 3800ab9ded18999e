//! Test support shared by unit and integration tests (feature `testing`): contract suites that
//! every implementation of a port must pass, so the in-memory and AWS adapters cannot drift.

pub mod counting;
pub mod mews_spec;
pub mod oas;
pub mod store_contract;
