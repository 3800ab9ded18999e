//! How long feed runs may read before they stop between pages and hand the rest to a
//! continuation (see [`super::Progress`]). The sync worker gives each invocation one
//! [`Budget`]: [`SHARE`] of the Lambda's remaining time, shared by every job of the batch, so no
//! invocation comes near its timeout however large the hotel; outside such a scope
//! (`pmsctl sync run`, tests) the service's own default applies, and without one a run reads to
//! its end.
//!
//! A run stops before a page that could not end before the deadline, judged by the longest page
//! any job of the invocation has read so far; a job that starts when not even that fits goes
//! back on the queue. The budget is task-local, as the vendor calls' deadline is
//! (`pms_domain::pms::deadline`): the job processor and the feed runner need no parameter for
//! it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// The share of an invocation's remaining time its feed runs may spend, the page under way
/// included; the rest covers the run's bookkeeping and the continuation's send.
pub const SHARE: f64 = 0.6;

/// How much longer than the longest page so far the next page is assumed to take.
pub const PAGE_MARGIN: f64 = 1.5;

/// One invocation's time for feed runs.
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    /// The longest page read under this budget so far (ms): the estimate of the next one.
    longest_page_ms: AtomicU64,
}

impl Budget {
    /// A budget ending at `deadline`.
    pub fn until(deadline: Instant) -> Arc<Budget> {
        Arc::new(Budget {
            deadline,
            longest_page_ms: AtomicU64::new(0),
        })
    }

    /// The budget of an invocation that has `remaining` before its timeout: [`SHARE`] of it.
    pub fn for_invocation(remaining: Duration) -> Arc<Budget> {
        Budget::until(Instant::now() + remaining.mul_f64(SHARE))
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A page was read in `took`.
    pub fn record_page(&self, took: Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.longest_page_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Whether another page would end after the deadline. The next page is taken to last half
    /// as long again as the longest so far: pages grow slower as a run goes on (the store's
    /// merges, the vendor's pacing), and the run's bookkeeping follows the last one.
    pub fn spent(&self) -> bool {
        let longest = Duration::from_millis(self.longest_page_ms.load(Ordering::Relaxed));
        Instant::now() + longest.mul_f64(PAGE_MARGIN) >= self.deadline
    }
}

tokio::task_local! {
    static BUDGET: Arc<Budget>;
}

/// Runs `work` with feed runs keeping within `budget`.
pub async fn scope<F: Future>(budget: Arc<Budget>, work: F) -> F::Output {
    BUDGET.scope(budget, work).await
}

/// The budget in force, if any.
pub fn current() -> Option<Arc<Budget>> {
    BUDGET.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_is_spent_when_the_longest_page_would_not_fit() {
        assert!(current().is_none());
        let b = Budget::for_invocation(Duration::from_secs(300));
        let left = b.deadline() - Instant::now();
        assert!(left <= Duration::from_secs(180) && left > Duration::from_secs(170));
        scope(b.clone(), async {
            let b = current().unwrap();
            assert!(!b.spent());
            b.record_page(Duration::from_secs(10));
            assert!(!b.spent());
            // 1.5 x 130 s is past the 180 s left; 130 s alone would not be.
            b.record_page(Duration::from_secs(130));
            assert!(b.spent());
            // The longest page counts, not the last.
            b.record_page(Duration::from_secs(2));
            assert!(b.spent());
        })
        .await;
        assert!(Budget::until(Instant::now()).spent());
    }
}
