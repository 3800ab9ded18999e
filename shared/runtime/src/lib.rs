//! Wiring for the functions and tools: [`Services`] from the environment contract over the AWS
//! adapters ([`AwsServices`]). Vendors are not wired here: each function registers the vendor
//! crates it serves (`Services::with_vendor`, one line each), so it links no other.

use std::future::Future;
use std::sync::Arc;

use pms_app::runtime::{MissingEnv, ResourceNames, Services};
use pms_aws::{sdk_config, DynamoStore, EventBridgeBus, SecretsManagerStore, SqsQueue};
use pms_domain::ports::{Clock, EventBus, ItemStore, Queue, SecretStore, SystemClock};

/// [`Services`] over AWS.
pub trait AwsServices: Sized {
    /// Builds every AWS adapter from the environment contract.
    fn from_env() -> impl Future<Output = Result<Self, MissingEnv>> + Send;

    fn from_aws(
        names: ResourceNames,
        config: &aws_config::SdkConfig,
        clock: Arc<dyn Clock>,
    ) -> Self;
}

impl AwsServices for Services {
    async fn from_env() -> Result<Self, MissingEnv> {
        let names = ResourceNames::from_env()?;
        let config = sdk_config().await;
        Ok(Self::from_aws(names, &config, Arc::new(SystemClock)))
    }

    fn from_aws(
        names: ResourceNames,
        config: &aws_config::SdkConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let store: Arc<dyn ItemStore> = Arc::new(DynamoStore::from_config(
            config,
            &names.table,
            clock.clone(),
        ));
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::from_config(config));
        let secrets: Arc<dyn SecretStore> = Arc::new(SecretsManagerStore::from_config(config));
        let bus: Arc<dyn EventBus> =
            Arc::new(EventBridgeBus::from_config(config, &names.event_bus));
        Self::from_parts(names, clock, store, queue, secrets, bus)
    }
}
