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
}

/// Keeps secrets in process for a TTL (a Lambda container reuses them across invocations) and
/// forgets one on demand, when a vendor answers 401 and the secret may have been rotated.
type Cached = (DateTime<Utc>, Option<SecretString>);

pub struct CachedSecrets {
    inner: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    /// Values by name with the time they were read.
    cache: Mutex<HashMap<String, Cached>>,
}

impl CachedSecrets {
    pub fn new(inner: Arc<dyn SecretStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            inner,
            clock,
            ttl,
            cache: Mutex::new(HashMap::new()),
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
}
