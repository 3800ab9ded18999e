use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::ports::{PortResult, SecretStore};

#[derive(Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<String, String>>,
    reads: std::sync::atomic::AtomicU64,
}

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, name: &str) -> PortResult<Option<SecretString>> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self
            .values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|v| SecretString::from(v.clone())))
    }

    async fn put(&self, name: &str, value: &SecretString) -> PortResult<()> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), value.expose_secret().to_owned());
        Ok(())
    }

    async fn delete(&self, name: &str) -> PortResult<()> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(())
    }
}
