//! The sync scheduler: an EventBridge schedule (`rate(5 minutes)`) invokes it; it translates the
//! Scheduled Event into one [`SyncScheduler::tick`] named by the event's time, so a repeated
//! delivery or a retried invocation of the same event is the same tick (and enqueues nothing
//! twice). The same tick takes the write path's dead-letter census
//! ([`DeadLetterCensus::take`]), whose gauges the dead-letter alarms watch: it has the store and
//! the queues, and runs every five minutes whether or not anything else happens.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::Duration;
use pms_app::obs::{correlation_id_from, invocation_span, Metrics};
use pms_app::runtime::Services;
use pms_app::sync::{SyncError, SyncScheduler, TickReport};
use pms_app::writes::DeadLetterCensus;
use tracing::Instrument;

/// The schedule's rate unless `SYNC_TICK_SECONDS` says otherwise (it must match the rule).
pub const DEFAULT_TICK_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Lambda retries a failed asynchronous invocation; claimed hotels are not enqueued twice.
    #[error("sync tick failed ({code}, retryable: {retryable}): {source}")]
    Tick {
        code: &'static str,
        retryable: bool,
        #[source]
        source: SyncError,
    },
}

pub struct Scheduler {
    scheduler: SyncScheduler,
    census: DeadLetterCensus,
    metrics_namespace: String,
}

impl Scheduler {
    pub fn new(services: &Services, tick_seconds: i64) -> Self {
        Self {
            scheduler: SyncScheduler::new(services, Duration::seconds(tick_seconds.max(60))),
            census: DeadLetterCensus::from_services(services),
            metrics_namespace: services.names.metrics_namespace.clone(),
        }
    }

    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
    ) -> Result<TickReport, SchedulerError> {
        // The event id is the same on every delivery of one event: a stable correlation id.
        let correlation = correlation_id_from(event.id.as_deref());
        let span = invocation_span("sync-scheduler", &correlation);
        // A Scheduled Event always has its time; an invocation without one (by hand) is "now".
        let tick = event.time.unwrap_or_else(chrono::Utc::now);
        let metrics = Metrics::new(&self.metrics_namespace, "sync-scheduler");
        let result = self
            .scheduler
            .tick(tick, &correlation)
            .instrument(span)
            .await;
        match &result {
            Ok(r) => {
                metrics.count("SyncJobsEnqueued", r.jobs_enqueued as u64);
                metrics.count("SyncTickDuplicates", r.already_enqueued as u64);
                metrics.count("HotelsScheduled", r.due_hotels as u64);
                metrics.count("HotelsSkippedCircuitOpen", r.skipped_circuit_open as u64);
                // The breaker alarm's gauge, under the breaker's own dimension.
                let circuits =
                    Metrics::new(&self.metrics_namespace, pms_app::health::METRICS_FUNCTION);
                circuits.gauge("CircuitsOpen", r.circuits_open as f64, "Count");
                circuits.flush();
            }
            Err(SyncError::Enqueue { failed, total }) => {
                metrics.count("SyncJobsEnqueued", (total - failed) as u64);
                metrics.count("SyncJobsNotEnqueued", *failed as u64);
            }
            Err(_) => metrics.count("SyncTicksFailed", 1),
        }
        metrics.flush();
        self.dead_letter_census().await;
        result.map_err(|e| SchedulerError::Tick {
            code: e.code(),
            retryable: e.is_retryable(),
            source: e,
        })
    }

    /// Counts every dead letter (adopting those SQS moved to the DLQ without a record) and
    /// writes the gauges the alarms watch, under `Function=dead-letters`. Its failure does not
    /// fail the tick: the alarm on the missing gauge reports it.
    pub async fn dead_letter_census(&self) {
        let metrics = Metrics::new(&self.metrics_namespace, "dead-letters");
        match self.census.take(true).await {
            Ok(report) => {
                report.emit(&metrics);
                metrics.count("DeadLettersAdopted", report.adopted.len() as u64);
            }
            Err(e) => {
                tracing::error!(error = %e, "dead-letter census failed");
                metrics.count("DeadLetterCensusFailed", 1);
            }
        }
        metrics.flush();
    }
}
