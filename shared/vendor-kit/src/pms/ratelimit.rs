//! Client-side rate limiting that holds across concurrent Lambda instances: permits are counted
//! in the shared table, so every process calling one vendor credential draws from one budget.
//!
//! A vendor limit "L requests per W" is enforced by slots: time is cut into slots of `W / k`,
//! and each slot admits `n` requests. The vendor counts arrivals, which lag permits by network
//! and scheduling delay; any window of length W, with arrivals late by up to two slots, overlaps
//! at most `k + 3` slots, so choosing `k = L/n - 3` keeps every such window at or under L —
//! about 90 % of the vendor's rate for Mews and OHIP, 40 % for Cloudbeds' tiny 5/s budget (whose
//! overuse suspends the key), and never a violation.
//!
//! The permits of all slots form one sequence in time order, and one item per credential holds
//! a cursor into it: every permit before the cursor is taken. A process leases the next few
//! permits with one conditional write that moves the cursor on (never behind the current slot),
//! then spends them locally, each no earlier than its slot starts and never after it ends (a
//! permit whose slot has passed is dropped: it would crowd a later slot). Each permit still
//! belongs to exactly one slot and one process, so the bound above is unchanged, while the
//! table sees one write per lease instead of one per call. A lease starts at one permit and
//! doubles while its permits are all spent (a sync), up to [`MAX_LEASE`]; permits that expire
//! unused halve it, so an occasional caller (a partner read) takes one at a time and wastes
//! nothing of the budget.
//!
//! A 429 pauses the whole credential until its `Retry-After` has passed ([`RateLimiter::pause`]):
//! this process at once, and every other through the same item (`until`), which every lease
//! reads; a process holding leased permits re-reads the item before spending one more than
//! [`RECHECK`] after it last looked, so a pause reaches it within that.
//!
//! Writes keep a share of every hotel's budget that reads cannot take ([`Priority`]): each slot's
//! permits are split into a read pool and a write reserve, with a cursor each, so a flood of
//! partner reads queues behind itself while a charge still finds a permit within a slot or two.
//! Writes take the earlier of the next reserved and the next read permit, one at a time. No
//! caller waits past the [deadline](pms_domain::pms::deadline) it works to.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use pms_domain::config::RateLimitSettings;
use pms_domain::domain::HotelId;
use pms_domain::pms::deadline;
use pms_domain::pms::{PmsError, PmsResult, UnavailableCause};
use pms_domain::ports::{Clock, Condition, Item, ItemKey, ItemStore, PortError, PutOutcome};

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

/// Most permits one lease takes: 16 keeps a sync at about one write per 16 calls, and what a
/// process leases ahead of others at a few seconds of any vendor's budget.
pub const MAX_LEASE: u64 = 16;
/// How long a process spends leased permits on what it last read of the shared item (a pause
/// recorded by another process reaches it within this).
pub const RECHECK: Duration = Duration::from_secs(1);
/// Conditional writes one lease or pause tries before giving up (others moved the cursor each
/// time in between).
const MAX_RACES: usize = 32;

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
        self.reserve_before(slot + 1) - self.reserve_before(slot)
    }

    fn share(&self) -> u64 {
        (3 * self.per_slot).min(5)
    }

    /// Reserved permits of every slot before `slot`.
    fn reserve_before(&self, slot: u64) -> u64 {
        slot.saturating_mul(self.per_slot) / self.share()
    }

    /// Read permits of every slot before `slot`: the index of `slot`'s first read permit.
    fn reads_before(&self, slot: u64) -> u64 {
        slot.saturating_mul(self.per_slot) - self.reserve_before(slot)
    }

    /// The slot of the `index`th permit of `pool`.
    fn slot_of(&self, pool: Pool, index: u64) -> u64 {
        let before = |s: u64| match pool {
            Pool::Reads => self.reads_before(s),
            Pool::Writes => self.reserve_before(s),
        };
        // Every pool gets at least a fifth of all permits and slots hold at least one, so the
        // slot is below 5 * (index + 1): the last slot whose count before it is at most index.
        let (mut lo, mut hi) = (0u64, index.saturating_add(1).saturating_mul(5));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if before(mid) <= index {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

/// One of a slot's two pools of permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pool {
    Reads,
    Writes,
}

/// The shared item as last read: both cursors, the pause, and the revision a write is
/// conditional on (`None`: no item yet).
#[derive(Clone, Copy, Debug, Default)]
struct Shared {
    reads: u64,
    writes: u64,
    until: u64,
    rev: Option<u64>,
}

impl Shared {
    fn from_item(item: Option<&Item>) -> Shared {
        let Some(item) = item else {
            return Shared::default();
        };
        let n = |f: &str| item.data.get(f).and_then(serde_json::Value::as_u64);
        Shared {
            reads: n("r").unwrap_or(0),
            writes: n("w").unwrap_or(0),
            until: n("until").unwrap_or(0),
            rev: Some(n("rev").unwrap_or(0)),
        }
    }
}

/// What this process holds: leased permits (their slots, in order) and how big the next lease is.
#[derive(Debug)]
struct Local {
    permits: VecDeque<u64>,
    lease: u64,
    /// A permit of the current lease expired unused.
    wasted: bool,
    /// When the shared item was last read or written (epoch ms).
    seen_ms: u64,
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
    local: tokio::sync::Mutex<Local>,
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
            local: tokio::sync::Mutex::new(Local {
                permits: VecDeque::new(),
                lease: 1,
                wasted: false,
                seen_ms: 0,
            }),
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

    fn now_ms(&self) -> u64 {
        self.clock.now().timestamp_millis().max(0) as u64
    }

    /// The longest this caller may wait for a permit: its own bound, or less under a deadline.
    fn wait_bound(&self) -> Duration {
        deadline::remaining().map_or(self.max_wait, |left| left.min(self.max_wait))
    }

    fn key(&self) -> ItemKey {
        ItemKey::hotel(&self.hotel, format!("RATE#{}#LEASE", self.name))
    }

    fn store_error(e: PortError) -> PmsError {
        PmsError::unavailable(
            UnavailableCause::Transport,
            format!("rate limiter store: {}", e.code()),
        )
    }

    async fn read_shared(&self) -> PmsResult<Shared> {
        let item = self
            .store
            .get(&self.key())
            .await
            .map_err(Self::store_error)?;
        let shared = Shared::from_item(item.as_ref());
        self.paused_until.fetch_max(shared.until, Ordering::SeqCst);
        Ok(shared)
    }

    /// Writes `next` if the item is still at `seen`'s revision: `Ok(None)` when written, or the
    /// item as another process left it.
    async fn swap(&self, seen: &Shared, next: &Shared) -> PmsResult<Option<Shared>> {
        let rev = seen.rev.map_or(0, |r| r + 1);
        // The item outlives any lease by far; it only has to vanish once the credential is idle.
        let expires = (self.now_ms() / 1000) as i64 + 86_400;
        let item = Item::new(
            self.key(),
            json!({ "r": next.reads, "w": next.writes, "until": next.until, "rev": rev }),
        )
        .expiring_at(expires);
        let condition = match seen.rev {
            Some(r) => Condition::IfDataEquals {
                field: "rev".into(),
                value: json!(r),
            },
            None => Condition::IfAbsent,
        };
        match self
            .store
            .put(item, condition)
            .await
            .map_err(Self::store_error)?
        {
            PutOutcome::Applied => Ok(None),
            PutOutcome::Rejected { existing } => {
                let shared = Shared::from_item(existing.as_deref());
                self.paused_until.fetch_max(shared.until, Ordering::SeqCst);
                match existing {
                    Some(_) => Ok(Some(shared)),
                    // Rejected without an item to show: read it.
                    None => self.read_shared().await.map(Some),
                }
            }
        }
    }

    /// Leases up to `wanted` permits: their slots, in order. Fails with `RateLimited` when the
    /// first would start past the wait bound.
    async fn lease(&self, wanted: u64) -> PmsResult<Vec<u64>> {
        let plan = self.plan;
        let mut shared = self.read_shared().await?;
        for _ in 0..MAX_RACES {
            let now_ms = self.now_ms();
            let mut first_slot = now_ms / plan.slot_ms;
            // Nothing before a pause ends: the first slot after it.
            let paused_until = self.paused_until.load(Ordering::SeqCst);
            if paused_until > now_ms {
                first_slot = first_slot.max(paused_until.div_ceil(plan.slot_ms));
            }
            let horizon_ms = now_ms + self.wait_bound().as_millis() as u64;
            let from_reads = shared.reads.max(plan.reads_before(first_slot));
            let from_writes = shared.writes.max(plan.reserve_before(first_slot));
            let (pool, from) = match self.priority {
                Priority::Read => (Pool::Reads, from_reads),
                Priority::Write => {
                    if plan.slot_of(Pool::Writes, from_writes)
                        <= plan.slot_of(Pool::Reads, from_reads)
                    {
                        (Pool::Writes, from_writes)
                    } else {
                        (Pool::Reads, from_reads)
                    }
                }
            };
            let starts = plan.slot_of(pool, from) * plan.slot_ms;
            if starts > horizon_ms {
                return Err(PmsError::RateLimited {
                    retry_after: Some(Duration::from_millis(starts - now_ms)),
                    request_id: None,
                });
            }
            // Only permits this process could still spend within its wait bound.
            let slots: Vec<u64> = (from..from + wanted.max(1))
                .map(|i| plan.slot_of(pool, i))
                .take_while(|s| s * plan.slot_ms <= horizon_ms)
                .collect();
            let mut next = shared;
            match pool {
                Pool::Reads => next.reads = from + slots.len() as u64,
                Pool::Writes => next.writes = from + slots.len() as u64,
            }
            next.until = next.until.max(paused_until);
            match self.swap(&shared, &next).await? {
                None => return Ok(slots),
                Some(current) => shared = current,
            }
        }
        Err(PmsError::unavailable(
            UnavailableCause::Transport,
            format!("rate limiter: {MAX_RACES} lease races lost in a row"),
        ))
    }
}

#[async_trait]
impl RateLimiter for DistributedLimiter {
    async fn acquire(&self) -> PmsResult<()> {
        let slot_ms = self.plan.slot_ms;
        let starts = {
            let mut local = self.local.lock().await;
            loop {
                let now_ms = self.now_ms();
                if now_ms.saturating_sub(local.seen_ms) >= RECHECK.as_millis() as u64
                    && !local.permits.is_empty()
                {
                    // Another process may have been told to pause since we last looked.
                    self.read_shared().await?;
                    local.seen_ms = self.now_ms();
                }
                let paused_until = self.paused_until.load(Ordering::SeqCst);
                let now_slot = now_ms / slot_ms;
                let mut dropped = false;
                while let Some(&slot) = local.permits.front() {
                    // Passed, or inside a pause: never spent.
                    if slot < now_slot || slot * slot_ms < paused_until {
                        local.permits.pop_front();
                        dropped = true;
                    } else {
                        break;
                    }
                }
                if dropped {
                    local.wasted = true;
                }
                if let Some(slot) = local.permits.pop_front() {
                    let starts = slot * slot_ms;
                    if Duration::from_millis(starts.saturating_sub(now_ms)) > self.wait_bound() {
                        local.permits.clear();
                        return Err(PmsError::RateLimited {
                            retry_after: Some(Duration::from_millis(starts - now_ms)),
                            request_id: None,
                        });
                    }
                    break starts;
                }
                // A new lease: larger while leases are spent in full, smaller after waste.
                // Writes take one permit at a time: the reserve is for the next write.
                let wanted = match self.priority {
                    Priority::Write => 1,
                    Priority::Read => local.lease,
                };
                let slots = self.lease(wanted).await?;
                if self.priority == Priority::Read {
                    local.lease = if local.wasted {
                        (local.lease / 2).max(1)
                    } else {
                        (local.lease * 2).min(MAX_LEASE)
                    };
                }
                local.wasted = false;
                local.seen_ms = self.now_ms();
                local.permits.extend(slots);
            }
        };
        let wait = Duration::from_millis(starts.saturating_sub(self.now_ms()));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    async fn pause(&self, retry_after: Duration) {
        let until = self.now_ms() + retry_after.as_millis() as u64;
        self.paused_until.fetch_max(until, Ordering::SeqCst);
        let mut shared = match self.read_shared().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the rate limiter could not share a pause");
                return;
            }
        };
        for _ in 0..MAX_RACES {
            if shared.until >= until {
                return;
            }
            let next = Shared { until, ..shared };
            match self.swap(&shared, &next).await {
                Ok(None) => return,
                Ok(Some(current)) => shared = current,
                Err(e) => {
                    tracing::warn!(error = %e, "the rate limiter could not share a pause");
                    return;
                }
            }
        }
        tracing::warn!("the rate limiter could not share a pause: lost every race");
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

    /// Leases the shared item recorded (its revision counts successful writes).
    async fn lease_writes(store: &MemoryStore, hotel: &HotelId, name: &str) -> u64 {
        let key = ItemKey::hotel(hotel, format!("RATE#{name}#LEASE"));
        let item = store.get(&key).await.unwrap().unwrap();
        item.data["rev"].as_u64().unwrap() + 1
    }

    #[tokio::test]
    async fn a_busy_reader_leases_permits_in_chunks_and_keeps_to_the_limit() {
        let clock = Arc::new(SystemClock);
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let limit = RateLimitSettings {
            requests: 10,
            per_seconds: 1,
        };
        let hotel = HotelId::parse("h").unwrap();
        let limiter = DistributedLimiter::new(store.clone(), clock, hotel.clone(), "t", &limit);
        let started = std::time::Instant::now();
        let mut times = Vec::new();
        for _ in 0..30 {
            limiter.acquire().await.unwrap();
            times.push(started.elapsed().as_millis());
        }
        // Leases of 1, 2, 4, 8, 16 permits: five writes for thirty permits.
        let writes = lease_writes(&store, &hotel, "t").await;
        assert!(writes * 5 <= 30, "{writes} writes");
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < t + 1000).count();
            assert!(
                in_window <= 10,
                "{in_window} permits within 1 s from {t} ms"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_reaches_a_process_holding_leased_permits() {
        let clock = Arc::new(pms_domain::ports::ManualClock::new(chrono::Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let limit = RateLimitSettings {
            requests: 200,
            per_seconds: 30,
        };
        let hotel = HotelId::parse("h").unwrap();
        let holder =
            DistributedLimiter::new(store.clone(), clock.clone(), hotel.clone(), "t", &limit);
        let other = DistributedLimiter::new(store, clock.clone(), hotel, "t", &limit);
        // Leases of 1, 2, 4 and then 8: the holder keeps seven permits ahead.
        for _ in 0..8 {
            holder.acquire().await.unwrap();
        }
        assert_eq!(holder.local.lock().await.permits.len(), 7);
        other.pause(Duration::from_secs(5)).await;
        clock.advance(chrono::Duration::from_std(RECHECK).unwrap());
        let t = tokio::time::Instant::now();
        holder.acquire().await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(3_900),
            "the holder spent a leased permit inside the pause: waited {:?}",
            t.elapsed()
        );
    }
}
