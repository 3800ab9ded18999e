//! One request's budget of store reads, shared by every field of the request: the session reads
//! the store through [`BudgetedStore`], which counts the items each read returns (a `get` or an
//! empty page counts one) and refuses reads once [`MAX_ITEMS_READ`] are spent. A query reserves
//! its page size before it runs (cut to what is left) and gives back what it did not read, so
//! fields running concurrently never read past the budget together; the field that runs out
//! fails with `READ_BUDGET_EXCEEDED` instead of answering part of what it was asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use pms_domain::ports::{
    Condition, Item, ItemKey, ItemStore, Page, PortError, PortResult, PutOutcome, Query, Service,
};

/// Stored items one request may read, over all its fields: a filtered bookings page may examine
/// 2 000 (`MAX_EXAMINED`), a 30-day in-house view of a large hotel a few thousand.
pub const MAX_ITEMS_READ: u64 = 5000;

/// How a refused read is told apart from a store failure (see `ReadError::from`).
pub(crate) const EXHAUSTED: &str = "the request's read budget is spent";

pub(crate) struct ReadBudget {
    left: AtomicU64,
}

impl ReadBudget {
    pub(crate) fn new(items: u64) -> Arc<Self> {
        Arc::new(Self {
            left: AtomicU64::new(items),
        })
    }

    pub(crate) fn left(&self) -> u64 {
        self.left.load(Ordering::SeqCst)
    }

    /// Reserves up to `items` (what is left, if less); refused when nothing is.
    fn reserve(&self, items: u64) -> PortResult<u64> {
        let mut granted = 0;
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                granted = items.min(l);
                (granted > 0).then(|| l - granted)
            })
            .map(|_| granted)
            .map_err(|_| exhausted())
    }

    fn refund(&self, items: u64) {
        self.left.fetch_add(items, Ordering::SeqCst);
    }

    /// Takes `items` up front, all or nothing.
    fn take(&self, items: u64) -> PortResult<()> {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(items))
            .map(|_| ())
            .map_err(|_| exhausted())
    }
}

fn exhausted() -> PortError {
    PortError::Rejected {
        service: Service::Store,
        message: EXHAUSTED.into(),
    }
}

/// Whether a store error is the budget refusing a read.
pub(crate) fn is_exhausted(e: &PortError) -> bool {
    matches!(e, PortError::Rejected { service: Service::Store, message } if message == EXHAUSTED)
}

/// The store as one request's reads see it. Writes pass through uncounted.
pub(crate) struct BudgetedStore {
    inner: Arc<dyn ItemStore>,
    budget: Arc<ReadBudget>,
}

impl BudgetedStore {
    pub(crate) fn new(inner: Arc<dyn ItemStore>, budget: Arc<ReadBudget>) -> Self {
        Self { inner, budget }
    }
}

#[async_trait]
impl ItemStore for BudgetedStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.budget.take(1)?;
        self.inner.get(key).await
    }

    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        self.inner.put(item, condition).await
    }

    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.inner.delete(key).await
    }

    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        self.budget.take(keys.len() as u64)?;
        self.inner.batch_get(keys).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.inner.batch_put(items).await
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        // Never ask for more than is left: the page ends early, with a cursor, and the caller's
        // next read is refused once nothing is.
        let granted = self.budget.reserve(u64::from(query.limit.max(1)))?;
        let mut q = query.clone();
        q.limit = u32::try_from(granted).unwrap_or(u32::MAX);
        let result = self.inner.query(&q).await;
        let used = result
            .as_ref()
            .map_or(0, |p| (p.items.len() as u64).clamp(1, granted));
        self.budget.refund(granted - used);
        result
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
    use pms_domain::ports::{KeyCondition, ManualClock, Partition};

    #[tokio::test]
    async fn reads_are_counted_by_items_and_cut_at_the_budget() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let inner: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(clock));
        let hotel = HotelId::parse("h").unwrap();
        for i in 0..30 {
            let item = Item::new(
                ItemKey::hotel(&hotel, format!("X#{i:02}")),
                serde_json::json!({}),
            );
            inner.put(item, Condition::Always).await.unwrap();
        }
        let budget = ReadBudget::new(25);
        let store = BudgetedStore::new(inner, budget.clone());
        let q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith("X#".into()),
        )
        .limit(10);
        assert_eq!(store.query(&q).await.unwrap().items.len(), 10);
        assert!(store
            .get(&ItemKey::hotel(&hotel, "X#00"))
            .await
            .unwrap()
            .is_some());
        assert_eq!(budget.left(), 14);
        // Everything: the page that reaches the budget is cut, the next read refused.
        let err = store.query_all(&q).await.unwrap_err();
        assert!(is_exhausted(&err), "{err}");
        assert_eq!(budget.left(), 0);
        assert!(is_exhausted(
            &store
                .get(&ItemKey::hotel(&hotel, "X#01"))
                .await
                .unwrap_err()
        ));
        assert!(!is_exhausted(&PortError::InvalidCursor));
    }
}
