//! Benchmark (not a test): the scheduled sync of one hotel with 10 000 reservations, per vendor,
//! against the vendor simulators (with the vendors' real rate limits) and a stack on moto.
//!
//! usage: scripts/with-moto.sh cargo run --release -p pms-tests --example sync_bench
//!        [-- --reservations 10000 --vendor ohip|mews|cloudbeds]     (or `make bench-sync`)
//!
//! For each vendor it runs every feed of one tick the way the sync worker does (one hotel's jobs
//! one after another, through `SyncService::run_job`), twice: the first sync of an empty table,
//! then an unchanged re-sync. It prints, per pass:
//! - vendor calls made (the simulator's count, token requests included) against a lower bound:
//!   one request per feed, or one per largest page the vendor allows of the records the feed
//!   read, with no authentication and no lookups;
//! - table writes, split into records (bookings, rooms) and the sync's bookkeeping (run
//!   records, feed state, the rate limiter's shared counters);
//! - events published, wall time, and the longest single feed run (a worker has 300 s).
//!
//! Wall time is bound by the vendors' rate limits (Cloudbeds: 5 requests/s per property, of
//! which the shared limiter plans ~40 %; Mews 200/30 s; OHIP 100/min) and by moto, which writes
//! far slower than DynamoDB.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pms_app::jobs::{Feed, FeedJob};
use pms_app::sync::{FeedOutcome, SyncService};
use pms_app::sync_runs::SyncRun;
use pms_domain::domain::HotelId;
use pms_domain::ports::SecretStore;
use pms_sim::setup::hotel_for;
use pms_sim::{Provider, SimAdmin, SimConfig, SimSize, Simulator};
use pms_testkit::counting::CountingStore;
use pms_tests::{CountingBus, TestStack};

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

struct Pass {
    wall: Duration,
    calls: u64,
    minimum: u64,
    records_read: u64,
    record_writes: usize,
    bookkeeping_writes: usize,
    /// The rate limiter's share of the bookkeeping.
    limiter_writes: usize,
    events: u64,
    longest: (String, u64),
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
        let mut runs = Vec::new();
        for feed in Feed::ALL {
            let job = FeedJob {
                hotel: self.hotel.clone(),
                feed,
                scheduled_at: tick,
                correlation_id: format!("bench-{}", tick.timestamp()),
            };
            match self.sync.run_job(&job).await {
                Ok(FeedOutcome::Ran(run)) => runs.push(*run),
                other => panic!("{feed}: {other:?}"),
            }
        }
        let wall = started.elapsed();
        let after = counters(&self.admin, self.vendor).await;
        let writes = self.store.take_writes();
        let bookkeeping = writes
            .iter()
            .filter(|k| BOOKKEEPING.iter().any(|p| k.sort.starts_with(p)))
            .count();
        let limiter_writes = writes
            .iter()
            .filter(|k| k.sort.starts_with("RATE#"))
            .count();
        let (reservation_page, room_page) = largest_pages(self.vendor);
        let read = |r: &SyncRun| r.created.count + r.updated.count + r.unchanged + r.failed.count;
        let minimum = runs
            .iter()
            .map(|r| {
                let page = if r.feed == Feed::RoomStatus.as_str() {
                    room_page
                } else {
                    reservation_page
                };
                read(r).div_ceil(page).max(1)
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
            events: self.bus.events() - events,
            longest,
            endpoints,
            runs,
        }
    }
}

fn print_pass(name: &str, p: &Pass) {
    println!(
        "  {name:<18} vendor calls {:>5} (lower bound {:>4}, {:.1}x)   table writes {:>6} records + {:>4} bookkeeping   events {:>6}   records read {:>6}   wall {:>6.1} s (longest feed: {} {:.1} s)",
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
        "      table writes in all {} (rate limiter {}, {:.2} per vendor call)",
        p.record_writes + p.bookkeeping_writes,
        p.limiter_writes,
        p.limiter_writes as f64 / p.calls.max(1) as f64,
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

async fn bench(vendor: Provider, reservations: u32) {
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
    let (store, bus, services) = stack.counted_services();
    services
        .secrets
        .put(&services.adapters.credentials_secret(&hotel), &credentials)
        .await
        .unwrap();
    services.hotels.create(&config).await.unwrap();
    let bed = Bed {
        vendor,
        hotel,
        admin: sim.admin(),
        store,
        bus,
        sync: SyncService::new(&services),
    };
    println!(
        "{vendor:?}: {} reservations, {} rooms, {} guests",
        size.reservations, size.rooms, size.guests
    );
    let first = bed.pass().await;
    print_pass("first sync", &first);
    let again = bed.pass().await;
    print_pass("unchanged re-sync", &again);
    assert_eq!(again.record_writes, 0, "an unchanged re-sync wrote records");
    sim.stop().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let mut reservations = 10_000u32;
    let mut vendors = pms_sim::providers().to_vec();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--reservations", Some(n)) => reservations = n.parse().expect("--reservations N"),
            ("--vendor", Some(v)) => {
                vendors = vec![match v.as_str() {
                    "ohip" => pms_opera::PROVIDER,
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
        bench(vendor, reservations).await;
    }
}
