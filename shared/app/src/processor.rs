//! The sync worker's use case: runs one job from the sync queue (a refresh of entities, or a
//! scheduled feed), and says how long a failed job waits before its retry.

use std::sync::Arc;
use std::time::Duration;

use pms_domain::ports::Queue;

use crate::jobs::{FeedRunner, JobError, RefreshJob, SyncJob};
use crate::refresh::{RefreshReport, RefreshService};

/// What became of a job that did not fail.
#[derive(Debug)]
pub enum Processed {
    Refreshed(RefreshReport),
    /// Some entities were stored; the failed ones went back on the queue as their own job, so
    /// the good ones are not fetched again.
    PartiallyRequeued {
        report: RefreshReport,
        requeued: usize,
    },
    Feed,
}

/// Exponential backoff for retried jobs: `base × 2^(attempt-1)`, capped; a vendor's
/// Retry-After wins when it is longer.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let d = self.base.saturating_mul(1u32 << exp).min(self.cap);
        retry_after.map_or(d, |r| r.max(d))
    }
}

/// Runs one queue message's job. Producers and the worker share this: the worker Lambda only
/// translates SQS records to calls and outcomes to batch item failures.
#[derive(Clone)]
pub struct JobProcessor {
    refresh: RefreshService,
    feeds: Option<Arc<dyn FeedRunner>>,
    queue: Arc<dyn Queue>,
    sync_queue_url: String,
    backoff: Backoff,
}

impl JobProcessor {
    pub fn new(
        refresh: RefreshService,
        queue: Arc<dyn Queue>,
        sync_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            refresh,
            feeds: None,
            queue,
            sync_queue_url: sync_queue_url.into(),
            backoff: Backoff::default(),
        }
    }

    pub fn with_feed_runner(mut self, runner: Arc<dyn FeedRunner>) -> Self {
        self.feeds = Some(runner);
        self
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    pub async fn process(&self, job: &SyncJob) -> Result<Processed, JobError> {
        match job {
            SyncJob::Refresh(job) => self.refresh(job).await,
            SyncJob::Feed(job) => match &self.feeds {
                Some(runner) => runner.run(job).await.map(|()| Processed::Feed),
                None => Err(JobError::Unhandled("feed")),
            },
        }
    }

    async fn refresh(&self, job: &RefreshJob) -> Result<Processed, JobError> {
        let report = self.refresh.run(job).await?;
        if report.failed.is_empty() {
            return Ok(Processed::Refreshed(report));
        }
        let retry_after = report.failed.iter().filter_map(|f| f.retry_after).max();
        let codes = {
            let mut c: Vec<&str> = report.failed.iter().map(|f| f.code).collect();
            c.sort_unstable();
            c.dedup();
            c.join(", ")
        };
        if report.succeeded() == 0 {
            // Nothing was stored: retrying the message as it is redoes no good work.
            return Err(JobError::EntitiesFailed {
                failed: report.failed.len(),
                total: report.failed.len(),
                codes,
                retryable: report.failed.iter().any(|f| f.retryable),
                retry_after,
            });
        }
        let follow_up = RefreshJob {
            entities: report.failed.iter().map(|f| f.entity.clone()).collect(),
            attempt: job.attempt + 1,
            ..job.clone()
        };
        let mut message = SyncJob::Refresh(follow_up).to_message()?;
        message.delay = Some(self.backoff.delay(job.attempt, retry_after));
        // If this send fails the whole message is retried: the good entities are fetched again,
        // which is wasteful but harmless (the merge finds them unchanged).
        self.queue.send(&self.sync_queue_url, message).await?;
        let requeued = report.failed.len();
        Ok(Processed::PartiallyRequeued { report, requeued })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let b = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
        };
        assert_eq!(b.delay(1, None), Duration::from_secs(10));
        assert_eq!(b.delay(2, None), Duration::from_secs(20));
        assert_eq!(b.delay(9, None), Duration::from_secs(60));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
    }
}
