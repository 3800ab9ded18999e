//! Ops on the write path, as staff run `pmsctl dlq` (through `DeadLetters`, as `pmsctl` does):
//! redrive by id, redrive `--all`, abandon; what `pmsctl dlq list` shows next to what the write
//! queue's DLQ holds; and time passing for the write path's records (days, not seconds: their
//! retention).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use pms_app::writes::{DlqError, OperationId, OperationStatus, WriteMessage, WriteOperation};
use pms_domain::ports::{Clock, ReceivedMessage};
use rand::{Rng, RngExt};

use super::drive::{self, lock, WriteChaos};
use super::faults::SimFault;
use super::report::Tally;
use super::trace::{Event, RoundState};
use super::world::Deployment;

/// Retention of the write DLQ's messages (template.yaml: 14 days) and of the write queue's
/// (4 days).
const DLQ_RETENTION_DAYS: i64 = 14;
const QUEUE_RETENTION_DAYS: i64 = 4;
/// Enough for every message to use up its deliveries while days pass.
const MAX_REDELIVERIES_WHILE_AGING: u32 = 200;
/// The write path's records are kept 30 days (`IDEMPOTENCY_RETENTION_DAYS`).
pub const RECORD_RETENTION_DAYS: i64 = pms_app::writes::IDEMPOTENCY_RETENTION_DAYS;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What a redrive now means for the operations it brings back.
fn redrive_events(state: &RoundState) -> Vec<Event> {
    let (phase, reachable) = state.phase();
    let mut events = Vec::new();
    if !reachable {
        events.push(Event::RedrivenInOutage);
    } else if phase == SimFault::None {
        events.push(Event::RedrivenAfterRecovery);
    }
    if state.aged() >= RECORD_RETENTION_DAYS {
        events.push(Event::RedrivenAfterAging);
    }
    events
}

fn redriven(state: &RoundState, id: &OperationId, tally: &Mutex<Tally>) {
    let events = redrive_events(state);
    state.trace(id.as_str(), |t| t.events.extend(events.iter().copied()));
    lock(tally).writes_redriven += 1;
}

/// `pmsctl dlq redrive <id>…`: one at a time, as `pmsctl` does. A redrive the write path
/// refuses (its protecting records expired) is given up on as staff would, resolving it by hand.
/// Returns how many came back.
pub async fn redrive_ids(
    d: &Deployment,
    state: &RoundState,
    ids: &[OperationId],
    tally: &Mutex<Tally>,
) -> Result<u64, String> {
    let mut back = 0;
    for id in ids {
        match d.dead_letters.redrive(std::slice::from_ref(id)).await {
            Ok(report) => {
                for id in &report.redriven {
                    redriven(state, id, tally);
                }
                back += report.redriven.len() as u64;
            }
            // Listed a moment ago, no longer pending (the writer resolved it meanwhile).
            Err(DlqError::NotPending { .. } | DlqError::NotFound(_)) => {}
            Err(e) if e.is_retryable() => return Err(format!("redrive of {id}: {e}")),
            Err(_) => {
                state.trace(id.as_str(), |t| t.events.push(Event::RedriveRefused));
                lock(tally).redrives_refused += 1;
                abandon(d, state, id, tally).await?;
            }
        }
    }
    Ok(back)
}

/// `pmsctl dlq redrive --all` (the move task where the queue has one, else by id).
pub async fn redrive_all(
    d: &Deployment,
    state: &RoundState,
    tally: &Mutex<Tally>,
) -> Result<u64, String> {
    let pending: Vec<OperationId> = d
        .dead_letters
        .pending(None)
        .await
        .map_err(err)?
        .into_iter()
        .map(|i| i.id)
        .collect();
    match d.dead_letters.redrive_all(None).await {
        Ok(report) => {
            for id in &report.redriven {
                redriven(state, id, tally);
            }
            // Those it left pending (refused: no longer protected) are taken one by one.
            let left: Vec<OperationId> = pending
                .into_iter()
                .filter(|id| !report.redriven.contains(id))
                .collect();
            Ok(report.redriven.len() as u64 + redrive_ids(d, state, &left, tally).await?)
        }
        // Refused as a whole: one by one, as `pmsctl` falls back.
        Err(_) => redrive_ids(d, state, &pending, tally).await,
    }
}

/// `pmsctl dlq abandon <id>`: staff give a dead letter up (and resolve it by hand). The PMS's
/// charges for it are counted once the vendor has finished what it was doing: nothing may be
/// posted for it afterwards.
pub async fn abandon(
    d: &Deployment,
    state: &RoundState,
    id: &OperationId,
    tally: &Mutex<Tally>,
) -> Result<bool, String> {
    state.wait_for_vendor().await;
    // This operation's own charges: by its vendor reference, unique to it. (By description,
    // another partner's identical charge counted as this one's.)
    let reference = d
        .writes
        .operation(d.hotel_id(), id)
        .await
        .map_err(err)?
        .and_then(|o| match o.message.operation {
            WriteOperation::PostCharge { charge, .. } => Some(charge.reference),
            _ => None,
        });
    let before = match &reference {
        Some(r) => charges_referenced(d, r).await?,
        None => 0,
    };
    match d
        .dead_letters
        .abandon(id, "resolved by hand (chaos)", "chaos-ops")
        .await
    {
        Ok(_) => {
            state.trace(id.as_str(), |t| {
                t.events.push(Event::Abandoned);
                t.abandoned_with = Some(before);
            });
            lock(tally).abandoned += 1;
            Ok(true)
        }
        Err(DlqError::NotPending { .. } | DlqError::NotFound(_)) => Ok(false),
        Err(e) => Err(format!("abandon {id}: {e}")),
    }
}

/// The charges the PMS has under this vendor reference (one operation's).
async fn charges_referenced(d: &Deployment, reference: &str) -> Result<u64, String> {
    charges_where(d, |c| c.reference.as_deref() == Some(reference)).await
}

/// The charges the PMS has with this description (unique to one business request of a run).
pub async fn charges_with(d: &Deployment, description: &str) -> Result<u64, String> {
    charges_where(d, |c| c.description == description).await
}

async fn charges_where(
    d: &Deployment,
    keep: impl Fn(&pms_sim::data::SimCharge) -> bool,
) -> Result<u64, String> {
    let hotel = d
        .admin
        .hotel(d.vendor, &d.property.property_id)
        .await
        .map_err(err)?;
    Ok(hotel.charges.iter().filter(|c| keep(c)).count() as u64)
}

/// Abandons one of the pending dead letters, drawn at random.
pub async fn abandon_one(
    d: &Deployment,
    state: &RoundState,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    let pending = d
        .dead_letters
        .pending(Some(d.hotel_id()))
        .await
        .map_err(err)?;
    if pending.is_empty() {
        return Ok(());
    }
    let pick = &pending[rng.random_range(0..pending.len())];
    abandon(d, state, &pick.id, tally).await.map(|_| ())
}

/// Every message of a queue, left where it was (received, then made visible again).
async fn peek(d: &Deployment, url: &str) -> Result<Vec<ReceivedMessage>, String> {
    let queue = &d.services.queue;
    let mut seen = Vec::new();
    for _ in 0..50 {
        let batch = queue
            .receive(url, 10, Duration::ZERO, Some(Duration::from_secs(30)))
            .await
            .map_err(err)?;
        if batch.is_empty() {
            break;
        }
        seen.extend(batch);
    }
    for m in &seen {
        let _ = queue
            .change_visibility(url, &m.receipt_handle, Duration::ZERO)
            .await;
    }
    Ok(seen)
}

/// What runs between ops' looks at the dead letters: nothing yet.
///
/// SEAM (dead-letter census): where the product lists a dead letter that reached the write DLQ
/// without its record by adopting it in a periodic census (the sync scheduler's tick, every few
/// minutes, so before staff look), run that census here, e.g.
/// `DeadLetterCensus::new(records, queue, write_dlq_url).take(true)`.
async fn census(d: &Deployment) -> Result<(), String> {
    pms_app::writes::DeadLetterCensus::new(
        d.dead_letters.records().clone(),
        d.services.queue.clone(),
        d.names().write_dlq_url.clone(),
    )
    .take(true)
    .await
    .map(|_| ())
    .map_err(err)
}

/// Every dead letter in the write queue's DLQ must be listed by `pmsctl dlq list` (ops cannot
/// see, redrive or abandon what it does not list). Counts those that are not, once per
/// operation; a stray copy of an operation that finished anyway is no dead letter.
pub async fn check_listing(
    d: &Deployment,
    state: &RoundState,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    census(d).await?;
    count_unlisted(d, state, tally).await
}

/// The listing check alone (without the product's census first): counts each write in the
/// write queue's DLQ that `pmsctl dlq list` does not list, once per operation.
pub async fn count_unlisted(
    d: &Deployment,
    state: &RoundState,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    let names = d.names().clone();
    let in_dlq = peek(d, &names.write_dlq_url).await?;
    if in_dlq.is_empty() {
        return Ok(());
    }
    // What `pmsctl dlq list` lists.
    let listed: BTreeSet<String> = d
        .dead_letters
        .records()
        .list_dlq(Some(d.hotel_id()))
        .await
        .map_err(err)?
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    for m in in_dlq {
        let Ok(w) = serde_json::from_str::<WriteMessage>(&m.body) else {
            continue;
        };
        let id = w.operation_id.to_string();
        if listed.contains(&id) {
            continue;
        }
        let finished = d
            .writes
            .operation(&w.hotel_id, &w.operation_id)
            .await
            .map_err(err)?
            .is_some_and(|o| {
                matches!(
                    o.status,
                    OperationStatus::Succeeded | OperationStatus::Abandoned
                )
            });
        if finished {
            continue;
        }
        let first = state.trace(&id, |t| !std::mem::replace(&mut t.unlisted, true));
        if first {
            lock(tally).unlisted_dead_letters += 1;
            state.fail(format!(
                "{} {id} is in the write queue's DLQ but `pmsctl dlq list` does not list it",
                w.operation.name()
            ));
        }
    }
    Ok(())
}

/// Removes every message of a queue (its retention ran out), noting it in the operation's
/// trace; returns how many.
async fn purge(d: &Deployment, state: &RoundState, url: &str) -> Result<u64, String> {
    let queue = &d.services.queue;
    let mut n = 0;
    for _ in 0..100 {
        let batch = queue
            .receive(url, 10, Duration::ZERO, Some(Duration::from_secs(30)))
            .await
            .map_err(err)?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            queue.delete(url, &m.receipt_handle).await.map_err(err)?;
            if let Ok(w) = serde_json::from_str::<WriteMessage>(&m.body) {
                state.trace(w.operation_id.as_str(), |t| {
                    t.events.push(Event::MessageExpired)
                });
            }
            n += 1;
        }
    }
    Ok(n)
}

/// `days` pass with the writer running: what comes back within the write queue's retention is
/// handled as it comes back; what is still on it then, and (after 14 days) in its DLQ, is
/// dropped by the queues' retention; then the rest of the time passes (the store treating every
/// record past its `expires_at` as gone, as DynamoDB's TTL would).
pub async fn age(
    d: &Deployment,
    state: &RoundState,
    days: i64,
    chaos: Option<&mut WriteChaos>,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    check_listing(d, state, tally).await?;
    let start = d.clock.now();
    let names = d.names().clone();
    let mut expired = 0;
    drive::handle_until(
        d,
        chaos,
        state,
        start + chrono::Duration::days(days.min(QUEUE_RETENTION_DAYS)),
        MAX_REDELIVERIES_WHILE_AGING,
        rng,
        tally,
    )
    .await?;
    if days >= QUEUE_RETENTION_DAYS {
        // What is left, hidden or delayed, is in the queue too.
        drive::release_all(d, state).await?;
        expired += purge(d, state, &names.write_queue_url).await?;
    }
    if days >= DLQ_RETENTION_DAYS {
        // Listed first: the listing check must see what the retention takes.
        check_listing(d, state, tally).await?;
        expired += purge(d, state, &names.write_dlq_url).await?;
    }
    drive::jump(
        d,
        state,
        start + chrono::Duration::days(days) - d.clock.now(),
    )
    .await;
    *lock(&state.aged_days) += days;
    let mut t = lock(tally);
    t.aging_steps += 1;
    t.queue_copies_expired += expired;
    Ok(())
}
