//! The core of the PMS integration layer.
//!
//! Ports and adapters: the domain ([`domain`], sync/merge rules, idempotency) depends on narrow
//! traits ([`ports`], [`pms::PmsAdapter`]); [`aws`] implements the ports over DynamoDB, SQS,
//! Secrets Manager and EventBridge, [`memory`] in memory for unit tests, and [`pms`] holds the
//! vendor adapters. Lambda functions wire these from the environment and stay thin.

pub mod aws;
pub mod cache;
pub mod ingest;
pub mod jobs;
pub mod obs;
pub mod pms;
pub mod reads;
pub mod records;
pub mod refresh;
pub mod registry;
pub mod runtime;
pub mod sync;
pub mod sync_runs;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhooks;
pub mod writes;

// The domain crate, at the paths these modules had here.
pub use pms_domain::{config, domain, memory, ports};
