//! The sync worker: consumes the sync queue and the refresh queue (two SQS event sources with
//! `ReportBatchItemFailures`; webhook refreshes have a queue of their own so they never wait
//! behind scheduled bulk work) and runs each message's job through [`JobProcessor`]: webhook
//! refreshes, and scheduled feed syncs through [`SyncService`] (the feed runner), each behind
//! the hotel's circuit breaker. Messages of one hotel run one after another
//! (one vendor rate budget, and each run's vendor-call count is its own); hotels run side by
//! side. A message whose job fails is reported
//! as a batch item failure, so only it is retried and, after the queue's `maxReceiveCount`,
//! moved to the DLQ by the redrive policy. Its next attempt is pushed back by exponential
//! backoff (visibility timeout), or by the vendor's Retry-After.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use pms_app::jobs::SyncJob;
use pms_app::obs::{correlation_id_from, invocation_span, Metrics};
use pms_app::processor::{JobProcessor, Processed};
use pms_app::refresh::RefreshService;
use pms_app::runtime::Services;
use pms_app::sync::budget::{self, Budget};
use pms_app::sync::SyncService;
use pms_app::webhooks::WebhookDeliveries;
use pms_domain::ports::Queue;
use tracing::Instrument;

/// Hotels processed at once: different hotels' jobs overlap their vendor latency, while the
/// adapters' own rate limits keep each vendor within bounds.
const CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A failed message without an id cannot be reported alone: the whole batch is failed
    /// (and retried) instead. Lambda's SQS events always carry ids; this is a guard.
    #[error("a failed message has no message id; failing the whole batch")]
    UnidentifiedFailure,
}

#[derive(Clone)]
pub struct Worker {
    processor: JobProcessor,
    queue: Arc<dyn Queue>,
    sync_queue_url: String,
    refresh_queue_url: String,
    metrics_namespace: String,
}

enum Outcome {
    Done,
    Failed { retry_in: Duration },
}

impl Worker {
    pub fn new(services: &Services) -> Self {
        let refresh = RefreshService::new(
            services.hotels.clone(),
            services.adapters.clone(),
            services.merger.clone(),
            WebhookDeliveries::new(services.store.clone(), services.clock.clone()),
        );
        let feeds =
            SyncService::new(services).with_metrics(services.names.metrics_namespace.clone());
        let processor = JobProcessor::new(
            refresh,
            services.queue.clone(),
            services.names.sync_queue_url.clone(),
        )
        .with_feed_runner(Arc::new(feeds))
        .with_refresh_queue(services.names.refresh_queue_url.clone())
        .with_breakers(services.breakers.clone());
        Self::with_processor(services, processor)
    }

    /// A worker around a given processor (a feed runner plugged in, test backoff).
    pub fn with_processor(services: &Services, processor: JobProcessor) -> Self {
        Self {
            processor,
            queue: services.queue.clone(),
            sync_queue_url: services.names.sync_queue_url.clone(),
            refresh_queue_url: services.names.refresh_queue_url.clone(),
            metrics_namespace: services.names.metrics_namespace.clone(),
        }
    }

    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, WorkerError> {
        self.handle_within(event, None).await
    }

    /// Handles a batch in an invocation with `remaining` before its timeout: feed runs stop
    /// between pages so that the batch keeps within [`budget::SHARE`] of it, and continue in
    /// another invocation (see `pms_app::sync::budget`).
    pub async fn handle_within(
        &self,
        event: SqsEvent,
        remaining: Option<Duration>,
    ) -> Result<SqsBatchResponse, WorkerError> {
        // One budget for the batch: its jobs share the invocation's time.
        let budget = remaining.map(Budget::for_invocation);
        // Group by hotel, keeping the batch's order within a hotel.
        let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
        for m in event.records {
            let hotel = hotel_of(&m);
            match groups.iter_mut().find(|(h, _)| *h == hotel) {
                Some((_, g)) => g.push(m),
                None => groups.push((hotel, vec![m])),
            }
        }
        let results: Vec<(Option<String>, Outcome)> =
            futures::stream::iter(groups.into_iter().map(|(_, group)| {
                let budget = budget.clone();
                async move {
                    let mut out = Vec::with_capacity(group.len());
                    for m in group {
                        let id = m.message_id.clone().filter(|id| !id.is_empty());
                        let outcome = match &budget {
                            Some(b) => budget::scope(b.clone(), self.one(m)).await,
                            None => self.one(m).await,
                        };
                        out.push((id, outcome));
                    }
                    out
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        for (id, outcome) in results {
            if let Outcome::Failed { .. } = outcome {
                let Some(id) = id else {
                    return Err(WorkerError::UnidentifiedFailure);
                };
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    async fn one(&self, message: SqsMessage) -> Outcome {
        let receive_count: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let queue_url = self.source_queue(&message).to_owned();
        let body = message.body.as_deref().unwrap_or("");
        let parsed = SyncJob::parse(body);
        let correlation = correlation_id_from(
            parsed
                .as_ref()
                .ok()
                .map(|j| j.correlation_id())
                .or_else(|| {
                    message
                        .message_attributes
                        .get("correlationId")
                        .and_then(|a| a.string_value.as_deref())
                }),
        );
        let span = invocation_span("sync-worker", &correlation);
        let metrics = Metrics::new(&self.metrics_namespace, "sync-worker");
        let outcome = async {
            let result = match &parsed {
                Ok(job) => {
                    tracing::Span::current().record("hotel", job.hotel().as_str());
                    // Vendor requests of this job carry its correlation id.
                    pms_domain::pms::trace::scope(correlation.clone(), self.processor.process(job))
                        .await
                }
                Err(_) => Err(pms_app::jobs::JobError::Malformed(
                    "the message body is not a sync job".into(),
                )),
            };
            match result {
                Ok(processed) => {
                    log_processed(&processed, &metrics);
                    Outcome::Done
                }
                Err(e) => {
                    if let Err(parse_error) = &parsed {
                        tracing::error!(error = %parse_error, "unreadable sync job");
                    }
                    let retry_in = self
                        .processor
                        .backoff()
                        .delay(receive_count, e.retry_after());
                    tracing::warn!(
                        code = e.code(),
                        retryable = e.is_retryable(),
                        receive_count,
                        retry_in_s = retry_in.as_secs(),
                        error = %e,
                        "sync job failed; the queue retries it, then moves it to the DLQ"
                    );
                    metrics.count("JobsFailed", 1);
                    Outcome::Failed { retry_in }
                }
            }
        }
        .instrument(span)
        .await;
        metrics.flush();
        if let (Outcome::Failed { retry_in }, Some(handle)) = (&outcome, &message.receipt_handle) {
            // Best effort: without it the message comes back after the queue's own visibility
            // timeout, which is only slower.
            if let Err(e) = self
                .queue
                .change_visibility(&queue_url, handle, *retry_in)
                .await
            {
                tracing::warn!(code = e.code(), "could not set the retry delay");
            }
        }
        outcome
    }
}

impl Worker {
    /// The queue a message came from (its retry delay is set there): the refresh queue when
    /// the event source's ARN names it (an ARN ends with the queue's name, as its URL does),
    /// else the sync queue.
    fn source_queue(&self, m: &SqsMessage) -> &str {
        let refresh_name = self
            .refresh_queue_url
            .rsplit('/')
            .next()
            .unwrap_or_default();
        match m
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next())
        {
            Some(name) if !refresh_name.is_empty() && name == refresh_name => {
                &self.refresh_queue_url
            }
            _ => &self.sync_queue_url,
        }
    }
}

/// The hotel a message is for: its `hotel` attribute (set by every producer), else its body's.
fn hotel_of(m: &SqsMessage) -> String {
    m.message_attributes
        .get("hotel")
        .and_then(|a| a.string_value.clone())
        .or_else(|| {
            m.body
                .as_deref()
                .and_then(|b| SyncJob::parse(b).ok())
                .map(|j| j.hotel().to_string())
        })
        .unwrap_or_default()
}

fn log_processed(processed: &Processed, metrics: &Metrics) {
    match processed {
        Processed::Refreshed(r) | Processed::PartiallyRequeued { report: r, .. } => {
            if let Some(p) = r.provider {
                metrics.set_provider(p.as_str());
            }
            metrics.count("EntitiesFetched", r.fetched as u64);
            metrics.count("RecordsCreated", r.created as u64);
            metrics.count("RecordsUpdated", r.updated as u64);
            metrics.count("EntitiesFailed", r.failed.len() as u64);
            metrics.count("EventsPublished", r.events as u64);
            let requeued = match processed {
                Processed::PartiallyRequeued { requeued, .. } => *requeued,
                _ => 0,
            };
            tracing::info!(
                fetched = r.fetched,
                created = r.created,
                updated = r.updated,
                not_applied = r.not_applied,
                gone = r.gone.len(),
                failed = r.failed.len(),
                requeued,
                events = r.events,
                "refresh job done"
            );
        }
        Processed::Feed => {
            metrics.count("FeedJobs", 1);
        }
        Processed::FeedSkipped { .. } => {
            metrics.count("FeedJobsSkippedCircuitOpen", 1);
        }
        Processed::RefreshHeld { .. } => {
            metrics.count("RefreshJobsHeldCircuitOpen", 1);
        }
    }
}
