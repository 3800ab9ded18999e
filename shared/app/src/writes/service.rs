//! The write path's two entry points: submitting a write (GraphQL mutations) and processing a
//! batch of write messages (the writer Lambda).

use std::sync::Arc;
use std::time::Duration;

use super::executor::{Disposition, Executor};
use super::model::{
    IdempotencyKey, OperationId, OperationRecord, OperationStatus, WriteMessage, WriteOperation,
};
use super::records::{KeyRegistration, WriteRecords};
use crate::obs::{correlation_id_from, message_span, Metrics};
use crate::registry::HotelRegistry;
use pms_domain::domain::{Capabilities, HotelId, ValidationError};
use pms_domain::pms::deadline::{self, CallBudget};
use pms_domain::ports::{OutgoingMessage, PortError, Queue};
use pms_vendor_kit::pms::AdapterFactory;
use tracing::Instrument as _;

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

/// How long a repeated request waits for the first submission to record that it sent the
/// operation's message (it takes milliseconds) before it concludes the first one stopped and
/// sends it itself. A first submission slower than this makes a second message, which the
/// writer dedupes; a first submission that died costs its repeat this wait once.
const SEND_CLAIM_WAIT: Duration = Duration::from_secs(2);
const SEND_CLAIM_POLL: Duration = Duration::from_millis(100);

/// The longest delay SQS allows on a message (`DelaySeconds`).
const MAX_DELAY: Duration = Duration::from_secs(900);

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
        let new_id = OperationId::new();
        let key = match caller_key {
            Some(k) => IdempotencyKey::partner(actor, k)?,
            // Without a key, a request is its own operation: two identical charges are two
            // charges (two coffees are two coffees). Partners retry safely with a key.
            None => IdempotencyKey::unique(&new_id),
        };
        operation.validate()?;
        operation
            .supported_by(capabilities)
            .map_err(|operation| SubmitError::Unsupported { operation })?;
        operation.scope_charge_reference(actor, &key);
        let payload_hash = operation.payload_hash();
        let now = self.records.now();
        let registration = KeyRegistration::claimed(new_id, payload_hash.clone(), now);
        // The registration this submission sends the message under, if it is the one to send.
        let (id, sending) = match self
            .records
            .register_key(hotel, &key, &registration)
            .await?
        {
            None => (registration.operation_id.clone(), Some(registration)),
            Some(existing) if existing.payload_hash != payload_hash => {
                return Err(SubmitError::Conflict)
            }
            Some(existing) => {
                // The same request again: the first submission's operation. Its message is sent
                // again only when the first send provably did not happen.
                let op = self
                    .records
                    .operation(hotel, &existing.operation_id)
                    .await?;
                let sending = self
                    .take_over_send(hotel, &key, &existing, op.as_ref())
                    .await?;
                match (op, &sending) {
                    (Some(op), None) => return Ok(op),
                    // Registered, but its operation is not recorded: the first submission is
                    // still under way, or stopped between the two writes. Record it under the
                    // registered id (the first write wins) so the key can never be stuck.
                    _ => (existing.operation_id, sending),
                }
            }
        };
        let message = WriteMessage {
            operation_id: id.clone(),
            hotel_id: hotel.clone(),
            idempotency_key: key.clone(),
            payload_hash: payload_hash.clone(),
            operation: operation.clone(),
            actor: actor.to_owned(),
            correlation_id: correlation_id.to_owned(),
            created_at: now,
            prior_attempts: 0,
            not_started: 0,
            waits: 0,
            copy: None,
        };
        let record = OperationRecord {
            id: id.clone(),
            hotel_id: hotel.clone(),
            operation: operation.name().to_owned(),
            idempotency_key: key.clone(),
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
        if let Some(claim) = sending {
            self.send_claimed(hotel, &key, &claim, &record.message)
                .await?;
        }
        Ok(record)
    }

    /// Whether a repeated submission must send the operation's message: only when the first
    /// send did not happen. Sent (recorded on the key, or the writer has the operation): nothing
    /// more. Given up after a failed send: this repeat takes the claim over and sends. Claimed
    /// but not recorded yet: the first submission is sending (it takes milliseconds) or died
    /// before it could; the repeat waits for the record for up to [`SEND_CLAIM_WAIT`], then
    /// takes the claim over. Taking over is conditional on the claim, so one repeat sends.
    async fn take_over_send(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        existing: &KeyRegistration,
        op: Option<&OperationRecord>,
    ) -> Result<Option<KeyRegistration>, PortError> {
        let left_the_queue =
            |o: &OperationRecord| o.status != OperationStatus::Queued || o.attempts > 0;
        if op.is_some_and(left_the_queue) {
            return Ok(None);
        }
        let waited_until = tokio::time::Instant::now() + SEND_CLAIM_WAIT;
        let mut current = existing.clone();
        loop {
            if current.sent_at.is_some() {
                return Ok(None);
            }
            let released = current.claimed_at.is_none();
            if released || tokio::time::Instant::now() >= waited_until {
                break;
            }
            tokio::time::sleep(SEND_CLAIM_POLL).await;
            match self.records.key_registration(hotel, key).await? {
                Some(r) => current = r,
                None => break,
            }
            let now_op = self.records.operation(hotel, &current.operation_id).await?;
            if now_op.as_ref().is_some_and(left_the_queue) {
                return Ok(None);
            }
        }
        let next = KeyRegistration::claimed(
            current.operation_id.clone(),
            current.payload_hash.clone(),
            self.records.now(),
        );
        Ok(self
            .records
            .update_key(hotel, key, &current, &next)
            .await?
            .then_some(next))
    }

    /// Sends the message under a claim, then records it sent (or gives the claim up, so a repeat
    /// of the request sends it).
    async fn send_claimed(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        claim: &KeyRegistration,
        message: &WriteMessage,
    ) -> Result<(), PortError> {
        if let Err(e) = self.enqueue(message).await {
            let released = KeyRegistration {
                claimed_at: None,
                ..claim.clone()
            };
            if let Err(r) = self.records.update_key(hotel, key, claim, &released).await {
                // The claim lapses by itself.
                tracing::warn!(error = %r, "could not give up the send claim");
            }
            return Err(e);
        }
        let sent = KeyRegistration {
            sent_at: Some(self.records.now()),
            ..claim.clone()
        };
        // Best effort: an operation that left the queue state needs no marker.
        if let Err(e) = self.records.update_key(hotel, key, claim, &sent).await {
            tracing::warn!(error = %e, "could not record the send");
        }
        Ok(())
    }

    pub async fn enqueue(&self, message: &WriteMessage) -> Result<(), PortError> {
        self.send(message, None).await
    }

    async fn send(&self, message: &WriteMessage, delay: Option<Duration>) -> Result<(), PortError> {
        let body = serde_json::to_string(message).map_err(|e| PortError::Encode {
            what: format!("{} message", message.operation.name()),
            message: e.to_string(),
        })?;
        let mut out = OutgoingMessage::new(body)
            .with_attribute("hotel", message.hotel_id.to_string())
            .with_attribute("operation", message.operation.name())
            .with_attribute("correlationId", message.correlation_id.clone());
        // Whole seconds (SQS' unit), rounded up: a copy must not come back before its time.
        out.delay = delay
            .filter(|d| !d.is_zero())
            .map(|d| Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)))
            .map(|d| d.min(MAX_DELAY));
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

    /// Processes one batch of write messages without a deadline (see
    /// [`WriteService::process_batch_within`]).
    pub async fn process_batch(
        &self,
        deliveries: &[QueueDelivery],
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> BatchReport {
        self.process_batch_within(None, deliveries, executor, hotels, adapters, metrics)
            .await
    }

    /// Processes one batch of write messages, one at a time, within `budget` (the
    /// invocation's deadline): no vendor call is started that could not finish before it, and
    /// the messages not started are replaced by copies (see [`WriteMessage::not_started`]).
    /// Retryable outcomes have their visibility set to the backoff and are reported as batch
    /// item failures (never with an empty id).
    pub async fn process_batch_within(
        &self,
        budget: Option<CallBudget>,
        deliveries: &[QueueDelivery],
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> BatchReport {
        let mut report = BatchReport::default();
        // Each message's lines carry the correlation id of the partner's request that queued
        // it (not the Lambda request's), with its hotel and provider.
        for d in deliveries {
            let (span, correlation) = match read_message(d) {
                Ok(msg) => {
                    let correlation = correlation_id_from(Some(&msg.correlation_id));
                    let span = message_span("writer", &correlation);
                    span.record("hotel", msg.hotel_id.as_str());
                    span.record("operation_id", msg.operation_id.as_str());
                    (span, Some(correlation))
                }
                // Unreadable: only the invocation's span says where it came from.
                Err(_) => (tracing::Span::current(), None),
            };
            // Boxed: the whole write path's future is large, and kept on the stack inside the
            // span and correlation wrappers it overflowed a test thread's stack.
            let work = Box::pin(
                async {
                    let outcome = self
                        .one(budget, d, executor, hotels, adapters, metrics)
                        .await;
                    // One line per message, whatever happened: what a partner's complaint is
                    // traced to.
                    tracing::info!(
                        message_id = %d.message_id,
                        receive_count = d.receive_count,
                        result = ?outcome.result,
                        "write message handled"
                    );
                    outcome
                }
                .instrument(span),
            );
            let outcome = match correlation {
                Some(c) => pms_domain::pms::trace::scope(c, work).await,
                None => work.await,
            };
            report.outcomes.push(outcome);
        }
        report
    }

    async fn one(
        &self,
        budget: Option<CallBudget>,
        d: &QueueDelivery,
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> DeliveryOutcome {
        let processed = if budget.is_none_or(|b| b.admits_call()) {
            deadline::within(
                budget,
                self.process_one(d, executor, hotels, adapters, metrics),
            )
            .await
        } else {
            read_message(d).map(|msg| (msg, Disposition::Unstarted))
        };
        match processed {
            Ok((msg, Disposition::Done)) => DeliveryOutcome {
                message_id: d.message_id.clone(),
                operation_id: Some(msg.operation_id),
                receive_count: d.receive_count,
                result: DeliveryResult::Done,
            },
            Ok((msg, Disposition::Wait(delay))) => {
                // Waiting must not spend one of the message's deliveries (SQS counts every
                // receive toward the redrive policy): a delayed copy replaces it.
                let copy = msg.waited(d.receive_count);
                let result = match self.replace(&copy, Some(delay)).await {
                    Ok(()) => DeliveryResult::Deferred(delay),
                    Err(e) => {
                        tracing::warn!(message_id = %d.message_id, error = %e, "could not replace the message by a delayed copy; the message waits on the queue");
                        self.retry_after(d, delay).await;
                        DeliveryResult::RetryAfter(delay)
                    }
                };
                DeliveryOutcome {
                    message_id: d.message_id.clone(),
                    operation_id: Some(msg.operation_id),
                    receive_count: d.receive_count,
                    result,
                }
            }
            Ok((msg, Disposition::Unstarted)) => {
                let result = self.unstarted(d, &msg).await;
                DeliveryOutcome {
                    message_id: d.message_id.clone(),
                    operation_id: Some(msg.operation_id),
                    receive_count: d.receive_count,
                    result,
                }
            }
            Ok((msg, Disposition::RetryAfter(delay))) => {
                self.retry_after(d, delay).await;
                DeliveryOutcome {
                    message_id: d.message_id.clone(),
                    operation_id: Some(msg.operation_id),
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
        }
    }

    /// A delivery not started for the deadline is replaced by a copy (so it spends none of the
    /// message's deliveries, and never reaches the DLQ unattempted), back at once the first
    /// time and later each time after (see [`WriteMessage::not_started`]). If the copy cannot
    /// be sent, the message itself goes back to the queue at once as a batch item failure.
    async fn unstarted(&self, d: &QueueDelivery, msg: &WriteMessage) -> DeliveryResult {
        let (copy, delay) = msg.not_started(d.receive_count);
        match self.replace(&copy, Some(delay)).await {
            Ok(()) => DeliveryResult::Unstarted(Some(delay)),
            Err(e) => {
                tracing::warn!(message_id = %d.message_id, error = %e, "could not send the copy of an unstarted message; it goes back to the queue");
                self.retry_after(d, Duration::ZERO).await;
                DeliveryResult::Unstarted(None)
            }
        }
    }

    /// Sends a copy that replaces a delivered message, then records it as the operation's live
    /// copy. In this order: a writer dying in between leaves the message live (it comes back)
    /// and the copy a stray; if the record fails, the message must stay (the caller keeps it).
    async fn replace(&self, copy: &WriteMessage, delay: Option<Duration>) -> Result<(), PortError> {
        self.send(copy, delay).await?;
        self.records
            .set_live_copy(&copy.hotel_id, &copy.operation_id, copy.copy.as_deref())
            .await
    }

    /// Makes a delivery visible again after `delay` (it stays on the queue as a batch item
    /// failure).
    async fn retry_after(&self, d: &QueueDelivery, delay: Duration) {
        if let Err(e) = self
            .queue
            .change_visibility(&self.queue_url, &d.receipt_handle, delay)
            .await
        {
            tracing::warn!(message_id = %d.message_id, error = %e, "could not set the retry delay; the queue's visibility timeout applies");
        }
    }

    async fn process_one(
        &self,
        d: &QueueDelivery,
        executor: &Executor,
        hotels: &HotelRegistry,
        adapters: &AdapterFactory,
        metrics: &Metrics,
    ) -> Result<(WriteMessage, Disposition), String> {
        let msg = read_message(d)?;
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
                    .map(|disposition| (msg.clone(), disposition))
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
                    .map(|disposition| (msg.clone(), disposition))
                    .map_err(|e| e.to_string())
            }
        };
        metrics.set_provider(config.provider.as_str());
        tracing::Span::current().record("provider", config.provider.as_str());
        let adapter = match adapters.adapter_for(&config).await {
            Ok(a) => a,
            Err(e) => {
                return executor
                    .fail_before_call(&msg, d.receive_count, e.code(), &e.to_string(), metrics)
                    .await
                    .map(|disposition| (msg.clone(), disposition))
                    .map_err(|e| e.to_string())
            }
        };
        executor
            .execute(&msg, d.receive_count, &config, adapter.as_ref(), metrics)
            .await
            .map(|disposition| (msg.clone(), disposition))
            .map_err(|e| e.to_string())
    }
}

/// A delivery's message. A body we cannot read is poison with no hotel to record it under: the
/// redrive policy moves it to the DLQ, where the dead-letter census counts it.
fn read_message(d: &QueueDelivery) -> Result<WriteMessage, String> {
    serde_json::from_str(&d.body).map_err(|e| {
        format!(
            "unreadable write message (line {}, column {})",
            e.line(),
            e.column()
        )
    })
}

/// What one delivery came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Finished (succeeded, answered from the record, or dead-lettered): delete the message.
    Done,
    /// Nothing attempted; replaced by a copy delayed this long (deleted, so the wait spends no
    /// delivery of the message).
    Deferred(Duration),
    /// Retry after this delay (the message's visibility was set to it).
    RetryAfter(Duration),
    /// Not started before the invocation's deadline: replaced by a copy delayed this long
    /// (deleted), or, when the copy could not be sent (`None`), back on the queue at once.
    Unstarted(Option<Duration>),
    /// Could not be processed (unreadable, or the records failed): the queue retries it after
    /// its visibility timeout.
    Failed(String),
}

impl DeliveryResult {
    /// Whether the delivery stays on the queue (a batch item failure).
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            DeliveryResult::Done | DeliveryResult::Deferred(_) | DeliveryResult::Unstarted(Some(_))
        )
    }
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
            .filter(|o| o.result.is_failure())
            .map(|o| o.message_id.clone())
            .filter(|id| !id.is_empty())
            .collect()
    }
}
