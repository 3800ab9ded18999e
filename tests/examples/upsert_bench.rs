//! Benchmark (not a test): bulk upsert throughput on moto, the core store against raw
//! `BatchWriteItem` on the same emulator, with the same booking items:
//!
//! - `raw BatchWriteItem x4`: batches of 25, 4 requests in flight (what the store sends);
//! - `raw BatchWriteItem x1`: the same, one request at a time;
//! - `DynamoStore::batch_put`: the store port's bulk upsert (dedupe, attribute mapping,
//!   retries of unprocessed items);
//! - `Merger::merge`: the merge rule sync and ingestion use: one conditional `PutItem` per
//!   record (never overwrite a newer version), 16 in flight, and the domain events of the
//!   changes published to EventBridge. Not a bulk write; shown for scale.
//!
//! Each variant writes fresh keys (its own hotel), in rounds that alternate the variants; the
//! median round is reported.
//!
//! usage: scripts/with-moto.sh cargo run --release -p pms-tests --example upsert_bench [-- ITEMS]

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use pms_app::records::Mergeable;
use pms_aws::item_attributes;
use pms_domain::domain::{HotelId, Reservation};
use pms_domain::ports::{Item, KeyCondition, Partition, Query};
use pms_tests::TestStack;

const ROUNDS: usize = 3;
const BATCH: usize = 25;

fn booking(n: usize) -> Reservation {
    // Stays ahead of today: the merge does not store stays past their retention.
    let arrival = pms_tests::fixture_day(0).add_days((n % 365) as i64);
    Reservation {
        rate_code: Some("BAR".into()),
        arrival,
        departure: arrival.add_days(2),
        ..pms_tests::bench_booking(n as u32)
    }
}

fn items(hotel: &HotelId, n: usize) -> Vec<Item> {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            booking(i)
                .to_item(hotel, at, vec![])
                .expect("encode booking")
        })
        .collect()
}

/// BatchWriteItem of `items`, `in_flight` requests at a time; returns the requests sent.
async fn raw(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<Item>,
    in_flight: usize,
) -> usize {
    let requests: Vec<WriteRequest> = items
        .iter()
        .map(|i| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item_attributes(i)))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    let chunks: Vec<Vec<WriteRequest>> = requests.chunks(BATCH).map(<[_]>::to_vec).collect();
    let sent: Vec<usize> = futures::stream::iter(chunks.into_iter().map(|chunk| async move {
        let mut pending = chunk;
        let mut calls = 0;
        while !pending.is_empty() {
            calls += 1;
            let out = ddb
                .batch_write_item()
                .request_items(table, std::mem::take(&mut pending))
                .send()
                .await
                .unwrap();
            if let Some(rest) = out.unprocessed_items().and_then(|u| u.get(table)) {
                pending = rest.clone();
            }
        }
        calls
    }))
    .buffer_unordered(in_flight)
    .collect()
    .await;
    sent.iter().sum()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|v| v.parse().expect("ITEMS"))
        .unwrap_or(2_000);
    let stack = TestStack::new().await;
    let services = stack.services();
    let ddb = stack.dynamodb();
    let table = stack.table_name().to_owned();
    let variants = [
        "raw BatchWriteItem x4",
        "raw BatchWriteItem x1",
        "DynamoStore::batch_put",
        "Merger::merge",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let mut requests = vec![0usize; variants.len()];
    for round in 0..ROUNDS {
        for (v, name) in variants.iter().enumerate() {
            let hotel = HotelId::parse(format!("ub-{v}-{round}")).unwrap();
            let t = Instant::now();
            match v {
                0 => requests[v] = raw(&ddb, &table, items(&hotel, n), 4).await,
                1 => requests[v] = raw(&ddb, &table, items(&hotel, n), 1).await,
                2 => {
                    services.store.batch_put(items(&hotel, n)).await.unwrap();
                    requests[v] = n.div_ceil(BATCH);
                }
                _ => {
                    let records: Vec<Reservation> = (0..n).map(booking).collect();
                    let report = services.merger.merge(&hotel, records, None).await.unwrap();
                    assert_eq!(report.created(), n, "{name}");
                    requests[v] = report.writes as usize;
                }
            }
            times[v].push(t.elapsed());
        }
    }
    // Every item arrived: count one hotel of each variant.
    for (v, name) in variants.iter().enumerate() {
        let hotel = HotelId::parse(format!("ub-{v}-0")).unwrap();
        let q = Query::primary(
            Partition::Hotel(hotel),
            KeyCondition::BeginsWith("BOOKING#".into()),
        )
        .limit(1000);
        let stored = services.store.query_all(&q).await.unwrap().len();
        assert_eq!(stored, n, "{name}: {stored} of {n} items stored");
    }
    println!(
        "bulk upsert of {n} booking items (~{} bytes each), median of {ROUNDS} rounds, moto at {}",
        serde_json::to_string(&booking(0)).unwrap().len(),
        stack.endpoint
    );
    println!(
        "{:<24} | {:>9} | {:>11} | {:>9} | {:>12}",
        "variant", "seconds", "items/s", "requests", "vs raw x4"
    );
    let median = |v: &Vec<Duration>| {
        let mut v = v.clone();
        v.sort();
        v[v.len() / 2]
    };
    let base = median(&times[0]).as_secs_f64();
    for (v, name) in variants.iter().enumerate() {
        let s = median(&times[v]).as_secs_f64();
        println!(
            "{:<24} | {:>9.2} | {:>11.0} | {:>9} | {:>11.2}x",
            name,
            s,
            n as f64 / s,
            requests[v],
            s / base
        );
    }
}
