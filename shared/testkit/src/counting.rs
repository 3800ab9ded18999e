//! A store decorator that counts the operations reaching the real store (moto in integration
//! tests), to show that some requests touch nothing, and logs the keys of every write request
//! (applied or refused by its condition), to show which items a piece of work wrote. It changes
//! no behaviour.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use pms_domain::ports::{Condition, Item, ItemKey, ItemStore, Page, PortResult, PutOutcome, Query};

pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    calls: AtomicU64,
    busy_nanos: AtomicU64,
    written: Mutex<Vec<ItemKey>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        Self {
            inner,
            calls: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            written: Mutex::new(Vec::new()),
        }
    }

    /// The keys of the write requests so far (puts, conditional or not, deletes, batch puts,
    /// increments), in order, and forgets them.
    pub fn take_writes(&self) -> Vec<ItemKey> {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn wrote<'a>(&self, keys: impl IntoIterator<Item = &'a ItemKey>) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(keys.into_iter().cloned());
    }

    /// Operations so far (reads and writes).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Time spent waiting for the real store, summed over operations (overlapping ones add up).
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(Ordering::SeqCst))
    }

    async fn count<T>(&self, op: impl Future<Output = T>) -> T {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let out = op.await;
        self.busy_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::SeqCst);
        out
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.count(self.inner.get(key)).await
    }
    async fn get_eventual(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.count(self.inner.get_eventual(key)).await
    }
    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        self.wrote([&item.key]);
        self.count(self.inner.put(item, condition)).await
    }
    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.wrote([key]);
        self.count(self.inner.delete(key)).await
    }
    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        self.count(self.inner.batch_get(keys)).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.wrote(items.iter().map(|i| &i.key));
        self.count(self.inner.batch_put(items)).await
    }
    async fn query(&self, query: &Query) -> PortResult<Page> {
        self.count(self.inner.query(query)).await
    }
    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64> {
        self.wrote([key]);
        self.count(self.inner.increment(key, field, by, expires_at))
            .await
    }
}
