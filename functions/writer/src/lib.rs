//! The writer Lambda's handler: SQS batch in, partial batch response out. Everything it does is
//! in `pms_app::writes`; this file only translates the Lambda event (and its deadline).

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use pms_app::obs::{correlation_id_from, invocation_span, Metrics};
use pms_app::runtime::Services;
use pms_app::writes::{BatchReport, Executor, QueueDelivery, WriteRecords, WriteService};
use pms_domain::pms::deadline::CallBudget;
use pms_vendor_kit::pms::VENDOR_CALL_TIMEOUT;
use tracing::Instrument;

/// What one vendor request may take within an invocation: the client's timeout, plus time to
/// record its outcome. No request starts with less than this left before the deadline.
pub const PER_CALL_BUDGET: Duration = VENDOR_CALL_TIMEOUT.saturating_add(Duration::from_secs(3));

/// Built once per container (Lambda init), shared by invocations.
pub struct Writer {
    pub services: Services,
    pub writes: WriteService,
    pub executor: Executor,
    /// See [`PER_CALL_BUDGET`].
    pub per_call: Duration,
}

/// Why a whole batch failed (Lambda then retries every message of it; they are idempotent).
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// A record without a message id cannot be reported or retried on its own.
    #[error("an SQS record has no message id")]
    MissingMessageId,
}

impl WriterError {
    /// Always: the batch comes back after the queue's visibility timeout.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

impl Writer {
    /// `max_receives` is the write queue's `maxReceiveCount` (template.yaml).
    pub fn new(services: Services, max_receives: u32) -> Self {
        Self::with_executor(services, |records| Executor::new(records, max_receives))
    }

    /// A writer whose executor is configured by `build` (tests shorten the lease).
    pub fn with_executor(services: Services, build: impl FnOnce(WriteRecords) -> Executor) -> Self {
        let records = WriteRecords::new(services.store.clone(), services.clock.clone());
        let writes = WriteService::new(
            records.clone(),
            services.queue.clone(),
            services.names.write_queue_url.clone(),
        );
        Self {
            executor: build(records),
            writes,
            services,
            per_call: PER_CALL_BUDGET,
        }
    }

    /// Budgets each vendor request at `per_call` (tests with short client timeouts).
    pub fn with_per_call(mut self, per_call: Duration) -> Self {
        self.per_call = per_call;
        self
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        Ok(self.process(event).await?.0)
    }

    /// The handler's work, with each delivery's outcome (the retry delays it chose) beside the
    /// batch response.
    pub async fn process(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<(SqsBatchResponse, BatchReport), WriterError> {
        let correlation = correlation_id_from(Some(&event.context.request_id));
        // The function is stopped at the context's deadline: nothing may be sent to a PMS that
        // could not finish before it.
        let budget = CallBudget::from_epoch_ms(event.context.deadline, self.per_call);
        let span = invocation_span("writer", &correlation);
        let metrics = Metrics::new(self.services.names.metrics_namespace.clone(), "writer");
        let deliveries = event
            .payload
            .records
            .into_iter()
            .map(|r| {
                // SQS always sets an id; without one no item failure could name the record, and
                // leaving it out would let Lambda delete it as if it had succeeded.
                let message_id = r
                    .message_id
                    .filter(|id| !id.is_empty())
                    .ok_or(WriterError::MissingMessageId)?;
                Ok(QueueDelivery {
                    receive_count: r
                        .attributes
                        .get("ApproximateReceiveCount")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                    receipt_handle: r.receipt_handle.unwrap_or_default(),
                    body: r.body.unwrap_or_default(),
                    message_id,
                })
            })
            .collect::<Result<Vec<_>, WriterError>>()?;
        metrics.count("WriteMessages", deliveries.len() as u64);
        let report = self
            .writes
            .process_batch_within(
                budget,
                &deliveries,
                &self.executor,
                &self.services.hotels,
                &self.services.adapters,
                &metrics,
            )
            .instrument(span)
            .await;
        let failed = report.failures();
        metrics.count("WriteMessagesRetried", failed.len() as u64);
        let unstarted = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.result, pms_app::writes::DeliveryResult::Unstarted(_)))
            .count();
        metrics.count("WriteMessagesNotStarted", unstarted as u64);
        metrics.flush();
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        Ok((response, report))
    }
}
