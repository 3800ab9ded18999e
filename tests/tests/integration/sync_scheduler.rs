//! The sync scheduler function against a stack on moto: one Scheduled Event fans out one job
//! per enabled hotel and due feed onto the real sync queue, in batches; a second delivery of the
//! same event enqueues nothing.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DurationRound, Utc};
use futures::StreamExt;
use pms_app::jobs::{Feed, SyncJob};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider};
use pms_tests::TestStack;

const HOTELS: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_fans_out_one_job_per_enabled_hotel_and_due_feed_once() {
    let stack = TestStack::new().await;
    let services = stack.services();
    let mut expected: BTreeSet<(String, Feed)> = BTreeSet::new();
    let configs: Vec<HotelConfig> = (0..HOTELS)
        .map(|i| {
            let mut c = HotelConfig::new(
                HotelId::parse(format!("fan-{i:04}")).unwrap(),
                "Fan-out hotel",
                Provider::named("mock"),
                PropertyTz::parse("Europe/Prague").unwrap(),
                Currency::eur(),
                Utc::now(),
            );
            // Every tenth hotel is disabled; every seventh has hourly departures at :45.
            c.enabled = i % 10 != 0;
            if i % 7 == 0 {
                c.sync.departures.schedule = "45 * * * *".into();
            }
            if c.enabled {
                for feed in Feed::ALL {
                    if !(feed == Feed::Departures && i % 7 == 0) {
                        expected.insert((c.hotel_id.to_string(), feed));
                    }
                }
            }
            c
        })
        .collect();
    futures::stream::iter(configs.iter().map(|c| services.hotels.create(c)))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .for_each(|r| r.expect("hotel"));

    // A tick at :32 past the hour: the :45 departures are not due, every 5-minute feed is.
    let tick = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap()
        + chrono::Duration::minutes(32);
    let event = pms_local::driver::scheduled_event(
        "arn:aws:events:us-east-1:123456789012:rule/fan-out",
        tick,
    );
    let scheduler = sync_scheduler_fn::Scheduler::new(&services, 300);
    let started = Instant::now();
    let report = scheduler
        .handle(serde_json::from_value(event.clone()).unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(report.hotels, HOTELS);
    assert_eq!(report.jobs_enqueued, expected.len(), "{report:?}");
    assert_eq!(report.jobs_failed, 0);

    // Every (hotel, feed) exactly once on the queue, for this tick.
    let sqs = stack.sqs();
    let mut seen: Vec<(String, Feed)> = Vec::new();
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(stack.queue_url("SyncJobsQueue"))
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let SyncJob::Feed(job) = SyncJob::parse(m.body().unwrap()).unwrap() else {
                panic!("not a feed job")
            };
            assert_eq!(job.scheduled_at, tick);
            let attrs = m.message_attributes().unwrap();
            assert_eq!(attrs["hotel"].string_value(), Some(job.hotel.as_str()));
            seen.push((job.hotel.to_string(), job.feed));
        }
    }
    assert_eq!(seen.len(), expected.len(), "no duplicates");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);

    // The same event again (EventBridge delivers at least once, Lambda retries): nothing new.
    let again = scheduler
        .handle(serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    assert_eq!(again.jobs_enqueued, 0, "{again:?}");
    assert_eq!(again.already_enqueued, report.due_hotels);
    let left = sqs
        .receive_message()
        .queue_url(stack.queue_url("SyncJobsQueue"))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(left.is_empty());
    println!(
        "{HOTELS} hotels ({} due): {} jobs enqueued in {took:?} (moto)",
        report.due_hotels, report.jobs_enqueued
    );
}
