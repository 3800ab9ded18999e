//! Vendor webhooks end to end: the webhook function in process (API Gateway v2 events), jobs on
//! the real sync queue (moto), the sync worker in process with the real SQS event, records in
//! the table, events on the bus. Hotels run the mock PMS, which stands in for any vendor.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use common::{Harness, Ports, TestHotel};
use pms_domain::domain::{
    ConfirmationNumber, ExternalId, Guest, Housekeeping, Occupancy, Provider, RecordId,
    Reservation, ReservationStatus, RoomNumber, RoomStatus,
};
use pms_domain::ports::{KeyCondition, Partition, PortResult, Query, SecretStore};
use pms_mock::MockFault;
use pms_testkit::counting::CountingStore;
use serde_json::{json, Value};

const MEWS_GENERAL: &str = include_str!("../../../shared/vendors/mews/testdata/wh-general.json");
const CB_CREATED: &str =
    include_str!("../../../shared/vendors/cloudbeds/testdata/reservation-created.json");
const ENTERPRISE: &str = "851df8c8-90f2-4c4a-8e01-a4fc46b25178";
const RESERVATION: &str = "bfee2c44-1f84-4326-a862-5289598f6e2d";
const RESOURCE: &str = "7cccbdc6-73cf-4cd4-8056-6fd00f4d9699";
const CUSTOMER_A: &str = "c2f1d888-232e-49eb-87ac-5f75363af13b";
const CUSTOMER_B: &str = "b3ce0fd7-a715-4bfc-969e-ef7a4822963c";

fn ext(id: &str) -> ExternalId {
    ExternalId::parse(id).unwrap()
}

fn reservation(id: &str, status: ReservationStatus, version: u64) -> Reservation {
    Reservation {
        id: RecordId::new(Provider::named("mock"), ext(id)),
        confirmation_number: ConfirmationNumber::parse(format!("C-{}", &id[..8])).unwrap(),
        guest: None,
        room_number: Some(RoomNumber::parse("101").unwrap()),
        room_type: None,
        arrival: pms_tests::fixture_day(0),
        departure: pms_tests::fixture_day(3),
        expected_arrival_time: None,
        expected_departure_time: None,
        status,
        raw_status: "Confirmed".into(),
        adults: 2,
        children: 0,
        rate_code: None,
        total: None,
        balance: None,
        special_requests: vec![],
        notes: vec![],
        source_updated_at: Some(Utc::now()),
        version,
        not_carried: Default::default(),
    }
}

fn guest(id: &str, last: &str) -> Guest {
    Guest {
        id: RecordId::new(Provider::named("mock"), ext(id)),
        external_ids: BTreeMap::new(),
        first_name: Some("Jane".into()),
        last_name: Some(last.into()),
        email: None,
        phone: None,
        language: None,
        loyalty_tier: None,
        vip: false,
        preferences: vec![],
        source_updated_at: None,
        version: 1,
    }
}

/// Puts the entities of the official Mews example into the hotel's (mock) PMS.
fn seed_mews_example(hotel: &TestHotel) {
    hotel
        .pms
        .insert_reservation(reservation(RESERVATION, ReservationStatus::Confirmed, 1));
    hotel.pms.insert_guest(guest(CUSTOMER_A, "Added"));
    hotel.pms.insert_guest(guest(CUSTOMER_B, "Updated"));
    hotel.pms.set_room_with_id(
        ext(RESOURCE),
        RoomStatus {
            room_number: RoomNumber::parse("101").unwrap(),
            room_type: None,
            occupancy: Occupancy::Vacant,
            housekeeping: Housekeeping::Dirty,
            raw_status: Some("Dirty".into()),
            floor: Some("1".into()),
            do_not_disturb: false,
            source_updated_at: None,
        },
    );
}

async fn stored(h: &Harness, hotel: &TestHotel, prefix: &str) -> Vec<Value> {
    let q = Query::primary(
        Partition::Hotel(hotel.id.clone()),
        KeyCondition::BeginsWith(prefix.into()),
    );
    h.services
        .store
        .query_all(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.data)
        .collect()
}

#[tokio::test]
async fn the_official_mews_batch_is_acknowledged_enqueued_and_fully_processed() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    seed_mews_example(&hotel);
    let mut tap = h.observe_events().await;

    let r = h.webhook("mews", &hotel, MEWS_GENERAL).await;
    assert_eq!(r.status, 202, "{:#}", r.json);
    assert_eq!(r.json["status"], "accepted");
    assert_eq!(r.json["entities"], 4);
    assert_eq!(r.json["ignored"], json!(["MessageAdded", "PaymentUpdated"]));
    // Durable before the answer: the raw delivery is stored and the job is on the queue.
    let deliveries = stored(&h, &hotel, "WEBHOOK#mews#").await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], "enqueued");
    assert_eq!(
        serde_json::from_str::<Value>(deliveries[0]["raw"].as_str().unwrap()).unwrap(),
        serde_json::from_str::<Value>(MEWS_GENERAL).unwrap()
    );
    let jobs = h.queue_bodies("RefreshJobsQueue").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["kind"], "refresh");
    assert_eq!(jobs[0]["entities"].as_array().unwrap().len(), 4);
    assert_eq!(
        hotel.pms.total_calls(),
        0,
        "nothing is fetched before the answer"
    );

    let (_, response) = h.worker_round().await.expect("a batch");
    assert!(response.batch_item_failures.is_empty());
    assert!(h.worker_round().await.is_none(), "the job was deleted");
    assert_eq!(stored(&h, &hotel, "BOOKING#mock#").await.len(), 1);
    assert_eq!(stored(&h, &hotel, "GUEST#mock#").await.len(), 2);
    assert_eq!(stored(&h, &hotel, "ROOM#").await.len(), 1);
    // One fetch per entity.
    assert_eq!(hotel.pms.calls("get_reservation_by_id"), 1);
    assert_eq!(hotel.pms.calls("get_guest"), 2);
    assert_eq!(hotel.pms.calls("room_status_by_id"), 1);
    let booking_id = format!("mock:{RESERVATION}");
    assert_eq!(tap.count("pms.booking.synced", &booking_id).await, 1);
    assert_eq!(
        tap.count("pms.guest.synced", &format!("mock:{CUSTOMER_A}"))
            .await,
        1
    );
    assert_eq!(
        stored(&h, &hotel, "WEBHOOK#mews#").await[0]["status"],
        "refreshed"
    );
}

#[tokio::test]
async fn customer_added_and_updated_together_are_fetched_once() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    hotel.pms.insert_guest(guest(CUSTOMER_A, "Once"));
    let body = json!({"EnterpriseId": ENTERPRISE, "IntegrationId": "i", "Events": [
        {"Discriminator": "CustomerAdded", "Value": {"Id": CUSTOMER_A}},
        {"Discriminator": "CustomerUpdated", "Value": {"Id": CUSTOMER_A}}
    ]});
    let r = h.webhook("mews", &hotel, &body.to_string()).await;
    assert_eq!((r.status, r.json["entities"].clone()), (202, json!(1)));
    h.drain().await;
    assert_eq!(hotel.pms.calls("get_guest"), 1);
    assert_eq!(stored(&h, &hotel, "GUEST#").await.len(), 1);
}

#[tokio::test]
async fn one_failing_entity_is_retried_alone_and_the_others_are_stored_once() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    seed_mews_example(&hotel);
    hotel.pms.fail_item(RESERVATION);

    assert_eq!(h.webhook("mews", &hotel, MEWS_GENERAL).await.status, 202);
    let (_, response) = h.worker_round().await.expect("a batch");
    assert!(
        response.batch_item_failures.is_empty(),
        "the good entities are done"
    );
    assert_eq!(stored(&h, &hotel, "GUEST#").await.len(), 2);
    assert_eq!(stored(&h, &hotel, "ROOM#").await.len(), 1);
    assert!(stored(&h, &hotel, "BOOKING#").await.is_empty());
    // The failed one is back on the queue as its own job.
    let jobs = h.queue_bodies("RefreshJobsQueue").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0]["entities"],
        json!([{"kind": "reservation", "id": RESERVATION}])
    );
    assert_eq!(jobs[0]["attempt"], 2);

    hotel.pms.clear_item_failures();
    let (_, response) = h.worker_round().await.expect("the retry");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stored(&h, &hotel, "BOOKING#").await.len(), 1);
    assert_eq!(
        hotel.pms.calls("get_guest"),
        2,
        "the good entities were not fetched again"
    );
    assert_eq!(hotel.pms.calls("room_status_by_id"), 1);
    assert_eq!(hotel.pms.calls("get_reservation_by_id"), 2);
}

#[tokio::test]
async fn a_refresh_that_keeps_failing_is_retried_by_the_queue_and_ends_in_the_dlq() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    seed_mews_example(&hotel);
    hotel.pms.set_fault(Some(MockFault::Unavailable));
    assert_eq!(h.webhook("mews", &hotel, MEWS_GENERAL).await.status, 202);
    let mut failures = 0;
    for _ in 0..6 {
        match h.worker_round().await {
            Some((_, r)) => {
                assert_eq!(r.batch_item_failures.len(), 1);
                assert!(!r.batch_item_failures[0].item_identifier.is_empty());
                failures += 1;
            }
            None => break,
        }
    }
    assert_eq!(failures, 3, "maxReceiveCount deliveries");
    let dlq = h.queue_bodies("RefreshJobsDLQ").await;
    assert_eq!(dlq.len(), 1, "the job is in the DLQ, not only in a log");
    assert_eq!(dlq[0]["hotel"], hotel.id.as_str());
    assert!(stored(&h, &hotel, "BOOKING#").await.is_empty());
}

#[tokio::test]
async fn a_repeated_delivery_changes_nothing() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    seed_mews_example(&hotel);
    let mut tap = h.observe_events().await;
    assert_eq!(h.webhook("mews", &hotel, MEWS_GENERAL).await.status, 202);
    // While its refresh is pending, a repeat is dropped.
    let r = h.webhook("mews", &hotel, MEWS_GENERAL).await;
    assert_eq!(
        (r.status, r.json["status"].clone()),
        (200, json!("duplicate"))
    );
    assert_eq!(h.queue_bodies("RefreshJobsQueue").await.len(), 1);
    h.drain().await;
    let events = tap.events().await.len();
    let bookings = stored(&h, &hotel, "BOOKING#").await;
    // Mews sends ids only, so after the refresh ran a repeat may mean a new change: it is
    // refreshed again, and finds nothing new.
    assert_eq!(h.webhook("mews", &hotel, MEWS_GENERAL).await.status, 202);
    h.drain().await;
    assert_eq!(tap.events().await.len(), events, "no new events");
    assert_eq!(
        stored(&h, &hotel, "BOOKING#").await,
        bookings,
        "no changed record"
    );
    assert_eq!(
        stored(&h, &hotel, "WEBHOOK#").await.len(),
        1,
        "one delivery record"
    );

    // A Cloudbeds event is identified exactly: a repeat is dropped even after its refresh.
    let cb = h.hotel(Some("318267"), true).await;
    cb.pms.insert_reservation(reservation(
        "8264173821462",
        ReservationStatus::Confirmed,
        1,
    ));
    assert_eq!(h.webhook("cloudbeds", &cb, CB_CREATED).await.status, 202);
    h.drain().await;
    let r = h.webhook("cloudbeds", &cb, CB_CREATED).await;
    assert_eq!(
        (r.status, r.json["status"].clone()),
        (200, json!("duplicate"))
    );
    assert!(h.queue_bodies("RefreshJobsQueue").await.is_empty());
    assert_eq!(cb.pms.calls("get_reservation_by_id"), 1);
}

#[tokio::test]
async fn cloudbeds_events_for_a_property_that_is_not_configured_are_rejected() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some("999001"), true).await;
    let r = h.webhook("cloudbeds", &hotel, CB_CREATED).await;
    r.assert_problem(403, "PROPERTY_NOT_CONFIGURED");
    let no_property = h.hotel(None, true).await;
    let r = h.webhook("cloudbeds", &no_property, CB_CREATED).await;
    r.assert_problem(403, "PROPERTY_NOT_CONFIGURED");
    assert!(stored(&h, &hotel, "WEBHOOK#").await.is_empty());
    assert!(h.queue_bodies("RefreshJobsQueue").await.is_empty());
    // A hotel that does not exist at all: nothing at that address.
    let r = h
        .call(
            "POST",
            "/v1/webhooks/cloudbeds/no-such-hotel/secret",
            &[("content-type", "application/json")],
            Some(CB_CREATED),
        )
        .await;
    r.assert_problem(404, "WEBHOOK_NOT_FOUND");
}

#[tokio::test]
async fn webhooks_fail_closed_without_a_secret_or_with_a_wrong_one() {
    let h = Harness::new().await;
    let without = h.hotel(Some(ENTERPRISE), false).await;
    let r = h.webhook("mews", &without, MEWS_GENERAL).await;
    r.assert_problem(404, "WEBHOOK_NOT_FOUND");
    let with = h.hotel(Some(ENTERPRISE), true).await;
    let wrong = format!(
        "/v1/webhooks/mews/{}/{}x",
        with.id,
        with.webhook_secret.as_deref().unwrap()
    );
    let r = h
        .call(
            "POST",
            &wrong,
            &[("content-type", "application/json")],
            Some(MEWS_GENERAL),
        )
        .await;
    r.assert_problem(404, "WEBHOOK_NOT_FOUND");
    assert!(stored(&h, &without, "WEBHOOK#").await.is_empty());
    assert!(stored(&h, &with, "WEBHOOK#").await.is_empty());
    assert!(h.queue_bodies("RefreshJobsQueue").await.is_empty());
}

#[tokio::test]
async fn webhook_validation_and_unknown_events() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some("318267"), true).await;
    let r = h.webhook("cloudbeds", &hotel, "{not json").await;
    r.assert_problem(400, "MALFORMED_JSON");
    let r = h
        .webhook("cloudbeds", &hotel, r#"{"event":"reservation/created"}"#)
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.field_errors(),
        [("propertyID".to_owned(), "REQUIRED".to_owned())]
    );
    let path = format!(
        "/v1/webhooks/cloudbeds/{}/{}",
        hotel.id,
        hotel.webhook_secret.as_deref().unwrap()
    );
    let r = h
        .call(
            "POST",
            &path,
            &[("content-type", "text/xml")],
            Some(CB_CREATED),
        )
        .await;
    r.assert_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let big = format!("{{\"event\":\"x\",\"pad\":\"{}\"}}", "p".repeat(300 * 1024));
    let r = h.webhook("cloudbeds", &hotel, &big).await;
    r.assert_problem(413, "PAYLOAD_TOO_LARGE");
    // A Mews webhook to a hotel that is configured for Cloudbeds' property but not Mews'.
    let r = h.webhook("mews", &hotel, MEWS_GENERAL).await;
    r.assert_problem(403, "PROPERTY_NOT_CONFIGURED");
    // Unknown event types are acknowledged (and logged), with nothing to refresh.
    let audit =
        json!({"event": "night_audit/completed", "propertyID": 318267, "timestamp": 1766005999.1});
    let r = h.webhook("cloudbeds", &hotel, &audit.to_string()).await;
    assert_eq!(r.status, 202, "{:#}", r.json);
    assert_eq!(
        (r.json["jobs"].clone(), r.json["ignored"].clone()),
        (json!(0), json!(["night_audit/completed"]))
    );
    assert!(h.queue_bodies("RefreshJobsQueue").await.is_empty());
}

#[tokio::test]
async fn the_worker_fails_unknown_job_kinds_and_feed_jobs_it_cannot_run() {
    let h = Harness::new().await;
    let url = h.stack.queue_url("SyncJobsQueue").to_owned();
    let sqs = aws_sdk_sqs::Client::new(&h.stack.sdk_config);
    let hotel = h.hotel(None, false).await;
    let feed = json!({"kind": "feed", "hotel": hotel.id.as_str(), "feed": "arrivals",
                      "scheduledAt": "2026-12-01T10:00:00Z", "correlationId": "c-1"});
    for body in [
        r#"{"kind":"reindex","hotel":"h1"}"#.to_owned(),
        "garbage".to_owned(),
        feed.to_string(),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let (bodies, response) = h.worker_round().await.expect("a batch");
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        response.batch_item_failures.len(),
        3,
        "each one reported, none panics"
    );
    assert!(response
        .batch_item_failures
        .iter()
        .all(|f| !f.item_identifier.is_empty()));
}

/// Secrets Manager, counting the reads that reach it.
struct CountingSecrets {
    inner: Arc<dyn SecretStore>,
    reads: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl SecretStore for CountingSecrets {
    async fn get(&self, name: &str) -> PortResult<Option<secrecy::SecretString>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &secrecy::SecretString) -> PortResult<()> {
        self.inner.put(name, value).await
    }
    async fn delete(&self, name: &str) -> PortResult<()> {
        self.inner.delete(name).await
    }
}

#[tokio::test]
async fn unknown_hotels_on_webhook_urls_cost_no_secret_read_and_repeats_cost_no_read() {
    let store: Arc<Mutex<Option<Arc<CountingStore>>>> = Arc::default();
    let reads = Arc::new(AtomicU64::new(0));
    let (s, r) = (store.clone(), reads.clone());
    let h = Harness::with_ports(Ports {
        store: Box::new(move |inner| {
            let counting = Arc::new(CountingStore::new(inner));
            *s.lock().unwrap() = Some(counting.clone());
            counting
        }),
        secrets: Box::new(move |inner| Arc::new(CountingSecrets { inner, reads: r })),
        ..Ports::default()
    })
    .await;
    let store = store.lock().unwrap().clone().expect("the counting store");
    let unknown: Vec<String> = (0..20).map(|i| format!("no-such-hotel-{i}")).collect();
    let call = |hotel: String| {
        let h = &h;
        async move {
            h.call(
                "POST",
                &format!("/v1/webhooks/mews/{hotel}/some-secret"),
                &[("content-type", "application/json")],
                Some(MEWS_GENERAL),
            )
            .await
        }
    };
    let (store_before, secrets_before) = (store.calls(), reads.load(Ordering::SeqCst));
    for hotel in &unknown {
        call(hotel.clone())
            .await
            .assert_problem(404, "WEBHOOK_NOT_FOUND");
    }
    // Never Secrets Manager (metered, and limited per account), one registry read each.
    assert_eq!(
        reads.load(Ordering::SeqCst) - secrets_before,
        0,
        "Secrets Manager reads"
    );
    assert_eq!(store.calls() - store_before, unknown.len() as u64);
    // Repeats are answered from memory.
    let store_before = store.calls();
    for _ in 0..3 {
        for hotel in &unknown {
            call(hotel.clone())
                .await
                .assert_problem(404, "WEBHOOK_NOT_FOUND");
        }
    }
    assert_eq!(store.calls() - store_before, 0);
    assert_eq!(reads.load(Ordering::SeqCst) - secrets_before, 0);
    // A configured hotel is unaffected.
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    seed_mews_example(&hotel);
    let r = h.webhook("mews", &hotel, MEWS_GENERAL).await;
    assert_eq!(r.status, 202, "{:#}", r.json);
}

/// A Mews delivery of `events` events, each with a discriminator of `name_len` characters (an
/// unknown type: acknowledged, kept by name).
fn mews_body(events: usize, name_len: usize) -> String {
    let events: Vec<Value> = (0..events)
        .map(|i| {
            json!({"Discriminator": format!("{i:06}{}", "N".repeat(name_len)),
                   "Value": {"Id": format!("id-{i}")}})
        })
        .collect();
    json!({"EnterpriseId": ENTERPRISE, "IntegrationId": "i", "Events": events}).to_string()
}

#[tokio::test]
async fn a_webhook_body_too_large_for_one_stored_item_is_refused_with_413_before_it_is_stored() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    // Under the partner API's 256 KiB, but stored with its events (which repeat the names) it
    // would be well over the 400 KB a DynamoDB item holds.
    let body = mews_body(180, 1300);
    assert!(
        body.len() > 200 * 1024 && body.len() < 256 * 1024,
        "{}",
        body.len()
    );
    let r = h.webhook("mews", &hotel, &body).await;
    r.assert_problem(413, "PAYLOAD_TOO_LARGE");
    assert!(stored(&h, &hotel, "WEBHOOK#").await.is_empty());
    assert!(h.queue_bodies("RefreshJobsQueue").await.is_empty());
    // The largest body taken is stored whole.
    let body = mews_body(90, 1300);
    assert!(
        body.len() < pms_vendor_kit::webhooks::MAX_BODY_BYTES,
        "{}",
        body.len()
    );
    let r = h.webhook("mews", &hotel, &body).await;
    assert_eq!(r.status, 202, "{:#}", r.json);
    let deliveries = stored(&h, &hotel, "WEBHOOK#").await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0]["raw"].as_str().map(str::len),
        Some(body.len())
    );
}

#[tokio::test]
async fn a_webhook_naming_too_many_entities_is_refused_with_a_clear_4xx() {
    let h = Harness::new().await;
    let hotel = h.hotel(Some(ENTERPRISE), true).await;
    let customers = |n: usize| {
        let events: Vec<Value> = (0..n)
            .map(|i| json!({"Discriminator": "CustomerUpdated", "Value": {"Id": format!("c-{i}")}}))
            .collect();
        json!({"EnterpriseId": ENTERPRISE, "IntegrationId": "i", "Events": events}).to_string()
    };
    let r = h
        .webhook(
            "mews",
            &hotel,
            &customers(pms_vendor_kit::webhooks::MAX_ENTITIES + 1),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.field_errors(),
        [("Events".to_owned(), "TOO_MANY_ENTITIES".to_owned())]
    );
    let r = h
        .webhook(
            "mews",
            &hotel,
            &mews_body(pms_vendor_kit::webhooks::MAX_EVENTS + 1, 0),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.field_errors(),
        [("Events".to_owned(), "TOO_MANY_EVENTS".to_owned())]
    );
    assert!(stored(&h, &hotel, "WEBHOOK#").await.is_empty());
    assert!(h.queue_bodies("RefreshJobsQueue").await.is_empty());
    // At the cap, every entity is refreshed (jobs of 25).
    let r = h
        .webhook(
            "mews",
            &hotel,
            &customers(pms_vendor_kit::webhooks::MAX_ENTITIES),
        )
        .await;
    assert_eq!(r.status, 202, "{:#}", r.json);
    assert_eq!(r.json["entities"], pms_vendor_kit::webhooks::MAX_ENTITIES);
}
