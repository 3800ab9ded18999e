//! What the driver saw of each write operation while a round ran: its deliveries and the fault
//! phase each ran under, kills and crashes, ops actions on it, and what the PMS had at each step
//! of the schedule. The checks judge an operation's end by it (a charge dead-lettered while it
//! was on the folio, though nothing stood in the way of looking for it), and the summary counts
//! which classes a round really exercised.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use pms_app::writes::OperationStatus;

use super::drive::Held;
use super::faults::SimFault;
use super::schedule::Schedule;

/// Something that happened to an operation, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The PMS had the charge while the operation was not done, after an attempt its client
    /// gave up on: the vendor applied it, late.
    LateAnswer,
    DeadLettered,
    /// Ops redrove it while the PMS was down (503, 429, refused, lookups failing).
    RedrivenInOutage,
    /// Ops redrove it with the PMS up.
    RedrivenAfterRecovery,
    /// Ops redrove it after its records aged past their retention.
    RedrivenAfterAging,
    /// A redrive was refused (its records expired); ops then gave it up.
    RedriveRefused,
    Abandoned,
    /// A queue's retention dropped its message while records aged (it was never handled, or
    /// redriven, in time).
    MessageExpired,
}

/// The late-answer sequence that once posted a charge twice, after a charge applied late (seen
/// whenever the PMS's posting landed):
/// dead-lettered, redriven into an outage, dead-lettered again, redriven once the PMS is back.
pub const LATE_ANSWER_SEQUENCE: [Event; 4] = [
    Event::DeadLettered,
    Event::RedrivenInOutage,
    Event::DeadLettered,
    Event::RedrivenAfterRecovery,
];

// The summary's names of the classes and sub-sequences (in the order it prints them).
pub const CLASS_PHASES: &str = "faults switched between a charge's attempts";
pub const CLASS_LATE: &str = "  applied by the PMS after the client gave up";
pub const CLASS_INSIDE_WINDOW: &str = "  redelivered inside the settle window";
pub const CLASS_ON_FOLIO: &str = "  dead-lettered while on the folio";
pub const CLASS_REFUSED: &str = "  attempts with connections refused";
pub const CLASS_REDRIVE_OUTAGE: &str = "  redriven during an outage";
pub const CLASS_DEAD_AGAIN: &str = "  dead-lettered again after that redrive";
pub const CLASS_REDRIVE_RECOVERED: &str = "  redriven once the PMS was back";
pub const CLASS_SEQUENCE: &str =
    "  the whole sequence (late, dead letter, redrive in outage, dead letter, redrive)";
pub const CLASS_EXPIRED: &str = "dead letters redriven after their records expired";
pub const CLASS_REDRIVE_REFUSED: &str = "  redrive refused (then abandoned)";
pub const CLASS_SHARED_KEY: &str = "two partners, one idempotency key";
pub const CLASS_SHARED_IDENTICAL: &str = "  the same charge twice";
pub const CLASS_DEADLINE: &str = "writer invocations given a deadline mid-batch";
pub const CLASS_KILLED: &str = "  killed when it passed";
pub const CLASS_KILLED_AGAIN: &str = "  a message killed again on its redelivery";
pub const CLASS_OPS_EARLY: &str = "ops actions before settling";
pub const CLASS_ABANDONED: &str = "  abandon";

/// Every class name, in the summary's order.
pub const CLASSES: [&str; 18] = [
    CLASS_PHASES,
    CLASS_LATE,
    CLASS_INSIDE_WINDOW,
    CLASS_ON_FOLIO,
    CLASS_REFUSED,
    CLASS_REDRIVE_OUTAGE,
    CLASS_DEAD_AGAIN,
    CLASS_REDRIVE_RECOVERED,
    CLASS_SEQUENCE,
    CLASS_EXPIRED,
    CLASS_REDRIVE_REFUSED,
    CLASS_SHARED_KEY,
    CLASS_SHARED_IDENTICAL,
    CLASS_DEADLINE,
    CLASS_KILLED,
    CLASS_KILLED_AGAIN,
    CLASS_OPS_EARLY,
    CLASS_ABANDONED,
];

#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub charge: bool,
    /// A charge's description: unique to its business request in a run, so the PMS's postings
    /// for it can be counted whatever reference reaches the vendor.
    pub description: Option<String>,
    pub deliveries: u32,
    /// The phases its deliveries ran under.
    pub phases: BTreeSet<&'static str>,
    /// A delivery ran where the folio could not be searched, or was killed or crashed: a dead
    /// letter may then be right.
    pub obstructed: bool,
    pub killed: u32,
    /// When (lane time) an attempt last ended without an answer (slow charge, timeout, kill).
    pub unknown_at: Option<DateTime<Utc>>,
    /// Deliveries inside the settle window after such an attempt.
    pub inside_window: u32,
    pub events: Vec<Event>,
    /// The status last seen.
    pub status: Option<OperationStatus>,
    /// The charges the PMS had when ops abandoned it (after postings in flight landed).
    pub abandoned_with: Option<u64>,
    /// Seen dead-lettered while its charge was on the folio (whatever stood in the way).
    pub dead_lettered_on_folio: bool,
    /// Counted as dead-lettered while on the folio with nothing in the way (once).
    pub on_folio_dead_letter: bool,
    /// Counted as a dead letter only in the queue's DLQ (once).
    pub unlisted: bool,
}

impl Trace {
    /// One line for a failure report: what the operation went through.
    pub fn describe(&self) -> String {
        format!(
            "{} deliveries under {:?}{}{}{}, events {:?}",
            self.deliveries,
            self.phases,
            if self.obstructed { ", obstructed" } else { "" },
            if self.killed > 0 {
                format!(", killed {}x", self.killed)
            } else {
                String::new()
            },
            if self.inside_window > 0 {
                format!(", {} inside the settle window", self.inside_window)
            } else {
                String::new()
            },
            self.events
        )
    }

    pub fn saw(&self, e: Event) -> bool {
        self.events.contains(&e)
    }

    /// Whether `seq` happened in this order (other events in between).
    pub fn followed(&self, seq: &[Event]) -> bool {
        let mut want = seq.iter().peekable();
        for e in &self.events {
            if want.peek() == Some(&e) {
                want.next();
            }
        }
        want.peek().is_none()
    }
}

/// A round's driver state: messages held for later, the phase now on, and each operation's
/// trace (by operation id).
#[derive(Default)]
pub struct RoundState {
    pub held: Held,
    pub traces: Mutex<BTreeMap<String, Trace>>,
    phase: Mutex<(SimFault, bool)>,
    /// Until when (real time) the vendor may still apply a posting its client gave up on.
    linger_until: Mutex<Option<Instant>>,
    /// Days the write path's records were aged by in this round.
    pub aged_days: Mutex<i64>,
    /// Invariants found broken while the round ran (before it settled).
    failures: Mutex<Vec<String>>,
    /// A second partner submitted under a key another partner had used.
    pub shared_key_submitted: std::sync::atomic::AtomicBool,
    /// Writer invocations given a deadline that may cut their batch.
    pub deadlines: std::sync::atomic::AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RoundState {
    /// The phase now on, and whether the folio can be searched under it.
    pub fn phase(&self) -> (SimFault, bool) {
        lock(&self.phase).clone()
    }

    pub fn set_phase(&self, fault: SimFault, lookups_reachable: bool) {
        *lock(&self.phase) = (fault, lookups_reachable);
    }

    pub fn trace<R>(&self, op: &str, f: impl FnOnce(&mut Trace) -> R) -> R {
        f(lock(&self.traces).entry(op.to_owned()).or_default())
    }

    pub fn traces(&self) -> BTreeMap<String, Trace> {
        lock(&self.traces).clone()
    }

    /// The vendor may apply postings until `until` (real time).
    pub fn linger_until(&self, until: Instant) {
        let mut l = lock(&self.linger_until);
        *l = Some(l.map_or(until, |u| u.max(until)));
    }

    /// Waits (real time) until the vendor has finished what it was still working on: lane time
    /// may not run ahead of what the vendor does with real requests.
    pub async fn wait_for_vendor(&self) {
        let until = *lock(&self.linger_until);
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    pub fn aged(&self) -> i64 {
        *lock(&self.aged_days)
    }

    pub fn fail(&self, failure: String) {
        lock(&self.failures).push(failure);
    }

    pub fn take_failures(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.failures))
    }

    /// The new failure classes (and their sub-sequences) this round really exercised, as the
    /// summary counts them: from what happened, not from what was planned.
    pub fn classes(&self, schedule: &Schedule) -> Vec<&'static str> {
        let traces = self.traces();
        let charges = || traces.values().filter(|t| t.charge);
        let any = |f: &dyn Fn(&Trace) -> bool| charges().any(f);
        let redriven = |t: &Trace| {
            t.saw(Event::RedrivenInOutage)
                || t.saw(Event::RedrivenAfterRecovery)
                || t.saw(Event::RedrivenAfterAging)
        };
        let mut out = Vec::new();
        let mut mark = |name: &'static str, hit: bool| {
            if hit {
                out.push(name);
            }
        };
        mark(CLASS_PHASES, any(&|t| t.phases.len() > 1));
        mark(CLASS_LATE, any(&|t| t.saw(Event::LateAnswer)));
        mark(CLASS_INSIDE_WINDOW, any(&|t| t.inside_window > 0));
        mark(CLASS_ON_FOLIO, any(&|t| t.dead_lettered_on_folio));
        mark(
            CLASS_REFUSED,
            any(&|t| t.phases.contains("connections refused")),
        );
        mark(
            CLASS_REDRIVE_OUTAGE,
            any(&|t| t.saw(Event::RedrivenInOutage)),
        );
        mark(
            CLASS_DEAD_AGAIN,
            any(&|t| t.followed(&[Event::RedrivenInOutage, Event::DeadLettered])),
        );
        mark(
            CLASS_REDRIVE_RECOVERED,
            any(&|t| t.saw(Event::RedrivenAfterRecovery)),
        );
        mark(
            CLASS_SEQUENCE,
            any(&|t| t.saw(Event::LateAnswer) && t.followed(&LATE_ANSWER_SEQUENCE)),
        );
        mark(
            CLASS_EXPIRED,
            any(&|t| t.saw(Event::RedrivenAfterAging) || t.saw(Event::RedriveRefused)),
        );
        mark(
            CLASS_REDRIVE_REFUSED,
            any(&|t| t.saw(Event::RedriveRefused)),
        );
        let shared = self
            .shared_key_submitted
            .load(std::sync::atomic::Ordering::SeqCst);
        mark(CLASS_SHARED_KEY, shared);
        mark(
            CLASS_SHARED_IDENTICAL,
            shared && schedule.shared_key.is_some_and(|s| s.identical),
        );
        mark(
            CLASS_DEADLINE,
            self.deadlines.load(std::sync::atomic::Ordering::SeqCst) > 0,
        );
        mark(CLASS_KILLED, traces.values().any(|t| t.killed > 0));
        mark(CLASS_KILLED_AGAIN, traces.values().any(|t| t.killed > 1));
        mark(
            CLASS_OPS_EARLY,
            traces
                .values()
                .any(|t| redriven(t) || t.saw(Event::Abandoned)),
        );
        mark(
            CLASS_ABANDONED,
            traces.values().any(|t| t.saw(Event::Abandoned)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_is_followed_in_order_with_other_events_between() {
        let t = Trace {
            events: vec![
                Event::LateAnswer,
                Event::DeadLettered,
                Event::RedrivenInOutage,
                Event::DeadLettered,
                Event::RedrivenAfterAging,
                Event::RedrivenAfterRecovery,
            ],
            ..Trace::default()
        };
        assert!(t.followed(&LATE_ANSWER_SEQUENCE));
        let t = Trace {
            events: vec![
                Event::DeadLettered,
                Event::RedrivenAfterRecovery,
                Event::RedrivenInOutage,
                Event::DeadLettered,
            ],
            ..Trace::default()
        };
        assert!(!t.followed(&LATE_ANSWER_SEQUENCE));
    }
}
