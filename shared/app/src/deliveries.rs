//! Delivering a hotel's domain events to its partners' subscriptions (issue "Partners hear about
//! changes"). One EventBridge rule puts every event on the deliveries queue; the delivery
//! function hands each message here:
//!
//! - an **event** (the rule's envelope) fans out: one delivery record per enabled subscription
//!   of the hotel that wants the event type, each tried at once;
//! - a **retry** (our own message, sent after each failed attempt, delayed by up to SQS's 15
//!   minutes) is tried when its record says it is due; a message that comes early stays on the
//!   queue, hidden for the time left (SQS visibility, up to 12 hours), so the queue, not a loop
//!   of ours, holds the back-off.
//!
//! Each attempt's outcome moves the record on with a conditional write (two copies of a message
//! never both move it): 2xx delivered; 410 gone, and the subscription is disabled; anything else
//! retried on the Standard Webhooks schedule (about 27.5 hours), then the record is the
//! delivery's dead letter (`failed`), which an operator redelivers. A subscription whose every
//! attempt has failed for [`FAILING_LIMIT`] is disabled. Deliveries are at least once and not
//! ordered; each carries the entity's version, so a receiver drops one older than it has.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use pms_domain::domain::events::DomainEvent;
use pms_domain::domain::HotelId;
use pms_domain::ports::{Clock, OutgoingMessage, PortError, Queue};
use pms_subscriptions::deliver::{classify, Answer, Deliverer, SignedRequest, RETRY_SCHEDULE};
use pms_subscriptions::{
    DeliveryLog, DeliveryRecord, DeliveryRef, DeliveryStatus, Subscription, SubscriptionError,
    SubscriptionId, Subscriptions, TargetPolicy,
};

use crate::audit::{AuditLog, OpsAction, OpsEntry};
use crate::obs::Metrics;
use crate::runtime::Services;

/// A subscription all of whose attempts have failed for this long is disabled.
pub const FAILING_LIMIT: chrono::Duration = chrono::Duration::days(3);
/// SQS delays a new message by at most this; a longer wait is the message's visibility.
const MAX_SEND_DELAY: Duration = Duration::from_secs(900);
/// SQS hides a received message for at most this.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// Who the audit log names for what delivery itself decides.
pub const DELIVERY_ACTOR: &str = "system:delivery";

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("message: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("delivery {0} not found")]
    NotFound(String),
}

impl DeliveryError {
    /// Whether the message may succeed later (a malformed one never will: it goes to the DLQ).
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Unreadable(_) | DeliveryError::NotFound(_) => false,
            DeliveryError::Subscription(e) => e.is_retryable(),
            DeliveryError::Port(e) => e.is_retryable(),
        }
    }
}

/// Our own message on the deliveries queue: try this delivery when it is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryMessage {
    pub hotel_id: HotelId,
    pub subscription_id: SubscriptionId,
    pub event_id: String,
}

/// What arrives on the deliveries queue.
#[derive(Debug)]
pub enum QueuedMessage {
    /// The rule's envelope around a domain event.
    Event(Box<DomainEvent>),
    Retry(RetryMessage),
}

#[derive(Deserialize)]
struct Envelope {
    detail: DomainEvent,
}

#[derive(Serialize, Deserialize)]
struct RetryEnvelope {
    retry: RetryMessage,
}

impl QueuedMessage {
    pub fn parse(body: &str) -> Result<Self, DeliveryError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| DeliveryError::Unreadable(e.to_string()))?;
        if value.get("retry").is_some() {
            let r: RetryEnvelope = serde_json::from_value(value)
                .map_err(|e| DeliveryError::Unreadable(format!("retry: {e}")))?;
            return Ok(QueuedMessage::Retry(r.retry));
        }
        if value.get("detail-type").is_some() {
            let e: Envelope = serde_json::from_value(value)
                .map_err(|e| DeliveryError::Unreadable(format!("event: {e}")))?;
            return Ok(QueuedMessage::Event(Box::new(e.detail)));
        }
        Err(DeliveryError::Unreadable(
            "neither an EventBridge event nor a delivery retry".into(),
        ))
    }
}

/// What to do with the message once handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Done: delete it.
    Done,
    /// Keep it: it was hidden until its delivery is due (report it as a batch item failure).
    Later(Duration),
}

/// One attempt's result, for the caller's logs and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempted {
    pub reference: String,
    pub status: DeliveryStatus,
    pub http_status: Option<u16>,
}

#[derive(Clone)]
pub struct DeliveryService {
    subs: Subscriptions,
    log: DeliveryLog,
    deliverer: Deliverer,
    queue: Arc<dyn Queue>,
    queue_url: String,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    schedule: Vec<Duration>,
}

impl DeliveryService {
    pub fn new(services: &Services, policy: TargetPolicy) -> Self {
        Self {
            subs: Subscriptions::new(
                services.store.clone(),
                services.secrets.clone(),
                services.clock.clone(),
                services.names.secrets_prefix.clone(),
                policy,
            ),
            log: DeliveryLog::new(services.store.clone()),
            deliverer: Deliverer::new(policy),
            queue: services.queue.clone(),
            queue_url: services.names.delivery_queue_url.clone(),
            audit: AuditLog::new(services.store.clone(), services.clock.clone()),
            clock: services.clock.clone(),
            schedule: RETRY_SCHEDULE.to_vec(),
        }
    }

    /// The same service with another retry schedule (tests compress the 27.5 hours).
    pub fn with_schedule(mut self, schedule: Vec<Duration>) -> Self {
        self.schedule = schedule;
        self
    }

    /// The same service with another receiver timeout (the chaos suite's slow receivers).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.deliverer = self.deliverer.with_timeout(timeout);
        self
    }

    pub fn log(&self) -> &DeliveryLog {
        &self.log
    }

    /// Handles one message of the deliveries queue. `receipt` is its receipt handle (to hide it
    /// until its delivery is due).
    pub async fn handle(
        &self,
        body: &str,
        receipt: &str,
        metrics: &Metrics,
    ) -> Result<(Ack, Vec<Attempted>), DeliveryError> {
        match QueuedMessage::parse(body)? {
            QueuedMessage::Event(event) => Ok((Ack::Done, self.fan_out(&event, metrics).await?)),
            QueuedMessage::Retry(retry) => {
                let (ack, attempted) = self.retry(&retry, metrics).await?;
                if let Ack::Later(wait) = ack {
                    self.queue
                        .change_visibility(&self.queue_url, receipt, wait.min(MAX_VISIBILITY))
                        .await?;
                }
                Ok((ack, attempted.into_iter().collect()))
            }
        }
    }

    /// An event to every subscription of its hotel that wants it. Safe to repeat: a delivery
    /// already recorded is tried only when due (and its retry message sent again, in case the
    /// first run stopped before sending it).
    pub async fn fan_out(
        &self,
        event: &DomainEvent,
        metrics: &Metrics,
    ) -> Result<Vec<Attempted>, DeliveryError> {
        let subs = self
            .subs
            .matching(&event.hotel_id, event.event_type)
            .await?;
        let mut out = Vec::new();
        for sub in subs {
            let now = self.clock.now();
            let fresh = DeliveryRecord::new(&sub.id, event, now);
            let record = if self.log.create(&fresh).await? {
                fresh
            } else {
                match self.log.get(&event.hotel_id, &sub.id, &event.id).await? {
                    Some(r) if !r.status.is_final() => r,
                    _ => continue,
                }
            };
            if record.next_attempt_at.is_some_and(|t| t > now) {
                self.schedule_retry(&record).await?;
                continue;
            }
            if let Some(a) = self.attempt(&sub, record, metrics).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// A retry message: the delivery is tried if due, else the message waits.
    async fn retry(
        &self,
        msg: &RetryMessage,
        metrics: &Metrics,
    ) -> Result<(Ack, Option<Attempted>), DeliveryError> {
        let Some(record) = self
            .log
            .get(&msg.hotel_id, &msg.subscription_id, &msg.event_id)
            .await?
        else {
            return Ok((Ack::Done, None));
        };
        if record.status.is_final() {
            return Ok((Ack::Done, None));
        }
        let now = self.clock.now();
        if let Some(due) = record.next_attempt_at.filter(|t| *t > now) {
            let wait = (due - now).to_std().unwrap_or_default();
            // A second's slack: SQS visibility is whole seconds.
            return Ok((Ack::Later(wait + Duration::from_secs(1)), None));
        }
        let sub = match self.subs.get(&msg.hotel_id, &msg.subscription_id).await {
            Ok(s) => s,
            Err(SubscriptionError::NotFound(_)) => {
                self.fail_unattempted(record, "subscription deleted")
                    .await?;
                return Ok((Ack::Done, None));
            }
            Err(e) => return Err(e.into()),
        };
        // The attempt sends its own retry message on failure: this one is done either way.
        Ok((Ack::Done, self.attempt(&sub, record, metrics).await?))
    }

    /// One attempt at `record` for `sub`, and the record moved on by its outcome. `None` when
    /// another process moved the record on first (its result stands).
    async fn attempt(
        &self,
        sub: &Subscription,
        record: DeliveryRecord,
        metrics: &Metrics,
    ) -> Result<Option<Attempted>, DeliveryError> {
        if !sub.enabled {
            self.fail_unattempted(record, "subscription disabled")
                .await?;
            return Ok(None);
        }
        let secrets = self.subs.signing_secrets(sub).await?;
        let now = self.clock.now();
        let request = SignedRequest::new(&record.event, &secrets, now);
        metrics.count("SubscriptionDeliveryAttempts", 1);
        let (answer, http_status, error) = match self.deliverer.post(sub, &request).await {
            Ok(status) => (classify(status), Some(status), None),
            Err(e) => (Answer::Retry, None, Some(e.to_string())),
        };
        let done = self.clock.now();
        let mut next = record.clone();
        next.attempts += 1;
        next.total_attempts += 1;
        next.last_status = http_status;
        next.last_error = error.or_else(|| {
            (answer != Answer::Delivered).then(|| format!("answered {}", http_status.unwrap_or(0)))
        });
        next.updated_at = done;
        let wait = match answer {
            Answer::Delivered => {
                next.status = DeliveryStatus::Delivered;
                next.next_attempt_at = None;
                next.last_error = None;
                None
            }
            Answer::Gone => {
                next.status = DeliveryStatus::Gone;
                next.next_attempt_at = None;
                None
            }
            Answer::Retry => match self.schedule.get(next.attempts as usize - 1) {
                Some(wait) => {
                    next.status = DeliveryStatus::Retrying;
                    next.next_attempt_at = Some(done + chrono_duration(*wait));
                    Some(*wait)
                }
                None => {
                    next.status = DeliveryStatus::Failed;
                    next.next_attempt_at = None;
                    None
                }
            },
        };
        let Some(next) = self.log.advance(&record, next).await? else {
            return Ok(None);
        };
        let attempted = Attempted {
            reference: next.reference(),
            status: next.status,
            http_status,
        };
        match next.status {
            DeliveryStatus::Delivered => {
                metrics.count("SubscriptionDelivered", 1);
                self.subs.note_success(sub).await?;
            }
            DeliveryStatus::Gone => {
                metrics.count("SubscriptionsDisabled", 1);
                self.disable(sub, "gone: the receiver answered 410").await?;
            }
            DeliveryStatus::Failed => {
                metrics.count("SubscriptionDeliveryFailed", 1);
                self.note_failure(sub, done, metrics).await?;
            }
            DeliveryStatus::Retrying => {
                metrics.count("SubscriptionDeliveryRetried", 1);
                // A message of its own carries the next attempt (the one that carried this
                // attempt, if any, is deleted), so no message is received more than a few
                // times however long the schedule.
                self.send_retry(&next, wait.unwrap_or_default()).await?;
                self.note_failure(sub, done, metrics).await?;
            }
        }
        tracing::info!(
            delivery = %attempted.reference,
            event_type = next.event.event_type.as_str(),
            status = next.status.as_str(),
            http_status,
            attempts = next.attempts,
            "subscription delivery attempted"
        );
        Ok(Some(attempted))
    }

    async fn note_failure(
        &self,
        sub: &Subscription,
        at: DateTime<Utc>,
        metrics: &Metrics,
    ) -> Result<(), DeliveryError> {
        let since = self.subs.note_failure(sub, at).await?;
        if at - since >= FAILING_LIMIT && sub.enabled {
            metrics.count("SubscriptionsDisabled", 1);
            self.disable(sub, "every delivery failed for 3 days")
                .await?;
        }
        Ok(())
    }

    async fn disable(&self, sub: &Subscription, why: &str) -> Result<(), DeliveryError> {
        self.subs
            .set_enabled(&sub.hotel_id, &sub.id, false, Some(why.to_owned()))
            .await?;
        let entry = OpsEntry::new(
            &sub.hotel_id,
            DELIVERY_ACTOR,
            OpsAction::SubscriptionDisabled,
            self.clock.now(),
        )
        .target(sub.reference())
        .note(why.to_owned());
        self.audit.record(&entry).await?;
        tracing::warn!(subscription = %sub.reference(), reason = why, "subscription disabled");
        Ok(())
    }

    /// Ends a delivery without an attempt (its subscription is gone or disabled): a dead
    /// letter an operator may redeliver.
    async fn fail_unattempted(
        &self,
        record: DeliveryRecord,
        why: &str,
    ) -> Result<(), DeliveryError> {
        let mut next = record.clone();
        next.status = DeliveryStatus::Failed;
        next.last_error = Some(why.to_owned());
        next.next_attempt_at = None;
        next.updated_at = self.clock.now();
        self.log.advance(&record, next).await?;
        Ok(())
    }

    /// Sends the message that carries `record`'s next attempt, due after `wait`.
    async fn send_retry(&self, record: &DeliveryRecord, wait: Duration) -> Result<(), PortError> {
        let body = serde_json::to_string(&RetryEnvelope {
            retry: RetryMessage {
                hotel_id: record.hotel_id.clone(),
                subscription_id: record.subscription_id.clone(),
                event_id: record.event_id.clone(),
            },
        })
        .map_err(|e| PortError::Encode {
            what: "delivery retry".into(),
            message: e.to_string(),
        })?;
        let mut msg = OutgoingMessage::new(body)
            .with_attribute("hotel", record.hotel_id.as_str())
            .with_attribute("kind", "delivery-retry");
        msg.delay = Some(wait.min(MAX_SEND_DELAY));
        self.queue.send(&self.queue_url, msg).await?;
        Ok(())
    }

    async fn schedule_retry(&self, record: &DeliveryRecord) -> Result<(), PortError> {
        let wait = record
            .next_attempt_at
            .and_then(|t| (t - self.clock.now()).to_std().ok())
            .unwrap_or_default();
        self.send_retry(record, wait).await
    }

    /// Sends a delivery again, on a fresh schedule (an operator's `redeliver`; audited).
    pub async fn redeliver(
        &self,
        r: &DeliveryRef,
        actor: &str,
    ) -> Result<DeliveryRecord, DeliveryError> {
        let record = self
            .log
            .get(&r.hotel, &r.subscription, &r.event_id)
            .await?
            .ok_or_else(|| {
                DeliveryError::NotFound(format!("{}/{}/{}", r.hotel, r.subscription, r.event_id))
            })?;
        let mut next = record.clone();
        next.status = DeliveryStatus::Retrying;
        next.attempts = 0;
        next.next_attempt_at = Some(self.clock.now());
        next.updated_at = self.clock.now();
        let next = self
            .log
            .advance(&record, next)
            .await?
            .ok_or_else(|| DeliveryError::NotFound(record.reference()))?;
        self.send_retry(&next, Duration::ZERO).await?;
        let entry = OpsEntry::new(
            &r.hotel,
            actor,
            OpsAction::SubscriptionRedelivered,
            self.clock.now(),
        )
        .target(next.reference())
        .note(format!(
            "{} v{} (was {})",
            next.event.event_type.as_str(),
            next.event.version,
            record.status.as_str()
        ));
        self.audit.record(&entry).await?;
        Ok(next)
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
