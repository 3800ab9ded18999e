//! Wiring for functions and tools: every port built once per process (Lambda init), shared by
//! every invocation. pms-runtime builds them from the environment over AWS (`from_env`); each
//! process registers the vendors it serves ([`Services::with_vendor`]).

use std::sync::Arc;

pub use crate::names::{MissingEnv, ResourceNames};
use crate::records::{Merger, ReservationQueries, Retention};
use crate::registry::{HotelRegistry, TokenService};
use pms_domain::pms::RetryPolicy;
use pms_domain::ports::{CachedSecrets, Clock, EventBus, ItemStore, Queue, SecretStore};
use pms_vendor_kit::pms::{AdapterFactory, Vendor};

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
    /// Each hotel's PMS circuit breaker (`pms_app::health`), shared through the table.
    pub breakers: crate::health::Breakers,
}

impl Services {
    /// The same services with adapters that make one attempt per call (for the writer, whose
    /// retries are the queue's redeliveries delayed by the hotel's retry backoff) and draw from the share of
    /// each hotel's PMS budget kept for writes.
    pub fn without_in_process_retries(mut self) -> Self {
        self.adapters = Arc::new(
            self.adapters
                .fresh()
                .with_retry_override(RetryPolicy::none())
                .with_priority(pms_vendor_kit::pms::ratelimit::Priority::Write),
        );
        self
    }

    /// Serves the hotels of this vendor (a vendor crate's `vendor()`): a process registers the
    /// vendors it needs, and links no other.
    pub fn with_vendor(mut self, vendor: Vendor) -> Self {
        self.adapters = Arc::new(self.adapters.fresh().with_vendor(vendor));
        self
    }

    pub fn with_vendors(self, vendors: impl IntoIterator<Item = Vendor>) -> Self {
        vendors.into_iter().fold(self, Self::with_vendor)
    }

    /// Assembles services from any port implementations (tests use in-memory ones), with no
    /// vendor registered yet.
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
            AdapterFactory::new(secrets.clone(), clock.clone(), &names.secrets_prefix)
                .with_store(store.clone())
                .with_stored_reservations(Arc::new(crate::records::StoredBookings::new(
                    store.clone(),
                ))),
        );
        Self {
            hotels: HotelRegistry::new(store.clone()),
            tokens: TokenService::new(
                store.clone(),
                secrets.clone(),
                names.token_key_secret.clone(),
                clock.clone(),
            ),
            merger: Merger::new(store.clone(), bus.clone(), clock.clone()).with_retention(
                Retention::from_source(Arc::new(HotelRegistry::new(store.clone()))),
            ),
            reservations: ReservationQueries::new(store.clone()),
            breakers: crate::health::Breakers::new(store.clone(), clock.clone())
                .with_metrics(names.metrics_namespace.clone()),
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
