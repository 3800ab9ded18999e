//! Driving the queues as Lambda's event source mappings would: the sync worker's and the
//! writer's passes (a batch received, handled, deleted or left to come back), with the chaos a
//! round asks for (duplicate deliveries, two consumers at once, a crashed writer, an invocation
//! killed at its deadline); letting lane time pass as the queue would (each message back when it
//! asked to be, in whole seconds); and settling a round: faults cleared, time fast-forwarded past
//! leases and backoffs, queues drained, and dead letters redriven as ops would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use pms_app::jobs::SyncJob;
use pms_app::obs::Metrics;
use pms_app::writes::{
    BatchReport, DeliveryResult, QueueDelivery, WriteMessage, UNKNOWN_OUTCOME_SETTLE,
};
use pms_domain::ports::{Clock, OutgoingMessage, ReceivedMessage};
use rand::{Rng, RngExt};

use super::faults::{CrashPoint, SimFault};
use super::ops;
use super::queue::sqs_seconds;
use super::report::Tally;
use super::schedule::Kills;
use super::trace::RoundState;
use super::world::Deployment;

/// The write and sync queues' visibility timeout, as the lane's time counts it.
const VISIBILITY: Duration = Duration::from_secs(30);
/// How long a received write message stays hidden in real time: longer than a round, so only
/// the driver brings it back (when the lane's time says it is due).
const HIDE: Duration = Duration::from_secs(3_600);
/// Longer than the writer's lease (90 s): a crashed holder's lease has lapsed after it.
const FAST_FORWARD: chrono::Duration = chrono::Duration::seconds(95);
/// How often settling may redrive dead letters before it calls a round unsettled.
const MAX_REDRIVES: u32 = 4;
/// Bounds the redeliveries one wait may bring (each costs a receive, so few are ever needed).
const MAX_REDELIVERIES_PER_WAIT: u32 = 30;

/// A message received and neither deleted nor released (in flight after a crash, or hidden for
/// a retry), and when (lane time) the queue would show it again.
struct HeldMessage {
    queue_url: String,
    message_id: String,
    receipt: String,
    due: DateTime<Utc>,
}

/// Messages received and neither deleted nor released: released when lane time reaches them,
/// or all at once when settling fast-forwards. One entry per message: its latest receipt.
#[derive(Default)]
pub struct Held(Mutex<Vec<HeldMessage>>);

impl Held {
    pub fn push(&self, queue_url: &str, m: &ReceivedMessage, due: DateTime<Utc>) {
        let mut held = lock(&self.0);
        held.retain(|h| h.message_id != m.message_id);
        held.push(HeldMessage {
            queue_url: queue_url.to_owned(),
            message_id: m.message_id.clone(),
            receipt: m.receipt_handle.clone(),
            due,
        });
    }

    /// Messages received again (they came back on their own): their older receipts are stale.
    fn forget(&self, batch: &[ReceivedMessage]) {
        lock(&self.0).retain(|h| !batch.iter().any(|m| m.message_id == h.message_id));
    }

    fn take(&self) -> Vec<HeldMessage> {
        std::mem::take(&mut *lock(&self.0))
    }

    fn take_due(&self, now: DateTime<Utc>) -> Vec<HeldMessage> {
        let mut held = lock(&self.0);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *held)
            .into_iter()
            .partition(|m| m.due <= now);
        *held = later;
        due
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        lock(&self.0).iter().map(|m| m.due).min()
    }
}

/// What the writer side of a round still has to inflict, by idempotency key.
#[derive(Default)]
pub struct WriteChaos {
    pub crashes: BTreeMap<String, CrashPoint>,
    pub duplicate_messages: BTreeSet<String>,
    pub concurrent: f64,
    /// Invocations killed at their deadline.
    pub kills: Option<Kills>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One sync-worker batch. Returns how many messages it handled.
pub async fn sync_pass(
    d: &Deployment,
    concurrent: f64,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<usize, String> {
    let url = d.names().sync_queue_url.clone();
    let queue = &d.services.queue;
    let batch = queue
        .receive(&url, 10, Duration::ZERO, Some(VISIBILITY))
        .await
        .map_err(err)?;
    let jobs: Vec<(ReceivedMessage, bool)> = batch
        .into_iter()
        .map(|m| (m, rng.random_bool(concurrent)))
        .collect();
    let n = jobs.len();
    // As the worker: up to four messages at once.
    let outcomes: Vec<(ReceivedMessage, bool, bool)> = futures::stream::iter(jobs)
        .map(|(m, twice)| async move {
            let ok = match SyncJob::parse(&m.body) {
                Ok(job) => {
                    if twice {
                        let (a, b) =
                            tokio::join!(d.processor.process(&job), d.processor.process(&job));
                        a.is_ok() || b.is_ok()
                    } else {
                        d.processor.process(&job).await.is_ok()
                    }
                }
                Err(_) => false,
            };
            (m, twice, ok)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut failed = 0;
    let mut twice_n = 0;
    for (m, twice, ok) in outcomes {
        twice_n += u64::from(twice);
        if ok {
            queue.delete(&url, &m.receipt_handle).await.map_err(err)?;
        } else {
            failed += 1;
            // Back on the queue at once: the round compresses the worker's backoff.
            queue
                .change_visibility(&url, &m.receipt_handle, Duration::ZERO)
                .await
                .map_err(err)?;
        }
    }
    let mut t = lock(tally);
    t.sync_messages += n as u64;
    t.sync_messages_failed += failed;
    t.sync_messages_processed_twice += twice_n;
    Ok(n)
}

/// The operation ids of a batch's messages (a message we cannot read has none).
fn operations(batch: &[ReceivedMessage]) -> Vec<Option<(String, String, bool)>> {
    batch
        .iter()
        .map(|m| {
            serde_json::from_str::<WriteMessage>(&m.body).ok().map(|w| {
                (
                    w.operation_id.to_string(),
                    w.idempotency_key.to_string(),
                    w.operation.is_charge(),
                )
            })
        })
        .collect()
}

/// Runs the writer over a batch as the Lambda handler does.
///
/// SEAM (writer deadline): the writer is to work to the deadline Lambda's context gives it; once
/// the write service takes it, pass `deadline` here (e.g. `process_batch_within(deadline.map(|at|
/// CallBudget::new(at.into_std(), d.client_timeout + margin)), ...)`). Until then the driver
/// only kills the invocation when the deadline passes (see [`writer_pass`]), as Lambda does.
async fn run_batch(
    d: &Deployment,
    deliveries: &[QueueDelivery],
    metrics: &Metrics,
    deadline: Option<tokio::time::Instant>,
) -> BatchReport {
    let budget = deadline.map(|at| {
        pms_domain::pms::deadline::CallBudget::new(
            at,
            d.client_timeout + Duration::from_millis(100),
        )
    });
    d.writes
        .process_batch_within(
            budget,
            deliveries,
            &d.executor,
            &d.services.hotels,
            &d.writer_adapters,
            metrics,
        )
        .await
}

/// What a writer invocation said of one message.
struct Outcome {
    /// A batch item failure: the message stays on the queue (else the event source mapping
    /// deletes it).
    failed: bool,
    result: DeliveryResult,
}

/// How a writer invocation ended.
enum Ended {
    /// Each message's outcome, by message id.
    Finished(BTreeMap<String, Outcome>),
    /// The process died (a crash point, or Lambda's deadline when `killed`): everything in
    /// flight stays so.
    Died { killed: bool },
}

/// One writer batch, with the round's chaos when `chaos` is given. Returns how many messages it
/// handled (a crashed or killed batch counts: its messages come back later).
pub async fn writer_pass(
    d: &Deployment,
    mut chaos: Option<&mut WriteChaos>,
    state: &RoundState,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<usize, String> {
    let url = d.names().write_queue_url.clone();
    let queue = &d.services.queue;
    let batch = queue
        .receive(&url, 10, Duration::ZERO, Some(HIDE))
        .await
        .map_err(err)?;
    if batch.is_empty() {
        return Ok(0);
    }
    state.held.forget(&batch);
    let ops = operations(&batch);
    let keys: Vec<Option<&str>> = ops
        .iter()
        .map(|o| o.as_ref().map(|(_, k, _)| k.as_str()))
        .collect();
    let mut crash = None;
    let mut twice = false;
    let mut deadline = None;
    if let Some(chaos) = chaos.as_deref_mut() {
        for (m, key) in batch.iter().zip(&keys) {
            if key.is_some_and(|k| chaos.duplicate_messages.remove(k)) {
                queue
                    .send(&url, OutgoingMessage::new(m.body.clone()))
                    .await
                    .map_err(err)?;
                lock(tally).duplicate_messages += 1;
            }
        }
        let planned = keys
            .iter()
            .flatten()
            .find_map(|k| chaos.crashes.get(*k).map(|p| (k.to_string(), *p)));
        match planned {
            Some((key, point)) => crash = Some((key.clone(), d.tripwire.arm(point, &key))),
            None => twice = rng.random_bool(chaos.concurrent),
        }
        if let Some(k) = chaos.kills.filter(|k| rng.random_bool(k.chance)) {
            let after = d
                .client_timeout
                .mul_f64(rng.random_range(1.2..k.max_factor));
            deadline = Some(tokio::time::Instant::now() + after);
            state
                .deadlines
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let deliveries: Vec<QueueDelivery> = batch
        .iter()
        .map(|m| QueueDelivery {
            message_id: m.message_id.clone(),
            receipt_handle: m.receipt_handle.clone(),
            body: m.body.clone(),
            receive_count: m.receive_count,
        })
        .collect();
    let metrics = Metrics::new("PmsChaos", "writer");
    let (phase, reachable) = state.phase();
    let started = d.clock.now();
    lock(tally).write_messages += batch.len() as u64;
    let run = || run_batch(d, &deliveries, &metrics, deadline);
    // Lambda kills the invocation when its deadline passes, whatever it is doing.
    // Deleted unless reported as a batch item failure, as Lambda's event source mapping does
    // (a result may be neither done nor a failure: replaced by a delayed copy).
    let results = |r: BatchReport| {
        let failed: BTreeSet<String> = r.failures().into_iter().collect();
        r.outcomes
            .into_iter()
            .map(|o| {
                let outcome = Outcome {
                    failed: failed.contains(&o.message_id),
                    result: o.result,
                };
                (o.message_id, outcome)
            })
            .collect()
    };
    let killable = || async {
        match deadline {
            Some(at) => match tokio::time::timeout_at(at, run()).await {
                Ok(report) => Ended::Finished(results(report)),
                Err(_) => Ended::Died { killed: true },
            },
            None => Ended::Finished(results(run().await)),
        }
    };
    let ended = match crash {
        Some((key, fired)) => {
            tokio::select! {
                ended = killable() => {
                    // Not reached (the call failed before that step): tried again on the
                    // message's next delivery.
                    d.tripwire.disarm(&key);
                    ended
                }
                Ok(point) = fired => {
                    *lock(tally).crashes.entry(point).or_default() += 1;
                    if let Some(chaos) = chaos {
                        chaos.crashes.remove(&key);
                    }
                    Ended::Died { killed: false }
                }
            }
        }
        None if twice => {
            let (a, b) = tokio::join!(killable(), killable());
            lock(tally).concurrent_deliveries += batch.len() as u64;
            match (a, b) {
                // A message is done when either writer finished it.
                (Ended::Finished(mut a), Ended::Finished(b)) => {
                    for (id, o) in b {
                        if !o.failed {
                            a.insert(id, o);
                        }
                    }
                    Ended::Finished(a)
                }
                (Ended::Finished(r), Ended::Died { .. })
                | (Ended::Died { .. }, Ended::Finished(r)) => Ended::Finished(r),
                (Ended::Died { killed }, Ended::Died { .. }) => Ended::Died { killed },
            }
        }
        None => killable().await,
    };
    // Under slow charges the vendor may apply a posting after the client gave up on it (a
    // posting's start is at most a client timeout before the batch ended).
    let linger = phase.lingers(d.client_timeout);
    if !linger.is_zero() {
        state.linger_until(std::time::Instant::now() + linger);
    }
    let outcome = match ended {
        Ended::Finished(outcome) => outcome,
        Ended::Died { killed } => {
            // The writer process died: its whole batch stays in flight until the visibility
            // timeout, and the keys' leases until they lapse.
            if killed {
                lock(tally).writer_kills += 1;
            }
            let due = d.clock.now() + sqs_seconds(VISIBILITY, 43_200);
            for (m, op) in batch.iter().zip(&ops) {
                state.held.push(&url, m, due);
                if let Some((id, _, charge)) = op {
                    state.trace(id, |t| {
                        t.charge = *charge;
                        t.deliveries += 1;
                        t.phases.insert(phase.name());
                        t.obstructed = true;
                        if killed {
                            t.killed += 1;
                        }
                        if *charge {
                            t.unknown_at = Some(started);
                        }
                    });
                }
            }
            return Ok(batch.len());
        }
    };
    let now = d.clock.now();
    for (m, op) in batch.iter().zip(&ops) {
        let o = outcome.get(&m.message_id);
        match o {
            Some(o) if !o.failed => {
                queue.delete(&url, &m.receipt_handle).await.map_err(err)?;
            }
            // The writer set its visibility to the retry delay: back then (whole seconds).
            Some(Outcome {
                result: DeliveryResult::RetryAfter(delay),
                ..
            }) => state.held.push(&url, m, now + sqs_seconds(*delay, 43_200)),
            // Could not be processed (or not reported): back after the visibility timeout.
            Some(Outcome {
                result: DeliveryResult::Failed(_),
                ..
            })
            | None => state
                .held
                .push(&url, m, now + sqs_seconds(VISIBILITY, 43_200)),
            // Any other failure is made visible again at once (not started for the deadline).
            Some(_) => state.held.push(&url, m, now),
        }
        let Some((id, _, charge)) = op else { continue };
        let unanswered = o.is_some_and(|o| o.failed)
            && matches!(
                phase,
                SimFault::SlowCharges { .. } | SimFault::Timeouts { .. }
            );
        state.trace(id, |t| {
            t.charge = *charge;
            t.deliveries += 1;
            t.phases.insert(phase.name());
            if !reachable {
                t.obstructed = true;
            }
            if !*charge {
                return;
            }
            match t.unknown_at {
                Some(at) if started - at < UNKNOWN_OUTCOME_SETTLE => t.inside_window += 1,
                _ if unanswered => t.unknown_at = Some(started),
                _ => {}
            }
        });
    }
    Ok(batch.len())
}

/// Writer passes until nothing is visible (what is hidden for a retry stays hidden). Returns
/// how many messages were handled.
pub async fn drain_writes(
    d: &Deployment,
    mut chaos: Option<&mut WriteChaos>,
    state: &RoundState,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<usize, String> {
    let mut handled = 0;
    for _ in 0..20 {
        match writer_pass(d, chaos.as_deref_mut(), state, rng, tally).await? {
            0 => break,
            n => handled += n,
        }
    }
    Ok(handled)
}

/// Releases what is due by the lane's clock: held messages visible again, delayed sends sent.
async fn release_due(d: &Deployment, state: &RoundState) -> Result<usize, String> {
    let mut n = d.delays.flush_due().await.map_err(err)?;
    for m in state.held.take_due(d.clock.now()) {
        // A receipt may be stale (the message came back and was received again): harmless.
        let _ = d
            .services
            .queue
            .change_visibility(&m.queue_url, &m.receipt, Duration::ZERO)
            .await;
        n += 1;
    }
    Ok(n)
}

/// Moves the lane's clock to `at` (never back). A move of a second or more first waits for the
/// vendor to finish postings in flight: lane time must not run ahead of the vendor's real work.
async fn advance_to(d: &Deployment, state: &RoundState, at: DateTime<Utc>) {
    let by = at - d.clock.now();
    if by >= chrono::Duration::seconds(1) {
        state.wait_for_vendor().await;
    }
    d.clock.advance(by);
}

fn next_due(d: &Deployment, state: &RoundState) -> Option<DateTime<Utc>> {
    match (state.held.next_due(), d.delays.next_due()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The writer handles the next message(s): what is visible now (a redriven dead letter), else
/// what waits for a retry, when it is due (lane time moves to it). False when nothing was
/// waiting.
pub async fn redeliver_next(
    d: &Deployment,
    mut chaos: Option<&mut WriteChaos>,
    state: &RoundState,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<bool, String> {
    if drain_writes(d, chaos.as_deref_mut(), state, rng, tally).await? > 0 {
        lock(tally).redeliveries += 1;
        return Ok(true);
    }
    let Some(at) = next_due(d, state) else {
        return Ok(false);
    };
    advance_to(d, state, at).await;
    release_due(d, state).await?;
    lock(tally).redeliveries += 1;
    drain_writes(d, chaos, state, rng, tally).await?;
    Ok(true)
}

/// The writer handles what is visible, then every message that comes back before `until`
/// (lane time), as it comes back (at most `max` redeliveries).
pub async fn handle_until(
    d: &Deployment,
    mut chaos: Option<&mut WriteChaos>,
    state: &RoundState,
    until: DateTime<Utc>,
    max: u32,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    drain_writes(d, chaos.as_deref_mut(), state, rng, tally).await?;
    for _ in 0..max {
        match next_due(d, state) {
            Some(at) if at <= until => {
                redeliver_next(d, chaos.as_deref_mut(), state, rng, tally).await?;
            }
            _ => break,
        }
    }
    Ok(())
}

/// Lane time passes by `by`, every message coming back when it is due on the way.
pub async fn wait(
    d: &Deployment,
    mut chaos: Option<&mut WriteChaos>,
    state: &RoundState,
    by: chrono::Duration,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    let until = d.clock.now() + by;
    handle_until(
        d,
        chaos.as_deref_mut(),
        state,
        until,
        MAX_REDELIVERIES_PER_WAIT,
        rng,
        tally,
    )
    .await?;
    advance_to(d, state, until).await;
    release_due(d, state).await?;
    drain_writes(d, chaos, state, rng, tally).await.map(|_| ())
}

/// Every message waiting for a retry or in flight becomes visible, and every delayed send is
/// sent, due or not (the queue's retention is about to take what is left).
pub async fn release_all(d: &Deployment, state: &RoundState) -> Result<(), String> {
    d.delays.flush_all().await.map_err(err)?;
    for m in state.held.take() {
        let _ = d
            .services
            .queue
            .change_visibility(&m.queue_url, &m.receipt, Duration::ZERO)
            .await;
    }
    Ok(())
}

/// Lane time jumps by `by` with nothing handled on the way (see [`super::ops::age`]).
pub async fn jump(d: &Deployment, state: &RoundState, by: chrono::Duration) {
    advance_to(d, state, d.clock.now() + by).await;
}

/// Lets time pass: leases and retry delays lapse, messages in flight come back.
pub async fn fast_forward(d: &Deployment, state: &RoundState, tally: &Mutex<Tally>) {
    state.wait_for_vendor().await;
    d.clock.advance(FAST_FORWARD);
    let _ = d.delays.flush_due().await;
    for m in state.held.take() {
        // A receipt may be stale (the message came back and was received again): harmless.
        let _ = d
            .services
            .queue
            .change_visibility(&m.queue_url, &m.receipt, Duration::ZERO)
            .await;
    }
    lock(tally).lease_fast_forwards += 1;
}

/// Moves every message of `from` to `to` (what the SQS console's DLQ redrive does).
async fn move_all(d: &Deployment, from: &str, to: &str) -> Result<u64, String> {
    let queue = &d.services.queue;
    let mut moved = 0;
    loop {
        let batch = queue
            .receive(from, 10, Duration::ZERO, Some(VISIBILITY))
            .await
            .map_err(err)?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for m in batch {
            let mut out = OutgoingMessage::new(m.body.clone());
            out.attributes = m.attributes.clone();
            queue.send(to, out).await.map_err(err)?;
            queue.delete(from, &m.receipt_handle).await.map_err(err)?;
            moved += 1;
        }
    }
}

/// Ops' redrive while settling: the write dead letters `pmsctl dlq list` shows (by id, as
/// `pmsctl dlq redrive` does), then whatever only the queues' DLQs hold (counted first: a
/// write there that no listing shows is an invariant broken). Returns how many came back.
async fn redrive(
    d: &Deployment,
    state: &RoundState,
    redrives: &mut BTreeMap<String, u32>,
    tally: &Mutex<Tally>,
) -> Result<u64, String> {
    let pending: Vec<_> = d
        .dead_letters
        .pending(Some(d.hotel_id()))
        .await
        .map_err(err)?
        .into_iter()
        .filter(|i| {
            let n = redrives.entry(i.id.to_string()).or_default();
            *n += 1;
            *n <= MAX_REDRIVES
        })
        .map(|i| i.id)
        .collect();
    let mut back = 0;
    if !pending.is_empty() {
        lock(tally).writes_dead_lettered += pending.len() as u64;
        back += ops::redrive_ids(d, state, &pending, tally).await?;
    }
    ops::check_listing(d, state, tally).await?;
    let names = d.names().clone();
    let orphans = move_all(d, &names.write_dlq_url, &names.write_queue_url).await?;
    let sync = move_all(d, &names.sync_dlq_url, &names.sync_queue_url).await?;
    {
        let mut t = lock(tally);
        t.orphan_dead_letters += orphans;
        t.sync_dead_letters_redriven += sync;
    }
    Ok(back + orphans + sync)
}

/// Clears the vendor's faults and works every queue of the deployment until nothing is left,
/// redriving dead letters. False when it could not get there.
pub async fn settle(
    d: &Deployment,
    state: &RoundState,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<bool, String> {
    d.clear_fault().await?;
    state.set_phase(SimFault::None, true);
    let names = d.names().clone();
    let mut redrives = BTreeMap::new();
    let mut idle = 0;
    for _ in 0..200 {
        let s = sync_pass(d, 0.0, rng, tally).await?;
        let w = writer_pass(d, None, state, rng, tally).await?;
        if s + w > 0 {
            idle = 0;
            continue;
        }
        let queue = &d.services.queue;
        let waiting = queue.depth(&names.sync_queue_url).await.map_err(err)?
            + queue.depth(&names.write_queue_url).await.map_err(err)?;
        if waiting > 0 {
            // Hidden for a retry delay, or in flight after a crash: let time pass.
            idle += 1;
            fast_forward(d, state, tally).await;
            if idle > 3 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        }
        if redrive(d, state, &mut redrives, tally).await? == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
