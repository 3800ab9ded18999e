//! The read-through cache over the item store.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::single_flight::SingleFlight;
use super::{CacheError, CacheKey, Cached, Freshness};
use pms_domain::domain::hash::content_hash;
use pms_domain::pms::{PmsError, PmsResult};
use pms_domain::ports::store::encode_value;
use pms_domain::ports::{Clock, Condition, Item, ItemStore, PortError};

/// A cache entry as stored: the value and when it was read from the PMS, or that the PMS said
/// the entity does not exist.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    fetched_at: DateTime<Utc>,
    value: serde_json::Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    not_found: bool,
}

impl Entry {
    /// Answers a read without the PMS: a value younger than the TTL, or a "not found" younger
    /// than its own short TTL.
    fn fresh(&self, now: DateTime<Utc>, freshness: &Freshness) -> bool {
        let age = now - self.fetched_at;
        if self.not_found {
            age < freshness.not_found_ttl
        } else {
            age < freshness.ttl
        }
    }
}

/// What one upstream flight produced, shared by every reader that joined it.
type FlightOutcome = Result<Option<Entry>, FlightError>;

/// Why a flight produced no entry: the PMS's error, or a fetched value we could not encode.
#[derive(Clone, Debug)]
enum FlightError {
    Pms(Arc<PmsError>),
    Encode(Arc<PortError>),
}

/// Errors meaning "the PMS cannot answer now", as opposed to a definitive answer (invalid
/// request, unsupported operation). Only these are bridged with a stale copy.
fn upstream_down(e: &PmsError) -> bool {
    matches!(
        e,
        PmsError::Unavailable { .. }
            | PmsError::RateLimited { .. }
            | PmsError::Unauthorized { .. }
            | PmsError::Protocol { .. }
            | PmsError::Configuration { .. }
    )
}

/// Entities fetched from a PMS on demand, kept in the store with their fetch time.
///
/// - fresh (younger than the TTL): answered from the store, no PMS call;
/// - expired, or absent: one PMS fetch per key in this process, shared by concurrent readers;
///   the result is stored and returned;
/// - the PMS cannot answer: the stored copy, flagged stale, while it is younger than the stale
///   tolerance; past it (or with no copy) [`CacheError::Unavailable`];
/// - the PMS says the entity does not exist: `None`, remembered as such (replacing any copy,
///   which is never served again) for the short `not_found_ttl`, so asking for ids that do not
///   exist does not cost a PMS call each time.
///
/// Entries carry a store TTL (`expires_at` = fetched + tolerance), so the table sweeps them, and
/// every read re-checks the age itself because sweeps are late.
#[derive(Clone)]
pub struct ReadThrough {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    flights: Arc<SingleFlight<FlightOutcome>>,
}

impl ReadThrough {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            flights: Arc::new(SingleFlight::new()),
        }
    }

    /// Reads `key`, fetching it with `fetch` when the stored copy is missing or expired.
    /// `fetch` answers `Ok(None)` (or `PmsError::NotFound`) when the entity does not exist.
    pub async fn read<T, F, Fut>(
        &self,
        key: &CacheKey,
        freshness: Freshness,
        fetch: F,
    ) -> Result<Option<Cached<T>>, CacheError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = PmsResult<Option<T>>> + Send + 'static,
    {
        let stored = self.load(key).await;
        let now = self.clock.now();
        if let Some(e) = stored.as_ref().filter(|e| e.fresh(now, &freshness)) {
            return decode_entry(e, false);
        }
        let flight = {
            let (store, clock, key) = (self.store.clone(), self.clock.clone(), key.clone());
            let fetch = fetch();
            move || Self::refresh(store, clock, key, freshness, fetch)
        };
        match self.flights.run(&key.flight_key(), flight).await {
            Ok(Some(fresh)) => decode_entry(&fresh, false),
            Ok(None) => Ok(None),
            Err(FlightError::Encode(e)) => Err(CacheError::Encode(e)),
            Err(FlightError::Pms(cause)) if upstream_down(&cause) => {
                let bridge =
                    stored.filter(|e| !e.not_found && now - e.fetched_at < freshness.tolerance);
                match bridge {
                    Some(e) => {
                        tracing::warn!(
                            cache_key = %key.sort_key(),
                            code = cause.code(),
                            age_seconds = (now - e.fetched_at).num_seconds(),
                            "PMS unavailable; serving the stale cached copy"
                        );
                        decode(&e, true).map(Some)
                    }
                    None => Err(CacheError::Unavailable {
                        cause,
                        tolerance_seconds: freshness.tolerance.num_seconds(),
                    }),
                }
            }
            Err(FlightError::Pms(cause)) => Err(CacheError::Pms(cause)),
        }
    }

    /// Drops a cached entity (after a write to the PMS changed it).
    pub async fn invalidate(&self, key: &CacheKey) -> pms_domain::ports::PortResult<()> {
        self.store.delete(&key.item_key()).await
    }

    async fn load(&self, key: &CacheKey) -> Option<Entry> {
        Self::load_from(&*self.store, key).await
    }

    async fn load_from(store: &dyn ItemStore, key: &CacheKey) -> Option<Entry> {
        // A cache that cannot be read is a miss: the PMS can still answer.
        match store.get(&key.item_key()).await {
            Ok(Some(item)) => match item.decode::<Entry>() {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(cache_key = %key.sort_key(), error = %e, "unreadable cache entry ignored");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(cache_key = %key.sort_key(), error = %e, "cache read failed; reading through");
                None
            }
        }
    }

    /// The body of one flight: re-check the store (a flight that just finished may have
    /// refreshed it), else fetch, store and return.
    async fn refresh<T: Serialize>(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        key: CacheKey,
        freshness: Freshness,
        fetch: impl Future<Output = PmsResult<Option<T>>>,
    ) -> FlightOutcome {
        if let Some(e) = Self::load_from(&*store, &key).await {
            if e.fresh(clock.now(), &freshness) {
                return Ok((!e.not_found).then_some(e));
            }
        }
        let (value, not_found) = match fetch.await {
            Ok(Some(v)) => (
                encode_value("cached value", &v).map_err(|e| FlightError::Encode(Arc::new(e)))?,
                false,
            ),
            // Gone at the PMS (or never there): the old copy is never served again.
            Ok(None) | Err(PmsError::NotFound { .. }) => (serde_json::Value::Null, true),
            Err(e) => return Err(FlightError::Pms(Arc::new(e))),
        };
        let fetched_at = clock.now();
        let entry = Entry {
            fetched_at,
            value,
            not_found,
        };
        let kept = if not_found {
            freshness.not_found_ttl
        } else {
            freshness.tolerance
        };
        let expires = fetched_at + kept + Duration::seconds(1);
        // Versioned by fetch time: a slower, older fetch never replaces a newer copy.
        let item = Item::encode(key.item_key(), &entry)
            .map_err(|e| FlightError::Encode(Arc::new(e)))?
            .with_version(
                fetched_at.timestamp_millis().max(0) as u64,
                content_hash(&entry.value),
            )
            .expiring_at(expires.timestamp());
        if let Err(e) = store.put(item, Condition::IfNewer).await {
            tracing::warn!(cache_key = %key.sort_key(), error = %e, "cache write failed; value served uncached");
        }
        Ok((!not_found).then_some(entry))
    }
}

/// A stored entry as a read's answer: the value, or `None` for a remembered "not found".
fn decode_entry<T: DeserializeOwned>(
    e: &Entry,
    stale: bool,
) -> Result<Option<Cached<T>>, CacheError> {
    if e.not_found {
        return Ok(None);
    }
    decode(e, stale).map(Some)
}

fn decode<T: DeserializeOwned>(e: &Entry, stale: bool) -> Result<Cached<T>, CacheError> {
    let value = serde_json::from_value(e.value.clone())
        .map_err(|err| CacheError::Decode(err.to_string()))?;
    Ok(Cached {
        value,
        fetched_at: e.fetched_at,
        stale,
    })
}
