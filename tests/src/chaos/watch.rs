//! Watches every write of canonical records (bookings, guests, rooms, availability) for a state
//! regression: a record replaced by one with an older source version. Writes to one record are
//! serialised here so the order they applied in is the order they are seen in (the store
//! serialises them anyway); nothing else changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pms_domain::ports::{Condition, Item, ItemKey, ItemStore, Page, PortResult, PutOutcome, Query};

const WATCHED: [&str; 4] = ["BOOKING#", "GUEST#", "ROOM#", "AVAIL#"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regression {
    pub key: String,
    pub from: u64,
    pub to: u64,
}

pub struct WatchStore {
    inner: Arc<dyn ItemStore>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Highest version applied per record.
    seen: Mutex<HashMap<String, u64>>,
    regressions: Mutex<Vec<Regression>>,
    writes: std::sync::atomic::AtomicU64,
}

fn watched(key: &ItemKey) -> Option<String> {
    WATCHED
        .iter()
        .any(|p| key.sort.starts_with(p))
        .then(|| format!("{}|{}", key.partition.key(), key.sort))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl WatchStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        Self {
            inner,
            locks: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            regressions: Mutex::new(Vec::new()),
            writes: Default::default(),
        }
    }

    /// Regressions seen since the last call.
    pub fn take_regressions(&self) -> Vec<Regression> {
        std::mem::take(&mut *lock(&self.regressions))
    }

    /// Record writes that applied so far.
    pub fn record_writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn applied(&self, key: String, version: u64) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut seen = lock(&self.seen);
        let last = seen.entry(key.clone()).or_insert(version);
        if version < *last {
            lock(&self.regressions).push(Regression {
                key,
                from: *last,
                to: version,
            });
        } else {
            *last = version;
        }
    }
}

#[async_trait]
impl ItemStore for WatchStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.inner.get(key).await
    }

    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        let Some(name) = watched(&item.key) else {
            return self.inner.put(item, condition).await;
        };
        let gate = lock(&self.locks)
            .entry(name.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _serial = gate.lock().await;
        let version = item.version;
        let outcome = self.inner.put(item, condition).await?;
        if outcome.applied() {
            self.applied(name, version);
        }
        Ok(outcome)
    }

    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.inner.delete(key).await
    }

    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        self.inner.batch_get(keys).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        let versions: Vec<(String, u64)> = items
            .iter()
            .filter_map(|i| watched(&i.key).map(|k| (k, i.version)))
            .collect();
        self.inner.batch_put(items).await?;
        for (k, v) in versions {
            self.applied(k, v);
        }
        Ok(())
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        self.inner.query(query).await
    }

    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64> {
        self.inner.increment(key, field, by, expires_at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::HotelId;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::SystemClock;

    #[tokio::test]
    async fn an_applied_write_of_an_older_version_is_a_regression() {
        let w = WatchStore::new(Arc::new(MemoryStore::new(Arc::new(SystemClock))));
        let hotel = HotelId::parse("h1").unwrap();
        let key = ItemKey::hotel(&hotel, "BOOKING#mews#r1");
        let item = |v: u64| {
            Item::new(key.clone(), serde_json::json!({"v": v})).with_version(v, format!("h{v}"))
        };
        assert!(w.put(item(2), Condition::IfNewer).await.unwrap().applied());
        // Refused by the condition: nothing happened, no regression.
        assert!(!w.put(item(1), Condition::IfNewer).await.unwrap().applied());
        assert!(w.take_regressions().is_empty());
        w.put(item(1), Condition::Always).await.unwrap();
        assert_eq!(
            w.take_regressions(),
            vec![Regression {
                key: "H#h1|BOOKING#mews#r1".into(),
                from: 2,
                to: 1
            }]
        );
        // Bookkeeping items are not watched.
        let other = ItemKey::hotel(&hotel, "IDEMP#k");
        w.put(
            Item::new(other.clone(), serde_json::json!({})).with_version(9, "a"),
            Condition::Always,
        )
        .await
        .unwrap();
        w.put(
            Item::new(other, serde_json::json!({})).with_version(1, "b"),
            Condition::Always,
        )
        .await
        .unwrap();
        assert!(w.take_regressions().is_empty());
        assert_eq!(w.record_writes(), 2);
    }
}
