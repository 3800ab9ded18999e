//! The write path's two entry points: submitting a write (GraphQL mutations) and processing a
//! batch of write messages (the writer Lambda).

use std::sync::Arc;

use chrono::Utc;

use super::executor::{Disposition, Executor};
use super::model::{
    IdempotencyKey, OperationId, OperationRecord, OperationStatus, WriteMessage, WriteOperation,
};
use super::records::{KeyRegistration, WriteRecords};
use crate::domain::{Capabilities, HotelId, ValidationError};
use crate::obs::Metrics;
use crate::pms::AdapterFactory;
use crate::ports::{OutgoingMessage, PortError, Queue};
use crate::registry::HotelRegistry;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{operation} is not supported by this hotel's PMS")]
    Unsupported { operation: &'static str },
    #[error("this idempotency key was used for a different request")]
    Conflict,
    #[error("the write could not be queued: {0}")]
    Store(#[from] PortError),
}

impl SubmitError {
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Invalid(_) => "BAD_USER_INPUT",
            SubmitError::Unsupported { .. } => "UNSUPPORTED",
            SubmitError::Conflict => "IDEMPOTENCY_CONFLICT",
            SubmitError::Store(_) => "INTERNAL",
        }
    }
    pub fn is_retryable(&self) -> bool {
        matches!(self, SubmitError::Store(e) if e.is_retryable())
    }
}

/// One SQS delivery, as the writer needs it.
#[derive(Clone, Debug)]
pub struct QueueDelivery {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
}

#[derive(Clone)]
pub struct WriteService {
    records: WriteRecords,
    queue: Arc<dyn Queue>,
    queue_url: String,
}

/// A stable vendor reference for a charge whose caller gave none, from its idempotency key.
pub fn derive_charge_reference(key: &IdempotencyKey) -> String {
    let digest = crate::domain::hash::sha256_hex(key.as_str().as_bytes());
    format!("pms-{}", &digest[..24])
}

impl WriteService {
    pub fn new(records: WriteRecords, queue: Arc<dyn Queue>, queue_url: impl Into<String>) -> Self {
        Self {
            records,
            queue,
            queue_url: queue_url.into(),
        }
    }

    pub fn records(&self) -> &WriteRecords {
        &self.records
    }

    /// Validates, checks the vendor can do it, derives the idempotency key, records the
    /// operation and queues it. The same key with the same payload returns the first
    /// operation; with a different payload it is refused.
    pub async fn submit(
        &self,
        hotel: &HotelId,
        operation: WriteOperation,
        caller_key: Option<&str>,
        actor: &str,
        correlation_id: &str,
        capabilities: &Capabilities,
    ) -> Result<OperationRecord, SubmitError> {
        operation.validate()?;
        operation
            .supported_by(capabilities)
            .map_err(|operation| SubmitError::Unsupported { operation })?;
        let key = match caller_key {
            Some(k) => IdempotencyKey::caller(k)?,
            None => IdempotencyKey::derived(hotel, &operation),
        };
        let payload_hash = operation.payload_hash();
        let id = OperationId::new();
        let registration = KeyRegistration {
            operation_id: id.clone(),
            payload_hash: payload_hash.clone(),
        };
        if let Some(existing) = self
            .records
            .register_key(hotel, &key, &registration)
            .await?
        {
            if existing.payload_hash != payload_hash {
                return Err(SubmitError::Conflict);
            }
            return self.existing(hotel, &existing.operation_id).await;
        }
        let now = Utc::now();
        let message = WriteMessage {
            operation_id: id.clone(),
            hotel_id: hotel.clone(),
            idempotency_key: key.clone(),
            payload_hash: payload_hash.clone(),
            operation: operation.clone(),
            actor: actor.to_owned(),
            correlation_id: correlation_id.to_owned(),
            created_at: now,
        };
        let record = OperationRecord {
            id: id.clone(),
            hotel_id: hotel.clone(),
            operation: operation.name().to_owned(),
            idempotency_key: key,
            payload_hash,
            status: OperationStatus::Queued,
            attempts: 0,
            result: None,
            error: None,
            actor: actor.to_owned(),
            created_at: now,
            updated_at: now,
            first_attempt_at: None,
            last_attempt_at: None,
            message: message.clone(),
        };
        self.records.create_operation(&record).await?;
        self.enqueue(&message).await?;
        Ok(record)
    }

    /// The operation a repeated submission refers to. One still queued is queued again: its
    /// first message may have been lost with a failed send, and the writer dedupes by key.
    async fn existing(
        &self,
        hotel: &HotelId,
        id: &OperationId,
    ) -> Result<OperationRecord, SubmitError> {
        // The registration can be seen before the operation record lands (concurrent duplicate
        // submissions); wait briefly for it.
        for _ in 0..20 {
            if let Some(op) = self.records.operation(hotel, id).await? {
                if op.status == OperationStatus::Queued {
                    self.enqueue(&op.message).await?;
                }
                return Ok(op);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(SubmitError::Store(PortError::Unavailable {
            service: crate::ports::Service::DynamoDb,
            message: "the operation for this idempotency key is not visible yet".into(),
        }))
    }

    pub async fn enqueue(&self, message: &WriteMessage) -> Result<(), PortError> {
        let body = serde_json::to_string(message).unwrap_or_default();
        let out = OutgoingMessage::new(body)
            .with_attribute("hotel", message.hotel_id.to_string())
            .with_attribute("operation", message.operation.name())
            .with_attribute("correlationId", message.correlation_id.clone());
        self.queue.send(&self.queue_url, out).await?;
        Ok(())
    }

    pub async fn operation(
        &self,
        hotel: &HotelId,
        id: &OperationId,
    ) -> Result<Option<OperationRecord>, PortError> {
        self.records.operation(hotel, id).await
    }

    /// Processes one batch of write messages; returns the message ids to report as batch item
    /// failures (never an empty id). Retryable outcomes have their visibility set to the backoff.
    pub async fn process_batch(
        &self,
        deliveries: &[QueueDelivery],
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> Vec<String> {
        let mut failed = Vec::new();
        for d in deliveries {
            let outcome = self
                .process_one(d, executor, hotels, adapters, metrics)
                .await;
            match outcome {
                Ok(Disposition::Done) => {}
                Ok(Disposition::RetryAfter(delay)) => {
                    if let Err(e) = self
                        .queue
                        .change_visibility(&self.queue_url, &d.receipt_handle, delay)
                        .await
                    {
                        tracing::warn!(message_id = %d.message_id, error = %e, "could not set the retry delay; the queue's visibility timeout applies");
                    }
                    failed.push(d.message_id.clone());
                }
                Err(reason) => {
                    tracing::error!(message_id = %d.message_id, reason = %reason, "write message failed; the queue will retry it");
                    failed.push(d.message_id.clone());
                }
            }
        }
        failed.retain(|id| !id.is_empty());
        failed
    }

    async fn process_one(
        &self,
        d: &QueueDelivery,
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> Result<Disposition, String> {
        let msg: WriteMessage = serde_json::from_str(&d.body)
            // A body we cannot read is poison: let the redrive policy move it to the DLQ.
            .map_err(|e| {
                format!(
                    "unreadable write message (line {}, column {})",
                    e.line(),
                    e.column()
                )
            })?;
        tracing::Span::current().record("hotel", msg.hotel_id.as_str());
        let config = hotels
            .get(&msg.hotel_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("hotel {} is not configured", msg.hotel_id))?;
        tracing::Span::current().record("provider", config.provider.as_str());
        metrics.set_provider(config.provider.as_str());
        let adapter = match adapters.adapter_for(&config).await {
            Ok(a) => a,
            Err(e) => return Err(format!("no adapter: {e}")),
        };
        executor
            .execute(&msg, d.receive_count, &config, adapter.as_ref(), metrics)
            .await
            .map_err(|e| e.to_string())
    }
}
