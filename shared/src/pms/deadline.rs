//! The time a caller has left for vendor calls. The writer runs each delivery inside its Lambda
//! invocation's deadline: a vendor request is only started when it can finish (its client
//! timeout plus a margin) before the function is stopped, because a write cut off mid-flight
//! leaves its outcome unknown. The budget travels with the task ([`within`]), so every request
//! the adapters make, however many one write takes, is checked where it is sent
//! ([`admit`], called by [`super::http::VendorHttp`]).

use std::future::Future;
use std::time::{Duration, Instant};

use super::error::{PmsError, PmsResult, UnavailableCause};

/// A deadline and what one vendor request may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallBudget {
    /// When the caller must have finished.
    pub deadline: Instant,
    /// The longest one vendor request may take (client timeout plus a margin).
    pub per_call: Duration,
}

impl CallBudget {
    pub fn new(deadline: Instant, per_call: Duration) -> Self {
        Self { deadline, per_call }
    }

    /// From a Lambda context's deadline (milliseconds since the epoch; 0 means none).
    pub fn from_epoch_ms(deadline_ms: u64, per_call: Duration) -> Option<Self> {
        if deadline_ms == 0 {
            return None;
        }
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Some(Self::new(Instant::now() + left, per_call))
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether a vendor request started now surely ends before the deadline.
    pub fn admits_call(&self) -> bool {
        self.remaining() >= self.per_call
    }
}

tokio::task_local! {
    static BUDGET: CallBudget;
}

/// Runs `work` with vendor requests held to `budget` (no limit when `None`).
pub async fn within<F: Future>(budget: Option<CallBudget>, work: F) -> F::Output {
    match budget {
        Some(b) => BUDGET.scope(b, work).await,
        None => work.await,
    }
}

/// The budget the current task runs under, if any.
pub fn current() -> Option<CallBudget> {
    BUDGET.try_with(|b| *b).ok()
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
        assert_eq!(CallBudget::from_epoch_ms(0, Duration::from_secs(1)), None);
    }
}
