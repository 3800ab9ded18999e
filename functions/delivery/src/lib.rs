//! The delivery Lambda's handler: SQS batch in (domain events from the rule, and delivery
//! retries), partial batch response out. Everything it does is in `pms_app::deliveries`; this
//! file only translates the Lambda event.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use lambda_runtime::LambdaEvent;
use pms_app::deliveries::{Ack, DeliveryService};
use pms_app::obs::{correlation_id_from, invocation_span, Metrics};
use pms_app::runtime::Services;
use pms_subscriptions::TargetPolicy;
use tracing::Instrument;

/// Built once per container (Lambda init), shared by invocations.
pub struct Delivery {
    pub service: DeliveryService,
    metrics_namespace: String,
}

impl Delivery {
    /// Deliveries may go to loopback only on a local stack (`AWS_ENDPOINT_URL` on loopback).
    pub fn from_env(services: &Services) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
        Self::new(
            DeliveryService::new(services, TargetPolicy::for_endpoint(endpoint.as_deref())),
            services,
        )
    }

    pub fn new(service: DeliveryService, services: &Services) -> Self {
        Self {
            service,
            metrics_namespace: services.names.metrics_namespace.clone(),
        }
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let correlation = correlation_id_from(Some(&event.context.request_id));
        let span = invocation_span("delivery", &correlation);
        Ok(self.process(event.payload).instrument(span).await)
    }

    /// Every message of the batch at once (each receiver has 10 s; the function 60). A message
    /// not done (an error, or a retry hidden until it is due) is reported as a batch item
    /// failure, so Lambda leaves it on the queue.
    pub async fn process(&self, batch: SqsEvent) -> SqsBatchResponse {
        let metrics = Metrics::new(self.metrics_namespace.clone(), "delivery");
        let outcomes = join_all(batch.records.iter().map(|m| self.one(m, &metrics))).await;
        metrics.flush();
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = outcomes
            .into_iter()
            .flatten()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        response
    }

    /// `Some(message id)` when the message stays on the queue.
    async fn one(&self, m: &SqsMessage, metrics: &Metrics) -> Option<String> {
        let id = m.message_id.clone().unwrap_or_default();
        let body = m.body.as_deref().unwrap_or_default();
        let receipt = m.receipt_handle.as_deref().unwrap_or_default();
        match self.service.handle(body, receipt, metrics).await {
            Ok((Ack::Done, _)) => None,
            Ok((Ack::Later(_), _)) => Some(id),
            Err(e) => {
                tracing::warn!(
                    message_id = %id,
                    error = %e,
                    retryable = e.is_retryable(),
                    "delivery message failed"
                );
                metrics.count("DeliveryMessagesFailed", 1);
                Some(id)
            }
        }
    }
}
