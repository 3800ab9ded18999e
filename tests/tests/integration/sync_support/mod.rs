//! What the scheduled-sync tests share: one hotel on a vendor simulator, a stack on moto, the
//! services wired as the functions wire them (over a store that logs the keys it writes), the
//! scheduler and the sync worker called in process with real events (an EventBridge Scheduled
//! Event, SQS batches received from the real queue), and a tap on the event bus.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};
use pms_app::jobs::{Feed, FeedJob, SyncJob};
use pms_app::processor::{Backoff, JobProcessor};
use pms_app::records::StoredRecord;
use pms_app::refresh::RefreshService;
use pms_app::runtime::Services;
use pms_app::sync::{FeedState, SyncScheduler, SyncService, TickReport};
use pms_app::sync_runs::SyncRun;
use pms_app::webhooks::WebhookDeliveries;
use pms_domain::domain::{HotelId, Reservation};
use pms_domain::ports::{ItemKey, KeyCondition, Partition, Query, SecretStore};
use pms_sim::setup::hotel_for;
use pms_sim::{Provider, ReservationPatch, SimAdmin, SimConfig, SimHotel, Simulator};
use pms_testkit::counting::CountingStore;
use serde_json::Value;
use sync_worker_fn::Worker;

use super::common::{observe_bus, sqs_event, EventTap, Stack};

/// The EventBridge rule's rate (template.yaml: `rate(5 minutes)`).
pub const PERIOD_MINUTES: i64 = 5;

/// Sort-key prefixes of the sync's own bookkeeping: run records, feed state (lease, tick,
/// watermark), the scheduler's tick markers, and the vendor rate limiter's shared counters.
pub const BOOKKEEPING: &[&str] = &["SYNCRUN#", "SYNCSTATE#", "SYNCTICK#", "RATE#"];

/// One process's wiring (a Lambda instance): everything is built anew on a restart.
pub struct Process {
    pub store: Arc<CountingStore>,
    pub services: Services,
    pub sync: SyncService,
    pub worker: Worker,
    pub scheduler: SyncScheduler,
}

impl Process {
    pub fn new(stack: &Stack) -> Process {
        Process::serving(stack, None)
    }

    /// A process whose build registers `vendor` in place of the stock one of its provider
    /// (a vendor adapter with test settings, e.g. small pages).
    pub fn serving(stack: &Stack, vendor: Option<pms_vendor_kit::pms::Vendor>) -> Process {
        let (store, _, services) = stack.counted_services();
        let services = match vendor {
            Some(v) => services.with_vendor(v),
            None => services,
        };
        let sync = SyncService::new(&services);
        let refresh = RefreshService::new(
            services.hotels.clone(),
            services.adapters.clone(),
            services.merger.clone(),
            WebhookDeliveries::new(services.store.clone(), services.clock.clone()),
        );
        // No backoff beyond a vendor's Retry-After: a failed message is visible again at once.
        let processor = JobProcessor::new(
            refresh,
            services.queue.clone(),
            services.names.sync_queue_url.clone(),
        )
        .with_feed_runner(Arc::new(sync.clone()))
        .with_backoff(Backoff {
            base: Duration::ZERO,
            cap: Duration::ZERO,
        });
        let worker = Worker::with_processor(&services, processor);
        let scheduler = SyncScheduler::new(&services, chrono::Duration::minutes(PERIOD_MINUTES));
        Process {
            store,
            services,
            sync,
            worker,
            scheduler,
        }
    }
}

pub struct Bed {
    pub vendor: Provider,
    pub stack: Stack,
    pub sim: Simulator,
    pub admin: SimAdmin,
    pub property: String,
    pub hotel: HotelId,
    pub p: Process,
    pub tap: EventTap,
    sqs: aws_sdk_sqs::Client,
    events_seen: usize,
    last_tick: Option<DateTime<Utc>>,
}

/// A bus event as the tap received it: detail-type and detail.
pub type Event = (String, Value);

impl Bed {
    /// A hotel on `vendor`'s simulated property (the simulator's default data: 120
    /// reservations around today, 40 rooms), registered with the vendor's real rate limit.
    pub async fn new(vendor: Provider) -> Bed {
        Bed::with_config(vendor, pms_sim::default_config()).await
    }

    pub async fn with_config(vendor: Provider, config: SimConfig) -> Bed {
        let stack = Stack::new().await;
        let sim = Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator");
        let setup = sim.context.config.properties[&vendor][0].clone();
        let hotel = HotelId::parse(format!("sync-{}", vendor)).expect("hotel id");
        let (config, credentials) =
            hotel_for(vendor, &setup, &sim.vendor_url(vendor), hotel.clone()).expect("hotel");
        let p = Process::new(&stack);
        p.services
            .secrets
            .put(
                &p.services.adapters.credentials_secret(&hotel),
                &credentials,
            )
            .await
            .expect("credentials");
        p.services.hotels.create(&config).await.expect("hotel");
        let tap = observe_bus(&stack).await;
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config);
        let admin = sim.admin();
        Bed {
            vendor,
            property: setup.property_id.clone(),
            stack,
            sim,
            admin,
            hotel,
            p,
            tap,
            sqs,
            events_seen: 0,
            last_tick: None,
        }
    }

    /// A cold start: new adapters, caches and services, as a new Lambda instance has; only
    /// what is persisted (table, queue, secrets) carries over.
    pub fn restart(&mut self) {
        self.p = Process::new(&self.stack);
    }

    /// The next tick's time: now, to the second, after the previous tick (waiting for the
    /// next second if need be), so runs of a tick never start before it.
    pub async fn next_tick(&mut self) -> DateTime<Utc> {
        loop {
            let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
            if self.last_tick.is_none_or(|last| now > last) {
                self.last_tick = Some(now);
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The EventBridge Scheduled Event of a tick, as the rule delivers it.
    pub fn scheduled_event(&self, time: DateTime<Utc>) -> Value {
        pms_local::driver::scheduled_event(
            &format!(
                "arn:aws:events:us-east-1:123456789012:rule/{}-SyncSchedulerFunctionTick",
                self.stack.stack_name
            ),
            time,
        )
    }

    /// One scheduler tick, then the worker until the sync queue is empty. Returns the tick's
    /// report and the worker's answers.
    pub async fn tick(&mut self) -> (TickReport, Vec<SqsBatchResponse>) {
        let t = self.next_tick().await;
        let report = self
            .p
            .scheduler
            .tick(t, &format!("tick-{}", t.timestamp()))
            .await
            .expect("tick");
        let answers = self.drain().await;
        (report, answers)
    }

    /// Puts a feed job of this hotel on the sync queue, as the scheduler does.
    pub async fn send_job(&self, feed: Feed, tick: DateTime<Utc>) -> FeedJob {
        let job = FeedJob {
            hotel: self.hotel.clone(),
            feed,
            scheduled_at: tick,
            correlation_id: format!("test-{}-{}", feed, tick.timestamp()),
            continuation: None,
        };
        self.p
            .services
            .queue
            .send(
                &self.p.services.names.sync_queue_url,
                SyncJob::Feed(job.clone()).to_message().expect("encode job"),
            )
            .await
            .expect("send job");
        job
    }

    /// Receives up to 10 messages of the sync queue, with every attribute Lambda's event
    /// carries.
    async fn receive(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(self.stack.queue_url("SyncJobsQueue"))
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    async fn queue_arn(&self) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(self.stack.queue_url("SyncJobsQueue"))
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("arn")
    }

    /// One round of the Lambda SQS event source: receive a batch, invoke the worker with it,
    /// delete what it did not report as failed. `None` when the queue is empty.
    pub async fn worker_round(&self) -> Option<(Vec<Value>, SqsBatchResponse)> {
        self.worker_round_within(None).await
    }

    /// [`Self::worker_round`] in an invocation with `remaining` before its timeout (feed runs
    /// stop between pages once their share of it is spent).
    pub async fn worker_round_within(
        &self,
        remaining: Option<Duration>,
    ) -> Option<(Vec<Value>, SqsBatchResponse)> {
        let messages = self.receive().await;
        if messages.is_empty() {
            return None;
        }
        let event = sqs_event(&messages, &self.queue_arn().await);
        let event: SqsEvent = serde_json::from_value(event).expect("SQS event");
        let response = self
            .p
            .worker
            .handle_within(event, remaining)
            .await
            .expect("worker");
        for f in &response.batch_item_failures {
            assert!(
                !f.item_identifier.is_empty(),
                "a batch item failure without an id"
            );
        }
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if !failed.contains(&m.message_id().unwrap_or_default()) {
                self.sqs
                    .delete_message()
                    .queue_url(self.stack.queue_url("SyncJobsQueue"))
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        let bodies = messages
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null))
            .collect();
        Some((bodies, response))
    }

    /// Runs the worker until the sync queue is empty (bounded).
    pub async fn drain(&self) -> Vec<SqsBatchResponse> {
        let mut out = Vec::new();
        for _ in 0..30 {
            match self.worker_round().await {
                Some((_, r)) => out.push(r),
                None => break,
            }
        }
        out
    }

    /// Job bodies waiting on the sync queue, left there (received with a zero visibility
    /// timeout).
    pub async fn peek_queue(&self) -> Vec<Value> {
        self.sqs
            .receive_message()
            .queue_url(self.stack.queue_url("SyncJobsQueue"))
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null))
            .collect()
    }

    /// The hotel's recorded runs started at or after `since`, oldest first.
    pub async fn runs_since(&self, since: DateTime<Utc>) -> Vec<SyncRun> {
        let mut runs: Vec<SyncRun> = self
            .p
            .sync
            .runs()
            .list(&self.hotel, 100)
            .await
            .expect("runs")
            .into_iter()
            .filter(|r| r.started_at >= since)
            .collect();
        runs.reverse();
        runs
    }

    /// The hotel's recorded runs of one job (by its correlation id), oldest first.
    pub async fn runs_of(&self, correlation_id: &str) -> Vec<SyncRun> {
        let mut runs: Vec<SyncRun> = self
            .p
            .sync
            .runs()
            .list(&self.hotel, 100)
            .await
            .expect("runs")
            .into_iter()
            .filter(|r| r.correlation_id.as_deref() == Some(correlation_id))
            .collect();
        runs.reverse();
        runs
    }

    pub async fn feed_state(&self, feed: Feed) -> Option<FeedState> {
        self.p
            .sync
            .states()
            .get(&self.hotel, feed)
            .await
            .expect("feed state")
    }

    /// Stored bookings by vendor id.
    pub async fn bookings(&self) -> BTreeMap<String, Reservation> {
        self.bookings_of(&self.hotel).await
    }

    /// Stored bookings of `hotel` (another hotel of the same stack) by vendor id.
    pub async fn bookings_of(&self, hotel: &HotelId) -> BTreeMap<String, Reservation> {
        let q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith("BOOKING#".into()),
        )
        .limit(1000);
        self.p
            .services
            .store
            .query_all(&q)
            .await
            .expect("bookings")
            .iter()
            .map(|i| {
                let r: StoredRecord<Reservation> = i.decode().expect("booking");
                (r.record.id.external().to_string(), r.record)
            })
            .collect()
    }

    /// Stored room statuses' sort keys.
    pub async fn room_keys(&self) -> Vec<String> {
        let q = Query::primary(
            Partition::Hotel(self.hotel.clone()),
            KeyCondition::BeginsWith("ROOM#".into()),
        )
        .limit(1000);
        self.p
            .services
            .store
            .query_all(&q)
            .await
            .expect("rooms")
            .into_iter()
            .map(|i| i.key.sort)
            .collect()
    }

    /// Sort keys of the hotel's items starting with `prefix` (`PMSAVAIL#`...).
    pub async fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let q = Query::primary(
            Partition::Hotel(self.hotel.clone()),
            KeyCondition::BeginsWith(prefix.into()),
        )
        .limit(1000);
        self.p
            .services
            .store
            .query_all(&q)
            .await
            .expect("items")
            .into_iter()
            .map(|i| i.key.sort)
            .collect()
    }

    /// The simulated property's data as the vendor holds it now.
    pub async fn vendor_data(&self) -> SimHotel {
        self.admin
            .hotel(self.vendor, &self.property)
            .await
            .expect("sim hotel")
    }

    /// A change made "at the PMS" (stamps the reservation's modification time).
    pub async fn patch(&self, id: &str, patch: &ReservationPatch) {
        self.admin
            .patch_reservation(self.vendor, &self.property, id, patch)
            .await
            .expect("patch");
    }

    /// Bus events delivered since the last call.
    pub async fn new_events(&mut self) -> Vec<Event> {
        // EventBridge delivers to the tap queue asynchronously on moto too: give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The tap reads 50 at a time: read until nothing more comes.
        let mut all = self.tap.events().await;
        loop {
            let more = self.tap.events().await;
            if more.len() == all.len() {
                break;
            }
            all = more;
        }
        let fresh = all[self.events_seen.min(all.len())..].to_vec();
        self.events_seen = all.len();
        fresh
    }

    /// Keys written since the last call.
    pub fn take_writes(&self) -> Vec<ItemKey> {
        self.p.store.take_writes()
    }

    /// The vendor's counters on the simulator.
    pub async fn counters(&self) -> pms_sim::VendorCounters {
        self.admin.counters().await.expect("counters")[&self.vendor].clone()
    }

    /// The canonical id (`<provider>:<vendor id>`) of a vendor reservation id, as run records
    /// and events name it.
    pub fn entity(&self, vendor_id: &str) -> String {
        format!("{}:{vendor_id}", self.vendor)
    }
}

/// Writes that are not the sync's bookkeeping (records: bookings, rooms, guests...).
pub fn record_writes(writes: &[ItemKey]) -> Vec<&ItemKey> {
    writes
        .iter()
        .filter(|k| !BOOKKEEPING.iter().any(|p| k.sort.starts_with(p)))
        .collect()
}

/// How many of `writes` have a sort key starting with `prefix`.
pub fn count_prefix(writes: &[ItemKey], prefix: &str) -> usize {
    writes.iter().filter(|k| k.sort.starts_with(prefix)).count()
}

/// How many events of `detail_type` name `entity`.
pub fn count_events(events: &[Event], detail_type: &str, entity: &str) -> usize {
    events
        .iter()
        .filter(|(t, d)| t == detail_type && d["entityId"] == entity)
        .count()
}

/// Generates one `#[tokio::test]` per vendor for each scenario `async fn name(vendor: Provider)`
/// of the calling file: `mod ohip { fn name }`, `mod mews { .. }`, `mod cloudbeds { .. }`.
#[macro_export]
macro_rules! for_each_vendor {
    ($($name:ident),* $(,)?) => {
        mod ohip {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(pms_opera::PROVIDER).await
                }
            )*
        }
        mod mews {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(pms_mews::PROVIDER).await
                }
            )*
        }
        mod cloudbeds {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(pms_cloudbeds::PROVIDER).await
                }
            )*
        }
    };
}
