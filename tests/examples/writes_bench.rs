//! Benchmark (not a test): the write path on moto and the Mews simulator, through the real
//! handlers. Prints the p50/p90 latency of a `postCharge` mutation (validate, authorize, register
//! the key, record the operation, send to SQS), of a repeated one (answered from the key), and
//! the writer's time per message when it drains the queue in batches of 10 (lease, intent, one
//! PMS call, audit, completion).
//!
//! usage: scripts/with-moto.sh cargo run -p pms-tests --example writes_bench [--release]

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::time::{Duration, Instant};

use pms_app::registry::Scope;
use pms_sim::data::SimStatus;
use pms_tests::writes::{confirmation_of, WritesStack};
use serde_json::json;

const CHARGES: usize = 60;
const CHARGE: &str = "mutation($h: ID!, $c: String!, $charge: ChargeInput!, $k: String) {
  postCharge(hotelId: $h, confirmationNumber: $c, charge: $charge, idempotencyKey: $k) { id status } }";

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    let vars = |n: usize| {
        json!({"h": h.id.as_str(), "c": conf, "k": format!("bench-{n}"),
               "charge": {"amountMinor": 100 + n as i64, "currency": h.config.currency.code(),
                          "description": "Bench"}})
    };
    // Warm-up: token cache, adapter, connections.
    w.graphql(&token, CHARGE, vars(usize::MAX)).await;

    let mut submit = Vec::new();
    for n in 0..CHARGES {
        let t = Instant::now();
        let reply = w.graphql(&token, CHARGE, vars(n)).await;
        submit.push(t.elapsed());
        assert!(reply.codes().is_empty(), "{}", reply.body);
    }
    let mut repeat = Vec::new();
    for n in 0..CHARGES {
        let t = Instant::now();
        let reply = w.graphql(&token, CHARGE, vars(n)).await;
        repeat.push(t.elapsed());
        assert!(reply.codes().is_empty(), "{}", reply.body);
    }

    let mut per_message = Vec::new();
    let mut messages = 0;
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let Some(round) = w.writer_round().await else {
            break;
        };
        let n = round.messages.len();
        messages += n;
        per_message.push(t.elapsed() / n as u32);
        w.let_delays_pass(&round).await;
    }
    let drained = started.elapsed();
    let posted = w.counters(pms_mews::PROVIDER).charges_posted;

    println!(
        "postCharge mutation ({CHARGES} distinct keys): p50 {} p90 {}",
        ms(pct(submit.clone(), 0.5)),
        ms(pct(submit, 0.9))
    );
    println!(
        "postCharge repeated (same keys, answered from the key, re-queued): p50 {} p90 {}",
        ms(pct(repeat.clone(), 0.5)),
        ms(pct(repeat, 0.9))
    );
    println!(
        "writer: {messages} messages in {} ({} per message p50, p90 {}); {posted} charges posted (expected {})",
        ms(drained),
        ms(pct(per_message.clone(), 0.5)),
        ms(pct(per_message, 0.9)),
        CHARGES + 1
    );
    w.sim.stop().await;
}
