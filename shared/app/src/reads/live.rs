//! Entities read from the hotel's PMS on demand, through the read-through cache. Each read
//! names its cache slot, its TTL class, and the adapter call that refreshes it, and works to the
//! session's deadline: an answer the PMS has not given by then is a timeout, which the cache
//! bridges with its stale copy (or answers `PMS_UNAVAILABLE`). While the hotel's circuit
//! breaker is open ([`crate::health`]) a read the cache cannot answer fresh does not call the
//! PMS at all: it gets the same stale copy or `PMS_UNAVAILABLE`, at once.

use std::sync::Arc;

use tokio::time::Instant;

use crate::cache::{CacheClass, CacheKey, Cached, Freshness, ReadThrough};
use crate::health::{Breaker, Breakers, CircuitView, Observation};
use pms_domain::config::HotelConfig;
use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::{
    ConfirmationNumber, Guest, GuestQuery, HealthStatus, Money, RecordId, Reservation, RoomNumber,
    RoomStatus,
};
use pms_domain::pms::{deadline, PmsAdapter, PmsError, PmsResult, UnavailableCause};
use pms_vendor_kit::pms::AdapterFactory;

use super::ReadError;

#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) cache: ReadThrough,
    pub(crate) adapters: Arc<AdapterFactory>,
    pub(crate) breakers: Breakers,
}

/// The hotel's breaker for a read: a breaker that cannot be read is taken as closed (the PMS
/// may well answer; the read's own deadline still bounds it).
async fn breaker_for_read(breakers: &Breakers, hotel: &pms_domain::domain::HotelId) -> Breaker {
    breakers.get_for_read(hotel).await.unwrap_or_else(|e| {
        tracing::warn!(
            code = e.code(),
            "circuit breaker unreadable; reading through"
        );
        Breaker::default()
    })
}

fn circuit_open() -> PmsError {
    PmsError::unavailable(
        UnavailableCause::CircuitOpen,
        "the hotel's PMS circuit breaker is open",
    )
}

/// What a read showed the breaker: an answer (only when there is a count to reset) or a
/// failure that says the PMS is unhealthy.
fn read_observation<T>(before: &Breaker, result: &PmsResult<T>) -> Option<Observation> {
    match result {
        Ok(_) | Err(PmsError::NotFound { .. }) => {
            (before.failures() > 0).then_some(Observation::Answered)
        }
        Err(e) => Observation::of_error(e),
    }
}

/// Tells the breaker, best effort: the read's answer does not depend on it.
async fn observe_read(
    breakers: &Breakers,
    hotel: &pms_domain::domain::HotelId,
    observation: Option<Observation>,
) {
    if let Some(o) = observation {
        if let Err(e) = breakers.observe(hotel, o, None).await {
            tracing::warn!(code = e.code(), "circuit breaker not updated");
        }
    }
}

/// Runs PMS work to `until`: every retry and rate-limit wait inside it knows the deadline, and
/// whatever is still running then (a hanging connection, a token fetch) is cut.
pub(crate) async fn by_deadline<T>(
    until: Instant,
    work: impl std::future::Future<Output = PmsResult<T>>,
) -> PmsResult<T> {
    deadline::within_deadline(until, async {
        tokio::time::timeout_at(until, work)
            .await
            .unwrap_or_else(|_| {
                Err(PmsError::unavailable(
                    UnavailableCause::Timeout,
                    "the PMS did not answer before the read deadline",
                ))
            })
    })
    .await
}

/// A cached read whose fetch runs against the hotel's adapter, built inside the fetch so an
/// adapter that cannot be built (missing credentials) counts as the PMS being unavailable.
async fn through<T, Fut>(
    live: &Live,
    config: &HotelConfig,
    until: Instant,
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
    let breakers = live.breakers.clone();
    let config = config.clone();
    Ok(live
        .cache
        .read(&key, freshness, move || {
            by_deadline(until, async move {
                // Boxed: the breaker's store calls would otherwise grow every read's future,
                // which async-graphql nests deep (debug builds overflowed a test's stack).
                let breaker = Box::pin(breaker_for_read(&breakers, &config.hotel_id)).await;
                if breaker.is_open() {
                    return Err(circuit_open());
                }
                let adapter = adapters.adapter_for(&config).await?;
                let result = call(adapter).await;
                let observation = read_observation(&breaker, &result);
                Box::pin(observe_read(&breakers, &config.hotel_id, observation)).await;
                result
            })
        })
        .await?)
}

impl Live {
    pub(crate) async fn guest(
        &self,
        config: &HotelConfig,
        until: Instant,
        id: &RecordId,
    ) -> Result<Option<Cached<Guest>>, ReadError> {
        // A guest of another provider cannot be at this hotel's PMS.
        if id.provider() != config.provider {
            return Ok(None);
        }
        let ext = id.external().clone();
        let key = CacheKey::new(&config.hotel_id, "guest", id.to_string());
        through(
            self,
            config,
            until,
            key,
            CacheClass::Guest,
            move |a| async move { a.get_guest(&ext).await },
        )
        .await
    }

    pub(crate) async fn search_guests(
        &self,
        config: &HotelConfig,
        until: Instant,
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
        let found = through(
            self,
            config,
            until,
            key,
            CacheClass::Guest,
            move |a| async move {
                match a.search_guests(&query).await {
                    Err(PmsError::NotFound { .. }) => Ok(Some(Vec::new())),
                    other => other.map(Some),
                }
            },
        )
        .await?;
        found.ok_or_else(|| ReadError::Internal("a guest search answered nothing".into()))
    }

    pub(crate) async fn reservation(
        &self,
        config: &HotelConfig,
        until: Instant,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Reservation>>, ReadError> {
        let c = confirmation.clone();
        let key = CacheKey::new(&config.hotel_id, "reservation", confirmation.as_str());
        through(
            self,
            config,
            until,
            key,
            CacheClass::Reservation,
            move |a| async move { a.get_reservation(&c).await },
        )
        .await
    }

    pub(crate) async fn balance(
        &self,
        config: &HotelConfig,
        until: Instant,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Money>>, ReadError> {
        let c = confirmation.clone();
        let key = CacheKey::new(&config.hotel_id, "balance", confirmation.as_str());
        through(
            self,
            config,
            until,
            key,
            CacheClass::Reservation,
            move |a| async move { a.get_balance(&c).await.map(Some) },
        )
        .await
    }

    pub(crate) async fn room_status(
        &self,
        config: &HotelConfig,
        until: Instant,
        room: &RoomNumber,
    ) -> Result<Option<Cached<RoomStatus>>, ReadError> {
        let r = room.clone();
        let key = CacheKey::new(&config.hotel_id, "room", room.as_str());
        through(
            self,
            config,
            until,
            key,
            CacheClass::RoomStatus,
            move |a| async move { a.room_status(&r).await },
        )
        .await
    }

    pub(crate) async fn room_statuses(
        &self,
        config: &HotelConfig,
        until: Instant,
    ) -> Result<Cached<Vec<RoomStatus>>, ReadError> {
        let key = CacheKey::new(&config.hotel_id, "rooms", "all");
        through(
            self,
            config,
            until,
            key,
            CacheClass::RoomStatus,
            |a| async move {
                match a.room_statuses().await {
                    Err(PmsError::NotFound { .. }) => Ok(Some(Vec::new())),
                    other => other.map(Some),
                }
            },
        )
        .await?
        .ok_or_else(|| ReadError::Internal("room statuses answered nothing".into()))
    }

    /// The hotel's circuit breaker as shown.
    pub(crate) async fn circuit(
        &self,
        config: &HotelConfig,
        now: chrono::DateTime<chrono::Utc>,
    ) -> CircuitView {
        Box::pin(breaker_for_read(&self.breakers, &config.hotel_id))
            .await
            .view(now)
    }

    /// The adapter's own health check (never cached: it is the live answer), by the deadline;
    /// while the hotel's circuit breaker is open, unhealthy at once without calling the PMS.
    /// Its message is a fixed text: what the vendor answered is logged for ops.
    pub(crate) async fn health(
        &self,
        config: &HotelConfig,
        until: Instant,
        now: chrono::DateTime<chrono::Utc>,
        circuit: &CircuitView,
    ) -> HealthStatus {
        let started = std::time::Instant::now();
        let open = circuit.state != crate::health::CircuitState::Closed;
        let checked = by_deadline(until, async {
            if open {
                return Err(circuit_open());
            }
            let adapter = self.adapters.adapter_for(config).await?;
            Ok(adapter.health_check().await)
        })
        .await;
        let unhealthy = |message: &str| HealthStatus {
            provider: config.provider,
            healthy: false,
            latency_ms: started.elapsed().as_millis() as u64,
            message: Some(message.to_owned()),
            checked_at: now,
        };
        match checked {
            Ok(h) if h.healthy => HealthStatus { message: None, ..h },
            Ok(h) => {
                tracing::warn!(hotel = %config.hotel_id, detail = h.message.as_deref().unwrap_or(""), "PMS health check failed");
                HealthStatus {
                    message: Some("the hotel's PMS did not pass the health check".to_owned()),
                    ..h
                }
            }
            Err(PmsError::Configuration { message }) => {
                tracing::warn!(hotel = %config.hotel_id, detail = %message, "PMS connection not configured");
                unhealthy("the hotel's PMS connection is not configured")
            }
            Err(e) => {
                tracing::warn!(hotel = %config.hotel_id, error = %e, "PMS health check failed");
                unhealthy(super::public_error_message(e.code()))
            }
        }
    }
}
