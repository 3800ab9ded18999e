//! The scheduler's tick: one sync job per enabled hotel and due feed, on the sync queue.
//!
//! Deduplication has two layers. Here, a hotel's jobs of a tick are sent once: after they went
//! out, a marker `H#<hotel>` / `SYNCTICK#<tick>` (expiring after a day) is written, and a second
//! delivery of the tick's event, or a retried scheduler, finds it and sends nothing for that
//! hotel. The marker is written after sending, never before, so a scheduler that dies between
//! the two makes its retry send again rather than lose the tick. In the worker, a feed refuses
//! a tick it has already run or is running ([`super::FeedStates`], a conditional put per hotel,
//! feed and tick), which absorbs those resends, concurrent duplicate schedulers and the queue's
//! own at-least-once deliveries: no job is run twice.
//!
//! A hotel whose PMS circuit breaker is open ([`crate::health`]) gets no jobs until its next
//! probe is due; then its due feeds go out and the worker lets one of them probe. The tick also
//! counts the enabled hotels whose breaker is open (`circuits_open`, the alarm's gauge).
//!
//! Thousands of hotels fit in one invocation: the registry and the markers are read in batches
//! (1000 per query page, 100 per batch get), markers are written 25 per batch write, and
//! messages go out ten per SQS call, several calls at once.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;

use super::schedule::Cron;
use super::SyncError;
use crate::health::{Admission, Breakers};
use crate::jobs::{Feed, FeedJob, SyncJob};
use crate::registry::HotelRegistry;
use pms_domain::config::HotelConfig;
use pms_domain::domain::HotelId;
use pms_domain::ports::{Item, ItemKey, ItemStore, OutgoingMessage, Queue};

/// Messages per `send_batch` call (itself ten per SQS request), and such calls at once.
const SEND_CHUNK: usize = 100;
const SEND_CONCURRENCY: usize = 8;
/// Tick markers outlive any redelivery or retry of the tick's event.
const MARKER_TTL_HOURS: i64 = 24;

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    pub hotels: usize,
    /// Enabled hotels with at least one feed due.
    pub due_hotels: usize,
    pub jobs_enqueued: usize,
    /// Hotels whose jobs for this tick were already enqueued (a repeated tick).
    pub already_enqueued: usize,
    pub jobs_failed: usize,
    /// Enabled hotels whose PMS circuit breaker is open (or half open).
    pub circuits_open: usize,
    /// Due hotels left out because their breaker is open and no probe is due.
    pub skipped_circuit_open: usize,
}

/// The feeds of `config` due at `tick` for a scheduler ticking every `period`. A schedule that
/// does not parse runs on every tick: a typo must not silently stop a hotel's sync.
pub fn due_feeds(config: &HotelConfig, tick: DateTime<Utc>, period: Duration) -> Vec<Feed> {
    if !config.enabled {
        return Vec::new();
    }
    Feed::ALL
        .into_iter()
        .filter(|f| {
            let s = config.sync.feed(*f);
            s.enabled
                && match Cron::parse(&s.schedule) {
                    Ok(c) => c.due(tick, period, config.time_zone),
                    Err(e) => {
                        tracing::warn!(hotel = %config.hotel_id, feed = %f, error = %e, "feed schedule ignored");
                        true
                    }
                }
        })
        .collect()
}

pub fn tick_key(hotel: &HotelId, tick: DateTime<Utc>) -> ItemKey {
    ItemKey::hotel(
        hotel,
        format!("SYNCTICK#{}", tick.format("%Y-%m-%dT%H:%M:%SZ")),
    )
}

#[derive(Clone)]
pub struct SyncScheduler {
    hotels: HotelRegistry,
    store: Arc<dyn ItemStore>,
    queue: Arc<dyn Queue>,
    sync_queue_url: String,
    period: Duration,
    breakers: Breakers,
}

impl SyncScheduler {
    /// `period`: the EventBridge schedule's rate.
    pub fn new(services: &crate::runtime::Services, period: Duration) -> Self {
        Self {
            hotels: services.hotels.clone(),
            store: services.store.clone(),
            queue: services.queue.clone(),
            sync_queue_url: services.names.sync_queue_url.clone(),
            period,
            breakers: services.breakers.clone(),
        }
    }

    pub async fn tick(
        &self,
        tick: DateTime<Utc>,
        correlation_id: &str,
    ) -> Result<TickReport, SyncError> {
        // One tick per second at most: the event's time, to the second, names it.
        let tick = DateTime::from_timestamp(tick.timestamp(), 0).unwrap_or(tick);
        let hotels = self.hotels.list().await?;
        let mut report = TickReport {
            hotels: hotels.len(),
            ..TickReport::default()
        };
        let due: Vec<(HotelId, Vec<Feed>)> = hotels
            .iter()
            .map(|c| (c.hotel_id.clone(), due_feeds(c, tick, self.period)))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        report.due_hotels = due.len();

        // Open breakers: their hotels get nothing until a probe is due. A breaker that cannot
        // be read leaves the tick as it was (the worker asks the breaker again anyway).
        let enabled: Vec<HotelId> = hotels
            .iter()
            .filter(|c| c.enabled)
            .map(|c| c.hotel_id.clone())
            .collect();
        let breakers = match self.breakers.get_many(&enabled).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(
                    code = e.code(),
                    "circuit breakers not read; scheduling every due hotel"
                );
                Default::default()
            }
        };
        report.circuits_open = breakers.values().filter(|b| b.is_open()).count();
        let due: Vec<(HotelId, Vec<Feed>)> = due
            .into_iter()
            .filter(|(hotel, _)| {
                let held = breakers
                    .get(hotel)
                    .is_some_and(|b| matches!(b.admit(tick), Admission::Skip { .. }));
                if held {
                    report.skipped_circuit_open += 1;
                }
                !held
            })
            .collect();

        // Hotels whose jobs of this tick already went out.
        let keys: Vec<ItemKey> = due.iter().map(|(h, _)| tick_key(h, tick)).collect();
        let marked: HashSet<ItemKey> = self
            .store
            .batch_get(&keys)
            .await?
            .into_iter()
            .map(|i| i.key)
            .collect();
        let mut jobs: Vec<(HotelId, OutgoingMessage)> = Vec::new();
        let mut to_mark: Vec<(HotelId, Vec<Feed>)> = Vec::new();
        for (hotel, feeds) in due {
            if marked.contains(&tick_key(&hotel, tick)) {
                report.already_enqueued += 1;
                continue;
            }
            for feed in &feeds {
                let job = SyncJob::Feed(FeedJob {
                    hotel: hotel.clone(),
                    feed: *feed,
                    scheduled_at: tick,
                    correlation_id: correlation_id.to_owned(),
                    continuation: None,
                });
                jobs.push((hotel.clone(), job.to_message()?));
            }
            to_mark.push((hotel, feeds));
        }

        let total = jobs.len();
        let chunks: Vec<Vec<(HotelId, OutgoingMessage)>> =
            jobs.chunks(SEND_CHUNK).map(<[_]>::to_vec).collect();
        let unsent: Vec<Vec<HotelId>> =
            futures::stream::iter(chunks.into_iter().map(|chunk| async move {
                let hotels: Vec<HotelId> = chunk.iter().map(|(h, _)| h.clone()).collect();
                let messages = chunk.into_iter().map(|(_, m)| m).collect();
                match self.queue.send_batch(&self.sync_queue_url, messages).await {
                    Ok(failures) => failures
                        .into_iter()
                        .filter_map(|f| {
                            let hotel = hotels.get(f.index)?;
                            tracing::warn!(hotel = %hotel, code = f.error.code(), "sync job not enqueued");
                            Some(hotel.clone())
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(code = e.code(), "a batch of sync jobs was not enqueued");
                        hotels
                    }
                }
            }))
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        let mut failed_jobs = 0;
        let mut failed_hotels: BTreeSet<HotelId> = BTreeSet::new();
        for h in unsent.into_iter().flatten() {
            failed_jobs += 1;
            failed_hotels.insert(h);
        }
        report.jobs_failed = failed_jobs;
        report.jobs_enqueued = total - failed_jobs;

        // Mark the hotels whose jobs all went out. A hotel with a job that did not go out stays
        // unmarked, so the retry sends its jobs again (those that did go out are refused by the
        // worker as already run, or run once).
        let expires = (tick + Duration::hours(MARKER_TTL_HOURS)).timestamp();
        let markers: Vec<Item> = to_mark
            .into_iter()
            .filter(|(h, _)| !failed_hotels.contains(h))
            .map(|(hotel, feeds)| {
                let data = serde_json::json!({
                    "tick": tick,
                    "feeds": feeds,
                    "correlationId": correlation_id,
                });
                Item::new(tick_key(&hotel, tick), data).expiring_at(expires)
            })
            .collect();
        if let Err(e) = self.store.batch_put(markers).await {
            // The jobs are out: a retry would only resend what the worker then refuses.
            tracing::warn!(code = e.code(), "tick markers not written");
        }
        tracing::info!(
            tick = %tick,
            hotels = report.hotels,
            due_hotels = report.due_hotels,
            jobs_enqueued = report.jobs_enqueued,
            already_enqueued = report.already_enqueued,
            jobs_failed = report.jobs_failed,
            circuits_open = report.circuits_open,
            skipped_circuit_open = report.skipped_circuit_open,
            "sync tick fanned out"
        );
        if report.jobs_failed > 0 {
            return Err(SyncError::Enqueue {
                failed: report.jobs_failed,
                total,
            });
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::{Currency, PropertyTz, Provider};

    #[test]
    fn due_feeds_follow_enablement_and_schedules() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:02:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut c = HotelConfig::new(
            HotelId::parse("h1").unwrap(),
            "H",
            Provider::named("mock"),
            PropertyTz::utc(),
            Currency::eur(),
            now,
        );
        let p = Duration::minutes(5);
        assert_eq!(due_feeds(&c, now, p), Feed::ALL.to_vec());
        c.sync.room_status.enabled = false;
        c.sync.departures.schedule = "30 * * * *".into();
        c.sync.in_house.schedule = "not a cron".into();
        assert_eq!(
            due_feeds(&c, now, p),
            [
                Feed::Arrivals,
                Feed::InHouse,
                Feed::Reservations,
                Feed::Availability
            ]
        );
        c.enabled = false;
        assert!(due_feeds(&c, now, p).is_empty());
    }
}
