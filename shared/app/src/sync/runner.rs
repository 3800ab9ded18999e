//! One run of one hotel's feed: claim the feed for the job's tick, read each step from the PMS,
//! merge what was read with the one merge rule ([`Merger`]), record the run, and move the tick
//! (and, for the reservations delta, the watermark) on. The sync worker, `pmsctl sync run` and
//! backfills all go through [`SyncService`].
//!
//! - A record the vendor could not serve or we could not map is counted as failed, the rest are
//!   stored, and the run is `partial`. Failed reservations are handed to a refresh job (its own
//!   retries, then the DLQ) so the watermark can move on without losing them.
//! - A step that cannot be read fails the run: it is recorded as `failed`, the feed is released
//!   without moving tick or watermark, and the error goes back to the queue, which retries the
//!   job and finally dead-letters it. What was stored before the failure stays (every write is
//!   conditional on versions, so it is never wrong, only incomplete).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;

use super::budget::Budget;
use super::feeds::{self, Read, Step};
use super::state::{Claim, FeedStates, Progress};
use super::SyncError;
use crate::jobs::{
    Continuation, Feed, FeedJob, FeedRan, FeedRunner, JobError, JobSource, RefreshJob, SyncJob,
};
use crate::obs::Metrics;
use crate::records::{MergeOutcome, MergeReport, Merger, ProvidedRoom};
use crate::registry::{HotelRegistry, RegistryError};
use crate::sync_runs::{SyncRun, SyncRuns};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{DeltaSupport, ExternalId, HotelId, Provider, Reservation};
use pms_domain::pms::{EntityKind, EntityRef, PageCursor, PmsAdapter, PmsError};
use pms_domain::ports::{Clock, Queue};
use pms_vendor_kit::pms::{ratelimit, AdapterFactory};

/// Records merged per call: bounds one merge's batch reads and concurrent writes.
const MERGE_CHUNK: usize = 500;

/// How long a run holds its feed. Longer than the worker's timeout (300 s), so a live run is
/// never taken over; short beside the queue's visibility timeout (1800 s), so the retry of a
/// run that died finds the feed free.
pub const DEFAULT_LEASE: Duration = Duration::seconds(360);

/// Why a job did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// The hotel or the feed is disabled.
    Disabled,
    /// The hotel is no longer configured (removed after the job was sent).
    NotConfigured,
    /// This tick, or a later one, already ran.
    AlreadyRan,
    /// A run of another tick holds the feed; the next tick covers this one.
    Superseded,
    /// A continuation the run no longer waits for (a duplicate delivery, or one a later tick's
    /// job overtook by resuming the run first).
    Stale,
    /// The invocation's time budget was spent before the job started (jobs before it in the
    /// batch used it): the job went back on the queue as it was, for another invocation.
    Deferred,
}

/// Where a run stands: steps before `step` are done; `cursor` is the vendor's position in
/// `step` (`None`: its first page).
#[derive(Clone, Debug, Default, PartialEq)]
struct Position {
    step: usize,
    cursor: Option<PageCursor>,
}

/// Whether a run honours the hotel's and the feed's `enabled` switches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunMode {
    /// The worker's runs: a disabled hotel or feed does nothing.
    #[default]
    Scheduled,
    /// An operator's explicit run (`pmsctl sync run --force`): runs even when disabled, so a
    /// hotel can be checked before it is enabled again.
    Forced,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FeedOutcome {
    Ran(Box<SyncRun>),
    Skipped(Skipped),
    /// The run's time budget was spent between pages: its progress is saved and a
    /// continuation job was sent, which goes on with it.
    Paused(Box<Progress>),
}

/// What a run did beyond its record: events published and table writes of merged records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunTally {
    pub events: u64,
    pub record_writes: u64,
    /// Reservations that failed, to be refreshed on their own.
    pub failed_refs: Vec<EntityRef>,
}

#[derive(Clone)]
pub struct SyncService {
    hotels: HotelRegistry,
    adapters: Arc<AdapterFactory>,
    merger: Merger,
    states: FeedStates,
    runs: SyncRuns,
    queue: Arc<dyn Queue>,
    sync_queue_url: String,
    clock: Arc<dyn Clock>,
    lease: Duration,
    metrics_namespace: Option<String>,
    /// How long a run reads before it pauses, when no budget is in scope (`None`: to its end).
    budget: Option<StdDuration>,
}

impl SyncService {
    pub fn new(services: &crate::runtime::Services) -> Self {
        Self {
            hotels: services.hotels.clone(),
            adapters: services.adapters.clone(),
            merger: services.merger.clone(),
            states: FeedStates::new(services.store.clone()),
            runs: SyncRuns::new(services.store.clone()),
            queue: services.queue.clone(),
            sync_queue_url: services.names.sync_queue_url.clone(),
            clock: services.clock.clone(),
            lease: DEFAULT_LEASE,
            metrics_namespace: None,
            budget: None,
        }
    }

    /// A run outside a worker's budget scope reads for at most `budget`, then pauses and sends
    /// its continuation (see [`super::budget`]).
    pub fn with_run_budget(mut self, budget: StdDuration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Writes one EMF metrics line per run (the worker; the CLI prints instead).
    pub fn with_metrics(mut self, namespace: impl Into<String>) -> Self {
        self.metrics_namespace = Some(namespace.into());
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn states(&self) -> &FeedStates {
        &self.states
    }

    pub fn runs(&self) -> &SyncRuns {
        &self.runs
    }

    pub(super) fn hotels(&self) -> &HotelRegistry {
        &self.hotels
    }

    pub(super) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Runs one feed job (the worker's path, and `pmsctl sync run`'s).
    pub async fn run_job(&self, job: &FeedJob) -> Result<FeedOutcome, SyncError> {
        self.run_job_with(job, RunMode::Scheduled).await
    }

    /// Runs one feed job, honouring the enabled switches or not (see [`RunMode`]).
    ///
    /// A run reads page by page. When a time budget is in force ([`super::budget`], or the
    /// service's default) and the next page could not end before it, the run stops between
    /// pages: its progress (step, vendor cursor, record so far) is kept in the feed's state and
    /// a continuation job goes on the queue, which the next invocation resumes. The watermark
    /// and the tick move only when the whole run completes, so a run that dies mid-way is
    /// re-read from its last saved page, never skipped.
    pub async fn run_job_with(
        &self,
        job: &FeedJob,
        mode: RunMode,
    ) -> Result<FeedOutcome, SyncError> {
        let now = self.clock.now();
        let budget = super::budget::current().or_else(|| {
            self.budget
                .map(|b| Budget::until(tokio::time::Instant::now() + b))
        });
        let config = match self.hotels.require(&job.hotel).await {
            Ok(c) => c,
            Err(RegistryError::NotConfigured(_)) => {
                return Ok(FeedOutcome::Skipped(Skipped::NotConfigured))
            }
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("provider", config.provider.as_str());
        let enabled = config.enabled && config.sync.feed(job.feed).enabled;
        if !enabled && mode == RunMode::Scheduled {
            return Ok(FeedOutcome::Skipped(Skipped::Disabled));
        }
        if budget.as_ref().is_some_and(|b| b.spent()) {
            // Not even one page would end in time: another invocation takes the job whole.
            self.queue
                .send(
                    &self.sync_queue_url,
                    SyncJob::Feed(job.clone()).to_message()?,
                )
                .await?;
            return Ok(FeedOutcome::Skipped(Skipped::Deferred));
        }
        let fresh_id = uuid::Uuid::new_v4().to_string();
        let claimed = match self
            .states
            .claim_run(
                &job.hotel,
                job.feed,
                job.scheduled_at,
                &fresh_id,
                job.continuation.as_ref(),
                now,
                self.lease,
            )
            .await?
        {
            Claim::AlreadyRan { .. } => return Ok(FeedOutcome::Skipped(Skipped::AlreadyRan)),
            Claim::Stale => return Ok(FeedOutcome::Skipped(Skipped::Stale)),
            Claim::Busy { lease } if lease.tick == job.scheduled_at => {
                // Our own tick: the holder may yet fail, so this delivery must not be dropped.
                let left = (lease.until - now).to_std().unwrap_or_default();
                return Err(SyncError::InProgress {
                    feed: job.feed,
                    retry_after: left.max(StdDuration::from_secs(1)),
                });
            }
            Claim::Busy { .. } => return Ok(FeedOutcome::Skipped(Skipped::Superseded)),
            Claim::Acquired { claimed, .. } => claimed,
        };

        let resumed = claimed.progress.clone();
        let (mut run, start, at, mut tally, segment, invocations) = match resumed {
            Some(p) => {
                let p = *p;
                let tally = RunTally {
                    events: p.events,
                    record_writes: p.record_writes,
                    failed_refs: p.failed_refs,
                };
                let at = Position {
                    step: p.step,
                    cursor: p.cursor,
                };
                (p.run, p.started_at, at, tally, p.segment, p.invocations + 1)
            }
            None => {
                let mut run = SyncRun::start(fresh_id, job.hotel.clone(), job.feed.as_str(), now);
                run.correlation_id = Some(job.correlation_id.clone());
                (run, now, Position::default(), RunTally::default(), 0, 1)
            }
        };
        let calls_before = run.vendor_calls;
        let plan = |delta| feeds::steps(job.feed, &config, delta, claimed.watermark, start);
        // A run makes many calls with merges between them: it leases lanes of the vendor's
        // budget, not permits (see `ratelimit::bulk`).
        let (result, calls, left) = ratelimit::bulk(self.execute(
            &config,
            plan,
            &mut run,
            &mut tally,
            &job.correlation_id,
            at.clone(),
            budget.as_deref(),
        ))
        .await;
        run.vendor_calls = calls_before + calls;
        let progress = |at: Position, segment: u32, run: &SyncRun, tally: &RunTally| Progress {
            run_id: run.run_id.clone(),
            tick: claimed.lease.as_ref().map_or(job.scheduled_at, |l| l.tick),
            started_at: start,
            step: at.step,
            cursor: at.cursor,
            segment,
            invocations,
            run: run.clone(),
            events: tally.events,
            record_writes: tally.record_writes,
            failed_refs: tally.failed_refs.clone(),
        };
        let result = match (result, left) {
            (Ok(()), Some(next)) => {
                // The budget is spent: keep the progress, send the continuation.
                let segment = segment + 1;
                let p = progress(next, segment, &run, &tally);
                if !self.states.pause(&claimed, p.clone()).await? {
                    tracing::warn!(
                        feed = %job.feed,
                        run_id = %run.run_id,
                        "the feed's lease was taken over before this run could pause"
                    );
                    return Ok(FeedOutcome::Skipped(Skipped::Superseded));
                }
                let continuation = FeedJob {
                    continuation: Some(Continuation {
                        run_id: run.run_id.clone(),
                        segment,
                    }),
                    ..job.clone()
                };
                // If this send fails the job fails and its retry (or the next tick's job) takes
                // the run up from the progress just saved.
                self.queue
                    .send(
                        &self.sync_queue_url,
                        SyncJob::Feed(continuation).to_message()?,
                    )
                    .await?;
                tracing::info!(
                    feed = %job.feed,
                    run_id = %run.run_id,
                    step = p.step,
                    segment,
                    invocations,
                    vendor_calls = run.vendor_calls,
                    "sync run paused between pages; a continuation job goes on"
                );
                return Ok(FeedOutcome::Paused(Box::new(p)));
            }
            (Ok(()), None) => self.follow_up(&job.hotel, job.feed, &run, &tally).await,
            (Err(e), left) => {
                // Pages already stored are kept: the retry resumes at the page that failed.
                let moved = left.as_ref().is_some_and(|l| *l != Position::default());
                if let Some(next) = left.filter(|_| moved) {
                    let p = progress(next, segment, &run, &tally);
                    match self.states.pause(&claimed, p).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("the feed's lease was taken over"),
                        Err(re) => tracing::warn!(
                            code = re.code(),
                            "the failed run's progress could not be kept; its lease runs out"
                        ),
                    }
                    run.record_fatal(e.code(), &e.to_string());
                    run.finish(self.clock.now(), run.vendor_calls);
                    self.report(&config, &run, &tally, Some(&e));
                    if let Err(re) = self.runs.record(&run, config.sync.run_retention_days).await {
                        tracing::warn!(code = re.code(), "the failed run could not be recorded");
                    }
                    return Err(e);
                }
                Err(e)
            }
        };
        match result {
            Ok(()) => {
                run.finish(self.clock.now(), run.vendor_calls);
                // A run that changed nothing is kept as the feed's latest run, in the
                // completion's write (see `sync_runs`); the others get their own record too.
                let quiet = run.is_quiet();
                if !quiet {
                    self.runs
                        .record(&run, config.sync.run_retention_days)
                        .await?;
                }
                // The watermark becomes this run's start: anything changed since is in the
                // next window.
                let watermark = (job.feed == Feed::Reservations).then_some(start);
                if !self.states.complete(&claimed, watermark, &run).await? {
                    tracing::warn!(
                        feed = %job.feed,
                        run_id = %run.run_id,
                        "the feed's lease was taken over before this run completed"
                    );
                    if quiet {
                        // Its successor's state is not ours to write: record the run apart.
                        self.runs
                            .record(&run, config.sync.run_retention_days)
                            .await?;
                    }
                }
                self.report(&config, &run, &tally, None);
                Ok(FeedOutcome::Ran(Box::new(run)))
            }
            Err(e) => {
                run.record_fatal(e.code(), &e.to_string());
                run.finish(self.clock.now(), run.vendor_calls);
                self.report(&config, &run, &tally, Some(&e));
                // Best effort: the error itself is what the queue must see.
                if let Err(re) = self.runs.record(&run, config.sync.run_retention_days).await {
                    tracing::warn!(code = re.code(), "the failed run could not be recorded");
                }
                if let Err(re) = self.states.release(&claimed).await {
                    tracing::warn!(
                        code = re.code(),
                        "the feed could not be released; its lease runs out"
                    );
                }
                Err(e)
            }
        }
    }

    /// Reads and merges the steps `plan` gives for the vendor's delta mechanism, in order and
    /// page by page from `at`, into `run`, until they are done or the `budget` is spent.
    /// Returns the outcome, the vendor calls made, and where the run stands when it stopped
    /// before the end (for an error: the page that failed).
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        config: &HotelConfig,
        plan: impl FnOnce(DeltaSupport) -> Vec<Step>,
        run: &mut SyncRun,
        tally: &mut RunTally,
        correlation: &str,
        mut at: Position,
        budget: Option<&Budget>,
    ) -> (Result<(), SyncError>, u64, Option<Position>) {
        let adapter = match self.adapter(config).await {
            Ok(a) => a,
            Err(e) => return (Err(e), 0, Some(at)),
        };
        let steps = plan(adapter.capabilities().delta);
        let calls_before = adapter.calls_made();
        let calls = |a: &dyn PmsAdapter| a.calls_made().saturating_sub(calls_before);
        let mut pages = 0u32;
        while let Some(step) = steps.get(at.step) {
            // At least one page per job, so a run always moves on (a job that starts with the
            // budget spent does not start: see `run_job_with`).
            if pages > 0 && budget.is_some_and(Budget::spent) {
                return (Ok(()), calls(adapter.as_ref()), Some(at));
            }
            let began = tokio::time::Instant::now();
            match self
                .page(
                    config,
                    adapter.as_ref(),
                    step,
                    at.cursor.as_ref(),
                    run,
                    tally,
                    correlation,
                )
                .await
            {
                Ok(Some(next)) => at.cursor = Some(next),
                Ok(None) => {
                    at = Position {
                        step: at.step + 1,
                        cursor: None,
                    }
                }
                Err(e) => return (Err(e), calls(adapter.as_ref()), Some(at)),
            }
            pages += 1;
            if let Some(b) = budget {
                b.record_page(began.elapsed());
            }
        }
        (Ok(()), calls(adapter.as_ref()), None)
    }

    pub(super) async fn adapter(
        &self,
        config: &HotelConfig,
    ) -> Result<Arc<dyn PmsAdapter>, SyncError> {
        match self.adapters.adapter_for(config).await {
            Ok(a) => Ok(a),
            Err(e) => {
                if matches!(e, PmsError::Unauthorized { .. }) {
                    self.adapters.invalidate(&config.hotel_id).await;
                }
                Err(e.into())
            }
        }
    }

    pub(super) async fn step(
        &self,
        config: &HotelConfig,
        adapter: &dyn PmsAdapter,
        step: &Step,
        run: &mut SyncRun,
        tally: &mut RunTally,
        correlation: &str,
    ) -> Result<(), SyncError> {
        let read = feeds::read(adapter, step).await;
        self.store(config, adapter, step, read, run, tally, correlation)
            .await
    }

    /// One page of `step` from `cursor`, stored; the cursor of the next page, if any.
    #[allow(clippy::too_many_arguments)]
    async fn page(
        &self,
        config: &HotelConfig,
        adapter: &dyn PmsAdapter,
        step: &Step,
        cursor: Option<&PageCursor>,
        run: &mut SyncRun,
        tally: &mut RunTally,
        correlation: &str,
    ) -> Result<Option<PageCursor>, SyncError> {
        let (read, next) = match feeds::read_page(adapter, step, cursor).await {
            Ok((read, next)) => (Ok(read), next),
            Err(e) => (Err(e), None),
        };
        self.store(config, adapter, step, read, run, tally, correlation)
            .await?;
        Ok(next)
    }

    /// Merges what a step (or a page of it) read.
    #[allow(clippy::too_many_arguments)]
    async fn store(
        &self,
        config: &HotelConfig,
        adapter: &dyn PmsAdapter,
        step: &Step,
        read: Result<Read, PmsError>,
        run: &mut SyncRun,
        tally: &mut RunTally,
        correlation: &str,
    ) -> Result<(), SyncError> {
        let hotel = &config.hotel_id;
        let read = match read {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, PmsError::Unauthorized { .. }) {
                    // Credentials may have been rotated: the retry re-reads them.
                    self.adapters.invalidate(hotel).await;
                }
                tracing::warn!(
                    step = %step.label(),
                    code = e.code(),
                    retryable = e.is_retryable(),
                    request_id = e.request_id(),
                    "sync read failed"
                );
                return Err(e.into());
            }
        };
        match read {
            Read::Reservations(fetched) => {
                for f in fetched.failures {
                    tracing::warn!(entity_id = %f.id, code = %f.code, step = %step.label(), "record not synced");
                    if let Ok(id) = ExternalId::parse(f.id.as_str()) {
                        let r = EntityRef {
                            kind: EntityKind::Reservation,
                            id,
                        };
                        if !tally.failed_refs.contains(&r) {
                            tally.failed_refs.push(r);
                        }
                    }
                    run.record_failed(f.id, &f.code, &f.message);
                }
                let mut items: Vec<Reservation> = fetched.items;
                while !items.is_empty() {
                    let rest = items.split_off(items.len().min(MERGE_CHUNK));
                    let report = self.merger.merge(hotel, items, Some(correlation)).await?;
                    absorb(run, tally, &report);
                    items = rest;
                }
            }
            Read::Rooms(rooms) => {
                let provider: Provider = adapter.provider();
                let rooms: Vec<ProvidedRoom> = rooms
                    .into_iter()
                    .map(|room| ProvidedRoom { provider, room })
                    .collect();
                for chunk in rooms.chunks(MERGE_CHUNK) {
                    let report = self
                        .merger
                        .merge(hotel, chunk.to_vec(), Some(correlation))
                        .await?;
                    absorb(run, tally, &report);
                }
            }
            Read::Availability(nights) => {
                // Versioned by the run's start: a run that began later is the newer read.
                let nights = super::availability::synced(config, nights, run.started_at);
                for chunk in nights.chunks(MERGE_CHUNK) {
                    let report = self
                        .merger
                        .merge(hotel, chunk.to_vec(), Some(correlation))
                        .await?;
                    absorb(run, tally, &report);
                }
            }
        }
        Ok(())
    }

    /// Hands reservations that failed to refresh jobs.
    async fn follow_up(
        &self,
        hotel: &HotelId,
        feed: Feed,
        run: &SyncRun,
        tally: &RunTally,
    ) -> Result<(), SyncError> {
        if tally.failed_refs.is_empty() {
            return Ok(());
        }
        let source = JobSource::Sync {
            feed,
            run_id: run.run_id.clone(),
        };
        let correlation = run.correlation_id.as_deref().unwrap_or(&run.run_id);
        let messages = RefreshJob::split(
            hotel,
            &tally.failed_refs,
            &source,
            self.clock.now(),
            correlation,
        )
        .into_iter()
        .map(|j| SyncJob::Refresh(j).to_message())
        .collect::<Result<_, _>>()?;
        let failures = self
            .queue
            .send_batch(&self.sync_queue_url, messages)
            .await?;
        if let Some(f) = failures.into_iter().next() {
            return Err(f.error.into());
        }
        Ok(())
    }

    fn report(&self, config: &HotelConfig, run: &SyncRun, tally: &RunTally, e: Option<&SyncError>) {
        tracing::info!(
            hotel = %run.hotel_id,
            feed = %run.feed,
            run_id = %run.run_id,
            status = ?run.status,
            created = run.created.count,
            updated = run.updated.count,
            unchanged = run.unchanged,
            failed = run.failed.count,
            events = tally.events,
            record_writes = tally.record_writes,
            vendor_calls = run.vendor_calls,
            duration_ms = run.duration_ms,
            error_code = e.map(SyncError::code),
            "sync run finished"
        );
        let Some(ns) = &self.metrics_namespace else {
            return;
        };
        let m = Metrics::new(ns, "sync-worker");
        m.set_provider(config.provider.as_str());
        m.set_hotel(run.hotel_id.as_str());
        m.property("feed", run.feed.clone());
        m.count("SyncRuns", 1);
        m.count(
            "SyncRunsFailed",
            u64::from(run.status == crate::sync_runs::SyncRunStatus::Failed),
        );
        m.count("RecordsCreated", run.created.count);
        m.count("RecordsUpdated", run.updated.count);
        m.count("RecordsFailed", run.failed.count);
        m.count("EventsPublished", tally.events);
        m.count("VendorCalls", run.vendor_calls);
        m.duration("SyncRunDuration", StdDuration::from_millis(run.duration_ms));
        m.flush();
    }
}

fn absorb(run: &mut SyncRun, tally: &mut RunTally, report: &MergeReport) {
    for (id, outcome) in &report.outcomes {
        match outcome {
            MergeOutcome::Created => run.record_created(id.clone()),
            MergeOutcome::Updated => run.record_updated(id.clone()),
            MergeOutcome::NotApplied { .. } => run.record_unchanged(1),
        }
    }
    tally.events += report.events.len() as u64;
    tally.record_writes += report.writes;
}

#[async_trait::async_trait]
impl FeedRunner for SyncService {
    async fn run(&self, job: &FeedJob) -> Result<FeedRan, JobError> {
        match self.run_job(job).await {
            // A paused run read pages: the PMS answered.
            Ok(FeedOutcome::Ran(_) | FeedOutcome::Paused(_)) => Ok(FeedRan::Ran),
            Ok(FeedOutcome::Skipped(why)) => {
                tracing::info!(feed = %job.feed, skipped = ?why, "feed job skipped");
                Ok(FeedRan::Skipped)
            }
            Err(e) => Err(e.into()),
        }
    }
}
