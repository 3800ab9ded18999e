//! Test support shared by unit and integration tests: contract suites that every
//! implementation of a port must pass, so the in-memory and AWS adapters cannot drift, a store
//! that counts its requests, and OpenAPI checks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

pub mod counting;
pub mod oas;
pub mod store_contract;
