//! One deadline for everything a piece of work asks of the PMS: every attempt, every retry
//! delay and every wait for a rate-limit permit fit before it, or are not started.
//!
//! The budget is scoped to a future with [`within`] (or [`within_deadline`]) and read by the
//! layers that wait or send: the retry policy (it cuts an attempt at the deadline and never
//! sleeps past it), the rate limiter (it never waits for a permit past it), and the vendor HTTP
//! client ([`admit`]: a request that could not finish before the deadline is not sent). Adapters
//! need no parameter for it, so one adapter instance serves callers with different budgets (a
//! partner read, a sync job, the writer's Lambda invocation). Work outside any scope has none.
//!
//! The writer gives each request a `per_call` allowance (client timeout plus a margin): a write
//! cut off mid-flight leaves its outcome unknown, so it is only sent when it can finish. Reads
//! have no allowance (zero): an attempt still running at the deadline is simply cut.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{PmsError, PmsResult, UnavailableCause};

/// A deadline and what one vendor request may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallBudget {
    /// When the caller must have finished.
    pub deadline: Instant,
    /// The time a request must have left to be sent (zero: any time left will do).
    pub per_call: Duration,
}

/// 2001-09-09 in milliseconds since the epoch: no Lambda deadline is earlier.
const EARLIEST_EPOCH_MS: u64 = 1_000_000_000_000;

impl CallBudget {
    pub fn new(deadline: Instant, per_call: Duration) -> Self {
        Self { deadline, per_call }
    }

    /// From a Lambda context's deadline (milliseconds since the epoch; 0 means none).
    ///
    /// `cargo lambda watch` (the local stack) sends its invoke limit instead, as a duration
    /// (`600000`): read as an epoch it lies in 1970, so every call would be refused. A value
    /// before 2001 cannot be an invocation's deadline and is taken as the milliseconds left.
    pub fn from_epoch_ms(deadline_ms: u64, per_call: Duration) -> Option<Self> {
        if deadline_ms == 0 {
            return None;
        }
        let left = if deadline_ms < EARLIEST_EPOCH_MS {
            Duration::from_millis(deadline_ms)
        } else {
            let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
            Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        };
        Some(Self::new(Instant::now() + left, per_call))
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether a vendor request started now surely ends before the deadline.
    pub fn admits_call(&self) -> bool {
        let left = self.remaining();
        !left.is_zero() && left >= self.per_call
    }

    /// The tighter of two budgets: the earlier deadline, the larger allowance.
    fn tightened(self, outer: CallBudget) -> CallBudget {
        CallBudget {
            deadline: self.deadline.min(outer.deadline),
            per_call: self.per_call.max(outer.per_call),
        }
    }
}

tokio::task_local! {
    static BUDGET: CallBudget;
}

/// Runs `work` with every PMS call it makes held to `budget` (no limit when `None`). A budget
/// already in force for the caller is kept where it is tighter.
pub async fn within<F: Future>(budget: Option<CallBudget>, work: F) -> F::Output {
    match budget {
        Some(b) => {
            let b = current().map_or(b, |outer| b.tightened(outer));
            BUDGET.scope(b, work).await
        }
        None => work.await,
    }
}

/// Runs `work` with `deadline` as the deadline of every PMS call it makes.
pub async fn within_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    within(Some(CallBudget::new(deadline, Duration::ZERO)), work).await
}

/// The budget in force, if any.
pub fn current() -> Option<CallBudget> {
    BUDGET.try_with(|b| *b).ok()
}

/// The deadline in force, if any.
pub fn current_deadline() -> Option<Instant> {
    current().map(|b| b.deadline)
}

/// Time left before the deadline in force (zero once it passed); `None` without a deadline.
pub fn remaining() -> Option<Duration> {
    current().map(|b| b.remaining())
}

/// Whether a vendor request started after waiting `wait` from now could still be sent (see
/// [`admit`]): a retry whose request would be refused is not worth its wait, and a refusal
/// after a request already went out would hide that request's answer.
pub fn admits_after(wait: Duration) -> bool {
    current().is_none_or(|b| {
        let left = b.remaining();
        wait < left && left - wait >= b.per_call
    })
}

/// Refuses a vendor request that could not finish before the current task's deadline. The
/// refusal ([`UnavailableCause::Deadline`]) means the request was never sent.
pub fn admit() -> PmsResult<()> {
    match current() {
        Some(b) if !b.admits_call() => Err(PmsError::Unavailable {
            cause: UnavailableCause::Deadline,
            message: format!(
                "not sent: {} ms left before the deadline, a request may take {} ms",
                b.remaining().as_millis(),
                b.per_call.as_millis()
            ),
            request_id: None,
        }),
        _ => Ok(()),
    }
}

/// Whether an error is [`admit`]'s refusal: nothing was sent.
pub fn is_refusal(err: &PmsError) -> bool {
    matches!(
        err,
        PmsError::Unavailable {
            cause: UnavailableCause::Deadline,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_earliest_deadline_wins_and_stays_with_its_future() {
        assert_eq!(remaining(), None);
        let now = Instant::now();
        within_deadline(now + Duration::from_secs(4), async {
            assert_eq!(remaining(), Some(Duration::from_secs(4)));
            // An inner scope cannot extend the outer budget, only shorten it.
            within_deadline(now + Duration::from_secs(10), async {
                assert_eq!(remaining(), Some(Duration::from_secs(4)));
            })
            .await;
            within_deadline(now + Duration::from_secs(1), async {
                assert!(!admits_after(Duration::from_secs(1)));
                assert!(admits_after(Duration::from_millis(999)));
            })
            .await;
            // With an allowance per request, the wait must leave the allowance.
            within(
                Some(CallBudget::new(
                    now + Duration::from_secs(3),
                    Duration::from_secs(2),
                )),
                async {
                    assert!(admits_after(Duration::from_secs(1)));
                    assert!(!admits_after(Duration::from_millis(1001)));
                },
            )
            .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert_eq!(remaining(), Some(Duration::ZERO));
            assert!(admit().is_err(), "nothing is sent once the deadline passed");
        })
        .await;
        assert_eq!(remaining(), None);
    }

    #[tokio::test]
    async fn a_request_is_refused_when_it_could_not_finish_in_time() {
        assert!(admit().is_ok(), "no budget, no limit");
        let tight = CallBudget::new(
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(5),
        );
        let err = within(Some(tight), async { admit() }).await.unwrap_err();
        assert!(is_refusal(&err), "{err}");
        assert!(!err.outcome_unknown());
        let roomy = CallBudget::new(
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(5),
        );
        assert!(within(Some(roomy), async { admit() }).await.is_ok());
        // A read deadline inside the writer's budget keeps the writer's allowance.
        let inner = within(Some(roomy), async {
            within_deadline(Instant::now() + Duration::from_secs(2), async { admit() }).await
        })
        .await;
        assert!(is_refusal(&inner.unwrap_err()));
        assert_eq!(CallBudget::from_epoch_ms(0, Duration::from_secs(1)), None);
    }

    #[test]
    fn a_lambda_deadline_is_epoch_milliseconds_and_the_local_emulators_is_time_left() {
        let now_ms = chrono::Utc::now().timestamp_millis() as u64;
        let per_call = Duration::from_secs(23);
        // Lambda: 30 s from now, as epoch milliseconds.
        let aws = CallBudget::from_epoch_ms(now_ms + 30_000, per_call).unwrap();
        assert!(aws.admits_call());
        assert!(aws.remaining() <= Duration::from_secs(30));
        // Past: nothing may start.
        let gone = CallBudget::from_epoch_ms(now_ms - 1_000, per_call).unwrap();
        assert!(!gone.admits_call());
        // cargo lambda watch: its 600 s invoke limit as a duration.
        let local = CallBudget::from_epoch_ms(600_000, per_call).unwrap();
        assert!(local.admits_call());
        assert!(local.remaining() > Duration::from_secs(590));
        assert!(CallBudget::from_epoch_ms(0, per_call).is_none());
    }
}
