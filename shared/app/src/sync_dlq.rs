//! The sync queue's dead letters (`SYNC_DLQ_URL`): refresh and feed jobs that failed every
//! delivery. Ops list, show, redrive and purge them (`pmsctl sync dlq`). Unlike the write path,
//! a sync job holds no state of its own beyond the message (a redriven feed job claims its
//! feed again; a refresh re-reads the PMS), so the message is all there is to move.
//!
//! Moving messages one by one (receive, send to the sync queue, delete) works on every
//! endpoint and can select by hotel or id; the whole DLQ moves by SQS `StartMessageMoveTask`
//! where the endpoint has it, whose progress the queue service reports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::jobs::SyncJob;
use pms_domain::domain::HotelId;
use pms_domain::ports::{MoveTask, OutgoingMessage, PortResult, Queue, ReceivedMessage};

/// How long a listing hides the messages it looked at (they are released right after).
const PEEK_VISIBILITY: Duration = Duration::from_secs(30);
/// Most messages one command looks at.
pub const MAX_MESSAGES: usize = 10_000;

/// One message of the sync DLQ.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncDeadLetter {
    pub message_id: String,
    /// `refresh`, `feed`, or `unreadable` for a body this build cannot parse.
    pub kind: String,
    pub hotel: Option<HotelId>,
    /// What it was for: the feed, or the entities to refresh.
    pub detail: String,
    pub correlation_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Deliveries it had, as the DLQ counts them (listings add to it).
    pub receive_count: u32,
    #[serde(skip)]
    body: String,
    #[serde(skip)]
    attributes: BTreeMap<String, String>,
}

impl SyncDeadLetter {
    fn from_message(m: &ReceivedMessage) -> Self {
        let (kind, hotel, detail, correlation) = match SyncJob::parse(&m.body) {
            Ok(SyncJob::Feed(j)) => (
                "feed".to_owned(),
                Some(j.hotel.clone()),
                format!("{} at {}", j.feed, j.scheduled_at.format("%Y-%m-%d %H:%M")),
                Some(j.correlation_id.clone()),
            ),
            Ok(SyncJob::Refresh(j)) => (
                "refresh".to_owned(),
                Some(j.hotel.clone()),
                j.entities
                    .iter()
                    .map(|e| format!("{} {}", format!("{:?}", e.kind).to_lowercase(), e.id))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(j.correlation_id.clone()),
            ),
            Err(e) => (
                "unreadable".to_owned(),
                m.attributes
                    .get("hotel")
                    .and_then(|h| HotelId::parse(h).ok()),
                e.to_string(),
                m.attributes.get("correlationId").cloned(),
            ),
        };
        Self {
            message_id: m.message_id.clone(),
            kind,
            hotel,
            detail,
            correlation_id: correlation,
            sent_at: m.sent_at,
            receive_count: m.receive_count,
            body: m.body.clone(),
            attributes: m.attributes.clone(),
        }
    }

    /// The message body (the job as JSON).
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Which messages a redrive or purge takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every message, or every message of one hotel.
    All { hotel: Option<HotelId> },
    /// These message ids.
    Ids(Vec<String>),
}

impl Selection {
    fn takes(&self, d: &SyncDeadLetter) -> bool {
        match self {
            Selection::All { hotel: None } => true,
            Selection::All { hotel: Some(h) } => d.hotel.as_ref() == Some(h),
            Selection::Ids(ids) => ids.contains(&d.message_id),
        }
    }
}

/// Told about each message moved or deleted, for a progress bar.
pub trait Progress: Send + Sync {
    fn begin(&self, total: u64);
    fn advanced(&self, done: u64, total: u64);
}

/// What a redrive or purge did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveReport {
    /// Messages redriven or purged, by hotel (`-`: unreadable without a hotel).
    pub by_hotel: BTreeMap<String, u64>,
    pub done: u64,
    /// Ids asked for and not found in the DLQ.
    pub missing: Vec<String>,
    /// Whether SQS moved them (`StartMessageMoveTask`) rather than this process.
    pub used_move_task: bool,
    /// The move task's final state when it did not complete (`FAILED`, `CANCELLED`).
    pub move_task_failure: Option<String>,
}

#[derive(Clone)]
pub struct SyncDeadLetters {
    queue: Arc<dyn Queue>,
    dlq_url: String,
    queue_url: String,
}

impl SyncDeadLetters {
    pub fn new(
        queue: Arc<dyn Queue>,
        dlq_url: impl Into<String>,
        queue_url: impl Into<String>,
    ) -> Self {
        Self {
            queue,
            dlq_url: dlq_url.into(),
            queue_url: queue_url.into(),
        }
    }

    /// Receives every message (up to [`MAX_MESSAGES`]) and keeps them hidden; the caller
    /// releases or deletes each.
    async fn take_all(&self) -> PortResult<Vec<ReceivedMessage>> {
        let mut out: Vec<ReceivedMessage> = Vec::new();
        let mut empty_polls = 0;
        while out.len() < MAX_MESSAGES && empty_polls < 2 {
            // A short poll first; an empty one is confirmed by a long poll, which asks every
            // SQS server (a short poll samples some).
            let wait = if empty_polls == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs(1)
            };
            let batch = self
                .queue
                .receive(&self.dlq_url, 10, wait, Some(PEEK_VISIBILITY))
                .await?;
            if batch.is_empty() {
                empty_polls += 1;
                continue;
            }
            empty_polls = 0;
            for m in batch {
                if !out.iter().any(|o| o.message_id == m.message_id) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    async fn release(&self, messages: &[ReceivedMessage]) {
        for m in messages {
            if let Err(e) = self
                .queue
                .change_visibility(&self.dlq_url, &m.receipt_handle, Duration::ZERO)
                .await
            {
                // It reappears when its visibility timeout ends anyway.
                tracing::warn!(error = %e, "a sync dead letter could not be released");
            }
        }
    }

    /// Every message of the DLQ (of one hotel), oldest first; none is changed.
    pub async fn list(&self, hotel: Option<&HotelId>) -> PortResult<Vec<SyncDeadLetter>> {
        let messages = self.take_all().await?;
        self.release(&messages).await;
        let mut out: Vec<SyncDeadLetter> = messages
            .iter()
            .map(SyncDeadLetter::from_message)
            .filter(|d| hotel.is_none_or(|h| d.hotel.as_ref() == Some(h)))
            .collect();
        out.sort_by_key(|d| d.sent_at);
        Ok(out)
    }

    /// One message by id.
    pub async fn show(&self, message_id: &str) -> PortResult<Option<SyncDeadLetter>> {
        Ok(self
            .list(None)
            .await?
            .into_iter()
            .find(|d| d.message_id == message_id))
    }

    /// Puts the selected messages back on the sync queue: the whole DLQ by the queue
    /// service's move task where it has one, else message by message.
    pub async fn redrive(
        &self,
        selection: &Selection,
        progress: &dyn Progress,
    ) -> PortResult<MoveReport> {
        if let Selection::All { hotel: None } = selection {
            // Counted first (for the audit and the progress total), then moved by SQS.
            let all = self.list(None).await?;
            if all.is_empty() {
                return Ok(MoveReport::default());
            }
            if self
                .queue
                .start_move_all(&self.dlq_url, &self.queue_url)
                .await?
            {
                let mut report = MoveReport {
                    used_move_task: true,
                    ..MoveReport::default()
                };
                for d in &all {
                    *report.by_hotel.entry(hotel_label(d)).or_default() += 1;
                }
                let total = all.len() as u64;
                progress.begin(total);
                loop {
                    match self.queue.move_task(&self.dlq_url).await? {
                        Some(MoveTask::Running { moved, to_move }) => {
                            progress.advanced(moved, to_move.unwrap_or(total).max(moved));
                        }
                        Some(MoveTask::Completed { moved }) => {
                            report.done = moved;
                            progress.advanced(moved, moved);
                            break;
                        }
                        Some(MoveTask::Failed { moved, reason }) => {
                            report.done = moved;
                            report.move_task_failure = Some(reason);
                            break;
                        }
                        None => {
                            report.done = total;
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                return Ok(report);
            }
        }
        self.each(selection, progress, true).await
    }

    /// Deletes the selected messages for good.
    pub async fn purge(
        &self,
        selection: &Selection,
        progress: &dyn Progress,
    ) -> PortResult<MoveReport> {
        self.each(selection, progress, false).await
    }

    async fn each(
        &self,
        selection: &Selection,
        progress: &dyn Progress,
        send_back: bool,
    ) -> PortResult<MoveReport> {
        let messages = self.take_all().await?;
        let (chosen, others): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|m| selection.takes(&SyncDeadLetter::from_message(m)));
        self.release(&others).await;
        let mut report = MoveReport::default();
        if let Selection::Ids(ids) = selection {
            report.missing = ids
                .iter()
                .filter(|id| !chosen.iter().any(|m| &&m.message_id == id))
                .cloned()
                .collect();
        }
        let total = chosen.len() as u64;
        progress.begin(total);
        for (i, m) in chosen.iter().enumerate() {
            let d = SyncDeadLetter::from_message(m);
            if send_back {
                let mut out = OutgoingMessage::new(d.body.clone());
                for (k, v) in &d.attributes {
                    out = out.with_attribute(k, v.clone());
                }
                if let Err(e) = self.queue.send(&self.queue_url, out).await {
                    // Not sent: leave this one and the rest in the DLQ, visible again.
                    self.release(&chosen[i..]).await;
                    return Err(e);
                }
            }
            // Sent before deleted: a failure in between leaves a duplicate job, which the
            // worker tolerates (feed claims, merge rule), never a lost one.
            self.queue.delete(&self.dlq_url, &m.receipt_handle).await?;
            *report.by_hotel.entry(hotel_label(&d)).or_default() += 1;
            report.done += 1;
            progress.advanced(report.done, total);
        }
        Ok(report)
    }
}

fn hotel_label(d: &SyncDeadLetter) -> String {
    d.hotel
        .as_ref()
        .map_or_else(|| "-".to_owned(), |h| h.to_string())
}
