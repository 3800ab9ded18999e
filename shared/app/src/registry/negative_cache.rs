//! A bounded memory of keys recently found not to exist (hotel ids on webhook URLs, partner
//! token ids), so an unauthenticated caller repeating one costs no store or secret read. An
//! entry is forgotten after its time to live (a hotel added later is seen then), and when the
//! memory is full the oldest entries go first: a flood of distinct keys costs a bounded amount
//! of memory, never more.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub struct NegativeCache<K> {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner<K>>,
}

struct Inner<K> {
    /// When each key was last found absent.
    since: HashMap<K, DateTime<Utc>>,
    /// Keys in the order they were first remembered (may hold keys forgotten since).
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone> NegativeCache<K> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity,
            ttl,
            inner: Mutex::new(Inner {
                since: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` was found absent less than the time to live before `now`.
    pub fn contains(&self, key: &K, now: DateTime<Utc>) -> bool {
        self.lock()
            .since
            .get(key)
            .is_some_and(|at| now - *at < self.ttl)
    }

    /// Remembers that `key` does not exist, as of `now`.
    pub fn insert(&self, key: K, now: DateTime<Utc>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if let Some(at) = inner.since.get_mut(&key) {
            *at = now;
            return;
        }
        while inner.since.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.since.remove(&oldest);
                }
                None => break,
            }
        }
        inner.since.insert(key.clone(), now);
        inner.order.push_back(key);
        // Keys forgotten by `remove` stay in `order` until evicted: keep it proportionate.
        if inner.order.len() > 2 * self.capacity {
            let Inner { since, order } = &mut *inner;
            order.retain(|k| since.contains_key(k));
        }
    }

    /// Forgets `key` (it has just been created).
    pub fn remove(&self, key: &K) {
        self.lock().since.remove(key);
    }

    /// Keys remembered (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.lock().since.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_its_ttl_and_never_more_than_its_capacity() {
        let t0 = Utc::now();
        let cache = NegativeCache::new(3, Duration::seconds(60));
        cache.insert("a", t0);
        assert!(cache.contains(&"a", t0 + Duration::seconds(59)));
        assert!(!cache.contains(&"a", t0 + Duration::seconds(60)));
        assert!(!cache.contains(&"b", t0));
        // A flood of distinct keys: the oldest go first, memory stays at the capacity.
        for i in 0..1000 {
            cache.insert(if i == 0 { "b" } else { "x" }, t0);
            cache.insert(Box::leak(format!("k{i}").into_boxed_str()), t0);
            assert!(cache.len() <= 3);
        }
        assert!(cache.contains(&"k999", t0));
        assert!(!cache.contains(&"a", t0));
        // Seen again: remembered from the new time.
        cache.insert("k999", t0 + Duration::seconds(50));
        assert!(cache.contains(&"k999", t0 + Duration::seconds(100)));
        cache.remove(&"k999");
        assert!(!cache.contains(&"k999", t0));
        for i in 0..100 {
            let k: &'static str = Box::leak(format!("r{i}").into_boxed_str());
            cache.insert(k, t0);
            cache.remove(&k);
        }
        assert!(cache.inner.lock().unwrap().order.len() <= 6);
        let off = NegativeCache::new(0, Duration::seconds(60));
        off.insert(1, t0);
        assert!(!off.contains(&1, t0));
    }
}
