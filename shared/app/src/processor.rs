//! The sync worker's use case: runs one job from the sync or refresh queue (a refresh of
//! entities, or a scheduled feed), and says how long a failed job waits before its retry.
//!
//! Every job passes the hotel's circuit breaker first ([`crate::health`]). While it is open, no
//! job calls the PMS: a feed job is completed as skipped (the next tick, or the probe, covers
//! it; its watermark has not moved), a refresh is put back on its queue, delayed until the next
//! probe (a copy: waiting spends none of the message's receives), and one job per interval
//! probes. A job whose failure leaves the breaker open ends the same way instead of burning its
//! retries into the DLQ.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pms_domain::ports::Queue;

use crate::health::{Breakers, Gate, Observation};
use crate::jobs::{FeedRan, FeedRunner, JobError, Lane, RefreshJob, SyncJob};
use crate::refresh::{RefreshReport, RefreshService};

/// SQS's longest message delay: a refresh held for a later probe comes back at most this late
/// (and is held again if the breaker is still open).
const MAX_HOLD: Duration = Duration::from_secs(900);

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
    /// The hotel's circuit breaker is open: the feed job was completed without calling the PMS.
    FeedSkipped {
        until: DateTime<Utc>,
    },
    /// The hotel's circuit breaker is open: the refresh was put back on its queue, delayed.
    RefreshHeld {
        until: DateTime<Utc>,
    },
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
    refresh_queue_url: String,
    backoff: Backoff,
    breakers: Option<Breakers>,
}

impl JobProcessor {
    /// A processor whose refreshes go back on `sync_queue_url` too, until
    /// [`JobProcessor::with_refresh_queue`] names the refresh lane's queue.
    pub fn new(
        refresh: RefreshService,
        queue: Arc<dyn Queue>,
        sync_queue_url: impl Into<String>,
    ) -> Self {
        let sync_queue_url = sync_queue_url.into();
        Self {
            refresh,
            feeds: None,
            queue,
            refresh_queue_url: sync_queue_url.clone(),
            sync_queue_url,
            backoff: Backoff::default(),
            breakers: None,
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

    /// The queue of webhook and operator refreshes (their follow-ups and held copies go back
    /// there).
    pub fn with_refresh_queue(mut self, url: impl Into<String>) -> Self {
        self.refresh_queue_url = url.into();
        self
    }

    /// Guards every job with the hotels' circuit breakers.
    pub fn with_breakers(mut self, breakers: Breakers) -> Self {
        self.breakers = Some(breakers);
        self
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    fn queue_url(&self, lane: Lane) -> &str {
        match lane {
            Lane::Refresh => &self.refresh_queue_url,
            Lane::Bulk => &self.sync_queue_url,
        }
    }

    pub async fn process(&self, job: &SyncJob) -> Result<Processed, JobError> {
        let Some(breakers) = &self.breakers else {
            return self.run(job).await.0;
        };
        let hotel = job.hotel();
        let gate = breakers.gate(hotel).await?;
        if let Gate::Skip { until } = gate {
            return self.hold(job, until).await;
        }
        let (result, observation) = self.run(job).await;
        let Some(observation) = observation else {
            return result;
        };
        let observed = match breakers.observe(hotel, observation, gate.probe_id()).await {
            Ok(o) => o,
            Err(e) => {
                // The job's own outcome is what matters now; the next job observes again.
                tracing::warn!(code = e.code(), "circuit breaker not updated");
                return result;
            }
        };
        match (result, observed.open_until) {
            // The PMS is down for now: the job waits for the breaker instead of spending its
            // retries (and landing in the DLQ) against it.
            (Err(e), Some(until)) => {
                tracing::warn!(code = e.code(), error = %e, "job failed and the circuit is open");
                self.hold(job, until).await
            }
            (result, _) => result,
        }
    }

    /// A job the open breaker keeps from the PMS: a feed is done (skipped), a refresh waits on
    /// its queue for the next probe.
    async fn hold(&self, job: &SyncJob, until: DateTime<Utc>) -> Result<Processed, JobError> {
        match job {
            SyncJob::Feed(f) => {
                tracing::info!(feed = %f.feed, next_probe_at = %until, "circuit open: feed job skipped");
                Ok(Processed::FeedSkipped { until })
            }
            SyncJob::Refresh(_) => {
                let now = self.breakers.as_ref().map_or_else(Utc::now, Breakers::now);
                let wait = (until - now).to_std().unwrap_or_default();
                let mut message = job.to_message()?;
                message.delay = Some(wait.clamp(Duration::from_secs(1), MAX_HOLD));
                self.queue.send(self.queue_url(job.lane()), message).await?;
                tracing::info!(next_probe_at = %until, "circuit open: refresh held on its queue");
                Ok(Processed::RefreshHeld { until })
            }
        }
    }

    /// Runs the job, and says what it showed of the PMS's health.
    async fn run(&self, job: &SyncJob) -> (Result<Processed, JobError>, Option<Observation>) {
        match job {
            SyncJob::Refresh(job) => self.refresh(job).await,
            SyncJob::Feed(job) => match &self.feeds {
                Some(runner) => match runner.run(job).await {
                    Ok(FeedRan::Ran) => (Ok(Processed::Feed), Some(Observation::Answered)),
                    Ok(FeedRan::Skipped) => (Ok(Processed::Feed), None),
                    Err(e) => {
                        let o = observation_of(&e);
                        (Err(e), o)
                    }
                },
                None => (Err(JobError::Unhandled("feed")), None),
            },
        }
    }

    async fn refresh(
        &self,
        job: &RefreshJob,
    ) -> (Result<Processed, JobError>, Option<Observation>) {
        let report = match self.refresh.run(job).await {
            Ok(r) => r,
            Err(e) => {
                let o = observation_of(&e);
                return (Err(e), o);
            }
        };
        // An entity the PMS answered for (stored, unchanged, gone, or refused) is an answer.
        let answered = report.succeeded() > 0 || report.failed.iter().any(|f| !f.unhealthy);
        let observation = if answered {
            Some(Observation::Answered)
        } else {
            report
                .failed
                .first()
                .map(|f| Observation::Unhealthy { code: f.code })
        };
        (self.settle(job, report).await, observation)
    }

    async fn settle(&self, job: &RefreshJob, report: RefreshReport) -> Result<Processed, JobError> {
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
        let follow_up = SyncJob::Refresh(RefreshJob {
            entities: report.failed.iter().map(|f| f.entity.clone()).collect(),
            attempt: job.attempt + 1,
            ..job.clone()
        });
        let mut message = follow_up.to_message()?;
        message.delay = Some(self.backoff.delay(job.attempt, retry_after));
        // If this send fails the whole message is retried: the good entities are fetched again,
        // which is wasteful but harmless (the merge finds them unchanged).
        self.queue
            .send(self.queue_url(follow_up.lane()), message)
            .await?;
        let requeued = report.failed.len();
        Ok(Processed::PartiallyRequeued { report, requeued })
    }
}

/// What a failed job says of the PMS's health: only the PMS's own errors say anything.
fn observation_of(e: &JobError) -> Option<Observation> {
    match e {
        JobError::Pms(e) => Observation::of_error(e),
        _ => None,
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
