//! The core of the PMS integration layer.
//!
//! Ports and adapters: the domain ([`domain`], sync/merge rules, idempotency) depends on narrow
//! traits ([`ports`], [`pms::PmsAdapter`]); [`aws`] implements the ports over DynamoDB, SQS,
//! Secrets Manager and EventBridge, [`memory`] in memory for unit tests, and [`pms`] holds the
//! vendor adapters. Lambda functions wire these from the environment and stay thin.

pub mod config;
pub mod domain;
pub mod pms;
pub mod ports;
