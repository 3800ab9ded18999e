use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use tokio::sync::Mutex;

use super::{Clock, PortResult};

/// Named secret values (Secrets Manager in AWS). Values are `SecretString`: they cannot be
/// printed by `Debug` or `Display`, so they cannot reach a log line by accident.
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> PortResult<Option<SecretString>>;
    /// Creates the secret or stores a new version of it.
    async fn put(&self, name: &str, value: &SecretString) -> PortResult<()>;
    async fn delete(&self, name: &str) -> PortResult<()>;

    /// The secret as stored now, past any cache, for a caller whose presented value matched
    /// nothing in the copy it read (the value may be new). A cache answers
    /// [`Reread::TooSoon`] when it re-read that secret moments ago, so wrong values cannot
    /// turn every request into a read of the secret; a store without a cache simply reads.
    async fn reread(&self, name: &str) -> PortResult<Reread> {
        self.get(name).await.map(Reread::Read)
    }
}

/// The outcome of [`SecretStore::reread`].
#[derive(Clone, Debug)]
pub enum Reread {
    /// The stored value (`None`: there is no such secret).
    Read(Option<SecretString>),
    /// Re-read less than [`REREAD_INTERVAL`] ago: the cached copy is that recent.
    TooSoon,
}

/// The least time between two re-reads of one secret past the cache: a new key works on the
/// first request made this long after the last re-read of its hotel's secret (two keys made
/// within a second of each other), and wrong keys cost at most one read per interval. Partner
/// requests reach it only with a valid token for the hotel; vendor webhooks only for a
/// configured hotel.
pub const REREAD_INTERVAL: Duration = Duration::seconds(1);

/// Keeps secrets in process for a TTL (a Lambda container reuses them across invocations) and
/// forgets one on demand, when a vendor answers 401 and the secret may have been rotated.
type Cached = (DateTime<Utc>, Option<SecretString>);

pub struct CachedSecrets {
    inner: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    /// Values by name with the time they were read.
    cache: Mutex<HashMap<String, Cached>>,
    /// When each secret was last re-read past the cache (one entry per secret name, and
    /// names are per configured hotel, so this stays small).
    rereads: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl CachedSecrets {
    pub fn new(inner: Arc<dyn SecretStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            inner,
            clock,
            ttl,
            cache: Mutex::new(HashMap::new()),
            rereads: Mutex::new(HashMap::new()),
        }
    }

    pub async fn invalidate(&self, name: &str) {
        self.cache.lock().await.remove(name);
    }
}

#[async_trait]
impl SecretStore for CachedSecrets {
    async fn get(&self, name: &str) -> PortResult<Option<SecretString>> {
        let now = self.clock.now();
        if let Some((at, value)) = self.cache.lock().await.get(name) {
            if now - *at < self.ttl {
                return Ok(value.clone());
            }
        }
        // Not holding the lock across the call: concurrent misses may both fetch, which is
        // harmless for a read and avoids serialising unrelated secrets behind one slow fetch.
        let value = self.inner.get(name).await?;
        self.cache
            .lock()
            .await
            .insert(name.to_owned(), (now, value.clone()));
        Ok(value)
    }

    async fn put(&self, name: &str, value: &SecretString) -> PortResult<()> {
        self.inner.put(name, value).await?;
        self.invalidate(name).await;
        Ok(())
    }

    async fn delete(&self, name: &str) -> PortResult<()> {
        self.inner.delete(name).await?;
        self.invalidate(name).await;
        Ok(())
    }

    async fn reread(&self, name: &str) -> PortResult<Reread> {
        let now = self.clock.now();
        {
            // Claimed before the read, so concurrent misses make one read, not one each.
            let mut rereads = self.rereads.lock().await;
            if rereads
                .get(name)
                .is_some_and(|at| now - *at < REREAD_INTERVAL)
            {
                return Ok(Reread::TooSoon);
            }
            rereads.insert(name.to_owned(), now);
        }
        let value = self.inner.get(name).await?;
        self.cache
            .lock()
            .await
            .insert(name.to_owned(), (now, value.clone()));
        Ok(Reread::Read(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ManualClock;
    use secrecy::ExposeSecret;

    /// A plain store (the in-memory adapters live beside the ports, not under them).
    #[derive(Default)]
    struct MemorySecrets(std::sync::Mutex<HashMap<String, String>>);

    impl MemorySecrets {
        fn new() -> Self {
            Self::default()
        }
    }

    #[async_trait]
    impl SecretStore for MemorySecrets {
        async fn get(&self, name: &str) -> PortResult<Option<SecretString>> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(name)
                .cloned()
                .map(SecretString::from))
        }
        async fn put(&self, name: &str, value: &SecretString) -> PortResult<()> {
            self.0
                .lock()
                .unwrap()
                .insert(name.to_owned(), value.expose_secret().to_owned());
            Ok(())
        }
        async fn delete(&self, name: &str) -> PortResult<()> {
            self.0.lock().unwrap().remove(name);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_reread_sees_a_new_value_at_most_once_per_interval() {
        let inner = Arc::new(MemorySecrets::new());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let cached = CachedSecrets::new(inner.clone(), clock.clone(), Duration::minutes(5));
        inner.put("s", &SecretString::from("v1")).await.unwrap();
        let read = |v: Option<SecretString>| v.map(|s| s.expose_secret().to_owned());
        assert_eq!(read(cached.get("s").await.unwrap()).as_deref(), Some("v1"));
        // Changed behind the cache (another process): the cached copy is still served...
        inner.put("s", &SecretString::from("v2")).await.unwrap();
        assert_eq!(read(cached.get("s").await.unwrap()).as_deref(), Some("v1"));
        // ...until a caller that found no match re-reads it, which refreshes the cache too.
        match cached.reread("s").await.unwrap() {
            Reread::Read(v) => assert_eq!(read(v).as_deref(), Some("v2")),
            Reread::TooSoon => panic!("first re-read refused"),
        }
        assert_eq!(read(cached.get("s").await.unwrap()).as_deref(), Some("v2"));
        // Another at once is refused; after the interval it reads again.
        inner.put("s", &SecretString::from("v3")).await.unwrap();
        assert!(matches!(cached.reread("s").await.unwrap(), Reread::TooSoon));
        clock.advance(REREAD_INTERVAL);
        assert!(matches!(
            cached.reread("s").await.unwrap(),
            Reread::Read(Some(_))
        ));
        assert_eq!(read(cached.get("s").await.unwrap()).as_deref(), Some("v3"));
    }
}
