//! Running a round's [`Schedule`] after its first attempts: fault phases switched between
//! attempts, the queue's redeliveries and waits in lane time, ops actions, records aging. After
//! each step the round's operations are looked at ([`observe`]): what the PMS has for each, and
//! whether a charge on the folio was dead-lettered though nothing stood in the way of finding it.

use std::sync::Mutex;

use pms_app::writes::{OperationId, OperationStatus};
use rand::Rng;

use super::drive::{self, lock, WriteChaos};
use super::faults::SimFault;
use super::ops;
use super::plan::WritePlan;
use super::report::Tally;
use super::schedule::{OpsAction, Schedule, Step};
use super::trace::{Event, RoundState};
use super::world::Deployment;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Switches the vendor's fault and records the phase.
pub async fn set_phase(d: &Deployment, state: &RoundState, fault: &SimFault) -> Result<(), String> {
    d.set_fault(fault).await?;
    state.set_phase(fault.clone(), fault.lookups_reachable(d.vendor));
    Ok(())
}

pub async fn run(
    d: &Deployment,
    schedule: &Schedule,
    ops_: &[(WritePlan, Option<OperationId>)],
    state: &RoundState,
    chaos: &mut WriteChaos,
    rng: &mut impl Rng,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    observe(d, ops_, state, tally).await?;
    for step in &schedule.steps {
        match step {
            Step::Fault(f) => {
                set_phase(d, state, f).await?;
                lock(tally).phase_switches += 1;
            }
            Step::Redeliver(n) => {
                for _ in 0..*n {
                    if !drive::redeliver_next(d, Some(chaos), state, rng, tally).await? {
                        break;
                    }
                }
            }
            Step::Wait(secs) => {
                drive::wait(
                    d,
                    Some(chaos),
                    state,
                    chrono::Duration::seconds(*secs),
                    rng,
                    tally,
                )
                .await?
            }
            Step::Ops(action) => {
                // Staff look at what `pmsctl dlq list` shows them first.
                ops::check_listing(d, state, tally).await?;
                *lock(tally).ops_actions.entry(action.name()).or_default() += 1;
                match action {
                    OpsAction::RedriveById => {
                        let ids: Vec<OperationId> = d
                            .dead_letters
                            .pending(Some(d.hotel_id()))
                            .await
                            .map_err(err)?
                            .into_iter()
                            .map(|i| i.id)
                            .collect();
                        ops::redrive_ids(d, state, &ids, tally).await?;
                    }
                    OpsAction::RedriveAll => {
                        ops::redrive_all(d, state, tally).await?;
                    }
                    OpsAction::Abandon => ops::abandon_one(d, state, rng, tally).await?,
                }
            }
            Step::Age { days } => ops::age(d, state, *days, Some(chaos), rng, tally).await?,
        }
        observe(d, ops_, state, tally).await?;
    }
    Ok(())
}

/// Looks at the round's operations and what the PMS has for each charge: records transitions
/// (dead-lettered, applied late) in their traces, and counts a charge that is on the folio yet
/// dead-lettered although every delivery of it could look for it (no outage, kill or crash).
pub async fn observe(
    d: &Deployment,
    ops_: &[(WritePlan, Option<OperationId>)],
    state: &RoundState,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    let sim = d
        .admin
        .hotel(d.vendor, &d.property.property_id)
        .await
        .map_err(err)?;
    for (w, id) in ops_ {
        let Some(id) = id else { continue };
        let Some(desc) = w.charge_description() else {
            continue;
        };
        let on_folio = sim.charges.iter().filter(|c| c.description == desc).count();
        let op = d.writes.operation(d.hotel_id(), id).await.map_err(err)?;
        let status = op.as_ref().map(|o| o.status);
        let code = op
            .as_ref()
            .and_then(|o| o.error.as_ref())
            .map(|e| format!("{}: {}", e.code, e.message))
            .unwrap_or_default();
        let (breach, trace) = state.trace(id.as_str(), |t| {
            let was = std::mem::replace(&mut t.status, status);
            // Applied late comes first: the posting landed before the attempts ran out.
            let slow = t.phases.contains(SimFault::SLOW_CHARGES);
            // (An operation whose record aged away says nothing.)
            if on_folio > 0
                && status.is_some_and(|s| s != OperationStatus::Succeeded)
                && slow
                && !t.saw(Event::LateAnswer)
            {
                t.events.push(Event::LateAnswer);
            }
            if status == Some(OperationStatus::DeadLettered)
                && was != Some(OperationStatus::DeadLettered)
            {
                t.events.push(Event::DeadLettered);
            }
            if on_folio > 0 && status == Some(OperationStatus::DeadLettered) {
                t.dead_lettered_on_folio = true;
                if !t.obstructed && !t.on_folio_dead_letter {
                    t.on_folio_dead_letter = true;
                    return (true, t.describe());
                }
            }
            (false, String::new())
        });
        if breach {
            lock(tally).on_folio_dead_letters += 1;
            state.fail(format!(
                "charge {desc:?} ({id}) is on the folio but dead-lettered ({code}), though every delivery of it could look for it ({trace})"
            ));
        }
    }
    Ok(())
}
