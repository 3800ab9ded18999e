//! The integration tests: each area against moto's server (scripts/with-moto.sh) and the vendor
//! simulators, one module per area, in one binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

mod common;
// Its `for_each_vendor!` is used by the modules declared after it.
#[macro_use]
mod sync_support;

mod availability;
mod chaos_smoke;
mod circuit_breaker;
mod graphql_api;
mod graphql_pms;
mod graphql_subscriptions;
mod ingest_http;
mod rate_limits;
mod sqs_driver;
mod store;
mod store_contract;
mod subscription_delivery;
mod sync_continuation;
mod sync_feeds;
mod sync_local;
mod sync_scheduler;
mod template_deploy;
mod template_drift;
mod tenancy_matrix;
mod trace_logs;
mod vendor_redirects;
mod webhooks_http;
mod writes_e2e;
