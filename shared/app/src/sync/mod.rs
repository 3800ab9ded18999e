//! The scheduled delta sync: the scheduler's fan-out ([`SyncScheduler`]), the feed
//! runs the sync worker executes ([`SyncService`], the [`crate::jobs::FeedRunner`]), their
//! bookkeeping ([`FeedStates`]: tick, watermark, lease), and backfills. Records are stored with
//! the same merge rule as webhooks ([`crate::records::Merger`]); runs are recorded as
//! [`crate::sync_runs::SyncRun`]s.

mod availability;
pub mod backfill;
pub mod budget;
mod error;
pub mod feeds;
mod runner;
pub mod schedule;
mod scheduler;
mod state;

pub use crate::jobs::Continuation;
pub use backfill::{BackfillProgress, BackfillStatus, Checkpoint, Checkpoints};
pub use error::SyncError;
pub use runner::{FeedOutcome, RunMode, RunTally, Skipped, SyncService, DEFAULT_LEASE};
pub use scheduler::{due_feeds, tick_key, SyncScheduler, TickReport};
pub use state::{Claim, FeedState, FeedStates, Lease, Progress};
