//! Backfill: re-read a date range in the windows the vendor allows, through the same steps and
//! merge as the feeds. Arrivals are read in windows of [`WINDOW_DAYS`] (one ranged request or a
//! few pages each, under Mews' three-month cap); where the vendor has a "modified since" filter
//! (Mews, Cloudbeds), the reservations changed in the range are read in windows of the same
//! length. OHIP's delta is a queue of business events, not a window, so there the arrivals carry
//! the range.
//!
//! Resumable: a checkpoint, `H#<hotel>` / `BACKFILL#<from>#<to>`, records how many steps are
//! done (and the counts so far) after each step, so a backfill run again after an interruption
//! starts at the first step not done. The steps of a range are always the same list in the same
//! order.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::feeds::{self, Step};
use super::runner::{RunTally, SyncService};
use super::SyncError;
use crate::sync_runs::{SyncRun, SyncRunStatus};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{BusinessDate, DeltaSupport, HotelId};
use pms_domain::pms::ChangeWindow;
use pms_domain::ports::{Condition, Item, ItemKey, ItemStore, PortResult};

/// Days per window (arrivals and changes): small enough for a fine progress bar and cheap
/// resumption, large enough that a window is one request or a few pages.
pub const WINDOW_DAYS: i64 = 7;
/// Longest range one backfill takes.
pub const MAX_RANGE_DAYS: i64 = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillStatus {
    Running,
    Completed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub hotel_id: HotelId,
    pub from: BusinessDate,
    pub to: BusinessDate,
    pub steps_total: usize,
    /// Steps `0..steps_done` are done.
    pub steps_done: usize,
    pub status: BackfillStatus,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub failed_ids: Vec<String>,
    pub vendor_calls: u64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

fn key(hotel: &HotelId, from: BusinessDate, to: BusinessDate) -> ItemKey {
    ItemKey::hotel(hotel, format!("BACKFILL#{from}#{to}"))
}

/// Backfill checkpoints.
#[derive(Clone)]
pub struct Checkpoints {
    store: Arc<dyn ItemStore>,
}

impl Checkpoints {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    pub async fn get(
        &self,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PortResult<Option<Checkpoint>> {
        match self.store.get(&key(hotel, from, to)).await? {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    pub async fn save(&self, c: &Checkpoint, retention_days: u32) -> PortResult<()> {
        let item = Item::encode(key(&c.hotel_id, c.from, c.to), c)?.expiring_at(
            (c.updated_at + Duration::days(i64::from(retention_days.max(1)))).timestamp(),
        );
        self.store.put(item, Condition::Always).await?;
        Ok(())
    }

    pub async fn forget(
        &self,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PortResult<()> {
        self.store.delete(&key(hotel, from, to)).await
    }
}

/// The steps of a backfill of `[from, to]`, in a fixed order.
pub fn plan(
    config: &HotelConfig,
    delta: DeltaSupport,
    from: BusinessDate,
    to: BusinessDate,
) -> Vec<Step> {
    let mut steps = feeds::arrival_windows(from, to, WINDOW_DAYS);
    if delta == DeltaSupport::ModifiedSince {
        let (start, _) = config.time_zone.day_bounds(from);
        let (_, end) = config.time_zone.day_bounds(to);
        let mut w = start;
        while w < end {
            let next = (w + Duration::days(WINDOW_DAYS)).min(end);
            // Windows are inclusive at both ends: stop just before the next one starts.
            steps.push(Step::Changed(ChangeWindow {
                from: w,
                to: next - Duration::milliseconds(1),
            }));
            w = next;
        }
    }
    steps
}

/// Told about progress (the CLI draws a bar).
pub trait BackfillProgress: Send + Sync {
    fn begin(&self, total: usize, done: usize);
    fn step_done(&self, done: usize, step: &Step, checkpoint: &Checkpoint);
}

/// A progress sink that says nothing.
pub struct Quiet;

impl BackfillProgress for Quiet {
    fn begin(&self, _: usize, _: usize) {}
    fn step_done(&self, _: usize, _: &Step, _: &Checkpoint) {}
}

impl SyncService {
    /// Backfills `[from, to]` for `hotel`, resuming from its checkpoint. With `restart`, a
    /// finished or interrupted backfill of the same range starts over.
    pub async fn backfill(
        &self,
        checkpoints: &Checkpoints,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
        restart: bool,
        progress: &dyn BackfillProgress,
    ) -> Result<Checkpoint, SyncError> {
        if to < from {
            return Err(SyncError::Invalid(format!(
                "the range ends ({to}) before it starts ({from})"
            )));
        }
        if (to.naive() - from.naive()).num_days() >= MAX_RANGE_DAYS {
            return Err(SyncError::Invalid(format!(
                "a backfill covers at most {MAX_RANGE_DAYS} days; split the range"
            )));
        }
        let config = self.hotels().require(hotel).await?;
        let adapter = self.adapter(&config).await?;
        let steps = plan(&config, adapter.capabilities().delta, from, to);
        let now = self.clock().now();
        let mut checkpoint = match checkpoints.get(hotel, from, to).await? {
            Some(c) if !restart && c.steps_total == steps.len() => c,
            _ => Checkpoint {
                hotel_id: hotel.clone(),
                from,
                to,
                steps_total: steps.len(),
                steps_done: 0,
                status: BackfillStatus::Running,
                created: 0,
                updated: 0,
                unchanged: 0,
                failed: 0,
                failed_ids: Vec::new(),
                vendor_calls: 0,
                started_at: now,
                updated_at: now,
                last_error: None,
            },
        };
        progress.begin(steps.len(), checkpoint.steps_done);
        if checkpoint.steps_done >= steps.len() {
            checkpoint.status = BackfillStatus::Completed;
            return Ok(checkpoint);
        }
        checkpoint.status = BackfillStatus::Running;
        let retention = config.sync.run_retention_days;
        let correlation = format!("backfill-{hotel}-{from}-{to}");
        let mut run = SyncRun::start(
            uuid::Uuid::new_v4().to_string(),
            hotel.clone(),
            "backfill",
            now,
        );
        run.correlation_id = Some(correlation.clone());
        let calls_before = adapter.calls_made();
        let base_calls = checkpoint.vendor_calls;
        let mut tally = RunTally::default();
        let mut outcome = Ok(());
        for (i, step) in steps.iter().enumerate().skip(checkpoint.steps_done) {
            let before = (
                run.created.count,
                run.updated.count,
                run.unchanged,
                run.failed.count,
            );
            let ids_before = run.failed.ids.len();
            // Many calls with merges between: lanes of the budget (`ratelimit::bulk`).
            let r = pms_vendor_kit::pms::ratelimit::bulk(self.step(
                &config,
                adapter.as_ref(),
                step,
                &mut run,
                &mut tally,
                &correlation,
            ))
            .await;
            checkpoint.created += run.created.count - before.0;
            checkpoint.updated += run.updated.count - before.1;
            checkpoint.unchanged += run.unchanged - before.2;
            checkpoint.failed += run.failed.count - before.3;
            for id in &run.failed.ids[ids_before..] {
                if checkpoint.failed_ids.len() < crate::sync_runs::MAX_IDS {
                    checkpoint.failed_ids.push(id.clone());
                }
            }
            run.vendor_calls = adapter.calls_made().saturating_sub(calls_before);
            checkpoint.vendor_calls = base_calls + run.vendor_calls;
            checkpoint.updated_at = self.clock().now();
            if let Err(e) = r {
                checkpoint.status = BackfillStatus::Failed;
                checkpoint.last_error = Some(format!("{}: {e}", step.label()));
                run.record_fatal(e.code(), &format!("{}: {e}", step.label()));
                outcome = Err(e);
                break;
            }
            checkpoint.steps_done = i + 1;
            if checkpoint.steps_done == steps.len() {
                checkpoint.status = BackfillStatus::Completed;
            }
            checkpoints.save(&checkpoint, retention).await?;
            progress.step_done(checkpoint.steps_done, step, &checkpoint);
        }
        run.finish(self.clock().now(), run.vendor_calls);
        if outcome.is_err() {
            // The failure is the one to report; the checkpoint is best effort here.
            let _ = checkpoints.save(&checkpoint, retention).await;
        }
        if let Err(e) = self.runs().record(&run, retention).await {
            tracing::warn!(code = e.code(), "the backfill run could not be recorded");
        }
        tracing::info!(
            hotel = %hotel,
            from = %from,
            to = %to,
            steps_done = checkpoint.steps_done,
            steps_total = checkpoint.steps_total,
            status = ?run.status,
            events = tally.events,
            "backfill finished"
        );
        debug_assert!(run.status != SyncRunStatus::Failed || outcome.is_err());
        outcome.map(|()| checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::{Currency, PropertyTz, Provider};

    #[test]
    fn plan_reads_dates_then_bounded_windows_covering_the_local_days() {
        let c = HotelConfig::new(
            HotelId::parse("h1").unwrap(),
            "H",
            Provider::named("mews"),
            PropertyTz::parse("Pacific/Honolulu").unwrap(),
            Currency::eur(),
            Utc::now(),
        );
        let from = BusinessDate::parse("2026-11-01").unwrap();
        let to = BusinessDate::parse("2026-11-10").unwrap();
        let steps = plan(&c, DeltaSupport::ModifiedSince, from, to);
        assert_eq!(steps.len(), 2 + 2);
        let seventh = BusinessDate::parse("2026-11-07").unwrap();
        assert_eq!(steps[0], Step::ArrivalsBetween(from, seventh));
        assert_eq!(steps[1], Step::ArrivalsBetween(seventh.add_days(1), to));
        let Step::Changed(w1) = &steps[2] else {
            panic!()
        };
        let Step::Changed(w2) = &steps[3] else {
            panic!()
        };
        assert_eq!(w1.from, c.time_zone.day_bounds(from).0);
        assert_eq!(w2.from, w1.to + Duration::milliseconds(1));
        assert_eq!(
            w2.to + Duration::milliseconds(1),
            c.time_zone.day_bounds(to).1
        );
        assert!(w1.to - w1.from < Duration::days(WINDOW_DAYS));
        // No window delta: the arrivals alone.
        assert_eq!(plan(&c, DeltaSupport::EventFeed, from, to).len(), 2);
    }
}
