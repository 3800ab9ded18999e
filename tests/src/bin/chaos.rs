//! `make chaos`: the chaos suite (see `pms_tests::chaos`). Prints what it did and the invariants;
//! exits 1 when any invariant is broken, 2 when it could not run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::process::ExitCode;

use pms_tests::chaos::{self, ChaosConfig};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        pms_app::obs::init_logging();
    }
    let config = match ChaosConfig::from_env(1000) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::from(2);
        }
    };
    println!("chaos: {}", config.describe());
    let report = match chaos::run(&config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chaos: could not run: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.tally.render(report.wall));
    if report.ok() {
        println!("chaos: OK ({})", config.describe());
        ExitCode::SUCCESS
    } else {
        // CHAOS_FAILURES=all lists every failure, not only the first 40.
        let all = std::env::var("CHAOS_FAILURES").is_ok_and(|v| v == "all");
        println!(
            "chaos: FAILED; {} failures{}:",
            report.failures.len(),
            if all { "" } else { ", the first" }
        );
        for f in report
            .failures
            .iter()
            .take(if all { usize::MAX } else { 40 })
        {
            println!("  {f}");
        }
        println!(
            "rerun with: {}",
            config.describe().split(':').next().unwrap_or_default()
        );
        ExitCode::from(1)
    }
}
