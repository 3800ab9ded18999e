//! How long a feed run may read before it stops between pages and hands the rest to a
//! continuation (see [`super::Progress`]). The sync worker scopes each invocation's work to a
//! deadline, [`SHARE`] of the Lambda's remaining time, so no invocation comes near its timeout
//! however large the hotel; outside such a scope (`pmsctl sync run`, tests) the service's own
//! default applies, and without one a run reads to its end.
//!
//! The deadline is task-local, as the vendor calls' deadline is (`pms_domain::pms::deadline`):
//! the job processor and the feed runner need no parameter for it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The share of an invocation's remaining time its feed runs may spend reading. The rest covers
/// the page under way when the budget runs out (a run stops only between pages), the run's
/// bookkeeping and the continuation's send.
pub const SHARE: f64 = 0.6;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with feed runs stopping between pages once `deadline` is near.
pub async fn scope<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The deadline in force, if any.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// The deadline of an invocation that has `remaining` before its timeout: [`SHARE`] of it.
pub fn invocation_deadline(remaining: Duration) -> Instant {
    Instant::now() + remaining.mul_f64(SHARE)
}

/// Whether a run that has read pages, the longest taking `longest`, should stop before the
/// next: when that page could not end before the deadline.
pub fn spent(deadline: Option<Instant>, longest: Duration) -> bool {
    deadline.is_some_and(|d| Instant::now() + longest >= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_holds_inside_its_scope_and_counts_the_next_page() {
        assert_eq!(current(), None);
        let d = invocation_deadline(Duration::from_secs(300));
        let left = d - Instant::now();
        assert!(left <= Duration::from_secs(180) && left > Duration::from_secs(170));
        scope(d, async {
            assert_eq!(current(), Some(d));
            assert!(!spent(current(), Duration::from_secs(1)));
            assert!(spent(current(), Duration::from_secs(200)));
        })
        .await;
        assert!(!spent(None, Duration::from_secs(10_000)));
    }
}
