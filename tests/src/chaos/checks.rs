//! The invariants, checked after a round has settled:
//!
//! - **charges**: per business request (counted at the simulator by the charge's description,
//!   unique to a request, whatever reference reached the vendor): exactly one posting when the
//!   operation succeeded, at most one always, none when it failed, and none more after ops
//!   abandoned it;
//! - **partner isolation**, **charges on the folio dead-lettered** and **dead letters not
//!   listed** are counted while the round runs ([`super::scenario`], [`super::timeline`],
//!   [`super::ops`]);
//! - **lost updates**: every reservation the round changed at the PMS is stored as the PMS has
//!   it (the fields changes touch, and the source version), from webhooks alone;
//! - **state regressions**: no stored record was ever replaced by an older source version (the
//!   [`super::watch::WatchStore`] saw every write);
//! - **rate-limit violations**: the simulator refused no request for exceeding the limit;
//! - **convergence**: after a sync run (the scheduled reservations delta, as the sync worker
//!   runs it), the store equals the PMS for every reservation the round touched (whole record
//!   and version).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pms_app::jobs::{Feed, FeedJob};
use pms_app::sync::FeedOutcome;
use pms_app::writes::{OperationId, OperationStatus, WriteOperation};
use pms_domain::domain::hash::content_hash;
use pms_domain::domain::{ExternalId, RecordId, Reservation};
use pms_domain::pms::{EntityKind, EntityRef, PmsAdapter, Refreshed};
use pms_sim::data::SimReservation;
use pms_sim::VendorCounters;
use serde_json::json;

use super::drive::lock;
use super::ops::RECORD_RETENTION_DAYS;
use super::plan::WritePlan;
use super::report::Tally;
use super::trace::RoundState;
use super::world::Deployment;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The fields the round's changes touch, as the canonical record has them.
fn projection(r: &Reservation) -> serde_json::Value {
    json!({
        "status": r.status,
        "rawStatus": r.raw_status,
        "arrival": r.arrival,
        "departure": r.departure,
        "roomNumber": r.room_number,
        "rateCode": r.rate_code,
        "specialRequests": r.special_requests,
        "adults": r.adults,
        "children": r.children,
    })
}

/// The fields in which two records differ, as `field: stored -> PMS`.
fn diff(stored: &serde_json::Value, pms: &serde_json::Value) -> String {
    let (Some(a), Some(b)) = (stored.as_object(), pms.as_object()) else {
        return format!("{stored} -> {pms}");
    };
    let mut keys: BTreeSet<&String> = a.keys().collect();
    keys.extend(b.keys());
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| v.map_or("-".to_owned(), |v| v.to_string());
            format!("{k}: {} -> {}", show(a.get(k)), show(b.get(k)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The reservation as the layer reads it from the PMS now, by the refresh path (faults are
/// cleared; a few tries for safety). The refresh path, not a read by id: OPERA's read by id and
/// its list search carry different fields (notes vs balance), and the store holds what the
/// refresh and the feeds read.
async fn fetch(adapter: &Arc<dyn PmsAdapter>, id: &ExternalId) -> Result<Reservation, String> {
    let mut last = String::new();
    let refs = [EntityRef {
        kind: EntityKind::Reservation,
        id: id.clone(),
    }];
    for _ in 0..3 {
        match adapter.fetch_entities(&refs).await.pop().map(|(_, r)| r) {
            Some(Ok(Refreshed::Reservation(r))) => return Ok(*r),
            Some(Ok(_)) => return Err(format!("reservation {id} is gone at the PMS")),
            Some(Err(e)) => last = e.to_string(),
            None => last = "no answer".to_owned(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("reservation {id} could not be read: {last}"))
}

/// One run of the reservations delta feed, as the sync worker runs a scheduled job, then its
/// follow-ups (refresh jobs for records that failed) through the worker's processor.
pub async fn sync_run(d: &Deployment, tally: &Mutex<Tally>) -> Result<(), String> {
    let job = FeedJob {
        hotel: d.hotel_id().clone(),
        feed: Feed::Reservations,
        scheduled_at: chrono::Utc::now(),
        correlation_id: pms_app::obs::new_correlation_id(),
        continuation: None,
    };
    let mut last = String::new();
    for _ in 0..3 {
        match d.sync.run_job(&job).await {
            Ok(FeedOutcome::Ran(run)) => {
                {
                    let mut t = lock(tally);
                    t.sync_runs += 1;
                    t.sync_failed_records += run.failed.count;
                }
                let mut rng = super::plan::round_rng(0, 0, 0);
                while super::drive::sync_pass(d, 0.0, &mut rng, tally).await? > 0 {}
                return Ok(());
            }
            Ok(FeedOutcome::Skipped(s)) => return Err(format!("the run was skipped: {s:?}")),
            Ok(FeedOutcome::Paused(p)) => {
                return Err(format!("the run paused without a budget: {}", p.run_id))
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

async fn stored(d: &Deployment, id: &ExternalId) -> Result<Option<Reservation>, String> {
    d.services
        .reservations
        .get(d.hotel_id(), &RecordId::new(d.hotel.provider, id.clone()))
        .await
        .map_err(err)
}

/// Deliveries one operation may take in a round: its attempts (3 per redrive, up to 4
/// redrives), a wait per attempt for the settle window or a lease, deliveries not started for
/// a deadline (8 at most before one counts) and duplicates. Far more is a write cycling.
pub const MAX_DELIVERIES: u32 = 100;

pub async fn check(
    d: &Deployment,
    patched: &std::collections::BTreeMap<String, SimReservation>,
    ops: &[(WritePlan, Option<OperationId>)],
    before: &VendorCounters,
    state: &RoundState,
    tally: &Mutex<Tally>,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let hotel = d.hotel_id();
    let after = d.admin.counters().await.map_err(err)?[&d.vendor].clone();
    {
        let mut t = lock(tally);
        let violations = after.rate_limit_violations - before.rate_limit_violations;
        if violations > 0 {
            failures.push(format!(
                "{violations} requests over the vendor's rate limit"
            ));
        }
        t.rate_limit_violations += violations;
        t.vendor_calls += after.total_calls - before.total_calls;
        t.vendor_injected_errors += after.injected_errors - before.injected_errors;
        t.vendor_injected_timeouts += after.injected_timeouts - before.injected_timeouts;
        t.vendor_storm_rejections += after.storm_rejections - before.storm_rejections;
        t.vendor_unauthorized += after.unauthorized - before.unauthorized;
    }

    // ---- writes: every one done; per business request, at most one charge at the PMS ----
    let sim = d
        .admin
        .hotel(d.vendor, &d.property.property_id)
        .await
        .map_err(err)?;
    // Operations' records expire with the records that protect them: after a month, nothing
    // tells how one ended (its charge must still be at the PMS at most once).
    let expired_ok = state.aged() >= RECORD_RETENTION_DAYS;
    let traces = state.traces();
    let mut statuses: BTreeMap<&OperationId, Option<OperationStatus>> = BTreeMap::new();
    for (w, id) in ops {
        let Some(id) = id else {
            // Refused for another partner's key: counted as a breach when submitted.
            continue;
        };
        let record = d.writes.operation(hotel, id).await.map_err(err)?;
        let status = record.as_ref().map(|o| o.status);
        let error = record
            .and_then(|o| o.error)
            .map(|e| format!(" with {}: {}", e.code, e.message))
            .unwrap_or_default();
        statuses.insert(id, status);
        let settled = matches!(
            status,
            Some(OperationStatus::Succeeded | OperationStatus::Abandoned)
        ) || (status.is_none() && expired_ok);
        if !settled {
            lock(tally).unsettled += 1;
            let trace = traces
                .get(id.as_str())
                .map(|t| t.describe())
                .unwrap_or_default();
            failures.push(format!(
                "{} {id} (partner {}) is {status:?}{error} after settling ({trace})",
                w.op.name(),
                w.partner
            ));
        }
        if let Some(t) = traces
            .get(id.as_str())
            .filter(|t| t.deliveries > MAX_DELIVERIES)
        {
            lock(tally).churned += 1;
            failures.push(format!(
                "{} {id} (partner {}) was delivered {} times (cycling; at most {MAX_DELIVERIES}): {}",
                w.op.name(),
                w.partner,
                t.deliveries,
                t.describe()
            ));
        }
        if let WriteOperation::AddReservationNote { note, .. } = &w.op {
            let n = sim
                .reservation(&w.reservation)
                .map(|r| r.notes.iter().filter(|x| x.contains(&note.text)).count())
                .unwrap_or(0);
            // Notes are at-least-once (a crash after the PMS accepted one repeats it).
            lock(tally).duplicate_notes += (n as u64).saturating_sub(1);
        }
    }
    // Charges, by description: one business request, or two partners' identical ones.
    let mut groups: BTreeMap<&str, BTreeSet<&OperationId>> = BTreeMap::new();
    let mut requests: BTreeMap<&str, u64> = BTreeMap::new();
    for (w, id) in ops {
        let Some(desc) = w.charge_description() else {
            continue;
        };
        *requests.entry(desc).or_default() += 1;
        let group = groups.entry(desc).or_default();
        if let Some(id) = id {
            group.insert(id);
        }
    }
    for (desc, group) in &groups {
        let n = sim
            .charges
            .iter()
            .filter(|c| c.description == *desc)
            .count() as u64;
        // What the operations allow: at least / at most this many postings.
        let (mut least, mut most) = (0u64, 0u64);
        let mut shown = Vec::new();
        for id in group {
            let status = statuses.get(id).copied().flatten();
            let (l, m) = match status {
                Some(OperationStatus::Succeeded) => (1, 1),
                Some(OperationStatus::Failed) => (0, 0),
                // Nothing may be posted after ops gave it up.
                Some(OperationStatus::Abandoned) => {
                    let had = traces
                        .get(id.as_str())
                        .and_then(|t| t.abandoned_with)
                        .unwrap_or(0)
                        .min(1);
                    (had, had)
                }
                // Not settled (counted above), or its record expired: at most one.
                _ => (0, 1),
            };
            least += l;
            most += m;
            let trace = traces
                .get(id.as_str())
                .map(|t| t.describe())
                .unwrap_or_default();
            shown.push(format!("{id} {status:?} ({trace})"));
        }
        let requests = requests.get(desc).copied().unwrap_or(1);
        let mut t = lock(tally);
        // Each operation may post once: more postings than operations is a charge posted twice
        // (one operation, or a partner's charge posted under another partner's operation).
        let operations = group.len() as u64;
        if n > operations {
            t.double_charges += n - operations;
            failures.push(format!(
                "charge {desc:?} is at the PMS {n} times for {requests} request(s) and {operations} operation(s): {}",
                shown.join(", ")
            ));
        } else if n > most {
            t.unrecorded_charges += n - most;
            failures.push(format!(
                "charge {desc:?}: {n} at the PMS but the operations allow at most {most}: {}",
                shown.join(", ")
            ));
        }
        if n < least {
            t.unrecorded_charges += least - n;
            failures.push(format!(
                "charge {desc:?}: {n} at the PMS but {least} succeeded: {}",
                shown.join(", ")
            ));
        }
    }

    // ---- lost updates: the webhooks alone brought every change ----
    let adapter = d
        .services
        .adapters
        .adapter_for(&d.hotel)
        .await
        .map_err(err)?;
    for id in patched.keys() {
        let ext = ExternalId::parse(id.as_str()).map_err(err)?;
        let now = fetch(&adapter, &ext).await?;
        let problem = match stored(d, &ext).await? {
            None => Some("never stored".to_owned()),
            Some(s) if projection(&s) != projection(&now) => Some(format!(
                "stored {} but the PMS has {}",
                projection(&s),
                projection(&now)
            )),
            Some(s) if s.version != now.version => Some(format!(
                "stored version {} but the PMS is at {}",
                s.version, now.version
            )),
            Some(_) => None,
        };
        if let Some(p) = problem {
            lock(tally).lost_updates += 1;
            failures.push(format!("lost update of reservation {id}: {p}"));
        }
    }

    // ---- state regressions ----
    for r in d.watch.take_regressions() {
        lock(tally).state_regressions += 1;
        failures.push(format!(
            "state regression of {}: version {} replaced by {}",
            r.key, r.from, r.to
        ));
    }

    // ---- convergence: a sync run brings everything the round touched ----
    let touched: BTreeSet<&str> = patched
        .keys()
        .map(String::as_str)
        .chain(ops.iter().map(|(w, _)| w.reservation.as_str()))
        .collect();
    if let Err(e) = sync_run(d, tally).await {
        lock(tally).unconverged += touched.len() as u64;
        failures.push(format!("the sync run failed with no fault active: {e}"));
        return Ok(());
    }
    for id in touched {
        let ext = ExternalId::parse(id).map_err(err)?;
        let detail = fetch(&adapter, &ext).await?;
        let stored = stored(d, &ext).await?;
        // What a sync can bring: Cloudbeds' list rows lack what only a detail read carries, and
        // the store keeps what a detail read (a webhook refresh) stored, or nothing.
        let mut now = detail.clone();
        if let (Some(s), true) = (&stored, detail.id.provider() == pms_cloudbeds::PROVIDER) {
            now.not_carried =
                pms_domain::domain::NotCarried(pms_cloudbeds::mapping::ROW_LACKS.to_vec());
            now.keep_uncarried(s);
        }
        let now_json = serde_json::to_value(&now).unwrap_or_default();
        let problem = match stored {
            None => Some("never stored".to_owned()),
            Some(s) if s.version == now.version && content_hash(&s) == content_hash(&now) => None,
            Some(s) => Some(diff(
                &serde_json::to_value(&s).unwrap_or_default(),
                &now_json,
            )),
        };
        if let Some(p) = problem {
            lock(tally).unconverged += 1;
            failures.push(format!(
                "reservation {id} differs from the PMS after a sync run: {p}"
            ));
        }
    }
    Ok(())
}
