//! Benchmark (not a test): `bookings` latency for one hotel's date range with 1 000 and with
//! 100 000 bookings in the table, on moto, through the function's real handler.
//!
//! usage: scripts/with-moto.sh cargo run -p pms-tests --example bookings_bench [--release]
//!
//! For each table size it prints the p50/p90 latency of the GraphQL request, the store requests
//! one request made and the edges it returned (the function's work, which a key query keeps
//! constant), the time those store requests took, the request's time outside the store, and
//! the p50 of the same DynamoDB Query sent straight to moto. moto answers a Query by iterating
//! every item of the table (`moto/dynamodb/models/table.py`), so its latency grows with the
//! table; the time outside the store is what stays flat, as the whole request would on DynamoDB.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use pms_app::registry::Scope;
use pms_domain::domain::{HotelId, Reservation};
use pms_domain::ports::Item;
use pms_tests::graphql::GraphqlStack;
use serde_json::json;

const RUNS: usize = 40;
/// Three weeks of arrivals: a full page of 50 out of the hotel's 1 000 bookings.
const QUERY: &str = "query($h: ID!) { bookings(hotelId: $h, first: 50, filter: {arrivalFrom: \"2026-12-01\", arrivalTo: \"2026-12-21\"}) { edges { node { id status arrival departure } } pageInfo { hasNextPage } } }";

/// Booking `n`: arrivals spread over 365 days, so a one-day range holds ~1/365 of the hotel.
fn booking(n: u32) -> Reservation {
    pms_tests::bench_booking(n)
}

/// The stored item of a booking, exactly as the merge rule writes it, for a bulk `batch_put`.
fn item(hotel: &HotelId, r: &Reservation, at: chrono::DateTime<Utc>) -> Item {
    use pms_app::records::Mergeable;
    r.to_item(hotel, at, vec![]).expect("encode booking")
}

async fn seed_to(g: &GraphqlStack, target: &HotelId, other: &HotelId, total: u32, have: &mut u32) {
    // The measured hotel keeps 1 000 bookings; the rest of the table belongs to another hotel,
    // as in a shared production table.
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut batch = Vec::new();
    while *have < total {
        let n = *have;
        let hotel = if n < 1000 { target } else { other };
        batch.push(item(hotel, &booking(n), at));
        *have += 1;
        if batch.len() == 2500 {
            g.item_store()
                .batch_put(std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        g.item_store().batch_put(batch).await.unwrap();
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let g = GraphqlStack::starting_at(Utc::now()).await;
    let hotel = g.add_hotel("bench", "Europe/Prague").await;
    let other = g.add_hotel("tenant", "Europe/Prague").await;
    let token = g.token(&[&hotel], &[Scope::Read]).await;
    let ddb = g.stack.dynamodb();
    let mut have = 0;
    let mut rows = Vec::new();
    for size in [1_000u32, 100_000] {
        let t = Instant::now();
        seed_to(&g, &hotel, &other, size, &mut have).await;
        eprintln!("seeded {size} items in {:.1} s", t.elapsed().as_secs_f64());
        // Warm up, and check the answer.
        let r = g.query(&token, QUERY, json!({"h": hotel.as_str()})).await;
        let edges = r.data()["bookings"]["edges"].as_array().map_or(0, Vec::len);
        assert!(r.codes().is_empty() && edges > 0, "{}", r.body);
        let mut latencies = Vec::new();
        let mut own = Vec::new();
        let mut store_time = Vec::new();
        let calls_before = g.store.calls();
        for _ in 0..RUNS {
            let busy = g.store.busy();
            let t = Instant::now();
            g.query(&token, QUERY, json!({"h": hotel.as_str()})).await;
            let total = t.elapsed();
            let in_store = g.store.busy() - busy;
            latencies.push(total);
            store_time.push(in_store);
            own.push(total.saturating_sub(in_store));
        }
        // Per request: the token and hotel reads, then the bookings key query.
        let store_calls = (g.store.calls() - calls_before) as f64 / RUNS as f64;
        let mut raw = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            ddb.query()
                .table_name(g.stack.table_name())
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p AND gsi1sk BETWEEN :a AND :b")
                .expression_attribute_values(":p", AttributeValue::S(format!("H#{hotel}")))
                .expression_attribute_values(":a", AttributeValue::S("BOOKING#2026-12-10#".into()))
                .expression_attribute_values(
                    ":b",
                    AttributeValue::S("BOOKING#2026-12-10#\u{10FFFF}".into()),
                )
                .limit(51)
                .send()
                .await
                .unwrap();
            raw.push(t.elapsed());
        }
        rows.push(Row {
            size,
            p50: pct(latencies.clone(), 0.5),
            p90: pct(latencies, 0.9),
            store_calls,
            edges,
            store_p50: pct(store_time, 0.5),
            own_p50: pct(own, 0.5),
            raw_p50: pct(raw, 0.5),
        });
    }
    println!(
        "bookings(hotelId, 3-week arrival range, first: 50), {RUNS} runs each, moto at {}",
        g.stack.endpoint
    );
    println!(
        "{:>7} | {:>9} | {:>9} | {:>9} | {:>5} | {:>13} | {:>15} | {:>14}",
        "items",
        "p50",
        "p90",
        "store req",
        "edges",
        "in store p50",
        "outside p50",
        "moto Query p50"
    );
    for r in &rows {
        println!(
            "{:>7} | {:>9} | {:>9} | {:>9.1} | {:>5} | {:>13} | {:>15} | {:>14}",
            r.size,
            ms(r.p50),
            ms(r.p90),
            r.store_calls,
            r.edges,
            ms(r.store_p50),
            ms(r.own_p50),
            ms(r.raw_p50)
        );
    }
    let (a, b) = (&rows[0], &rows[1]);
    let ratio = |x: Duration, y: Duration| y.as_secs_f64() / x.as_secs_f64();
    println!(
        "ratio 100k/1k: request p50 {:.2}, moto Query p50 {:.2}, time outside the store p50 {:.2}",
        ratio(a.p50, b.p50),
        ratio(a.raw_p50, b.raw_p50),
        ratio(a.own_p50, b.own_p50)
    );
}

struct Row {
    size: u32,
    p50: Duration,
    p90: Duration,
    store_calls: f64,
    edges: usize,
    store_p50: Duration,
    own_p50: Duration,
    raw_p50: Duration,
}
