//! Sync runs: what one run of a hotel's sync did, for `syncRuns` / `health` and for ops.
//!
//! The sync worker builds a [`SyncRun`] while it works ([`SyncRun::start`], the `record_*`
//! methods, [`SyncRun::finish`]) and stores it once with [`SyncRuns::record`]. Runs live in the
//! hotel's partition under `SYNCRUN#<started at>#<run id>`, so the newest come first in a
//! descending key query, and expire after the hotel's `sync.runRetentionDays`.
//!
//! A run that changed nothing (succeeded, nothing created, updated or failed) writes no item of
//! its own: it is kept as its feed's latest run in the feed's state (`SYNCSTATE#<feed>`,
//! field `lastRun`), in the write that completes it anyway, and [`SyncRuns::list`] shows it
//! among the others. An unchanged re-sync so costs no write per feed beyond its claim and its
//! completion, and ops still see every feed's latest run; older quiet runs, which recorded
//! nothing new, are not kept.
//!
//! Records stay small whatever the run did: id lists keep the first [`MAX_IDS`] ids and
//! errors the first [`MAX_ERRORS`], while the counts keep counting (a DynamoDB item is at most
//! 400 KB).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Condition, Item, ItemKey, ItemStore, KeyCondition, Partition, PortResult, Query,
};

/// Ids kept per list (created, updated, failed).
pub const MAX_IDS: usize = 100;
/// Errors kept per run.
pub const MAX_ERRORS: usize = 10;
/// Sort-key prefix of sync runs in a hotel's partition.
pub const SYNC_RUN_PREFIX: &str = "SYNCRUN#";
/// Sort-key prefix of the feeds' sync states (`crate::sync::state`), which keep each feed's
/// latest run in [`LATEST_RUN_FIELD`].
pub const FEED_STATE_PREFIX: &str = "SYNCSTATE#";
/// The field of a feed's state holding its latest completed run.
pub const LATEST_RUN_FIELD: &str = "lastRun";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRunStatus {
    /// Every page was read and every record stored.
    Succeeded,
    /// Every page was read, but some records failed (counted in `failed`).
    Partial,
    /// The run stopped: a page could not be fetched, or storing failed.
    Failed,
}

/// A count and the first ids counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdCount {
    pub count: u64,
    /// The first [`MAX_IDS`] entity ids, in the order they were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl IdCount {
    pub fn add(&mut self, id: impl Into<String>) {
        self.count += 1;
        if self.ids.len() < MAX_IDS {
            self.ids.push(id.into());
        }
    }
}

/// One error of a run: a record that failed, or the failure that stopped the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRunError {
    /// A stable code (`PmsError::code`, `PortError::code`, an adapter `ItemFailure` code).
    pub code: String,
    /// Safe to show to partners: never credentials, headers or request bodies.
    pub message: String,
    /// The vendor id of the record, when the error is about one.
    pub entity_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    /// Unique per run (the worker's choice: job id, correlation id).
    pub run_id: String,
    pub hotel_id: HotelId,
    /// What was synced: `reservations`, `arrivals`, `departures`, `in_house`, `room_status`...
    pub feed: String,
    pub status: SyncRunStatus,
    pub created: IdCount,
    pub updated: IdCount,
    /// Records read that were already stored as they are (only counted).
    pub unchanged: u64,
    pub failed: IdCount,
    /// Vendor HTTP calls the run made.
    pub vendor_calls: u64,
    pub duration_ms: u64,
    /// The first [`MAX_ERRORS`] errors.
    #[serde(default)]
    pub errors: Vec<SyncRunError>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub correlation_id: Option<String>,
}

impl SyncRun {
    pub fn start(
        run_id: impl Into<String>,
        hotel_id: HotelId,
        feed: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            run_id: run_id.into(),
            hotel_id,
            feed: feed.into(),
            status: SyncRunStatus::Succeeded,
            created: IdCount::default(),
            updated: IdCount::default(),
            unchanged: 0,
            failed: IdCount::default(),
            vendor_calls: 0,
            duration_ms: 0,
            errors: Vec::new(),
            started_at,
            finished_at: None,
            correlation_id: None,
        }
    }

    pub fn record_created(&mut self, id: impl Into<String>) {
        self.created.add(id);
    }

    pub fn record_updated(&mut self, id: impl Into<String>) {
        self.updated.add(id);
    }

    pub fn record_unchanged(&mut self, n: u64) {
        self.unchanged += n;
    }

    /// A record that could not be fetched, mapped or stored; the run goes on.
    pub fn record_failed(&mut self, id: impl Into<String>, code: &str, message: &str) {
        let id = id.into();
        self.push_error(SyncRunError {
            code: code.to_owned(),
            message: message.to_owned(),
            entity_id: Some(id.clone()),
        });
        self.failed.add(id);
    }

    /// The failure that stops the run (a page that could not be fetched): the run has failed.
    pub fn record_fatal(&mut self, code: &str, message: &str) {
        self.status = SyncRunStatus::Failed;
        // The reason the run stopped matters most: it displaces the last kept record error.
        if self.errors.len() >= MAX_ERRORS {
            self.errors.pop();
        }
        self.push_error(SyncRunError {
            code: code.to_owned(),
            message: message.to_owned(),
            entity_id: None,
        });
    }

    fn push_error(&mut self, e: SyncRunError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        }
    }

    /// Closes the run: its duration, vendor calls, and the status its counts imply (a run with
    /// failed records and no fatal error is partial).
    pub fn finish(&mut self, finished_at: DateTime<Utc>, vendor_calls: u64) {
        self.finished_at = Some(finished_at);
        self.vendor_calls = vendor_calls;
        self.duration_ms = (finished_at - self.started_at).num_milliseconds().max(0) as u64;
        if self.status != SyncRunStatus::Failed && self.failed.count > 0 {
            self.status = SyncRunStatus::Partial;
        }
    }

    /// Succeeded with nothing created, updated or failed: nothing to keep beyond the feed's
    /// latest run (see the module doc).
    pub fn is_quiet(&self) -> bool {
        self.status == SyncRunStatus::Succeeded
            && self.created.count == 0
            && self.updated.count == 0
            && self.failed.count == 0
            && self.errors.is_empty()
    }

    /// `SYNCRUN#<started at, fixed-width UTC>#<run id>`: lexical order is time order.
    pub fn sort_key(&self) -> String {
        format!(
            "{SYNC_RUN_PREFIX}{}#{}",
            self.started_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.run_id
        )
    }
}

/// Stores and lists sync runs.
#[derive(Clone)]
pub struct SyncRuns {
    store: Arc<dyn ItemStore>,
}

impl SyncRuns {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// Stores a run (again, if the worker records progress more than once); it expires
    /// `retention_days` after it started.
    pub async fn record(&self, run: &SyncRun, retention_days: u32) -> PortResult<()> {
        let expires = run.started_at + Duration::days(i64::from(retention_days.max(1)));
        let item = Item::encode(ItemKey::hotel(&run.hotel_id, run.sort_key()), run)?
            .expiring_at(expires.timestamp());
        self.store.put(item, Condition::Always).await?;
        Ok(())
    }

    /// The hotel's latest `last` runs (at most 100), newest first: the stored runs and each
    /// feed's latest run, quiet ones included.
    pub async fn list(&self, hotel: &HotelId, last: u32) -> PortResult<Vec<SyncRun>> {
        let last = last.clamp(1, 100);
        let mut q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith(SYNC_RUN_PREFIX.into()),
        )
        .limit(last);
        q.descending = true;
        let mut runs: Vec<SyncRun> = self
            .store
            .query(&q)
            .await?
            .items
            .iter()
            .map(Item::decode)
            .collect::<PortResult<_>>()?;
        // One state per feed: a handful of items.
        let states = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith(FEED_STATE_PREFIX.into()),
        );
        for state in self.store.query(&states).await?.items {
            let Some(latest) = state.data.get(LATEST_RUN_FIELD) else {
                continue;
            };
            match serde_json::from_value::<SyncRun>(latest.clone()) {
                Ok(run) if !runs.iter().any(|r| r.run_id == run.run_id) => runs.push(run),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a feed's latest run could not be read"),
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        runs.truncate(last as usize);
        Ok(runs)
    }

    pub async fn latest(&self, hotel: &HotelId) -> PortResult<Option<SyncRun>> {
        Ok(self.list(hotel, 1).await?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::{Clock, ManualClock};

    #[tokio::test]
    async fn runs_list_newest_first_and_expire() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let runs = SyncRuns::new(store);
        let h = HotelId::parse("h1").unwrap();
        for i in 0..3 {
            let mut run = SyncRun::start(format!("r{i}"), h.clone(), "reservations", clock.now());
            run.record_created("a");
            if i == 2 {
                run.record_failed("b", "PMS_PROTOCOL", "bad record");
            }
            clock.advance(Duration::seconds(3));
            run.finish(clock.now(), 4);
            runs.record(&run, 30).await.unwrap();
        }
        let listed = runs.list(&h, 10).await.unwrap();
        let ids: Vec<_> = listed.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["r2", "r1", "r0"]);
        assert_eq!(listed[0].status, SyncRunStatus::Partial);
        assert_eq!(listed[0].failed.ids, ["b"]);
        assert_eq!(listed[1].status, SyncRunStatus::Succeeded);
        assert_eq!(listed[1].duration_ms, 3000);
        assert_eq!(runs.list(&h, 1).await.unwrap().len(), 1);
        // Other hotels see nothing.
        let other = HotelId::parse("h2").unwrap();
        assert!(runs.latest(&other).await.unwrap().is_none());
        clock.advance(Duration::days(31));
        assert!(runs.latest(&h).await.unwrap().is_none());
    }

    #[test]
    fn lists_are_capped_but_counts_are_not() {
        let h = HotelId::parse("h1").unwrap();
        let mut run = SyncRun::start("r", h, "arrivals", Utc::now());
        for i in 0..(MAX_IDS + 5) {
            run.record_failed(format!("x{i}"), "E", "m");
        }
        run.record_fatal("PMS_UNAVAILABLE", "page 3 could not be fetched");
        run.finish(Utc::now(), 1);
        assert_eq!(run.failed.count, (MAX_IDS + 5) as u64);
        assert_eq!(run.failed.ids.len(), MAX_IDS);
        assert_eq!(run.errors.len(), MAX_ERRORS);
        assert_eq!(run.errors.last().unwrap().code, "PMS_UNAVAILABLE");
        assert_eq!(run.status, SyncRunStatus::Failed);
    }
}
