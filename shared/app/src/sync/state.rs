//! Per hotel and feed sync state: `H#<hotel>` / `SYNCSTATE#<feed>`. One item holds the last tick
//! that completed (so a repeated or late job of a tick already run is refused), the reservations
//! watermark, and the lease of the run holding the feed now (so two runs of one feed never
//! overlap). Every write is conditional on the revision read, so concurrent claimers cannot both
//! win and a run whose lease was taken over cannot overwrite its successor's state.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::jobs::{Continuation, Feed};
use crate::sync_runs::{SyncRun, FEED_STATE_PREFIX};
use pms_domain::domain::HotelId;
use pms_domain::pms::{EntityRef, PageCursor};
use pms_domain::ports::{Condition, Item, ItemKey, ItemStore, PortResult, PutOutcome};

fn key(hotel: &HotelId, feed: Feed) -> ItemKey {
    ItemKey::hotel(hotel, format!("{FEED_STATE_PREFIX}{feed}"))
}

/// The run holding a feed, until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub run_id: String,
    pub tick: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// A run that stopped between pages, its time budget spent, to go on in another invocation.
/// Everything the next invocation needs is here: the run's start (its plan and, at the end,
/// the watermark are computed from it, so every invocation reads the same steps and windows),
/// the step and the vendor's page position, and the run's record so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub run_id: String,
    /// The tick the run belongs to.
    pub tick: DateTime<Utc>,
    /// The run's start.
    pub started_at: DateTime<Utc>,
    /// Steps `0..step` are done.
    pub step: usize,
    /// Where step `step` stands at the vendor (`None`: its first page).
    pub cursor: Option<PageCursor>,
    /// Continuations sent so far. A continuation job names the segment it may run; one naming
    /// another (a duplicate delivery, or one overtaken by a tick that resumed the run) is
    /// dropped, so a run is never read twice at once.
    pub segment: u32,
    /// Invocations that worked on the run (for reports).
    pub invocations: u32,
    /// The run's record so far (counts, first ids, errors).
    pub run: SyncRun,
    pub events: u64,
    pub record_writes: u64,
    /// Reservations that failed so far, handed to refresh jobs when the run completes.
    #[serde(default)]
    pub failed_refs: Vec<EntityRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedState {
    pub hotel_id: HotelId,
    pub feed: Feed,
    /// The latest tick a run completed (succeeded or partial).
    pub last_tick: Option<DateTime<Utc>>,
    /// Reservations feed: the start of the last completed run. The next delta starts here,
    /// minus the overlap.
    pub watermark: Option<DateTime<Utc>>,
    pub last_run_id: Option<String>,
    pub lease: Option<Lease>,
    /// The run under way across invocations, if one stopped between pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Box<Progress>>,
    /// The latest completed run, written with its completion: the only record of a run that
    /// changed nothing (`crate::sync_runs`; serialized as `sync_runs::LATEST_RUN_FIELD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Box<SyncRun>>,
    /// Changes on every write; writes are conditional on the revision they read.
    pub revision: String,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The feed is ours until the lease ends. `first` when the feed had no state before (its
    /// first run).
    Acquired {
        first: bool,
        claimed: Box<FeedState>,
    },
    /// A run already completed this tick or a later one: nothing to do.
    AlreadyRan { last_tick: DateTime<Utc> },
    /// Another run holds the feed.
    Busy { lease: Lease },
    /// A continuation that is not the one the run waits for (a duplicate delivery, or one a
    /// tick's resumption overtook): nothing to do.
    Stale,
}

#[derive(Clone)]
pub struct FeedStates {
    store: Arc<dyn ItemStore>,
}

fn item(state: &FeedState) -> PortResult<Item> {
    Item::encode(key(&state.hotel_id, state.feed), state)
}

fn revision() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl FeedStates {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    pub async fn get(&self, hotel: &HotelId, feed: Feed) -> PortResult<Option<FeedState>> {
        match self.store.get(&key(hotel, feed)).await? {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    async fn put_after(&self, state: &FeedState, previous: Option<&FeedState>) -> PortResult<bool> {
        let condition = match previous {
            None => Condition::IfAbsent,
            Some(p) => Condition::IfDataEquals {
                field: "revision".into(),
                value: serde_json::Value::String(p.revision.clone()),
            },
        };
        Ok(matches!(
            self.store.put(item(state)?, condition).await?,
            PutOutcome::Applied
        ))
    }

    /// Takes the feed for `run_id` and `tick` until `now + lease`, unless the tick already ran
    /// or another run's lease is still running.
    pub async fn claim(
        &self,
        hotel: &HotelId,
        feed: Feed,
        tick: DateTime<Utc>,
        run_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> PortResult<Claim> {
        self.claim_run(hotel, feed, tick, run_id, None, now, lease)
            .await
    }

    /// [`Self::claim`] for a job that may go on with a run stopped between pages. A run under
    /// way ([`FeedState::progress`]) is taken up by its continuation (`continuation` naming
    /// its run and segment) or by any later tick's job, whose own tick it then stands for; the
    /// claimed state keeps the progress, whose run id and tick the lease carries.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_run(
        &self,
        hotel: &HotelId,
        feed: Feed,
        tick: DateTime<Utc>,
        run_id: &str,
        continuation: Option<&Continuation>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> PortResult<Claim> {
        let previous = self.get(hotel, feed).await?;
        let under_way = previous.as_ref().and_then(|p| p.progress.as_deref());
        if let Some(c) = continuation {
            match under_way {
                Some(p) if p.run_id == c.run_id && p.segment == c.segment => {}
                _ => return Ok(Claim::Stale),
            }
        }
        if let Some(p) = &previous {
            let resuming = continuation.is_some() || p.progress.is_some();
            if let Some(last) = p.last_tick.filter(|last| tick <= *last && !resuming) {
                return Ok(Claim::AlreadyRan { last_tick: last });
            }
            if let Some(l) = p.lease.as_ref().filter(|l| l.until > now) {
                return Ok(Claim::Busy { lease: l.clone() });
            }
        }
        let (run_id, tick) = match under_way {
            Some(p) => (p.run_id.as_str(), p.tick.max(tick)),
            None => (run_id, tick),
        };
        let claimed = FeedState {
            lease: Some(Lease {
                run_id: run_id.to_owned(),
                tick,
                until: now + lease,
            }),
            revision: revision(),
            ..previous.clone().unwrap_or_else(|| FeedState {
                hotel_id: hotel.clone(),
                feed,
                last_tick: None,
                watermark: None,
                last_run_id: None,
                lease: None,
                progress: None,
                last_run: None,
                revision: String::new(),
            })
        };
        if self.put_after(&claimed, previous.as_ref()).await? {
            return Ok(Claim::Acquired {
                first: previous.is_none(),
                claimed: Box::new(claimed),
            });
        }
        // Someone else wrote between our read and our write: whatever they did, they hold it.
        match self.get(hotel, feed).await? {
            Some(s) => match (s.last_tick, s.lease) {
                (Some(last), _) if tick <= last => Ok(Claim::AlreadyRan { last_tick: last }),
                (_, Some(lease)) => Ok(Claim::Busy { lease }),
                _ => Ok(Claim::Busy {
                    lease: Lease {
                        run_id: String::new(),
                        tick,
                        until: now,
                    },
                }),
            },
            None => Ok(Claim::Busy {
                lease: Lease {
                    run_id: String::new(),
                    tick,
                    until: now,
                },
            }),
        }
    }

    /// Records a completed run and releases the feed: the tick is done, `run` is the feed's
    /// latest run and, for the reservations feed, the watermark moves to `watermark` (never
    /// backwards). `false` when the lease was taken over meanwhile (the successor's state is
    /// left alone).
    pub async fn complete(
        &self,
        claimed: &FeedState,
        watermark: Option<DateTime<Utc>>,
        run: &SyncRun,
    ) -> PortResult<bool> {
        let tick = claimed.lease.as_ref().map(|l| l.tick);
        let run_id = claimed.lease.as_ref().map(|l| l.run_id.clone());
        let next = FeedState {
            last_tick: claimed.last_tick.max(tick),
            watermark: claimed.watermark.max(watermark),
            last_run_id: run_id.or_else(|| claimed.last_run_id.clone()),
            lease: None,
            progress: None,
            last_run: Some(Box::new(run.clone())),
            revision: revision(),
            ..claimed.clone()
        };
        self.put_after(&next, Some(claimed)).await
    }

    /// Releases the feed with the run's progress kept, for its continuation (or a later tick's
    /// job, or the retry of a job that failed) to take up; tick and watermark stay as they
    /// were, so the window the run reads is re-read rather than skipped if it never completes.
    /// `false` when the lease was taken over meanwhile.
    pub async fn pause(&self, claimed: &FeedState, progress: Progress) -> PortResult<bool> {
        let next = FeedState {
            lease: None,
            progress: Some(Box::new(progress)),
            revision: revision(),
            ..claimed.clone()
        };
        self.put_after(&next, Some(claimed)).await
    }

    /// Releases the feed after a failed run, leaving tick and watermark as they were, so the
    /// retry of the same job may run at once.
    pub async fn release(&self, claimed: &FeedState) -> PortResult<bool> {
        let next = FeedState {
            lease: None,
            revision: revision(),
            ..claimed.clone()
        };
        self.put_after(&next, Some(claimed)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::ManualClock;

    /// A completed run to record.
    fn done() -> SyncRun {
        SyncRun::start(
            "done",
            HotelId::parse("h1").unwrap(),
            "reservations",
            Utc::now(),
        )
    }

    #[tokio::test]
    async fn claims_complete_release_and_refuse_done_ticks() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let states = FeedStates::new(Arc::new(MemoryStore::new(clock.clone())));
        let h = HotelId::parse("h1").unwrap();
        let t1 = Utc::now();
        let lease = Duration::seconds(60);
        let Claim::Acquired { first, claimed } = states
            .claim(&h, Feed::Reservations, t1, "r1", t1, lease)
            .await
            .unwrap()
        else {
            panic!("first claim")
        };
        assert!(first);
        // A duplicate of the same tick while the first runs is refused.
        assert!(matches!(
            states
                .claim(&h, Feed::Reservations, t1, "r2", t1, lease)
                .await
                .unwrap(),
            Claim::Busy { lease } if lease.run_id == "r1"
        ));
        // Failed: released, the retry may run.
        assert!(states.release(&claimed).await.unwrap());
        let Claim::Acquired { claimed, .. } = states
            .claim(&h, Feed::Reservations, t1, "r3", t1, lease)
            .await
            .unwrap()
        else {
            panic!("retry claim")
        };
        assert!(states.complete(&claimed, Some(t1), &done()).await.unwrap());
        // Done: the same tick, or an older one, is refused.
        for tick in [t1, t1 - Duration::minutes(5)] {
            assert!(matches!(
                states
                    .claim(&h, Feed::Reservations, tick, "r4", t1, lease)
                    .await
                    .unwrap(),
                Claim::AlreadyRan { .. }
            ));
        }
        let s = states.get(&h, Feed::Reservations).await.unwrap().unwrap();
        assert_eq!(s.watermark, Some(t1));
        assert_eq!(s.last_run_id.as_deref(), Some("r3"));
        // The completion keeps the run it completed.
        assert_eq!(s.last_run.map(|r| r.run_id), Some("done".to_owned()));
        // A lease that ran out (a run that died) can be taken over; the dead run's late
        // completion then changes nothing.
        let t2 = t1 + Duration::minutes(5);
        let Claim::Acquired { claimed: dead, .. } = states
            .claim(&h, Feed::Reservations, t2, "r5", t2, lease)
            .await
            .unwrap()
        else {
            panic!("claim")
        };
        let later = t2 + Duration::seconds(61);
        let Claim::Acquired { claimed: next, .. } = states
            .claim(&h, Feed::Reservations, t2, "r6", later, lease)
            .await
            .unwrap()
        else {
            panic!("takeover")
        };
        assert!(!states.complete(&dead, Some(t2), &done()).await.unwrap());
        // The watermark never goes back.
        assert!(states.complete(&next, Some(t1), &done()).await.unwrap());
        let s = states.get(&h, Feed::Reservations).await.unwrap().unwrap();
        assert_eq!(s.watermark, Some(t1));
        assert_eq!(s.last_tick, Some(t2));
    }

    #[tokio::test]
    async fn a_paused_run_is_taken_up_by_its_continuation_or_a_later_tick_never_twice() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let states = FeedStates::new(Arc::new(MemoryStore::new(clock.clone())));
        let h = HotelId::parse("h1").unwrap();
        let (t1, lease) = (Utc::now(), Duration::seconds(60));
        let feed = Feed::Reservations;
        let Claim::Acquired { claimed, .. } =
            states.claim(&h, feed, t1, "r1", t1, lease).await.unwrap()
        else {
            panic!("first claim")
        };
        let progress = |segment| Progress {
            run_id: "r1".into(),
            tick: t1,
            started_at: t1,
            step: 1,
            cursor: Some(PageCursor(serde_json::json!({"page": 3}))),
            segment,
            invocations: 1,
            run: SyncRun::start("r1", h.clone(), "reservations", t1),
            events: 4,
            record_writes: 8,
            failed_refs: Vec::new(),
        };
        assert!(states.pause(&claimed, progress(1)).await.unwrap());
        let c = |run: &str, segment| Continuation {
            run_id: run.into(),
            segment,
        };
        // Another segment, another run, or no run under way: stale.
        for wrong in [c("r1", 0), c("r1", 2), c("r9", 1)] {
            assert_eq!(
                states
                    .claim_run(&h, feed, t1, "x", Some(&wrong), t1, lease)
                    .await
                    .unwrap(),
                Claim::Stale
            );
        }
        // The continuation the run waits for takes it up, progress and run id included...
        let Claim::Acquired { claimed, .. } = states
            .claim_run(&h, feed, t1, "x", Some(&c("r1", 1)), t1, lease)
            .await
            .unwrap()
        else {
            panic!("continuation")
        };
        assert_eq!(claimed.progress.as_deref(), Some(&progress(1)));
        assert_eq!(claimed.lease.as_ref().unwrap().run_id, "r1");
        // ...and while it runs, its duplicate is told to wait, not run.
        assert!(matches!(
            states
                .claim_run(&h, feed, t1, "y", Some(&c("r1", 1)), t1, lease)
                .await
                .unwrap(),
            Claim::Busy { .. }
        ));
        assert!(states.pause(&claimed, progress(2)).await.unwrap());
        // A later tick's job finding the run paused takes it up for its own tick.
        let t2 = t1 + Duration::minutes(5);
        let Claim::Acquired { claimed, .. } = states
            .claim_run(&h, feed, t2, "r2", None, t2, lease)
            .await
            .unwrap()
        else {
            panic!("a later tick resumes")
        };
        assert_eq!(claimed.progress.as_ref().unwrap().segment, 2);
        let l = claimed.lease.clone().unwrap();
        assert_eq!((l.run_id.as_str(), l.tick), ("r1", t2));
        // Completed: no progress, the tick done, and segment 2's continuation is stale.
        assert!(states.complete(&claimed, Some(t1), &done()).await.unwrap());
        let s = states.get(&h, feed).await.unwrap().unwrap();
        assert!(s.progress.is_none());
        assert_eq!((s.last_tick, s.watermark), (Some(t2), Some(t1)));
        assert_eq!(
            states
                .claim_run(&h, feed, t1, "z", Some(&c("r1", 2)), t2, lease)
                .await
                .unwrap(),
            Claim::Stale
        );
    }

    #[tokio::test]
    async fn a_quiet_run_is_listed_from_its_feeds_state_with_the_recorded_ones() {
        use crate::sync_runs::SyncRuns;
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let (states, runs) = (FeedStates::new(store.clone()), SyncRuns::new(store));
        let h = HotelId::parse("h1").unwrap();
        let t0 = Utc::now();
        let lease = Duration::seconds(60);
        // A run that created a booking is recorded and completes; two quiet runs of another
        // feed complete after it, the later replacing the earlier as the feed's latest.
        let mut changed = SyncRun::start("changed", h.clone(), "reservations", t0);
        changed.record_created("b1");
        changed.finish(t0, 2);
        assert!(!changed.is_quiet());
        runs.record(&changed, 30).await.unwrap();
        let Claim::Acquired { claimed, .. } = states
            .claim(&h, Feed::Reservations, t0, "changed", t0, lease)
            .await
            .unwrap()
        else {
            panic!("claim")
        };
        assert!(states.complete(&claimed, Some(t0), &changed).await.unwrap());
        for (i, id) in ["quiet1", "quiet2"].into_iter().enumerate() {
            let t = t0 + Duration::seconds(10 * (i as i64 + 1));
            let mut quiet = SyncRun::start(id, h.clone(), "arrivals", t);
            quiet.record_unchanged(40);
            quiet.finish(t, 1);
            assert!(quiet.is_quiet());
            let Claim::Acquired { claimed, .. } = states
                .claim(&h, Feed::Arrivals, t, id, t, lease)
                .await
                .unwrap()
            else {
                panic!("claim")
            };
            assert!(states.complete(&claimed, None, &quiet).await.unwrap());
        }
        let listed = runs.list(&h, 10).await.unwrap();
        let ids: Vec<_> = listed.iter().map(|r| r.run_id.as_str()).collect();
        // Newest first, the recorded run once although its feed's state names it too.
        assert_eq!(ids, ["quiet2", "changed"]);
        assert_eq!(listed[0].unchanged, 40);
        assert_eq!(runs.latest(&h).await.unwrap().unwrap().run_id, "quiet2");
        assert_eq!(runs.list(&h, 1).await.unwrap().len(), 1);
    }
}
