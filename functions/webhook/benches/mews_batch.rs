//! Throughput of the webhook path for Mews batches of 100 events, in process: the API Gateway
//! request through `App::handle` (stored, jobs enqueued), then the jobs through the sync
//! worker's handler as an SQS event (each entity fetched from the mock PMS and merged). Prints
//! events/s end to end, the acknowledgement latency, and the process's peak RSS.
//!
//! `cargo bench -p webhook --bench mews_batch` (in-memory ports). Set `BENCH_BATCHES` to change
//! the number of batches (default 50).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use chrono::Utc;
use pms_app::names::ResourceNames;
use pms_app::registry::{IngestCredentials, IngestKeys};
use pms_app::runtime::Services;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{
    BusinessDate, ConfirmationNumber, Currency, ExternalId, Guest, HotelId, Housekeeping,
    Occupancy, PropertyTz, Provider, RecordId, Reservation, ReservationStatus, RoomNumber,
    RoomStatus,
};
use pms_domain::memory::{MemoryBus, MemoryQueue, MemorySecrets, MemoryStore};
use pms_domain::ports::{Queue, SystemClock};
use pms_mock::MockPms;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sync_worker_fn::Worker;
use webhook_fn::App;

const EVENTS_PER_BATCH: usize = 100;
const ENTERPRISE: &str = "851df8c8-90f2-4c4a-8e01-a4fc46b25178";
const TEMPLATE: &str = include_str!("../../../tests/fixtures/apigw/http-api-v2-post.json");

fn names() -> ResourceNames {
    ResourceNames::from_lookup(|k| {
        Some(match k {
            "SYNC_QUEUE_URL" => "mem://sync".into(),
            "METRICS_NAMESPACE" => "Bench".into(),
            other => format!("bench-{other}"),
        })
    })
    .expect("names")
}

fn request(path: &str, body: &str) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(TEMPLATE).expect("fixture");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["routeKey"] = json!("POST /v1/webhooks/mews/{hotelId}/{secret}");
    event["body"] = json!(body);
    event["headers"]["content-length"] = json!(body.len().to_string());
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

fn guid(batch: usize, i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", batch, i)
}

/// One batch of 100 events: 30 reservations, 20 customers named twice (Added + Updated), 20
/// rooms, and 10 events we only acknowledge.
fn batch_body(b: usize) -> String {
    let mut events = Vec::with_capacity(EVENTS_PER_BATCH);
    for i in 0..30 {
        events.push(json!({"Discriminator": "ServiceOrderUpdated", "Value": {"Id": guid(b, i)}}));
    }
    for i in 30..50 {
        events.push(json!({"Discriminator": "CustomerAdded", "Value": {"Id": guid(b, i)}}));
        events.push(json!({"Discriminator": "CustomerUpdated", "Value": {"Id": guid(b, i)}}));
    }
    for i in 50..70 {
        events.push(json!({"Discriminator": "ResourceUpdated", "Value": {"Id": guid(b, i)}}));
    }
    for i in 70..75 {
        events.push(json!({"Discriminator": "MessageAdded", "Value": {"Id": guid(b, i)}}));
        events.push(json!({"Discriminator": "PaymentUpdated", "Value": {"Id": guid(b, i)}}));
    }
    assert_eq!(events.len(), EVENTS_PER_BATCH);
    json!({"EnterpriseId": ENTERPRISE, "IntegrationId": "bench", "Events": events}).to_string()
}

fn seed(pms: &MockPms, batches: usize) {
    let today = BusinessDate::parse("2026-12-01").expect("date");
    for b in 0..batches {
        for i in 0..30 {
            let id = ExternalId::parse(guid(b, i)).expect("id");
            pms.insert_reservation(Reservation {
                id: RecordId::new(Provider::named("mock"), id),
                confirmation_number: ConfirmationNumber::parse(format!("B{b}-{i}")).expect("c"),
                guest: None,
                room_number: None,
                room_type: None,
                arrival: today,
                departure: today.add_days(2),
                expected_arrival_time: None,
                expected_departure_time: None,
                status: ReservationStatus::Confirmed,
                raw_status: "Confirmed".into(),
                adults: 2,
                children: 0,
                rate_code: None,
                total: None,
                balance: None,
                special_requests: vec![],
                notes: vec![],
                source_updated_at: Some(Utc::now()),
                version: 1,
                not_carried: Default::default(),
            });
        }
        for i in 30..50 {
            pms.insert_guest(Guest {
                id: RecordId::new(
                    Provider::named("mock"),
                    ExternalId::parse(guid(b, i)).expect("id"),
                ),
                external_ids: BTreeMap::new(),
                first_name: Some("Bench".into()),
                last_name: Some(format!("Guest {b}-{i}")),
                email: None,
                phone: None,
                language: None,
                loyalty_tier: None,
                vip: false,
                preferences: vec![],
                source_updated_at: None,
                version: 1,
            });
        }
        for i in 50..70 {
            pms.set_room_with_id(
                ExternalId::parse(guid(b, i)).expect("id"),
                RoomStatus {
                    room_number: RoomNumber::parse(format!("{b}{i:02}")).expect("room"),
                    room_type: None,
                    occupancy: Occupancy::Vacant,
                    housekeeping: Housekeeping::Clean,
                    raw_status: None,
                    floor: None,
                    do_not_disturb: false,
                    source_updated_at: Some(Utc::now()),
                },
            );
        }
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let batches: usize = std::env::var("BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let clock = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let queue = Arc::new(MemoryQueue::new());
    let secrets = Arc::new(MemorySecrets::new());
    let services = Services::from_parts(
        names(),
        clock.clone(),
        store,
        queue.clone(),
        secrets.clone(),
        Arc::new(MemoryBus::new()),
    )
    .with_vendor(pms_mock::vendor());
    let hotel = HotelId::parse("bench-hotel").expect("hotel");
    let mut config = HotelConfig::new(
        hotel.clone(),
        "Bench",
        Provider::named("mock"),
        PropertyTz::parse("Europe/Prague").expect("tz"),
        Currency::eur(),
        Utc::now(),
    );
    config.vendor.property_id = Some(ENTERPRISE.into());
    services.hotels.create(&config).await.expect("hotel");
    let keys = IngestKeys::new(secrets, services.names.secrets_prefix.clone());
    let mut creds = IngestCredentials::default();
    let secret = creds.rotate_webhook_secret();
    keys.put(&hotel, &creds).await.expect("secret");
    let pms = MockPms::shared(&hotel, config.time_zone, config.currency, clock.clone());
    seed(&pms, batches);

    let app = App::new(&services);
    let worker = Worker::new(&services);
    let path = format!("/v1/webhooks/mews/{hotel}/{}", secret.expose_secret());
    let bodies: Vec<String> = (0..batches).map(batch_body).collect();

    let mut acks = Vec::with_capacity(batches);
    let mut records = 0usize;
    let started = Instant::now();
    for body in &bodies {
        let t = Instant::now();
        let resp = app.handle(request(&path, body)).await;
        acks.push(t.elapsed());
        assert_eq!(resp.status(), 202, "{:?}", resp.body());
        loop {
            let msgs = queue
                .receive("mem://sync", 10, Duration::ZERO, None)
                .await
                .expect("receive");
            if msgs.is_empty() {
                break;
            }
            let event: SqsEvent =
                serde_json::from_value(json!({"Records": msgs.iter().map(|m| json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()},
                "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:bench-sync-jobs"
            })).collect::<Vec<_>>()}))
                .expect("sqs event");
            let out = worker.handle(event).await.expect("worker");
            assert!(out.batch_item_failures.is_empty());
            for m in msgs {
                queue
                    .delete("mem://sync", &m.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
        records += 70; // 30 reservations + 20 guests + 20 rooms
    }
    let elapsed = started.elapsed();
    acks.sort();
    let events = batches * EVENTS_PER_BATCH;
    println!(
        "mews_batch: {batches} batches x {EVENTS_PER_BATCH} events, in-memory ports, mock PMS"
    );
    println!(
        "  end to end: {events} events in {:.3} s = {:.0} events/s ({records} records stored)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  acknowledgement (stored + enqueued) per batch: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&acks, 0.5).as_secs_f64() * 1e3,
        percentile(&acks, 0.99).as_secs_f64() * 1e3
    );
    match peak_rss_kib() {
        Some(kib) => println!("  peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("  peak RSS: unavailable (no /proc)"),
    }
}
