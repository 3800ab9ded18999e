//! Client-side rate limiting that holds across concurrent Lambda instances: permits are counted
//! in the shared table, so every process calling one vendor credential draws from one budget.
//!
//! A vendor limit "L requests per W" is enforced by slots: time is cut into slots of `W / k`,
//! and each slot admits `n` requests (atomic counters per slot). The vendor counts arrivals,
//! which lag permits by network and scheduling delay; any window of length W, with arrivals late
//! by up to two slots, overlaps at most `k + 3` slots, so choosing `k = L/n - 3` keeps every
//! such window at or under L — about 90 % of the vendor's rate for Mews and OHIP, 40 % for
//! Cloudbeds' tiny 5/s budget (whose overuse suspends the key), and never a violation. A caller
//! that finds its slot full takes a later one and sleeps until it starts; a permit whose slot has
//! already passed (slow counter calls) is not used.
//!
//! A 429 pauses the whole credential until its `Retry-After` has passed ([`RateLimiter::pause`]):
//! this process at once, and every other through the table, where the pause is an item and the
//! slots it covers are closed (their counters pushed past any pool), so a caller that lands in
//! one reads the pause and waits it out instead of sending into the vendor's refusal.
//!
//! Writes keep a share of every hotel's budget that reads cannot take ([`Priority`]): each slot's
//! permits are split into a read pool and a write reserve, counted separately, so a flood of
//! partner reads queues behind itself while a charge still finds a permit within a slot or two.
//! Writes use the reserve first and then whatever the read pool has left. No caller waits past
//! the [deadline](pms_domain::pms::deadline) it works to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use pms_domain::config::RateLimitSettings;
use pms_domain::domain::HotelId;
use pms_domain::pms::deadline;
use pms_domain::pms::{PmsError, PmsResult, UnavailableCause};
use pms_domain::ports::{Clock, Condition, Item, ItemKey, ItemStore};

/// Which share of a hotel's budget a caller draws from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    /// Reads (partner queries, sync, webhook fetches): the read pool only.
    #[default]
    Read,
    /// Writes (the writer): the reserve, then the read pool.
    Write,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Waits for a permit, or fails with `RateLimited` when the wait would be too long.
    async fn acquire(&self) -> PmsResult<()>;

    /// The vendor answered 429 with `Retry-After`: no permit is given for `retry_after`, in
    /// this process or (for a shared limiter) any other. Best effort: a failure to record the
    /// pause is logged, never returned.
    async fn pause(&self, _retry_after: Duration) {}
}

/// Added to a slot's counters by a pause: no pool reaches it, so a count at or above it means
/// the slot is closed.
const CLOSED: i64 = 1 << 40;
/// Most slots one pause closes (minutes for every vendor's plan); a longer `Retry-After` is
/// still kept by the pause item and this process.
const MAX_CLOSED_SLOTS: u64 = 600;

/// Slot length and permits per slot for a vendor limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotPlan {
    pub slot_ms: u64,
    pub per_slot: u64,
}

impl SlotPlan {
    pub fn for_limit(limit: &RateLimitSettings) -> SlotPlan {
        let l = u64::from(limit.requests.max(1));
        let w_ms = u64::from(limit.per_seconds.max(1)) * 1000;
        // About 40 slots per window: fine enough to smooth, coarse enough to keep counters few.
        let per_slot = (l / 40).max(1);
        let slots = (l / per_slot).saturating_sub(3).max(1);
        SlotPlan {
            slot_ms: (w_ms / slots).max(1),
            per_slot,
        }
    }

    /// The most requests this plan lets arrive in any window of `window_ms`, with arrivals up
    /// to two slots late.
    pub fn worst_case(&self, window_ms: u64) -> u64 {
        ((window_ms + 2 * self.slot_ms - 1) / self.slot_ms + 1) * self.per_slot
    }

    /// Permits of `slot` that reads may take; the rest are the writes' reserve.
    pub fn read_pool(&self, slot: u64) -> u64 {
        self.per_slot - self.write_reserve(slot)
    }

    /// Permits of `slot` reserved for writes: a fifth of all permits, spread evenly over the
    /// slots (with one permit per slot, every third slot), so a write never waits more than
    /// three slots for one.
    pub fn write_reserve(&self, slot: u64) -> u64 {
        let share = (3 * self.per_slot).min(5);
        let upto = |s: u64| s.saturating_mul(self.per_slot) / share;
        upto(slot + 1) - upto(slot)
    }
}

pub struct DistributedLimiter {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    hotel: HotelId,
    /// Which budget: vendor and credential fingerprint.
    name: String,
    plan: SlotPlan,
    max_wait: Duration,
    priority: Priority,
    /// Epoch ms before which no permit is given (a 429's `Retry-After`).
    paused_until: AtomicU64,
}

impl DistributedLimiter {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        hotel: HotelId,
        name: impl Into<String>,
        limit: &RateLimitSettings,
    ) -> Self {
        Self {
            store,
            clock,
            hotel,
            name: name.into(),
            plan: SlotPlan::for_limit(limit),
            max_wait: Duration::from_secs(20),
            priority: Priority::Read,
            paused_until: AtomicU64::new(0),
        }
    }

    /// Draws from the writes' share (see [`Priority`]).
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    pub fn plan(&self) -> SlotPlan {
        self.plan
    }
}

/// One pool of one slot's permits.
#[derive(Clone, Copy)]
enum Pool {
    Reads,
    Writes,
}

impl Pool {
    fn field(self) -> &'static str {
        match self {
            Pool::Reads => "r",
            Pool::Writes => "w",
        }
    }
}

impl DistributedLimiter {
    fn now_ms(&self) -> u64 {
        self.clock.now().timestamp_millis().max(0) as u64
    }

    /// The longest this caller may wait for a permit: its own bound, or less under a deadline.
    fn wait_bound(&self) -> Duration {
        deadline::remaining().map_or(self.max_wait, |left| left.min(self.max_wait))
    }

    /// The slot after `pools` more non-empty read pools (at most as far as any caller waits).
    fn after_read_pools(&self, mut slot: u64, pools: u64) -> u64 {
        let horizon = slot + self.max_wait.as_millis() as u64 / self.plan.slot_ms + 2;
        let mut left = pools.max(1);
        while left > 0 && slot < horizon {
            slot += 1;
            if self.plan.read_pool(slot) > 0 {
                left -= 1;
            }
        }
        slot
    }

    fn pause_key(&self) -> ItemKey {
        ItemKey::hotel(&self.hotel, format!("RATE#{}#PAUSE", self.name))
    }

    /// The pause another process recorded, if it is later than the one known here.
    async fn learn_pause(&self) -> PmsResult<()> {
        let item = self.store.get(&self.pause_key()).await.map_err(|e| {
            PmsError::unavailable(
                UnavailableCause::Transport,
                format!("rate limiter store: {}", e.code()),
            )
        })?;
        if let Some(until) = item.and_then(|i| i.data.get("until").and_then(|u| u.as_u64())) {
            self.paused_until.fetch_max(until, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Takes one permit of `pool` in `slot`: the pool's count after ours, or `None` when the
    /// pool has no permits in this slot (nothing is counted then).
    async fn count(&self, slot: u64, pool: Pool, size: u64) -> PmsResult<Option<u64>> {
        if size == 0 {
            return Ok(None);
        }
        let key = ItemKey::hotel(&self.hotel, format!("RATE#{}#{slot}", self.name));
        let expires = ((slot * self.plan.slot_ms + self.plan.slot_ms) / 1000) as i64 + 60;
        let count = self
            .store
            .increment(&key, pool.field(), 1, Some(expires))
            .await
            .map_err(|e| {
                PmsError::unavailable(
                    UnavailableCause::Transport,
                    format!("rate limiter store: {}", e.code()),
                )
            })?;
        Ok(Some(count.max(0) as u64))
    }
}

/// Whether a pool's count says its slot was closed by a pause.
fn closed(count: Option<u64>) -> bool {
    count.is_some_and(|n| n >= CLOSED as u64)
}

#[async_trait]
impl RateLimiter for DistributedLimiter {
    async fn acquire(&self) -> PmsResult<()> {
        let slot_ms = self.plan.slot_ms;
        let mut slot = self.now_ms() / slot_ms;
        loop {
            let now_ms = self.now_ms();
            // Slow counter calls can outlast a slot: never take a permit for one already gone.
            slot = slot.max(now_ms / slot_ms);
            // Nothing before a pause ends: the first slot after it.
            let paused_until = self.paused_until.load(Ordering::SeqCst);
            if paused_until > now_ms {
                slot = slot.max(paused_until.div_ceil(slot_ms));
            }
            let starts = slot * slot_ms;
            let wait = Duration::from_millis(starts.saturating_sub(now_ms));
            if wait > self.wait_bound() {
                return Err(PmsError::RateLimited {
                    retry_after: Some(wait),
                    request_id: None,
                });
            }
            let reads = self.plan.read_pool(slot);
            let granted = match self.priority {
                Priority::Read => match self.count(slot, Pool::Reads, reads).await? {
                    n if closed(n) => {
                        self.learn_pause().await?;
                        slot += 1;
                        continue;
                    }
                    Some(n) if n <= reads => true,
                    Some(n) => {
                        // Others are queued ahead of us in this slot's pool: skip as many
                        // read pools as they fill.
                        slot = self.after_read_pools(slot, (n - reads).div_ceil(reads));
                        continue;
                    }
                    None => false,
                },
                Priority::Write => {
                    let reserve = self.plan.write_reserve(slot);
                    match self.count(slot, Pool::Writes, reserve).await? {
                        n if closed(n) => {
                            self.learn_pause().await?;
                            slot += 1;
                            continue;
                        }
                        Some(n) if n <= reserve => true,
                        // The reserve is taken: what reads left of their pool.
                        _ => match self.count(slot, Pool::Reads, reads).await? {
                            n if closed(n) => {
                                self.learn_pause().await?;
                                slot += 1;
                                continue;
                            }
                            Some(n) => n <= reads,
                            None => false,
                        },
                    }
                }
            };
            if !granted {
                slot += 1;
                continue;
            }
            let now_ms = self.now_ms();
            if now_ms >= starts + slot_ms {
                // The permit's slot passed while we asked; using it now would crowd a later
                // slot. Its count is wasted, which only costs throughput.
                continue;
            }
            let wait = Duration::from_millis(starts.saturating_sub(now_ms));
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            return Ok(());
        }
    }

    async fn pause(&self, retry_after: Duration) {
        let now_ms = self.now_ms();
        let until = now_ms + retry_after.as_millis() as u64;
        self.paused_until.fetch_max(until, Ordering::SeqCst);
        let expires = (until / 1000) as i64 + 60;
        let item =
            Item::new(self.pause_key(), serde_json::json!({ "until": until })).expiring_at(expires);
        if let Err(e) = self.store.put(item, Condition::Always).await {
            tracing::warn!(error = %e, "the rate limiter could not share a pause");
            return;
        }
        // Close the slots it covers, so other processes find it without reading it per call.
        let slot_ms = self.plan.slot_ms;
        let first = now_ms / slot_ms;
        let last = (until / slot_ms).min(first + MAX_CLOSED_SLOTS);
        let expires = ((last + 1) * slot_ms / 1000) as i64 + 60;
        for slot in first..=last {
            let key = ItemKey::hotel(&self.hotel, format!("RATE#{}#{slot}", self.name));
            for pool in [Pool::Reads, Pool::Writes] {
                if let Err(e) = self
                    .store
                    .increment(&key, pool.field(), CLOSED, Some(expires))
                    .await
                {
                    tracing::warn!(error = %e, "the rate limiter could not close a paused slot");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::SystemClock;

    #[test]
    fn plans_never_exceed_the_vendor_limit() {
        for (l, w) in [(200, 30), (100, 60), (5, 1), (10, 1), (1, 1), (1000, 60)] {
            let limit = RateLimitSettings {
                requests: l,
                per_seconds: w,
            };
            let plan = SlotPlan::for_limit(&limit);
            let window = u64::from(w) * 1000;
            assert!(
                plan.worst_case(window) <= u64::from(l).max(plan.per_slot * 3),
                "{l}/{w}s: {plan:?} allows {}",
                plan.worst_case(window)
            );
            if l >= 5 {
                assert!(
                    plan.worst_case(window) <= u64::from(l),
                    "{l}/{w}s: {plan:?}"
                );
            }
        }
        let mews = SlotPlan::for_limit(&RateLimitSettings {
            requests: 200,
            per_seconds: 30,
        });
        assert_eq!((mews.per_slot, mews.slot_ms), (5, 810));
        let cb = SlotPlan::for_limit(&RateLimitSettings {
            requests: 5,
            per_seconds: 1,
        });
        assert_eq!((cb.per_slot, cb.slot_ms), (1, 500));
    }

    #[tokio::test]
    async fn concurrent_callers_are_spread_over_slots() {
        let clock = Arc::new(SystemClock);
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let limit = RateLimitSettings {
            requests: 10,
            per_seconds: 1,
        };
        // Writes may use every slot (their reserve, then the read pool).
        let limiter = Arc::new(
            DistributedLimiter::new(store, clock, HotelId::parse("h").unwrap(), "t", &limit)
                .with_priority(Priority::Write),
        );
        let started = std::time::Instant::now();
        let times = futures::future::join_all((0..16).map(|_| {
            let l = limiter.clone();
            async move {
                l.acquire().await.unwrap();
                started.elapsed()
            }
        }))
        .await;
        // 10/s with 7 slots of 142 ms admits 7 per second: 16 permits need over 2 s.
        let last = times.iter().max().unwrap();
        assert!(*last >= Duration::from_millis(1500), "{last:?}");
        // No sliding 1 s window (plus jitter) holds more than 10 permits.
        let mut sorted: Vec<u128> = times.iter().map(|d| d.as_millis()).collect();
        sorted.sort();
        for (i, t) in sorted.iter().enumerate() {
            let in_window = sorted[i..].iter().take_while(|u| **u < t + 1000).count();
            assert!(
                in_window <= 10,
                "{in_window} permits within 1 s from {t} ms"
            );
        }
    }

    #[test]
    fn every_slot_keeps_a_share_for_writes() {
        for (l, w) in [(200, 30), (100, 60), (5, 1), (10, 1), (1000, 60)] {
            let plan = SlotPlan::for_limit(&RateLimitSettings {
                requests: l,
                per_seconds: w,
            });
            let slots = 300;
            let reads: u64 = (0..slots).map(|s| plan.read_pool(s)).sum();
            let reserve: u64 = (0..slots).map(|s| plan.write_reserve(s)).sum();
            assert_eq!(reads + reserve, plan.per_slot * slots, "{l}/{w}s");
            assert!(
                reserve * 5 >= plan.per_slot * slots,
                "{l}/{w}s: writes keep 1/5"
            );
            assert!(
                reads * 3 >= plan.per_slot * slots * 2,
                "{l}/{w}s: reads get 2/3"
            );
            // A write never waits more than three slots for a reserved permit.
            for s in 0..slots {
                assert!(
                    (s..s + 3).any(|x| plan.write_reserve(x) > 0),
                    "{l}/{w}s: slot {s}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_reads_leaves_writes_their_reserve() {
        let clock = Arc::new(pms_domain::ports::ManualClock::new(chrono::Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        // Mews: 200 per 30 s, five permits per 810 ms slot, one of them reserved.
        let limit = RateLimitSettings {
            requests: 200,
            per_seconds: 30,
        };
        let hotel = HotelId::parse("h").unwrap();
        let reads =
            DistributedLimiter::new(store.clone(), clock.clone(), hotel.clone(), "t", &limit);
        let writes = DistributedLimiter::new(store, clock, hotel, "t", &limit)
            .with_priority(Priority::Write);
        // Two hundred reads arrive in the same instant: the first slot's read pool (4) goes
        // to them; the rest queue in later slots or give up past their wait bound.
        let floods = futures::future::join_all((0..200).map(|_| {
            let r = &reads;
            async move { r.acquire().await.is_ok() }
        }));
        let write = async {
            // The write arrives while every read waits for its slot.
            tokio::task::yield_now().await;
            writes.acquire().await
        };
        let (granted, write) = tokio::join!(floods, write);
        assert!(
            write.is_ok(),
            "the write gets its reserved permit: {write:?}"
        );
        // No more reads than the pools hold within their 20 s wait bound.
        let admitted = granted.iter().filter(|g| **g).count();
        assert!(
            admitted <= (20_000 / 810 + 2) * 4,
            "{admitted} reads admitted"
        );
        assert!(admitted >= 4, "reads still run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_caller_of_the_credential_until_retry_after() {
        let clock = Arc::new(pms_domain::ports::ManualClock::new(chrono::Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let limit = RateLimitSettings {
            requests: 200,
            per_seconds: 30,
        };
        let hotel = HotelId::parse("h").unwrap();
        let limiter = |name: &str| {
            DistributedLimiter::new(store.clone(), clock.clone(), hotel.clone(), name, &limit)
        };
        let this = limiter("t");
        // Another process with the same credential, a writer, and another credential.
        let other_process = limiter("t");
        let writer = limiter("t").with_priority(Priority::Write);
        let other_credential = limiter("u");
        this.acquire().await.unwrap();
        this.pause(Duration::from_secs(5)).await;

        for (who, l) in [
            ("this process", &this),
            ("another process", &other_process),
            ("a writer", &writer),
        ] {
            let t = tokio::time::Instant::now();
            l.acquire().await.unwrap();
            assert!(
                t.elapsed() >= Duration::from_millis(4_900),
                "{who} waited {:?}",
                t.elapsed()
            );
        }
        let t = tokio::time::Instant::now();
        other_credential.acquire().await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // A caller that may not wait that long is told how long the pause lasts.
        let impatient = limiter("t").with_max_wait(Duration::from_secs(1));
        match impatient.acquire().await {
            Err(PmsError::RateLimited {
                retry_after: Some(d),
                ..
            }) => assert!(d >= Duration::from_secs(4), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }
}
