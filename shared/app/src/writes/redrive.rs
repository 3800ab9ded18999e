//! Ops on dead letters: redrive (all or selected) and abandon. A dead letter is a `DLQ#` record,
//! and for retryable failures also a message in the write DLQ. Redrive puts the message back on
//! the write queue (the very message from the DLQ when it is there, else the recorded one) and
//! marks the record `retrying`; the writer then marks it `resolved`, or `pending` again with one
//! more attempt. Because the idempotency key is the business key and the intent says a call may
//! have happened, a redriven charge that had in fact been posted is found on the folio, not
//! posted again. Those records are kept as long as the dead letter is open; should they be gone
//! anyway (expired before they were kept, deleted), a redrive refuses: posting without them
//! could charge twice. `--force` (with who and why, in the audit log) restores them first.

use std::sync::Arc;
use std::time::Duration;

use super::census::DeadLetterCensus;
use super::model::{OperationId, OperationStatus, WriteMessage};
use super::records::{
    AuditEntry, AuditResult, DlqItem, DlqStatus, Intent, KeyRegistration, WriteRecords,
};
use super::service::WriteService;
use pms_domain::ports::{OutgoingMessage, PortError, PortResult, Queue};

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("no dead letter {0}")]
    NotFound(OperationId),
    #[error("dead letter {id} is {status:?}, not pending")]
    NotPending { id: OperationId, status: DlqStatus },
    /// What stops a redrive from posting twice is gone; only a forced redrive restores it.
    #[error("dead letter {id} is no longer protected against a second posting: {missing}. Check the PMS (the folio) first, then redrive it with --force --staff NAME --reason WHY (recorded in the audit log), or abandon it")]
    Unprotected { id: OperationId, missing: String },
    #[error(transparent)]
    Store(#[from] PortError),
}

impl DlqError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DlqError::Store(e) if e.is_retryable())
    }
}

#[derive(Clone)]
pub struct DeadLetters {
    records: WriteRecords,
    writes: WriteService,
    queue: Arc<dyn Queue>,
    write_queue_url: String,
    write_dlq_url: String,
}

/// Who forces a redrive of dead letters whose protecting records are gone, and why (audited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForcedRedrive {
    pub staff: String,
    pub reason: String,
}

/// How a redrive went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedriveReport {
    pub redriven: Vec<OperationId>,
    /// Dead letters left pending because they are no longer protected (see
    /// [`DlqError::Unprotected`]), with what is missing.
    pub refused: Vec<(OperationId, String)>,
    /// Messages moved from the SQS DLQ (the rest were re-sent from their records).
    pub moved_from_queue: usize,
    pub used_move_task: bool,
}

impl DeadLetters {
    pub fn new(
        records: WriteRecords,
        writes: WriteService,
        queue: Arc<dyn Queue>,
        write_queue_url: impl Into<String>,
        write_dlq_url: impl Into<String>,
    ) -> Self {
        Self {
            records,
            writes,
            queue,
            write_queue_url: write_queue_url.into(),
            write_dlq_url: write_dlq_url.into(),
        }
    }

    pub fn records(&self) -> &WriteRecords {
        &self.records
    }

    /// The census of this stack's dead letters (records and the write DLQ).
    pub fn census(&self) -> DeadLetterCensus {
        DeadLetterCensus::new(
            self.records.clone(),
            self.queue.clone(),
            self.write_dlq_url.clone(),
        )
    }

    /// A dead letter by id; one whose message is in the write DLQ without a record gets its
    /// record first (see [`DeadLetterCensus::adopt`]).
    async fn require(&self, id: &OperationId) -> Result<DlqItem, DlqError> {
        if let Some(item) = self.records.find_dlq(id).await? {
            return Ok(item);
        }
        let census = self.census();
        let (unrecorded, _) = census.unrecorded().await?;
        if let Some(u) = unrecorded
            .iter()
            .find(|u| u.message.as_ref().is_some_and(|m| &m.operation_id == id))
        {
            census.adopt(u).await?;
        }
        self.records
            .find_dlq(id)
            .await?
            .ok_or_else(|| DlqError::NotFound(id.clone()))
    }

    /// Pulls the messages of these operations out of the SQS DLQ (if there), sending each back
    /// to the write queue; returns the operations found. Others are released at once.
    async fn move_from_queue(&self, wanted: &[OperationId]) -> PortResult<Vec<OperationId>> {
        let mut found = Vec::new();
        let mut released = Vec::new();
        // Bounded: a DLQ larger than this is handled by the move task or repeated runs.
        for _ in 0..100 {
            if found.len() == wanted.len() {
                break;
            }
            let batch = self
                .queue
                .receive(
                    &self.write_dlq_url,
                    10,
                    Duration::from_secs(1),
                    Some(Duration::from_secs(30)),
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let id = serde_json::from_str::<WriteMessage>(&m.body)
                    .ok()
                    .map(|w| w.operation_id);
                match id {
                    Some(id) if wanted.contains(&id) && !found.contains(&id) => {
                        self.queue
                            .send(&self.write_queue_url, OutgoingMessage::new(m.body.clone()))
                            .await?;
                        self.queue
                            .delete(&self.write_dlq_url, &m.receipt_handle)
                            .await?;
                        found.push(id);
                    }
                    _ => released.push(m.receipt_handle),
                }
            }
        }
        for handle in released {
            // Visible again for the next reader of the DLQ.
            let _ = self
                .queue
                .change_visibility(&self.write_dlq_url, &handle, Duration::ZERO)
                .await;
        }
        Ok(found)
    }

    /// What a dead letter's redrive would lack to be safe: its key registration (a partner
    /// repeating the request would make a second operation) and, when a PMS call of it may have
    /// happened, its intent (the writer would post without looking first). Empty when safe.
    pub async fn missing_protection(&self, item: &DlqItem) -> Result<Vec<String>, DlqError> {
        let key = &item.message.idempotency_key;
        let mut missing = Vec::new();
        // Keys of requests sent without one can never be repeated: nothing to protect.
        let repeatable = !key.as_str().starts_with("u:");
        if repeatable
            && self
                .records
                .key_registration(&item.hotel_id, key)
                .await?
                .is_none()
        {
            missing.push(format!(
                "its idempotency key record (KEY#{key}) has expired"
            ));
        }
        if item.intent.is_some() && self.records.intent(&item.hotel_id, key).await?.is_none() {
            missing.push(format!(
                "the record that a PMS call of it may have happened (INTENT#{key}) has expired"
            ));
        }
        Ok(missing)
    }

    /// Restores what protects a dead letter before a forced redrive, and audits it: the key
    /// registration, and for a charge an intent that makes the writer look on the folio (or,
    /// at Cloudbeds, count an existing reference as its own) before it posts.
    async fn restore_protection(
        &self,
        item: &mut DlqItem,
        missing: &[String],
        forced: &ForcedRedrive,
    ) -> Result<(), DlqError> {
        let hotel = &item.hotel_id;
        let key = &item.message.idempotency_key;
        let now = self.records.now();
        if self.records.key_registration(hotel, key).await?.is_none() {
            let registration = KeyRegistration {
                operation_id: item.id.clone(),
                payload_hash: item.message.payload_hash.clone(),
                send_claim: None,
                claimed_at: None,
                sent_at: Some(now),
            };
            self.records.register_key(hotel, key, &registration).await?;
        }
        if item.message.operation.is_charge() && self.records.intent(hotel, key).await?.is_none() {
            let at = item
                .intent
                .as_ref()
                .map_or(item.last_attempt_at, |i| i.attempted_at);
            let intent = Intent {
                operation_id: item.id.clone(),
                attempted_at: at,
                attempt: item.attempts,
                // Settled long ago: the writer looks at once.
                unknown_since: Some(at),
            };
            self.records.record_intent(hotel, key, &intent).await?;
        }
        self.records.pin_protection(hotel, key).await?;
        let note = format!(
            "forced redrive by {}: {} (restored: {})",
            forced.staff,
            forced.reason,
            missing.join("; ")
        );
        self.records
            .audit(&AuditEntry {
                hotel_id: hotel.clone(),
                operation_id: item.id.clone(),
                operation: item.operation.clone(),
                idempotency_key: key.clone(),
                actor: format!("staff:{}", forced.staff),
                attempt: item.attempts,
                at: now,
                result: AuditResult::RedriveForced,
                vendor_request_id: None,
                error: None,
                note: Some(note.clone()),
                correlation_id: Some(item.message.correlation_id.clone()),
            })
            .await?;
        item.notes = Some(match item.notes.take() {
            Some(n) => format!("{n}\n{note}"),
            None => note,
        });
        tracing::warn!(operation_id = %item.id, staff = %forced.staff, "forced redrive of an unprotected dead letter");
        Ok(())
    }

    /// Redrives the given pending dead letters.
    pub async fn redrive(&self, ids: &[OperationId]) -> Result<RedriveReport, DlqError> {
        self.redrive_with(ids, None).await
    }

    /// Redrives the given pending dead letters; those no longer protected only when `forced`.
    pub async fn redrive_with(
        &self,
        ids: &[OperationId],
        forced: Option<&ForcedRedrive>,
    ) -> Result<RedriveReport, DlqError> {
        let mut items = Vec::new();
        for id in ids {
            let mut item = self.require(id).await?;
            if item.status != DlqStatus::Pending {
                return Err(DlqError::NotPending {
                    id: id.clone(),
                    status: item.status,
                });
            }
            let missing = self.missing_protection(&item).await?;
            if !missing.is_empty() {
                match forced {
                    Some(f) => self.restore_protection(&mut item, &missing, f).await?,
                    None => {
                        return Err(DlqError::Unprotected {
                            id: id.clone(),
                            missing: missing.join("; "),
                        })
                    }
                }
            }
            items.push(item);
        }
        // Marked first: the writer may finish a redriven message at once, and its `resolved`
        // must not be overwritten by a late `retrying`.
        for item in &mut items {
            self.mark_retrying(item).await?;
        }
        let in_queue: Vec<OperationId> = items
            .iter()
            .filter(|i| i.in_queue_dlq)
            .map(|i| i.id.clone())
            .collect();
        let moved = if in_queue.is_empty() {
            Vec::new()
        } else {
            match self.move_from_queue(&in_queue).await {
                Ok(m) => m,
                Err(e) => {
                    self.back_to_pending(&mut items).await;
                    return Err(e.into());
                }
            }
        };
        let mut report = RedriveReport {
            moved_from_queue: moved.len(),
            ..RedriveReport::default()
        };
        for item in &items {
            if !moved.contains(&item.id) {
                // Not (or no longer) in the SQS DLQ: the record holds the message.
                if let Err(e) = self.writes.enqueue(&item.message).await {
                    let mut rest: Vec<DlqItem> = items
                        .iter()
                        .filter(|i| !report.redriven.contains(&i.id) && !moved.contains(&i.id))
                        .cloned()
                        .collect();
                    self.back_to_pending(&mut rest).await;
                    return Err(e.into());
                }
            }
            report.redriven.push(item.id.clone());
        }
        Ok(report)
    }

    /// Undoes `retrying` for items whose message could not be put back (best effort: they stay
    /// listed for the next redrive).
    async fn back_to_pending(&self, items: &mut [DlqItem]) {
        for item in items {
            item.status = DlqStatus::Pending;
            if let Err(e) = self.records.put_dlq(item).await {
                tracing::warn!(operation_id = %item.id, error = %e, "could not set the dead letter back to pending");
            }
            let _ = self
                .records
                .update_operation(&item.hotel_id, &item.id, |op| {
                    op.status = OperationStatus::DeadLettered
                })
                .await;
        }
    }

    /// Pending dead letters (of one hotel, or of all), oldest first.
    pub async fn pending(
        &self,
        hotel: Option<&pms_domain::domain::HotelId>,
    ) -> Result<Vec<DlqItem>, DlqError> {
        Ok(self
            .records
            .list_dlq(hotel)
            .await?
            .into_iter()
            .filter(|d| d.status == DlqStatus::Pending)
            .collect())
    }

    /// Pending dead letters (of one hotel, or of all), split into those safe to redrive and
    /// those no longer protected (with what is missing).
    pub async fn pending_by_protection(
        &self,
        hotel: Option<&pms_domain::domain::HotelId>,
    ) -> Result<(Vec<DlqItem>, Vec<(OperationId, String)>), DlqError> {
        let mut safe = Vec::new();
        let mut refused = Vec::new();
        for item in self.pending(hotel).await? {
            let missing = self.missing_protection(&item).await?;
            if missing.is_empty() {
                safe.push(item);
            } else {
                refused.push((item.id.clone(), missing.join("; ")));
            }
        }
        Ok((safe, refused))
    }

    /// Redrives every pending dead letter with the queue's own move task (SQS
    /// `StartMessageMoveTask`), which moves the whole DLQ at once. `None` when the endpoint has
    /// no move task, or when some dead letter is no longer protected (the task would move it
    /// too): then redrive them by id.
    pub async fn redrive_all_by_move_task(&self) -> Result<Option<RedriveReport>, DlqError> {
        let (mut pending, refused) = self.pending_by_protection(None).await?;
        if !refused.is_empty() {
            return Ok(None);
        }
        // Marked before the move starts, so a writer that finishes one first is not overwritten.
        for item in &mut pending {
            self.mark_retrying(item).await?;
        }
        let started = match self
            .queue
            .start_move_all(&self.write_dlq_url, &self.write_queue_url)
            .await
        {
            Ok(started) => started,
            Err(e) => {
                self.back_to_pending(&mut pending).await;
                return Err(e.into());
            }
        };
        if !started {
            self.back_to_pending(&mut pending).await;
            return Ok(None);
        }
        let mut report = RedriveReport {
            used_move_task: true,
            ..RedriveReport::default()
        };
        for item in pending {
            if !item.in_queue_dlq {
                // Only the record holds it (refused at once): the move task cannot bring it.
                self.writes.enqueue(&item.message).await?;
            }
            report.redriven.push(item.id);
        }
        Ok(Some(report))
    }

    /// Redrives every pending dead letter (optionally of one hotel): by the move task when it
    /// can move the whole DLQ, else by id.
    pub async fn redrive_all(
        &self,
        hotel: Option<&pms_domain::domain::HotelId>,
    ) -> Result<RedriveReport, DlqError> {
        if hotel.is_none() {
            if let Some(report) = self.redrive_all_by_move_task().await? {
                return Ok(report);
            }
        }
        let (safe, refused) = self.pending_by_protection(hotel).await?;
        let ids: Vec<OperationId> = safe.into_iter().map(|d| d.id).collect();
        let mut report = self.redrive(&ids).await?;
        report.refused = refused;
        Ok(report)
    }

    async fn mark_retrying(&self, item: &mut DlqItem) -> PortResult<()> {
        item.status = DlqStatus::Retrying;
        self.records.put_dlq(item).await?;
        // The redriven message is whichever copy was dead-lettered: it must not be taken for a
        // stray (the next wait records a live copy again).
        self.records
            .set_live_copy(&item.hotel_id, &item.id, None)
            .await?;
        self.records
            .update_operation(&item.hotel_id, &item.id, |op| {
                op.status = OperationStatus::Queued
            })
            .await?;
        Ok(())
    }

    /// Gives up on a dead letter: its message leaves the DLQ, and who and why are recorded.
    pub async fn abandon(
        &self,
        id: &OperationId,
        reason: &str,
        staff: &str,
    ) -> Result<DlqItem, DlqError> {
        let mut item = self.require(id).await?;
        // A retrying item's message is back on the write queue; it is abandoned once it is
        // pending again (the writer also never executes an abandoned operation).
        if item.status != DlqStatus::Pending {
            return Err(DlqError::NotPending {
                id: id.clone(),
                status: item.status,
            });
        }
        if item.in_queue_dlq {
            // Take it out of the DLQ without sending it anywhere.
            let found = self.take_from_queue(id).await?;
            if !found {
                tracing::warn!(operation_id = %id, "message not found in the DLQ (already moved?)");
            }
        }
        item.status = DlqStatus::Abandoned;
        item.resolved_by = Some(staff.to_owned());
        item.resolved_at = Some(self.records.now());
        item.notes = Some(reason.to_owned());
        self.records.put_dlq(&item).await?;
        self.records
            .unpin_protection(&item.hotel_id, &item.message.idempotency_key)
            .await?;
        self.records
            .update_operation(&item.hotel_id, &item.id, |op| {
                op.status = OperationStatus::Abandoned
            })
            .await?;
        Ok(item)
    }

    async fn take_from_queue(&self, id: &OperationId) -> PortResult<bool> {
        let mut released = Vec::new();
        let mut found = false;
        for _ in 0..100 {
            let batch = self
                .queue
                .receive(
                    &self.write_dlq_url,
                    10,
                    Duration::from_secs(1),
                    Some(Duration::from_secs(30)),
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let matches = serde_json::from_str::<WriteMessage>(&m.body)
                    .is_ok_and(|w| &w.operation_id == id);
                if matches && !found {
                    self.queue
                        .delete(&self.write_dlq_url, &m.receipt_handle)
                        .await?;
                    found = true;
                } else {
                    released.push(m.receipt_handle);
                }
            }
            if found {
                break;
            }
        }
        for handle in released {
            let _ = self
                .queue
                .change_visibility(&self.write_dlq_url, &handle, Duration::ZERO)
                .await;
        }
        Ok(found)
    }
}
