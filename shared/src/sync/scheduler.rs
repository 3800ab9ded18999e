//! The scheduler's tick: one sync job per enabled hotel and due feed, on the sync queue.
//!
//! Deduplication has two layers. Here, a hotel's jobs of a tick are enqueued once: a
//! conditional create of `H#<hotel>` / `SYNCTICK#<tick>` (expiring after a day) comes first, so
//! a second delivery of the tick's event, or a retried scheduler, finds the claim and sends
//! nothing for that hotel. If sending fails, the claim is deleted again so the retry sends it.
//! In the worker, a feed refuses a tick it has already completed ([`super::FeedStates`]), which
//! also absorbs the queue's own at-least-once duplicates.
//!
//! Thousands of hotels fit in one invocation: the registry is read by pages of 1000 and batch
//! gets, claims run with bounded concurrency, and messages go out ten per SQS call, several
//! calls at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;

use super::schedule::Cron;
use super::SyncError;
use crate::config::HotelConfig;
use crate::domain::HotelId;
use crate::jobs::{Feed, FeedJob, SyncJob};
use crate::ports::{Condition, Item, ItemKey, ItemStore, OutgoingMessage, PutOutcome, Queue};
use crate::registry::HotelRegistry;

const CLAIM_CONCURRENCY: usize = 32;
/// Messages per `send_batch` call (itself ten per SQS request), and such calls at once.
const SEND_CHUNK: usize = 100;
const SEND_CONCURRENCY: usize = 8;
/// Tick claims outlive any redelivery or retry of the tick's event.
const CLAIM_TTL_HOURS: i64 = 24;

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

        let expires = (tick + Duration::hours(CLAIM_TTL_HOURS)).timestamp();
        let claims: Vec<Result<Option<(HotelId, Vec<Feed>)>, SyncError>> =
            futures::stream::iter(due.into_iter().map(|(hotel, feeds)| async move {
                let data = serde_json::json!({
                    "tick": tick,
                    "feeds": feeds,
                    "correlationId": correlation_id,
                });
                let item = Item::new(tick_key(&hotel, tick), data).expiring_at(expires);
                match self.store.put(item, Condition::IfAbsentOrExpired).await? {
                    PutOutcome::Applied => Ok(Some((hotel, feeds))),
                    PutOutcome::Rejected { .. } => Ok(None),
                }
            }))
            .buffer_unordered(CLAIM_CONCURRENCY)
            .collect()
            .await;
        let mut jobs: Vec<(HotelId, OutgoingMessage)> = Vec::new();
        let mut first_error = None;
        for c in claims {
            match c {
                Ok(Some((hotel, feeds))) => {
                    for feed in feeds {
                        let job = SyncJob::Feed(FeedJob {
                            hotel: hotel.clone(),
                            feed,
                            scheduled_at: tick,
                            correlation_id: correlation_id.to_owned(),
                        });
                        jobs.push((hotel.clone(), job.to_message()));
                    }
                }
                Ok(None) => report.already_enqueued += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }

        let total = jobs.len();
        let chunks: Vec<Vec<(HotelId, OutgoingMessage)>> =
            jobs.chunks(SEND_CHUNK).map(<[_]>::to_vec).collect();
        let sent: Vec<Vec<HotelId>> = futures::stream::iter(chunks.into_iter().map(|chunk| async move {
            let hotels: Vec<HotelId> = chunk.iter().map(|(h, _)| h.clone()).collect();
            let messages = chunk.into_iter().map(|(_, m)| m).collect();
            match self.queue.send_batch(&self.sync_queue_url, messages).await {
                Ok(failures) => failures
                    .into_iter()
                    .map(|f| {
                        tracing::warn!(hotel = %hotels[f.index], code = f.error.code(), "sync job not enqueued");
                        hotels[f.index].clone()
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
        // Hotels with a job that did not go out: release their claim so a retry sends them (the
        // jobs that did go out are refused by the worker as already run, or run once).
        let mut failed: BTreeMap<HotelId, usize> = BTreeMap::new();
        for h in sent.into_iter().flatten() {
            *failed.entry(h).or_default() += 1;
        }
        for hotel in failed.keys() {
            if let Err(e) = self.store.delete(&tick_key(hotel, tick)).await {
                tracing::warn!(hotel = %hotel, code = e.code(), "tick claim not released");
            }
        }
        report.jobs_failed = failed.values().sum();
        report.jobs_enqueued = total - report.jobs_failed;
        tracing::info!(
            tick = %tick,
            hotels = report.hotels,
            due_hotels = report.due_hotels,
            jobs_enqueued = report.jobs_enqueued,
            already_enqueued = report.already_enqueued,
            jobs_failed = report.jobs_failed,
            "sync tick fanned out"
        );
        if let Some(e) = first_error {
            return Err(e);
        }
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
    use crate::domain::{Currency, PropertyTz, Provider};

    #[test]
    fn due_feeds_follow_enablement_and_schedules() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:02:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut c = HotelConfig::new(
            HotelId::parse("h1").unwrap(),
            "H",
            Provider::Mock,
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
            [Feed::Arrivals, Feed::InHouse, Feed::Reservations]
        );
        c.enabled = false;
        assert!(due_feeds(&c, now, p).is_empty());
    }
}
