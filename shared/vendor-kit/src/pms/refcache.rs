//! Reference data a vendor rarely changes (rates, room categories, age categories, rooms), kept
//! in the shared table per hotel and kind for a TTL, so every invocation of every function
//! reuses what one of them fetched instead of asking the vendor again on each cold start.
//!
//! One item per hotel, vendor and kind (`REF#<vendor>#<kind>`): id -> value (`null` for an id
//! the vendor did not return, so it is not asked for on every read). The item expires a TTL
//! after its first fetch; ids added to it later expire with it. Concurrent writers may each
//! drop the other's additions (the last put wins): those ids are fetched again, never wrong.
//! A table that cannot be read or written costs vendor calls, never the read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use pms_domain::domain::HotelId;
use pms_domain::pms::PmsResult;
use pms_domain::ports::{Clock, Condition, Item, ItemKey, ItemStore};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entries {
    /// Epoch ms of the first fetch: the item lives a TTL from there.
    fetched_at: i64,
    values: BTreeMap<String, Option<String>>,
}

pub struct TableRefCache {
    store: Option<Arc<dyn ItemStore>>,
    clock: Arc<dyn Clock>,
    hotel: HotelId,
    vendor: String,
    ttl: Duration,
    /// What this process holds, by kind: the table's copy plus what it fetched since.
    memory: Mutex<HashMap<String, Entries>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TableRefCache {
    pub fn new(
        store: Option<Arc<dyn ItemStore>>,
        clock: Arc<dyn Clock>,
        hotel: HotelId,
        vendor: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            hotel,
            vendor: vendor.into(),
            ttl,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets what this process holds (the table's copy stays).
    pub fn forget(&self) {
        lock(&self.memory).clear();
    }

    fn key(&self, kind: &str) -> ItemKey {
        ItemKey::hotel(&self.hotel, format!("REF#{}#{kind}", self.vendor))
    }

    fn fresh(&self, e: &Entries, now: DateTime<Utc>) -> bool {
        now.timestamp_millis() - e.fetched_at < self.ttl.num_milliseconds()
    }

    /// This process' entries of `kind`, loaded from the table when it has none that are fresh.
    async fn entries(&self, kind: &str, now: DateTime<Utc>) -> Entries {
        if let Some(e) = lock(&self.memory).get(kind) {
            if self.fresh(e, now) {
                return e.clone();
            }
        }
        let from_table = match &self.store {
            Some(store) => match store.get(&self.key(kind)).await {
                Ok(item) => item.and_then(|i| i.decode::<Entries>().ok()),
                Err(e) => {
                    tracing::warn!(code = e.code(), kind, "reference data cache unreadable");
                    None
                }
            },
            None => None,
        };
        let entries = from_table
            .filter(|e| self.fresh(e, now))
            .unwrap_or_else(|| Entries {
                fetched_at: now.timestamp_millis(),
                values: BTreeMap::new(),
            });
        lock(&self.memory).insert(kind.to_owned(), entries.clone());
        entries
    }

    /// The values of `ids` (ids without one are left out): from this process, else the table,
    /// else `fetch` (given the ids neither has; it answers the values it found), which are
    /// then kept in both.
    pub async fn lookup<F, Fut>(
        &self,
        kind: &str,
        ids: &BTreeSet<String>,
        fetch: F,
    ) -> PmsResult<HashMap<String, String>>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = PmsResult<HashMap<String, Option<String>>>>,
    {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let now = self.clock.now();
        let mut entries = self.entries(kind, now).await;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !entries.values.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mut found = fetch(missing.clone()).await?;
            for id in missing {
                let value = found.remove(&id).flatten();
                entries.values.insert(id, value);
            }
            lock(&self.memory).insert(kind.to_owned(), entries.clone());
            self.save(kind, &entries).await;
        }
        Ok(ids
            .iter()
            .filter_map(|id| {
                entries
                    .values
                    .get(id)
                    .cloned()
                    .flatten()
                    .map(|v| (id.clone(), v))
            })
            .collect())
    }

    async fn save(&self, kind: &str, entries: &Entries) {
        let Some(store) = &self.store else {
            return;
        };
        let expires = (entries.fetched_at + self.ttl.num_milliseconds()) / 1000;
        let item = match Item::encode(self.key(kind), entries) {
            Ok(item) => item.expiring_at(expires),
            Err(e) => {
                tracing::warn!(code = e.code(), kind, "reference data not cached");
                return;
            }
        };
        if let Err(e) = store.put(item, Condition::Always).await {
            tracing::warn!(code = e.code(), kind, "reference data not cached");
        }
    }
}
