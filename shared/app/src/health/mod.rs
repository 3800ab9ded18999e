//! Per-hotel PMS health: the circuit breaker that keeps an unhealthy PMS from poisoning the
//! sync pipeline and the partner reads.
//!
//! [`breaker`] is the state machine (pure); [`Breakers`] keeps one per hotel in the table
//! (`H#<hotel>` / `HEALTH#PMS`), shared by every function: the sync worker asks it before a job
//! calls the PMS ([`Breakers::gate`]: call, claim the one probe, or skip) and tells it how the
//! call went ([`Breakers::observe`]); partner reads ask it before a cache miss goes to the PMS
//! (an open breaker answers at once, from the cache's stale copy or `PMS_UNAVAILABLE`); the
//! scheduler leaves out the feeds of hotels whose breaker is open and not due for a probe and
//! writes the `CircuitsOpen` gauge the alarm watches. Every write is conditional on the
//! revision read, so concurrent workers never lose a count or claim the probe twice.

pub mod breaker;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use breaker::{
    counts, Admission, Breaker, BreakerPolicy, CircuitState, CircuitView, Probe, Transition,
};
use pms_domain::domain::HotelId;
use pms_domain::pms::PmsError;
use pms_domain::ports::{Clock, Condition, Item, ItemKey, ItemStore, PortResult, PutOutcome};

use crate::obs::Metrics;

/// The `Function` dimension of the breaker's metrics (`CircuitOpened`, `CircuitClosed`,
/// `CircuitProbeFailed`, the scheduler's `CircuitsOpen` gauge), whichever process wrote them.
pub const METRICS_FUNCTION: &str = "circuit-breaker";

/// Attempts of a read-modify-write before giving up (another process wrote in between).
const WRITE_ATTEMPTS: usize = 5;

pub fn key(hotel: &HotelId) -> ItemKey {
    ItemKey::hotel(hotel, "HEALTH#PMS")
}

/// The stored item's data: the breaker, and the revision writes are conditional on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(flatten)]
    breaker: Breaker,
    revision: String,
    updated_at: DateTime<Utc>,
}

/// What a job may do, as [`Breakers::gate`] decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Closed: call the PMS.
    Call,
    /// This job holds the probe: call the PMS, and pass the id to [`Breakers::observe`].
    Probe { id: String },
    /// Open: no PMS call before `until`.
    Skip { until: DateTime<Utc> },
}

impl Gate {
    pub fn probe_id(&self) -> Option<&str> {
        match self {
            Gate::Probe { id } => Some(id),
            _ => None,
        }
    }
}

/// How a PMS call went, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The PMS answered (whatever it said: a 404 or a refusal is an answer).
    Answered,
    /// It failed in a way that says the PMS is unhealthy ([`counts`]); `code` is the error's.
    Unhealthy { code: &'static str },
}

impl Observation {
    /// The observation an error makes, if it says anything about the PMS's health.
    pub fn of_error(e: &PmsError) -> Option<Observation> {
        counts(e).then(|| Observation::Unhealthy { code: e.code() })
    }
}

/// What an observation did to the breaker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub transition: Option<Transition>,
    /// The breaker is open after it (no PMS call before `next_probe_at`).
    pub open_until: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Breakers {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    policy: BreakerPolicy,
    metrics_namespace: Option<String>,
}

fn revision() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Breakers {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            policy: BreakerPolicy::default(),
            metrics_namespace: None,
        }
    }

    pub fn with_policy(mut self, policy: BreakerPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Writes a metrics line per transition (`CircuitOpened`, `CircuitProbeFailed`,
    /// `CircuitClosed`).
    pub fn with_metrics(mut self, namespace: impl Into<String>) -> Self {
        self.metrics_namespace = Some(namespace.into());
        self
    }

    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn load(&self, hotel: &HotelId) -> PortResult<Option<Stored>> {
        match self.store.get(&key(hotel)).await? {
            Some(item) => Ok(Some(item.decode()?)),
            None => Ok(None),
        }
    }

    /// A hotel's breaker (closed when it has none).
    pub async fn get(&self, hotel: &HotelId) -> PortResult<Breaker> {
        Ok(self
            .load(hotel)
            .await?
            .map(|s| s.breaker)
            .unwrap_or_default())
    }

    /// The breaker as a partner read sees it: an eventually consistent read (half the cost; a
    /// breaker that opened within the last second may be seen closed, which costs one more
    /// failed PMS call at most).
    pub async fn get_for_read(&self, hotel: &HotelId) -> PortResult<Breaker> {
        match self.store.get_eventual(&key(hotel)).await? {
            Some(item) => Ok(item.decode::<Stored>()?.breaker),
            None => Ok(Breaker::default()),
        }
    }

    /// Many hotels' breakers (closed ones may be absent from the map).
    pub async fn get_many(&self, hotels: &[HotelId]) -> PortResult<HashMap<HotelId, Breaker>> {
        let mut out = HashMap::new();
        for chunk in hotels.chunks(100) {
            let keys: Vec<ItemKey> = chunk.iter().map(key).collect();
            for item in self.store.batch_get(&keys).await? {
                let Some(hotel) = item.key.partition.hotel().cloned() else {
                    continue;
                };
                out.insert(hotel, item.decode::<Stored>()?.breaker);
            }
        }
        Ok(out)
    }

    async fn put_after(
        &self,
        hotel: &HotelId,
        next: Breaker,
        previous: Option<&Stored>,
    ) -> PortResult<bool> {
        let stored = Stored {
            breaker: next,
            revision: revision(),
            updated_at: self.clock.now(),
        };
        let condition = match previous {
            None => Condition::IfAbsent,
            Some(p) => Condition::IfDataEquals {
                field: "revision".into(),
                value: serde_json::Value::String(p.revision.clone()),
            },
        };
        let item = Item::encode(key(hotel), &stored)?;
        Ok(matches!(
            self.store.put(item, condition).await?,
            PutOutcome::Applied
        ))
    }

    /// What a job of `hotel` may do now. When a probe is due, this job claims it (a
    /// conditional write: of concurrent claimers one wins, the others skip).
    pub async fn gate(&self, hotel: &HotelId) -> PortResult<Gate> {
        for _ in 0..WRITE_ATTEMPTS {
            let stored = self.load(hotel).await?;
            let breaker = stored
                .as_ref()
                .map(|s| s.breaker.clone())
                .unwrap_or_default();
            let now = self.clock.now();
            match breaker.admit(now) {
                Admission::Call => return Ok(Gate::Call),
                Admission::Skip { until } => return Ok(Gate::Skip { until }),
                Admission::ProbeDue => {
                    let id = revision();
                    let Some(claimed) = breaker.claim_probe(now, &id, &self.policy) else {
                        continue;
                    };
                    if self.put_after(hotel, claimed, stored.as_ref()).await? {
                        tracing::info!(hotel = %hotel, probe = %id, "circuit half open: this job probes the PMS");
                        return Ok(Gate::Probe { id });
                    }
                }
            }
        }
        // Lost every race: someone else is writing the breaker, so someone else probes.
        Ok(Gate::Skip {
            until: self.clock.now() + self.policy.first_backoff,
        })
    }

    /// Records how a PMS call went. An answer while the breaker is clean writes nothing.
    /// Returns the transition, if any (also logged, and counted when metrics are on), and
    /// whether the breaker is open after it.
    pub async fn observe(
        &self,
        hotel: &HotelId,
        observation: Observation,
        probe: Option<&str>,
    ) -> PortResult<Observed> {
        for _ in 0..WRITE_ATTEMPTS {
            let stored = self.load(hotel).await?;
            let breaker = stored
                .as_ref()
                .map(|s| s.breaker.clone())
                .unwrap_or_default();
            let now = self.clock.now();
            let (next, transition) = match observation {
                Observation::Answered => match breaker.succeeded() {
                    Some(n) => n,
                    None => return Ok(Observed::default()),
                },
                Observation::Unhealthy { code } => breaker.failed(now, code, probe, &self.policy),
            };
            if self.put_after(hotel, next.clone(), stored.as_ref()).await? {
                if let Some(t) = transition {
                    self.announce(hotel, &next, t);
                }
                return Ok(Observed {
                    transition,
                    open_until: next.next_probe_at(),
                });
            }
        }
        tracing::warn!(hotel = %hotel, "circuit breaker not updated: too many concurrent writers");
        Ok(Observed::default())
    }

    fn announce(&self, hotel: &HotelId, breaker: &Breaker, t: Transition) {
        let (metric, next_probe_at) = match t {
            Transition::Opened => ("CircuitOpened", breaker.next_probe_at()),
            Transition::ProbeFailed { .. } => ("CircuitProbeFailed", breaker.next_probe_at()),
            Transition::Closed => ("CircuitClosed", None),
        };
        match t {
            Transition::Closed => {
                tracing::info!(hotel = %hotel, "circuit closed: the PMS answered again")
            }
            _ => tracing::warn!(
                hotel = %hotel,
                failures = breaker.failures(),
                next_probe_at = ?next_probe_at,
                transition = metric,
                "circuit open: scheduled work for this hotel is skipped until the next probe"
            ),
        }
        if let Some(ns) = &self.metrics_namespace {
            let m = Metrics::new(ns, METRICS_FUNCTION);
            m.set_hotel(hotel.as_str());
            m.count(metric, 1);
            m.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;
    use pms_domain::pms::UnavailableCause;
    use pms_domain::ports::ManualClock;

    #[tokio::test]
    async fn concurrent_claimers_get_one_probe() {
        let start = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(ManualClock::new(start));
        let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(clock.clone()));
        let b = Breakers::new(store, clock.clone());
        let hotel = HotelId::parse("h1").unwrap();
        let refused = PmsError::unavailable(UnavailableCause::ConnectionRefused, "refused");
        let failed = Observation::of_error(&refused).unwrap();
        let mut opened = Vec::new();
        for _ in 0..5 {
            let o = b.observe(&hotel, failed, None).await.unwrap();
            opened.extend(o.transition);
        }
        assert_eq!(opened, [Transition::Opened]);
        assert!(matches!(b.gate(&hotel).await.unwrap(), Gate::Skip { .. }));
        clock.advance(chrono::Duration::minutes(5));
        let gates = futures::future::join_all((0..8).map(|_| b.gate(&hotel))).await;
        let probes: Vec<String> = gates
            .into_iter()
            .filter_map(|g| match g.unwrap() {
                Gate::Probe { id } => Some(id),
                _ => None,
            })
            .collect();
        assert_eq!(probes.len(), 1);
        assert_eq!(
            b.get(&hotel).await.unwrap().state(clock.now()),
            CircuitState::HalfOpen
        );
        let t = b
            .observe(&hotel, Observation::Answered, Some(&probes[0]))
            .await
            .unwrap();
        assert_eq!(t.transition, Some(Transition::Closed));
        assert_eq!(t.open_until, None);
        assert_eq!(b.gate(&hotel).await.unwrap(), Gate::Call);
        // Errors that say nothing of the PMS's health are no observation.
        let limited = PmsError::RateLimited {
            retry_after: None,
            request_id: None,
        };
        assert_eq!(Observation::of_error(&limited), None);
        assert_eq!(b.get(&hotel).await.unwrap().failures(), 0);
    }
}
