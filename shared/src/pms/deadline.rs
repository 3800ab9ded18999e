//! One deadline for everything a piece of work asks of the PMS: every attempt, every retry
//! delay and every wait for a rate-limit permit fit before it, or are not started.
//!
//! The deadline is scoped to a future with [`within`] and read by the layers that wait: the
//! retry policy (it cuts an attempt at the deadline and never sleeps past it) and the rate
//! limiter (it never waits for a permit past it). Adapters need no parameter for it, so one
//! adapter instance serves callers with different budgets (a partner read, a sync job). Work
//! outside any scope has no deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the deadline of every PMS call it makes. A deadline already in
/// force for the caller is kept when it is earlier.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    let deadline = current().map_or(deadline, |outer| outer.min(deadline));
    DEADLINE.scope(deadline, work).await
}

/// The deadline in force, if any.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Time left before the deadline in force (zero once it passed); `None` without a deadline.
pub fn remaining() -> Option<Duration> {
    current().map(|d| d.saturating_duration_since(Instant::now()))
}

/// Whether waiting `wait` from now would end past the deadline in force.
pub fn exceeded_by(wait: Duration) -> bool {
    remaining().is_some_and(|left| wait >= left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_earliest_deadline_wins_and_stays_with_its_future() {
        assert_eq!(remaining(), None);
        let now = Instant::now();
        within(now + Duration::from_secs(4), async {
            assert_eq!(remaining(), Some(Duration::from_secs(4)));
            // An inner scope cannot extend the outer budget, only shorten it.
            within(now + Duration::from_secs(10), async {
                assert_eq!(remaining(), Some(Duration::from_secs(4)));
            })
            .await;
            within(now + Duration::from_secs(1), async {
                assert!(exceeded_by(Duration::from_secs(1)));
                assert!(!exceeded_by(Duration::from_millis(999)));
            })
            .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert_eq!(remaining(), Some(Duration::ZERO));
        })
        .await;
        assert_eq!(remaining(), None);
    }
}
