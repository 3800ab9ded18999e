//! Builds the adapter for a hotel from its configuration and its credentials secret, and keeps
//! one per hotel per process so sessions (OHIP tokens) and rate-limit state outlive one
//! invocation.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

pub use super::vendor::AdapterDeps;
use super::vendor::{Build, Vendor};
use crate::registry::stored_provider;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{HotelId, Provider};
use pms_domain::pms::{PmsAdapter, PmsError, PmsResult};
use pms_domain::ports::{CachedSecrets, Clock, ItemStore, SecretStore};

/// How long one vendor request may take (the HTTP client's timeout).
pub const VENDOR_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

type BuiltAdapter = (chrono::DateTime<chrono::Utc>, Arc<dyn PmsAdapter>);

pub struct AdapterFactory {
    secrets: Arc<CachedSecrets>,
    clock: Arc<dyn Clock>,
    secrets_prefix: String,
    http: reqwest::Client,
    store: Option<Arc<dyn ItemStore>>,
    retry_override: Option<pms_domain::pms::RetryPolicy>,
    priority: super::ratelimit::Priority,
    stored: Option<Arc<dyn super::known::StoredReservations>>,
    vendors: HashMap<Provider, Vendor>,
    /// Adapters by hotel, with the configuration version they were built for.
    cache: Mutex<HashMap<HotelId, BuiltAdapter>>,
}

impl AdapterFactory {
    pub fn new(
        secrets: Arc<CachedSecrets>,
        clock: Arc<dyn Clock>,
        secrets_prefix: impl Into<String>,
    ) -> Self {
        let http =
            super::http::vendor_client(VENDOR_CALL_TIMEOUT, std::time::Duration::from_secs(5));
        Self {
            secrets,
            clock,
            secrets_prefix: secrets_prefix.into(),
            http,
            store: None,
            retry_override: None,
            priority: super::ratelimit::Priority::default(),
            stored: None,
            vendors: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What adapters may answer unchanged records of list reads with.
    pub fn with_stored_reservations(
        mut self,
        stored: Arc<dyn super::known::StoredReservations>,
    ) -> Self {
        self.stored = Some(stored);
        self
    }

    /// Shares the table with adapters (cross-instance rate limits).
    pub fn with_store(mut self, store: Arc<dyn ItemStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Runs every vendor call under `policy` instead of the hotel's retry settings.
    pub fn with_retry_override(mut self, policy: pms_domain::pms::RetryPolicy) -> Self {
        self.retry_override = Some(policy);
        self
    }

    /// Draws from this share of every hotel's rate-limit budget (the writer: the writes').
    pub fn with_priority(mut self, priority: super::ratelimit::Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Uses this HTTP client (tests set short timeouts).
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Registers a vendor (see [`Vendor`]).
    pub fn add(&mut self, vendor: Vendor) {
        self.vendors.insert(vendor.provider(), vendor);
    }

    pub fn with_vendor(mut self, vendor: Vendor) -> Self {
        self.add(vendor);
        self
    }

    /// A factory with the same settings and vendors and no adapter built yet (to change a
    /// setting of a factory already shared).
    pub fn fresh(&self) -> Self {
        Self {
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
            secrets_prefix: self.secrets_prefix.clone(),
            http: self.http.clone(),
            store: self.store.clone(),
            retry_override: self.retry_override.clone(),
            priority: self.priority,
            stored: self.stored.clone(),
            vendors: self.vendors.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn credentials_secret(&self, hotel: &HotelId) -> String {
        format!("{}/hotels/{hotel}/pms", self.secrets_prefix)
    }

    /// The hotel's adapter; rebuilt when the configuration changed since it was built. A
    /// rebuild also reads the credentials again: `pmsctl hotel credentials set` stores new
    /// ones and touches the configuration, so every process uses them from its next call.
    pub async fn adapter_for(&self, config: &HotelConfig) -> PmsResult<Arc<dyn PmsAdapter>> {
        let mut cache = self.cache.lock().await;
        if let Some((built_for, adapter)) = cache.get(&config.hotel_id) {
            if *built_for == config.updated_at {
                return Ok(adapter.clone());
            }
            self.secrets
                .invalidate(&self.credentials_secret(&config.hotel_id))
                .await;
        }
        let adapter = self.build(config).await?;
        cache.insert(
            config.hotel_id.clone(),
            (config.updated_at, adapter.clone()),
        );
        Ok(adapter)
    }

    /// Forgets a hotel's adapter and cached credentials (after a 401 that a refresh did not fix).
    pub async fn invalidate(&self, hotel: &HotelId) {
        self.cache.lock().await.remove(hotel);
        self.secrets
            .invalidate(&self.credentials_secret(hotel))
            .await;
    }

    async fn build(&self, config: &HotelConfig) -> PmsResult<Arc<dyn PmsAdapter>> {
        let vendor = self
            .vendors
            .get(&config.provider)
            .ok_or_else(|| PmsError::Configuration {
                message: format!("no adapter is available for {}", config.provider),
            })?;
        // Also for configurations stored before a rule: credentials never go out in clear.
        vendor
            .check_config(config)
            .map_err(|e| PmsError::Configuration {
                message: format!("{} {}", e.field, e.message),
            })?;
        let secret_name = self.credentials_secret(&config.hotel_id);
        let builder = match &vendor.build {
            Build::WithoutCredentials(builder) => {
                return builder(config, &self.deps(secret_name));
            }
            Build::WithCredentials(_, builder) => builder,
        };
        let secret = self
            .secrets
            .get(&secret_name)
            .await
            .map_err(|e| PmsError::Configuration {
                message: format!(
                    "credentials for {} cannot be read: {}",
                    config.hotel_id,
                    e.code()
                ),
            })?
            .ok_or_else(|| PmsError::Configuration {
                message: format!("no credentials are stored for {}", config.hotel_id),
            })?;
        let stored_for = stored_provider(&secret).map_err(|e| PmsError::Configuration {
            message: e.to_string(),
        })?;
        if stored_for != config.provider {
            return Err(PmsError::Configuration {
                message: format!(
                    "{} is configured for {} but its credentials are for {}",
                    config.hotel_id, config.provider, stored_for
                ),
            });
        }
        builder(config, &secret, &self.deps(secret_name))
    }

    fn deps(&self, credentials_secret: String) -> AdapterDeps {
        AdapterDeps {
            clock: self.clock.clone(),
            store: self.store.clone(),
            http: self.http.clone(),
            secrets: self.secrets.clone(),
            credentials_secret,
            retry_override: self.retry_override.clone(),
            priority: self.priority,
            stored: self.stored.clone(),
        }
    }
}

/// Credentials secret name for a hotel under a prefix (shared with the CLI).
pub fn credentials_secret_name(prefix: &str, hotel: &HotelId) -> String {
    format!("{prefix}/hotels/{hotel}/pms")
}
