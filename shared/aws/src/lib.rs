//! AWS adapters of the ports. Configuration comes from the environment: the SDK's own
//! `AWS_ENDPOINT_URL` points every client at moto's server locally, so local runs take the very
//! code paths they take in AWS.

//!
//! The feature `aws` (on by default) is what the adapters were gated by in pms-core; the crates
//! that must build without the SDK (the fuzz targets) no longer depend on this one.

#[cfg(feature = "aws")]
mod attr;
#[cfg(feature = "aws")]
mod dynamo;
#[cfg(feature = "aws")]
mod errors;
#[cfg(feature = "aws")]
mod eventbridge;
#[cfg(feature = "aws")]
mod secrets;
#[cfg(feature = "aws")]
mod sqs;

#[cfg(feature = "aws")]
pub use dynamo::{to_attrs as item_attributes, DynamoStore};
#[cfg(feature = "aws")]
pub use eventbridge::EventBridgeBus;
#[cfg(feature = "aws")]
pub use secrets::SecretsManagerStore;
#[cfg(feature = "aws")]
pub use sqs::SqsQueue;

/// Loads the SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
#[cfg(feature = "aws")]
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

// Phase-A facade (notes/split-facades.md): the `crate::` paths these files had in pms-core.
use pms_domain::{domain, ports};
