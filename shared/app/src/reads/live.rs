//! Entities read from the hotel's PMS on demand, through the read-through cache. Each read
//! names its cache slot, its TTL class, and the adapter call that refreshes it.

use std::sync::Arc;

use crate::cache::{CacheClass, CacheKey, Cached, Freshness, ReadThrough};
use crate::config::HotelConfig;
use crate::domain::hash::sha256_hex;
use crate::domain::{
    ConfirmationNumber, Guest, GuestQuery, HealthStatus, Money, RecordId, Reservation, RoomNumber,
    RoomStatus,
};
use crate::pms::{AdapterFactory, PmsAdapter, PmsError, PmsResult};

use super::ReadError;

#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) cache: ReadThrough,
    pub(crate) adapters: Arc<AdapterFactory>,
}

/// A cached read whose fetch runs against the hotel's adapter, built inside the fetch so an
/// adapter that cannot be built (missing credentials) counts as the PMS being unavailable.
async fn through<T, Fut>(
    live: &Live,
    config: &HotelConfig,
    key: CacheKey,
    class: CacheClass,
    call: impl FnOnce(Arc<dyn PmsAdapter>) -> Fut + Send + 'static,
) -> Result<Option<Cached<T>>, ReadError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    Fut: std::future::Future<Output = PmsResult<Option<T>>> + Send + 'static,
{
    let freshness = Freshness::of(class, &config.cache);
    let adapters = live.adapters.clone();
    let config = config.clone();
    Ok(live
        .cache
        .read(&key, freshness, move || async move {
            let adapter = adapters.adapter_for(&config).await?;
            call(adapter).await
        })
        .await?)
}

impl Live {
    pub(crate) async fn guest(
        &self,
        config: &HotelConfig,
        id: &RecordId,
    ) -> Result<Option<Cached<Guest>>, ReadError> {
        // A guest of another provider cannot be at this hotel's PMS.
        if id.provider() != config.provider {
            return Ok(None);
        }
        let ext = id.external().clone();
        let key = CacheKey::new(&config.hotel_id, "guest", id.to_string());
        through(self, config, key, CacheClass::Guest, move |a| async move {
            a.get_guest(&ext).await
        })
        .await
    }

    pub(crate) async fn search_guests(
        &self,
        config: &HotelConfig,
        query: GuestQuery,
    ) -> Result<Cached<Vec<Guest>>, ReadError> {
        query.validate()?;
        // Keyed by a hash of the normalized criteria: no guest data in keys.
        let norm = serde_json::json!({
            "name": query.name.as_deref().map(|n| n.trim().to_lowercase()),
            "email": query.email.as_deref().map(|e| e.trim().to_lowercase()),
            "phone": query.phone.as_deref().map(GuestQuery::normalize_phone),
        });
        let key = CacheKey::new(
            &config.hotel_id,
            "search",
            &sha256_hex(norm.to_string().as_bytes())[..32],
        );
        let found = through(self, config, key, CacheClass::Guest, move |a| async move {
            match a.search_guests(&query).await {
                Err(PmsError::NotFound { .. }) => Ok(Some(Vec::new())),
                other => other.map(Some),
            }
        })
        .await?;
        found.ok_or_else(|| ReadError::Internal("a guest search answered nothing".into()))
    }

    pub(crate) async fn reservation(
        &self,
        config: &HotelConfig,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Reservation>>, ReadError> {
        let c = confirmation.clone();
        let key = CacheKey::new(&config.hotel_id, "reservation", confirmation.as_str());
        through(
            self,
            config,
            key,
            CacheClass::Reservation,
            move |a| async move { a.get_reservation(&c).await },
        )
        .await
    }

    pub(crate) async fn balance(
        &self,
        config: &HotelConfig,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Money>>, ReadError> {
        let c = confirmation.clone();
        let key = CacheKey::new(&config.hotel_id, "balance", confirmation.as_str());
        through(
            self,
            config,
            key,
            CacheClass::Reservation,
            move |a| async move { a.get_balance(&c).await.map(Some) },
        )
        .await
    }

    pub(crate) async fn room_status(
        &self,
        config: &HotelConfig,
        room: &RoomNumber,
    ) -> Result<Option<Cached<RoomStatus>>, ReadError> {
        let r = room.clone();
        let key = CacheKey::new(&config.hotel_id, "room", room.as_str());
        through(
            self,
            config,
            key,
            CacheClass::RoomStatus,
            move |a| async move { a.room_status(&r).await },
        )
        .await
    }

    pub(crate) async fn room_statuses(
        &self,
        config: &HotelConfig,
    ) -> Result<Cached<Vec<RoomStatus>>, ReadError> {
        let key = CacheKey::new(&config.hotel_id, "rooms", "all");
        through(self, config, key, CacheClass::RoomStatus, |a| async move {
            match a.room_statuses().await {
                Err(PmsError::NotFound { .. }) => Ok(Some(Vec::new())),
                other => other.map(Some),
            }
        })
        .await?
        .ok_or_else(|| ReadError::Internal("room statuses answered nothing".into()))
    }

    /// The adapter's own health check (never cached: it is the live answer).
    pub(crate) async fn health(
        &self,
        config: &HotelConfig,
        now: chrono::DateTime<chrono::Utc>,
    ) -> HealthStatus {
        match self.adapters.adapter_for(config).await {
            Ok(adapter) => adapter.health_check().await,
            Err(e) => HealthStatus {
                provider: config.provider,
                healthy: false,
                latency_ms: 0,
                // The configuration detail (which secret is missing) is for ops, not partners.
                message: Some(match e {
                    PmsError::Configuration { .. } => {
                        "the hotel's PMS connection is not configured".to_owned()
                    }
                    other => other.code().to_owned(),
                }),
                checked_at: now,
            },
        }
    }
}
