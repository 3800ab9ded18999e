//! What every simulated endpoint goes through before it answers: call counters, injected faults
//! (latency, 5xx, timeouts, 429 storms, failing entities) and the vendor's real rate limit,
//! enforced with a true sliding window; requests over the limit get 429 + Retry-After and are
//! counted as violations (the client-side limiter's job is to keep that count at zero).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use pms_domain::domain::Provider;

/// Faults injected into one vendor's endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultConfig {
    /// Added to every answer.
    pub latency_ms: u64,
    /// Probability (0..1) of answering `error_status` instead.
    pub error_rate: f64,
    /// 500, 502, 503 or 504 (default 503); a 4xx makes the vendor refuse the request.
    pub error_status: Option<u16>,
    /// The message the injected error's body carries, in the vendor's error format (Mews
    /// `Message`, OHIP `detail`, Cloudbeds `message`) instead of the vendor's stock text: what
    /// a vendor says about a refused request, which must never reach a partner.
    pub error_message: Option<String>,
    /// Probability (0..1) of holding the request `timeout_ms` and then failing with 504.
    pub timeout_rate: f64,
    pub timeout_ms: u64,
    /// Every request gets 429 with this Retry-After (seconds) until the storm ends.
    #[serde(skip)]
    pub storm_until: Option<Instant>,
    pub storm_retry_after_secs: u64,
    /// Entity ids whose reads fail with 500 (a record the vendor cannot serve).
    pub failing_entities: Vec<String>,
    /// When not empty, latency, errors, timeouts and storms hit only these endpoints (as the
    /// vendor module names them, e.g. `orders/add`); calls elsewhere are still counted and
    /// rate-limited.
    pub only_endpoints: Vec<String>,
    /// A request the client gave up on (its timeout ran out during `latency_ms`) is still
    /// processed to the end, as a real vendor's backend does: a timed-out write may yet apply.
    /// Off, the handler is dropped with the connection.
    pub finish_abandoned: bool,
}

/// Why a request is refused before the vendor logic runs; vendor modules render it in their
/// own error format.
#[derive(Clone, Debug, PartialEq)]
pub enum Denied {
    RateLimited {
        retry_after: Duration,
        violation: bool,
    },
    ServerError {
        status: u16,
        /// The body's message, when the fault sets one.
        message: Option<String>,
    },
    Timeout,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorCounters {
    pub calls: BTreeMap<String, u64>,
    pub total_calls: u64,
    pub rate_limit_violations: u64,
    pub storm_rejections: u64,
    pub injected_errors: u64,
    pub injected_timeouts: u64,
    pub charges_posted: u64,
    pub tokens_issued: u64,
    pub unauthorized: u64,
}

/// A sliding-window limit: at most `limit` requests in any `window`.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    log: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            log: VecDeque::new(),
        }
    }

    /// Records a request at `now`; `Err(retry_after)` if it is over the limit (not recorded).
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        while self
            .log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.log.pop_front();
        }
        if self.log.len() >= self.limit {
            let oldest = self.log.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        self.log.push_back(now);
        Ok(())
    }
}

/// The request limit each simulated vendor enforces, as (requests, window in ms): by default
/// the vendor's published one (its [`super::SimVendor::limit`]). A vendor not listed is not
/// limited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Limits(pub BTreeMap<Provider, (usize, u64)>);

impl Limits {
    pub fn set(&mut self, vendor: Provider, requests: usize, window_ms: u64) {
        self.0.insert(vendor, (requests, window_ms));
    }

    fn of(&self, v: Provider) -> (usize, Duration) {
        let (l, ms) = self.0.get(&v).copied().unwrap_or((usize::MAX, 1_000));
        (l, Duration::from_millis(ms))
    }
}

#[derive(Debug, Default)]
pub struct Guard {
    pub limits: Limits,
    pub faults: HashMap<Provider, FaultConfig>,
    pub counters: BTreeMap<Provider, VendorCounters>,
    windows: HashMap<(Provider, String), SlidingWindow>,
}

impl Guard {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub fn counters_mut(&mut self, v: Provider) -> &mut VendorCounters {
        self.counters.entry(v).or_default()
    }

    /// Counts the call and decides whether it is refused. `rate_key` is what the vendor limits
    /// by (Mews access token, Cloudbeds property, OHIP hotel). `roll` is a uniform [0,1) draw
    /// for the probabilistic faults.
    pub fn check(
        &mut self,
        v: Provider,
        endpoint: &str,
        rate_key: &str,
        now: Instant,
        roll: f64,
    ) -> (Duration, Option<Denied>) {
        let c = self.counters_mut(v);
        c.total_calls += 1;
        *c.calls.entry(endpoint.to_owned()).or_default() += 1;
        let fault = self
            .faults
            .get(&v)
            .filter(|f| {
                f.only_endpoints.is_empty() || f.only_endpoints.iter().any(|e| e == endpoint)
            })
            .cloned()
            .unwrap_or_default();
        let latency = Duration::from_millis(fault.latency_ms);
        // The real limit counts every request that reaches the vendor, storms included.
        let (limit, window) = self.limits.of(v);
        let over = self
            .windows
            .entry((v, rate_key.to_owned()))
            .or_insert_with(|| SlidingWindow::new(limit, window))
            .admit(now);
        if let Some(until) = fault.storm_until.filter(|u| *u > now) {
            self.counters_mut(v).storm_rejections += 1;
            let _ = until;
            return (
                latency,
                Some(Denied::RateLimited {
                    retry_after: Duration::from_secs(fault.storm_retry_after_secs.max(1)),
                    violation: false,
                }),
            );
        }
        if let Err(retry_after) = over {
            self.counters_mut(v).rate_limit_violations += 1;
            return (
                latency,
                Some(Denied::RateLimited {
                    retry_after,
                    violation: true,
                }),
            );
        }
        if fault.timeout_rate > 0.0 && roll < fault.timeout_rate {
            self.counters_mut(v).injected_timeouts += 1;
            return (
                latency + Duration::from_millis(fault.timeout_ms.max(1)),
                Some(Denied::Timeout),
            );
        }
        if fault.error_rate > 0.0 && roll < fault.timeout_rate + fault.error_rate {
            self.counters_mut(v).injected_errors += 1;
            return (
                latency,
                Some(Denied::ServerError {
                    status: fault.error_status.unwrap_or(503),
                    message: fault.error_message.clone(),
                }),
            );
        }
        (latency, None)
    }

    pub fn entity_fails(&self, v: Provider, id: &str) -> bool {
        self.faults
            .get(&v)
            .is_some_and(|f| f.failing_entities.iter().any(|e| e == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_counts_any_window() {
        let mut w = SlidingWindow::new(2, Duration::from_millis(1000));
        let t0 = Instant::now();
        assert!(w.admit(t0).is_ok());
        assert!(w.admit(t0 + Duration::from_millis(900)).is_ok());
        let over = w.admit(t0 + Duration::from_millis(950)).unwrap_err();
        assert_eq!(over, Duration::from_millis(50));
        assert!(w.admit(t0 + Duration::from_millis(1000)).is_ok());
    }

    #[test]
    fn violations_and_storms_are_counted_apart() {
        let mut limits = Limits::default();
        limits.set(Provider::named("opera"), 1, 1000);
        limits.set(Provider::named("mews"), 200, 30_000);
        let mut g = Guard::new(limits);
        let t = Instant::now();
        assert!(g
            .check(Provider::named("opera"), "x", "H1", t, 0.9)
            .1
            .is_none());
        assert!(matches!(
            g.check(Provider::named("opera"), "x", "H1", t, 0.9).1,
            Some(Denied::RateLimited {
                violation: true,
                ..
            })
        ));
        assert!(
            g.check(Provider::named("opera"), "x", "H2", t, 0.9)
                .1
                .is_none(),
            "limits are per key"
        );
        g.faults.insert(
            Provider::named("mews"),
            FaultConfig {
                storm_until: Some(t + Duration::from_secs(5)),
                storm_retry_after_secs: 2,
                ..FaultConfig::default()
            },
        );
        assert!(matches!(
            g.check(Provider::named("mews"), "x", "tok", t, 0.9).1,
            Some(Denied::RateLimited {
                violation: false,
                ..
            })
        ));
        let c = &g.counters[&Provider::named("opera")];
        assert_eq!((c.total_calls, c.rate_limit_violations), (3, 1));
        assert_eq!(g.counters[&Provider::named("mews")].storm_rejections, 1);
    }
}
