//! The chaos suite (`make chaos`): randomized, seeded rounds of duplicate and reordered webhook
//! deliveries, duplicate and redriven write messages, writer crashes at each step of a charge,
//! and vendor faults (5xx, timeouts, 429 storms, OHIP token expiry, refused connections), against
//! the real ingestion, refresh, merge and write code, the vendor simulators, and the AWS adapters
//! on moto (or the in-memory ports, see [`ChaosConfig`]). Across a charge's attempts it switches
//! fault phases, lets lane time pass as the queue would, kills writer invocations at their
//! deadline, acts as ops on dead letters (redrive, abandon) and ages the write path's records;
//! two partners share idempotency keys. It counts and checks: charges per business request,
//! charges on the folio dead-lettered, partner isolation, dead letters not listed, lost updates,
//! state regressions, rate-limit violations, and that every sync converges.
//!
//! - [`plan`]: what a round does, drawn from its seed; [`schedule`]: its classes across
//!   attempts; [`partner`]: partner pushes;
//! - [`scenario`]: running a round; [`timeline`]: its schedule; [`drive`]: the queues, lane
//!   time, settling; [`ops`]: `pmsctl dlq` actions, records aging;
//! - [`faults`], [`gate`]: simulator faults, refused connections, crash injection;
//! - [`checks`], [`watch`], [`trace`]: the invariants and what each operation went through;
//! - [`world`]: the deployments (moto or memory) and the simulator's hotels.

pub mod checks;
pub mod clock;
pub mod drive;
pub mod faults;
pub mod gate;
pub mod ops;
pub mod partner;
pub mod plan;
pub mod queue;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod subscribers;
pub mod timeline;
pub mod trace;
pub mod watch;
pub mod world;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pms_domain::domain::HotelId;
use pms_sim::{PropertySetup, Provider, SimConfig, Simulator};

pub use report::Tally;
use world::{Backend, Deployment};

/// Where rounds run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendMix {
    /// Every round on moto.
    Moto,
    /// Every round in memory.
    Memory,
    /// Every `n`-th round of each vendor on moto, the others in memory.
    Mixed { moto_every: u64 },
}

#[derive(Clone, Debug)]
pub struct ChaosConfig {
    pub seed: u64,
    pub rounds: u64,
    /// Rounds before this one are skipped (to look at one round again; a round's plan depends a
    /// little on the PMS's state the earlier rounds left, so it may differ slightly).
    pub from_round: u64,
    pub backends: BackendMix,
    /// Provider rate limits, multiplied (simulator and hotels alike).
    pub rate_scale: u32,
    /// Print a progress line every this many rounds (0: never).
    pub progress_every: u64,
    /// How long the vendor HTTP client waits (production: 20 s): short, so injected timeouts
    /// cost little time; the simulator's timeouts and slow postings are set past it.
    pub client_timeout: Duration,
}

impl ChaosConfig {
    /// `CHAOS_SEED` (decimal or 0x hex; random when unset), `CHAOS_ROUNDS`, `CHAOS_FROM_ROUND`,
    /// `CHAOS_BACKEND` (`moto`, the default; `memory`; or `mixed`: every `CHAOS_MOTO_EVERY`-th
    /// round of a vendor on moto), `CHAOS_RATE_SCALE`.
    pub fn from_env(default_rounds: u64) -> Result<ChaosConfig, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let seed = match var("CHAOS_SEED") {
            Some(s) => {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                }
                .map_err(|_| format!("CHAOS_SEED={s} is not a number"))?
            }
            None => rand::random(),
        };
        let num = |k: &str, default: u64| -> Result<u64, String> {
            var(k).map_or(Ok(default), |v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("{k}={v} is not a number"))
            })
        };
        let moto_every = num("CHAOS_MOTO_EVERY", 10)?.max(1);
        let backends = match var("CHAOS_BACKEND").as_deref().unwrap_or("moto") {
            "moto" => BackendMix::Moto,
            "memory" => BackendMix::Memory,
            "mixed" => BackendMix::Mixed { moto_every },
            other => return Err(format!("CHAOS_BACKEND={other}: use moto, memory or mixed")),
        };
        Ok(ChaosConfig {
            seed,
            rounds: num("CHAOS_ROUNDS", default_rounds)?,
            from_round: num("CHAOS_FROM_ROUND", 0)?,
            backends,
            rate_scale: num("CHAOS_RATE_SCALE", 5)? as u32,
            progress_every: 100,
            client_timeout: Duration::from_millis(num("CHAOS_CLIENT_TIMEOUT_MS", 500)?.max(50)),
        })
    }

    /// The backend of round `round` (rounds rotate over the vendors).
    pub fn backend(&self, round: u64) -> Backend {
        match self.backends {
            BackendMix::Moto => Backend::Moto,
            BackendMix::Memory => Backend::Memory,
            BackendMix::Mixed { moto_every } => {
                if (round / 3) % moto_every == 0 {
                    Backend::Moto
                } else {
                    Backend::Memory
                }
            }
        }
    }

    fn uses(&self, backend: Backend) -> bool {
        match self.backends {
            BackendMix::Moto => backend == Backend::Moto,
            BackendMix::Memory => backend == Backend::Memory,
            BackendMix::Mixed { .. } => true,
        }
    }

    pub fn describe(&self) -> String {
        let backends = match self.backends {
            BackendMix::Moto => "every round on moto (DynamoDB, SQS, Secrets Manager, EventBridge adapters)".to_owned(),
            BackendMix::Memory => "every round on the in-memory store and queue".to_owned(),
            BackendMix::Mixed { moto_every } => format!(
                "every {moto_every}th round of each vendor on moto (the AWS adapters), the others on the in-memory store and queue"
            ),
        };
        format!(
            "CHAOS_SEED=0x{:x} CHAOS_ROUNDS={}: {backends}; vendor rate limits x{} (simulator and hotels alike)",
            self.seed, self.rounds, self.rate_scale
        )
    }
}

pub struct ChaosReport {
    pub tally: Tally,
    pub failures: Vec<String>,
    pub wall: Duration,
}

impl ChaosReport {
    pub fn ok(&self) -> bool {
        self.tally.ok() && self.failures.is_empty()
    }
}

/// A second simulated property per vendor, so the memory and moto deployments of one vendor
/// never share a rate-limit budget (each has its own limiter state).
fn second_property(vendor: Provider, first: &PropertySetup) -> PropertySetup {
    let mut p = first.clone();
    let creds = &mut p.credentials;
    match vendor {
        pms_opera::PROVIDER => {
            p.property_id = "SIMOHIP2".into();
            creds.insert("clientId".into(), "sim-ohip-client-2".into());
            creds.insert("clientSecret".into(), "sim-ohip-secret-2".into());
        }
        pms_mews::PROVIDER => {
            p.property_id = "7a1c3e58-2d4b-4f0e-9c61-5b8e2f9d0a37".into();
            creds.insert("clientToken".into(), "sim-mews-client-token-2".into());
            creds.insert("accessToken".into(), "sim-mews-access-token-2".into());
        }
        pms_cloudbeds::PROVIDER => {
            p.property_id = "318268".into();
            creds.insert("apiKey".into(), "cbat_simulator_key_318268".into());
        }
        other => panic!("{other} is not a simulated vendor"),
    }
    p
}

pub async fn run(config: &ChaosConfig) -> Result<ChaosReport, String> {
    let started = Instant::now();
    let mut sim_config = SimConfig {
        seed: config.seed,
        limits: world::limits(config.rate_scale),
        ..pms_sim::default_config()
    };
    for (vendor, props) in sim_config.properties.iter_mut() {
        let second = second_property(*vendor, &props[0]);
        props.push(second);
    }
    let sim = Simulator::start(
        sim_config.clone(),
        "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
    )
    .await
    .map_err(|e| format!("simulator: {e}"))?;
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let mut lanes: Vec<(Provider, BTreeMap<Backend, Deployment>)> = Vec::new();
    for vendor in pms_sim::providers() {
        let mut deployments = BTreeMap::new();
        for (i, backend) in [Backend::Memory, Backend::Moto].into_iter().enumerate() {
            if !config.uses(backend) {
                continue;
            }
            let property = sim_config.properties[&vendor][i].clone();
            let hotel = HotelId::parse(format!(
                "chaos-{run_id}-{}-{}",
                scenario::provider_name(vendor).to_lowercase(),
                backend.name()
            ))
            .map_err(|e| e.to_string())?;
            let d = Deployment::new(
                backend,
                vendor,
                property,
                &sim.vendor_url(vendor),
                sim.admin(),
                hotel,
                config.rate_scale,
                config.client_timeout,
            )
            .await?;
            deployments.insert(backend, d);
        }
        lanes.push((vendor, deployments));
    }
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let lane_runs = lanes.iter().enumerate().map(|(lane, (_, deployments))| {
        let done = done.clone();
        async move {
            let mut tally = Tally::default();
            let mut failures = Vec::new();
            for round in (lane as u64..config.rounds)
                .step_by(3)
                .filter(|r| *r >= config.from_round)
            {
                let d = &deployments[&config.backend(round)];
                let outcome = tokio::time::timeout(
                    Duration::from_secs(180),
                    scenario::run_round(d, config.seed, round),
                )
                .await;
                match outcome {
                    Ok(Ok(r)) => {
                        tally.add(&r.tally);
                        failures.extend(r.failures);
                    }
                    Ok(Err(e)) => {
                        tally.unsettled += 1;
                        failures.push(format!("round {round}: aborted: {e}"));
                    }
                    Err(_) => {
                        tally.unsettled += 1;
                        failures.push(format!("round {round}: did not finish in 180 s"));
                    }
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if config.progress_every > 0 && n % config.progress_every == 0 {
                    println!(
                        "[{n:>5}/{}] {:>6.1} s",
                        config.rounds,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            (tally, failures)
        }
    });
    let results = futures::future::join_all(lane_runs).await;
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (t, f) in results {
        tally.add(&t);
        failures.extend(f);
    }
    tally.record_writes = lanes
        .iter()
        .flat_map(|(_, ds)| ds.values())
        .map(|d| d.watch.record_writes())
        .sum();
    sim.stop().await;
    Ok(ChaosReport {
        tally,
        failures,
        wall: started.elapsed(),
    })
}
