//! The write path's two entry points: submitting a write (GraphQL mutations) and processing a
//! batch of write messages (the writer Lambda).

use std::sync::Arc;
use std::time::Duration;

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
        mut operation: WriteOperation,
        caller_key: Option<&str>,
        actor: &str,
        correlation_id: &str,
        capabilities: &Capabilities,
    ) -> Result<OperationRecord, SubmitError> {
        let key = match caller_key {
            Some(k) => IdempotencyKey::caller(k)?,
            // Derived before a missing charge reference is filled in, so it depends only on
            // what the caller sent.
            None => IdempotencyKey::derived(hotel, &operation),
        };
        operation.fill_charge_reference(&key);
        operation.validate()?;
        operation
            .supported_by(capabilities)
            .map_err(|operation| SubmitError::Unsupported { operation })?;
        let payload_hash = operation.payload_hash();
        let registration = KeyRegistration {
            operation_id: OperationId::new(),
            payload_hash: payload_hash.clone(),
        };
        let id = match self
            .records
            .register_key(hotel, &key, &registration)
            .await?
        {
            None => registration.operation_id,
            Some(existing) if existing.payload_hash != payload_hash => {
                return Err(SubmitError::Conflict)
            }
            Some(existing) => {
                // The same request again: the first submission's operation. One still queued is
                // queued again (its first message may have been lost with a failed send; the
                // writer dedupes by key).
                if let Some(op) = self
                    .records
                    .operation(hotel, &existing.operation_id)
                    .await?
                {
                    if op.status == OperationStatus::Queued {
                        self.enqueue(&op.message).await?;
                    }
                    return Ok(op);
                }
                // Registered, but its operation is not recorded: the first submission is still
                // under way, or stopped between the two writes. Record it under the registered
                // id (the first write wins) so the key can never be stuck.
                existing.operation_id
            }
        };
        let now = self.records.now();
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
            message,
        };
        let record = if self.records.create_operation(&record).await? {
            record
        } else {
            // A concurrent duplicate recorded it first: answer with theirs.
            self.records.operation(hotel, &id).await?.unwrap_or(record)
        };
        self.enqueue(&record.message).await?;
        Ok(record)
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

    /// Processes one batch of write messages. Retryable outcomes have their visibility set to
    /// the backoff and are reported as batch item failures (never with an empty id).
    pub async fn process_batch(
        &self,
        deliveries: &[QueueDelivery],
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> BatchReport {
        let mut report = BatchReport::default();
        for d in deliveries {
            let outcome = match self
                .process_one(d, executor, hotels, adapters, metrics)
                .await
            {
                Ok((operation_id, Disposition::Done)) => DeliveryOutcome {
                    message_id: d.message_id.clone(),
                    operation_id: Some(operation_id),
                    receive_count: d.receive_count,
                    result: DeliveryResult::Done,
                },
                Ok((operation_id, Disposition::RetryAfter(delay))) => {
                    if let Err(e) = self
                        .queue
                        .change_visibility(&self.queue_url, &d.receipt_handle, delay)
                        .await
                    {
                        tracing::warn!(message_id = %d.message_id, error = %e, "could not set the retry delay; the queue's visibility timeout applies");
                    }
                    DeliveryOutcome {
                        message_id: d.message_id.clone(),
                        operation_id: Some(operation_id),
                        receive_count: d.receive_count,
                        result: DeliveryResult::RetryAfter(delay),
                    }
                }
                Err(reason) => {
                    tracing::error!(message_id = %d.message_id, reason = %reason, "write message failed; the queue will retry it");
                    DeliveryOutcome {
                        message_id: d.message_id.clone(),
                        operation_id: None,
                        receive_count: d.receive_count,
                        result: DeliveryResult::Failed(reason),
                    }
                }
            };
            report.outcomes.push(outcome);
        }
        report
    }

    async fn process_one(
        &self,
        d: &QueueDelivery,
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> Result<(OperationId, Disposition), String> {
        let msg: WriteMessage = serde_json::from_str(&d.body)
            // A body we cannot read is poison with no hotel to record it under: the redrive
            // policy moves it to the DLQ (the queue-depth alarm reports it).
            .map_err(|e| {
                format!(
                    "unreadable write message (line {}, column {})",
                    e.line(),
                    e.column()
                )
            })?;
        let id = msg.operation_id.clone();
        metrics.set_hotel(msg.hotel_id.as_str());
        // Failures before the PMS call (no configuration, no credentials, store errors) take
        // the same retry and dead-letter path as a retryable PMS failure, so no write can reach
        // the DLQ without its record.
        let config = match hotels.get(&msg.hotel_id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return executor
                    .fail_before_call(
                        &msg,
                        d.receive_count,
                        "HOTEL_NOT_CONFIGURED",
                        "the hotel has no configuration",
                        metrics,
                    )
                    .await
                    .map(|disposition| (id, disposition))
                    .map_err(|e| e.to_string())
            }
            Err(e) => {
                return executor
                    .fail_before_call(
                        &msg,
                        d.receive_count,
                        "STORE_UNAVAILABLE",
                        &e.to_string(),
                        metrics,
                    )
                    .await
                    .map(|disposition| (id, disposition))
                    .map_err(|e| e.to_string())
            }
        };
        metrics.set_provider(config.provider.as_str());
        let adapter = match adapters.adapter_for(&config).await {
            Ok(a) => a,
            Err(e) => {
                return executor
                    .fail_before_call(&msg, d.receive_count, e.code(), &e.to_string(), metrics)
                    .await
                    .map(|disposition| (id, disposition))
                    .map_err(|e| e.to_string())
            }
        };
        executor
            .execute(&msg, d.receive_count, &config, adapter.as_ref(), metrics)
            .await
            .map(|disposition| (id, disposition))
            .map_err(|e| e.to_string())
    }
}

/// What one delivery came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Finished (succeeded, answered from the record, or dead-lettered): delete the message.
    Done,
    /// Retry after this delay (the message's visibility was set to it).
    RetryAfter(Duration),
    /// Could not be processed (unreadable, or the records failed): the queue retries it after
    /// its visibility timeout.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub message_id: String,
    pub operation_id: Option<OperationId>,
    pub receive_count: u32,
    pub result: DeliveryResult,
}

/// A batch's outcome: each delivery's, and the batch item failures to report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub outcomes: Vec<DeliveryOutcome>,
}

impl BatchReport {
    /// The message ids to report as batch item failures; never an empty one (Lambda would fail
    /// the whole batch for it).
    pub fn failures(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .filter(|o| o.result != DeliveryResult::Done)
            .map(|o| o.message_id.clone())
            .filter(|id| !id.is_empty())
            .collect()
    }
}
