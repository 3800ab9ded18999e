//! The vendors' rate limits hold across processes: 4 processes (as 4 Lambda instances would be)
//! each run concurrent callers of one OHIP, one Mews and one Cloudbeds hotel for 30 s against
//! the simulators, sharing only the table (the distributed limiter's counters on moto). The
//! simulators enforce the real limits with sliding windows and count every request over them.

use std::path::PathBuf;
use std::process::Stdio;

use pms_domain::ports::SecretStore;
use pms_sim::setup::hotel_for;
use pms_sim::Simulator;
use pms_tests::TestStack;

const PROCESSES: usize = 4;
/// Callers per hotel per process: 52 per vendor in all.
const CALLERS: usize = 13;
const SECONDS: u64 = 30;

async fn pms_load() -> PathBuf {
    // Another package's binary, which this package's tests do not build: built when missing.
    pms_tests::writes::workspace_bin("pms-load", "pms-load").await
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_callers_in_four_processes_never_exceed_a_vendor_limit() {
    let stack = TestStack::new().await;
    let services = stack.services();
    let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut hotels = Vec::new();
    for vendor in pms_sim::providers() {
        let property = sim.context.config.properties[&vendor][0].clone();
        let id = pms_domain::domain::HotelId::parse(format!("rl-{}", vendor)).unwrap();
        let (config, credentials) =
            hotel_for(vendor, &property, &sim.vendor_url(vendor), id.clone()).unwrap();
        services
            .secrets
            .put(&services.adapters.credentials_secret(&id), &credentials)
            .await
            .unwrap();
        services.hotels.create(&config).await.unwrap();
        hotels.push(id.to_string());
    }

    let mut children = Vec::new();
    for _ in 0..PROCESSES {
        let mut cmd = tokio::process::Command::new(pms_load().await);
        cmd.args([
            "--callers",
            &CALLERS.to_string(),
            "--seconds",
            &SECONDS.to_string(),
        ])
        .env("PMS_STACK_FILE", "/nonexistent")
        .env("RUST_LOG", "warn")
        .envs(stack.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for h in &hotels {
            cmd.args(["--hotel", h]);
        }
        children.push(cmd.spawn().unwrap());
    }
    let mut outcomes = Vec::new();
    for child in children {
        let out = child.wait_with_output().await.unwrap();
        assert!(
            out.status.success(),
            "pms-load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        outcomes.push(summary);
    }

    let counters = sim.admin().counters().await.unwrap();
    println!(
        "callers' outcomes per process: {}",
        serde_json::to_string(&outcomes).unwrap()
    );
    for vendor in pms_sim::providers() {
        let c = &counters[&vendor];
        println!(
            "{vendor:?}: {} requests in {SECONDS} s, {} over the limit, {} refused by storms",
            c.total_calls, c.rate_limit_violations, c.storm_rejections
        );
        assert_eq!(
            c.rate_limit_violations, 0,
            "{vendor:?} went over its limit: {c:?}"
        );
    }
    // The limiter must not starve the callers either: each vendor got a good share of its
    // budget (OHIP 100/min, Mews 200/30 s, Cloudbeds 5/s).
    assert!(
        counters[&pms_opera::PROVIDER].total_calls >= 30,
        "{:?}",
        counters[&pms_opera::PROVIDER]
    );
    assert!(
        counters[&pms_mews::PROVIDER].total_calls >= 120,
        "{:?}",
        counters[&pms_mews::PROVIDER]
    );
    assert!(
        counters[&pms_cloudbeds::PROVIDER].total_calls >= 40,
        "{:?}",
        counters[&pms_cloudbeds::PROVIDER]
    );
    sim.stop().await;
}

/// A sync (a bulk caller) that keeps asking leases lanes of the read pool: at most one table
/// write per five permits, at the planned pace, on moto. A lane lease covers 40 s, so a slow
/// machine that makes the caller miss a few permits costs no extra write.
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_caller_leases_permits_at_a_fifth_of_a_table_write_each() {
    use pms_domain::config::RateLimitSettings;
    use pms_vendor_kit::pms::ratelimit::{bulk, DistributedLimiter, RateLimiter, MAX_HELD_LANES};

    let stack = TestStack::new().await;
    let (store, _bus, services) = stack.counted_services();
    // Mews: 200 per 30 s, four read permits per 810 ms slot, one per lane.
    let limit = RateLimitSettings {
        requests: 200,
        per_seconds: 30,
    };
    let limiter = DistributedLimiter::new(
        store.clone(),
        services.clock.clone(),
        pms_domain::domain::HotelId::parse("rl-lease").unwrap(),
        "mews#t",
        &limit,
    );
    let plan = limiter.plan();
    store.take_writes();
    let permits = 80u64;
    let started = std::time::Instant::now();
    bulk(async {
        for _ in 0..permits {
            limiter.acquire().await.unwrap();
        }
    })
    .await;
    let elapsed = started.elapsed();
    let writes = store.take_writes().len() as u64;
    assert!(
        writes * 5 <= permits,
        "{writes} table writes for {permits} permits"
    );
    // Never faster than the plan: at most the caller's lanes' permits per slot.
    let slots = permits / MAX_HELD_LANES - 2;
    assert!(
        elapsed.as_millis() as u64 >= slots * plan.slot_ms,
        "{permits} permits in {elapsed:?}"
    );
}
