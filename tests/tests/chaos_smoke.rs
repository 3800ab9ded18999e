//! A short run of the chaos suite (`make chaos` runs 1 000 rounds), so it cannot rot: a few
//! rounds per vendor, some on moto (the AWS adapters) and the rest in memory, every invariant 0,
//! and the rounds really did inflict what they claim.

use pms_tests::chaos::{self, BackendMix, ChaosConfig};

#[tokio::test(flavor = "multi_thread")]
async fn twelve_chaos_rounds_break_no_invariant() {
    pms_tests::init_test_logging();
    let config = ChaosConfig {
        seed: 0x5eed_c4a0,
        rounds: 12,
        backends: BackendMix::Mixed { moto_every: 2 },
        rate_scale: 5,
        progress_every: 0,
    };
    let report = chaos::run(&config).await.expect("the suite runs");
    let t = &report.tally;
    println!("{}", t.render(report.wall));
    assert!(report.ok(), "{:#?}", report.failures);
    assert_eq!(t.rounds.values().sum::<u64>(), 12);
    assert!(
        t.rounds.keys().any(|k| k.ends_with("on moto")),
        "{:?}",
        t.rounds
    );
    assert!(t.patches > 0 && t.deliveries > t.patches / 2, "{t:?}");
    assert!(t.writes > 0 && t.charges > 0, "{t:?}");
    assert!(t.vendor_calls > 0 && t.record_writes > 0, "{t:?}");
}
