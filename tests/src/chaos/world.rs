//! The world a lane runs in: one vendor's simulated property, and one deployment of the layer
//! for it — the table, queues, secrets and bus on moto (a stack provisioned from template.yaml)
//! or in memory — wired as the functions wire them: the webhook intake, the sync worker's job
//! processor, the writer (adapters without in-process retries), and ops' dead-letter redrive.
//! The crash tripwire and the regression watch sit between the code and the store and queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::default_factory;
use pms_app::names::ResourceNames;
use pms_app::processor::{Backoff, JobProcessor};
use pms_app::refresh::RefreshService;
use pms_app::runtime::Services;
use pms_app::sync::SyncService;
use pms_app::webhooks::{WebhookDeliveries, WebhookIntake};
use pms_app::writes::{DeadLetters, Executor, WriteRecords, WriteService};
use pms_aws::{DynamoStore, EventBridgeBus, SecretsManagerStore, SqsQueue};
use pms_domain::config::{HotelConfig, RateLimitSettings};
use pms_domain::domain::HotelId;
use pms_domain::memory::{MemoryBus, MemorySecrets, MemoryStore};
use pms_domain::pms::{RetryPolicy, RetrySettings};
use pms_domain::ports::{Clock, EventBus, ItemStore, Queue, SecretStore, SystemClock};
use pms_sim::setup::hotel_for;
use pms_sim::{PropertySetup, Provider, SimAdmin};
use pms_vendor_kit::pms::AdapterFactory;

use super::clock::OffsetClock;
use super::faults::{self, CrashQueue, CrashStore, SimFault, Tripwire};
use super::gate::Gate;
use super::queue::{LaneDelays, SqsLikeQueue};
use super::subscribers::{RecordingBus, Subscriber};
use super::watch::WatchStore;

/// The write queue's `maxReceiveCount` (template.yaml; the writer's WRITE_MAX_RECEIVE_COUNT).
pub const MAX_RECEIVES: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    /// `pms_domain::memory`'s store and queue (the queue given SQS's visibility and redrive).
    Memory,
    /// DynamoDB, SQS, Secrets Manager and EventBridge on moto: the AWS adapters.
    Moto,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Moto => "moto",
        }
    }
}

/// One deployment of the layer serving one hotel on one simulated property.
pub struct Deployment {
    pub backend: Backend,
    pub vendor: Provider,
    pub property: PropertySetup,
    pub hotel: HotelConfig,
    pub clock: Arc<OffsetClock>,
    /// Services over the crash-and-watch wrapped store and queue; adapters for reads and
    /// refreshes (the hotel's retry policy), with the real clock.
    pub services: Services,
    /// The writer's adapters: one attempt per call (the queue retries).
    pub writer_adapters: Arc<AdapterFactory>,
    pub writes: WriteService,
    pub executor: Executor,
    pub dead_letters: DeadLetters,
    pub intake: WebhookIntake,
    pub processor: JobProcessor,
    /// The scheduled delta sync (the sync worker's feed runs), on the real clock: its windows
    /// are the vendor's time, which the lane's fast-forward does not move.
    pub sync: SyncService,
    pub tripwire: Arc<Tripwire>,
    pub watch: Arc<WatchStore>,
    pub admin: SimAdmin,
    /// How long the vendor HTTP client waits (see [`super::ChaosConfig::client_timeout`]).
    pub client_timeout: Duration,
    /// Every request of the deployment to the vendor passes it; closed, connections are refused.
    pub gate: Gate,
    /// Delayed sends, waiting in the lane's time.
    pub delays: Arc<LaneDelays>,
    /// Every event the bus accepted, for the round's delivery phase.
    pub events: Arc<RecordingBus>,
    /// The hotel's partner subscriber (`super::subscribers`).
    pub subscriber: Subscriber,
}

/// Rate limits of the simulator and the hotels, scaled by `scale` (1 = the vendors' own).
pub fn limits(scale: u32) -> pms_sim::Limits {
    let s = scale.max(1) as usize;
    let mut limits = pms_sim::default_config().limits;
    for (requests, _) in limits.0.values_mut() {
        *requests *= s;
    }
    limits
}

fn rate_limit(vendor: Provider, scale: u32) -> RateLimitSettings {
    let l = limits(scale);
    let (requests, ms) = l.0.get(&vendor).copied().unwrap_or((usize::MAX, 1_000));
    RateLimitSettings {
        requests: requests as u32,
        per_seconds: (ms / 1000) as u32,
    }
}

struct Ports {
    names: ResourceNames,
    store: Arc<dyn ItemStore>,
    limiter_store: Arc<dyn ItemStore>,
    queue: Arc<dyn Queue>,
    secrets: Arc<dyn SecretStore>,
    bus: Arc<dyn EventBus>,
}

fn memory_ports(clock: Arc<dyn Clock>) -> Ports {
    let names = ResourceNames {
        table: "chaos".into(),
        sync_queue_url: "memory://SyncJobsQueue".into(),
        sync_dlq_url: "memory://SyncJobsDLQ".into(),
        // One lane: the chaos driver works the sync queue (its intake and processor are given
        // that queue), so webhook refreshes share it here.
        refresh_queue_url: "memory://SyncJobsQueue".into(),
        refresh_dlq_url: "memory://SyncJobsDLQ".into(),
        write_queue_url: "memory://WriteOpsQueue".into(),
        write_dlq_url: "memory://WriteOpsDLQ".into(),
        delivery_queue_url: "memory://SubscriptionDeliveriesQueue".into(),
        delivery_dlq_url: "memory://SubscriptionDeliveriesDLQ".into(),
        event_bus: "chaos".into(),
        secrets_prefix: "pms/chaos".into(),
        token_key_secret: "pms/chaos/token-key".into(),
        metrics_namespace: "PmsChaos".into(),
    };
    let redrive = BTreeMap::from([
        (
            names.sync_queue_url.clone(),
            (names.sync_dlq_url.clone(), MAX_RECEIVES),
        ),
        (
            names.write_queue_url.clone(),
            (names.write_dlq_url.clone(), MAX_RECEIVES),
        ),
    ]);
    let store = MemoryStore::new(clock);
    let limiter_store = Arc::new(store.with_clock(Arc::new(SystemClock)));
    Ports {
        names,
        store: Arc::new(store),
        limiter_store,
        queue: Arc::new(SqsLikeQueue::new(redrive, Duration::from_secs(30))),
        secrets: Arc::new(MemorySecrets::new()),
        bus: Arc::new(MemoryBus::new()),
    }
}

async fn moto_ports(clock: Arc<dyn Clock>) -> Ports {
    let stack = crate::TestStack::new().await;
    let names = stack.names();
    let sdk = &stack.sdk_config;
    Ports {
        store: Arc::new(DynamoStore::from_config(sdk, &names.table, clock)),
        limiter_store: Arc::new(DynamoStore::from_config(
            sdk,
            &names.table,
            Arc::new(SystemClock),
        )),
        queue: Arc::new(SqsQueue::from_config(sdk)),
        secrets: Arc::new(SecretsManagerStore::from_config(sdk)),
        bus: Arc::new(EventBridgeBus::from_config(sdk, &names.event_bus)),
        names,
    }
}

impl Deployment {
    #[allow(clippy::too_many_arguments)]
    pub async fn new(
        backend: Backend,
        vendor: Provider,
        property: PropertySetup,
        vendor_url: &str,
        admin: SimAdmin,
        hotel_id: HotelId,
        rate_scale: u32,
        client_timeout: Duration,
    ) -> Result<Deployment, String> {
        let clock = Arc::new(OffsetClock::new());
        let app_clock: Arc<dyn Clock> = clock.clone();
        let ports = match backend {
            Backend::Memory => memory_ports(app_clock.clone()),
            Backend::Moto => moto_ports(app_clock.clone()).await,
        };
        let tripwire = Arc::new(Tripwire::new());
        let watch = Arc::new(WatchStore::new(ports.store.clone()));
        let store: Arc<dyn ItemStore> = Arc::new(CrashStore::new(watch.clone(), tripwire.clone()));
        let delays = Arc::new(LaneDelays::new(ports.queue, clock.clone()));
        let queue: Arc<dyn Queue> = Arc::new(CrashQueue::new(delays.clone(), tripwire.clone()));
        // The vendor behind a gate of the deployment's own, so refusing connections to it
        // touches no other deployment.
        let parsed = reqwest::Url::parse(vendor_url).map_err(|e| e.to_string())?;
        let upstream = parsed
            .socket_addrs(|| None)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{vendor_url} has no address"))?;
        let gate = Gate::open(upstream).await.map_err(|e| e.to_string())?;
        let mut gated = parsed.clone();
        gated
            .set_port(Some(gate.addr().port()))
            .map_err(|()| format!("{vendor_url} takes no port"))?;
        let vendor_url = gated.as_str().trim_end_matches('/');
        let events = Arc::new(RecordingBus::new(ports.bus));
        let mut services = Services::from_parts(
            ports.names.clone(),
            app_clock.clone(),
            store,
            queue.clone(),
            ports.secrets,
            events.clone(),
        );
        let http = reqwest::Client::builder()
            .timeout(client_timeout)
            .connect_timeout(client_timeout)
            .build()
            .map_err(|e| e.to_string())?;
        // Adapters pace real requests: the real clock, and a view of the table on it.
        let real: Arc<dyn Clock> = Arc::new(SystemClock);
        let factory = || {
            default_factory(
                services.secrets.clone(),
                real.clone(),
                &ports.names.secrets_prefix,
            )
            .with_store(ports.limiter_store.clone())
            .with_http(http.clone())
        };
        let reader_adapters = Arc::new(factory());
        let writer_adapters = Arc::new(
            factory()
                .with_retry_override(RetryPolicy::none())
                .with_priority(pms_vendor_kit::pms::ratelimit::Priority::Write),
        );
        services.adapters = reader_adapters;

        let (mut hotel, credentials) =
            hotel_for(vendor, &property, vendor_url, hotel_id).map_err(|e| e.to_string())?;
        // Quick in-process retries (the default attempt count, shorter delays), and the scaled
        // limit.
        hotel.retry = RetrySettings {
            initial_delay: 50,
            max_delay: 400,
            ..RetrySettings::default()
        };
        hotel.rate_limit = Some(rate_limit(vendor, rate_scale));
        services
            .secrets
            .put(
                &services.adapters.credentials_secret(&hotel.hotel_id),
                &credentials,
            )
            .await
            .map_err(|e| e.to_string())?;
        services
            .hotels
            .create(&hotel)
            .await
            .map_err(|e| e.to_string())?;

        let records = WriteRecords::new(services.store.clone(), app_clock.clone());
        let writes = WriteService::new(
            records.clone(),
            queue.clone(),
            ports.names.write_queue_url.clone(),
        );
        // The writer's backoff, shortened like the hotel's retries (the queue applies it).
        let executor = Executor::new(records.clone(), MAX_RECEIVES).with_backoff(RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            ..RetryPolicy::default()
        });
        let dead_letters = DeadLetters::new(
            records,
            writes.clone(),
            queue.clone(),
            ports.names.write_queue_url.clone(),
            ports.names.write_dlq_url.clone(),
        );
        let deliveries = WebhookDeliveries::new(services.store.clone(), app_clock.clone());
        let intake = WebhookIntake::new(
            deliveries.clone(),
            queue.clone(),
            ports.names.sync_queue_url.clone(),
            app_clock.clone(),
        );
        let processor = JobProcessor::new(
            RefreshService::new(
                services.hotels.clone(),
                services.adapters.clone(),
                services.merger.clone(),
                deliveries,
            ),
            queue,
            ports.names.sync_queue_url.clone(),
        )
        // The driver decides when a failed job comes back.
        .with_backoff(Backoff {
            base: Duration::ZERO,
            cap: Duration::ZERO,
        });
        let sync = SyncService::new(&Services {
            clock: real.clone(),
            ..services.clone()
        });
        // Receivers check `webhook-timestamp` against their own clock: the real one, never
        // the lane's fast-forwarded time; the store's view of expiry must be on the same clock
        // (the lane's aging would expire the delivery records as they are made).
        let subscriber = Subscriber::new(
            &Services {
                store: ports.limiter_store.clone(),
                queue: delays.clone(),
                clock: real.clone(),
                ..services.clone()
            },
            &hotel.hotel_id,
        )
        .await?;
        Ok(Deployment {
            events,
            subscriber,
            sync,
            backend,
            vendor,
            property,
            hotel,
            clock,
            services,
            writer_adapters,
            writes,
            executor,
            dead_letters,
            intake,
            processor,
            tripwire,
            watch,
            admin,
            client_timeout,
            gate,
            delays,
        })
    }

    /// Switches the vendor's fault for this deployment (the simulator's faults are the vendor's:
    /// one lane per vendor runs at a time).
    pub async fn set_fault(&self, fault: &SimFault) -> Result<(), String> {
        faults::apply(
            &self.admin,
            Some(&self.gate),
            self.vendor,
            fault,
            self.client_timeout,
        )
        .await
    }

    /// The PMS back to normal: no fault, the gate open.
    pub async fn clear_fault(&self) -> Result<(), String> {
        faults::clear(&self.admin, Some(&self.gate), self.vendor).await
    }

    pub fn hotel_id(&self) -> &HotelId {
        &self.hotel.hotel_id
    }

    pub fn names(&self) -> &ResourceNames {
        &self.services.names
    }
}
