//! Partner event subscriptions end to end on moto and the vendor simulator: a change at the
//! simulated PMS is synced, its domain event goes on the stack's bus, the template's rule puts
//! it on the deliveries queue, and the delivery function (in process, with real SQS events)
//! posts it, signed, to a receiver on loopback.

use std::time::Duration;

use chrono::Utc;
use fn_delivery::Delivery;
use pms_app::deliveries::{DeliveryService, DELIVERY_ACTOR};
use pms_app::jobs::FeedJob;
use pms_app::subscriptions::SubscriptionService;
use pms_app::sync::{RunMode, SyncService};
use pms_domain::domain::events::{DomainEvent, EventType};
use pms_domain::domain::Feed;
use pms_subscriptions::signing::verify;
use pms_subscriptions::{DeliveryStatus, SigningSecret, Subscription, TargetPolicy};
use pms_tests::subscriptions::{Behaviour, DeliveryLane, Receiver};
use pms_tests::writes::{SimHotelRef, WritesStack};
use pms_vendor_kit::sim::data::{ReservationPatch, SimStatus};
use serde_json::{json, Value};

/// A schedule of seconds (the real one spans 27.5 hours): spent in 6 s.
const FAST: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(2),
];
/// Long enough to outlast the receiver's downtime below (about 40 s).
const PATIENT: [Duration; 7] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(5),
    Duration::from_secs(8),
    Duration::from_secs(10),
    Duration::from_secs(10),
];

struct Setup {
    w: WritesStack,
    h: SimHotelRef,
    lane: DeliveryLane,
    subs: SubscriptionService,
    policy: TargetPolicy,
    seq: i64,
}

impl Setup {
    /// A Mews hotel synced once (the events of that first sync are dropped: no subscription
    /// existed yet).
    async fn new() -> Setup {
        let w = WritesStack::new().await;
        let h = w.sim_hotel(pms_mews::PROVIDER).await;
        let policy = TargetPolicy::for_endpoint(Some(&w.stack.endpoint));
        let lane = DeliveryLane::new(w.sqs.clone(), &w.services.names.delivery_queue_url).await;
        let subs = SubscriptionService::new(&w.services, policy);
        let mut s = Setup {
            w,
            h,
            lane,
            subs,
            policy,
            seq: 0,
        };
        s.sync().await;
        s.lane.purge().await;
        s
    }

    fn delivery(&self) -> Delivery {
        self.delivery_with(&FAST)
    }

    fn delivery_with(&self, schedule: &[Duration]) -> Delivery {
        Delivery::new(
            DeliveryService::new(&self.w.services, self.policy).with_schedule(schedule.to_vec()),
            &self.w.services,
        )
    }

    /// The reservations feed, as a tick of its own would run it.
    async fn sync(&mut self) {
        self.seq += 1;
        let job = FeedJob {
            hotel: self.h.id.clone(),
            feed: Feed::Reservations,
            scheduled_at: Utc::now() + chrono::Duration::seconds(self.seq),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            continuation: None,
        };
        SyncService::new(&self.w.services)
            .run_job_with(&job, RunMode::Forced)
            .await
            .expect("sync run");
    }

    async fn subscribe(&self, url: &str, events: &[EventType]) -> (Subscription, SigningSecret) {
        let created = self
            .subs
            .create(&self.h.id, url, events.to_vec(), "staff:test")
            .await
            .expect("subscription");
        (created.subscription, created.secret)
    }

    /// Reservations the simulator has as confirmed (not yet arrived), `n` of them.
    fn confirmed(&self, n: usize) -> Vec<String> {
        let data = self.w.sim_data(&self.h);
        let ids: Vec<String> = data
            .reservations
            .iter()
            .filter(|r| r.status == SimStatus::Confirmed)
            .take(n)
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(ids.len(), n, "the simulator has {n} confirmed reservations");
        ids
    }

    async fn patch(&self, id: &str, patch: ReservationPatch) {
        self.w
            .sim
            .admin()
            .patch_reservation(self.h.vendor, &self.h.property, id, &patch)
            .await
            .expect("patched at the simulator");
    }

    async fn check_in(&self, id: &str) {
        self.patch(
            id,
            ReservationPatch {
                status: Some(SimStatus::InHouse),
                ..ReservationPatch::default()
            },
        )
        .await;
    }
}

fn of_entity<'a>(
    deliveries: &'a [pms_tests::subscriptions::Received],
    sim_id: &str,
) -> Vec<&'a pms_tests::subscriptions::Received> {
    deliveries
        .iter()
        .filter(|d| {
            d.json()["data"]["entityId"]
                .as_str()
                .is_some_and(|e| e.ends_with(sim_id))
        })
        .collect()
}

/// A check-in event of `hotel` for booking `r<n>` at version `n`, as the merge would publish it.
fn checked_in(
    hotel: &pms_domain::domain::HotelId,
    n: u64,
    at: chrono::DateTime<Utc>,
) -> DomainEvent {
    DomainEvent::new(
        EventType::BookingCheckedIn,
        hotel.clone(),
        pms_domain::domain::Provider::named("mews"),
        format!("mews:r{n}"),
        n,
        at,
        None,
        json!({"status": "checked_in"}),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_in_at_the_pms_reaches_the_receiver_signed_with_what_changed() {
    let mut s = Setup::new().await;
    let receiver = Receiver::start().await;
    let (sub, secret) = s
        .subscribe(&receiver.url(), &[EventType::BookingCheckedIn])
        .await;
    let id = s.confirmed(1).remove(0);
    s.check_in(&id).await;
    s.sync().await;

    let delivery = s.delivery();
    let arrived = s
        .lane
        .until(&delivery, Duration::from_secs(60), || {
            !of_entity(&receiver.accepted(), &id).is_empty()
        })
        .await;
    assert!(arrived, "the check-in was not delivered");
    // Let any duplicate show up before counting.
    s.lane
        .until(&delivery, Duration::from_secs(2), || false)
        .await;
    let all = receiver.received();
    let mine = of_entity(&all, &id);
    assert_eq!(mine.len(), 1, "one delivery of the check-in");
    // Only what the subscription asked for.
    assert!(all
        .iter()
        .all(|d| d.json()["type"] == EventType::BookingCheckedIn.as_str()));

    let d = mine[0];
    let body = d.json();
    assert_eq!(body["type"], "pms.booking.checked_in");
    assert_eq!(body["data"]["hotelId"], s.h.id.as_str());
    assert_eq!(body["data"]["provider"], "mews");
    assert!(body["data"]["version"].as_u64().unwrap() > 0);
    let changes = body["data"]["changes"].as_array().expect("changes");
    let status = changes
        .iter()
        .find(|c| c["field"] == "status")
        .expect("the status is among the changes");
    assert_eq!(status["before"], json!("confirmed"), "{changes:?}");
    assert_eq!(status["after"], json!("checked_in"), "{changes:?}");
    assert_eq!(body["data"]["record"]["status"], "checked_in");

    // Standard Webhooks: the id is the event's, the signature verifies with the secret.
    assert_eq!(
        d.header("webhook-id"),
        format!("msg_{}", body["data"]["eventId"].as_str().unwrap())
    );
    verify(
        &secret,
        d.header("webhook-id"),
        d.header("webhook-timestamp"),
        d.header("webhook-signature"),
        &d.body,
        Utc::now().timestamp(),
    )
    .expect("the signature verifies");
    let tampered = [&d.body[..], b" "].concat();
    assert!(verify(
        &secret,
        d.header("webhook-id"),
        d.header("webhook-timestamp"),
        d.header("webhook-signature"),
        &tampered,
        Utc::now().timestamp(),
    )
    .is_err());

    // The delivery is on record as delivered, once.
    let records = DeliveryService::new(&s.w.services, s.policy)
        .log()
        .list(&s.h.id, Some(&sub.id))
        .await
        .unwrap();
    let rec = records
        .iter()
        .find(|r| r.event.entity_id.ends_with(&id))
        .expect("a delivery record");
    assert_eq!(rec.status, DeliveryStatus::Delivered);
    assert_eq!(rec.attempts, 1);
    assert_eq!(rec.last_status, Some(204));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_a_while_gets_everything_and_versions_tell_it_the_order() {
    let mut s = Setup::new().await;
    let mut receiver = Receiver::start().await;
    let (sub, _) = s
        .subscribe(
            &receiver.url(),
            &[
                EventType::BookingCheckedIn,
                EventType::BookingSynced,
                EventType::BookingCheckedOut,
            ],
        )
        .await;
    receiver.down().await;
    let delivery = s.delivery_with(&PATIENT);

    // Three bookings change, one of them three times, while the receiver is down.
    let ids = s.confirmed(3);
    for id in &ids {
        s.check_in(id).await;
    }
    s.sync().await;
    s.lane
        .until(&delivery, Duration::from_secs(3), || false)
        .await;
    s.patch(
        &ids[0],
        ReservationPatch {
            special_requests: Some(vec!["late checkout".into()]),
            ..ReservationPatch::default()
        },
    )
    .await;
    s.sync().await;
    s.lane
        .until(&delivery, Duration::from_secs(3), || false)
        .await;
    s.patch(
        &ids[0],
        ReservationPatch {
            status: Some(SimStatus::CheckedOut),
            ..ReservationPatch::default()
        },
    )
    .await;
    s.sync().await;
    s.lane
        .until(&delivery, Duration::from_secs(2), || false)
        .await;
    assert!(receiver.accepted().is_empty());

    // Every delivery attempted meanwhile is waiting for a retry, none is lost.
    let log = DeliveryService::new(&s.w.services, s.policy);
    let pending = log.log().list(&s.h.id, Some(&sub.id)).await.unwrap();
    let kinds: Vec<(String, &str, u64)> = pending
        .iter()
        .map(|r| {
            (
                r.event.entity_id.clone(),
                r.event.event_type.as_str(),
                r.event.version,
            )
        })
        .collect();
    // At least the three check-ins, the update and the check-out.
    assert!(pending.len() >= 5, "{kinds:#?}");
    let expected: std::collections::BTreeSet<String> =
        pending.iter().map(|r| r.event_id.clone()).collect();
    assert!(pending
        .iter()
        .all(|r| r.status == DeliveryStatus::Retrying && r.attempts >= 1));

    receiver.up().await;
    let done = s
        .lane
        .until(&delivery, Duration::from_secs(90), || {
            let got: std::collections::BTreeSet<String> = receiver
                .accepted()
                .iter()
                .map(|d| d.json()["data"]["eventId"].as_str().unwrap().to_owned())
                .collect();
            got == expected
        })
        .await;
    assert!(done, "{:#?}", receiver.accepted().len());
    let records = log.log().list(&s.h.id, Some(&sub.id)).await.unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.status == DeliveryStatus::Delivered),
        "{records:#?}"
    );

    // A receiver that keeps the newest version per entity and drops anything not newer ends
    // with each booking's last state, whatever order the retries came in.
    let mut newest: std::collections::BTreeMap<String, (u64, Value)> = Default::default();
    for d in receiver.accepted() {
        let b = d.json();
        let entity = b["data"]["entityId"].as_str().unwrap().to_owned();
        let v = b["data"]["version"].as_u64().unwrap();
        if newest.get(&entity).is_none_or(|(have, _)| v > *have) {
            newest.insert(entity, (v, b["data"]["record"].clone()));
        }
    }
    assert_eq!(newest.len(), 3);
    let first = newest
        .iter()
        .find(|(e, _)| e.ends_with(&ids[0]))
        .expect("the first booking");
    assert_eq!(first.1 .1["status"], "checked_out");
    // Versions of one entity are distinct and increase with each change.
    let mut versions: Vec<u64> = receiver
        .accepted()
        .iter()
        .filter(|d| {
            d.json()["data"]["entityId"]
                .as_str()
                .unwrap()
                .ends_with(&ids[0])
        })
        .map(|d| d.json()["data"]["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 3, "three changes of the first booking");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_410_disables_the_subscription_and_the_audit_says_why() {
    let mut s = Setup::new().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Answer(410));
    let (sub, _) = s
        .subscribe(&receiver.url(), &[EventType::BookingCheckedIn])
        .await;
    let ids = s.confirmed(2);
    s.check_in(&ids[0]).await;
    s.sync().await;
    let delivery = s.delivery();
    assert!(
        s.lane
            .until(&delivery, Duration::from_secs(60), || !receiver
                .received()
                .is_empty())
            .await
    );
    let after = s.subs.registry().get(&s.h.id, &sub.id).await.unwrap();
    assert!(!after.enabled);
    assert!(
        after
            .disabled_reason
            .as_deref()
            .unwrap_or_default()
            .contains("410"),
        "{after:?}"
    );
    let records = DeliveryService::new(&s.w.services, s.policy)
        .log()
        .list(&s.h.id, Some(&sub.id))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, DeliveryStatus::Gone);
    let audit =
        pms_app::audit::AuditLog::new(s.w.services.store.clone(), s.w.services.clock.clone())
            .list(
                std::slice::from_ref(&s.h.id),
                pms_app::audit::KindFilter::Ops,
                None,
                None,
                50,
            )
            .await
            .unwrap();
    assert!(
        audit.records.iter().any(|r| matches!(r,
            pms_app::audit::AuditRecord::Ops(e) if e.actor == DELIVERY_ACTOR
                && e.action == pms_app::audit::OpsAction::SubscriptionDisabled)),
        "{:#?}",
        audit.records.len()
    );

    // Nothing more goes to it.
    s.check_in(&ids[1]).await;
    s.sync().await;
    s.lane
        .until(&delivery, Duration::from_secs(3), || false)
        .await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_schedule_leaves_a_dead_letter_that_redeliver_sends_again() {
    let mut s = Setup::new().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Answer(503));
    let (sub, _) = s
        .subscribe(&receiver.url(), &[EventType::BookingCheckedIn])
        .await;
    let id = s.confirmed(1).remove(0);
    s.check_in(&id).await;
    s.sync().await;
    let delivery = s.delivery();
    let svc = DeliveryService::new(&s.w.services, s.policy);
    let failed = || async {
        svc.log()
            .list(&s.h.id, Some(&sub.id))
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Failed)
            .collect::<Vec<_>>()
    };
    let start = std::time::Instant::now();
    while failed().await.is_empty() && start.elapsed() < Duration::from_secs(60) {
        s.lane
            .until(&delivery, Duration::from_secs(1), || false)
            .await;
    }
    let dead = failed().await;
    assert_eq!(dead.len(), 1, "one dead letter");
    // The first attempt and every retry of the schedule, each answered 503.
    assert_eq!(dead[0].attempts as usize, FAST.len() + 1);
    assert_eq!(dead[0].last_status, Some(503));
    assert_eq!(receiver.received().len(), FAST.len() + 1);
    assert!(receiver.received().iter().all(|r| r.answered == 503));
    // Nothing is left on the queue for it.
    s.lane
        .until(&delivery, Duration::from_secs(3), || false)
        .await;
    assert_eq!(receiver.received().len(), FAST.len() + 1);

    // The partner is back: an operator redelivers the dead letter.
    receiver.set(Behaviour::Accept);
    let r = pms_subscriptions::DeliveryRef::parse(&dead[0].reference()).unwrap();
    let again = svc.redeliver(&r, "staff:ops").await.unwrap();
    assert_eq!(again.status, DeliveryStatus::Retrying);
    assert!(
        s.lane
            .until(&delivery, Duration::from_secs(30), || !receiver
                .accepted()
                .is_empty())
            .await
    );
    let after = svc
        .log()
        .get(&s.h.id, &sub.id, &dead[0].event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, DeliveryStatus::Delivered);
    assert_eq!(after.total_attempts as usize, FAST.len() + 2);
    // The same event id as every attempt before, so a receiver drops a repeat.
    let ids: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_failing_for_three_days_is_disabled() {
    let s = Setup::new().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Answer(500));
    let (sub, _) = s
        .subscribe(&receiver.url(), &[EventType::BookingCheckedIn])
        .await;
    let clock = std::sync::Arc::new(pms_domain::ports::ManualClock::new(Utc::now()));
    let services = s.w.stack.services_with_clock(clock.clone());
    let svc = DeliveryService::new(&services, s.policy).with_schedule(FAST.to_vec());
    let metrics = pms_app::obs::Metrics::new("test", "delivery");
    let event = |n: u64| checked_in(&s.h.id, n, clock.now());
    use pms_domain::ports::Clock as _;

    // Failing from the first attempt on; two days and 23 hours later it is still enabled.
    svc.fan_out(&event(1), &metrics).await.unwrap();
    let first = s.subs.registry().get(&s.h.id, &sub.id).await.unwrap();
    assert!(first.enabled);
    assert!(first.failing_since.is_some());
    clock.advance(chrono::Duration::hours(71));
    svc.fan_out(&event(2), &metrics).await.unwrap();
    assert!(
        s.subs
            .registry()
            .get(&s.h.id, &sub.id)
            .await
            .unwrap()
            .enabled
    );
    // A success in between would clear it; none came. At three days it is disabled.
    clock.advance(chrono::Duration::hours(1));
    svc.fan_out(&event(3), &metrics).await.unwrap();
    let after = s.subs.registry().get(&s.h.id, &sub.id).await.unwrap();
    assert!(!after.enabled, "{after:?}");
    assert!(after
        .disabled_reason
        .as_deref()
        .unwrap_or_default()
        .contains("3 days"));
    let doc = metrics.take_document(0).expect("metrics");
    assert_eq!(doc["SubscriptionsDisabled"], json!(1.0));
    // Later events are not attempted.
    let before = receiver.received().len();
    svc.fan_out(&event(4), &metrics).await.unwrap();
    assert_eq!(receiver.received().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_success_clears_the_failing_clock() {
    let s = Setup::new().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Answer(502));
    let (sub, _) = s
        .subscribe(&receiver.url(), &[EventType::BookingCheckedIn])
        .await;
    let svc = DeliveryService::new(&s.w.services, s.policy);
    let metrics = pms_app::obs::Metrics::new("test", "delivery");
    let event = |n: u64| checked_in(&s.h.id, n, Utc::now());
    svc.fan_out(&event(1), &metrics).await.unwrap();
    let failing = s.subs.registry().get(&s.h.id, &sub.id).await.unwrap();
    assert!(failing.failing_since.is_some());
    receiver.set(Behaviour::Accept);
    svc.fan_out(&event(2), &metrics).await.unwrap();
    let ok = s.subs.registry().get(&s.h.id, &sub.id).await.unwrap();
    assert_eq!(ok.failing_since, None);
    assert!(ok.enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_hears_only_its_own_hotels_events() {
    let s = Setup::new().await;
    let other = s.w.sim_hotel(pms_mews::PROVIDER).await;
    let mine = Receiver::start().await;
    let theirs = Receiver::start().await;
    s.subscribe(&mine.url(), &[EventType::BookingCheckedIn])
        .await;
    s.subs
        .create(
            &other.id,
            &theirs.url(),
            vec![EventType::BookingCheckedIn],
            "staff:test",
        )
        .await
        .unwrap();
    let svc = DeliveryService::new(&s.w.services, s.policy);
    let metrics = pms_app::obs::Metrics::new("test", "delivery");
    let event = checked_in(&s.h.id, 1, Utc::now());
    svc.fan_out(&event, &metrics).await.unwrap();
    assert_eq!(mine.accepted().len(), 1);
    assert!(theirs.received().is_empty());
    // Its delivery records are under its own hotel only.
    let log = svc.log();
    assert_eq!(log.list(&s.h.id, None).await.unwrap().len(), 1);
    assert!(log.list(&other.id, None).await.unwrap().is_empty());
}
