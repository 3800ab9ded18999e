//! The writer Lambda's handler: SQS batch in, partial batch response out. Everything it does is
//! in `pms_core::writes`; this file only translates the Lambda event.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use pms_core::obs::{correlation_id_from, invocation_span, Metrics};
use pms_core::runtime::Services;
use pms_core::writes::{Executor, QueueDelivery, WriteRecords, WriteService};
use tracing::Instrument;

/// Built once per container (Lambda init), shared by invocations.
pub struct Writer {
    pub services: Services,
    pub writes: WriteService,
    pub executor: Executor,
}

impl Writer {
    /// `max_receives` is the write queue's `maxReceiveCount` (template.yaml).
    pub fn new(services: Services, max_receives: u32) -> Self {
        let records = WriteRecords::new(services.store.clone(), services.clock.clone());
        let writes = WriteService::new(
            records.clone(),
            services.queue.clone(),
            services.names.write_queue_url.clone(),
        );
        Self {
            executor: Executor::new(records, max_receives),
            writes,
            services,
        }
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let correlation = correlation_id_from(Some(&event.context.request_id));
        let span = invocation_span("writer", &correlation);
        let metrics = Metrics::new(self.services.names.metrics_namespace.clone(), "writer");
        let deliveries: Vec<QueueDelivery> = event
            .payload
            .records
            .into_iter()
            .filter_map(|r| {
                // A record without an id cannot be reported or retried individually; SQS always
                // sets one, so this only drops malformed test input.
                let message_id = r.message_id.filter(|id| !id.is_empty())?;
                Some(QueueDelivery {
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
            .collect();
        metrics.count("WriteMessages", deliveries.len() as u64);
        let failed = self
            .writes
            .process_batch(
                &deliveries,
                &self.executor,
                &self.services.hotels,
                &self.services.adapters,
                &metrics,
            )
            .instrument(span)
            .await;
        metrics.count("WriteMessagesRetried", failed.len() as u64);
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
        Ok(response)
    }
}
