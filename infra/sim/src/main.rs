//! `pms-sim`: every registered vendor's simulator on one loopback port.

use std::net::SocketAddr;

use clap::Parser;
use pms_sim::{SimConfig, Simulator};

#[derive(Debug, Parser)]
#[command(
    name = "pms-sim",
    about = "Simulated vendor APIs (OHIP, Mews, Cloudbeds) for local work and tests"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 40)]
    rooms: u32,
    #[arg(long, default_value_t = 120)]
    reservations: u32,
    #[arg(long, default_value_t = 80)]
    guests: u32,
    /// Lifetime of issued OAuth tokens (OHIP's) in seconds.
    #[arg(long, alias = "ohip-token-ttl", default_value_t = 3600)]
    token_ttl: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut config = SimConfig {
        seed: args.seed,
        token_ttl_secs: args.token_ttl,
        ..pms_sim::default_config()
    };
    config.size.rooms = args.rooms;
    config.size.reservations = args.reservations;
    config.size.guests = args.guests;
    let sim = Simulator::start(config.clone(), args.listen).await?;
    // One line of JSON on stdout: where each vendor is and which properties it serves, so the
    // local stack can configure hotels against it.
    let vendors: serde_json::Map<String, serde_json::Value> = pms_sim::providers()
        .into_iter()
        .map(|v| {
            let props: Vec<_> = config.properties.get(&v).cloned().unwrap_or_default();
            (
                v.to_string(),
                serde_json::json!({"baseUrl": sim.vendor_url(v), "properties": props}),
            )
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({"simulator": sim.base_url(), "vendors": vendors})
    );
    tokio::signal::ctrl_c().await?;
    sim.stop().await;
    Ok(())
}
