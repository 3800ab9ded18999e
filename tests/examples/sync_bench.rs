//! Benchmark (not a test): the scheduled sync of one hotel with 10 000 reservations, per vendor,
//! against the vendor simulators (with the vendors' real rate limits) and a stack on moto.
//!
//! usage: scripts/with-moto.sh cargo run --release -p pms-tests --example sync_bench
//!        [-- --reservations 10000 --vendor opera|ohip|mews|cloudbeds --timeout 300 --first-only]
//!        (or `make bench-sync`, with `BENCH_SYNC_ARGS`)
//!
//! For each vendor it runs one tick of every feed the way production does, twice: the first
//! sync of an empty table, then an unchanged re-sync. The tick's feed jobs go on the sync queue
//! (as the scheduler sends them) and the real sync worker (`Worker::handle_within`) takes them
//! in batches of up to 10 received from the queue, one batch per invocation, each invocation
//! given the Lambda's timeout (`--timeout`, template.yaml's 300 s) as its remaining time: a
//! feed run stops between pages once 60 % of it is spent and sends a continuation job, which a
//! later invocation receives. Invocations run one after another until the queue is empty.
//! It prints, per pass:
//! - vendor calls made (the simulator's count, token requests included) against a lower bound:
//!   per feed, one request per largest page the vendor allows of the records the feed read (at
//!   least one), plus the lookups the vendor's listing cannot spare for records that changed
//!   (Mews: customers and notes, one each per 1000; Cloudbeds arrivals: the rate-details rows
//!   of changed rows, per 100; see `required_lookups`), with no authentication and no
//!   reference data, and none for a feed the vendor does not serve;
//! - table writes, split into records (bookings, rooms) and the sync's bookkeeping: the rate
//!   limiter's leases (and their number per vendor call), the feeds' states (claims,
//!   completions, progress), run records, and the rest (ticks, cached reference data);
//! - events published, wall time, invocations and the longest (against 60 % of the timeout).
//!
//! Wall time is bound by the vendors' rate limits (Cloudbeds: 5 requests/s per property, of
//! which the shared limiter plans ~40 %; Mews 200/30 s; OHIP 100/min) and by moto, which writes
//! far slower than DynamoDB.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::Utc;
use pms_app::jobs::{Feed, FeedJob, SyncJob};
use pms_app::sync::SyncService;
use pms_app::sync_runs::SyncRun;
use pms_domain::domain::HotelId;
use pms_domain::ports::SecretStore;
use pms_sim::setup::hotel_for;
use pms_sim::{Provider, SimAdmin, SimConfig, SimSize, Simulator};
use pms_testkit::counting::CountingStore;
use pms_tests::{sqs_event, CountingBus, TestStack};
use sync_worker_fn::Worker;

/// The sync's own sort-key prefixes (everything else written is a record).
const BOOKKEEPING: &[&str] = &["SYNCRUN#", "SYNCSTATE#", "SYNCTICK#", "RATE#", "REF#"];

/// The largest page each vendor serves: (reservations, rooms). OHIP `limit` 200
/// (getHotelReservations, housekeeping), Mews `Limitation.Count` 1000, Cloudbeds `pageSize`
/// 100 (getHousekeepingStatus 5000).
fn largest_pages(vendor: Provider) -> (u64, u64) {
    match vendor {
        pms_opera::PROVIDER => (200, 200),
        pms_mews::PROVIDER => (1000, 1000),
        pms_cloudbeds::PROVIDER => (100, 5000),
        other => panic!("{other} is not a simulated vendor"),
    }
}

/// Requests per page of changed reservations that the vendor's listing for `feed` cannot
/// spare: Mews' `reservations/getAll` (2023-06-06) carries neither the guest nor the notes (its
/// `Extent` went with the 2017 version), so each page of changed reservations needs one
/// `customers/getAll` (up to 1000 `CustomerIds`) and one `serviceOrderNotes/getAll` (up to
/// 1000 `ServiceOrderIds`). Cloudbeds: only `getReservations` filters by check-in date
/// (`checkInFrom`/`checkInTo`), and its rows lack `total` and `estimatedArrivalTime`, so the
/// arrivals feed needs one `getReservationsWithRateDetails` by `reservationID` (a page of 100)
/// per page of changed rows; its other feeds read `getReservationsWithRateDetails` itself, whose
/// rows carry every field. OHIP lists carry what a record needs.
fn required_lookups(vendor: Provider, feed: &str) -> u64 {
    match vendor {
        pms_mews::PROVIDER => 2,
        pms_cloudbeds::PROVIDER if feed == Feed::Arrivals.as_str() => 1,
        _ => 0,
    }
}

struct Pass {
    wall: Duration,
    calls: u64,
    minimum: u64,
    records_read: u64,
    record_writes: usize,
    bookkeeping_writes: usize,
    /// The bookkeeping per prefix: the rate limiter's, the feeds' states, run records.
    limiter_writes: usize,
    state_writes: usize,
    run_writes: usize,
    events: u64,
    longest: (String, u64),
    invocations: u32,
    longest_invocation: Duration,
    endpoints: BTreeMap<String, u64>,
    runs: Vec<SyncRun>,
}

struct Bed {
    vendor: Provider,
    hotel: HotelId,
    admin: SimAdmin,
    store: Arc<CountingStore>,
    bus: Arc<CountingBus>,
    sync: SyncService,
    worker: Worker,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    /// The worker's Lambda timeout: each invocation starts with this much time left.
    timeout: Duration,
}

async fn counters(admin: &SimAdmin, vendor: Provider) -> pms_sim::VendorCounters {
    admin.counters().await.expect("counters")[&vendor].clone()
}

impl Bed {
    async fn pass(&self) -> Pass {
        // One tick per second at most, and never before the previous one.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let tick = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let before = counters(&self.admin, self.vendor).await;
        self.store.take_writes();
        let events = self.bus.events();
        let started = Instant::now();
        let correlation = format!("bench-{}", tick.timestamp());
        // The scheduler's fan-out: one job per feed on the sync queue.
        for feed in Feed::ALL {
            let job = FeedJob {
                hotel: self.hotel.clone(),
                feed,
                scheduled_at: tick,
                correlation_id: correlation.clone(),
                continuation: None,
            };
            let message = SyncJob::Feed(job).to_message().unwrap();
            let mut send = self
                .sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(message.body);
            for (k, v) in message.attributes {
                send = send.message_attributes(
                    k,
                    aws_sdk_sqs::types::MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(v)
                        .build()
                        .unwrap(),
                );
            }
            send.send().await.unwrap();
        }
        // The event source mapping: a batch per invocation until the queue is empty.
        let (mut invocations, mut longest_invocation) = (0u32, Duration::ZERO);
        loop {
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let event: SqsEvent =
                serde_json::from_value(sqs_event(&messages, &self.queue_arn)).unwrap();
            let began = Instant::now();
            let response = self
                .worker
                .handle_within(event, Some(self.timeout))
                .await
                .unwrap();
            let took = began.elapsed();
            invocations += 1;
            longest_invocation = longest_invocation.max(took);
            assert!(
                response.batch_item_failures.is_empty(),
                "a job failed: {:?}",
                response.batch_item_failures
            );
            for m in &messages {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
            eprintln!(
                "    invocation {invocations}: {} jobs, {:.1} s",
                messages.len(),
                took.as_secs_f64()
            );
        }
        // The tick's completed runs, one per feed.
        let runs: Vec<SyncRun> = self
            .sync
            .runs()
            .list(&self.hotel, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.correlation_id.as_deref() == Some(correlation.as_str()))
            .collect();
        assert_eq!(runs.len(), Feed::ALL.len(), "one run per feed: {runs:?}");
        let wall = started.elapsed();
        let after = counters(&self.admin, self.vendor).await;
        let writes = self.store.take_writes();
        let bookkeeping = writes
            .iter()
            .filter(|k| BOOKKEEPING.iter().any(|p| k.sort.starts_with(p)))
            .count();
        let prefixed = |p: &str| writes.iter().filter(|k| k.sort.starts_with(p)).count();
        let limiter_writes = prefixed("RATE#");
        let (reservation_page, room_page) = largest_pages(self.vendor);
        let read = |r: &SyncRun| r.created.count + r.updated.count + r.unchanged + r.failed.count;
        let minimum = runs
            .iter()
            .map(|r| {
                // A feed the vendor does not serve (OHIP has no availability read) asks nothing.
                if r.vendor_calls == 0 && read(r) == 0 {
                    return 0;
                }
                let lookups = required_lookups(self.vendor, &r.feed);
                if r.feed == Feed::RoomStatus.as_str() {
                    return read(r).div_ceil(room_page).max(1);
                }
                let changed = r.created.count + r.updated.count + r.failed.count;
                read(r).div_ceil(reservation_page).max(1)
                    + lookups * changed.div_ceil(reservation_page)
            })
            .sum();
        let endpoints = after
            .calls
            .iter()
            .map(|(k, v)| (k.clone(), v - before.calls.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        let longest = runs
            .iter()
            .max_by_key(|r| r.duration_ms)
            .map(|r| (r.feed.clone(), r.duration_ms))
            .unwrap_or_default();
        Pass {
            wall,
            calls: after.total_calls - before.total_calls,
            minimum,
            records_read: runs.iter().map(read).sum(),
            record_writes: writes.len() - bookkeeping,
            bookkeeping_writes: bookkeeping,
            limiter_writes,
            state_writes: prefixed("SYNCSTATE#"),
            run_writes: prefixed("SYNCRUN#"),
            events: self.bus.events() - events,
            longest,
            invocations,
            longest_invocation,
            endpoints,
            runs,
        }
    }
}

fn print_pass(name: &str, p: &Pass, timeout: Duration) {
    println!(
        "  {name:<18} vendor calls {:>5} (lower bound {:>4}, {:.1}x)   table writes {:>6} records + {:>4} bookkeeping   events {:>6}   records read {:>6}   wall {:>6.1} s (longest feed run: {} {:.1} s)",
        p.calls,
        p.minimum,
        p.calls as f64 / p.minimum.max(1) as f64,
        p.record_writes,
        p.bookkeeping_writes,
        p.events,
        p.records_read,
        p.wall.as_secs_f64(),
        p.longest.0,
        p.longest.1 as f64 / 1000.0,
    );
    let per_feed: Vec<String> = p
        .runs
        .iter()
        .map(|r| {
            format!(
                "{} {}+{}~{} {} calls",
                r.feed, r.created.count, r.updated.count, r.unchanged, r.vendor_calls
            )
        })
        .collect();
    println!(
        "      invocations {} (timeout {:.0} s; the longest {:.1} s, {:.0} % of it)",
        p.invocations,
        timeout.as_secs_f64(),
        p.longest_invocation.as_secs_f64(),
        100.0 * p.longest_invocation.as_secs_f64() / timeout.as_secs_f64(),
    );
    println!(
        "      bookkeeping writes {}: rate limiter {} ({:.2} per vendor call), feed states {}, run records {}, other {}",
        p.bookkeeping_writes,
        p.limiter_writes,
        p.limiter_writes as f64 / p.calls.max(1) as f64,
        p.state_writes,
        p.run_writes,
        p.bookkeeping_writes - p.limiter_writes - p.state_writes - p.run_writes,
    );
    println!(
        "      feeds (created+updated~unchanged): {}",
        per_feed.join(" | ")
    );
    let endpoints: Vec<String> = p
        .endpoints
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("      vendor endpoints: {}", endpoints.join(", "));
}

async fn bench(vendor: Provider, reservations: u32, timeout: Duration, first_only: bool) {
    let stack = TestStack::new().await;
    let size = SimSize {
        rooms: (reservations / 25).clamp(40, 2_000),
        reservations,
        guests: (reservations * 3 / 5).max(80),
    };
    let sim = Simulator::start(
        SimConfig {
            size,
            ..pms_sim::default_config()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("simulator");
    let property = sim.context.config.properties[&vendor][0].clone();
    let hotel = HotelId::parse(format!("bench-{}", vendor)).unwrap();
    let (config, credentials) =
        hotel_for(vendor, &property, &sim.vendor_url(vendor), hotel.clone()).unwrap();
    // Subscriptions' deliveries are not part of a sync, and their queue has no consumer here:
    // moto recounts a queue on every send (`approximate_number_of_messages`), so the rule's
    // unread queue made every PutEvents cost O(events so far), 4x the wall time at 10 000 and
    // quadratic at 100 000. On AWS the delivery function drains the queue; here the rule loses
    // its targets (moto sends to a disabled rule's targets all the same).
    let events = aws_sdk_eventbridge::Client::new(&stack.sdk_config);
    let rule = &stack.outputs.resources["SubscriptionEventsRule"].reference;
    let targets = events
        .list_targets_by_rule()
        .rule(rule)
        .event_bus_name(stack.event_bus_name())
        .send()
        .await
        .expect("the subscriptions' rule's targets");
    let ids: Vec<String> = targets
        .targets()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    events
        .remove_targets()
        .rule(rule)
        .event_bus_name(stack.event_bus_name())
        .set_ids(Some(ids))
        .send()
        .await
        .expect("take the subscriptions' rule's targets off");
    let (store, bus, services) = stack.counted_services();
    services
        .secrets
        .put(&services.adapters.credentials_secret(&hotel), &credentials)
        .await
        .unwrap();
    services.hotels.create(&config).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config);
    let queue_url = stack.queue_url("SyncJobsQueue").to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    let bed = Bed {
        vendor,
        hotel,
        admin: sim.admin(),
        store,
        bus,
        sync: SyncService::new(&services),
        worker: Worker::new(&services),
        sqs,
        queue_url,
        queue_arn,
        timeout,
    };
    println!(
        "{vendor:?}: {} reservations, {} rooms, {} guests",
        size.reservations, size.rooms, size.guests
    );
    let first = bed.pass().await;
    print_pass("first sync", &first, bed.timeout);
    if !first_only {
        let again = bed.pass().await;
        print_pass("unchanged re-sync", &again, bed.timeout);
        assert_eq!(again.record_writes, 0, "an unchanged re-sync wrote records");
    }
    sim.stop().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let mut reservations = 10_000u32;
    // template.yaml: SyncWorkerFunction's Timeout.
    let mut timeout = Duration::from_secs(300);
    let mut first_only = false;
    let mut vendors = pms_sim::providers().to_vec();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--help" || args[i] == "-h" {
            println!(
                "usage: sync_bench [--reservations N] [--vendor opera|ohip|mews|cloudbeds] [--timeout SECONDS] [--first-only]"
            );
            return;
        }
        if args[i] == "--first-only" {
            first_only = true;
            i += 1;
            continue;
        }
        match (args[i].as_str(), args.get(i + 1)) {
            ("--reservations", Some(n)) => reservations = n.parse().expect("--reservations N"),
            ("--timeout", Some(n)) => {
                timeout = Duration::from_secs(n.parse().expect("--timeout SECONDS"))
            }
            ("--vendor", Some(v)) => {
                vendors = vec![match v.as_str() {
                    "opera" | "ohip" => pms_opera::PROVIDER,
                    "mews" => pms_mews::PROVIDER,
                    "cloudbeds" => pms_cloudbeds::PROVIDER,
                    other => panic!("unknown vendor {other}"),
                }]
            }
            (other, _) => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    for vendor in vendors {
        bench(vendor, reservations, timeout, first_only).await;
    }
}
