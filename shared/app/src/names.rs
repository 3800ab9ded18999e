//! The deployment's resource names: the environment contract every function, the CLI and the
//! tests read (docs/ARCHITECTURE.md).

use std::env;

/// The deployment's resource names, from the environment contract (docs/ARCHITECTURE.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceNames {
    pub table: String,
    pub sync_queue_url: String,
    pub sync_dlq_url: String,
    /// Webhook and operator refreshes: their own queue, so they never wait behind bulk work.
    pub refresh_queue_url: String,
    pub refresh_dlq_url: String,
    pub write_queue_url: String,
    pub write_dlq_url: String,
    /// Partner event subscriptions: the rule's events and the deliveries' retries.
    pub delivery_queue_url: String,
    pub delivery_dlq_url: String,
    pub event_bus: String,
    pub secrets_prefix: String,
    pub token_key_secret: String,
    pub metrics_namespace: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set (see docs/ARCHITECTURE.md for the contract)")]
pub struct MissingEnv(pub &'static str);

impl ResourceNames {
    pub fn from_env() -> Result<Self, MissingEnv> {
        Self::from_lookup(|k| env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, MissingEnv> {
        let req = |k: &'static str| get(k).filter(|v| !v.is_empty()).ok_or(MissingEnv(k));
        Ok(Self {
            table: req("TABLE_NAME")?,
            sync_queue_url: req("SYNC_QUEUE_URL")?,
            sync_dlq_url: req("SYNC_DLQ_URL")?,
            refresh_queue_url: req("REFRESH_QUEUE_URL")?,
            refresh_dlq_url: req("REFRESH_DLQ_URL")?,
            write_queue_url: req("WRITE_QUEUE_URL")?,
            write_dlq_url: req("WRITE_DLQ_URL")?,
            delivery_queue_url: req("DELIVERY_QUEUE_URL")?,
            delivery_dlq_url: req("DELIVERY_DLQ_URL")?,
            event_bus: req("EVENT_BUS_NAME")?,
            secrets_prefix: req("SECRETS_PREFIX")?,
            token_key_secret: req("TOKEN_KEY_SECRET")?,
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "PmsIntegration".into()),
        })
    }

    /// The queue of a lane.
    pub fn queue_url(&self, lane: crate::jobs::Lane) -> &str {
        match lane {
            crate::jobs::Lane::Refresh => &self.refresh_queue_url,
            crate::jobs::Lane::Bulk => &self.sync_queue_url,
        }
    }

    /// Name of a hotel's vendor-credentials secret.
    pub fn hotel_credentials_secret(&self, hotel: &pms_domain::domain::HotelId) -> String {
        format!("{}/hotels/{hotel}/pms", self.secrets_prefix)
    }

    /// Name of a hotel's webhook-secret secret.
    pub fn hotel_webhook_secret(&self, hotel: &pms_domain::domain::HotelId) -> String {
        format!("{}/hotels/{hotel}/webhook", self.secrets_prefix)
    }
}
