//! `pms-load`: many concurrent callers of one hotel's adapter for a while, as several Lambda
//! instances would be. Run it in several processes at once against the vendor simulator to check
//! that the shared rate limiter keeps every vendor under its limit (the simulator counts
//! violations). Prints one JSON summary line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use pms_domain::domain::HotelId;
use pms_domain::pms::PmsAdapter;
use pmsctl as ctl;
use tokio::sync::Mutex;

#[derive(Debug, Parser)]
#[command(
    name = "pms-load",
    about = "Concurrent adapter calls against one hotel"
)]
struct Args {
    #[arg(long = "hotel", required = true)]
    hotels: Vec<String>,
    /// Concurrent callers per hotel.
    #[arg(long, default_value_t = 50)]
    callers: usize,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    #[arg(long, default_value = ".local/stack.json", env = "PMS_STACK_FILE")]
    stack_file: PathBuf,
}

async fn call_once(
    adapter: &dyn PmsAdapter,
    n: usize,
    today: pms_domain::domain::BusinessDate,
) -> Result<(), &'static str> {
    // A mix of the reads a sync and the GraphQL layer make.
    let r = match n % 4 {
        0 => adapter.arrivals(today).await.map(|_| ()),
        1 => adapter.departures(today).await.map(|_| ()),
        2 => adapter.room_statuses().await.map(|_| ()),
        _ => adapter.in_house().await.map(|_| ()),
    };
    r.map_err(|e| e.code())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let target = ctl::target(&args.stack_file).map_err(|e| e.to_string())?;
    let svc = ctl::services(target).await;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let results: Arc<Mutex<BTreeMap<String, BTreeMap<String, u64>>>> = Arc::default();
    let mut tasks = Vec::new();
    for hotel in &args.hotels {
        let id = HotelId::parse(hotel)?;
        let config = svc.hotels.require(&id).await?;
        let adapter = svc.adapters.adapter_for(&config).await?;
        let today = config.time_zone.business_date(chrono::Utc::now());
        for caller in 0..args.callers {
            let adapter = adapter.clone();
            let results = results.clone();
            let hotel = hotel.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = caller;
                while Instant::now() < deadline {
                    let outcome = match call_once(adapter.as_ref(), n, today).await {
                        Ok(()) => "ok".to_owned(),
                        Err(code) => code.to_owned(),
                    };
                    *results
                        .lock()
                        .await
                        .entry(hotel.clone())
                        .or_default()
                        .entry(outcome)
                        .or_default() += 1;
                    n += 1;
                }
            }));
        }
    }
    for t in tasks {
        t.await?;
    }
    println!("{}", serde_json::to_string(&*results.lock().await)?);
    Ok(())
}
