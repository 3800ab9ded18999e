//! The dead-letter census: every dead letter counts, whether the writer recorded it (`DLQ#`)
//! or SQS moved its message to the write DLQ without one — a writer stopped by its timeout or
//! a crash during the last allowed delivery, or a message nobody can read. Such a message has
//! nothing to show ops and nothing for the alarms, so the census looks in the write DLQ too:
//! a readable one is adopted (given the dead-letter record the writer could not write, its
//! operation `DEAD_LETTERED`, its protecting records kept), an unreadable one is counted and
//! listed by its message id. Copies of operations that already finished are left alone.
//!
//! Run every few minutes ([`DeadLetterCensus::take`], from the sync scheduler's tick), it emits
//! the gauges the alarms watch ([`CensusReport::emit`]): open dead letters, the oldest one's age,
//! and open charges (critical for as long as one is open).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{OperationId, OperationStatus, RecordedError, WriteMessage};
use super::records::{DlqItem, DlqStatus, WriteRecords};
use crate::obs::Metrics;
use pms_domain::domain::HotelId;
use pms_domain::ports::{PortResult, Queue, ReceivedMessage};

/// Messages of the write DLQ looked at per census (10 per receive).
const PEEK_MAX: usize = 1000;
/// How long a peeked message stays hidden from other readers (it is released at once after).
const PEEK_VISIBILITY: Duration = Duration::from_secs(20);

/// A message in the write DLQ that no dead-letter record describes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unrecorded {
    pub message_id: String,
    /// The write it carries; `None` when the body cannot be read.
    pub message: Option<WriteMessage>,
    /// When it was first sent (SQS keeps that time when it moves a message to the DLQ).
    pub sent_at: Option<DateTime<Utc>>,
}

impl Unrecorded {
    pub fn is_charge(&self) -> bool {
        self.message
            .as_ref()
            .is_some_and(|m| m.operation.is_charge())
    }
}

/// What a census found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CensusReport {
    /// Open dead letters: records pending or retrying, and unrecorded DLQ messages.
    pub open: u64,
    /// Of which `postCharge`.
    pub open_charges: u64,
    /// How long the oldest open one has waited (zero when there is none).
    pub oldest: Duration,
    /// DLQ messages without a record that are still without one (unreadable, or not adopted).
    pub unrecorded: Vec<Unrecorded>,
    /// Operations whose DLQ message got its dead-letter record now.
    pub adopted: Vec<OperationId>,
    /// DLQ messages of operations that finished anyway (a stray copy): not dead letters.
    pub stale: u64,
}

impl CensusReport {
    /// The gauges the alarms watch (namespace of `metrics`, dimension `Function=dead-letters`
    /// when `metrics` is made for it), written even when zero so an alarm can clear.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.gauge("DeadLettersPending", self.open as f64, "Count");
        metrics.gauge(
            "PostChargeDeadLettersPending",
            self.open_charges as f64,
            "Count",
        );
        metrics.gauge(
            "DeadLettersOldestAgeSeconds",
            self.oldest.as_secs() as f64,
            "Seconds",
        );
        metrics.gauge(
            "DeadLettersUnrecorded",
            self.unrecorded.len() as f64,
            "Count",
        );
    }
}

#[derive(Clone)]
pub struct DeadLetterCensus {
    records: WriteRecords,
    queue: Arc<dyn Queue>,
    write_dlq_url: String,
}

impl DeadLetterCensus {
    pub fn new(
        records: WriteRecords,
        queue: Arc<dyn Queue>,
        write_dlq_url: impl Into<String>,
    ) -> Self {
        Self {
            records,
            queue,
            write_dlq_url: write_dlq_url.into(),
        }
    }

    pub fn from_services(services: &crate::runtime::Services) -> Self {
        Self::new(
            WriteRecords::new(services.store.clone(), services.clock.clone()),
            services.queue.clone(),
            services.names.write_dlq_url.clone(),
        )
    }

    /// The messages of the write DLQ, looked at without taking them: each is hidden while the
    /// census reads on, then visible again.
    async fn peek(&self) -> PortResult<Vec<ReceivedMessage>> {
        let mut seen: Vec<ReceivedMessage> = Vec::new();
        let mut result = Ok(());
        while seen.len() < PEEK_MAX {
            match self
                .queue
                .receive(
                    &self.write_dlq_url,
                    10,
                    Duration::from_secs(1),
                    Some(PEEK_VISIBILITY),
                )
                .await
            {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => seen.extend(batch),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for m in &seen {
            let _ = self
                .queue
                .change_visibility(&self.write_dlq_url, &m.receipt_handle, Duration::ZERO)
                .await;
        }
        result.map(|()| seen)
    }

    /// The write DLQ's messages that no dead-letter record describes (stray copies of finished
    /// operations left out), and how many such copies there are.
    pub async fn unrecorded(&self) -> PortResult<(Vec<Unrecorded>, u64)> {
        let mut out = Vec::new();
        let mut stale = 0;
        let mut seen_ops: HashSet<(HotelId, OperationId)> = HashSet::new();
        for m in self.peek().await? {
            let message = serde_json::from_str::<WriteMessage>(&m.body).ok();
            if let Some(w) = &message {
                if !seen_ops.insert((w.hotel_id.clone(), w.operation_id.clone())) {
                    // Another copy of one already looked at.
                    stale += 1;
                    continue;
                }
                if self
                    .records
                    .dlq(&w.hotel_id, &w.operation_id)
                    .await?
                    .is_some()
                {
                    continue;
                }
                let op = self.records.operation(&w.hotel_id, &w.operation_id).await?;
                let finished = op.is_some_and(|o| {
                    matches!(
                        o.status,
                        OperationStatus::Succeeded
                            | OperationStatus::Failed
                            | OperationStatus::Abandoned
                    )
                });
                if finished {
                    stale += 1;
                    continue;
                }
            }
            out.push(Unrecorded {
                message_id: m.message_id,
                message,
                sent_at: m.sent_at,
            });
        }
        Ok((out, stale))
    }

    /// Gives a readable unrecorded DLQ message the dead-letter record the writer could not
    /// write. `false` when someone recorded it first.
    pub async fn adopt(&self, u: &Unrecorded) -> PortResult<bool> {
        let Some(msg) = &u.message else {
            return Ok(false);
        };
        let now = self.records.now();
        let intent = self
            .records
            .intent(&msg.hotel_id, &msg.idempotency_key)
            .await?;
        const STOPPED: &str = "the writer stopped (its time ran out, or it crashed) before it recorded the outcome of its last attempt";
        let error = if msg.operation.is_charge() && intent.is_some() {
            RecordedError::outcome_unknown(STOPPED)
        } else {
            RecordedError {
                code: "WRITER_STOPPED".into(),
                message: format!("{STOPPED}; redrive it"),
                retryable: true,
                request_id: None,
            }
        };
        let op = self
            .records
            .operation(&msg.hotel_id, &msg.operation_id)
            .await?;
        let sent = u.sent_at.unwrap_or(msg.created_at);
        let item = DlqItem {
            id: msg.operation_id.clone(),
            hotel_id: msg.hotel_id.clone(),
            operation: msg.operation.name().to_owned(),
            message: msg.clone(),
            error: error.clone(),
            attempts: op.as_ref().map_or(0, |o| o.attempts),
            first_attempt_at: op.as_ref().and_then(|o| o.first_attempt_at).unwrap_or(sent),
            last_attempt_at: op.as_ref().and_then(|o| o.last_attempt_at).unwrap_or(sent),
            status: DlqStatus::Pending,
            in_queue_dlq: true,
            resolved_by: None,
            resolved_at: None,
            notes: Some("found in the write DLQ without a record by the dead-letter census".into()),
            dead_lettered_at: Some(now),
            intent,
        };
        if !self.records.create_dlq(&item).await? {
            return Ok(false);
        }
        self.records
            .update_operation(&msg.hotel_id, &msg.operation_id, |op| {
                op.status = OperationStatus::DeadLettered;
                op.error = Some(error.clone());
            })
            .await?;
        self.records
            .pin_protection(&msg.hotel_id, &msg.idempotency_key)
            .await?;
        tracing::error!(operation_id = %msg.operation_id, operation = msg.operation.name(), code = %item.error.code, "write found in the DLQ without a record; dead-lettered");
        Ok(true)
    }

    /// Counts every open dead letter, adopting unrecorded DLQ messages first when `adopt`.
    pub async fn take(&self, adopt: bool) -> PortResult<CensusReport> {
        let now = self.records.now();
        let (mut unrecorded, stale) = self.unrecorded().await?;
        let mut adopted = Vec::new();
        if adopt {
            let mut still = Vec::new();
            for u in unrecorded {
                if self.adopt(&u).await? {
                    adopted.extend(u.message.as_ref().map(|m| m.operation_id.clone()));
                } else if u.message.is_none() {
                    still.push(u);
                }
                // A readable one recorded by someone else meanwhile is counted with the
                // records below.
            }
            unrecorded = still;
        }
        let open: Vec<DlqItem> = self
            .records
            .list_dlq(None)
            .await?
            .into_iter()
            .filter(DlqItem::is_open)
            .collect();
        let age = |since: DateTime<Utc>| (now - since).to_std().unwrap_or_default();
        let oldest = open
            .iter()
            .map(|d| age(d.waiting_since()))
            .chain(unrecorded.iter().map(|u| age(u.sent_at.unwrap_or(now))))
            .max()
            .unwrap_or_default();
        Ok(CensusReport {
            open: (open.len() + unrecorded.len()) as u64,
            open_charges: (open.iter().filter(|d| d.operation == "postCharge").count()
                + unrecorded.iter().filter(|u| u.is_charge()).count())
                as u64,
            oldest,
            unrecorded,
            adopted,
            stale,
        })
    }
}
