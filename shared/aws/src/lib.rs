//! AWS adapters of the ports. Configuration comes from the environment: the SDK's own
//! `AWS_ENDPOINT_URL` points every client at moto's server locally, so local runs take the very
//! code paths they take in AWS.

mod attr;
mod dynamo;
mod errors;
mod eventbridge;
mod secrets;
mod sqs;

pub use dynamo::{to_attrs as item_attributes, DynamoStore};
pub use eventbridge::EventBridgeBus;
pub use secrets::SecretsManagerStore;
pub use sqs::SqsQueue;

/// Loads the SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
