//! `pmsctl sync`: run a hotel's sync now (the worker's code path, in process), backfill a date
//! range (resumable), and show recent runs and the feeds' state.

use chrono::Utc;
use clap::Subcommand;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use pms_app::audit::{OpsAction, OpsEntry};
use pms_app::jobs::{Feed, FeedJob, Lane};
use pms_app::sync::backfill::BackfillProgress;
use pms_app::sync::feeds::Step;
use pms_app::sync::{Checkpoint, Checkpoints, FeedOutcome, RunMode, SyncService};
use pms_app::sync_dlq::{Progress, Selection, SyncDeadLetters};
use pms_app::sync_runs::SyncRun;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{BusinessDate, HotelId};

use super::{audited, failure, operator, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Runs the hotel's enabled feeds (or one) now, exactly as the sync worker would. A
    /// disabled hotel or feed is refused (exit 2) unless --force is given.
    Run {
        #[arg(long)]
        hotel: String,
        /// arrivals, departures, in_house, room_status, reservations or availability (default:
        /// every enabled feed).
        #[arg(long)]
        feed: Option<String>,
        /// Run even though the hotel (or the feed) is disabled, e.g. to check it before
        /// `hotel enable`; with no --feed, every feed runs.
        #[arg(long)]
        force: bool,
    },
    /// Re-reads a date range (arrivals by date, and the reservations delta in windows where
    /// the vendor has one). Resumes where an interrupted backfill of the same range stopped.
    Backfill {
        #[arg(long)]
        hotel: String,
        /// First property-local date (YYYY-MM-DD).
        #[arg(long)]
        from: String,
        /// Last property-local date, inclusive.
        #[arg(long)]
        to: String,
        /// Start over even if a checkpoint of this range exists.
        #[arg(long)]
        restart: bool,
    },
    /// The dead letters of the sync queue (feed jobs and the refreshes they hand on) or, with
    /// `--queue refresh`, of the refresh queue (webhook refreshes): jobs that failed every
    /// delivery.
    Dlq {
        /// Which queue's DLQ: `sync` (scheduled feeds) or `refresh` (webhook refreshes).
        #[arg(long, global = true, value_enum, default_value_t = DlqQueue::Sync)]
        queue: DlqQueue,
        #[command(subcommand)]
        cmd: SyncDlqCommand,
    },
    /// The hotel's latest sync runs and its feeds' tick and watermark.
    Status {
        #[arg(long)]
        hotel: String,
        #[arg(long, default_value_t = 10)]
        last: u32,
    },
}

/// The worker's two queues, each with its DLQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DlqQueue {
    Sync,
    Refresh,
}

impl DlqQueue {
    fn lane(self) -> Lane {
        match self {
            DlqQueue::Sync => Lane::Bulk,
            DlqQueue::Refresh => Lane::Refresh,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SyncDlqCommand {
    /// Lists the sync DLQ's messages (oldest first): kind, hotel, what for, correlation id.
    List {
        #[arg(long)]
        hotel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Shows one message in full: what `list` shows and the job's JSON.
    Show { message_id: String },
    /// Puts messages back on the sync queue: these ids, or --all (of --hotel). The whole DLQ
    /// moves by SQS StartMessageMoveTask where the endpoint has it; with progress.
    Redrive {
        message_ids: Vec<String>,
        #[arg(long, conflicts_with = "message_ids")]
        all: bool,
        #[arg(long, requires = "all")]
        hotel: Option<String>,
    },
    /// Deletes messages for good: these ids, or --all (of --hotel). Asks first unless --yes.
    Purge {
        message_ids: Vec<String>,
        #[arg(long, conflicts_with = "message_ids")]
        all: bool,
        #[arg(long, requires = "all")]
        hotel: Option<String>,
        #[arg(long)]
        yes: bool,
    },
}

struct MoveBar(ProgressBar);

impl Progress for MoveBar {
    fn begin(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advanced(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }
}

fn move_bar() -> MoveBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    MoveBar(bar)
}

fn selection(ids: Vec<String>, all: bool, hotel: Option<String>) -> CtlResult<Selection> {
    if all {
        return Ok(Selection::All {
            hotel: hotel.as_deref().map(HotelId::parse).transpose()?,
        });
    }
    if ids.is_empty() {
        return Err(CtlError::Usage("give message ids or --all".into()));
    }
    if let Some(bad) = ids
        .iter()
        .find(|i| i.is_empty() || i.len() > 100 || !i.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(CtlError::Usage(format!("{bad:?} is not a message id")));
    }
    Ok(Selection::Ids(ids))
}

async fn sync_dlq(
    queue: DlqQueue,
    cmd: SyncDlqCommand,
    target: impl FnOnce() -> CtlResult<Target>,
) -> CtlResult<()> {
    // Input first: bad flags touch nothing.
    let (sel, purge, yes) = match &cmd {
        SyncDlqCommand::Redrive {
            message_ids,
            all,
            hotel,
        } => (
            Some(selection(message_ids.clone(), *all, hotel.clone())?),
            false,
            true,
        ),
        SyncDlqCommand::Purge {
            message_ids,
            all,
            hotel,
            yes,
        } => (
            Some(selection(message_ids.clone(), *all, hotel.clone())?),
            true,
            *yes,
        ),
        SyncDlqCommand::List { hotel, .. } => {
            hotel.as_deref().map(HotelId::parse).transpose()?;
            (None, false, true)
        }
        SyncDlqCommand::Show { .. } => (None, false, true),
    };
    if purge && !yes {
        use std::io::IsTerminal as _;
        if !std::io::stdin().is_terminal() {
            return Err(CtlError::Usage(
                "purging deletes the jobs for good: confirm with --yes".into(),
            ));
        }
        eprintln!("purge deletes these jobs for good; type purge to confirm:");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if line.trim() != "purge" {
            return Err(CtlError::Usage("not confirmed: nothing was purged".into()));
        }
    }
    let svc = services(target()?).await;
    let lane = queue.lane();
    let (dlq_url, source_url) = match lane {
        Lane::Bulk => (&svc.names.sync_dlq_url, &svc.names.sync_queue_url),
        Lane::Refresh => (&svc.names.refresh_dlq_url, &svc.names.refresh_queue_url),
    };
    let dlq = SyncDeadLetters::new(svc.queue.clone(), dlq_url.clone(), source_url.clone());
    let dlq_name = format!("{} DLQ", lane.as_str());
    match cmd {
        SyncDlqCommand::List { hotel, json } => {
            let hotel = hotel.as_deref().map(HotelId::parse).transpose()?;
            let items = dlq.list(hotel.as_ref()).await.map_err(failure)?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&items).map_err(failure)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header([
                "message id",
                "kind",
                "hotel",
                "what",
                "sent",
                "correlation id",
            ]);
            for d in &items {
                table.add_row([
                    d.message_id.clone(),
                    d.kind.clone(),
                    d.hotel
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    d.detail.clone(),
                    d.sent_at
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    d.correlation_id.clone().unwrap_or_default(),
                ]);
            }
            crate::outln!("{table}");
            crate::outln!("{} message(s) in the {dlq_name}", items.len());
            Ok(())
        }
        SyncDlqCommand::Show { message_id } => {
            let d = dlq
                .show(&message_id)
                .await
                .map_err(failure)?
                .ok_or_else(|| {
                    CtlError::NotFound(format!("no message {message_id} in the {dlq_name}"))
                })?;
            let mut v = serde_json::to_value(&d).map_err(failure)?;
            v["job"] = serde_json::from_str(d.body()).unwrap_or_else(|_| d.body().into());
            crate::outln!("{}", serde_json::to_string_pretty(&v).map_err(failure)?);
            Ok(())
        }
        SyncDlqCommand::Redrive { .. } | SyncDlqCommand::Purge { .. } => {
            let sel = sel.ok_or_else(|| CtlError::Usage("nothing selected".into()))?;
            let bar = move_bar();
            let result = if purge {
                dlq.purge(&sel, &bar).await
            } else {
                dlq.redrive(&sel, &bar).await
            };
            bar.0.finish_and_clear();
            let report = result.map_err(failure)?;
            let (action, verb) = if purge {
                (OpsAction::SyncDeadLettersPurged, "purged")
            } else {
                (OpsAction::SyncDeadLettersRedriven, "redriven")
            };
            let who = operator();
            let now = svc.clock.now();
            audited(
                &svc,
                report.by_hotel.iter().filter_map(|(h, n)| {
                    let h = HotelId::parse(h).ok()?;
                    Some(
                        OpsEntry::new(&h, &who, action, now)
                            .note(format!("{n} job(s) {verb} ({dlq_name})")),
                    )
                }),
            )
            .await?;
            crate::outln!(
                "{verb} {} message(s){}",
                report.done,
                if report.used_move_task {
                    " by StartMessageMoveTask"
                } else {
                    ""
                }
            );
            for (h, n) in &report.by_hotel {
                crate::outln!("  {h}: {n}");
            }
            if let Some(f) = report.move_task_failure {
                return Err(CtlError::Failure(format!("the move task stopped: {f}")));
            }
            if !report.missing.is_empty() {
                return Err(CtlError::NotFound(format!(
                    "not in the {dlq_name}: {}",
                    report.missing.join(", ")
                )));
            }
            Ok(())
        }
    }
}

fn runs_table(runs: &[SyncRun]) -> Table {
    let mut table = Table::new();
    table.set_header([
        "started",
        "feed",
        "status",
        "created",
        "updated",
        "unchanged",
        "failed",
        "calls",
        "ms",
        "first error",
    ]);
    for r in runs {
        table.add_row([
            r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.feed.clone(),
            format!("{:?}", r.status).to_lowercase(),
            r.created.count.to_string(),
            r.updated.count.to_string(),
            r.unchanged.to_string(),
            r.failed.count.to_string(),
            r.vendor_calls.to_string(),
            r.duration_ms.to_string(),
            r.errors
                .first()
                .map(|e| match &e.entity_id {
                    Some(id) => format!("{} {id}: {}", e.code, e.message),
                    None => format!("{}: {}", e.code, e.message),
                })
                .unwrap_or_default(),
        ]);
    }
    table
}

struct Bar(ProgressBar);

impl BackfillProgress for Bar {
    fn begin(&self, total: usize, done: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
        if done > 0 {
            self.0
                .println(format!("resuming after {done} of {total} steps"));
        }
    }

    fn step_done(&self, done: usize, step: &Step, c: &Checkpoint) {
        self.0.set_position(done as u64);
        self.0.set_message(format!(
            "{} (created {}, updated {}, failed {})",
            step.label(),
            c.created,
            c.updated,
            c.failed
        ));
    }
}

fn summary(c: &Checkpoint) {
    let mut table = Table::new();
    table.set_header([
        "range",
        "status",
        "steps",
        "created",
        "updated",
        "unchanged",
        "failed",
        "calls",
    ]);
    table.add_row([
        format!("{} .. {}", c.from, c.to),
        format!("{:?}", c.status).to_lowercase(),
        format!("{}/{}", c.steps_done, c.steps_total),
        c.created.to_string(),
        c.updated.to_string(),
        c.unchanged.to_string(),
        c.failed.to_string(),
        c.vendor_calls.to_string(),
    ]);
    crate::outln!("{table}");
    if !c.failed_ids.is_empty() {
        crate::outln!("failed ids: {}", c.failed_ids.join(", "));
    }
    if let Some(e) = &c.last_error {
        crate::outln!("stopped at: {e}");
    }
}

/// Which of `feeds` run (with whether each is enabled), or why nothing may: a run the worker
/// would skip is refused rather than reported as done, unless forced.
fn runnable_feeds(
    config: &HotelConfig,
    feeds: Vec<Feed>,
    named: bool,
    force: bool,
) -> CtlResult<Vec<(Feed, bool)>> {
    if force {
        return Ok(feeds.into_iter().map(|f| (f, true)).collect());
    }
    let hotel = &config.hotel_id;
    if !config.enabled {
        return Err(CtlError::Usage(format!(
            "hotel {hotel} is disabled, so nothing was run (the scheduler skips it too): `pmsctl hotel enable --hotel {hotel}`, or add --force to run it anyway"
        )));
    }
    let with_state: Vec<(Feed, bool)> = feeds
        .into_iter()
        .map(|f| (f, config.sync.feed(f).enabled))
        .collect();
    if with_state.iter().all(|(_, enabled)| !enabled) {
        let which = match with_state.first() {
            Some((feed, _)) if named => format!("feed {feed} of hotel {hotel} is disabled"),
            _ => format!("every feed of hotel {hotel} is disabled"),
        };
        return Err(CtlError::Usage(format!(
            "{which}, so nothing was run: add --force to run it anyway"
        )));
    }
    Ok(with_state)
}

pub async fn run(cmd: SyncCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    match cmd {
        SyncCommand::Dlq { queue, cmd } => sync_dlq(queue, cmd, target).await,
        SyncCommand::Run { hotel, feed, force } => {
            let hotel = HotelId::parse(hotel)?;
            let feeds: Vec<Feed> = match feed.as_deref() {
                Some(f) => vec![Feed::parse(f).ok_or_else(|| {
                    CtlError::Usage(format!(
                        "unknown feed {f:?} (arrivals, departures, in_house, room_status, reservations, availability)"
                    ))
                })?],
                None => Feed::ALL.to_vec(),
            };
            let svc = services(target()?).await;
            let config = svc
                .hotels
                .get(&hotel)
                .await
                .map_err(failure)?
                .ok_or_else(|| CtlError::NotFound(format!("hotel {hotel} is not configured")))?;
            let feeds = runnable_feeds(&config, feeds, feed.is_some(), force)?;
            let mode = if force {
                RunMode::Forced
            } else {
                RunMode::Scheduled
            };
            let sync = SyncService::new(&svc);
            let now = Utc::now();
            let correlation = pms_app::obs::new_correlation_id();
            let mut runs = Vec::new();
            let mut failed = None;
            for (feed, enabled) in feeds {
                if !enabled {
                    crate::outln!("{feed}: disabled (not run)");
                    continue;
                }
                let job = FeedJob {
                    hotel: hotel.clone(),
                    feed,
                    scheduled_at: now,
                    correlation_id: correlation.clone(),
                    continuation: None,
                };
                match sync.run_job_with(&job, mode).await {
                    Ok(FeedOutcome::Ran(run)) => runs.push(*run),
                    Ok(FeedOutcome::Skipped(why)) => {
                        crate::outln!("{feed}: skipped ({why:?})");
                    }
                    // Only with a run budget, which `sync run` does not set; said if it happens.
                    Ok(FeedOutcome::Paused(p)) => {
                        crate::outln!(
                            "{feed}: paused at step {} (run {}); the sync worker goes on with it",
                            p.step,
                            p.run_id
                        );
                    }
                    Err(e) => {
                        crate::outln!("{feed}: failed ({}): {e}", e.code());
                        failed.get_or_insert(e);
                    }
                }
            }
            // Failed runs are recorded too: show them from the store.
            let recorded = sync.runs().list(&hotel, 10).await.map_err(failure)?;
            let shown: Vec<SyncRun> = recorded
                .into_iter()
                .filter(|r| r.correlation_id.as_deref() == Some(correlation.as_str()))
                .rev()
                .collect();
            crate::outln!(
                "{}",
                runs_table(if shown.is_empty() { &runs } else { &shown })
            );
            match failed {
                Some(e) => Err(CtlError::Failure(format!("sync failed: {e}"))),
                None => Ok(()),
            }
        }
        SyncCommand::Backfill {
            hotel,
            from,
            to,
            restart,
        } => {
            let hotel = HotelId::parse(hotel)?;
            let from = BusinessDate::parse(&from)?;
            let to = BusinessDate::parse(&to)?;
            if to < from {
                return Err(CtlError::Usage(format!(
                    "--to ({to}) is before --from ({from})"
                )));
            }
            let svc = services(target()?).await;
            let sync = SyncService::new(&svc);
            let checkpoints = Checkpoints::new(svc.store.clone());
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let progress = Bar(bar);
            let result = sync
                .backfill(&checkpoints, &hotel, from, to, restart, &progress)
                .await;
            progress.0.finish_and_clear();
            match result {
                Ok(c) => {
                    summary(&c);
                    Ok(())
                }
                Err(e) => {
                    if let Ok(Some(c)) = checkpoints.get(&hotel, from, to).await {
                        summary(&c);
                    }
                    Err(match e {
                        pms_app::sync::SyncError::Invalid(m) => CtlError::Usage(m),
                        e => CtlError::Failure(format!(
                            "backfill stopped ({}): {e}; run the same command again to resume",
                            e.code()
                        )),
                    })
                }
            }
        }
        SyncCommand::Status { hotel, last } => {
            let hotel = HotelId::parse(hotel)?;
            let svc = services(target()?).await;
            let sync = SyncService::new(&svc);
            let mut table = Table::new();
            table.set_header(["feed", "last tick", "watermark", "running"]);
            for feed in Feed::ALL {
                let s = sync.states().get(&hotel, feed).await.map_err(failure)?;
                let fmt = |t: Option<chrono::DateTime<Utc>>| {
                    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "-".into())
                };
                table.add_row([
                    feed.to_string(),
                    fmt(s.as_ref().and_then(|s| s.last_tick)),
                    fmt(s.as_ref().and_then(|s| s.watermark)),
                    s.and_then(|s| s.lease)
                        .filter(|l| l.until > Utc::now())
                        .map(|l| format!("until {}", l.until.format("%H:%M:%S")))
                        .unwrap_or_default(),
                ]);
            }
            crate::outln!("{table}");
            let runs = sync.runs().list(&hotel, last).await.map_err(failure)?;
            crate::outln!("{}", runs_table(&runs));
            Ok(())
        }
    }
}
