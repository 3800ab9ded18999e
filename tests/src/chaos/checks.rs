//! The invariants, checked after a round has settled:
//!
//! - **double charges**: the simulator holds exactly one charge with our reference for every
//!   charge that succeeded (and none for one that did not);
//! - **lost updates**: every reservation the round changed at the PMS is stored as the PMS has
//!   it (the fields changes touch, and the source version), from webhooks alone;
//! - **state regressions**: no stored record was ever replaced by an older source version (the
//!   [`super::watch::WatchStore`] saw every write);
//! - **rate-limit violations**: the simulator refused no request for exceeding the limit;
//! - **convergence**: after a refresh of every entity the round touched, the store equals the
//!   PMS for each (whole record and version).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pms_core::domain::hash::content_hash;
use pms_core::domain::{ExternalId, RecordId, Reservation};
use pms_core::jobs::{JobSource, RefreshJob, SyncJob};
use pms_core::pms::{EntityKind, EntityRef, PmsAdapter};
use pms_core::writes::{OperationId, OperationStatus, WriteOperation};
use pms_infra::sim::data::SimReservation;
use pms_infra::sim::VendorCounters;
use serde_json::json;

use super::drive::lock;
use super::plan::WritePlan;
use super::report::Tally;
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

/// The reservation as the PMS has it now (faults are cleared; a few tries for safety).
async fn fetch(adapter: &Arc<dyn PmsAdapter>, id: &ExternalId) -> Result<Reservation, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match adapter.get_reservation_by_id(id).await {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => return Err(format!("reservation {id} is gone at the PMS")),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("reservation {id} could not be read: {last}"))
}

async fn stored(d: &Deployment, id: &ExternalId) -> Result<Option<Reservation>, String> {
    d.services
        .reservations
        .get(d.hotel_id(), &RecordId::new(d.hotel.provider, id.clone()))
        .await
        .map_err(err)
}

pub async fn check(
    d: &Deployment,
    patched: &std::collections::BTreeMap<String, SimReservation>,
    ops: &[(WritePlan, Option<OperationId>)],
    before: &VendorCounters,
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

    // ---- writes: every one done, every charge on the folio exactly once ----
    let sim = d
        .admin
        .hotel(d.vendor, &d.property.property_id)
        .await
        .map_err(err)?;
    for (w, id) in ops {
        let status = match id {
            Some(id) => d
                .writes
                .operation(hotel, id)
                .await
                .map_err(err)?
                .map(|o| o.status),
            None => None,
        };
        let done = status == Some(OperationStatus::Succeeded);
        let mut t = lock(tally);
        if !done {
            t.unsettled += 1;
            failures.push(format!(
                "{} {:?} is {status:?} after settling",
                w.op.name(),
                id
            ));
        }
        match &w.op {
            WriteOperation::PostCharge { charge, .. } => {
                let n = sim
                    .charges
                    .iter()
                    .filter(|c| c.reference.as_deref() == Some(charge.reference.as_str()))
                    .count() as u64;
                if n > 1 {
                    t.double_charges += n - 1;
                    failures.push(format!(
                        "charge {} is on the folio {n} times",
                        charge.reference
                    ));
                }
                if (n == 0 && done) || (n > 0 && !done) {
                    t.unrecorded_charges += 1;
                    failures.push(format!(
                        "charge {}: {n} at the PMS but the operation is {status:?}",
                        charge.reference
                    ));
                }
            }
            WriteOperation::AddReservationNote { note, .. } => {
                let n = sim
                    .reservation(&w.reservation)
                    .map(|r| r.notes.iter().filter(|x| x.contains(&note.text)).count())
                    .unwrap_or(0);
                // Notes are at-least-once (a crash after the PMS accepted one repeats it).
                t.duplicate_notes += (n as u64).saturating_sub(1);
            }
            _ => {}
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

    // ---- convergence: a refresh of everything the round touched ----
    let touched: BTreeSet<&str> = patched
        .keys()
        .map(String::as_str)
        .chain(ops.iter().map(|(w, _)| w.reservation.as_str()))
        .collect();
    let entities = touched
        .iter()
        .map(|id| {
            ExternalId::parse(*id).map(|id| EntityRef {
                kind: EntityKind::Reservation,
                id,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let job = SyncJob::Refresh(RefreshJob {
        hotel: hotel.clone(),
        entities,
        source: JobSource::Manual,
        received_at: pms_core::ports::Clock::now(d.clock.as_ref()),
        correlation_id: pms_core::obs::new_correlation_id(),
        attempt: 1,
    });
    let mut refreshed = false;
    for _ in 0..3 {
        if matches!(
            d.processor.process(&job).await,
            Ok(pms_core::jobs::Processed::Refreshed(_))
        ) {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !refreshed {
        lock(tally).unconverged += touched.len() as u64;
        failures.push("the convergence refresh failed with no fault active".into());
        return Ok(());
    }
    for id in touched {
        let ext = ExternalId::parse(id).map_err(err)?;
        let now = fetch(&adapter, &ext).await?;
        let same = match stored(d, &ext).await? {
            Some(s) => s.version == now.version && content_hash(&s) == content_hash(&now),
            None => false,
        };
        if !same {
            lock(tally).unconverged += 1;
            failures.push(format!(
                "reservation {id} differs from the PMS after a refresh: stored {:?}, PMS {:?}",
                stored(d, &ext).await?,
                now
            ));
        }
    }
    Ok(())
}
