//! Availability from the PMS, end to end on moto and the vendor simulators: the sync's
//! `availability` feed reads Mews (`services/getAvailability/2024-01-22`) and Cloudbeds
//! (`getRatePlans` with `detailedRates`), the merge stores the nights apart from partner
//! pushes, and the GraphQL `availability` query answers them with their `provider` and
//! `source`. OPERA answers `UNSUPPORTED`.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use pms_app::jobs::{Feed, FeedJob};
use pms_app::records::{MergeOutcome, NotApplied, ProvidedAvailability, SyncedAvailability};
use pms_app::registry::Scope;
use pms_app::sync::{FeedOutcome, RunMode, SyncService};
use pms_app::sync_runs::{SyncRun, SyncRunStatus};
use pms_domain::domain::{Availability, BusinessDate, HotelId, PmsAvailability, RoomTypeCode};
use pms_sim::{Provider, SimHotel, SimHousekeeping};
use pms_tests::writes::{SimHotelRef, WritesStack};
use serde_json::{json, Value};

/// The availability query, with `source` when one is given (else the default).
fn availability_query(source: Option<&str>) -> String {
    let source = source.map(|s| format!(", source: {s}")).unwrap_or_default();
    format!(
        "query($h: ID!, $from: Date!, $to: Date!) {{
  availability(hotelId: $h, from: $from, to: $to{source}) {{
    date roomType roomTypeId available total outOfOrder provider source }} }}"
    )
}

/// Runs the hotel's availability feed once, as the sync worker would for a tick `seq` seconds
/// from now (each run needs a tick of its own).
async fn run_feed(w: &WritesStack, hotel: &HotelId, seq: i64) -> SyncRun {
    let job = FeedJob {
        hotel: hotel.clone(),
        feed: Feed::Availability,
        scheduled_at: Utc::now() + Duration::seconds(seq),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        continuation: None,
    };
    match SyncService::new(&w.services)
        .run_job_with(&job, RunMode::Forced)
        .await
        .expect("availability run")
    {
        FeedOutcome::Ran(run) => *run,
        other => panic!("the availability run did not run: {other:?}"),
    }
}

fn sim_data(w: &WritesStack, h: &SimHotelRef) -> SimHotel {
    w.sim
        .context
        .with_hotel(h.vendor, &h.property, |d| d.clone())
        .expect("simulated property")
}

fn today(h: &SimHotelRef) -> BusinessDate {
    h.config.time_zone.business_date(Utc::now())
}

/// What the simulator counts free for every night of `[from, to]` and room type it has.
fn expected(
    data: &SimHotel,
    from: BusinessDate,
    to: BusinessDate,
) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    let mut d = from;
    while d <= to {
        for (room_type, night) in data.night(d.naive()) {
            out.insert((d.to_string(), room_type), u64::from(night.available()));
        }
        d = d.add_days(1);
    }
    out
}

/// The answer's figures by (date, room type).
fn figures(list: &[Value]) -> BTreeMap<(String, String), u64> {
    list.iter()
        .map(|x| {
            (
                (
                    x["date"].as_str().unwrap().to_owned(),
                    x["roomType"].as_str().unwrap().to_owned(),
                ),
                x["available"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn query(
    w: &WritesStack,
    token: &str,
    h: &HotelId,
    from: BusinessDate,
    to: BusinessDate,
    source: Option<&str>,
) -> pms_tests::graphql::Reply {
    w.graphql(
        token,
        &availability_query(source),
        json!({"h": h, "from": from.to_string(), "to": to.to_string()}),
    )
    .await
}

async fn synced_then_queried_answers_the_simulators_numbers(vendor: Provider) {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(vendor).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read]).await;
    let (from, to) = (today(&h), today(&h).add_days(30));

    let run = run_feed(&w, &h.id, 0).await;
    assert_eq!(run.status, SyncRunStatus::Succeeded, "{run:#?}");
    // One request for the month (Mews: and the categories' names once, then cached).
    let most = if vendor == pms_mews::PROVIDER { 2 } else { 1 };
    assert!(
        (1..=most).contains(&run.vendor_calls),
        "{} vendor calls",
        run.vendor_calls
    );

    let r = query(&w, &token, &h.id, from, to, None).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    let list = r.data()["availability"].as_array().unwrap().clone();
    let data = sim_data(&w, &h);
    let want = expected(&data, from, to);
    let got = figures(&list);
    // Every night and room type the simulator has, with its number; a type without rooms is
    // 0, or not listed (Cloudbeds lists the types that have rooms).
    for (k, n) in &want {
        assert_eq!(got.get(k).copied().unwrap_or(0), *n, "{k:?}: {}", r.body);
    }
    for (k, n) in &got {
        assert_eq!(want.get(k).copied().unwrap_or(0), *n, "{k:?}");
    }
    assert_eq!(run.created.count as usize, got.len());
    assert!(want.values().any(|n| *n > 0), "the hotel is not full");
    for x in &list {
        assert_eq!(x["source"], "PMS", "{x}");
        assert!(
            x["provider"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(vendor.as_str()),
            "{x}"
        );
        assert!(
            x["roomTypeId"].as_str().is_some_and(|s| !s.is_empty()),
            "{x}"
        );
    }
    if vendor == pms_mews::PROVIDER {
        // Mews gives the type's rooms and those out of order too.
        assert!(list
            .iter()
            .all(|x| x["total"].is_u64() && x["outOfOrder"].is_u64()));
    }
    println!(
        "{vendor:?}: {} nights x room types from {} vendor call(s)",
        got.len(),
        run.vendor_calls
    );

    // Unchanged at the PMS: a run writes no night.
    let again = run_feed(&w, &h.id, 1).await;
    assert_eq!(
        (again.created.count, again.updated.count),
        (0, 0),
        "{again:#?}"
    );
    assert_eq!(again.unchanged as usize, got.len());

    // A room goes out of order: its type has one room fewer on every night that had one free.
    let room = data
        .rooms
        .iter()
        .find(|r| {
            r.housekeeping != SimHousekeeping::OutOfOrder
                && want.get(&(from.to_string(), r.room_type.clone())) > Some(&0)
        })
        .expect("a sellable room with its type free tonight")
        .clone();
    w.sim
        .context
        .with_hotel(vendor, &h.property, |d| {
            d.rooms
                .iter_mut()
                .find(|r| r.id == room.id)
                .unwrap()
                .housekeeping = SimHousekeeping::OutOfOrder;
        })
        .unwrap();
    let changed = run_feed(&w, &h.id, 2).await;
    let of_type = |free: bool| {
        want.iter()
            .filter(|((_, t), n)| *t == room.room_type && (!free || **n > 0))
            .count()
    };
    // Mews counts the room out of order every night, whatever is free; Cloudbeds says only
    // how many are free.
    let updated = if vendor == pms_mews::PROVIDER {
        of_type(false)
    } else {
        of_type(true)
    };
    assert_eq!(changed.updated.count as usize, updated, "{changed:#?}");
    let r = query(&w, &token, &h.id, from, from, None).await;
    let tonight = figures(r.data()["availability"].as_array().unwrap());
    let key = (from.to_string(), room.room_type.clone());
    assert_eq!(tonight[&key], want[&key] - 1, "{}", r.body);

    // A read that began before the last run and differs is never written over it.
    let stale = SyncedAvailability::new(
        PmsAvailability {
            date: from,
            room_type: RoomTypeCode::parse(room.room_type.as_str()).unwrap(),
            room_type_id: list
                .iter()
                .find(|x| x["roomType"] == room.room_type.as_str())
                .and_then(|x| x["roomTypeId"].as_str())
                .unwrap()
                .to_owned(),
            available: 77,
            total: None,
            out_of_order: None,
            provider: vendor,
        },
        changed.started_at - Duration::minutes(10),
        h.config.time_zone,
    );
    let report = w
        .services
        .merger
        .merge(&h.id, vec![stale], None)
        .await
        .unwrap();
    assert!(
        matches!(
            report.outcomes[0].1,
            MergeOutcome::NotApplied {
                reason: NotApplied::OlderVersion,
                ..
            }
        ),
        "{report:?}"
    );
    let r = query(&w, &token, &h.id, from, from, None).await;
    assert_eq!(
        figures(r.data()["availability"].as_array().unwrap())[&key],
        want[&key] - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_availability_is_synced_and_read_with_its_provider() {
    synced_then_queried_answers_the_simulators_numbers(pms_mews::PROVIDER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudbeds_availability_is_synced_and_read_with_its_provider() {
    synced_then_queried_answers_the_simulators_numbers(pms_cloudbeds::PROVIDER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_push_and_the_pms_figure_of_the_same_night_are_both_kept() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_cloudbeds::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read]).await;
    let night = today(&h).add_days(2);
    run_feed(&w, &h.id, 0).await;
    let pms = query(&w, &token, &h.id, night, night, Some("PMS")).await;
    let pms = pms.data()["availability"].as_array().unwrap().clone();
    let room_type = pms[0]["roomType"].as_str().unwrap().to_owned();

    // A partner pushes the same night and type, at a version far newer than the sync's.
    let push = ProvidedAvailability {
        provider: Provider::PARTNER,
        availability: Availability {
            date: night,
            room_type: RoomTypeCode::parse(room_type.as_str()).unwrap(),
            available: 99,
            total: Some(120),
            rate: None,
            source_updated_at: None,
            version: (Utc::now() + Duration::hours(1)).timestamp_millis() as u64,
        },
    };
    let merged = w
        .services
        .merger
        .merge(&h.id, vec![push], None)
        .await
        .unwrap();
    assert_eq!(merged.created(), 1);
    // And the PMS is read again: neither overwrites the other.
    let rerun = run_feed(&w, &h.id, 1).await;
    assert_eq!(
        (rerun.created.count, rerun.updated.count),
        (0, 0),
        "{rerun:#?}"
    );

    let r = query(&w, &token, &h.id, night, night, Some("PMS")).await;
    assert_eq!(
        r.data()["availability"],
        Value::Array(pms.clone()),
        "{}",
        r.body
    );
    assert!(pms.iter().all(|x| x["available"] != 99));
    let r = query(&w, &token, &h.id, night, night, Some("PARTNER")).await;
    let partner = r.data()["availability"].as_array().unwrap();
    assert_eq!(partner.len(), 1, "{}", r.body);
    assert_eq!(partner[0]["available"], 99);
    assert_eq!(partner[0]["roomType"], room_type.as_str());
    assert_eq!(partner[0]["source"], "PARTNER");
    assert_eq!(partner[0]["provider"], "PARTNER");
    assert_eq!(partner[0]["roomTypeId"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opera_hotel_answers_unsupported_and_its_feed_asks_the_pms_nothing() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read]).await;
    let (from, to) = (today(&h), today(&h).add_days(7));

    let r = query(&w, &token, &h.id, from, to, None).await;
    assert_eq!(r.codes(), ["UNSUPPORTED"], "{}", r.body);
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("availability"), "{message}");
    let r = query(&w, &token, &h.id, from, to, Some("PMS")).await;
    assert_eq!(r.codes(), ["UNSUPPORTED"], "{}", r.body);

    let run = run_feed(&w, &h.id, 0).await;
    assert_eq!(run.status, SyncRunStatus::Succeeded, "{run:#?}");
    assert_eq!((run.vendor_calls, run.created.count), (0, 0), "{run:#?}");

    // What partners push is still served.
    let r = query(&w, &token, &h.id, from, to, Some("PARTNER")).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    assert_eq!(r.data()["availability"], json!([]));
}
