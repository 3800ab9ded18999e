//! Wiring for functions and tools: every port built from the environment once per process
//! (Lambda init), shared by every invocation.

use std::sync::Arc;

use crate::aws::ResourceNames;
#[cfg(feature = "aws")]
use crate::aws::{
    sdk_config, DynamoStore, EventBridgeBus, MissingEnv, SecretsManagerStore, SqsQueue,
};
use crate::pms::AdapterFactory;
#[cfg(feature = "aws")]
use crate::ports::SystemClock;
use crate::ports::{CachedSecrets, Clock, EventBus, ItemStore, Queue, SecretStore};
use crate::records::{Merger, ReservationQueries};
use crate::registry::{HotelRegistry, TokenService};

/// How long secrets stay cached in a warm Lambda.
pub const SECRET_TTL_SECONDS: i64 = 300;

#[derive(Clone)]
pub struct Services {
    pub names: ResourceNames,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn ItemStore>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<CachedSecrets>,
    pub bus: Arc<dyn EventBus>,
    pub hotels: HotelRegistry,
    pub tokens: TokenService,
    pub merger: Merger,
    pub reservations: ReservationQueries,
    pub adapters: Arc<AdapterFactory>,
}

impl Services {
    /// Builds every AWS adapter from the environment contract.
    #[cfg(feature = "aws")]
    pub async fn from_env() -> Result<Self, MissingEnv> {
        let names = ResourceNames::from_env()?;
        let config = sdk_config().await;
        Ok(Self::from_aws(names, &config, Arc::new(SystemClock)))
    }

    #[cfg(feature = "aws")]
    pub fn from_aws(
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

    /// The same services with adapters that make one attempt per call (for the writer, whose
    /// retries are the queue's redeliveries with the seed's backoff) and draw from the share of
    /// each hotel's PMS budget kept for writes.
    pub fn without_in_process_retries(mut self) -> Self {
        self.adapters = Arc::new(
            crate::pms::default_factory(
                self.secrets.clone(),
                self.clock.clone(),
                &self.names.secrets_prefix,
            )
            .with_store(self.store.clone())
            .with_retry_override(crate::pms::RetryPolicy::none())
            .with_priority(crate::pms::ratelimit::Priority::Write),
        );
        self
    }

    /// Assembles services from any port implementations (tests use in-memory ones).
    pub fn from_parts(
        names: ResourceNames,
        clock: Arc<dyn Clock>,
        store: Arc<dyn ItemStore>,
        queue: Arc<dyn Queue>,
        secrets: Arc<dyn SecretStore>,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        let secrets = Arc::new(CachedSecrets::new(
            secrets,
            clock.clone(),
            chrono::Duration::seconds(SECRET_TTL_SECONDS),
        ));
        let adapters = Arc::new(
            crate::pms::default_factory(secrets.clone(), clock.clone(), &names.secrets_prefix)
                .with_store(store.clone()),
        );
        Self {
            hotels: HotelRegistry::new(store.clone()),
            tokens: TokenService::new(
                store.clone(),
                secrets.clone(),
                names.token_key_secret.clone(),
                clock.clone(),
            ),
            merger: Merger::new(store.clone(), bus.clone(), clock.clone()),
            reservations: ReservationQueries::new(store.clone()),
            names,
            clock,
            store,
            queue,
            secrets,
            bus,
            adapters,
        }
    }
}
