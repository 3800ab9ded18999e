//! Accepting a webhook delivery: durable first (the raw delivery stored, its refresh jobs on the
//! refresh queue, which no scheduled bulk work shares), then the vendor gets its 2xx. A failure anywhere before that is an error the
//! caller answers with a retryable status, so the vendor sends it again.

use std::sync::Arc;

use serde::Serialize;

use super::{Begin, VendorDelivery, WebhookDeliveries};
use crate::jobs::{JobSource, RefreshJob, SyncJob};
use pms_domain::domain::HotelId;
use pms_domain::ports::{Clock, PortError, Queue};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    tag = "status"
)]
pub enum IntakeOutcome {
    /// Stored and its refresh jobs enqueued.
    Accepted {
        delivery_id: String,
        jobs: usize,
        entities: usize,
        ignored: Vec<String>,
    },
    /// A repeat that needs nothing done.
    Duplicate { delivery_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the delivery could not be stored: {0}")]
    Store(#[from] PortError),
    #[error("{failed} of {total} refresh jobs could not be enqueued")]
    Enqueue { failed: usize, total: usize },
    /// The delivery would not fit in one stored item; nothing was written.
    #[error("the delivery needs about {bytes} bytes stored, over the {limit} an item holds")]
    TooLarge { bytes: usize, limit: usize },
}

impl IntakeError {
    /// Every intake failure is worth the vendor's retry: nothing was acknowledged.
    pub fn is_retryable(&self) -> bool {
        match self {
            IntakeError::Store(e) => e.is_retryable() || matches!(e, PortError::Missing { .. }),
            IntakeError::Enqueue { .. } => true,
            IntakeError::TooLarge { .. } => false,
        }
    }
}

#[derive(Clone)]
pub struct WebhookIntake {
    deliveries: WebhookDeliveries,
    queue: Arc<dyn Queue>,
    refresh_queue_url: String,
    clock: Arc<dyn Clock>,
}

impl WebhookIntake {
    pub fn new(
        deliveries: WebhookDeliveries,
        queue: Arc<dyn Queue>,
        refresh_queue_url: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            deliveries,
            queue,
            refresh_queue_url: refresh_queue_url.into(),
            clock,
        }
    }

    pub async fn accept(
        &self,
        hotel: &HotelId,
        delivery: &VendorDelivery,
        raw: &[u8],
        correlation_id: &str,
    ) -> Result<IntakeOutcome, IntakeError> {
        let item = match self
            .deliveries
            .begin(hotel, delivery, raw, correlation_id)
            .await?
        {
            Begin::Duplicate(record) => {
                tracing::info!(
                    delivery_id = %record.delivery_id,
                    status = ?record.status,
                    received_count = record.received_count,
                    "repeated webhook delivery: nothing to do"
                );
                return Ok(IntakeOutcome::Duplicate {
                    delivery_id: delivery.delivery_id.clone(),
                });
            }
            Begin::TooLarge(bytes) => {
                return Err(IntakeError::TooLarge {
                    bytes,
                    limit: super::deliveries::MAX_ITEM_BYTES,
                })
            }
            Begin::New(item) | Begin::Resume(item) | Begin::Reopened(item) => item,
        };
        let entities = delivery.entities();
        let jobs = RefreshJob::split(
            hotel,
            &entities,
            &JobSource::Webhook {
                provider: delivery.provider,
                delivery_id: delivery.delivery_id.clone(),
                dedupe: Some(delivery.dedupe),
            },
            self.clock.now(),
            correlation_id,
        );
        let total = jobs.len();
        if total > 0 {
            let messages = jobs
                .into_iter()
                .map(|j| SyncJob::Refresh(j).to_message())
                .collect::<Result<_, _>>()?;
            let failures = self
                .queue
                .send_batch(&self.refresh_queue_url, messages)
                .await?;
            if !failures.is_empty() {
                // The delivery stays `received`: the vendor's retry enqueues it again.
                return Err(IntakeError::Enqueue {
                    failed: failures.len(),
                    total,
                });
            }
        }
        if let Err(e) = self.deliveries.mark_enqueued(item, total).await {
            // Durable already (stored and enqueued); a repeat would only enqueue again.
            tracing::warn!(code = e.code(), "could not mark the delivery enqueued");
        }
        let ignored: Vec<String> = delivery.ignored().into_iter().map(str::to_owned).collect();
        if !ignored.is_empty() {
            tracing::info!(events = ?ignored, "webhook events acknowledged without a refresh");
        }
        Ok(IntakeOutcome::Accepted {
            delivery_id: delivery.delivery_id.clone(),
            jobs: total,
            entities: entities.len(),
            ignored,
        })
    }
}
