use std::time::Duration;

use crate::jobs::{Feed, JobError};
use crate::registry::RegistryError;
use pms_domain::pms::PmsError;
use pms_domain::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Hotel(#[from] RegistryError),
    /// A vendor read failed (a page that could not be fetched): the run fails.
    #[error(transparent)]
    Pms(#[from] PmsError),
    #[error(transparent)]
    Port(#[from] PortError),
    /// Another run holds this feed for the same tick.
    #[error("a run of {feed} for this tick is in progress")]
    InProgress { feed: Feed, retry_after: Duration },
    /// Some jobs of a tick could not be sent; their hotels were left unmarked so a retry sends
    /// them.
    #[error("{failed} of {total} sync jobs could not be enqueued")]
    Enqueue { failed: usize, total: usize },
    /// A request that cannot be carried out as asked (a backfill range the wrong way round).
    #[error("{0}")]
    Invalid(String),
}

impl SyncError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Hotel(e) => e.is_retryable(),
            SyncError::Pms(e) => e.is_retryable(),
            SyncError::Port(e) => e.is_retryable(),
            SyncError::InProgress { .. } | SyncError::Enqueue { .. } => true,
            SyncError::Invalid(_) => false,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Hotel(RegistryError::NotConfigured(_)) => "HOTEL_NOT_CONFIGURED",
            SyncError::Hotel(_) => "REGISTRY",
            SyncError::Pms(e) => e.code(),
            SyncError::Port(e) => e.code(),
            SyncError::InProgress { .. } => "IN_PROGRESS",
            SyncError::Enqueue { .. } => "ENQUEUE_FAILED",
            SyncError::Invalid(_) => "INVALID",
        }
    }
}

impl From<SyncError> for JobError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Hotel(e) => JobError::Hotel(e),
            SyncError::Pms(e) => JobError::Pms(e),
            SyncError::Port(e) => JobError::Port(e),
            SyncError::InProgress { retry_after, .. } => JobError::InProgress { retry_after },
            // Neither arises from a feed job; kept distinct rather than guessed at.
            SyncError::Enqueue { .. } | SyncError::Invalid(_) => JobError::Malformed(e.to_string()),
        }
    }
}
