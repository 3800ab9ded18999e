//! The read-through cache for entities read from a hotel's PMS on demand (guests, reservations,
//! room statuses, balances): see [`ReadThrough`]. TTLs come from the hotel's `cache` settings;
//! "not found" answers are remembered for [`NOT_FOUND_TTL_SECONDS`].

mod read_through;
mod single_flight;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use pms_domain::config::CacheSettings;
use pms_domain::domain::HotelId;
use pms_domain::pms::PmsError;
use pms_domain::ports::{ItemKey, PortError};

pub use read_through::ReadThrough;
pub use single_flight::SingleFlight;

/// Sort-key prefix of cache entries in a hotel's partition.
pub const CACHE_PREFIX: &str = "CACHE#";

/// Which TTL of the hotel's cache settings applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheClass {
    /// `guestTTL` (1 h by default).
    Guest,
    /// `reservationTTL` (5 min by default); balances too.
    Reservation,
    /// `roomStatusTTL` (1 min by default).
    RoomStatus,
}

/// How long "not found" answers of the PMS are remembered (at most the class's TTL): long
/// enough that asking again and again for an id that does not exist costs the PMS one call per
/// period, short enough that an entity created meanwhile shows up soon.
pub const NOT_FOUND_TTL_SECONDS: i64 = 30;

/// How long a cached value is fresh, and how long it may still be served stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub ttl: Duration,
    /// `ttl × staleFactor`: older copies are never served.
    pub tolerance: Duration,
    /// How long a "not found" answer is served from the cache.
    pub not_found_ttl: Duration,
}

impl Freshness {
    pub fn of(class: CacheClass, settings: &CacheSettings) -> Self {
        let seconds = match class {
            CacheClass::Guest => settings.guest_ttl,
            CacheClass::Reservation => settings.reservation_ttl,
            CacheClass::RoomStatus => settings.room_status_ttl,
        };
        let ttl = Duration::seconds(i64::from(seconds));
        Self {
            ttl,
            tolerance: ttl * (settings.stale_factor.max(1) as i32),
            not_found_ttl: ttl.min(Duration::seconds(NOT_FOUND_TTL_SECONDS)),
        }
    }
}

/// A cache slot: an entity of one hotel. `kind` and `id` must not contain `#` (they are built
/// from validated ids, or hashed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    hotel: HotelId,
    kind: &'static str,
    id: String,
}

impl CacheKey {
    pub fn new(hotel: &HotelId, kind: &'static str, id: impl Into<String>) -> Self {
        Self {
            hotel: hotel.clone(),
            kind,
            id: id.into(),
        }
    }

    pub fn hotel(&self) -> &HotelId {
        &self.hotel
    }

    /// `CACHE#<kind>#<id>`, in the hotel's partition.
    pub fn sort_key(&self) -> String {
        format!("{CACHE_PREFIX}{}#{}", self.kind, self.id)
    }

    pub fn item_key(&self) -> ItemKey {
        ItemKey::hotel(&self.hotel, self.sort_key())
    }

    fn flight_key(&self) -> String {
        format!("{}|{}", self.hotel, self.sort_key())
    }
}

/// A value from the cache.
#[derive(Clone, Debug, PartialEq)]
pub struct Cached<T> {
    pub value: T,
    /// When the value was read from the PMS.
    pub fetched_at: DateTime<Utc>,
    /// The PMS could not be reached and this copy is older than the TTL.
    pub stale: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The PMS cannot answer and no copy younger than the stale tolerance is cached. Retryable.
    #[error("the PMS is unavailable ({}) and no copy younger than {tolerance_seconds} s is cached", cause.code())]
    Unavailable {
        cause: Arc<PmsError>,
        tolerance_seconds: i64,
    },
    /// The PMS answered with an error that a cached copy must not hide (the request is invalid,
    /// or the vendor does not support it).
    #[error(transparent)]
    Pms(Arc<PmsError>),
    /// A cached value no longer decodes as the type asked for.
    #[error("a cached value cannot be decoded: {0}")]
    Decode(String),
    /// A value fetched from the PMS that we cannot encode for the cache (a bug). Not retryable.
    #[error(transparent)]
    Encode(Arc<PortError>),
}

impl CacheError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CacheError::Unavailable { .. } => true,
            CacheError::Pms(e) => e.is_retryable(),
            CacheError::Decode(_) | CacheError::Encode(_) => false,
        }
    }
}

#[cfg(test)]
mod tests;
