//! The write path over in-memory ports and the mock PMS.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::*;
use crate::obs::Metrics;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{
    Charge, ConfirmationNumber, Currency, HotelId, Money, Note, PropertyTz, Provider,
    ReservationStatus,
};
use pms_domain::memory::{MemoryQueue, MemoryStore};
use pms_domain::pms::PmsAdapter;
use pms_domain::ports::{Clock, ItemStore, Queue, SystemClock};
use pms_mock::{MockAdapter, MockFault, MockPms, MockSize};

struct Fixture {
    store: Arc<MemoryStore>,
    clock: Arc<dyn Clock>,
    service: WriteService,
    executor: Executor,
    queue: Arc<MemoryQueue>,
    pms: Arc<MockPms>,
    adapter: MockAdapter,
    config: HotelConfig,
    hotel: HotelId,
    metrics: Metrics,
}

const QUEUE: &str = "write-queue";
const DLQ: &str = "write-dlq";

fn fixture() -> Fixture {
    fixture_with(Arc::new(SystemClock))
}

fn fixture_with(clock: Arc<dyn Clock>) -> Fixture {
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let queue = Arc::new(MemoryQueue::new());
    let hotel = HotelId::parse(format!(
        "w-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .unwrap();
    let tz = PropertyTz::parse("Europe/Prague").unwrap();
    let pms = Arc::new(MockPms::seeded(
        hotel.clone(),
        tz,
        Currency::eur(),
        clock.clone(),
        MockSize::default(),
    ));
    let records = WriteRecords::new(store.clone(), clock.clone());
    let config = HotelConfig::new(
        hotel.clone(),
        "W",
        Provider::named("mock"),
        tz,
        Currency::eur(),
        Utc::now(),
    );
    Fixture {
        store,
        clock,
        service: WriteService::new(records.clone(), queue.clone(), QUEUE),
        executor: Executor::new(records, 3),
        adapter: MockAdapter::new(pms.clone()),
        queue,
        pms,
        config,
        hotel,
        metrics: Metrics::new("test", "writer"),
    }
}

fn in_house(f: &Fixture) -> ConfirmationNumber {
    f.pms
        .reservations()
        .into_iter()
        .find(|r| r.status == ReservationStatus::CheckedIn)
        .unwrap()
        .confirmation_number
}

fn charge_op(confirmation: ConfirmationNumber, reference: &str) -> WriteOperation {
    WriteOperation::PostCharge {
        confirmation,
        charge: Charge {
            amount: Money::new(1250, Currency::eur()),
            description: "Spa".into(),
            revenue_center: None,
            reference: reference.into(),
        },
    }
}

async fn submit(
    f: &Fixture,
    op: WriteOperation,
    key: Option<&str>,
) -> Result<OperationRecord, SubmitError> {
    f.service
        .submit(
            &f.hotel,
            op,
            key,
            "tok-1",
            "corr-1",
            &f.adapter.capabilities(),
        )
        .await
}

async fn deliver(f: &Fixture, receive_count: u32) -> Vec<Disposition> {
    let mut out = Vec::new();
    for body in f.queue.bodies(QUEUE) {
        let msg: WriteMessage = serde_json::from_str(&body).unwrap();
        out.push(
            f.executor
                .execute(&msg, receive_count, &f.config, &f.adapter, &f.metrics)
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn same_key_same_payload_is_one_operation_and_one_charge() {
    let f = fixture();
    let c = in_house(&f);
    let a = submit(&f, charge_op(c.clone(), "ref-1"), Some("k1"))
        .await
        .unwrap();
    let b = submit(&f, charge_op(c.clone(), "ref-1"), Some("k1"))
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(a.status, OperationStatus::Queued);
    let err = submit(&f, charge_op(c.clone(), "ref-2"), Some("k1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IDEMPOTENCY_CONFLICT");
    // The repeat of a queued operation queued nothing more.
    assert_eq!(f.queue.bodies(QUEUE).len(), 1);
    let outcomes = deliver(&f, 1).await;
    assert!(outcomes.iter().all(|o| *o == Disposition::Done));
    assert_eq!(f.pms.charges(&c).len(), 1, "exactly one charge");
    assert_eq!(
        f.pms.calls("post_charge"),
        1,
        "the duplicate did not call the PMS"
    );
    let op = f.service.operation(&f.hotel, &a.id).await.unwrap().unwrap();
    assert_eq!(op.status, OperationStatus::Succeeded);
    let audit = f.service.records().audit_log(&f.hotel, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].result, AuditResult::Succeeded);
    assert_eq!(audit[0].actor, "tok-1");
}

#[tokio::test]
async fn without_a_key_two_identical_charges_are_two_charges() {
    // Two coffees are two coffees: only a key says "this is the same request again".
    let f = fixture();
    let c = in_house(&f);
    let a = submit(&f, charge_op(c.clone(), ""), None).await.unwrap();
    let b = submit(&f, charge_op(c.clone(), ""), None).await.unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(charge_of(&a).reference, charge_of(&b).reference);
    deliver(&f, 1).await;
    assert_eq!(f.pms.charges(&c).len(), 2);
}

/// An intent of an attempt at `at`; `unknown`: it ended without telling whether it applied.
fn intent_at(op: &OperationRecord, at: chrono::DateTime<Utc>, unknown: bool) -> Intent {
    Intent {
        operation_id: op.id.clone(),
        attempted_at: at,
        attempt: 1,
        unknown_since: unknown.then_some(at),
    }
}

#[tokio::test]
async fn unknown_outcome_then_redelivery_finds_the_charge_instead_of_posting_again() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-crash"), Some("crash"))
        .await
        .unwrap();
    // A crash after the PMS accepted the charge: the intent was written and the charge posted,
    // but the key was never completed (its lease lapsed).
    let msg = op.message.clone();
    let records = f.service.records();
    records
        .record_intent(
            &f.hotel,
            &msg.idempotency_key,
            &intent_at(&op, Utc::now(), false),
        )
        .await
        .unwrap();
    f.adapter
        .post_charge(
            &c,
            &match &msg.operation {
                WriteOperation::PostCharge { charge, .. } => charge.clone(),
                _ => unreachable!(),
            },
        )
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&msg, 2, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.charges(&c).len(), 1, "not posted twice");
    assert_eq!(f.pms.calls("find_charge"), 1);
    let audit = records.audit_log(&f.hotel, 10).await.unwrap();
    assert_eq!(audit[0].result, AuditResult::AlreadyApplied);
}

#[tokio::test]
async fn a_timed_out_charge_is_not_looked_for_before_the_vendor_can_have_finished_it() {
    // Found by the chaos suite: an attempt timed out, the vendor went on and posted the charge
    // a moment later; the redelivery a second after the timeout searched the folio too early,
    // found nothing, and posted it again.
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-slow"), Some("slow"))
        .await
        .unwrap();
    f.pms.set_fault(Some(MockFault::Timeout));
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert!(matches!(out, Disposition::RetryAfter(_)));
    let records = f.service.records();
    assert!(
        records
            .intent(&f.hotel, &op.message.idempotency_key)
            .await
            .unwrap()
            .is_some(),
        "a timeout leaves the outcome unknown"
    );
    f.pms.set_fault(None);
    let calls = |f: &Fixture| (f.pms.calls("post_charge"), f.pms.calls("find_charge"));
    let before = calls(&f);
    let out = f
        .executor
        .execute(&op.message, 2, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    let Disposition::Wait(wait) = out else {
        panic!("expected to wait, got {out:?}")
    };
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    assert_eq!(calls(&f), before, "nothing sent, nothing searched yet");
    // The vendor finished the timed-out posting meanwhile; once the attempt is old enough the
    // redelivery finds it.
    f.adapter
        .post_charge(
            &c,
            &match &op.message.operation {
                WriteOperation::PostCharge { charge, .. } => charge.clone(),
                _ => unreachable!(),
            },
        )
        .await
        .unwrap();
    let old = Utc::now() - UNKNOWN_OUTCOME_SETTLE - chrono::Duration::seconds(1);
    records
        .record_intent(
            &f.hotel,
            &op.message.idempotency_key,
            &intent_at(&op, old, true),
        )
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&op.message, 3, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.charges(&c).len(), 1, "posted once");
    let status = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, OperationStatus::Succeeded);
}

#[tokio::test]
async fn retryable_failures_back_off_and_dead_letter_on_the_last_delivery() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-r"), Some("r"))
        .await
        .unwrap();
    f.pms.set_fault(Some(MockFault::Unavailable));
    let policy = pms_domain::pms::RetryPolicy::default();
    for attempt in 1..=3u32 {
        let out = f
            .executor
            .execute(&op.message, attempt, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        let Disposition::RetryAfter(d) = out else {
            panic!("expected a retry")
        };
        let base = policy.base_delay(attempt);
        assert!(d >= base && d < base + base / 2, "attempt {attempt}: {d:?}");
        let dlq = f.service.records().dlq(&f.hotel, &op.id).await.unwrap();
        assert_eq!(
            dlq.is_some(),
            attempt == 3,
            "DLQ record only on the last delivery"
        );
        // A 503 proves the PMS did not act: no outcome to wait for.
        assert!(f
            .service
            .records()
            .intent(&f.hotel, &op.message.idempotency_key)
            .await
            .unwrap()
            .is_none());
    }
    let item = f
        .service
        .records()
        .dlq(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (item.status, item.attempts, item.in_queue_dlq),
        (DlqStatus::Pending, 3, true)
    );
    assert_eq!(item.error.code, "PMS_UNAVAILABLE");
    assert_eq!(
        f.service
            .operation(&f.hotel, &op.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        OperationStatus::DeadLettered
    );
    // Fixed and redriven: resolved, one charge.
    f.pms.set_fault(None);
    dead_letters(&f)
        .redrive(std::slice::from_ref(&op.id))
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.charges(&c).len(), 1);
    let item = f
        .service
        .records()
        .dlq(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, DlqStatus::Resolved);
}

#[tokio::test]
async fn non_retryable_failures_dead_letter_after_one_attempt() {
    let f = fixture();
    let cancelled = f
        .pms
        .reservations()
        .into_iter()
        .find(|r| r.status == ReservationStatus::CheckedOut)
        .unwrap()
        .confirmation_number;
    let op = submit(&f, charge_op(cancelled, "ref-x"), Some("x"))
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    let item = f
        .service
        .records()
        .dlq(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.attempts, item.in_queue_dlq), (1, false));
    assert_eq!(item.error.code, "PMS_REJECTED");
    assert!(f
        .service
        .records()
        .intent(&f.hotel, &op.message.idempotency_key)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_live_lease_makes_a_duplicate_wait() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c, "ref-l"), Some("l")).await.unwrap();
    let held = f
        .service
        .records()
        .acquire(
            &f.hotel,
            &op.message.idempotency_key,
            &op.payload_hash,
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    assert!(matches!(held, Acquired::Lease { .. }));
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Wait(Duration::from_secs(2)));
    // Each copy looks again later (a duplicate delivery may make a copy of its own: polling
    // every 2 s through a dead holder's lease multiplied them), never past the lease's end.
    let mut msg = op.message.clone();
    let mut waits = Vec::new();
    for _ in 0..6 {
        msg = msg.waited(1);
        let out = f
            .executor
            .execute(&msg, 1, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        let Disposition::Wait(d) = out else {
            panic!("{out:?}")
        };
        waits.push(d.as_secs());
    }
    assert_eq!(&waits[..4], [4, 8, 16, 32]);
    assert!(
        waits[4..].iter().all(|w| (59..=61).contains(w)),
        "{waits:?}"
    );
    assert_eq!(f.pms.calls("post_charge"), 0);
}

#[tokio::test]
async fn unsupported_and_invalid_are_refused_before_queueing() {
    let f = fixture();
    let mut caps = f.adapter.capabilities();
    caps.checkout_time = false;
    let op = WriteOperation::UpdateCheckout {
        confirmation: in_house(&f),
        change: pms_domain::domain::CheckoutChange {
            date: pms_domain::domain::BusinessDate::parse("2030-01-01").unwrap(),
            time: Some(chrono::NaiveTime::from_hms_opt(14, 0, 0).unwrap()),
        },
    };
    let err = f
        .service
        .submit(&f.hotel, op, None, "t", "c", &caps)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UNSUPPORTED");
    let err = submit(&f, charge_op(in_house(&f), "bad ref!"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
    assert!(f.queue.bodies(QUEUE).is_empty());
    assert_eq!(f.queue.depth(QUEUE).await.unwrap(), 0);
}

#[tokio::test]
async fn an_unknown_outcome_keeps_the_intent_so_a_redrive_looks_before_posting() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-g"), Some("g"))
        .await
        .unwrap();
    f.pms.set_fault(Some(MockFault::Garbled));
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    // Not retryable (protocol errors are not in the default retryable list): dead-lettered at once...
    assert_eq!(out, Disposition::Done);
    let item = f
        .service
        .records()
        .dlq(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.error.code, "PMS_PROTOCOL");
    // ...but the PMS may have applied it: the intent stays.
    assert!(f
        .service
        .records()
        .intent(&f.hotel, &op.message.idempotency_key)
        .await
        .unwrap()
        .is_some());
    f.pms.set_fault(None);
    dead_letters(&f)
        .redrive(std::slice::from_ref(&op.id))
        .await
        .unwrap();
    pump(&f).await;
    assert_eq!(f.pms.calls("find_charge"), 1, "looked on the folio first");
    assert_eq!(f.pms.charges(&c).len(), 1);
}

#[tokio::test]
async fn a_charge_without_a_reference_gets_one_from_its_key() {
    let f = fixture();
    let c = in_house(&f);
    let reference = |op: &OperationRecord| match &op.message.operation {
        WriteOperation::PostCharge { charge, .. } => charge.reference.clone(),
        _ => unreachable!(),
    };
    let a = submit(&f, charge_op(c.clone(), ""), None).await.unwrap();
    assert_eq!(reference(&a), derive_charge_reference(&a.idempotency_key));
    assert!(reference(&a).starts_with("pms-"));
    let k = submit(&f, charge_op(c.clone(), ""), Some("caller-key"))
        .await
        .unwrap();
    let again = submit(&f, charge_op(c.clone(), ""), Some("caller-key"))
        .await
        .unwrap();
    assert_eq!(k.id, again.id);
    assert_eq!(
        reference(&k),
        derive_charge_reference(&IdempotencyKey::partner("tok-1", "caller-key").unwrap())
    );
    assert_eq!(
        reference(&k),
        reference(&again),
        "every retry, one reference"
    );
    assert_ne!(reference(&k), reference(&a));
}

#[tokio::test]
async fn a_registered_key_without_its_operation_is_never_stuck() {
    let f = fixture();
    let c = in_house(&f);
    let op = charge_op(c, "ref-s");
    let key = IdempotencyKey::partner("tok-1", "s").unwrap();
    let mut scoped = op.clone();
    scoped.scope_charge_reference("tok-1", &key);
    // A submission that stopped between registering the key and recording the operation.
    let orphan = OperationId::new();
    f.service
        .records()
        .register_key(
            &f.hotel,
            &key,
            &KeyRegistration {
                operation_id: orphan.clone(),
                payload_hash: scoped.payload_hash(),
                send_claim: None,
                claimed_at: None,
                sent_at: None,
            },
        )
        .await
        .unwrap();
    let again = submit(&f, op, Some("s")).await.unwrap();
    assert_eq!(again.id, orphan, "recorded under the registered id");
    assert_eq!(again.status, OperationStatus::Queued);
    assert_eq!(f.queue.bodies(QUEUE).len(), 1, "and queued");
}

#[tokio::test]
async fn an_abandoned_operation_is_never_executed() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-a"), Some("a"))
        .await
        .unwrap();
    f.service
        .records()
        .update_operation(&f.hotel, &op.id, |o| o.status = OperationStatus::Abandoned)
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.calls("post_charge"), 0);
    assert!(f.pms.charges(&c).is_empty());
}

/// The charge of `op` as it would be posted.
fn charge_of(op: &OperationRecord) -> Charge {
    match &op.message.operation {
        WriteOperation::PostCharge { charge, .. } => charge.clone(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_failed_folio_lookup_never_voids_the_intent() {
    // An earlier attempt got no answer and the PMS applied it anyway; every later lookup of the
    // folio fails in its own way. None of them may clear the intent, or the next delivery (or a
    // redrive) would post again without looking.
    for fault in [
        MockFault::Unavailable,
        MockFault::RateLimited(Duration::from_secs(2)),
        MockFault::Timeout,
        MockFault::Garbled,
        MockFault::Unauthorized,
    ] {
        let f = fixture();
        let c = in_house(&f);
        let op = submit(&f, charge_op(c.clone(), "ref-look"), Some("look"))
            .await
            .unwrap();
        let records = f.service.records();
        let key = &op.message.idempotency_key;
        let settled = Utc::now() - UNKNOWN_OUTCOME_SETTLE - chrono::Duration::seconds(1);
        records
            .record_intent(&f.hotel, key, &intent_at(&op, settled, true))
            .await
            .unwrap();
        f.adapter.post_charge(&c, &charge_of(&op)).await.unwrap();
        f.pms.set_fault(Some(fault.clone()));
        for attempt in 1..=3 {
            f.executor
                .execute(&op.message, attempt, &f.config, &f.adapter, &f.metrics)
                .await
                .unwrap();
            assert!(
                records.intent(&f.hotel, key).await.unwrap().is_some(),
                "{fault:?}, attempt {attempt}: the intent must stay"
            );
        }
        assert_eq!(
            f.pms.calls("post_charge"),
            1,
            "{fault:?}: never posted blind"
        );
        let item = records.dlq(&f.hotel, &op.id).await.unwrap().unwrap();
        assert_eq!(item.error.code, "OUTCOME_UNKNOWN", "{fault:?}");
        assert!(
            item.error
                .message
                .starts_with("outcome unknown: the charge may exist at the PMS"),
            "{fault:?}: {}",
            item.error.message
        );
        // Redriven while the PMS still fails: dead-lettered again, intent kept.
        dead_letters(&f)
            .redrive(std::slice::from_ref(&op.id))
            .await
            .unwrap();
        f.executor
            .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        assert!(records.intent(&f.hotel, key).await.unwrap().is_some());
        // Redriven once the PMS is back: found on the folio, not posted again.
        f.pms.set_fault(None);
        dead_letters(&f)
            .redrive(std::slice::from_ref(&op.id))
            .await
            .unwrap();
        let out = f
            .executor
            .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        assert_eq!(out, Disposition::Done, "{fault:?}");
        assert_eq!(f.pms.charges(&c).len(), 1, "{fault:?}: exactly one charge");
        let now = f
            .service
            .operation(&f.hotel, &op.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.status, OperationStatus::Succeeded, "{fault:?}");
        let audit = records.audit_log(&f.hotel, 20).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.result == AuditResult::AlreadyApplied),
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn a_charge_answered_late_is_found_once_settled_and_waiting_spends_no_delivery() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-late"), Some("late"))
        .await
        .unwrap();
    let records = f.service.records();
    let key = &op.message.idempotency_key;
    // The PMS takes the charge but answers after our client gave up.
    f.pms.set_fault(Some(MockFault::Timeout));
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert!(matches!(out, Disposition::RetryAfter(_)), "{out:?}");
    f.pms.set_fault(None);
    f.adapter.post_charge(&c, &charge_of(&op)).await.unwrap();
    // Every delivery inside the settle window waits; each wait is a copy of the message whose
    // attempt count does not grow, so no number of waits dead-letters it.
    let mut msg = op.message.clone();
    let mut receive = 2;
    for _ in 0..6 {
        let out = f
            .executor
            .execute(&msg, receive, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        assert!(matches!(out, Disposition::Wait(_)), "{out:?}");
        msg = msg.waited(receive);
        assert_eq!(msg.attempt(1), 2, "waits are not attempts");
        receive = 1;
    }
    assert!(records.dlq(&f.hotel, &op.id).await.unwrap().is_none());
    let now = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.attempts, 1, "only the post was an attempt");
    assert_eq!(f.pms.calls("find_charge"), 0, "not looked for too early");
    // Once the window has passed, the copy looks on the folio and finds it.
    let settled = Utc::now() - UNKNOWN_OUTCOME_SETTLE - chrono::Duration::seconds(1);
    records
        .record_intent(&f.hotel, key, &intent_at(&op, settled, true))
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&msg, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.charges(&c).len(), 1);
    let now = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.status, OperationStatus::Succeeded);
    assert!(
        records.dlq(&f.hotel, &op.id).await.unwrap().is_none(),
        "nobody is asked to act"
    );
    let audit = records.audit_log(&f.hotel, 10).await.unwrap();
    assert_eq!(audit[0].result, AuditResult::AlreadyApplied);
}

/// Delivers every visible message of the write queue once, as the event source would: what is
/// done is deleted, a wait is replaced by its copy, a retry is made visible again.
async fn pump(f: &Fixture) -> Vec<Disposition> {
    let mut out = Vec::new();
    let batch = f
        .queue
        .receive(QUEUE, 10, Duration::ZERO, None)
        .await
        .unwrap();
    for m in batch {
        let msg: WriteMessage = serde_json::from_str(&m.body).unwrap();
        let d = f
            .executor
            .execute(&msg, m.receive_count, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        match &d {
            Disposition::Done => f.queue.delete(QUEUE, &m.receipt_handle).await.unwrap(),
            Disposition::Wait(_) | Disposition::Unstarted => {
                let copy = match d {
                    Disposition::Unstarted => msg.not_started(m.receive_count).0,
                    _ => msg.waited(m.receive_count),
                };
                let copy = serde_json::to_string(&copy).unwrap();
                f.queue
                    .send(QUEUE, pms_domain::ports::OutgoingMessage::new(copy))
                    .await
                    .unwrap();
                f.queue.delete(QUEUE, &m.receipt_handle).await.unwrap();
            }
            Disposition::RetryAfter(_) => f
                .queue
                .change_visibility(QUEUE, &m.receipt_handle, Duration::ZERO)
                .await
                .unwrap(),
        }
        out.push(d);
    }
    out
}

fn dead_letters(f: &Fixture) -> DeadLetters {
    DeadLetters::new(
        f.service.records().clone(),
        f.service.clone(),
        f.queue.clone(),
        QUEUE,
        DLQ,
    )
}

/// A charge the PMS applied although its attempt got no answer, and whose folio could not be
/// read on the next two attempts: dead-lettered, outcome unknown.
async fn dead_letter_of_an_unknown_charge(
    f: &Fixture,
    clock: &pms_domain::ports::ManualClock,
    key: &str,
) -> OperationRecord {
    let c = in_house(f);
    let op = submit(f, charge_op(c.clone(), &format!("ref-{key}")), Some(key))
        .await
        .unwrap();
    f.pms.set_fault(Some(MockFault::Timeout));
    f.executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    f.pms.set_fault(None);
    f.adapter.post_charge(&c, &charge_of(&op)).await.unwrap();
    clock.advance(UNKNOWN_OUTCOME_SETTLE + chrono::Duration::seconds(1));
    f.pms.set_fault(Some(MockFault::Unavailable));
    for receive in 2..=3 {
        f.executor
            .execute(&op.message, receive, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
    }
    f.pms.set_fault(None);
    let item = f
        .service
        .records()
        .dlq(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.error.code, "OUTCOME_UNKNOWN");
    assert!(item.intent.is_some());
    op
}

#[tokio::test]
async fn a_dead_letter_never_outlives_what_protects_it() {
    let clock = Arc::new(pms_domain::ports::ManualClock::new(Utc::now()));
    let f = fixture_with(clock.clone());
    let c = in_house(&f);
    let records = f.service.records().clone();
    let dl = dead_letters(&f);

    // Kept as long as the dead letter: 45 days on, its key and intent are still there, and a
    // redrive looks on the folio instead of posting again.
    let op = dead_letter_of_an_unknown_charge(&f, &clock, "kept").await;
    let key = &op.message.idempotency_key;
    clock.advance(chrono::Duration::days(45));
    assert!(records.intent(&f.hotel, key).await.unwrap().is_some());
    assert!(records
        .key_registration(&f.hotel, key)
        .await
        .unwrap()
        .is_some());
    assert!(records.operation(&f.hotel, &op.id).await.unwrap().is_some());
    dl.redrive(std::slice::from_ref(&op.id)).await.unwrap();
    pump(&f).await;
    let posted = |f: &Fixture, op: &OperationRecord| {
        f.pms
            .charges(&c)
            .iter()
            .filter(|p| p.charge.reference == charge_of(op).reference)
            .count()
    };
    assert_eq!(posted(&f, &op), 1, "found, not posted again");
    let done = records.operation(&f.hotel, &op.id).await.unwrap().unwrap();
    assert_eq!(done.status, OperationStatus::Succeeded);
    // Resolved: they expire again like any other.
    clock.advance(chrono::Duration::days(IDEMPOTENCY_RETENTION_DAYS + 1));
    assert!(records.intent(&f.hotel, key).await.unwrap().is_none());

    // A dead letter whose records are gone anyway (expired before they were kept): a redrive
    // refuses, with what is missing; forced, it restores them (audited) and looks first.
    let op = dead_letter_of_an_unknown_charge(&f, &clock, "lost").await;
    let key = &op.message.idempotency_key;
    for sort in [format!("KEY#{key}"), format!("INTENT#{key}")] {
        let k = pms_domain::ports::ItemKey::hotel(&f.hotel, sort);
        let mut item = f.store.get(&k).await.unwrap().unwrap();
        item.expires_at = Some(f.clock.now().timestamp() - 1);
        f.store
            .put(item, pms_domain::ports::Condition::Always)
            .await
            .unwrap();
    }
    let err = dl.redrive(std::slice::from_ref(&op.id)).await.unwrap_err();
    assert!(matches!(err, DlqError::Unprotected { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("INTENT#") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(
        records.dlq(&f.hotel, &op.id).await.unwrap().unwrap().status,
        DlqStatus::Pending,
        "nothing changed"
    );
    let report = dl.redrive_all(None).await.unwrap();
    assert!(report.redriven.is_empty());
    assert_eq!(report.refused.len(), 1, "--all leaves it pending too");
    let forced = ForcedRedrive {
        staff: "night.manager".into(),
        reason: "folio checked: the spa charge is there".into(),
    };
    dl.redrive_with(std::slice::from_ref(&op.id), Some(&forced))
        .await
        .unwrap();
    let audit = records.audit_log(&f.hotel, 50).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.operation_id == op.id && a.result == AuditResult::RedriveForced)
        .expect("the forced redrive is audited");
    assert_eq!(entry.actor, "staff:night.manager");
    assert!(entry.note.as_deref().unwrap().contains("folio checked"));
    pump(&f).await;
    assert_eq!(posted(&f, &op), 1, "still exactly one charge");
    let done = records.operation(&f.hotel, &op.id).await.unwrap().unwrap();
    assert_eq!(done.status, OperationStatus::Succeeded);
}

#[tokio::test]
async fn idempotency_keys_and_charge_references_are_scoped_by_the_partner() {
    let f = fixture();
    let c = in_house(&f);
    let as_partner = |actor: &'static str, op: WriteOperation| {
        let f = &f;
        async move {
            f.service
                .submit(
                    &f.hotel,
                    op,
                    Some("shared-key"),
                    actor,
                    "corr",
                    &f.adapter.capabilities(),
                )
                .await
        }
    };
    let a = as_partner("tok-a", charge_op(c.clone(), "folio-1"))
        .await
        .unwrap();
    // Partner B, same key, another charge: its own operation, no conflict.
    let b = as_partner("tok-b", charge_op(c.clone(), "folio-1"))
        .await
        .unwrap();
    assert_ne!(a.id, b.id, "B does not see A's operation");
    assert_ne!(a.idempotency_key, b.idempotency_key);
    let b2 = WriteOperation::PostCharge {
        confirmation: c.clone(),
        charge: Charge {
            amount: Money::new(99, Currency::eur()),
            ..charge_of(&a)
        },
    };
    let b2 = as_partner("tok-b", b2).await;
    assert_eq!(
        b2.unwrap_err().code(),
        "IDEMPOTENCY_CONFLICT",
        "B's own key, B's own conflict"
    );
    assert_ne!(
        charge_of(&a).reference,
        charge_of(&b).reference,
        "the same partner reference is two references at the PMS"
    );
    assert!(charge_of(&a).reference.starts_with("folio-1."));
    pump(&f).await;
    assert_eq!(f.pms.charges(&c).len(), 2);
}

/// A queue whose first `fail` sends fail.
struct FlakyQueue {
    inner: MemoryQueue,
    fail: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl Queue for FlakyQueue {
    async fn send(
        &self,
        url: &str,
        m: pms_domain::ports::OutgoingMessage,
    ) -> pms_domain::ports::PortResult<String> {
        use std::sync::atomic::Ordering;
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(pms_domain::ports::PortError::Unavailable {
                service: pms_domain::ports::Service::Sqs,
                message: "flaky".into(),
            });
        }
        self.inner.send(url, m).await
    }
    async fn send_batch(
        &self,
        url: &str,
        m: Vec<pms_domain::ports::OutgoingMessage>,
    ) -> pms_domain::ports::PortResult<Vec<pms_domain::ports::BatchSendFailure>> {
        self.inner.send_batch(url, m).await
    }
    async fn receive(
        &self,
        url: &str,
        n: u32,
        w: Duration,
        v: Option<Duration>,
    ) -> pms_domain::ports::PortResult<Vec<pms_domain::ports::ReceivedMessage>> {
        self.inner.receive(url, n, w, v).await
    }
    async fn delete(&self, url: &str, h: &str) -> pms_domain::ports::PortResult<()> {
        self.inner.delete(url, h).await
    }
    async fn change_visibility(
        &self,
        url: &str,
        h: &str,
        t: Duration,
    ) -> pms_domain::ports::PortResult<()> {
        self.inner.change_visibility(url, h, t).await
    }
    async fn depth(&self, url: &str) -> pms_domain::ports::PortResult<u64> {
        self.inner.depth(url).await
    }
}

#[tokio::test]
async fn a_mutation_repeated_while_queued_enqueues_nothing_more() {
    let f = fixture();
    let c = in_house(&f);
    let first = submit(&f, charge_op(c.clone(), "ref-q"), Some("q"))
        .await
        .unwrap();
    let repeats = futures::future::join_all(
        (0..5).map(|_| submit(&f, charge_op(c.clone(), "ref-q"), Some("q"))),
    )
    .await;
    for r in repeats {
        assert_eq!(r.unwrap().id, first.id);
    }
    for _ in 0..5 {
        submit(&f, charge_op(c.clone(), "ref-q"), Some("q"))
            .await
            .unwrap();
    }
    assert_eq!(
        f.queue.bodies(QUEUE).len(),
        1,
        "one message, however many repeats"
    );

    // Only a first send that provably did not happen (it failed) is repeated, once.
    let flaky = Arc::new(FlakyQueue {
        inner: MemoryQueue::new(),
        fail: 1.into(),
    });
    let service = WriteService::new(f.service.records().clone(), flaky.clone(), QUEUE);
    let caps = f.adapter.capabilities();
    let send = || {
        service.submit(
            &f.hotel,
            charge_op(c.clone(), "ref-f"),
            Some("f"),
            "tok-1",
            "corr",
            &caps,
        )
    };
    assert!(send().await.is_err(), "the first send failed");
    assert!(flaky.inner.bodies(QUEUE).is_empty());
    let again = send().await.unwrap();
    assert_eq!(again.status, OperationStatus::Queued);
    send().await.unwrap();
    send().await.unwrap();
    assert_eq!(
        flaky.inner.bodies(QUEUE).len(),
        1,
        "sent once, by the first repeat"
    );
}

#[tokio::test]
async fn the_writers_crash_hook_exists_only_in_test_builds() {
    // The switch the crash tests give their writer process: a writer built as production code
    // has no hook to read it, so the write completes.
    std::env::set_var("PMS_WRITER_CRASH_AFTER_PMS_CALL", "1");
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-h"), Some("h"))
        .await
        .unwrap();
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.charges(&c).len(), 1);
}

#[tokio::test]
async fn note_and_description_lengths_are_bounded() {
    let f = fixture();
    let c = in_house(&f);
    let note = |text: String, title: Option<String>| WriteOperation::AddReservationNote {
        confirmation: c.clone(),
        note: Note {
            text,
            title,
            internal: false,
        },
    };
    let field = |r: Result<OperationRecord, SubmitError>| match r {
        Err(SubmitError::Invalid(v)) => v.field,
        other => panic!("expected BAD_USER_INPUT, got {other:?}"),
    };
    assert_eq!(
        field(submit(&f, note("x".repeat(2001), None), None).await),
        "text"
    );
    assert_eq!(
        field(submit(&f, note("ok".into(), Some("t".repeat(201))), None).await),
        "title"
    );
    assert_eq!(
        field(submit(&f, note("ok".into(), Some("t".repeat(100_000))), None).await),
        "title"
    );
    let long = |description: String| WriteOperation::PostCharge {
        confirmation: c.clone(),
        charge: Charge {
            description,
            ..charge_of_op(&charge_op(c.clone(), "ref-d"))
        },
    };
    assert_eq!(
        field(submit(&f, long("d".repeat(201)), None).await),
        "description"
    );
    // The bounds are characters, not bytes.
    submit(&f, note("é".repeat(2000), Some("é".repeat(200))), None)
        .await
        .unwrap();
    submit(&f, long("é".repeat(200)), None).await.unwrap();
    assert_eq!(f.queue.bodies(QUEUE).len(), 2, "only what is within bounds");
}

fn charge_of_op(op: &WriteOperation) -> Charge {
    match op {
        WriteOperation::PostCharge { charge, .. } => charge.clone(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn the_writer_starts_no_vendor_call_it_cannot_finish_before_its_deadline() {
    use pms_domain::pms::deadline::{self, CallBudget};
    use tokio::time::Instant;
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-t"), Some("t"))
        .await
        .unwrap();
    let calls = f.pms.total_calls();
    let too_close = CallBudget::new(
        Instant::now() + Duration::from_secs(5),
        Duration::from_secs(20),
    );
    let out = deadline::within(
        Some(too_close),
        f.executor
            .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics),
    )
    .await
    .unwrap();
    assert_eq!(out, Disposition::Unstarted);
    assert_eq!(f.pms.total_calls(), calls, "no vendor call started");
    let now = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.status, now.attempts), (OperationStatus::Queued, 0));
    let roomy = CallBudget::new(
        Instant::now() + Duration::from_secs(60),
        Duration::from_secs(20),
    );
    let out = deadline::within(
        Some(roomy),
        f.executor
            .execute(&op.message, 2, &f.config, &f.adapter, &f.metrics),
    )
    .await
    .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.charges(&c).len(), 1);
}

#[tokio::test]
async fn every_dead_letter_counts_toward_the_alarms() {
    let clock = Arc::new(pms_domain::ports::ManualClock::new(Utc::now()));
    let f = fixture_with(clock.clone());
    let records = f.service.records().clone();
    let census = DeadLetterCensus::new(records.clone(), f.queue.clone(), DLQ);
    let to_dlq = |body: String| {
        let q = f.queue.clone();
        async move {
            q.send(DLQ, pms_domain::ports::OutgoingMessage::new(body))
                .await
                .unwrap();
        }
    };
    // 1. Recorded: a charge refused at once; the record holds it.
    let checked_out = f
        .pms
        .reservations()
        .into_iter()
        .find(|r| r.status == ReservationStatus::CheckedOut)
        .unwrap()
        .confirmation_number;
    let refused = submit(&f, charge_op(checked_out, "ref-x"), Some("x"))
        .await
        .unwrap();
    f.executor
        .execute(&refused.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert!(records.dlq(&f.hotel, &refused.id).await.unwrap().is_some());
    // 2. In the SQS DLQ without a record: the writer died during the last delivery, after its
    //    intent was written.
    let c = in_house(&f);
    let stopped = submit(&f, charge_op(c.clone(), "ref-s"), Some("s"))
        .await
        .unwrap();
    records
        .record_intent(
            &f.hotel,
            &stopped.message.idempotency_key,
            &intent_at(&stopped, clock.now(), false),
        )
        .await
        .unwrap();
    to_dlq(serde_json::to_string(&stopped.message).unwrap()).await;
    // 3. Unreadable.
    to_dlq("{not json".into()).await;
    // 4. A stray copy of an operation that succeeded: not a dead letter.
    let fine = submit(&f, charge_op(c.clone(), "ref-f"), Some("f"))
        .await
        .unwrap();
    f.executor
        .execute(&fine.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    to_dlq(serde_json::to_string(&fine.message).unwrap()).await;
    clock.advance(chrono::Duration::hours(5));

    let report = census.take(false).await.unwrap();
    assert_eq!(report.open, 3, "{report:?}");
    assert_eq!(report.open_charges, 2, "{report:?}");
    assert_eq!(report.unrecorded.len(), 2);
    assert_eq!(report.stale, 1);
    assert!(report.oldest >= Duration::from_secs(5 * 3600), "{report:?}");

    // Adopted: the writer's missing record is written, and the partner sees the outcome.
    let report = census.take(true).await.unwrap();
    assert_eq!(report.adopted, vec![stopped.id.clone()]);
    assert_eq!((report.open, report.open_charges), (3, 2), "{report:?}");
    let item = records.dlq(&f.hotel, &stopped.id).await.unwrap().unwrap();
    assert_eq!(item.error.code, "OUTCOME_UNKNOWN");
    assert!(item.in_queue_dlq);
    let op = records
        .operation(&f.hotel, &stopped.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(op.status, OperationStatus::DeadLettered);

    // The charge alarm stays on for as long as the charge is pending.
    for _ in 0..3 {
        clock.advance(chrono::Duration::minutes(5));
        let r = census.take(true).await.unwrap();
        assert_eq!(r.open_charges, 2);
        let metrics = Metrics::new("test", "dead-letters");
        r.emit(&metrics);
        let doc = metrics.take_document(0).unwrap();
        assert_eq!(doc["PostChargeDeadLettersPending"], 2.0);
        assert_eq!(doc["DeadLettersPending"], 3.0);
        assert!(doc["DeadLettersOldestAgeSeconds"].as_f64().unwrap() >= 5.0 * 3600.0);
    }
    let dl = dead_letters(&f);
    for id in [&refused.id, &stopped.id] {
        dl.abandon(id, "charged at the desk", "j.doe")
            .await
            .unwrap();
    }
    let r = census.take(true).await.unwrap();
    assert_eq!(
        (r.open, r.open_charges),
        (1, 0),
        "the unreadable one is left: {r:?}"
    );
}

/// A PMS so slow that the look on the folio leaves no time to post (the deadline refuses the
/// post, so nothing is sent): those deliveries are not attempts, but they back off and, past
/// [`MAX_NOT_STARTED`], count, so the operation ends in a dead letter that says the charge may
/// exist, instead of cycling through the queue for as long as the PMS is slow.
#[tokio::test]
async fn a_write_that_can_never_start_its_call_in_time_ends_in_a_dead_letter_not_a_cycle() {
    use pms_domain::pms::deadline::{self, CallBudget};
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-slow"), Some("slow"))
        .await
        .unwrap();
    let records = f.service.records();
    // The first attempt's outcome is unknown; the settle window has passed.
    f.pms.set_fault(Some(MockFault::Timeout));
    let out = f
        .executor
        .execute(&op.message, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert!(matches!(out, Disposition::RetryAfter(_)), "{out:?}");
    f.pms.set_fault(None);
    let settled = Utc::now() - UNKNOWN_OUTCOME_SETTLE - chrono::Duration::seconds(1);
    let key = &op.message.idempotency_key;
    records
        .record_intent(&f.hotel, key, &intent_at(&op, settled, true))
        .await
        .unwrap();
    // Each call takes 300 ms; a request needs 800 ms left; each delivery has 1 s.
    f.pms.set_latency(Duration::from_millis(300));
    let budget = || {
        Some(CallBudget::new(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_millis(800),
        ))
    };
    let mut msg = op.message.waited(2);
    let mut delays = Vec::new();
    for _ in 0..MAX_NOT_STARTED {
        let out = deadline::within(
            budget(),
            f.executor
                .execute(&msg, 1, &f.config, &f.adapter, &f.metrics),
        )
        .await
        .unwrap();
        assert_eq!(out, Disposition::Unstarted);
        let (copy, delay) = msg.not_started(1);
        delays.push(delay.as_secs());
        msg = copy;
    }
    assert_eq!(delays, [0, 2, 4, 8, 16, 32, 64, 120], "backing off");
    let now = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.attempts, 1, "deliveries not started are not attempts");
    assert_eq!(f.pms.calls("find_charge"), u64::from(MAX_NOT_STARTED));
    assert_eq!(
        f.pms.calls("post_charge"),
        1,
        "only the first attempt posted"
    );
    // Past the bound a refusal counts: attempts 2 and 3, then the dead letter.
    let out = deadline::within(
        budget(),
        f.executor
            .execute(&msg, 1, &f.config, &f.adapter, &f.metrics),
    )
    .await
    .unwrap();
    assert!(matches!(out, Disposition::RetryAfter(_)), "{out:?}");
    let out = deadline::within(
        budget(),
        f.executor
            .execute(&msg, 2, &f.config, &f.adapter, &f.metrics),
    )
    .await
    .unwrap();
    assert_eq!(out, Disposition::Done);
    let now = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (now.status, now.attempts),
        (OperationStatus::DeadLettered, 3)
    );
    let dead = records.dlq(&f.hotel, &op.id).await.unwrap().unwrap();
    assert_eq!(dead.error.code, "OUTCOME_UNKNOWN", "{:?}", dead.error);
    assert!(
        records.intent(&f.hotel, key).await.unwrap().is_some(),
        "the intent stands: a redrive looks before it posts"
    );
    assert_eq!(f.pms.calls("post_charge"), 1);
}

/// Copies of a message made before its operation was dead-lettered (a wait's copy, a duplicate
/// delivery) are not executed while the dead letter waits for ops: each would be an attempt
/// nobody asked for (the chaos suite saw one charge dead-lettered 32 times in 23 s that way).
/// The dead letter holds the operation; a redrive runs it.
#[tokio::test]
async fn a_stray_copy_of_a_dead_letter_ops_have_not_redriven_is_dropped_without_a_call() {
    let f = fixture();
    let c = in_house(&f);
    let op = submit(&f, charge_op(c.clone(), "ref-stray"), Some("stray"))
        .await
        .unwrap();
    let stray = op.message.waited(1);
    f.pms.set_fault(Some(MockFault::Unavailable));
    for receive in 1..=3 {
        let out = f
            .executor
            .execute(&op.message, receive, &f.config, &f.adapter, &f.metrics)
            .await
            .unwrap();
        assert!(
            matches!(out, Disposition::RetryAfter(_)),
            "{receive}: {out:?}"
        );
    }
    let records = f.service.records();
    let dead = records.dlq(&f.hotel, &op.id).await.unwrap().unwrap();
    assert_eq!(dead.status, DlqStatus::Pending);
    f.pms.set_fault(None);
    let calls = f.pms.total_calls();
    let out = f
        .executor
        .execute(&stray, 1, &f.config, &f.adapter, &f.metrics)
        .await
        .unwrap();
    assert_eq!(out, Disposition::Done);
    assert_eq!(f.pms.total_calls(), calls, "no call for a stray copy");
    let now = records.dlq(&f.hotel, &op.id).await.unwrap().unwrap();
    assert_eq!(
        (now.status, now.attempts),
        (DlqStatus::Pending, dead.attempts)
    );
    // Redriven by ops, it runs.
    dead_letters(&f)
        .redrive(std::slice::from_ref(&op.id))
        .await
        .unwrap();
    pump(&f).await;
    let done = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, OperationStatus::Succeeded);
    assert_eq!(f.pms.charges(&c).len(), 1);
}

/// Each delivery that waits replaces its message by a copy. Before copies had tokens, every
/// duplicate delivery (SQS delivering one message twice, or a writer dying before it deleted
/// the message it replaced) added a live copy, and each copy kept making its own: a charge in
/// its settle window was delivered 119 times in a chaos round. Only the copy recorded last is
/// live; the others, and the replaced message delivered again, are dropped without a call.
#[tokio::test]
async fn a_replaced_message_has_one_live_copy_whatever_is_delivered_again() {
    use pms_domain::ports::CachedSecrets;
    let f = fixture();
    let hotels = crate::registry::HotelRegistry::new(f.store.clone());
    hotels.create(&f.config).await.unwrap();
    let secrets = Arc::new(CachedSecrets::new(
        Arc::new(pms_domain::memory::MemorySecrets::new()),
        f.clock.clone(),
        chrono::Duration::minutes(5),
    ));
    let adapters = pms_vendor_kit::pms::AdapterFactory::new(secrets, f.clock.clone(), "pms/test")
        .with_vendor(pms_mock::vendor());
    let pms = MockPms::shared(
        &f.hotel,
        f.config.time_zone,
        Currency::eur(),
        f.clock.clone(),
    );
    let c = pms
        .reservations()
        .into_iter()
        .find(|r| r.status == ReservationStatus::CheckedIn)
        .unwrap()
        .confirmation_number;
    let op = submit(&f, charge_op(c.clone(), "ref-live"), Some("live"))
        .await
        .unwrap();
    // Another delivery holds the key, so this one waits (is replaced by a copy).
    let records = f.service.records();
    let Acquired::Lease { token } = records
        .acquire(
            &f.hotel,
            &op.message.idempotency_key,
            &op.payload_hash,
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap()
    else {
        panic!("the key is free")
    };
    let received = f
        .queue
        .receive(QUEUE, 10, Duration::ZERO, None)
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    let original = QueueDelivery {
        message_id: received[0].message_id.clone(),
        receipt_handle: received[0].receipt_handle.clone(),
        body: received[0].body.clone(),
        receive_count: received[0].receive_count,
    };
    // Delivered twice at once (two writers): each may replace it by a copy; a delivery that
    // finds it already replaced drops it.
    let once = [original.clone()];
    let (a, b) = tokio::join!(
        f.service
            .process_batch(&once, &f.executor, &hotels, &adapters, &f.metrics),
        f.service
            .process_batch(&once, &f.executor, &hotels, &adapters, &f.metrics),
    );
    let outcomes: Vec<_> = a.outcomes.into_iter().chain(b.outcomes).collect();
    let copies = outcomes
        .iter()
        .filter(|o| matches!(o.result, DeliveryResult::Deferred(_)))
        .count();
    assert!(copies >= 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.result, DeliveryResult::Deferred(_) | DeliveryResult::Done)),
        "{outcomes:?}"
    );
    assert_eq!(f.queue.bodies(QUEUE).len(), 1 + copies);
    // The writer died before deleting the original: it comes back too.
    f.queue
        .change_visibility(QUEUE, &original.receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    // Everything is delivered again while the key is still held: one copy stays live.
    let round = deliver_all(&f, &hotels, &adapters).await;
    assert_eq!(round.len(), 1 + copies);
    assert_eq!(
        f.queue.bodies(QUEUE).len(),
        1,
        "one live copy (was {round:?})"
    );
    records
        .release(
            &f.hotel,
            &op.message.idempotency_key,
            &token,
            &op.payload_hash,
        )
        .await
        .unwrap();
    let calls = pms.calls("post_charge");
    let last = deliver_all(&f, &hotels, &adapters).await;
    assert_eq!(last, [DeliveryResult::Done]);
    assert!(f.queue.bodies(QUEUE).is_empty());
    assert_eq!(
        pms.calls("post_charge") - calls,
        1,
        "one call, by the live copy"
    );
    assert_eq!(pms.charges(&c).len(), 1);
    let done = f
        .service
        .operation(&f.hotel, &op.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.status, done.attempts),
        (OperationStatus::Succeeded, 1)
    );
}

/// One receive of every visible message of the write queue, processed as the writer does:
/// finished and replaced messages are deleted, retried ones made visible again.
async fn deliver_all(
    f: &Fixture,
    hotels: &crate::registry::HotelRegistry,
    adapters: &pms_vendor_kit::pms::AdapterFactory,
) -> Vec<DeliveryResult> {
    let batch = f
        .queue
        .receive(QUEUE, 10, Duration::ZERO, None)
        .await
        .unwrap();
    let deliveries: Vec<QueueDelivery> = batch
        .iter()
        .map(|m| QueueDelivery {
            message_id: m.message_id.clone(),
            receipt_handle: m.receipt_handle.clone(),
            body: m.body.clone(),
            receive_count: m.receive_count,
        })
        .collect();
    let report = f
        .service
        .process_batch(&deliveries, &f.executor, hotels, adapters, &f.metrics)
        .await;
    let mut out = Vec::new();
    for (d, o) in deliveries.iter().zip(report.outcomes) {
        match o.result {
            DeliveryResult::Done | DeliveryResult::Deferred(_) => {
                f.queue.delete(QUEUE, &d.receipt_handle).await.unwrap()
            }
            _ => f
                .queue
                .change_visibility(QUEUE, &d.receipt_handle, Duration::ZERO)
                .await
                .unwrap(),
        }
        out.push(o.result);
    }
    out
}

/// A store whose refused conditional puts do not say what refused them.
struct Unforthcoming(Arc<MemoryStore>);

#[async_trait::async_trait]
impl ItemStore for Unforthcoming {
    async fn get(
        &self,
        key: &pms_domain::ports::ItemKey,
    ) -> pms_domain::ports::PortResult<Option<pms_domain::ports::Item>> {
        self.0.get(key).await
    }
    async fn put(
        &self,
        item: pms_domain::ports::Item,
        condition: pms_domain::ports::Condition,
    ) -> pms_domain::ports::PortResult<pms_domain::ports::PutOutcome> {
        Ok(match self.0.put(item, condition).await? {
            pms_domain::ports::PutOutcome::Rejected { .. } => {
                pms_domain::ports::PutOutcome::Rejected { existing: None }
            }
            applied => applied,
        })
    }
    async fn delete(&self, key: &pms_domain::ports::ItemKey) -> pms_domain::ports::PortResult<()> {
        self.0.delete(key).await
    }
    async fn batch_get(
        &self,
        keys: &[pms_domain::ports::ItemKey],
    ) -> pms_domain::ports::PortResult<Vec<pms_domain::ports::Item>> {
        self.0.batch_get(keys).await
    }
    async fn batch_put(
        &self,
        items: Vec<pms_domain::ports::Item>,
    ) -> pms_domain::ports::PortResult<()> {
        self.0.batch_put(items).await
    }
    async fn query(
        &self,
        query: &pms_domain::ports::Query,
    ) -> pms_domain::ports::PortResult<pms_domain::ports::Page> {
        self.0.query(query).await
    }
    async fn increment(
        &self,
        key: &pms_domain::ports::ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> pms_domain::ports::PortResult<i64> {
        self.0.increment(key, field, by, expires_at).await
    }
}

/// A registration refused without the item that refused it was taken for this submission's
/// own: a repeated request made a second operation (and a second charge) for one key.
#[tokio::test]
async fn a_key_refused_without_its_holder_is_looked_up_not_taken() {
    let f = fixture();
    let store: Arc<dyn ItemStore> = Arc::new(Unforthcoming(f.store.clone()));
    let service = WriteService::new(
        WriteRecords::new(store, f.clock.clone()),
        f.queue.clone(),
        QUEUE,
    );
    let c = in_house(&f);
    let caps = f.adapter.capabilities();
    let first = service
        .submit(
            &f.hotel,
            charge_op(c.clone(), "ref-k"),
            Some("k"),
            "t",
            "c",
            &caps,
        )
        .await
        .unwrap();
    let again = service
        .submit(&f.hotel, charge_op(c, "ref-k"), Some("k"), "t", "c", &caps)
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(f.queue.bodies(QUEUE).len(), 1, "one message for one key");
}
