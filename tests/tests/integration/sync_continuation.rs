//! A feed run longer than its invocation's time budget: it stops between pages, keeps its
//! progress (step and vendor cursor) in the feed's state, and sends a continuation job that the
//! next invocation resumes. Driven through the real sync worker on moto and the Mews simulator
//! (pages of 20, so a run of the simulator's 120 reservations takes several pages), with a
//! budget so small that every invocation reads about one page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pms_app::jobs::{Feed, FeedJob, SyncJob};
use pms_app::sync::FeedOutcome;
use pms_domain::domain::HotelId;
use pms_domain::pms::{PmsAdapter, PmsError};
use pms_domain::ports::SecretStore;
use pms_mews::credentials::MewsCredentials;
use pms_mews::MewsAdapter;
use pms_sim::setup::hotel_for;
use pms_vendor_kit::pms::Vendor;
use serde_json::Value;

use super::sync_support::{Bed, Process};

/// Mews as a build registers it, with listings in pages of `n`.
fn mews_in_pages_of(n: u32) -> Vendor {
    Vendor::new(
        pms_mews::PROVIDER,
        pms_mews::credentials::schema(),
        Arc::new(move |config, secret, deps| {
            let credentials =
                MewsCredentials::parse(secret).map_err(|e| PmsError::Configuration {
                    message: e.to_string(),
                })?;
            Ok(
                Arc::new(MewsAdapter::new(config, credentials, deps)?.with_page_size(n))
                    as Arc<dyn PmsAdapter>,
            )
        }),
    )
    .with_rate_limit(200, 30)
}

/// Events of one hotel, as (type, entity, version, data), sorted.
fn events_of(events: &[(String, Value)], hotel: &HotelId) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .filter(|(_, d)| d["hotelId"] == hotel.as_str())
        .map(|(t, d)| {
            // A night's version is its run's start time, which differs between the two hotels'
            // runs; its figures must not.
            let version = match t.as_str() {
                "pms.availability.synced" => &Value::Null,
                _ => &d["version"],
            };
            format!("{t} {} {version} {}", d["entityId"], d["data"])
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_sync_continued_across_invocations_stores_what_an_uninterrupted_one_does() {
    let mut bed = Bed::new(pms_mews::PROVIDER).await;
    bed.p = Process::serving(&bed.stack, Some(mews_in_pages_of(20)));
    // A second hotel on the same simulated property, synced in one go.
    let whole = HotelId::parse("sync-mews-whole").unwrap();
    let setup = bed.sim.context.config.properties[&bed.vendor][0].clone();
    let (config, credentials) = hotel_for(
        bed.vendor,
        &setup,
        &bed.sim.vendor_url(bed.vendor),
        whole.clone(),
    )
    .unwrap();
    let services = &bed.p.services;
    services
        .secrets
        .put(&services.adapters.credentials_secret(&whole), &credentials)
        .await
        .unwrap();
    services.hotels.create(&config).await.unwrap();

    let tick = bed.next_tick().await;
    let mut whole_runs = BTreeMap::new();
    for feed in Feed::ALL {
        let job = FeedJob {
            hotel: whole.clone(),
            feed,
            scheduled_at: tick,
            correlation_id: format!("whole-{feed}"),
            continuation: None,
        };
        match bed.p.sync.run_job(&job).await.unwrap() {
            FeedOutcome::Ran(run) => whole_runs.insert(feed, run),
            other => panic!("{feed}: {other:?}"),
        };
    }

    // The same tick for the test's hotel, through the worker, about a page per invocation.
    for feed in Feed::ALL {
        bed.send_job(feed, tick).await;
    }
    let queue = bed.p.services.names.sync_queue_url.clone();
    let resend = |body: &Value| {
        let job = SyncJob::parse(&body.to_string()).unwrap();
        let queue = queue.clone();
        let q = bed.p.services.queue.clone();
        async move { q.send(&queue, job.to_message().unwrap()).await.unwrap() }
    };
    let (mut invocations, mut continuations, mut duplicates) = (0, 0, 0);
    // 60 % of 300 ms: the first job of an invocation reads one page (more than 180 ms on moto)
    // and pauses; the batch's other jobs find the budget spent and go back on the queue.
    while let Some((bodies, response)) = bed
        .worker_round_within(Some(Duration::from_millis(300)))
        .await
    {
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
        invocations += 1;
        assert!(invocations < 300, "the run does not end");
        let continued: Vec<&Value> = bodies
            .iter()
            .filter(|b| b.get("continuation").is_some())
            .collect();
        continuations += continued.len();
        if duplicates == 0 {
            if let Some(done) = continued.first() {
                // A late duplicate of a continuation already run, and a copy of one still
                // waiting, delivered beside its original.
                resend(done).await;
                let waiting = bed.peek_queue().await;
                let next = waiting
                    .iter()
                    .find(|b| b.get("continuation").is_some())
                    .expect("a continuation waits");
                resend(next).await;
                duplicates = 2;
            }
        }
    }
    assert_eq!(duplicates, 2);
    assert!(
        continuations >= 5,
        "{continuations} continuations in {invocations} invocations"
    );

    // Every feed completed its tick and keeps no progress.
    for feed in Feed::ALL {
        let state = bed.feed_state(feed).await.unwrap();
        assert!(state.progress.is_none(), "{feed}: {:?}", state.progress);
        assert!(state.lease.is_none(), "{feed}");
        assert_eq!(state.last_tick, Some(tick), "{feed}");
    }
    let watermark = |h: &HotelId| {
        let states = bed.p.sync.states().clone();
        let h = h.clone();
        async move {
            states
                .get(&h, Feed::Reservations)
                .await
                .unwrap()
                .unwrap()
                .watermark
        }
    };
    assert!(watermark(&bed.hotel).await.is_some());

    // One succeeded run per feed with the counts of the uninterrupted one: no page was read
    // twice (a duplicate that ran would count its page's records again) or skipped.
    let runs = bed.p.sync.runs().list(&bed.hotel, 100).await.unwrap();
    for feed in Feed::ALL {
        let of_feed: Vec<_> = runs.iter().filter(|r| r.feed == feed.as_str()).collect();
        assert_eq!(of_feed.len(), 1, "{feed}: {of_feed:?}");
        let (got, want) = (of_feed[0], &whole_runs[&feed]);
        assert_eq!(
            (
                got.created.count,
                got.updated.count,
                got.unchanged,
                got.failed.count
            ),
            (
                want.created.count,
                want.updated.count,
                want.unchanged,
                want.failed.count
            ),
            "{feed}"
        );
        assert_eq!(got.status, want.status, "{feed}");
    }

    // The same records and the same events.
    let got = bed.bookings().await;
    assert_eq!(got.len(), 120);
    assert_eq!(got, bed.bookings_of(&whole).await);
    let events = bed.new_events().await;
    let mine = events_of(&events, &bed.hotel);
    assert!(!mine.is_empty());
    assert_eq!(mine, events_of(&events, &whole));
}
