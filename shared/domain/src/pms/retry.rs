//! The default retry policy: `maxAttempts` 3, 1 s initial delay, ×2, capped at 30 s, then 0–50 %
//! jitter added (so a capped delay can reach 45 s), retrying only the errors of the retryable list.
//! A
//! `Retry-After` from the vendor replaces the computed delay.

use std::future::Future;
use std::time::Duration;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::deadline;
use super::error::{PmsError, UnavailableCause, DEFAULT_RETRYABLE};

/// The error of an attempt cut by the deadline: the PMS did not answer in time.
fn deadline_passed(operation: &str) -> PmsError {
    PmsError::unavailable(
        UnavailableCause::Timeout,
        format!("{operation}: no answer before the deadline"),
    )
}

/// The hotel-configurable retry settings, (the hotel configuration's `retry` block).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_delay: u64,
    pub max_delay: u64,
    pub backoff_multiplier: f64,
    pub jitter: bool,
    pub retryable_errors: Vec<String>,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: 1000,
            max_delay: 30_000,
            backoff_multiplier: 2.0,
            jitter: true,
            retryable_errors: DEFAULT_RETRYABLE.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub multiplier: f64,
    pub jitter: bool,
    pub retryable: Vec<String>,
    /// A `Retry-After` longer than this is not waited in-process: the error is returned so the
    /// queue can bring the work back later instead of holding a Lambda idle.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetrySettings::default().into()
    }
}

impl From<RetrySettings> for RetryPolicy {
    fn from(s: RetrySettings) -> Self {
        Self {
            max_attempts: s.max_attempts.max(1),
            initial_delay: Duration::from_millis(s.initial_delay),
            max_delay: Duration::from_millis(s.max_delay),
            multiplier: if s.backoff_multiplier >= 1.0 {
                s.backoff_multiplier
            } else {
                1.0
            },
            jitter: s.jitter,
            retryable: s.retryable_errors,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (for callers that retry at another level, e.g. the queue).
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay after failed attempt `attempt` (1-based), before jitter:
    /// `min(initial × multiplier^(attempt-1), max)`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(63) as i32;
        let ms = self.initial_delay.as_millis() as f64 * self.multiplier.powi(exp);
        let capped = ms.min(self.max_delay.as_millis() as f64);
        Duration::from_millis(capped as u64)
    }

    /// The delay after failed attempt `attempt`, with jitter so that callers do not retry in step:
    /// base + U[0, base/2),
    /// floored to whole milliseconds.
    pub fn backoff<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let base = self.base_delay(attempt).as_millis() as f64;
        let delay = if self.jitter && base > 0.0 {
            base + rng.random_range(0.0..base * 0.5)
        } else {
            base
        };
        Duration::from_millis(delay.floor() as u64)
    }

    /// Whether `err` is in this policy's retryable list.
    pub fn is_retryable(&self, err: &PmsError) -> bool {
        err.retry_token()
            .is_some_and(|t| self.retryable.iter().any(|r| r == &t))
    }

    /// What to wait after failed attempt `attempt` with `err`: `None` to stop retrying.
    pub fn next_delay<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        err: &PmsError,
        rng: &mut R,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts || !self.is_retryable(err) {
            return None;
        }
        match err.retry_after() {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt, rng)),
        }
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, fails with an error that
    /// is not retryable, or `max_attempts` attempts have been made.
    ///
    /// Under a [`deadline`](super::deadline) the attempts share it: an attempt still running
    /// at the deadline is cut (a `Timeout`), and a retry whose delay would reach it is not made
    /// (the last error is returned).
    pub async fn run<T, F, Fut>(&self, operation: &str, mut op: F) -> Result<T, PmsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, PmsError>>,
    {
        let mut attempt = 1;
        // The answer of the last request that went out: a retry the deadline then refuses
        // (nothing sent) must not hide it, or the caller would take "nothing was sent" for
        // the whole call and try again without counting it.
        let mut answered: Option<PmsError> = None;
        loop {
            let result = match deadline::current_deadline() {
                Some(at) => tokio::time::timeout_at(at, op(attempt))
                    .await
                    .unwrap_or_else(|_| Err(deadline_passed(operation))),
                None => op(attempt).await,
            };
            match result {
                Ok(v) => return Ok(v),
                Err(err) if deadline::is_refusal(&err) => return Err(answered.unwrap_or(err)),
                Err(err) => {
                    let delay = self.next_delay(attempt, &err, &mut rand::rng());
                    let Some(delay) = delay else {
                        return Err(err);
                    };
                    if !deadline::admits_after(delay) {
                        tracing::warn!(
                            operation,
                            attempt,
                            delay_ms = delay.as_millis() as u64,
                            error = %err,
                            "no retry: after the delay no request could finish before the deadline"
                        );
                        return Err(err);
                    }
                    tracing::warn!(
                        operation,
                        attempt,
                        max_attempts = self.max_attempts,
                        delay_ms = delay.as_millis() as u64,
                        error = %err,
                        "retrying PMS call"
                    );
                    tokio::time::sleep(delay).await;
                    answered = Some(err);
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use rand::rngs::Xoshiro256PlusPlus;
    use rand::SeedableRng;

    use super::*;
    use crate::pms::error::UnavailableCause;

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn defaults_are_three_attempts_from_1s_to_30s() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 3);
        assert_eq!(p.initial_delay, Duration::from_secs(1));
        assert_eq!(p.max_delay, Duration::from_secs(30));
        assert_eq!(p.multiplier, 2.0);
        assert!(p.jitter);
        assert_eq!(
            p.retryable,
            [
                "ETIMEDOUT",
                "ECONNRESET",
                "ECONNREFUSED",
                "429",
                "500",
                "502",
                "503",
                "504"
            ]
        );
    }

    #[test]
    fn delays_without_jitter_double_and_cap() {
        let p = no_jitter();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let delays: Vec<u64> = (1..=7)
            .map(|a| p.backoff(a, &mut rng).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    }

    #[test]
    fn jittered_delays_stay_within_half_the_base_delay() {
        let p = RetryPolicy::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for attempt in 1..=8u32 {
            let base = p.base_delay(attempt).as_millis() as u64;
            let (mut lo, mut hi) = (u64::MAX, 0);
            for _ in 0..2000 {
                let d = p.backoff(attempt, &mut rng).as_millis() as u64;
                assert!(
                    d >= base && d < base + base / 2,
                    "attempt {attempt}: {d} not in [{base}, {})",
                    base + base / 2
                );
                lo = lo.min(d);
                hi = hi.max(d);
            }
            // The jitter really spreads the delays over most of the range.
            assert!(hi - lo > base / 3, "attempt {attempt}: spread {lo}..{hi}");
        }
        // The cap applies before jitter: a capped delay is in [30 s, 45 s).
        let d = p.backoff(10, &mut rng);
        assert!(d >= Duration::from_secs(30) && d < Duration::from_secs(45));
    }

    #[test]
    fn retry_after_replaces_the_backoff() {
        let p = RetryPolicy::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let err = PmsError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
            request_id: None,
        };
        assert_eq!(
            p.next_delay(1, &err, &mut rng),
            Some(Duration::from_secs(7))
        );
        let too_long = PmsError::RateLimited {
            retry_after: Some(Duration::from_secs(600)),
            request_id: None,
        };
        assert_eq!(p.next_delay(1, &too_long, &mut rng), None);
        let no_header = PmsError::RateLimited {
            retry_after: None,
            request_id: None,
        };
        let d = p.next_delay(1, &no_header, &mut rng).unwrap();
        assert!(d >= Duration::from_secs(1) && d < Duration::from_millis(1500));
    }

    #[test]
    fn only_listed_errors_are_retried() {
        let p = RetryPolicy::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let e503 = PmsError::unavailable(UnavailableCause::Http(503), "down");
        let e501 = PmsError::unavailable(UnavailableCause::Http(501), "nope");
        assert!(p.next_delay(1, &e503, &mut rng).is_some());
        assert!(p.next_delay(1, &e501, &mut rng).is_none());
        assert!(p
            .next_delay(1, &PmsError::invalid("bad"), &mut rng)
            .is_none());
        // The list is configuration: a hotel may drop 503.
        let narrow = RetryPolicy {
            retryable: vec!["ETIMEDOUT".into()],
            ..RetryPolicy::default()
        };
        assert!(narrow.next_delay(1, &e503, &mut rng).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_stop_at_max() {
        let p = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = p
            .run("get_reservation", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(PmsError::unavailable(UnavailableCause::Http(503), "down")) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Two waits: [1 s, 1.5 s) + [2 s, 3 s).
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_millis(4500),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_and_delays_share_one_deadline() {
        use crate::pms::deadline;
        let p = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        // A PMS that hangs: the first attempt is cut at the deadline, and no retry starts.
        let result: Result<(), _> =
            deadline::within_deadline(started + Duration::from_secs(4), async {
                p.run("get_guest", |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok(())
                    }
                })
                .await
            })
            .await;
        let err = result.unwrap_err();
        assert_eq!(err.code(), "PMS_UNAVAILABLE");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(started.elapsed(), Duration::from_secs(4));

        // Failing fast: retries run while their delays fit ([1 s, 1.5 s) then [2 s, 3 s) do not
        // both fit in 3 s), and the last error is returned at once.
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result: Result<(), _> =
            deadline::within_deadline(started + Duration::from_secs(3), async {
                p.run("get_guest", |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(PmsError::unavailable(UnavailableCause::Http(503), "down")) }
                })
                .await
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    /// The writer's budget (30 s, a request may take 23 s): a vendor 429 asking for 10 s
    /// must come back as that 429 (an attempt the PMS answered), never as "not sent" after a
    /// retry the deadline refuses: that made every delivery of a write in a 429 storm an
    /// uncounted one, forever.
    #[tokio::test(start_paused = true)]
    async fn a_retry_that_could_not_be_sent_is_not_made_and_never_hides_an_answer() {
        use crate::pms::deadline::{self, CallBudget};
        let p = RetryPolicy::default();
        let writer = || {
            CallBudget::new(
                tokio::time::Instant::now() + Duration::from_secs(30),
                Duration::from_secs(23),
            )
        };
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = deadline::within(Some(writer()), async {
            p.run("post_charge", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    deadline::admit()?;
                    Err(PmsError::RateLimited {
                        retry_after: Some(Duration::from_secs(10)),
                        request_id: None,
                    })
                }
            })
            .await
        })
        .await;
        let err = result.unwrap_err();
        assert!(!deadline::is_refusal(&err), "{err}");
        assert_eq!(err.code(), "PMS_RATE_LIMITED");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no wait for a refusal");
        assert_eq!(started.elapsed(), Duration::ZERO);

        // A retry whose delay fits but whose request is refused after a wait of its own (a
        // rate-limit permit): the answer of the request that went out is the result.
        let result: Result<(), _> = deadline::within(Some(writer()), async {
            p.run("post_charge", |attempt| async move {
                if attempt > 1 {
                    tokio::time::sleep(Duration::from_secs(6)).await;
                }
                deadline::admit()?;
                Err(PmsError::unavailable(UnavailableCause::Http(503), "down"))
            })
            .await
        })
        .await;
        let err = result.unwrap_err();
        assert!(!deadline::is_refusal(&err), "{err}");
        assert_eq!(err.code(), "PMS_UNAVAILABLE");

        // Nothing sent at all: the refusal itself.
        let tight = CallBudget::new(
            tokio::time::Instant::now() + Duration::from_secs(5),
            Duration::from_secs(23),
        );
        let result: Result<(), _> = deadline::within(Some(tight), async {
            p.run("post_charge", |_| async {
                deadline::admit()?;
                Ok(())
            })
            .await
        })
        .await;
        assert!(deadline::is_refusal(&result.unwrap_err()));
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_fails_at_once_and_success_stops() {
        let p = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = p
            .run("post_charge", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(PmsError::invalid("bad transaction code")) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let result = p
            .run("get_balance", |attempt| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt < 2 {
                        Err(PmsError::unavailable(UnavailableCause::Timeout, "slow"))
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
