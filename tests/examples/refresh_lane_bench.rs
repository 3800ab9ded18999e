//! Webhook -> stored record on the local stack while a fleet of dead PMSs loads the sync queue
//! (issue 15, point 4). Needs `make dev` (or `pms-local up ...`) running and `pmsctl` built:
//!
//! ```sh
//! cargo build -p pmsctl -p pms-local
//! cargo run -p pms-tests --example refresh_lane_bench -- [DEAD_HOTELS] [SAMPLES]
//! ```
//!
//! It adds DEAD_HOTELS (30) Cloudbeds hotels whose base URL is a loopback port nothing listens
//! on (`pmsctl hotel add`, so connections are refused), fires the sync scheduler
//! (`pms-local fire sync-scheduler`: five feed jobs per hotel on the sync queue), and then,
//! SAMPLES (5) times, changes a booking of the healthy `demo-cloudbeds` hotel at the Cloudbeds
//! simulator, posts Cloudbeds' webhook for it to the webhook function, and times the POST until
//! the change is in the table. Printed: each sample, the queues' depths, and the breakers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step is the failure

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pms_app::runtime::{ResourceNames, Services};
use pms_domain::domain::HotelId;
use pms_domain::ports::{ItemKey, SystemClock};
use pms_local::up::StackFile;
use pms_runtime::AwsServices as _;
use pms_sim::{ReservationPatch, SimAdmin};
use serde_json::{json, Value};

const SAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dead: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(30);
    let samples: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let root = pms_local::find_root(&std::env::current_dir().expect("cwd")).expect("repo root");
    let file = StackFile::load(&root).expect(".local/stack.json: is the local stack up?");
    let bin = |name: &str| -> PathBuf { root.join("target/debug").join(name) };
    let pmsctl = || {
        let mut c = Command::new(bin("pmsctl"));
        c.current_dir(&root).envs(&file.env);
        c
    };
    let names = ResourceNames::from_lookup(|k| file.env.get(k).cloned()).expect("env contract");
    let sdk = pms_local::sdk_config(&file.aws_endpoint).await;
    let services = Services::from_aws(names, &sdk, std::sync::Arc::new(SystemClock));

    // The fleet's dead hotels: one port nothing listens on (refused connections).
    let port = closed_port();
    let creds = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(creds.path(), r#"{"apiKey": "cbat_dead_hotel_key"}"#).expect("creds");
    let mut added = 0;
    for i in 0..dead {
        let (code, _) = run(pmsctl().args([
            "hotel",
            "add",
            "--hotel",
            &format!("dead-{i:02}"),
            "--provider",
            "cloudbeds",
            "--time-zone",
            "Europe/Prague",
            "--currency",
            "USD",
            "--base-url",
            &format!("http://127.0.0.1:{port}/api/v1.3"),
            "--property-id",
            &format!("9{i:05}"),
            "--credentials-file",
            &creds.path().to_string_lossy(),
        ]));
        added += usize::from(code == 0);
    }
    println!("dead hotels: {added} added (of {dead}; the others existed), refusing on :{port}");

    // The healthy hotel: its webhook URL and a booking to change.
    let healthy = file
        .demo
        .vendor_hotels
        .get("cloudbeds")
        .cloned()
        .unwrap_or_else(|| "demo-cloudbeds".into());
    let hotel = HotelId::parse(&healthy).expect("hotel id");
    let webhook_base = file.functions.get("webhook").expect("webhook function URL");
    let (code, out) = run(pmsctl().args([
        "webhook",
        "secret",
        "--hotel",
        &healthy,
        "--base-url",
        webhook_base.trim_end_matches('/'),
        "--json",
    ]));
    assert_eq!(code, 0, "pmsctl webhook secret: {out}");
    let urls: Value = serde_json::from_str(&out).expect("json");
    let url = urls["urls"]["cloudbeds"]
        .as_str()
        .expect("cloudbeds URL")
        .to_owned();
    let config = services
        .hotels
        .require(&hotel)
        .await
        .expect("healthy hotel");
    let property = config.vendor.property_id.clone().expect("property id");
    let admin_url = file.simulators["admin"]
        .trim_end_matches("/_admin")
        .to_owned();
    let admin = SimAdmin::new(&admin_url);
    let sim_hotel = admin
        .hotel(pms_cloudbeds::PROVIDER, &property)
        .await
        .expect("simulated property");

    // The bulk load: one tick for every hotel (five feed jobs each).
    let (code, out) = run(Command::new(bin("pms-local"))
        .current_dir(&root)
        .args(["fire", "sync-scheduler"]));
    println!("sync-scheduler fired (exit {code}): {}", out.trim());
    // A moment for the workers to pick up the bulk.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let http = reqwest::Client::new();
    let mut figures = Vec::new();
    for n in 0..samples {
        let r = &sim_hotel.reservations[n % sim_hotel.reservations.len()];
        let marker = format!("refresh-lane-{}-{n}", uuid::Uuid::new_v4().simple());
        let key = ItemKey::hotel(&hotel, format!("BOOKING#cloudbeds#{}", r.id));
        // The change bumps the booking's source version: stored means a newer version is in.
        let before = match services.store.get(&key).await {
            Ok(Some(item)) => item.version,
            _ => 0,
        };
        admin
            .patch_reservation(
                pms_cloudbeds::PROVIDER,
                &property,
                &r.id,
                &ReservationPatch {
                    special_requests: Some(vec![marker.clone()]),
                    ..ReservationPatch::default()
                },
            )
            .await
            .expect("patch");
        let depth = services
            .queue
            .depth(&services.names.sync_queue_url)
            .await
            .unwrap_or(0);
        let body = json!({
            "reservationID": r.id,
            "propertyID": property.parse::<u64>().unwrap_or(0),
            "propertyID_str": property,
            "status": "confirmed",
            "version": "1.0",
            "event": "reservation/status_changed",
            "timestamp": chrono::Utc::now().timestamp_micros() as f64 / 1e6,
        });
        let started = Instant::now();
        let status = http
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("webhook POST")
            .status();
        let took = loop {
            if let Ok(Some(item)) = services.store.get(&key).await {
                if item.version > before {
                    break Some(started.elapsed());
                }
            }
            if started.elapsed() > SAMPLE_TIMEOUT {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match took {
            Some(t) => {
                println!(
                    "sample {n}: webhook {status} -> stored in {:.2} s (sync queue depth {depth})",
                    t.as_secs_f64()
                );
                figures.push(t);
            }
            None => println!("sample {n}: not stored within {SAMPLE_TIMEOUT:?}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    report(&services, &figures, dead).await;
}

async fn report(services: &Services, figures: &[Duration], dead: usize) {
    let depth = |url: String| async move { services.queue.depth(&url).await.unwrap_or(0) };
    let n = &services.names;
    println!(
        "queues now: sync {} (DLQ {}), refresh {} (DLQ {})",
        depth(n.sync_queue_url.clone()).await,
        depth(n.sync_dlq_url.clone()).await,
        depth(n.refresh_queue_url.clone()).await,
        depth(n.refresh_dlq_url.clone()).await,
    );
    let ids: Vec<HotelId> = (0..dead)
        .filter_map(|i| HotelId::parse(format!("dead-{i:02}")).ok())
        .collect();
    let breakers = services.breakers.get_many(&ids).await.unwrap_or_default();
    println!(
        "dead hotels with an open breaker: {} of {}",
        breakers.values().filter(|b| b.is_open()).count(),
        ids.len()
    );
    if figures.is_empty() {
        return;
    }
    let mut s: Vec<f64> = figures.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    println!(
        "webhook -> stored record: min {:.2} s, median {:.2} s, max {:.2} s ({} samples)",
        s[0],
        s[s.len() / 2],
        s[s.len() - 1],
        s.len()
    );
}
