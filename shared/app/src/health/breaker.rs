//! The per-hotel circuit breaker as a pure state machine: no store, no clock of its own. The
//! store ([`super::Breakers`]) reads it, asks it what to do and what it becomes, and writes it
//! back conditionally; everything here is unit-tested without I/O.
//!
//! - **Closed**: calls go through. Failures that count ([`counts`]) are counted while they come
//!   less than `window` apart; `threshold` of them open the breaker. Any success resets it.
//! - **Open**: scheduled work is skipped until `next_probe_at`. Then one job claims the probe
//!   (a conditional write of the claim, so one process wins); while the probe's claim is live
//!   the breaker is *half open* and everything else still skips. A failed probe doubles the
//!   back-off (5 min, 10, 20, 40, capped at 1 h); a success anywhere closes it.
//! - A probe whose process died (no outcome before its claim ran out) is simply due again.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use pms_domain::pms::{PmsError, UnavailableCause};

/// The breaker's tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Counted failures, each less than `window` after the previous, that open the breaker.
    pub threshold: u32,
    pub window: Duration,
    /// The first open interval; each failed probe doubles it, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a claimed probe holds the breaker half open: longer than a sync job may run
    /// (the worker's 300 s timeout), so a live probe is never doubled.
    pub probe_lease: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            window: Duration::minutes(15),
            first_backoff: Duration::minutes(5),
            max_backoff: Duration::hours(1),
            probe_lease: Duration::seconds(360),
        }
    }
}

/// The one job allowed to call the PMS while the breaker is open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub id: String,
    pub until: DateTime<Utc>,
}

/// What the breaker holds. Stored as JSON (`state` tag), with the failure code of the last
/// counted failure (a code such as `PMS_UNAVAILABLE`, never a vendor's text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "state",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Breaker {
    Closed {
        failures: u32,
        last_failure_at: Option<DateTime<Utc>>,
        last_error: Option<String>,
    },
    Open {
        opened_at: DateTime<Utc>,
        /// Counted failures since it closed last (the opening ones and failed probes).
        failures: u32,
        backoff_seconds: i64,
        next_probe_at: DateTime<Utc>,
        probe: Option<Probe>,
        last_error: String,
    },
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::Closed {
            failures: 0,
            last_failure_at: None,
            last_error: None,
        }
    }
}

/// The state as operators see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    /// Open, with a probe running.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// A breaker as shown: its state, the failures counted, and when it opened and probes next.
/// `lastError` is an error code (`PMS_UNAVAILABLE`, `PMS_UNAUTHORIZED`), never a vendor's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitView {
    pub state: CircuitState,
    pub failures: u32,
    pub opened_at: Option<DateTime<Utc>>,
    pub next_probe_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl CircuitView {
    /// One cell of a table: `closed`, `open (next probe 10:05Z)`, `half_open`.
    pub fn summary(&self) -> String {
        match (self.state, self.next_probe_at) {
            (CircuitState::Open, Some(at)) => format!(
                "open ({}, next probe {})",
                self.last_error.as_deref().unwrap_or("failing"),
                at.format("%H:%M:%SZ")
            ),
            (state, _) if self.failures > 0 && state == CircuitState::Closed => {
                format!("closed ({} recent failure(s))", self.failures)
            }
            (state, _) => state.as_str().to_owned(),
        }
    }
}

/// What a job may do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call the PMS.
    Call,
    /// Open and due: the caller may claim the probe ([`Breaker::claim_probe`]).
    ProbeDue,
    /// Open: do not call the PMS before `until` (the next probe, or the end of the live one).
    Skip { until: DateTime<Utc> },
}

/// A change worth a log line and a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Opened,
    /// A probe failed: open again for `backoff`.
    ProbeFailed {
        backoff: Duration,
    },
    Closed,
}

/// Whether an error says the PMS itself is unhealthy: it refused or dropped the connection,
/// timed out, answered 5xx, or refused credentials a refresh did not fix (the adapters re-read
/// credentials and retry once on a 401 before they answer `Unauthorized`). Not: 429 (a healthy
/// PMS pacing us), 4xx refusals, not found, a request never sent for a deadline, or the
/// breaker's own refusal.
pub fn counts(e: &PmsError) -> bool {
    match e {
        PmsError::Unauthorized { .. } => true,
        PmsError::Unavailable { cause, .. } => matches!(
            cause,
            UnavailableCause::ConnectionRefused
                | UnavailableCause::ConnectionReset
                | UnavailableCause::Timeout
                | UnavailableCause::Transport
                | UnavailableCause::Http(500..=599)
        ),
        _ => false,
    }
}

impl Breaker {
    pub fn state(&self, now: DateTime<Utc>) -> CircuitState {
        match self {
            Breaker::Closed { .. } => CircuitState::Closed,
            Breaker::Open { probe: Some(p), .. } if p.until > now => CircuitState::HalfOpen,
            Breaker::Open { .. } => CircuitState::Open,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Breaker::Open { .. })
    }

    pub fn failures(&self) -> u32 {
        match self {
            Breaker::Closed { failures, .. } | Breaker::Open { failures, .. } => *failures,
        }
    }

    pub fn admit(&self, now: DateTime<Utc>) -> Admission {
        match self {
            Breaker::Closed { .. } => Admission::Call,
            Breaker::Open { probe: Some(p), .. } if p.until > now => {
                Admission::Skip { until: p.until }
            }
            Breaker::Open { next_probe_at, .. } if *next_probe_at > now => Admission::Skip {
                until: *next_probe_at,
            },
            Breaker::Open { .. } => Admission::ProbeDue,
        }
    }

    /// The breaker with the probe claimed by `id`, or `None` when no probe is due.
    pub fn claim_probe(
        &self,
        now: DateTime<Utc>,
        id: &str,
        policy: &BreakerPolicy,
    ) -> Option<Breaker> {
        if self.admit(now) != Admission::ProbeDue {
            return None;
        }
        let Breaker::Open {
            opened_at,
            failures,
            backoff_seconds,
            next_probe_at,
            last_error,
            ..
        } = self
        else {
            return None;
        };
        Some(Breaker::Open {
            opened_at: *opened_at,
            failures: *failures,
            backoff_seconds: *backoff_seconds,
            next_probe_at: *next_probe_at,
            probe: Some(Probe {
                id: id.to_owned(),
                until: now + policy.probe_lease,
            }),
            last_error: last_error.clone(),
        })
    }

    /// After a counted failure. `probe` is the id of the probe the failing call was, if it
    /// was one: only a failed probe moves the next probe on (other failures while open, such
    /// as a partner read that raced the opening, change nothing but the count).
    pub fn failed(
        &self,
        now: DateTime<Utc>,
        code: &str,
        probe: Option<&str>,
        policy: &BreakerPolicy,
    ) -> (Breaker, Option<Transition>) {
        match self {
            Breaker::Closed {
                failures,
                last_failure_at,
                ..
            } => {
                let recent = last_failure_at.is_some_and(|t| now - t < policy.window);
                let failures = if recent { failures + 1 } else { 1 };
                if failures >= policy.threshold {
                    (
                        Breaker::Open {
                            opened_at: now,
                            failures,
                            backoff_seconds: policy.first_backoff.num_seconds(),
                            next_probe_at: now + policy.first_backoff,
                            probe: None,
                            last_error: code.to_owned(),
                        },
                        Some(Transition::Opened),
                    )
                } else {
                    (
                        Breaker::Closed {
                            failures,
                            last_failure_at: Some(now),
                            last_error: Some(code.to_owned()),
                        },
                        None,
                    )
                }
            }
            Breaker::Open {
                opened_at,
                failures,
                backoff_seconds,
                next_probe_at,
                probe: current,
                ..
            } => {
                let is_probe = matches!((current, probe), (Some(c), Some(p)) if c.id == p);
                if !is_probe {
                    return (
                        Breaker::Open {
                            opened_at: *opened_at,
                            failures: failures + 1,
                            backoff_seconds: *backoff_seconds,
                            next_probe_at: *next_probe_at,
                            probe: current.clone(),
                            last_error: code.to_owned(),
                        },
                        None,
                    );
                }
                let backoff = Duration::seconds(backoff_seconds.saturating_mul(2))
                    .clamp(policy.first_backoff, policy.max_backoff);
                (
                    Breaker::Open {
                        opened_at: *opened_at,
                        failures: failures + 1,
                        backoff_seconds: backoff.num_seconds(),
                        next_probe_at: now + backoff,
                        probe: None,
                        last_error: code.to_owned(),
                    },
                    Some(Transition::ProbeFailed { backoff }),
                )
            }
        }
    }

    /// After a call the PMS answered: closed, with nothing counted. `None` when that is what it
    /// already is (no write needed).
    pub fn succeeded(&self) -> Option<(Breaker, Option<Transition>)> {
        match self {
            Breaker::Closed { failures: 0, .. } => None,
            Breaker::Closed { .. } => Some((Breaker::default(), None)),
            Breaker::Open { .. } => Some((Breaker::default(), Some(Transition::Closed))),
        }
    }

    /// What operators and partners are shown (`pmsctl hotel list`, GraphQL `health`).
    pub fn view(&self, now: DateTime<Utc>) -> CircuitView {
        match self {
            Breaker::Closed {
                failures,
                last_error,
                ..
            } => CircuitView {
                state: CircuitState::Closed,
                failures: *failures,
                opened_at: None,
                next_probe_at: None,
                last_error: last_error.clone(),
            },
            Breaker::Open {
                opened_at,
                failures,
                next_probe_at,
                last_error,
                ..
            } => CircuitView {
                state: self.state(now),
                failures: *failures,
                opened_at: Some(*opened_at),
                next_probe_at: Some(*next_probe_at),
                last_error: Some(last_error.clone()),
            },
        }
    }

    /// When the next probe may run (open breakers only).
    pub fn next_probe_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Breaker::Open { next_probe_at, .. } => Some(*next_probe_at),
            Breaker::Closed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn open_after_threshold(p: &BreakerPolicy) -> Breaker {
        let mut b = Breaker::default();
        for i in 0..p.threshold {
            b = b.failed(t0(), "PMS_UNAVAILABLE", None, p).0;
            if i + 1 < p.threshold {
                assert_eq!(b.admit(t0()), Admission::Call);
            }
        }
        b
    }

    #[test]
    fn opens_after_the_threshold_of_recent_failures() {
        let p = BreakerPolicy::default();
        let mut b = Breaker::default();
        let mut transitions = Vec::new();
        for _ in 0..p.threshold {
            let (next, t) = b.failed(t0(), "PMS_UNAVAILABLE", None, &p);
            transitions.extend(t);
            b = next;
        }
        assert_eq!(transitions, [Transition::Opened]);
        assert_eq!(b.state(t0()), CircuitState::Open);
        assert_eq!(
            b.admit(t0()),
            Admission::Skip {
                until: t0() + Duration::minutes(5)
            }
        );
    }

    #[test]
    fn failures_far_apart_do_not_add_up() {
        let p = BreakerPolicy::default();
        let mut b = Breaker::default();
        for i in 0..(p.threshold * 3) {
            let at = t0() + p.window * (i as i32);
            b = b.failed(at, "PMS_UNAVAILABLE", None, &p).0;
        }
        assert_eq!(b.failures(), 1);
        assert!(!b.is_open());
    }

    #[test]
    fn a_success_resets_the_count_and_needs_no_write_when_clean() {
        let p = BreakerPolicy::default();
        assert!(Breaker::default().succeeded().is_none());
        let b = Breaker::default()
            .failed(t0(), "PMS_UNAUTHORIZED", None, &p)
            .0;
        let (b, t) = b.succeeded().unwrap();
        assert_eq!((b, t), (Breaker::default(), None));
    }

    #[test]
    fn one_probe_per_interval_and_back_off_doubles_to_an_hour() {
        let p = BreakerPolicy::default();
        let mut b = open_after_threshold(&p);
        let mut now = t0();
        let mut backoffs = Vec::new();
        for n in 0..6 {
            // Not due yet: everyone skips.
            assert!(b.claim_probe(now, "early", &p).is_none());
            now = b.next_probe_at().unwrap();
            assert_eq!(b.admit(now), Admission::ProbeDue);
            let id = format!("probe-{n}");
            let claimed = b.claim_probe(now, &id, &p).unwrap();
            assert_eq!(claimed.state(now), CircuitState::HalfOpen);
            // The claim is one: a second claimer is told to wait for the probe.
            assert!(claimed.claim_probe(now, "other", &p).is_none());
            assert_eq!(
                claimed.admit(now),
                Admission::Skip {
                    until: now + p.probe_lease
                }
            );
            // A failure that is not the probe's changes no schedule.
            let (other, t) = claimed.failed(now, "PMS_UNAVAILABLE", Some("other"), &p);
            assert_eq!(t, None);
            assert_eq!(other.next_probe_at(), claimed.next_probe_at());
            let (next, t) = claimed.failed(now, "PMS_UNAVAILABLE", Some(&id), &p);
            let Some(Transition::ProbeFailed { backoff }) = t else {
                panic!("{t:?}")
            };
            assert_eq!(next.next_probe_at(), Some(now + backoff));
            backoffs.push(backoff.num_minutes());
            b = next;
        }
        assert_eq!(backoffs, [10, 20, 40, 60, 60, 60]);
    }

    #[test]
    fn a_dead_probe_is_due_again_after_its_lease() {
        let p = BreakerPolicy::default();
        let b = open_after_threshold(&p);
        let due = b.next_probe_at().unwrap();
        let claimed = b.claim_probe(due, "dies", &p).unwrap();
        let later = due + p.probe_lease + Duration::seconds(1);
        assert_eq!(claimed.state(later), CircuitState::Open);
        assert_eq!(claimed.admit(later), Admission::ProbeDue);
        assert!(claimed.claim_probe(later, "next", &p).is_some());
    }

    #[test]
    fn any_success_closes_an_open_breaker() {
        let p = BreakerPolicy::default();
        let b = open_after_threshold(&p);
        let (closed, t) = b.succeeded().unwrap();
        assert_eq!(t, Some(Transition::Closed));
        assert_eq!(closed.admit(t0()), Admission::Call);
        assert_eq!(closed.failures(), 0);
    }

    #[test]
    fn only_connection_errors_5xx_and_lasting_401s_count() {
        let un = |c| PmsError::unavailable(c, "x");
        assert!(counts(&un(UnavailableCause::ConnectionRefused)));
        assert!(counts(&un(UnavailableCause::ConnectionReset)));
        assert!(counts(&un(UnavailableCause::Timeout)));
        assert!(counts(&un(UnavailableCause::Http(503))));
        assert!(counts(&PmsError::Unauthorized {
            message: "x".into(),
            request_id: None
        }));
        assert!(!counts(&un(UnavailableCause::Deadline)));
        assert!(!counts(&un(UnavailableCause::CircuitOpen)));
        assert!(!counts(&PmsError::RateLimited {
            retry_after: None,
            request_id: None
        }));
        assert!(!counts(&PmsError::NotFound {
            what: "x".into(),
            request_id: None
        }));
    }

    #[test]
    fn stored_form_is_tagged_by_state() {
        let p = BreakerPolicy::default();
        let b = open_after_threshold(&p);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["state"], "open");
        assert_eq!(json["backoffSeconds"], 300);
        assert_eq!(serde_json::from_value::<Breaker>(json).unwrap(), b);
    }
}
