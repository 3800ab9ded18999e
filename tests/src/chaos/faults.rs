//! Fault injection: the vendor simulator's faults (5xx, timeouts, 429 storms, OHIP token expiry,
//! set through its admin API), and process crashes. A crash is a [`Tripwire`] armed on one
//! write or send of the store or queue: when that operation comes, the wrapper (before or after
//! performing it) signals the driver and never returns, and the driver drops the whole in-flight
//! future, leaving exactly what a killed process leaves: the writes made so far, the message in
//! flight on the queue, the lease held until it lapses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pms_domain::ports::{
    BatchSendFailure, Condition, Item, ItemKey, ItemStore, OutgoingMessage, Page, PortResult,
    PutOutcome, Query, Queue, ReceivedMessage,
};
use pms_sim::{FaultConfig, Provider, SimAdmin};
use rand::{Rng, RngExt};
use tokio::sync::oneshot;

use super::gate::Gate;

// ---- simulator faults ------------------------------------------------------------------------

/// The vendor fault of one round (active while the round's changes and writes happen; cleared
/// before it settles).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum SimFault {
    #[default]
    None,
    /// A share of requests answered with a 5xx.
    Errors { rate: f64, status: u16 },
    /// A share of requests held past the client's timeout, then failed.
    Timeouts { rate: f64 },
    /// Every request answered 429 with Retry-After for this long.
    Storm { seconds: u64 },
    /// Every OHIP access token revoked, this many times during the round.
    TokenExpiry { times: u32 },
    /// The vendor takes longer over charge postings than the client waits, and finishes them
    /// anyway: each attempt's outcome is unknown to the writer, and it applies after the
    /// client gave up.
    SlowCharges {
        /// How much longer than the client waits.
        beyond_ms: u64,
    },
    /// Nothing listens: every connection is refused (the lane's [`super::gate::Gate`] closed).
    Refused,
    /// Only the reads a charge is looked for with fail (OHIP folio, Mews order items; Cloudbeds,
    /// which is not searched, its charge posting): the charge could be posted, not looked for.
    LookupErrors { status: u16 },
}

impl SimFault {
    pub const SLOW_CHARGES: &'static str = "slow charges";

    pub fn name(&self) -> &'static str {
        match self {
            SimFault::None => "none",
            SimFault::Errors { .. } => "5xx",
            SimFault::Timeouts { .. } => "timeouts",
            SimFault::Storm { .. } => "429 storm",
            SimFault::TokenExpiry { .. } => "token expiry",
            SimFault::SlowCharges { .. } => Self::SLOW_CHARGES,
            SimFault::Refused => "connections refused",
            SimFault::LookupErrors { .. } => "lookups fail",
        }
    }

    /// Whether, under this fault, the writer can find out whether a charge is on the folio:
    /// the reads it searches with answer (Cloudbeds: its re-posting with the same `referenceID`
    /// answers in time).
    pub fn lookups_reachable(&self, vendor: Provider) -> bool {
        match self {
            SimFault::None => true,
            SimFault::SlowCharges { .. } => vendor != pms_cloudbeds::PROVIDER,
            _ => false,
        }
    }

    /// A random fault for a round on `vendor` (token expiry is OHIP's; OAuth tokens are theirs).
    pub fn pick(vendor: Provider, rng: &mut impl Rng) -> SimFault {
        let roll: f64 = rng.random();
        match roll {
            r if r < 0.25 => SimFault::None,
            r if r < 0.32 => SimFault::SlowCharges {
                beyond_ms: rng.random_range(100..=1_000),
            },
            r if r < 0.55 => SimFault::Errors {
                rate: rng.random_range(0.15..0.5),
                status: [500, 502, 503, 504][rng.random_range(0..4)],
            },
            r if r < 0.72 => SimFault::Timeouts {
                rate: rng.random_range(0.1..0.35),
            },
            r if r < 0.85 => SimFault::Storm {
                seconds: rng.random_range(1..=2),
            },
            _ if vendor == pms_opera::PROVIDER => SimFault::TokenExpiry {
                times: rng.random_range(1..=3),
            },
            _ => SimFault::Errors {
                rate: rng.random_range(0.15..0.5),
                status: 503,
            },
        }
    }
}

/// How much longer than the client's timeout the simulator holds a request it times out, so the
/// client sees a timeout (outcome unknown), not an answer.
const TIMEOUT_BEYOND_MS: u64 = 200;

impl SimFault {
    /// How long the vendor may still be working on requests after the fault is cleared.
    pub fn lingers(&self, client_timeout: Duration) -> Duration {
        match self {
            SimFault::SlowCharges { beyond_ms } => {
                client_timeout + Duration::from_millis(beyond_ms + 200)
            }
            _ => Duration::ZERO,
        }
    }
}

/// Sets a round's (or a phase's) fault on the lane's vendor, replacing the one before. Token
/// expiry is applied by [`expire_tokens`] during the round.
pub async fn apply(
    admin: &SimAdmin,
    gate: Option<&Gate>,
    vendor: Provider,
    fault: &SimFault,
    client_timeout: Duration,
) -> Result<(), String> {
    let beyond = |ms: u64| client_timeout.as_millis() as u64 + ms;
    let cfg = match fault {
        SimFault::Errors { rate, status } => FaultConfig {
            error_rate: *rate,
            error_status: Some(*status),
            ..FaultConfig::default()
        },
        SimFault::Timeouts { rate } => FaultConfig {
            timeout_rate: *rate,
            timeout_ms: beyond(TIMEOUT_BEYOND_MS),
            ..FaultConfig::default()
        },
        SimFault::SlowCharges { beyond_ms } => FaultConfig {
            latency_ms: beyond(*beyond_ms),
            only_endpoints: vec![charge_endpoint(vendor).to_owned()],
            finish_abandoned: true,
            ..FaultConfig::default()
        },
        SimFault::LookupErrors { status } => FaultConfig {
            error_rate: 1.0,
            error_status: Some(*status),
            only_endpoints: lookup_endpoints(vendor)
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            ..FaultConfig::default()
        },
        _ => FaultConfig::default(),
    };
    match (fault, gate) {
        (SimFault::Refused, Some(gate)) => gate.refuse().await,
        (SimFault::Refused, None) => return Err("no gate to refuse connections with".into()),
        (_, Some(gate)) => gate.reopen().await.map_err(|e| e.to_string())?,
        (_, None) => {}
    }
    admin
        .set_faults(vendor, &cfg)
        .await
        .map_err(|e| e.to_string())?;
    // A storm outlives `set_faults`: a phase after one ends it.
    let storm = match fault {
        SimFault::Storm { seconds } => *seconds,
        _ => 0,
    };
    admin
        .storm(vendor, storm, 1)
        .await
        .map_err(|e| e.to_string())
}

/// The simulator's name of the vendor's charge posting.
fn charge_endpoint(vendor: Provider) -> &'static str {
    match vendor {
        pms_opera::PROVIDER => "postBillingCharges",
        pms_mews::PROVIDER => "orders/add",
        pms_cloudbeds::PROVIDER => "postCustomItem",
        other => panic!("{other} is not a simulated vendor"),
    }
}

/// The reads a charge is looked for with (Cloudbeds has none: its charge posting).
fn lookup_endpoints(vendor: Provider) -> &'static [&'static str] {
    match vendor {
        pms_opera::PROVIDER => &["getFolio"],
        pms_mews::PROVIDER => &["productServiceOrders/getAll", "orderItems/getAll"],
        pms_cloudbeds::PROVIDER => &["postCustomItem"],
        other => panic!("{other} is not a simulated vendor"),
    }
}

/// Clears this vendor's faults only (other lanes run other vendors), ending any storm now, and
/// opens the lane's gate.
pub async fn clear(admin: &SimAdmin, gate: Option<&Gate>, vendor: Provider) -> Result<(), String> {
    if let Some(gate) = gate {
        gate.reopen().await.map_err(|e| e.to_string())?;
    }
    admin
        .set_faults(vendor, &FaultConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    admin.storm(vendor, 0, 1).await.map_err(|e| e.to_string())
}

/// Revokes every OHIP token `times` times, spread over `over`.
pub async fn expire_tokens(admin: &SimAdmin, times: u32, over: Duration) {
    for _ in 0..times {
        tokio::time::sleep(over / (times + 1)).await;
        let _ = admin
            .vendor_action(pms_opera::PROVIDER, "expire-tokens")
            .await;
    }
}

// ---- crashes ---------------------------------------------------------------------------------

/// Where a process dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrashPoint {
    /// Writer, charge: before the intent is recorded.
    BeforeIntent,
    /// Writer, charge: the intent is recorded, the PMS not called.
    AfterIntent,
    /// Writer, charge: the PMS accepted the call; nothing about it is recorded.
    AfterPmsAccepted,
    /// Writer, charge: the audit entry is written, the key's completion record is not.
    BeforeCompletion,
    /// Writer, charge: the key is completed, the operation record not updated.
    AfterCompletion,
    /// GraphQL mutation: the operation is recorded, its message not sent.
    SubmitBeforeEnqueue,
    /// Webhook function: the delivery is stored, its refresh jobs not sent.
    IntakeBeforeEnqueue,
}

impl CrashPoint {
    pub const WRITER: [CrashPoint; 5] = [
        CrashPoint::BeforeIntent,
        CrashPoint::AfterIntent,
        CrashPoint::AfterPmsAccepted,
        CrashPoint::BeforeCompletion,
        CrashPoint::AfterCompletion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::BeforeIntent => "writer: before the intent",
            CrashPoint::AfterIntent => "writer: after the intent",
            CrashPoint::AfterPmsAccepted => "writer: after the PMS accepted",
            CrashPoint::BeforeCompletion => "writer: before the completion",
            CrashPoint::AfterCompletion => "writer: after the completion",
            CrashPoint::SubmitBeforeEnqueue => "submit: before the enqueue",
            CrashPoint::IntakeBeforeEnqueue => "webhook: before the enqueue",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Before,
    After,
}

struct Rule {
    point: CrashPoint,
    /// The idempotency key (writer, submit) or delivery id (intake) the crash is for.
    target: String,
    fire: oneshot::Sender<CrashPoint>,
}

struct Trip {
    when: When,
    point: CrashPoint,
    fire: oneshot::Sender<CrashPoint>,
}

enum Op<'a> {
    Put(&'a Item),
    Send(&'a OutgoingMessage),
    SendBatch(&'a [OutgoingMessage]),
}

/// The crashes armed in one deployment: the writer's, the submitting partner's and the webhook
/// function's run concurrently, each arming its own (by target).
#[derive(Default)]
pub struct Tripwire {
    rules: Mutex<Vec<Rule>>,
}

impl Tripwire {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms a crash at `point` for `target`; the receiver fires when it happens.
    pub fn arm(&self, point: CrashPoint, target: &str) -> oneshot::Receiver<CrashPoint> {
        let (tx, rx) = oneshot::channel();
        let mut rules = self.lock();
        rules.retain(|r| r.target != target);
        rules.push(Rule {
            point,
            target: target.to_owned(),
            fire: tx,
        });
        rx
    }

    /// Disarms the crash armed for `target`; true when it had not happened.
    pub fn disarm(&self, target: &str) -> bool {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|r| r.target != target);
        rules.len() < before
    }

    /// Takes the rule that fires at `op`, if any.
    fn trip(&self, op: Op<'_>) -> Option<Trip> {
        let mut rules = self.lock();
        let i = rules
            .iter()
            .position(|r| matches(r.point, &r.target, &op).is_some())?;
        let rule = rules.remove(i);
        let when = matches(rule.point, &rule.target, &op)?;
        Some(Trip {
            when,
            point: rule.point,
            fire: rule.fire,
        })
    }
}

fn data_str<'a>(item: &'a Item, field: &str) -> Option<&'a str> {
    item.data.get(field).and_then(|v| v.as_str())
}

fn matches(point: CrashPoint, target: &str, op: &Op<'_>) -> Option<When> {
    match (point, op) {
        (CrashPoint::BeforeIntent, Op::Put(i)) if i.key.sort == format!("INTENT#{target}") => {
            Some(When::Before)
        }
        (CrashPoint::AfterIntent, Op::Put(i)) if i.key.sort == format!("INTENT#{target}") => {
            Some(When::After)
        }
        // The audit entry of a success is the first write after the PMS call returned.
        (CrashPoint::AfterPmsAccepted, Op::Put(i))
            if i.key.sort.starts_with("AUDIT#")
                && data_str(i, "idempotencyKey") == Some(target)
                && data_str(i, "result") != Some("failed") =>
        {
            Some(When::Before)
        }
        (CrashPoint::BeforeCompletion, Op::Put(i))
            if i.key.sort == format!("IDEMP#{target}")
                && data_str(i, "status") == Some("completed") =>
        {
            Some(When::Before)
        }
        (CrashPoint::AfterCompletion, Op::Put(i))
            if i.key.sort == format!("IDEMP#{target}")
                && data_str(i, "status") == Some("completed") =>
        {
            Some(When::After)
        }
        (CrashPoint::SubmitBeforeEnqueue, Op::Send(m)) if m.body.contains(target) => {
            Some(When::Before)
        }
        (CrashPoint::IntakeBeforeEnqueue, Op::SendBatch(ms))
            if ms.iter().any(|m| m.body.contains(target)) =>
        {
            Some(When::Before)
        }
        _ => None,
    }
}

/// The process is dead: this future never completes (the driver drops it).
async fn dead<T>() -> T {
    std::future::pending::<T>().await
}

/// The store as the crashing process sees it.
pub struct CrashStore {
    inner: Arc<dyn ItemStore>,
    wire: Arc<Tripwire>,
}

impl CrashStore {
    pub fn new(inner: Arc<dyn ItemStore>, wire: Arc<Tripwire>) -> Self {
        Self { inner, wire }
    }
}

#[async_trait]
impl ItemStore for CrashStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        match self.wire.trip(Op::Put(&item)) {
            None => self.inner.put(item, condition).await,
            Some(trip) => {
                if trip.when == When::After {
                    let _ = self.inner.put(item, condition).await;
                }
                let _ = trip.fire.send(trip.point);
                dead().await
            }
        }
    }
    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.inner.delete(key).await
    }
    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        self.inner.batch_get(keys).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.inner.batch_put(items).await
    }
    async fn query(&self, query: &Query) -> PortResult<Page> {
        self.inner.query(query).await
    }
    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64> {
        self.inner.increment(key, field, by, expires_at).await
    }
}

/// The queue as the crashing process sees it.
pub struct CrashQueue {
    inner: Arc<dyn Queue>,
    wire: Arc<Tripwire>,
}

impl CrashQueue {
    pub fn new(inner: Arc<dyn Queue>, wire: Arc<Tripwire>) -> Self {
        Self { inner, wire }
    }
}

#[async_trait]
impl Queue for CrashQueue {
    async fn send(&self, queue_url: &str, message: OutgoingMessage) -> PortResult<String> {
        match self.wire.trip(Op::Send(&message)) {
            None => self.inner.send(queue_url, message).await,
            Some(trip) => {
                let _ = trip.fire.send(trip.point);
                dead().await
            }
        }
    }
    async fn send_batch(
        &self,
        queue_url: &str,
        messages: Vec<OutgoingMessage>,
    ) -> PortResult<Vec<BatchSendFailure>> {
        match self.wire.trip(Op::SendBatch(&messages)) {
            None => self.inner.send_batch(queue_url, messages).await,
            Some(trip) => {
                let _ = trip.fire.send(trip.point);
                dead().await
            }
        }
    }
    async fn receive(
        &self,
        queue_url: &str,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        self.inner
            .receive(queue_url, max_messages, wait, visibility_timeout)
            .await
    }
    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> PortResult<()> {
        self.inner.delete(queue_url, receipt_handle).await
    }
    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        self.inner
            .change_visibility(queue_url, receipt_handle, timeout)
            .await
    }
    async fn depth(&self, queue_url: &str) -> PortResult<u64> {
        self.inner.depth(queue_url).await
    }
    async fn start_move_all(&self, dlq_url: &str, source_url: &str) -> PortResult<bool> {
        self.inner.start_move_all(dlq_url, source_url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::HotelId;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::SystemClock;

    #[tokio::test]
    async fn a_crash_stops_at_its_write_before_or_after_performing_it() {
        let store = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
        let wire = Arc::new(Tripwire::new());
        let crashing = CrashStore::new(store.clone(), wire.clone());
        let hotel = HotelId::parse("h1").unwrap();
        let intent = ItemKey::hotel(&hotel, "INTENT#c:k1");
        let item = || Item::new(intent.clone(), serde_json::json!({}));

        for (point, performed) in [
            (CrashPoint::BeforeIntent, false),
            (CrashPoint::AfterIntent, true),
        ] {
            store.delete(&intent).await.unwrap();
            let fired = wire.arm(point, "c:k1");
            // Another key's writes pass.
            let other = ItemKey::hotel(&hotel, "INTENT#c:k2");
            crashing
                .put(Item::new(other, serde_json::json!({})), Condition::Always)
                .await
                .unwrap();
            tokio::select! {
                _ = crashing.put(item(), Condition::Always) => panic!("a dead process returned"),
                p = fired => assert_eq!(p.unwrap(), point),
            }
            assert_eq!(
                store.get(&intent).await.unwrap().is_some(),
                performed,
                "{point:?}"
            );
            // Fired once: the next write goes through.
            crashing.put(item(), Condition::Always).await.unwrap();
        }
        let _fired = wire.arm(CrashPoint::AfterIntent, "c:k3");
        assert!(wire.disarm("c:k3"));
        assert!(!wire.disarm("c:k3"));
    }
}
