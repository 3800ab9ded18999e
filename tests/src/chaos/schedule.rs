//! What a round does to its writes *across* attempts and ops actions, drawn from the round's
//! seed: a schedule of vendor fault phases switched between a charge's attempts and during the
//! settle window, the queue's redeliveries in lane time, ops acting on dead letters at random
//! moments (redrive by id or `--all`, abandon), the write path's records aging past their
//! retention, and writer invocations killed when their deadline passes.
//!
//! The round's own fault ([`super::faults::SimFault`], drawn in [`super::plan`]) is the first
//! phase: it is on while the charges are first attempted. The schedule runs after that part of
//! the round, before it settles.

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use super::faults::SimFault;

/// What ops do with the dead letters `pmsctl dlq list` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpsAction {
    /// `pmsctl dlq redrive <id>…`: the round's pending dead letters, by id.
    RedriveById,
    /// `pmsctl dlq redrive --all`.
    RedriveAll,
    /// `pmsctl dlq abandon <id>`: one pending dead letter, given up on.
    Abandon,
}

impl OpsAction {
    pub fn name(self) -> &'static str {
        match self {
            OpsAction::RedriveById => "redrive by id",
            OpsAction::RedriveAll => "redrive --all",
            OpsAction::Abandon => "abandon",
        }
    }
}

/// One step of a round's schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The vendor's fault from now on; `SimFault::None` brings the PMS back.
    Fault(SimFault),
    /// The queue brings back the next `n` messages waiting for a retry, each when it asked to be
    /// back (lane time moves to it), and the writer handles them.
    Redeliver(u32),
    /// Lane time passes by this many seconds, messages coming back on their way.
    Wait(i64),
    Ops(OpsAction),
    /// Time passes for the write path's records: every `OP#`, `KEY#`, `IDEMP#` and `INTENT#`
    /// item of the hotel due to expire within this many days is expired, and after 14 days the
    /// write DLQ's copies are gone (its retention).
    Age {
        days: i64,
    },
}

/// The outage a dead letter is redriven into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Every request answered 503.
    Unavailable,
    /// Every request answered 429 with `Retry-After`.
    RateLimited,
    /// Nothing listens: connections refused.
    Refused,
    /// Only the folio reads fail (503): the charge could be posted but not looked for.
    LookupFails,
}

impl Outage {
    fn pick(rng: &mut impl Rng) -> Outage {
        *[
            Outage::Unavailable,
            Outage::RateLimited,
            Outage::Refused,
            Outage::LookupFails,
        ]
        .choose(rng)
        .unwrap_or(&Outage::Unavailable)
    }

    pub fn fault(self) -> SimFault {
        match self {
            Outage::Unavailable => SimFault::Errors {
                rate: 1.0,
                status: 503,
            },
            // Longer than the round: the storm is ended by the next phase.
            Outage::RateLimited => SimFault::Storm { seconds: 600 },
            Outage::Refused => SimFault::Refused,
            Outage::LookupFails => SimFault::LookupErrors { status: 503 },
        }
    }
}

/// Which generated sequence a round's schedule follows (for the summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sequence {
    /// No schedule: the round settles after its first attempts.
    None,
    /// A charge the PMS applies but answers late; the redeliveries inside the settle window;
    /// ops redriving the dead letter into an outage, then once the PMS is back.
    LateAnswer,
    /// Random fault phases between attempts, redeliveries, waits and ops actions.
    Phases,
}

/// Writer invocations killed when their deadline passes (Lambda's timeout). Compressed like the
/// client's timeout, and as in production (a 30 s function, a 20 s client) there is always time
/// for a first call: the deadline is 1.2 to `max_factor` client timeouts after the start, so it
/// passes in a batch of slow calls, mid-call when the writer does not keep to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kills {
    /// Chance that a writer invocation gets such a deadline.
    pub chance: f64,
    pub max_factor: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub sequence: Sequence,
    pub steps: Vec<Step>,
    pub kills: Option<Kills>,
    /// A second partner reuses a charge's idempotency key (and its reference).
    pub shared_key: Option<SharedKey>,
}

/// Partner B's charge under partner A's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedKey {
    /// The same amount, description and reference as A's; else a different charge.
    pub identical: bool,
}

fn wait(rng: &mut impl Rng) -> Step {
    // Staff notice a dead letter within a minute to an hour.
    Step::Wait(rng.random_range(60..=3_600))
}

fn ops(rng: &mut impl Rng) -> OpsAction {
    if rng.random_bool(0.5) {
        OpsAction::RedriveById
    } else {
        OpsAction::RedriveAll
    }
}

/// A phase fault between attempts: none, or any fault a PMS shows.
fn phase(rng: &mut impl Rng) -> SimFault {
    match rng.random_range(0..8) {
        0 | 1 => SimFault::None,
        2 => SimFault::SlowCharges {
            beyond_ms: rng.random_range(100..=800),
        },
        3 => SimFault::Timeouts {
            rate: rng.random_range(0.3..0.8),
        },
        4 => SimFault::Errors {
            rate: rng.random_range(0.5..=1.0),
            status: *[500, 502, 503, 504].choose(rng).unwrap_or(&503),
        },
        _ => Outage::pick(rng).fault(),
    }
}

/// Draws a round's schedule. `charges` is whether the round posts a charge; `round_fault` is set
/// to the first phase the schedule needs (a late answer starts with slow charges).
pub fn draw(rng: &mut impl Rng, charges: bool, round_fault: &mut SimFault) -> Schedule {
    let roll: f64 = rng.random();
    let mut steps = Vec::new();
    let sequence = if charges && roll < 0.3 {
        // The late-answer sequence (a charge applied after our client gave up, then an outage and
        // redrives, which once posted a charge twice) and its variations.
        *round_fault = SimFault::SlowCharges {
            beyond_ms: rng.random_range(100..=800),
        };
        let outage = Outage::pick(rng).fault();
        if rng.random_bool(0.5) {
            // As reported: the retries run out inside the settle window (the PMS answering in
            // time again, or still slow), then ops redrive into an outage.
            if rng.random_bool(0.3) {
                steps.push(Step::Fault(SimFault::None));
            }
            steps.push(Step::Redeliver(rng.random_range(2..=3)));
            steps.push(Step::Fault(outage));
        } else {
            // The outage starts inside the settle window: the charge cannot be looked for when
            // the window has passed, and its retries run out on that.
            steps.push(Step::Redeliver(1));
            steps.push(Step::Fault(outage));
            steps.push(Step::Redeliver(4));
        }
        let age_at = rng.random_bool(0.35).then(|| {
            (
                rng.random_range(0..2),
                if rng.random_bool(0.7) { 31 } else { 15 },
            )
        });
        steps.push(wait(rng));
        if let Some((0, days)) = age_at {
            steps.push(Step::Age { days });
        }
        steps.push(Step::Ops(ops(rng)));
        steps.push(Step::Redeliver(3));
        steps.push(Step::Fault(SimFault::None));
        steps.push(wait(rng));
        if let Some((1, days)) = age_at {
            steps.push(Step::Age { days });
        }
        steps.push(Step::Ops(if rng.random_bool(0.1) {
            OpsAction::Abandon
        } else {
            ops(rng)
        }));
        steps.push(Step::Redeliver(3));
        Sequence::LateAnswer
    } else if roll < 0.65 {
        for _ in 0..rng.random_range(2..=5) {
            steps.push(Step::Fault(phase(rng)));
            match rng.random_range(0..4) {
                0 => steps.push(Step::Wait(rng.random_range(1..=120))),
                _ => steps.push(Step::Redeliver(rng.random_range(1..=3))),
            }
            if rng.random_bool(0.3) {
                let action = match rng.random_range(0..5) {
                    0 => OpsAction::Abandon,
                    1 | 2 => OpsAction::RedriveById,
                    _ => OpsAction::RedriveAll,
                };
                steps.push(Step::Ops(action));
            }
            if rng.random_bool(0.08) {
                steps.push(Step::Age {
                    days: if rng.random_bool(0.7) { 31 } else { 15 },
                });
            }
        }
        steps.push(Step::Fault(SimFault::None));
        steps.push(Step::Redeliver(3));
        Sequence::Phases
    } else {
        Sequence::None
    };
    let kills = rng.random_bool(0.25).then(|| Kills {
        chance: rng.random_range(0.3..0.8),
        max_factor: rng.random_range(1.5..3.0),
    });
    if kills.is_some() && steps.is_empty() {
        // The killed invocations' messages come back, and may be killed again.
        steps.push(Step::Redeliver(rng.random_range(2..=4)));
    }
    let shared_key = (charges && rng.random_bool(0.25)).then(|| SharedKey {
        identical: rng.random_bool(0.5),
    });
    Schedule {
        sequence,
        steps,
        kills,
        shared_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::plan::round_rng;

    #[test]
    fn every_class_is_drawn_and_a_late_answer_starts_with_slow_charges() {
        let (mut late, mut phases, mut kills, mut shared, mut aged, mut refused) =
            (0, 0, 0, 0, 0, 0);
        for round in 0..400 {
            let mut fault = SimFault::None;
            let s = draw(&mut round_rng(7, round, 4), true, &mut fault);
            match s.sequence {
                Sequence::LateAnswer => {
                    late += 1;
                    assert!(matches!(fault, SimFault::SlowCharges { .. }), "{s:?}");
                    assert!(s.steps.contains(&Step::Fault(SimFault::None)));
                }
                Sequence::Phases => phases += 1,
                Sequence::None => {}
            }
            kills += usize::from(s.kills.is_some());
            shared += usize::from(s.shared_key.is_some());
            aged += usize::from(s.steps.iter().any(|x| matches!(x, Step::Age { .. })));
            refused += usize::from(s.steps.contains(&Step::Fault(SimFault::Refused)));
        }
        for (name, n) in [
            ("late", late),
            ("phases", phases),
            ("kills", kills),
            ("shared", shared),
            ("aged", aged),
            ("refused", refused),
        ] {
            assert!(n > 20, "{name}: {n} of 400");
        }
        let mut fault = SimFault::None;
        let s = draw(&mut round_rng(7, 1, 4), false, &mut fault);
        assert!(s.sequence != Sequence::LateAnswer && s.shared_key.is_none());
    }
}
