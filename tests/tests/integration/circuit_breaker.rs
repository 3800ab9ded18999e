//! Unhealthy PMSs are contained (issue 15, points 3 and 4), on moto and the vendor simulators:
//! a hotel whose PMS refuses connections opens its circuit breaker after repeated failures; its
//! scheduled feed jobs are then completed as skipped (never burning retries into the DLQ), the
//! scheduler leaves it out until a probe is due, one job probes per interval with a doubling
//! back-off, and the breaker closes by itself once the PMS answers. Webhook refreshes travel on
//! their own queue. Partner reads while open answer from the cache (stale) or `PMS_UNAVAILABLE`
//! without calling the PMS.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::{DateTime, Utc};
use pms_app::health::{Breaker, CircuitState};
use pms_app::jobs::{JobSource, RefreshJob, SyncJob};
use pms_app::processor::{Backoff, JobProcessor, Processed};
use pms_app::refresh::RefreshService;
use pms_app::registry::Scope;
use pms_app::runtime::Services;
use pms_app::sync::{SyncScheduler, SyncService, TickReport};
use pms_app::webhooks::WebhookDeliveries;
use pms_domain::domain::{ExternalId, Feed, HotelId};
use pms_domain::pms::{EntityKind, EntityRef};
use pms_domain::ports::{Clock, ManualClock, SecretStore};
use pms_sim::setup::hotel_for;
use pms_sim::{FaultConfig, Simulator};
use pms_tests::writes::{guest_record_id, WritesStack};
use serde_json::json;
use sync_worker_fn::Worker;

use super::common::{sqs_event, Stack};

/// A loopback port nothing listens on: connections to it are refused.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// Two Cloudbeds hotels on one stack: `healthy` on the simulator, `dead` on a closed port.
/// Services run on a manual clock (breaker intervals pass without waiting); the worker is wired
/// as the function wires it (both queues, the breakers), with no retry delay.
struct Fleet {
    stack: Stack,
    sim: Simulator,
    clock: Arc<ManualClock>,
    services: Services,
    processor: JobProcessor,
    worker: Worker,
    scheduler: SyncScheduler,
    sqs: aws_sdk_sqs::Client,
    healthy: HotelId,
    dead: HotelId,
    sim_url: String,
}

impl Fleet {
    async fn new() -> Fleet {
        let stack = Stack::new().await;
        let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let start = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let services = stack.services_with_clock(clock.clone());
        let vendor = pms_cloudbeds::PROVIDER;
        let setup = sim.context.config.properties[&vendor][0].clone();
        let sim_url = sim.vendor_url(vendor);
        let mut ids = Vec::new();
        for (tag, url) in [
            ("healthy", sim_url.clone()),
            (
                "dead",
                format!("http://127.0.0.1:{}/api/v1.3", closed_port()),
            ),
        ] {
            let id = HotelId::parse(format!("cb-{tag}")).unwrap();
            let (mut config, credentials) = hotel_for(vendor, &setup, &url, id.clone()).unwrap();
            // One attempt per call: the breaker, not in-process retries, is under test.
            config.retry.max_attempts = 1;
            services
                .secrets
                .put(&services.adapters.credentials_secret(&id), &credentials)
                .await
                .unwrap();
            services.hotels.create(&config).await.unwrap();
            ids.push(id);
        }
        let refresh = RefreshService::new(
            services.hotels.clone(),
            services.adapters.clone(),
            services.merger.clone(),
            WebhookDeliveries::new(services.store.clone(), services.clock.clone()),
        );
        let processor = JobProcessor::new(
            refresh,
            services.queue.clone(),
            services.names.sync_queue_url.clone(),
        )
        .with_feed_runner(Arc::new(SyncService::new(&services)))
        .with_refresh_queue(services.names.refresh_queue_url.clone())
        .with_breakers(services.breakers.clone())
        .with_backoff(Backoff {
            base: Duration::ZERO,
            cap: Duration::ZERO,
        });
        let worker = Worker::with_processor(&services, processor.clone());
        let scheduler = SyncScheduler::new(&services, chrono::Duration::minutes(5));
        let sqs = stack.sqs();
        let dead = ids.pop().unwrap();
        let healthy = ids.pop().unwrap();
        Fleet {
            stack,
            sim,
            clock,
            services,
            processor,
            worker,
            scheduler,
            sqs,
            healthy,
            dead,
            sim_url,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn breaker(&self, hotel: &HotelId) -> Breaker {
        self.services.breakers.get(hotel).await.unwrap()
    }

    /// One worker invocation on a batch of `queue` (as Lambda's event source delivers it),
    /// deleting what it did not report failed. `None` when the queue is empty.
    async fn round(&self, queue: &str) -> Option<SqsBatchResponse> {
        let url = self.stack.queue_url(queue).to_owned();
        let messages = self
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return None;
        }
        let arn = self.stack.outputs.queue_arns[queue].clone();
        let event: SqsEvent = serde_json::from_value(sqs_event(&messages, &arn)).unwrap();
        let response = self.worker.handle(event).await.unwrap();
        for m in &messages {
            let id = m.message_id().unwrap_or_default();
            if !response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                self.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
        Some(response)
    }

    /// Runs the worker until both queues are empty (bounded); returns the batch item failures.
    async fn drain(&self) -> usize {
        let mut failures = 0;
        for _ in 0..40 {
            let mut any = false;
            for q in ["RefreshJobsQueue", "SyncJobsQueue"] {
                if let Some(r) = self.round(q).await {
                    failures += r.batch_item_failures.len();
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        failures
    }

    /// A scheduler tick at the clock's time (then a second passes), and the worker until the
    /// queues are empty.
    async fn tick(&self) -> (TickReport, usize) {
        let t = self.now();
        self.clock.advance(chrono::Duration::seconds(1));
        let report = self
            .scheduler
            .tick(t, &format!("tick-{}", t.timestamp()))
            .await
            .unwrap();
        (report, self.drain().await)
    }

    async fn depth(&self, queue: &str) -> u64 {
        self.services
            .queue
            .depth(self.stack.queue_url(queue))
            .await
            .unwrap()
    }

    fn refresh_of(&self, hotel: &HotelId) -> SyncJob {
        SyncJob::Refresh(RefreshJob {
            hotel: hotel.clone(),
            entities: vec![EntityRef {
                kind: EntityKind::Reservation,
                id: ExternalId::parse("123").unwrap(),
            }],
            source: JobSource::Manual,
            received_at: self.now(),
            correlation_id: "breaker-test".into(),
            attempt: 1,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pms_refusing_connections_is_contained_probed_with_back_off_and_closes_by_itself() {
    let f = Fleet::new().await;

    // Tick 1: both hotels' feeds (every feed is due on the first tick). The dead hotel's first failures open its breaker; its
    // jobs then complete as skipped instead of going round the queue into the DLQ.
    let (first, failures) = f.tick().await;
    assert_eq!(first.jobs_enqueued, 2 * Feed::ALL.len());
    let dead = f.breaker(&f.dead).await;
    assert_eq!(dead.state(f.now()), CircuitState::Open, "{dead:?}");
    assert!(
        failures < 5,
        "{failures} failed deliveries: jobs kept failing after the breaker opened"
    );
    assert_eq!(f.depth("SyncJobsDLQ").await, 0, "nothing dead-lettered");
    assert_eq!(f.depth("SyncJobsQueue").await, 0);
    assert_eq!(f.breaker(&f.healthy).await, Breaker::default());
    let healthy_runs = SyncService::new(&f.services)
        .runs()
        .list(&f.healthy, 10)
        .await
        .unwrap();
    assert_eq!(
        healthy_runs.len(),
        Feed::ALL.len(),
        "the healthy hotel synced every feed"
    );

    // Tick 2: the scheduler leaves the dead hotel out until its probe is due.
    let (second, _) = f.tick().await;
    assert_eq!(second.circuits_open, 1);
    assert_eq!(second.skipped_circuit_open, 1);

    // A refresh of the dead hotel is held on the refresh queue, delayed to the probe; nothing
    // is attempted or dead-lettered.
    let held = f.processor.process(&f.refresh_of(&f.dead)).await.unwrap();
    assert!(matches!(held, Processed::RefreshHeld { .. }), "{held:?}");
    assert_eq!(f.depth("RefreshJobsDLQ").await, 0);

    // Five minutes on: one job probes, fails, and the next probe is ten minutes away.
    f.clock.advance(chrono::Duration::minutes(5));
    let (third, failures) = f.tick().await;
    assert_eq!(third.skipped_circuit_open, 0, "the probe is due");
    assert_eq!(failures, 0);
    let Breaker::Open {
        backoff_seconds,
        next_probe_at,
        ..
    } = f.breaker(&f.dead).await
    else {
        panic!("the failed probe closed the breaker")
    };
    assert_eq!(backoff_seconds, 600);
    assert!(next_probe_at > f.now() + chrono::Duration::minutes(9));
    assert_eq!(f.depth("SyncJobsDLQ").await, 0);

    // The PMS is back (the hotel's base URL now answers): the next probe closes the breaker and
    // the hotel syncs again.
    let mut config = f.services.hotels.require(&f.dead).await.unwrap();
    config.vendor.base_url = Some(f.sim_url.parse().unwrap());
    config.updated_at = Utc::now();
    f.services.hotels.update(&config).await.unwrap();
    f.clock.advance(chrono::Duration::minutes(10));
    let (fourth, failures) = f.tick().await;
    assert_eq!(fourth.skipped_circuit_open, 0);
    assert_eq!(failures, 0);
    assert_eq!(
        f.breaker(&f.dead).await,
        Breaker::default(),
        "closed by itself"
    );
    let (fifth, _) = f.tick().await;
    assert_eq!((fifth.circuits_open, fifth.skipped_circuit_open), (0, 0));
    let runs = SyncService::new(&f.services)
        .runs()
        .list(&f.dead, 20)
        .await
        .unwrap();
    assert!(
        runs.iter()
            .any(|r| r.status == pms_app::sync_runs::SyncRunStatus::Succeeded),
        "{runs:?}"
    );
    f.sim.stop().await;
}

#[tokio::test]
async fn webhook_refreshes_and_their_follow_ups_travel_on_the_refresh_queue() {
    let f = Fleet::new().await;
    // A refresh on the refresh queue is run from there by the worker (the event source's ARN
    // names the queue), and a feed job on the sync queue from there.
    let job = f.refresh_of(&f.healthy);
    f.services
        .queue
        .send(
            &f.services.names.refresh_queue_url,
            job.to_message().unwrap(),
        )
        .await
        .unwrap();
    let r = f.round("RefreshJobsQueue").await.expect("the refresh");
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert_eq!(
        f.depth("SyncJobsQueue").await,
        0,
        "nothing spilled on the bulk queue"
    );
    assert_eq!(f.depth("RefreshJobsQueue").await, 0);
    assert_eq!(job.lane(), pms_app::jobs::Lane::Refresh);
    f.sim.stop().await;
}

// ---- partner reads while the breaker is open -----------------------------------------------

const GUEST: &str =
    "query($h: ID!, $id: ID!) { guest(hotelId: $h, id: $id) { stale value { id } } }";
const HEALTH: &str = "query($h: ID!) { health(hotelId: $h) {
    pms { healthy } circuit { state failures lastError nextProbeAt } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_while_open_answer_stale_or_pms_unavailable_without_calling_the_pms() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let mut config = w.services.hotels.require(&h.id).await.unwrap();
    config.cache.guest_ttl = 1;
    config.cache.stale_factor = 3600;
    config.retry.max_attempts = 1;
    config.updated_at = Utc::now();
    w.services.hotels.update(&config).await.unwrap();
    let (token, _) = w.token(&[&h.id], &[Scope::Read]).await;
    // Guests of two stays (the PMS must vouch for a guest through one of its reservations).
    let data = w.sim_data(&h);
    let mut stays = data.reservations.iter().map(|r| r.guest_id.clone());
    let cached = guest_record_id(pms_mews::PROVIDER, &stays.next().unwrap());
    let never_read = stays
        .find(|g| guest_record_id(pms_mews::PROVIDER, g) != cached)
        .map(|g| guest_record_id(pms_mews::PROVIDER, &g))
        .unwrap();
    let (cached, never_read) = (&cached, &never_read);
    let first = w
        .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": cached}))
        .await;
    assert_eq!(first.data()["guest"]["stale"], false, "{}", first.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The PMS answers 503 to everything: reads fail until the breaker opens.
    let faults = FaultConfig {
        error_rate: 1.0,
        error_status: Some(503),
        ..FaultConfig::default()
    };
    w.sim
        .admin()
        .set_faults(pms_mews::PROVIDER, &faults)
        .await
        .unwrap();
    for _ in 0..5 {
        let r = w
            .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": never_read}))
            .await;
        assert_eq!(r.codes(), ["PMS_UNAVAILABLE"], "{}", r.body);
    }
    let health = w.graphql(&token, HEALTH, json!({"h": h.id.as_str()})).await;
    let circuit = &health.data()["health"]["circuit"];
    assert_eq!(circuit["state"], "OPEN", "{}", health.body);
    assert_eq!(circuit["lastError"], "PMS_UNAVAILABLE");
    assert!(circuit["nextProbeAt"].is_string());
    assert_eq!(health.data()["health"]["pms"]["healthy"], false);

    // Open: the cached guest is served stale, the other is PMS_UNAVAILABLE, and the PMS is not
    // called for either.
    let calls = |c: &std::collections::BTreeMap<pms_sim::Provider, pms_sim::VendorCounters>| {
        c[&pms_mews::PROVIDER].total_calls
    };
    let before = calls(&w.sim.admin().counters().await.unwrap());
    let stale = w
        .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": cached}))
        .await;
    assert!(stale.codes().is_empty(), "{}", stale.body);
    assert_eq!(stale.data()["guest"]["stale"], true);
    assert_eq!(
        stale.data()["guest"]["value"],
        first.data()["guest"]["value"]
    );
    let missing = w
        .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": never_read}))
        .await;
    assert_eq!(missing.codes(), ["PMS_UNAVAILABLE"], "{}", missing.body);
    assert_eq!(missing.body["errors"][0]["extensions"]["retryable"], true);
    let after = calls(&w.sim.admin().counters().await.unwrap());
    assert_eq!(after, before, "no PMS call while the breaker is open");
    w.sim.admin().clear_faults().await.unwrap();
}
