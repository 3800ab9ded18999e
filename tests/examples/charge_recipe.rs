//! The write path from outside, at deployed timings: a stack on moto, the vendor simulators,
//! the graphql function's handler for partners, the writer's handler fed by an event source
//! loop in real time (30 s invocations: the Lambda timeout), `pmsctl` (the real binary) for ops,
//! and the simulator's admin API over HTTP for faults, as an operator would drive them. It runs
//! the charge-outage recipe and prints what happened and the charges the simulator counted.
//!
//! `scripts/with-moto.sh cargo run -p pms-tests --example charge_recipe` (about 4 minutes:
//! the vendor client waits 20 s, the writer searches a folio 60 s after an unanswered charge).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::time::{Duration, Instant};

use pms_app::registry::Scope;
use pms_sim::data::SimStatus;
use pms_tests::writes::{confirmation_of, WritesStack};
use serde_json::{json, Value};

const CHARGE: &str = "mutation($h: ID!, $c: String!, $charge: ChargeInput!, $k: String) {
  postCharge(hotelId: $h, confirmationNumber: $c, charge: $charge, idempotencyKey: $k) {
    id status } }";

struct Run {
    w: WritesStack,
    admin: String,
    http: reqwest::Client,
    started: Instant,
}

impl Run {
    fn say(&self, what: impl AsRef<str>) {
        println!(
            "[{:>6.1} s] {}",
            self.started.elapsed().as_secs_f64(),
            what.as_ref()
        );
    }

    async fn faults(&self, body: Option<Value>) {
        let req = match &body {
            Some(b) => self
                .http
                .put(format!("{}/_admin/faults/mews", self.admin))
                .json(b),
            None => self.http.delete(format!("{}/_admin/faults", self.admin)),
        };
        let status = req.send().await.expect("admin API").status();
        self.say(format!(
            "{} faults: {} -> {status}",
            if body.is_some() { "PUT" } else { "DELETE" },
            body.map(|b| b.to_string()).unwrap_or_default()
        ));
    }

    async fn charges_posted(&self) -> u64 {
        let c: Value = self
            .http
            .get(format!("{}/_admin/counters", self.admin))
            .send()
            .await
            .expect("counters")
            .json()
            .await
            .expect("JSON");
        c["mews"]["chargesPosted"].as_u64().unwrap_or(0)
    }

    /// The event source, in real time: a batch whenever one is visible, each invocation with
    /// a 30 s deadline; until the operation is in one of `until` (or 6 minutes passed).
    async fn run_until(&self, token: &str, id: &str, until: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(360);
        let mut last = String::new();
        loop {
            let op = self.w.operation(token, id).await;
            let status = op["status"].as_str().unwrap_or_default().to_owned();
            if status != last {
                self.say(format!(
                    "operation {status}, attempts {}, error {}",
                    op["attempts"], op["error"]
                ));
                last = status.clone();
            }
            if until.contains(&status.as_str()) || Instant::now() > deadline {
                return op;
            }
            let messages = self.w.receive_writes(None).await;
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let round = self
                .w
                .deliver_within(messages, Some(Duration::from_secs(30)))
                .await;
            if let Some(report) = &round.report {
                for o in &report.outcomes {
                    self.say(format!(
                        "  writer: receive {} -> {:?}",
                        o.receive_count, o.result
                    ));
                }
            }
        }
    }

    async fn pmsctl(&self, args: &[&str]) {
        let out = self.w.pmsctl(args).await;
        self.say(format!(
            "pmsctl {} -> exit {:?}: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
        ));
    }
}

#[tokio::main]
async fn main() {
    let w = WritesStack::new().await;
    let admin = w.sim.base_url();
    let run = Run {
        w,
        admin,
        http: reqwest::Client::new(),
        started: Instant::now(),
    };
    let h = run.w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = run.w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = run.w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    let charge = |amount: i64, key: &str| {
        json!({"h": h.id.as_str(), "c": conf,
               "charge": {"amountMinor": amount, "currency": h.config.currency.code(),
                          "description": "Spa treatment"},
               "k": key})
    };
    let late =
        json!({"latencyMs": 25000, "onlyEndpoints": ["orders/add"], "finishAbandoned": true});

    run.say(
        "== 1. The late-answer recipe: a charge applied, answered 25 s late (client timeout 20 s)",
    );
    run.faults(Some(late.clone())).await;
    let reply = run
        .w
        .graphql(&token, CHARGE, charge(4500, "recipe-1"))
        .await;
    let id = reply.data()["postCharge"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    run.say(format!("postCharge -> {id}"));
    let op = run
        .run_until(&token, &id, &["SUCCEEDED", "DEAD_LETTERED"])
        .await;
    run.say(format!(
        "ended {} (result {}); chargesPosted = {}",
        op["status"],
        op["result"],
        run.charges_posted().await
    ));
    run.faults(None).await;

    run.say("== 2. The same, with the PMS answering 503 while the writer looks for it");
    let before = run.charges_posted().await;
    run.faults(Some(late)).await;
    let reply = run
        .w
        .graphql(&token, CHARGE, charge(4600, "recipe-2"))
        .await;
    let id = reply.data()["postCharge"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let op_id = id.split('/').nth(1).unwrap().to_owned();
    run.say(format!("postCharge -> {id}"));
    // The first delivery: the posting times out at the client; the PMS applies it at 25 s.
    let messages = run.w.receive_writes(None).await;
    run.w
        .deliver_within(messages, Some(Duration::from_secs(30)))
        .await;
    run.say("first attempt ended without an answer");
    run.faults(Some(json!({"errorRate": 1, "errorStatus": 503})))
        .await;
    run.run_until(&token, &id, &["DEAD_LETTERED", "SUCCEEDED"])
        .await;
    run.pmsctl(&["dlq", "redrive", &op_id]).await;
    run.run_until(&token, &id, &["DEAD_LETTERED", "SUCCEEDED"])
        .await;
    run.faults(None).await;
    run.pmsctl(&["dlq", "redrive", &op_id]).await;
    let op = run
        .run_until(&token, &id, &["SUCCEEDED", "DEAD_LETTERED"])
        .await;
    run.say(format!(
        "ended {} (result {}); charges posted for it = {}",
        op["status"],
        op["result"],
        run.charges_posted().await - before
    ));
    run.w.sim.stop().await;
}
