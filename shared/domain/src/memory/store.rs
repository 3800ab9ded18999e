use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::store::cursor;
use crate::ports::{
    Clock, Condition, Index, Item, ItemKey, ItemStore, KeyCondition, Page, PortResult, PutOutcome,
    Query,
};

/// An item store in a `BTreeMap`, for unit tests.
pub struct MemoryStore {
    items: Arc<Mutex<BTreeMap<(String, String), Item>>>,
    clock: Arc<dyn Clock>,
    writes: Arc<std::sync::atomic::AtomicU64>,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            items: Arc::new(Mutex::new(BTreeMap::new())),
            clock,
            writes: Default::default(),
        }
    }

    /// Another view of the same items with a different clock (as two readers of one table).
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self {
            items: self.items.clone(),
            clock,
            writes: self.writes.clone(),
        }
    }

    /// Items written so far (puts that applied, batch puts, deletes).
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every item, expired or not (as the table holds them before a TTL sweep).
    pub fn raw_items(&self) -> Vec<Item> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Item>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count_write(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn key_of(k: &ItemKey) -> (String, String) {
    (k.partition.key(), k.sort.clone())
}

fn holds(condition: &Condition, new: &Item, existing: Option<&Item>, now: i64) -> bool {
    match condition {
        Condition::Always => true,
        Condition::IfAbsent => existing.is_none(),
        Condition::IfAbsentOrExpired => existing.is_none_or(|e| e.is_expired(now)),
        Condition::IfNewer => existing.is_none_or(|e| {
            e.version < new.version || (e.version == new.version && e.hash != new.hash)
        }),
        Condition::IfUnchanged => {
            existing.is_some_and(|e| e.version == new.version && e.hash == new.hash)
        }
        Condition::IfDataEquals { field, value } => {
            existing.is_some_and(|e| e.data.get(field) == Some(value))
        }
    }
}

/// The (partition, sort) an item has in an index, if it is in it.
fn index_keys(item: &Item, index: Option<Index>) -> Option<(String, String)> {
    match index {
        None => Some(key_of(&item.key)),
        Some(Index::ByArrival) => item
            .index
            .by_arrival
            .clone()
            .map(|s| (item.key.partition.key(), s)),
        Some(Index::ByDeparture) => item
            .index
            .by_departure
            .clone()
            .map(|s| (item.key.partition.key(), s)),
        Some(Index::Lookup) => item
            .index
            .lookup
            .as_ref()
            .map(|(p, s)| (p.key(), s.clone())),
    }
}

fn sort_matches(key: &KeyCondition, sort: &str) -> bool {
    match key {
        KeyCondition::All => true,
        KeyCondition::Equals(v) => sort == v,
        KeyCondition::BeginsWith(p) => sort.starts_with(p.as_str()),
        KeyCondition::Between(a, b) => sort >= a.as_str() && sort <= b.as_str(),
    }
}

#[async_trait]
impl ItemStore for MemoryStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        let now = self.clock.epoch_seconds();
        Ok(self
            .lock()
            .get(&key_of(key))
            .filter(|i| !i.is_expired(now))
            .cloned())
    }

    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        let now = self.clock.epoch_seconds();
        let mut items = self.lock();
        let k = key_of(&item.key);
        let existing = items.get(&k);
        if !holds(&condition, &item, existing, now) {
            return Ok(PutOutcome::Rejected {
                existing: existing.cloned().map(Box::new),
            });
        }
        items.insert(k, item);
        drop(items);
        self.count_write();
        Ok(PutOutcome::Applied)
    }

    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.lock().remove(&key_of(key));
        self.count_write();
        Ok(())
    }

    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        let now = self.clock.epoch_seconds();
        let items = self.lock();
        let mut seen = std::collections::HashSet::new();
        Ok(keys
            .iter()
            .filter(|k| seen.insert(key_of(k)))
            .filter_map(|k| items.get(&key_of(k)))
            .filter(|i| !i.is_expired(now))
            .cloned()
            .collect())
    }

    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        let n = items.len() as u64;
        let mut map = self.lock();
        for item in items {
            map.insert(key_of(&item.key), item);
        }
        drop(map);
        self.writes
            .fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64> {
        let now = self.clock.epoch_seconds();
        let mut items = self.lock();
        let entry = items
            .entry(key_of(key))
            .or_insert_with(|| Item::new(key.clone(), serde_json::json!({})));
        // An expired counter starts again, as a swept item would.
        if entry.is_expired(now) {
            *entry = Item::new(key.clone(), serde_json::json!({}));
        }
        if !entry.data.is_object() {
            entry.data = serde_json::json!({});
        }
        let value = entry.data.get(field).and_then(|v| v.as_i64()).unwrap_or(0) + by;
        entry.data[field] = serde_json::json!(value);
        if expires_at.is_some() {
            entry.expires_at = expires_at;
        }
        drop(items);
        self.count_write();
        Ok(value)
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        let now = self.clock.epoch_seconds();
        let after = match &query.cursor {
            Some(c) => {
                let key = cursor::decode(c, query)?;
                let sort_attr = query.index.map(Index::sort_attribute).unwrap_or("sk");
                let sort = key.get(sort_attr).cloned().unwrap_or_default();
                let pk = key.get("pk").cloned().unwrap_or_default();
                let sk = key.get("sk").cloned().unwrap_or_default();
                Some((sort, pk, sk))
            }
            None => None,
        };
        let partition = query.partition.key();
        let items = self.lock();
        // Index order: index sort key, then the table key (DynamoDB orders ties arbitrarily but
        // stably; the table key makes ours deterministic).
        let mut matching: Vec<(String, String, String, &Item)> = items
            .values()
            .filter_map(|item| {
                let (p, s) = index_keys(item, query.index)?;
                (p == partition && sort_matches(&query.key, &s))
                    .then(|| (s, item.key.partition.key(), item.key.sort.clone(), item))
            })
            .collect();
        matching.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        if query.descending {
            matching.reverse();
        }
        let start = match &after {
            Some(a) => matching
                .iter()
                .position(|m| (&m.0, &m.1, &m.2) == (&a.0, &a.1, &a.2))
                .map(|p| p + 1)
                .unwrap_or(matching.len()),
            None => 0,
        };
        let limit = query.limit.clamp(1, 1000) as usize;
        let mut page = Vec::new();
        let mut last = None;
        for m in matching.iter().skip(start) {
            last = Some(m);
            if !m.3.is_expired(now) {
                page.push(m.3.clone());
            }
            if page.len() >= limit {
                break;
            }
        }
        let more = last.is_some_and(|l| {
            matching
                .iter()
                .position(|m| std::ptr::eq(m, l))
                .is_some_and(|p| p + 1 < matching.len())
        });
        let cursor = match (more, last) {
            (true, Some(l)) => {
                let mut key = BTreeMap::from([
                    ("pk".to_owned(), l.1.clone()),
                    ("sk".to_owned(), l.2.clone()),
                ]);
                if let Some(index) = query.index {
                    key.insert(index.partition_attribute().to_owned(), partition.clone());
                    key.insert(index.sort_attribute().to_owned(), l.0.clone());
                }
                Some(cursor::encode(&key))
            }
            _ => None,
        };
        Ok(Page {
            items: page,
            cursor,
        })
    }
}
