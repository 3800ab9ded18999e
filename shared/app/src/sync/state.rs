//! Per hotel and feed sync state: `H#<hotel>` / `SYNCSTATE#<feed>`. One item holds the last tick
//! that completed (so a repeated or late job of a tick already run is refused), the reservations
//! watermark, and the lease of the run holding the feed now (so two runs of one feed never
//! overlap). Every write is conditional on the revision read, so concurrent claimers cannot both
//! win and a run whose lease was taken over cannot overwrite its successor's state.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::jobs::Feed;
use pms_domain::domain::HotelId;
use pms_domain::ports::{Condition, Item, ItemKey, ItemStore, PortResult, PutOutcome};

fn key(hotel: &HotelId, feed: Feed) -> ItemKey {
    ItemKey::hotel(hotel, format!("SYNCSTATE#{feed}"))
}

/// The run holding a feed, until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub run_id: String,
    pub tick: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Changes on every write; writes are conditional on the revision they read.
    pub revision: String,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        let previous = self.get(hotel, feed).await?;
        if let Some(p) = &previous {
            if let Some(last) = p.last_tick.filter(|last| tick <= *last) {
                return Ok(Claim::AlreadyRan { last_tick: last });
            }
            if let Some(l) = p.lease.as_ref().filter(|l| l.until > now) {
                return Ok(Claim::Busy { lease: l.clone() });
            }
        }
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

    /// Records a completed run and releases the feed: the tick is done and, for the
    /// reservations feed, the watermark moves to `watermark` (never backwards). `false` when
    /// the lease was taken over meanwhile (the successor's state is left alone).
    pub async fn complete(
        &self,
        claimed: &FeedState,
        watermark: Option<DateTime<Utc>>,
    ) -> PortResult<bool> {
        let tick = claimed.lease.as_ref().map(|l| l.tick);
        let run_id = claimed.lease.as_ref().map(|l| l.run_id.clone());
        let next = FeedState {
            last_tick: claimed.last_tick.max(tick),
            watermark: claimed.watermark.max(watermark),
            last_run_id: run_id.or_else(|| claimed.last_run_id.clone()),
            lease: None,
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
        assert!(states.complete(&claimed, Some(t1)).await.unwrap());
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
        assert!(!states.complete(&dead, Some(t2)).await.unwrap());
        // The watermark never goes back.
        assert!(states.complete(&next, Some(t1)).await.unwrap());
        let s = states.get(&h, Feed::Reservations).await.unwrap().unwrap();
        assert_eq!(s.watermark, Some(t1));
        assert_eq!(s.last_tick, Some(t2));
    }
}
