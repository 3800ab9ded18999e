//! Driving the queues as Lambda's event source mappings would: the sync worker's and the
//! writer's passes (a batch received, handled, deleted or left to come back), with the chaos a
//! round asks for (duplicate deliveries, two consumers at once, a crashed writer); and settling
//! a round: faults cleared, time fast-forwarded past leases and backoffs, queues drained, and
//! dead letters redriven as ops would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use pms_core::jobs::SyncJob;
use pms_core::obs::Metrics;
use pms_core::ports::{OutgoingMessage, ReceivedMessage};
use pms_core::writes::{DlqStatus, QueueDelivery, WriteMessage};
use rand::{Rng, RngExt};

use super::faults::{self, CrashPoint};
use super::report::Tally;
use super::world::Deployment;

const VISIBILITY: Duration = Duration::from_secs(30);
/// Longer than the writer's lease (90 s): a crashed holder's lease has lapsed after it.
const FAST_FORWARD: chrono::Duration = chrono::Duration::seconds(95);
/// How often settling may redrive dead letters before it calls a round unsettled.
const MAX_REDRIVES: u32 = 4;

/// Messages received and neither deleted nor released (in flight after a crash, or hidden for a
/// retry): released when time is fast-forwarded.
#[derive(Default)]
pub struct Held(Mutex<Vec<(String, String)>>);

impl Held {
    pub fn push(&self, queue_url: &str, receipt: &str) {
        lock(&self.0).push((queue_url.to_owned(), receipt.to_owned()));
    }

    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// What the writer side of a round still has to inflict, by idempotency key.
#[derive(Default)]
pub struct WriteChaos {
    pub crashes: BTreeMap<String, CrashPoint>,
    pub duplicate_messages: BTreeSet<String>,
    pub concurrent: f64,
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

/// One writer batch, with the round's chaos when `chaos` is given. Returns how many messages it
/// handled (a crashed batch counts: its messages come back later).
pub async fn writer_pass(
    d: &Deployment,
    mut chaos: Option<&mut WriteChaos>,
    held: &Held,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<usize, String> {
    let url = d.names().write_queue_url.clone();
    let queue = &d.services.queue;
    let batch = queue
        .receive(&url, 10, Duration::ZERO, Some(VISIBILITY))
        .await
        .map_err(err)?;
    if batch.is_empty() {
        return Ok(0);
    }
    let keys: Vec<Option<String>> = batch
        .iter()
        .map(|m| {
            serde_json::from_str::<WriteMessage>(&m.body)
                .ok()
                .map(|w| w.idempotency_key.to_string())
        })
        .collect();
    let mut crash = None;
    let mut twice = false;
    if let Some(chaos) = chaos.as_deref_mut() {
        for (m, key) in batch.iter().zip(&keys) {
            if key
                .as_ref()
                .is_some_and(|k| chaos.duplicate_messages.remove(k))
            {
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
            .find_map(|k| chaos.crashes.get(k).map(|p| (k.clone(), *p)));
        match planned {
            Some((key, point)) => crash = Some((key.clone(), d.tripwire.arm(point, &key))),
            None => twice = rng.random_bool(chaos.concurrent),
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
    let run = || {
        d.writes.process_batch(
            &deliveries,
            &d.executor,
            &d.services.hotels,
            &d.writer_adapters,
            &metrics,
        )
    };
    lock(tally).write_messages += batch.len() as u64;
    let failed: BTreeSet<String> = match crash {
        Some((key, fired)) => {
            tokio::select! {
                failed = run() => {
                    // Not reached (the call failed before that step): tried again on the
                    // message's next delivery.
                    d.tripwire.disarm(&key);
                    failed.failures().into_iter().collect()
                }
                Ok(point) = fired => {
                    // The writer process died: its whole batch stays in flight until the
                    // visibility timeout, and the key's lease until it lapses.
                    *lock(tally).crashes.entry(point).or_default() += 1;
                    if let Some(chaos) = chaos {
                        chaos.crashes.remove(&key);
                    }
                    for m in &batch {
                        held.push(&url, &m.receipt_handle);
                    }
                    return Ok(batch.len());
                }
            }
        }
        None if twice => {
            let (a, b) = tokio::join!(run(), run());
            lock(tally).concurrent_deliveries += batch.len() as u64;
            // A message is done when either writer finished it.
            let a: BTreeSet<String> = a.failures().into_iter().collect();
            b.failures()
                .into_iter()
                .filter(|id| a.contains(id))
                .collect()
        }
        None => run().await.failures().into_iter().collect(),
    };
    for m in &batch {
        if failed.contains(&m.message_id) {
            // process_batch set its visibility to the retry delay.
            held.push(&url, &m.receipt_handle);
        } else {
            queue.delete(&url, &m.receipt_handle).await.map_err(err)?;
        }
    }
    Ok(batch.len())
}

/// Lets time pass: leases and retry delays lapse, messages in flight come back.
pub async fn fast_forward(d: &Deployment, held: &Held, tally: &Mutex<Tally>) {
    d.clock.advance(FAST_FORWARD);
    // A delay the writer measured on the lane's clock has passed with it.
    if let Err(e) = d.delayed.release_all().await {
        eprintln!("delayed sends not released: {e}");
    }
    for (url, receipt) in held.take() {
        // A receipt may be stale (the message came back and was received again): harmless.
        let _ = d
            .services
            .queue
            .change_visibility(&url, &receipt, Duration::ZERO)
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

/// Ops' redrive: the write dead letters through `DeadLetters` (records and the queue's DLQ),
/// then whatever only the queues' DLQs hold. Returns how many came back.
async fn redrive(
    d: &Deployment,
    redrives: &mut BTreeMap<String, u32>,
    tally: &Mutex<Tally>,
) -> Result<u64, String> {
    let hotel = d.hotel_id().clone();
    let pending: Vec<_> = d
        .dead_letters
        .records()
        .list_dlq(Some(&hotel))
        .await
        .map_err(err)?
        .into_iter()
        .filter(|i| i.status == DlqStatus::Pending)
        .filter(|i| {
            let n = redrives.entry(i.id.to_string()).or_default();
            *n += 1;
            *n <= MAX_REDRIVES
        })
        .collect();
    let mut back = 0;
    if !pending.is_empty() {
        let ids: Vec<_> = pending.iter().map(|i| i.id.clone()).collect();
        let report = d.dead_letters.redrive(&ids).await.map_err(err)?;
        back += report.redriven.len() as u64;
        let mut t = lock(tally);
        t.writes_dead_lettered += pending.len() as u64;
        t.writes_redriven += report.redriven.len() as u64;
    }
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
    held: &Held,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<bool, String> {
    faults::clear(&d.admin, d.vendor).await?;
    let names = d.names().clone();
    let mut redrives = BTreeMap::new();
    let mut idle = 0;
    for _ in 0..200 {
        let s = sync_pass(d, 0.0, rng, tally).await?;
        let w = writer_pass(d, None, held, rng, tally).await?;
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
            fast_forward(d, held, tally).await;
            if idle > 3 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        }
        if redrive(d, &mut redrives, tally).await? == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
