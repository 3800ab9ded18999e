//! Jobs on the sync queue (`SYNC_QUEUE_URL`): what producers (webhooks, the scheduler) send and
//! what the sync worker runs. A message body is one [`SyncJob`] as JSON, tagged by `kind`; a
//! body that is not a job this build knows is a failure of that message (retried, then moved to
//! the DLQ by the queue's redrive policy), never a panic and never silently dropped.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::registry::RegistryError;
pub use pms_domain::domain::Feed;
use pms_domain::domain::{HotelId, Provider};
use pms_domain::pms::{EntityRef, PmsError};
use pms_domain::ports::{OutgoingMessage, PortError};

/// Most entities one refresh job names: bounded so a job finishes well within the worker's
/// timeout even against per-entity vendor APIs (Cloudbeds: 5 requests/s).
pub const MAX_ENTITIES_PER_JOB: usize = 25;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncJob {
    /// Fetch named entities from the hotel's PMS and merge them (thin webhook events).
    Refresh(RefreshJob),
    /// One scheduled feed of one hotel run by the worker's [`FeedRunner`].
    Feed(FeedJob),
}

impl SyncJob {
    pub fn kind(&self) -> &'static str {
        match self {
            SyncJob::Refresh(_) => "refresh",
            SyncJob::Feed(_) => "feed",
        }
    }

    pub fn hotel(&self) -> &HotelId {
        match self {
            SyncJob::Refresh(j) => &j.hotel,
            SyncJob::Feed(j) => &j.hotel,
        }
    }

    pub fn correlation_id(&self) -> &str {
        match self {
            SyncJob::Refresh(j) => &j.correlation_id,
            SyncJob::Feed(j) => &j.correlation_id,
        }
    }

    /// The queue this job belongs on: a refresh a webhook or an operator asked for is
    /// interactive; feeds and what they hand on are bulk.
    pub fn lane(&self) -> Lane {
        match self {
            SyncJob::Refresh(RefreshJob {
                source: JobSource::Webhook { .. } | JobSource::Manual,
                ..
            }) => Lane::Refresh,
            SyncJob::Refresh(_) | SyncJob::Feed(_) => Lane::Bulk,
        }
    }

    /// The queue message: the job as JSON, with kind, hotel and correlation id also as message
    /// attributes so tooling (DLQ listing) can filter without parsing bodies. A job that does not
    /// encode (a bug) is a [`PortError::Encode`], never an empty body on the queue.
    pub fn to_message(&self) -> Result<OutgoingMessage, PortError> {
        let body = serde_json::to_string(self).map_err(|e| PortError::Encode {
            what: format!("{} job", self.kind()),
            message: e.to_string(),
        })?;
        Ok(OutgoingMessage::new(body)
            .with_attribute("kind", self.kind())
            .with_attribute("hotel", self.hotel().as_str())
            .with_attribute("correlationId", self.correlation_id()))
    }

    pub fn parse(body: &str) -> Result<SyncJob, JobError> {
        serde_json::from_str(body).map_err(|e| {
            // serde names the unknown `kind` or the missing field; it never echoes the body.
            JobError::Malformed(e.to_string())
        })
    }
}

/// Where a refresh request came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobSource {
    Webhook {
        provider: Provider,
        /// The stored delivery (`WEBHOOK#<provider>#<id>` in the hotel's partition).
        #[serde(rename = "deliveryId")]
        delivery_id: String,
        /// How repeats of the delivery are recognised (absent in jobs sent before it was
        /// carried).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dedupe: Option<pms_vendor_kit::webhooks::DedupePolicy>,
    },
    /// Requested by an operator or a tool.
    Manual,
    /// Records a feed sync read but could not map or fetch: refreshed on their own, with the
    /// refresh job's retries, so the sync's watermark can move on without losing them.
    Sync {
        feed: Feed,
        #[serde(rename = "runId")]
        run_id: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshJob {
    pub hotel: HotelId,
    pub entities: Vec<EntityRef>,
    pub source: JobSource,
    pub received_at: DateTime<Utc>,
    pub correlation_id: String,
    /// 1 for the first job; a follow-up for entities that failed carries the next number.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

impl RefreshJob {
    /// Refresh jobs for `entities` (deduplicated, order kept), at most
    /// [`MAX_ENTITIES_PER_JOB`] each.
    pub fn split(
        hotel: &HotelId,
        entities: &[EntityRef],
        source: &JobSource,
        received_at: DateTime<Utc>,
        correlation_id: &str,
    ) -> Vec<RefreshJob> {
        let mut unique: Vec<EntityRef> = Vec::with_capacity(entities.len());
        for e in entities {
            if !unique.contains(e) {
                unique.push(e.clone());
            }
        }
        unique
            .chunks(MAX_ENTITIES_PER_JOB)
            .map(|chunk| RefreshJob {
                hotel: hotel.clone(),
                entities: chunk.to_vec(),
                source: source.clone(),
                received_at,
                correlation_id: correlation_id.to_owned(),
                attempt: 1,
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedJob {
    pub hotel: HotelId,
    pub feed: Feed,
    /// The schedule tick this job belongs to (one run per hotel, feed and tick).
    pub scheduled_at: DateTime<Utc>,
    pub correlation_id: String,
    /// Set on the job a run sends when it stops between pages, its time budget spent: the run
    /// and the segment this job goes on with (see `sync::Progress`). Absent on scheduled jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation: Option<Continuation>,
}

/// What a continuation job carries: the run it goes on with and the segment it may run (see
/// `sync::Progress`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    pub run_id: String,
    pub segment: u32,
}

/// What a feed job did, for the circuit breaker: whether the PMS was asked at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedRan {
    /// The run read the PMS (it answered).
    Ran,
    /// Nothing was asked of the PMS (disabled, already run, superseded).
    Skipped,
}

/// Runs scheduled feed jobs (the scheduled sync's `SyncService`). A worker without one fails
/// feed jobs (so they reach the DLQ) instead of dropping them.
#[async_trait]
pub trait FeedRunner: Send + Sync {
    async fn run(&self, job: &FeedJob) -> Result<FeedRan, JobError>;
}

/// The queue a job travels on. Webhook (and operator) refreshes have their own queue, so they
/// never wait behind the scheduled bulk work of every hotel, and their own DLQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// `REFRESH_QUEUE_URL`: refreshes a webhook or an operator asked for.
    Refresh,
    /// `SYNC_QUEUE_URL`: scheduled feeds, and the refreshes a feed run hands on.
    Bulk,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Refresh => "refresh",
            Lane::Bulk => "sync",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Not a job this build understands (bad JSON, unknown kind). Retrying will not help; the
    /// queue still retries it and then moves it to the DLQ, where ops can see it.
    #[error("not a sync job this build understands: {0}")]
    Malformed(String),
    #[error("{0} jobs are not handled by this build")]
    Unhandled(&'static str),
    #[error(transparent)]
    Hotel(#[from] RegistryError),
    #[error(transparent)]
    Pms(#[from] PmsError),
    #[error(transparent)]
    Port(#[from] PortError),
    /// Every entity of the job failed; the message is retried as a whole.
    #[error("{failed} of {total} entities could not be refreshed ({codes})")]
    EntitiesFailed {
        failed: usize,
        total: usize,
        codes: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
    /// Another run of the same feed and tick holds the feed (a duplicate delivery racing the
    /// original, or a run that died without releasing it): try again once its lease is over,
    /// when the feed has either completed the tick (the retry is then a no-op) or is free.
    #[error("a run of this feed is in progress; retry in {}s", retry_after.as_secs())]
    InProgress { retry_after: Duration },
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Malformed(_) | JobError::Unhandled(_) => false,
            JobError::Hotel(e) => e.is_retryable(),
            JobError::Pms(e) => e.is_retryable(),
            JobError::Port(e) => e.is_retryable(),
            JobError::EntitiesFailed { retryable, .. } => *retryable,
            JobError::InProgress { .. } => true,
        }
    }

    /// How long the vendor asked us to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JobError::Pms(e) => e.retry_after(),
            JobError::EntitiesFailed { retry_after, .. } => *retry_after,
            JobError::InProgress { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            JobError::Malformed(_) => "MALFORMED_JOB",
            JobError::Unhandled(_) => "UNHANDLED_JOB",
            JobError::Hotel(RegistryError::NotConfigured(_)) => "HOTEL_NOT_CONFIGURED",
            JobError::Hotel(_) => "REGISTRY",
            JobError::Pms(e) => e.code(),
            JobError::Port(e) => e.code(),
            JobError::EntitiesFailed { .. } => "ENTITIES_FAILED",
            JobError::InProgress { .. } => "IN_PROGRESS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::ExternalId;
    use pms_domain::pms::EntityKind;

    fn entity(kind: EntityKind, id: &str) -> EntityRef {
        EntityRef {
            kind,
            id: ExternalId::parse(id).unwrap(),
        }
    }

    #[test]
    fn jobs_round_trip_and_unknown_kinds_are_errors() {
        let job = SyncJob::Refresh(RefreshJob {
            hotel: HotelId::parse("h1").unwrap(),
            entities: vec![entity(EntityKind::Guest, "g-1")],
            source: JobSource::Webhook {
                provider: Provider::named("mews"),
                delivery_id: "abc".into(),
                dedupe: Some(pms_vendor_kit::webhooks::DedupePolicy::WhilePending),
            },
            received_at: Utc::now(),
            correlation_id: "c-1".into(),
            attempt: 1,
        });
        let msg = job.to_message().unwrap();
        assert_eq!(msg.attributes["kind"], "refresh");
        assert_eq!(msg.attributes["hotel"], "h1");
        assert_eq!(SyncJob::parse(&msg.body).unwrap(), job);
        let json: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(json["source"]["type"], "webhook");
        assert_eq!(json["entities"][0]["kind"], "guest");

        let err = SyncJob::parse(r#"{"kind":"reindex","hotel":"h1"}"#).unwrap_err();
        assert_eq!(err.code(), "MALFORMED_JOB");
        assert!(!err.is_retryable());
        assert!(SyncJob::parse("not json").is_err());
        assert!(SyncJob::parse(r#"{"kind":"refresh","hotel":"a#b"}"#).is_err());
    }

    #[test]
    fn split_dedupes_and_bounds_jobs() {
        let hotel = HotelId::parse("h1").unwrap();
        let mut refs: Vec<EntityRef> = (0..60)
            .map(|i| entity(EntityKind::Reservation, &format!("r-{i}")))
            .collect();
        refs.push(entity(EntityKind::Reservation, "r-0"));
        let jobs = RefreshJob::split(&hotel, &refs, &JobSource::Manual, Utc::now(), "c");
        assert_eq!(
            jobs.iter().map(|j| j.entities.len()).collect::<Vec<_>>(),
            [25, 25, 10]
        );
    }
}
