//! The writer: executes one write message against the PMS under the idempotency state machine.
//!
//! 1. Take the key's lease (`IDEMP#<key>`, conditional create, or replace a lapsed lease). A key
//!    already completed returns its stored result without calling the PMS; a live lease held by
//!    another delivery means "look again shortly" ([`Disposition::Wait`]).
//! 2. Charges: if an intent exists, a previous attempt may have reached the PMS (timeout, crash):
//!    vendors with their own idempotency (Cloudbeds `referenceID`) are simply called again; for
//!    the others the folio is searched for our reference first, and a found posting completes the
//!    operation without posting again — but after an attempt that got no answer (a timeout, a
//!    gateway's 502/504) only [`UNKNOWN_OUTCOME_SETTLE`] later: a vendor may still apply a
//!    request our client gave up on, and a search before then can miss it. (After a crash, the
//!    lapsed lease is that wait.) Waiting is not an attempt: the message is replaced by a
//!    delayed copy, so no delivery is spent on it. A search that fails says nothing, so the
//!    intent stays and the operation is retried; a PMS that cannot be searched is not posted to
//!    again. Then the intent is written, before the call. Only an answer to this attempt's own
//!    call that proves the vendor did not act (429, 503, connection refused, a refusal) voids
//!    the intent.
//! 3. Call the PMS once (no in-process retries: the queue redelivers, after the hotel's retry backoff).
//! 4. Success completes the key with the result. A retryable failure releases the lease and asks
//!    for a retry after the backoff (the last allowed attempt also records the DLQ item); a
//!    non-retryable failure records the DLQ item at once and is not retried.

use std::time::Duration;

use super::model::{
    OperationRecord, OperationStatus, RecordedError, WriteMessage, WriteOperation, MAX_NOT_STARTED,
};
use super::records::{Acquired, AuditEntry, AuditResult, DlqItem, DlqStatus, Intent, WriteRecords};
use crate::obs::Metrics;
use pms_domain::config::HotelConfig;
use pms_domain::pms::{deadline, PmsAdapter, PmsError, RetryPolicy, UnavailableCause};
use pms_domain::ports::PortError;

/// What to do with the message after one execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Done (succeeded, duplicate of a completed one, or recorded as a dead letter): delete it.
    Done,
    /// An attempt failed: leave it on the queue and make it visible again after this delay (the
    /// next delivery is the next attempt).
    RetryAfter(Duration),
    /// Nothing was attempted (an earlier attempt's outcome is still settling, or another
    /// delivery holds the key): come back after this long without spending a delivery. The
    /// caller replaces the message with a copy delayed this long (see
    /// [`WriteMessage::waited`]).
    Wait(Duration),
    /// Not started: a vendor call could not have finished before the invocation's deadline.
    /// Nothing was sent; the message goes back to the queue at once.
    Unstarted,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The store failed; the message is retried by the queue.
    #[error("write records unavailable: {0}")]
    Store(#[from] PortError),
}

impl ExecuteError {
    pub fn is_retryable(&self) -> bool {
        true
    }
}

/// How long after a charge attempt got no answer (a timeout, a gateway's 502/504) the folio is
/// searched and the charge posted again. A vendor's backend may go on with a request after
/// our client stopped waiting for it; a search sooner can miss a posting still on its way, and
/// post it twice (found by the chaos suite).
pub const UNKNOWN_OUTCOME_SETTLE: chrono::Duration = chrono::Duration::seconds(60);

pub struct Executor {
    records: WriteRecords,
    /// How long one delivery may hold a key (longer than the writer's timeout).
    lease: chrono::Duration,
    /// See [`UNKNOWN_OUTCOME_SETTLE`].
    settle: chrono::Duration,
    /// SQS `maxReceiveCount` of the write queue: the delivery that must record the dead letter.
    max_receives: u32,
    /// Replaces the hotel's retry policy for delays (tests); by default the hotel's policy,
    /// which is [`RetryPolicy::default`] unless the hotel configures its own.
    backoff: Option<RetryPolicy>,
    /// Runs right after the PMS accepted a write, before anything is recorded. Only test
    /// builds can set it (a test writer exits the process there, to prove a crash at that
    /// point cannot double a charge); a production writer has no such hook.
    after_pms_call: Option<AfterPmsCall>,
}

/// See [`Executor::with_after_pms_call`].
pub type AfterPmsCall = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The first look again of a delivery that found the key held by another one.
const BUSY_POLL: Duration = Duration::from_secs(2);
/// The longest vendor `Retry-After` honoured as a message delay.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(900);

/// The PMS's answer as recorded. It only fails for a bug in our own types; the write is at the
/// PMS by then (see [`CallError::Unrecorded`]).
fn result_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, PortError> {
    pms_domain::ports::store::encode_value("PMS result", v)
}

/// [`CallError::Unrecorded`] for an answer (with its vendor request id) that does not encode.
fn unrecorded(request_id: &Option<String>) -> impl FnOnce(PortError) -> CallError + '_ {
    move |error| CallError::Unrecorded {
        request_id: request_id.clone(),
        error,
    }
}

impl Executor {
    pub fn new(records: WriteRecords, max_receives: u32) -> Self {
        Self {
            records,
            lease: chrono::Duration::seconds(90),
            settle: UNKNOWN_OUTCOME_SETTLE,
            max_receives: max_receives.max(1),
            backoff: None,
            after_pms_call: None,
        }
    }

    /// Test builds only: runs `hook` right after the PMS accepted a write, before the outcome
    /// is recorded (the crash tests exit the process there).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_after_pms_call(mut self, hook: AfterPmsCall) -> Self {
        self.after_pms_call = Some(hook);
        self
    }

    pub fn with_lease(mut self, lease: chrono::Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn with_backoff(mut self, backoff: RetryPolicy) -> Self {
        self.backoff = Some(backoff);
        self
    }

    pub fn with_settle(mut self, settle: chrono::Duration) -> Self {
        self.settle = settle;
        self
    }

    pub fn records(&self) -> &WriteRecords {
        &self.records
    }

    /// The write queue's `maxReceiveCount`.
    pub fn max_receives(&self) -> u32 {
        self.max_receives
    }

    /// Executes a message delivered for the `receive_count`-th time (SQS
    /// `ApproximateReceiveCount`, 1-based). The attempt this is counts the deliveries of the
    /// copies it replaced ([`WriteMessage::attempt`]).
    pub async fn execute(
        &self,
        msg: &WriteMessage,
        receive_count: u32,
        config: &HotelConfig,
        adapter: &dyn PmsAdapter,
        metrics: &Metrics,
    ) -> Result<Disposition, ExecuteError> {
        let hotel = &msg.hotel_id;
        let key = &msg.idempotency_key;
        let attempt = msg.attempt(receive_count);
        // No vendor call could finish before the invocation ends: touch nothing.
        if !deadline::current().is_none_or(|b| b.admits_call()) {
            return Ok(Disposition::Unstarted);
        }
        // An operation ops abandoned is never executed, whichever copy of its message arrives.
        let op = self.records.operation(hotel, &msg.operation_id).await?;
        if op
            .as_ref()
            .is_some_and(|o| o.status == OperationStatus::Abandoned)
        {
            tracing::info!(operation_id = %msg.operation_id, "operation abandoned by ops; not executed");
            return Ok(Disposition::Done);
        }
        // One copy of a message is live once a delivery replaced it (a wait, or not started):
        // the others are strays (a duplicate delivery's copy, or the replaced message delivered
        // again after a writer died), which would each make copies of their own.
        if let Some(live) = self
            .records
            .live_copy(hotel, &msg.operation_id)
            .await?
            .filter(|live| msg.copy.as_deref() != Some(live))
        {
            tracing::info!(operation_id = %msg.operation_id, live_copy = %live, "not the operation's live copy; dropped");
            metrics.count("WriteStrayCopiesDropped", 1);
            return Ok(Disposition::Done);
        }
        // A dead letter ops have not redriven is held by its record (which `pmsctl dlq redrive`
        // sends again, marked retrying first). A message of it arriving now is a stray copy (a
        // wait's copy, or a duplicate delivery, made before it was dead-lettered): executing it
        // would be an attempt nobody asked for, dead-lettering it again and again.
        if op
            .as_ref()
            .is_some_and(|o| o.status == OperationStatus::DeadLettered)
            && self
                .records
                .dlq(hotel, &msg.operation_id)
                .await?
                .is_some_and(|d| d.status == DlqStatus::Pending)
        {
            tracing::warn!(operation_id = %msg.operation_id, "a copy of a dead letter ops have not redriven; dropped (the dead letter holds the operation)");
            metrics.count("WriteStrayCopiesDropped", 1);
            return Ok(Disposition::Done);
        }
        let lease = match self
            .records
            .acquire(hotel, key, &msg.payload_hash, self.lease)
            .await?
        {
            Acquired::Lease { token } => token,
            Acquired::Completed {
                payload_hash,
                result,
            } => {
                if payload_hash != msg.payload_hash {
                    self.fail(
                        msg,
                        "IDEMPOTENCY_CONFLICT",
                        "this key completed a different payload",
                    )
                    .await?;
                    return Ok(Disposition::Done);
                }
                // A duplicate of a completed write: answer from the record, no PMS call.
                metrics.count("WriteDuplicates", 1);
                self.records
                    .update_operation(hotel, &msg.operation_id, |op| {
                        if op.status != OperationStatus::Succeeded {
                            op.status = OperationStatus::Succeeded;
                            op.result = Some(result.clone());
                            op.error = None;
                        }
                    })
                    .await?;
                self.resolve_dlq(msg).await?;
                return Ok(Disposition::Done);
            }
            Acquired::Busy { until } => {
                // Another delivery holds the key; it carries the operation on (its own message
                // comes back for a retry, also after a crash). This one looks again soon, the
                // holder usually being done within a second, then less and less often up to the
                // lease's end: each look may be a duplicate delivery making its own copy, and
                // polling every 2 s through a dead holder's lease multiplied the copies.
                let to_lapse = (until - self.records.now())
                    .to_std()
                    .unwrap_or_default()
                    .saturating_add(Duration::from_secs(1));
                let backoff = BUSY_POLL.saturating_mul(1 << msg.waits.min(6));
                let wait = backoff.min(to_lapse).max(Duration::from_secs(1));
                return Ok(Disposition::Wait(wait));
            }
        };
        // A charge whose earlier attempt may still be applied by the PMS waits until that has
        // surely finished. Waiting is not an attempt: nothing is counted or sent.
        if let Some(wait) = self.settling(msg, adapter).await? {
            self.records
                .release(hotel, key, &lease, &msg.payload_hash)
                .await?;
            return Ok(Disposition::Wait(wait));
        }

        let now = self.records.now();
        self.records
            .update_operation(hotel, &msg.operation_id, |op| {
                op.status = OperationStatus::InProgress;
                op.attempts += 1;
                op.first_attempt_at.get_or_insert(now);
                op.last_attempt_at = Some(now);
            })
            .await?;

        // Whether an earlier attempt's charge may be at the PMS whatever this attempt's call
        // is answered: a refusal of this call then says nothing about it.
        let mut earlier_stands = false;
        let outcome = self.call(msg, attempt, adapter, &mut earlier_stands).await;
        match outcome {
            Ok((result, audit_result, request_id)) => {
                self.audit(msg, attempt, audit_result, request_id, None)
                    .await?;
                self.records
                    .complete(hotel, key, &lease, &msg.payload_hash, &result)
                    .await?;
                self.records
                    .update_operation(hotel, &msg.operation_id, |op| {
                        op.status = OperationStatus::Succeeded;
                        op.result = Some(result.clone());
                        op.error = None;
                    })
                    .await?;
                self.resolve_dlq(msg).await?;
                metrics.count("WritesSucceeded", 1);
                if msg.operation.is_charge() && audit_result == AuditResult::Succeeded {
                    metrics.count("ChargesPosted", 1);
                }
                Ok(Disposition::Done)
            }
            Err(CallError::Pms(err) | CallError::Lookup(err))
                if deadline::is_refusal(&err) && msg.not_started >= MAX_NOT_STARTED =>
            {
                // Refused for the deadline in delivery after delivery (a PMS too slow to leave
                // time for the next call): this one counts as an attempt, so the operation ends
                // in a dead letter instead of cycling. Nothing was sent by this call; the intent
                // stays as it is, and the dead letter says so when one stands.
                let why = format!(
                    "no call could be started in time in {} deliveries (the PMS answers too slowly)",
                    msg.not_started + 1
                );
                let recorded = if self.records.intent(hotel, key).await?.is_some() {
                    RecordedError::outcome_unknown(&why)
                } else {
                    RecordedError {
                        code: "PMS_UNAVAILABLE".into(),
                        message: format!("not sent: {why}"),
                        retryable: true,
                        request_id: None,
                    }
                };
                self.audit(
                    msg,
                    attempt,
                    AuditResult::Failed,
                    None,
                    Some(recorded.clone()),
                )
                .await?;
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                let policy = self.policy(config);
                self.after_failure(msg, receive_count, recorded, &policy, None, metrics)
                    .await
            }
            Err(CallError::Pms(err) | CallError::Lookup(err)) if deadline::is_refusal(&err) => {
                // The deadline came close during the delivery: the call was not sent. Not an
                // attempt; an intent written for it stays (the next attempt looks first).
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                self.records
                    .update_operation(hotel, &msg.operation_id, |op| {
                        op.status = OperationStatus::Queued;
                        op.attempts = op.attempts.saturating_sub(1);
                    })
                    .await?;
                Ok(Disposition::Unstarted)
            }
            Err(CallError::Unrecorded { request_id, error }) => {
                // The PMS applied the write (or an earlier attempt's charge was found), but its
                // answer does not encode: a bug. Calling again would repeat the write, so the
                // operation is dead-lettered, not retried. The intent stays: a redrive of a
                // charge looks on the folio before it posts.
                tracing::error!(operation_id = %msg.operation_id, error = %error, "the PMS applied a write whose answer cannot be recorded");
                let recorded = RecordedError {
                    code: "RESULT_NOT_RECORDED".into(),
                    message: format!(
                        "the PMS applied the write, but its answer could not be recorded ({error}); check the PMS before a redrive"
                    ),
                    retryable: false,
                    request_id: request_id.clone(),
                };
                self.audit(
                    msg,
                    attempt,
                    AuditResult::Failed,
                    request_id,
                    Some(recorded.clone()),
                )
                .await?;
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                self.dead_letter(msg, recorded, false, metrics).await?;
                Ok(Disposition::Done)
            }
            Err(CallError::Store(e)) => {
                let _ = self
                    .records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await;
                Err(ExecuteError::Store(e))
            }
            Err(CallError::Lookup(err)) => {
                // The intent stays as it is: only an answer to this attempt's own post may
                // void it. Retried like an outage; the last attempt leaves a dead letter that
                // says the charge may exist.
                // What the partner reads names the failure, not the vendor's words; the audit
                // keeps those.
                let recorded = RecordedError::outcome_unknown(&format!(
                    "looking for it on the folio failed ({})",
                    err.code()
                ));
                self.audit(
                    msg,
                    attempt,
                    AuditResult::Failed,
                    err.request_id().map(str::to_owned),
                    Some(RecordedError {
                        message: format!("{}: {err}", recorded.message),
                        request_id: err.request_id().map(str::to_owned),
                        ..recorded.clone()
                    }),
                )
                .await?;
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                let policy = self.policy(config);
                self.after_failure(
                    msg,
                    receive_count,
                    recorded,
                    &policy,
                    err.retry_after(),
                    metrics,
                )
                .await
            }
            Err(CallError::CannotLook) => {
                let recorded = RecordedError {
                    retryable: false,
                    ..RecordedError::outcome_unknown(
                        "the PMS cannot be searched for it, so it is not posted again; check the folio, then redrive or abandon",
                    )
                };
                self.audit(
                    msg,
                    attempt,
                    AuditResult::Failed,
                    None,
                    Some(recorded.clone()),
                )
                .await?;
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                self.dead_letter(msg, recorded, false, metrics).await?;
                Ok(Disposition::Done)
            }
            Err(CallError::ReferenceTaken(request_id)) => {
                let recorded = RecordedError {
                    code: "REFERENCE_CONFLICT".into(),
                    message: "the PMS already has a charge with this reference that this operation did not post; nothing was posted. Send the charge with another reference".into(),
                    retryable: false,
                    request_id: request_id.clone(),
                };
                self.audit(
                    msg,
                    attempt,
                    AuditResult::Failed,
                    request_id,
                    Some(recorded.clone()),
                )
                .await?;
                // The PMS answered this attempt's own post: nothing of ours is there.
                self.records.clear_intent(hotel, key).await?;
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                self.dead_letter(msg, recorded, false, metrics).await?;
                Ok(Disposition::Done)
            }
            Err(CallError::Pms(err)) => {
                let policy = self.policy(config);
                let retryable = policy.is_retryable(&err);
                let recorded = RecordedError {
                    retryable,
                    ..RecordedError::from(&err)
                };
                self.audit(
                    msg,
                    attempt,
                    AuditResult::Failed,
                    err.request_id().map(str::to_owned),
                    Some(recorded.clone()),
                )
                .await?;
                if earlier_stands {
                    // This call was refused or failed, but an earlier attempt (not looked for:
                    // the vendor keeps references unique) may have posted: the intent stays,
                    // so a later attempt's "reference exists" is known to be ours.
                } else if (!retryable && !err.outcome_unknown()) || refused(&err) {
                    // Refused (for good, or for now: 429, 503): nothing was applied and nothing
                    // is on its way, so the intent is void and the key free for a retry or a
                    // corrected redrive. After an unknown outcome (a timeout, a garbled answer)
                    // the intent stays, so the next attempt looks on the folio first.
                    self.records.clear_intent(hotel, key).await?;
                } else if msg.operation.is_charge() && may_be_in_flight(&err) {
                    // The PMS may still apply it: the next attempt waits before it looks.
                    self.records.mark_intent_unknown(hotel, key).await?;
                }
                self.records
                    .release(hotel, key, &lease, &msg.payload_hash)
                    .await?;
                self.after_failure(
                    msg,
                    receive_count,
                    recorded,
                    &policy,
                    err.retry_after(),
                    metrics,
                )
                .await
            }
        }
    }

    /// Records a failure that happened before any PMS call (the hotel's configuration or
    /// credentials cannot be read): retried like an outage, dead-lettered on the last delivery.
    pub async fn fail_before_call(
        &self,
        msg: &WriteMessage,
        receive_count: u32,
        code: &str,
        message: &str,
        metrics: &Metrics,
    ) -> Result<Disposition, ExecuteError> {
        let now = self.records.now();
        let op = self
            .records
            .update_operation(&msg.hotel_id, &msg.operation_id, |op| {
                op.attempts += 1;
                op.first_attempt_at.get_or_insert(now);
                op.last_attempt_at = Some(now);
            })
            .await?;
        if op.is_some_and(|o| o.status == OperationStatus::Abandoned) {
            return Ok(Disposition::Done);
        }
        let recorded = RecordedError {
            code: code.to_owned(),
            message: message.to_owned(),
            retryable: true,
            request_id: None,
        };
        self.after_failure(
            msg,
            receive_count,
            recorded,
            &self.backoff.clone().unwrap_or_default(),
            None,
            metrics,
        )
        .await
    }

    /// What a failed attempt leads to: another delivery after the backoff, or a dead letter.
    async fn after_failure(
        &self,
        msg: &WriteMessage,
        receive_count: u32,
        error: RecordedError,
        policy: &RetryPolicy,
        retry_after: Option<Duration>,
        metrics: &Metrics,
    ) -> Result<Disposition, ExecuteError> {
        // A redriven dead letter gets one attempt: ops asked for it, and a failure goes back to
        // them (pending, one attempt more) instead of three more rounds against the PMS.
        let redriven = self
            .records
            .dlq(&msg.hotel_id, &msg.operation_id)
            .await?
            .is_some_and(|d| d.status == DlqStatus::Retrying);
        if !error.retryable || redriven {
            // The record holds the message; the queue's copy is deleted.
            self.dead_letter(msg, error, false, metrics).await?;
            return Ok(Disposition::Done);
        }
        let attempt = msg.attempt(receive_count);
        if attempt >= self.max_receives {
            if receive_count < self.max_receives {
                // A copy (after waits) that SQS would deliver again: the record holds it.
                self.dead_letter(msg, error, false, metrics).await?;
                return Ok(Disposition::Done);
            }
            // SQS moves the message to the DLQ after this delivery fails.
            self.dead_letter(msg, error, true, metrics).await?;
        } else {
            self.records
                .update_operation(&msg.hotel_id, &msg.operation_id, |op| {
                    op.status = OperationStatus::Queued;
                    op.error = Some(error.clone());
                })
                .await?;
        }
        let delay = match retry_after {
            // The vendor's own wait, within what a visibility timeout should hold.
            Some(d) => d.min(MAX_RETRY_AFTER),
            None => policy.backoff(attempt, &mut rand::rng()),
        };
        Ok(Disposition::RetryAfter(delay))
    }

    fn policy(&self, config: &HotelConfig) -> RetryPolicy {
        let hotel = config_policy(config);
        match &self.backoff {
            Some(b) => RetryPolicy {
                retryable: hotel.retryable,
                ..b.clone()
            },
            None => hotel,
        }
    }

    /// How long a charge must still wait before its folio can be searched: an earlier attempt
    /// ended without an answer less than the settle window ago (vendors with their own
    /// duplicate protection need no wait).
    async fn settling(
        &self,
        msg: &WriteMessage,
        adapter: &dyn PmsAdapter,
    ) -> Result<Option<Duration>, PortError> {
        if !msg.operation.is_charge() || adapter.capabilities().native_charge_idempotency {
            return Ok(None);
        }
        let earlier = self
            .records
            .intent(&msg.hotel_id, &msg.idempotency_key)
            .await?;
        let Some(since) = earlier.and_then(|i| i.unknown_since) else {
            return Ok(None);
        };
        let age = self.records.now() - since;
        Ok((age < self.settle).then(|| {
            (self.settle - age)
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1))
        }))
    }

    async fn call(
        &self,
        msg: &WriteMessage,
        attempt: u32,
        adapter: &dyn PmsAdapter,
        earlier_stands: &mut bool,
    ) -> Result<(serde_json::Value, AuditResult, Option<String>), CallError> {
        let hotel = &msg.hotel_id;
        let key = &msg.idempotency_key;
        // Whether an earlier attempt may have reached the PMS.
        let mut earlier = None;
        if let WriteOperation::PostCharge {
            confirmation,
            charge,
        } = &msg.operation
        {
            let caps = adapter.capabilities();
            earlier = self.records.intent(hotel, key).await?;
            *earlier_stands = earlier.is_some() && caps.native_charge_idempotency;
            if earlier.is_some() && !caps.native_charge_idempotency {
                if !caps.find_charge_by_reference {
                    // If it cannot look, it does not post.
                    return Err(CallError::CannotLook);
                }
                // The outcome of an earlier call is unknown: look before posting again. A
                // lookup that fails says nothing about the charge, so it never voids the
                // intent: the operation is retried and looks again.
                match adapter.find_charge(confirmation, &charge.reference).await {
                    Ok(Some(found)) => {
                        tracing::info!(operation_id = %msg.operation_id, "charge already on the folio; not posting again");
                        let id = found.request_id.clone();
                        let result = result_json(&found).map_err(unrecorded(&id))?;
                        return Ok((result, AuditResult::AlreadyApplied, id));
                    }
                    Ok(None) => {}
                    Err(e) => return Err(CallError::Lookup(e)),
                }
            }
        }
        let intent = Intent {
            operation_id: msg.operation_id.clone(),
            attempted_at: self.records.now(),
            attempt,
            unknown_since: None,
        };
        self.records.record_intent(hotel, key, &intent).await?;
        let (result, request_id) = match &msg.operation {
            WriteOperation::AddReservationNote { confirmation, note } => {
                let r = adapter.add_reservation_note(confirmation, note).await?;
                (result_json(&r), r.request_id)
            }
            WriteOperation::UpdateGuestPreferences {
                guest_id,
                preferences,
            } => {
                let r = adapter
                    .update_guest_preferences(guest_id, preferences)
                    .await?;
                (result_json(&r), r.request_id)
            }
            WriteOperation::PostCharge {
                confirmation,
                charge,
            } => {
                let r = adapter.post_charge(confirmation, charge).await?;
                if r.existed {
                    if earlier.is_none() {
                        // The first attempt of this operation found the reference taken:
                        // another charge holds it, and ours was not posted.
                        return Err(CallError::ReferenceTaken(r.request_id));
                    }
                    // Our own earlier attempt posted it.
                    let id = r.request_id.clone();
                    let result = result_json(&r).map_err(unrecorded(&id))?;
                    return Ok((result, AuditResult::AlreadyApplied, id));
                }
                (result_json(&r), r.request_id)
            }
            WriteOperation::UpdateCheckout {
                confirmation,
                change,
            } => {
                let r = adapter.update_checkout(confirmation, change).await?;
                (result_json(&r), r.request_id)
            }
        };
        if let Some(hook) = &self.after_pms_call {
            hook();
        }
        let result = result.map_err(unrecorded(&request_id))?;
        Ok((result, AuditResult::Succeeded, request_id))
    }

    async fn audit(
        &self,
        msg: &WriteMessage,
        attempt: u32,
        result: AuditResult,
        vendor_request_id: Option<String>,
        error: Option<RecordedError>,
    ) -> Result<(), PortError> {
        self.records
            .audit(&AuditEntry {
                hotel_id: msg.hotel_id.clone(),
                operation_id: msg.operation_id.clone(),
                operation: msg.operation.name().to_owned(),
                idempotency_key: msg.idempotency_key.clone(),
                actor: msg.actor.clone(),
                attempt,
                at: self.records.now(),
                result,
                vendor_request_id,
                error,
                note: None,
                correlation_id: Some(msg.correlation_id.clone()),
            })
            .await
    }

    async fn dead_letter(
        &self,
        msg: &WriteMessage,
        error: RecordedError,
        in_queue_dlq: bool,
        metrics: &Metrics,
    ) -> Result<(), PortError> {
        let now = self.records.now();
        let op = self
            .records
            .update_operation(&msg.hotel_id, &msg.operation_id, |op| {
                op.status = OperationStatus::DeadLettered;
                op.error = Some(error.clone());
            })
            .await?;
        let (attempts, first) = op
            .as_ref()
            .map(|o: &OperationRecord| (o.attempts, o.first_attempt_at.unwrap_or(now)))
            .unwrap_or((1, now));
        let previous = self.records.dlq(&msg.hotel_id, &msg.operation_id).await?;
        let intent = self
            .records
            .intent(&msg.hotel_id, &msg.idempotency_key)
            .await?;
        let item = DlqItem {
            id: msg.operation_id.clone(),
            hotel_id: msg.hotel_id.clone(),
            operation: msg.operation.name().to_owned(),
            message: msg.clone(),
            error,
            attempts,
            first_attempt_at: previous
                .as_ref()
                .map(|p| p.first_attempt_at)
                .unwrap_or(first),
            last_attempt_at: now,
            status: DlqStatus::Pending,
            in_queue_dlq,
            resolved_by: None,
            resolved_at: None,
            dead_lettered_at: Some(
                previous
                    .as_ref()
                    .filter(|p| p.is_open())
                    .map(|p| p.waiting_since())
                    .unwrap_or(now),
            ),
            notes: previous.and_then(|p| p.notes),
            intent,
        };
        self.records.put_dlq(&item).await?;
        // What stops a redrive from posting twice lives as long as the dead letter.
        self.records
            .pin_protection(&msg.hotel_id, &msg.idempotency_key)
            .await?;
        metrics.count("WritesDeadLettered", 1);
        if msg.operation.is_charge() {
            // The critical alarm watches this metric.
            metrics.count("PostChargeDeadLettered", 1);
        }
        tracing::error!(operation_id = %msg.operation_id, operation = msg.operation.name(), code = %item.error.code, "write dead-lettered");
        Ok(())
    }

    async fn fail(&self, msg: &WriteMessage, code: &str, message: &str) -> Result<(), PortError> {
        self.records
            .update_operation(&msg.hotel_id, &msg.operation_id, |op| {
                op.status = OperationStatus::Failed;
                op.error = Some(RecordedError {
                    code: code.to_owned(),
                    message: message.to_owned(),
                    retryable: false,
                    request_id: None,
                });
            })
            .await?;
        Ok(())
    }

    async fn resolve_dlq(&self, msg: &WriteMessage) -> Result<(), PortError> {
        if let Some(mut d) = self.records.dlq(&msg.hotel_id, &msg.operation_id).await? {
            if d.status != DlqStatus::Resolved {
                d.status = DlqStatus::Resolved;
                d.resolved_at = Some(self.records.now());
                d.resolved_by.get_or_insert_with(|| "writer".into());
                self.records.put_dlq(&d).await?;
                self.records
                    .unpin_protection(&msg.hotel_id, &msg.idempotency_key)
                    .await?;
            }
        }
        Ok(())
    }
}

fn config_policy(config: &HotelConfig) -> RetryPolicy {
    config.retry.clone().into()
}

enum CallError {
    /// This attempt's own call failed (for a charge: the post).
    Pms(PmsError),
    /// Looking on the folio for an earlier attempt's charge failed: nothing is known.
    Lookup(PmsError),
    /// An earlier attempt may have posted the charge and the PMS cannot be searched for it.
    CannotLook,
    /// The vendor already has a charge with this charge's reference that no attempt of this
    /// operation posted (with the vendor's request id): nothing was posted.
    ReferenceTaken(Option<String>),
    /// The PMS applied the write (with the vendor's request id), but its answer does not
    /// encode (a bug in our types): it is not retried, since a call again would repeat it.
    Unrecorded {
        request_id: Option<String>,
        error: PortError,
    },
    Store(PortError),
}

/// Failures after which the vendor may still be working on the request: it did not answer, or
/// a gateway answered for it.
fn may_be_in_flight(err: &PmsError) -> bool {
    matches!(
        err,
        PmsError::Unavailable {
            cause: UnavailableCause::Timeout
                | UnavailableCause::ConnectionReset
                | UnavailableCause::Transport
                | UnavailableCause::Http(502 | 504),
            ..
        }
    )
}

/// Answers that prove the vendor did not act on a request (as the Mews transport reads them).
fn refused(err: &PmsError) -> bool {
    matches!(
        err,
        PmsError::RateLimited { .. }
            | PmsError::Unavailable {
                cause: UnavailableCause::Http(503) | UnavailableCause::ConnectionRefused,
                ..
            }
    )
}

impl From<PmsError> for CallError {
    fn from(e: PmsError) -> Self {
        CallError::Pms(e)
    }
}

impl From<PortError> for CallError {
    fn from(e: PortError) -> Self {
        CallError::Store(e)
    }
}
