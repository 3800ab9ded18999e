//! Partner subscribers in the chaos suite: each deployment's hotel has a subscription to every
//! event type, delivered to a receiver on loopback. Every round ends with a delivery phase: the
//! round's domain events (as the bus accepted them) reach the delivery function — through the
//! template's rule and the real queue on moto, handed over as the rule would in memory — while
//! the receiver is down for a while (connections refused), then answers 5xx or 429, or answers
//! after the deliverer gave up (so it sees the delivery twice), and some events come twice (an
//! EventBridge or SQS duplicate). Checked: no event lost, each entity's newest version is the
//! last one a receiver keeping the newest applies (order by version), no dead letter (the
//! faults never outlast the retry schedule), and every delivery accepted verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pms_app::deliveries::DeliveryService;
use pms_app::obs::Metrics;
use pms_app::runtime::Services;
use pms_domain::domain::events::{DomainEvent, EventType};
use pms_domain::domain::HotelId;
use pms_domain::ports::{EventBus, PortResult, Queue};
use pms_subscriptions::signing::verify;
use pms_subscriptions::{DeliveryStatus, SigningSecret, SubscriptionId, TargetPolicy};
use rand::{Rng, RngExt};

use super::report::Tally;
use super::world::Backend;
use crate::subscriptions::{Behaviour, Receiver};

/// The deliverer's timeout here (production: 10 s); a slow receiver answers after it.
const TIMEOUT: Duration = Duration::from_millis(300);
/// Retries without waiting: the faults below are counted in requests, not time.
const SCHEDULE: [Duration; 8] = [Duration::ZERO; 8];
/// A safety net only: the delivery phase ends when every event arrived or the queue is empty
/// (nothing more can arrive). A limit of 40 s of wall time counted events as lost whenever
/// moto was slow (a loaded machine: 13 passes in 46 s with 19 messages still queued).
const PHASE_CAP: Duration = Duration::from_secs(300);

/// The bus, remembering every event it accepted (the ground truth of what must be delivered).
pub struct RecordingBus {
    inner: Arc<dyn EventBus>,
    seen: Mutex<Vec<DomainEvent>>,
}

impl RecordingBus {
    pub fn new(inner: Arc<dyn EventBus>) -> Self {
        Self {
            inner,
            seen: Mutex::default(),
        }
    }

    pub fn take(&self) -> Vec<DomainEvent> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()> {
        self.inner.publish(events).await?;
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}

/// A deployment's subscriber: its receiver, subscription and the delivery function's service.
pub struct Subscriber {
    pub receiver: tokio::sync::Mutex<Receiver>,
    pub hotel: HotelId,
    pub subscription: SubscriptionId,
    pub secret: SigningSecret,
    pub delivery: DeliveryService,
    /// Every event id the receiver accepted in earlier rounds: an event published again (the
    /// same change, its id deterministic) was delivered then, and is not delivered twice.
    seen: Mutex<BTreeSet<String>>,
    queue: Arc<dyn Queue>,
    queue_url: String,
}

impl Subscriber {
    /// `services` over ports without crash injection (deliveries are not what a round kills).
    pub async fn new(services: &Services, hotel: &HotelId) -> Result<Subscriber, String> {
        let receiver = Receiver::start().await;
        let subs =
            pms_app::subscriptions::SubscriptionService::new(services, TargetPolicy::AllowLoopback);
        let created = subs
            .create(
                hotel,
                &receiver.url(),
                EventType::ALL.to_vec(),
                "staff:chaos",
            )
            .await
            .map_err(|e| format!("subscription: {e}"))?;
        Ok(Subscriber {
            receiver: tokio::sync::Mutex::new(receiver),
            hotel: hotel.clone(),
            subscription: created.subscription.id,
            secret: created.secret,
            delivery: DeliveryService::new(services, TargetPolicy::AllowLoopback)
                .with_schedule(SCHEDULE.to_vec())
                .with_request_timeout(TIMEOUT),
            seen: Mutex::default(),
            queue: services.queue.clone(),
            queue_url: services.names.delivery_queue_url.clone(),
        })
    }

    /// One pass over the deliveries queue, as the event source mapping runs the function.
    async fn pass(&self, metrics: &Metrics) -> Result<usize, String> {
        let messages = self
            .queue
            .receive(&self.queue_url, 10, Duration::ZERO, None)
            .await
            .map_err(|e| e.to_string())?;
        let n = messages.len();
        let handled = futures::future::join_all(
            messages
                .iter()
                .map(|m| self.delivery.handle(&m.body, &m.receipt_handle, metrics)),
        )
        .await;
        for (m, h) in messages.iter().zip(handled) {
            if let Err(e) = &h {
                eprintln!("chaos delivery: message failed: {e}");
            }
            if matches!(h, Ok((pms_app::deliveries::Ack::Done, _))) {
                self.queue
                    .delete(&self.queue_url, &m.receipt_handle)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(n)
    }
}

/// The round's delivery phase and its checks.
pub async fn round(
    backend: Backend,
    sub: &Subscriber,
    events: Vec<DomainEvent>,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let metrics = Metrics::new("PmsChaos", "delivery");
    let mut receiver = sub.receiver.lock().await;
    receiver.reset();
    // The receiver's faults: down for the first passes, then a few bad answers, each a request.
    let down_passes = rng.random_range(0..=2u32);
    let bad: Vec<Behaviour> = (0..rng.random_range(0..=4usize))
        .map(|_| match rng.random_range(0..4u32) {
            0 => Behaviour::Answer(500),
            1 => Behaviour::Answer(503),
            2 => Behaviour::Answer(429),
            _ => Behaviour::Slow(TIMEOUT * 2),
        })
        .collect();
    let slow = bad
        .iter()
        .filter(|b| matches!(b, Behaviour::Slow(_)))
        .count() as u64;
    receiver.script(bad.clone());
    if down_passes > 0 {
        receiver.down().await;
    }
    // In memory, the rule's part: each event to the queue, some twice.
    let mut duplicated = 0u64;
    for e in &events {
        let copies = if rng.random_bool(0.2) { 2 } else { 1 };
        let handed = match backend {
            Backend::Memory => copies,
            // On moto the rule delivered one copy already.
            Backend::Moto => copies - 1,
        };
        for _ in 0..handed {
            let body = serde_json::json!({
                "version": "0", "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": e.event_type.as_str(), "source": "pms.integration",
                "detail": e,
            })
            .to_string();
            sub.queue
                .send(
                    &sub.queue_url,
                    pms_domain::ports::OutgoingMessage::new(body),
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        duplicated += copies - 1;
    }
    let wanted: BTreeSet<String> = events.iter().map(|e| e.id.clone()).collect();
    let earlier = sub.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let accepted = |r: &Receiver| -> BTreeSet<String> {
        r.accepted()
            .iter()
            .filter_map(|d| d.json()["data"]["eventId"].as_str().map(str::to_owned))
            .chain(earlier.iter().cloned())
            .collect()
    };
    let start = Instant::now();
    let mut passes = 0u32;
    loop {
        if passes == down_passes {
            receiver.up().await;
        }
        let got = accepted(&receiver);
        if passes > down_passes && wanted.is_subset(&got) {
            break;
        }
        if start.elapsed() > PHASE_CAP {
            break;
        }
        let n = sub.pass(&metrics).await?;
        passes += 1;
        if n == 0 {
            let depth = sub.queue.depth(&sub.queue_url).await.unwrap_or(1);
            if passes > down_passes && depth == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    receiver.up().await;
    // Whatever is still queued (duplicates of delivered events) goes through too.
    while start.elapsed() < PHASE_CAP && sub.pass(&metrics).await? > 0 {}

    let received = receiver.received();
    let got = accepted(&receiver);
    sub.seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(got.iter().cloned());
    let lost: Vec<&String> = wanted.difference(&got).collect();
    // A receiver keeping each entity's newest version.
    let mut newest: BTreeMap<String, u64> = BTreeMap::new();
    let mut bad_signatures = 0u64;
    for d in receiver.accepted() {
        let b = d.json();
        let entity = b["data"]["entityId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let v = b["data"]["version"].as_u64().unwrap_or_default();
        let kept = newest.entry(entity).or_default();
        *kept = (*kept).max(v);
        if verify(
            &sub.secret,
            d.header("webhook-id"),
            d.header("webhook-timestamp"),
            d.header("webhook-signature"),
            &d.body,
            chrono::Utc::now().timestamp(),
        )
        .is_err()
        {
            bad_signatures += 1;
        }
    }
    let mut published: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        let v = published.entry(e.entity_id.clone()).or_default();
        *v = (*v).max(e.version);
    }
    let out_of_order: Vec<&String> = published
        .iter()
        .filter(|(entity, v)| newest.get(*entity).is_some_and(|n| n != *v))
        .map(|(e, _)| e)
        .collect();
    let records = sub
        .delivery
        .log()
        .list(&sub.hotel, Some(&sub.subscription))
        .await
        .map_err(|e| e.to_string())?;
    let dead: Vec<String> = records
        .iter()
        .filter(|r| wanted.contains(&r.event_id) && r.status != DeliveryStatus::Delivered)
        .map(|r| format!("{} {}", r.reference(), r.status.as_str()))
        .collect();
    {
        let mut t = super::drive::lock(tally);
        t.subscription_events += events.len() as u64;
        t.subscription_requests += received.len() as u64;
        t.subscription_refused_passes += u64::from(down_passes);
        t.subscription_bad_answers += bad.len() as u64 - slow;
        t.subscription_slow_answers += slow;
        t.subscription_duplicate_events += duplicated;
        t.subscription_events_lost += lost.len() as u64;
        t.subscription_order_broken += out_of_order.len() as u64;
        t.subscription_undelivered += dead.len() as u64;
        t.subscription_bad_signatures += bad_signatures;
    }
    if !lost.is_empty() {
        let by_id: BTreeMap<&str, String> = records
            .iter()
            .map(|r| {
                (
                    r.event_id.as_str(),
                    format!("{} after {} attempts", r.status.as_str(), r.attempts),
                )
            })
            .collect();
        let lost: Vec<String> = lost
            .iter()
            .map(|id| {
                let ty = events
                    .iter()
                    .find(|e| &&e.id == id)
                    .map(|e| e.event_type.as_str())
                    .unwrap_or_default();
                let rec = by_id.get(id.as_str()).map_or("no record", String::as_str);
                format!("{id} ({ty}): {rec}")
            })
            .collect();
        let depth = sub.queue.depth(&sub.queue_url).await.unwrap_or_default();
        failures.push(format!(
            "subscription: {} of {} events never reached the receiver (down for {down_passes} passes, then {bad:?}; {passes} passes in {:.1} s, {depth} messages left): {lost:?}",
            lost.len(),
            wanted.len(),
            start.elapsed().as_secs_f64()
        ));
    }
    if !out_of_order.is_empty() {
        failures.push(format!(
            "subscription: a receiver keeping the newest version does not end with the last one of {out_of_order:?}"
        ));
    }
    if !dead.is_empty() {
        failures.push(format!("subscription: deliveries not delivered: {dead:?}"));
    }
    if bad_signatures > 0 {
        failures.push(format!(
            "subscription: {bad_signatures} accepted deliveries do not verify"
        ));
    }
    Ok(())
}
