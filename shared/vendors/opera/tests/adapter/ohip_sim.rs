//! The OHIP adapter against the OHIP simulator over HTTP: reads, writes, paging past OHIP's
//! offset cap, tokens, faults, request ids, the business event delta and time zones.

use crate::ohip_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, NaiveDate, NaiveTime, Utc};
use ohip_support::*;
use pms_domain::domain::{
    BusinessDate, Charge, CheckoutChange, ConfirmationNumber, DeltaSupport, ExternalId, GuestQuery,
    Housekeeping, Money, Note, Occupancy, Preference, PreferenceSource, ReservationStatus,
    RoomNumber,
};
use pms_domain::pms::{ChangeWindow, ListRead, PageCursor, PmsAdapter, PmsError, UnavailableCause};
use pms_sim::data::{SimReservation, SimStatus};
use pms_sim::{FaultConfig, PropertySetup, ReservationPatch, SimConfig};
use secrecy::SecretString;

fn conf(s: &str) -> ConfirmationNumber {
    ConfirmationNumber::parse(s).unwrap()
}

fn reservation_where(
    sim: &pms_sim::Simulator,
    pred: impl Fn(&SimReservation) -> bool,
) -> SimReservation {
    sim.context
        .with_hotel(pms_opera::PROVIDER, HOTEL, |h| {
            h.reservations.iter().find(|r| pred(r)).cloned()
        })
        .flatten()
        .expect("a matching simulated reservation")
}

#[tokio::test]
async fn reads_match_the_simulated_hotel() {
    let (sim, config, adapter) = setup(roomy()).await;
    let hotel = sim.admin().hotel(pms_opera::PROVIDER, HOTEL).await.unwrap();
    let today = config.time_zone.business_date(Utc::now()).naive();

    // By confirmation number and by id, with notes only the full read carries.
    let r = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let got = adapter
        .get_reservation(&conf(&r.confirmation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id.external().as_str(), r.id);
    assert_eq!(got.arrival.naive(), r.arrival);
    assert_eq!(got.departure.naive(), r.departure);
    assert_eq!(got.status, ReservationStatus::CheckedIn);
    assert!(got.raw_status == "InHouse");
    assert_eq!(got.adults, r.adults);
    assert_eq!(got.expected_departure_time, Some(r.departure_time));
    let total = got.total.unwrap();
    assert_eq!(total.amount_minor, r.total_minor());
    assert_eq!(total.currency.code(), "GBP");
    let g = hotel.guest(&r.guest_id).unwrap();
    assert_eq!(
        got.guest.as_ref().unwrap().last_name.as_deref(),
        Some(g.last_name.as_str())
    );
    let by_id = adapter
        .get_reservation_by_id(&ExternalId::parse(&r.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id, got);
    // Not found is 204, which is None.
    assert!(adapter
        .get_reservation(&conf("0000000"))
        .await
        .unwrap()
        .is_none());
    assert!(adapter
        .get_reservation_by_id(&ExternalId::parse("999999999").unwrap())
        .await
        .unwrap()
        .is_none());

    // Lists by business date.
    let arrivals = adapter.arrivals(BusinessDate::new(today)).await.unwrap();
    let want: BTreeSet<&str> = hotel
        .reservations
        .iter()
        .filter(|r| {
            r.arrival == today
                && matches!(
                    r.status,
                    SimStatus::Confirmed | SimStatus::InHouse | SimStatus::CheckedOut
                )
        })
        .map(|r| r.id.as_str())
        .collect();
    let got: BTreeSet<&str> = arrivals
        .items
        .iter()
        .map(|r| r.id.external().as_str())
        .collect();
    assert_eq!(got, want);
    assert!(arrivals.failures.is_empty());
    let departures = adapter.departures(BusinessDate::new(today)).await.unwrap();
    let want: BTreeSet<&str> = hotel
        .reservations
        .iter()
        .filter(|r| {
            r.departure == today && matches!(r.status, SimStatus::InHouse | SimStatus::CheckedOut)
        })
        .map(|r| r.id.as_str())
        .collect();
    let got: BTreeSet<&str> = departures
        .items
        .iter()
        .map(|r| r.id.external().as_str())
        .collect();
    assert_eq!(got, want);
    let in_house = adapter.in_house().await.unwrap();
    let want: BTreeSet<&str> = hotel
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::InHouse)
        .map(|r| r.id.as_str())
        .collect();
    let got: BTreeSet<&str> = in_house
        .items
        .iter()
        .map(|r| r.id.external().as_str())
        .collect();
    assert_eq!(got, want);
    assert!(in_house
        .items
        .iter()
        .all(|r| r.status == ReservationStatus::CheckedIn));

    // Guests.
    let guest = adapter
        .get_guest(&ExternalId::parse(&g.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(guest.email.as_deref(), Some(g.email.as_str()));
    assert_eq!(guest.phone.as_deref(), Some(g.phone.as_str()));
    assert_eq!(guest.loyalty_tier, g.loyalty_tier);
    assert!(adapter
        .get_guest(&ExternalId::parse("424242").unwrap())
        .await
        .unwrap()
        .is_none());
    let found = adapter
        .search_guests(&GuestQuery {
            email: Some(g.email.to_uppercase()),
            ..GuestQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, guest.id);
    let by_name = adapter
        .search_guests(&GuestQuery {
            name: Some(g.last_name.clone()),
            ..GuestQuery::default()
        })
        .await
        .unwrap();
    let expected = hotel
        .guests
        .iter()
        .filter(|x| x.last_name == g.last_name)
        .count();
    assert_eq!(by_name.len(), expected);
    assert!(by_name.iter().any(|x| x.id == guest.id));

    // Rooms: cleaning and occupancy are separate.
    let rooms = adapter.room_statuses().await.unwrap();
    assert_eq!(rooms.len(), hotel.rooms.len());
    let sim_room = &hotel.rooms[3];
    let room = adapter
        .room_status(&RoomNumber::parse(&sim_room.number).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        room.occupancy,
        if sim_room.occupied {
            Occupancy::Occupied
        } else {
            Occupancy::Vacant
        }
    );
    assert_ne!(room.housekeeping, Housekeeping::Unknown);
    assert_eq!(
        adapter
            .room_status_by_id(&ExternalId::parse(&sim_room.number).unwrap())
            .await
            .unwrap(),
        Some(room)
    );
    assert!(adapter
        .room_status(&RoomNumber::parse("9999").unwrap())
        .await
        .unwrap()
        .is_none());
    sim.stop().await;
}

fn bulk_arrivals(sim: &pms_sim::Simulator, day: NaiveDate, n: usize) {
    sim.context.with_hotel(pms_opera::PROVIDER, HOTEL, |h| {
        let template = h.reservations[0].clone();
        let guests: Vec<String> = h.guests.iter().map(|g| g.id.clone()).collect();
        for i in 0..n {
            h.reservations.push(SimReservation {
                id: format!("{}", 7_000_000 + i),
                confirmation: format!("{}", 90_000_000 + i),
                guest_id: guests[i % guests.len()].clone(),
                room_id: None,
                arrival: day,
                departure: day + ChronoDuration::days(2),
                status: SimStatus::Confirmed,
                raw_status: None,
                notes: vec![],
                ..template.clone()
            });
        }
    });
}

#[tokio::test]
async fn a_3000_arrival_day_is_read_whole_within_ohip_paging_limits() {
    let (sim, _config, adapter) = setup(roomy()).await;
    let day = (Utc::now() + ChronoDuration::days(40)).date_naive();
    bulk_arrivals(&sim, day, 3000);
    sim.context
        .state::<pms_opera::sim::State>()
        .clear_requests();
    let arrivals = adapter.arrivals(BusinessDate::new(day)).await.unwrap();
    let ids: BTreeSet<String> = arrivals
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert_eq!(ids.len(), 3000, "every arrival of the day");
    assert_eq!(arrivals.items.len(), 3000, "no duplicates");
    assert!(arrivals.failures.is_empty());
    let requests = sim.context.state::<pms_opera::sim::State>().requests();
    let searches: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/reservations") && r.method == "GET")
        .collect();
    assert!(searches.len() > 15, "paged: {} requests", searches.len());
    for r in &searches {
        let get = |k: &str| {
            r.query
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.parse::<usize>().unwrap())
        };
        assert!(get("limit").unwrap() <= 200, "{:?}", r.query);
        assert!(get("offset").unwrap_or(0) <= 1000, "{:?}", r.query);
        assert_ne!(r.status, 400, "the simulator refused {:?}", r.query);
    }
    sim.stop().await;
}

/// A range past the offset cap spread over days is read in arrival-date order: the first
/// 1000, then on from the last date reached, with no probe and no split, so the requests are
/// one per page of 200 plus one per restart (the last date's records read again).
#[tokio::test]
async fn a_range_past_the_cap_is_read_on_by_date_without_probes() {
    let (sim, config, _) = setup(roomy()).await;
    let first = (Utc::now() + ChronoDuration::days(40)).date_naive();
    sim.context.with_hotel(pms_opera::PROVIDER, HOTEL, |h| {
        let template = h.reservations[0].clone();
        let guests: Vec<String> = h.guests.iter().map(|g| g.id.clone()).collect();
        for i in 0..2400usize {
            let day = first + ChronoDuration::days((i % 8) as i64);
            h.reservations.push(SimReservation {
                id: format!("{}", 7_100_000 + i),
                confirmation: format!("{}", 91_000_000 + i),
                guest_id: guests[i % guests.len()].clone(),
                room_id: None,
                arrival: day,
                departure: day + ChronoDuration::days(2),
                status: SimStatus::Confirmed,
                raw_status: None,
                notes: vec![],
                ..template.clone()
            });
        }
    });
    let read = ListRead::ArrivalsBetween {
        from: BusinessDate::new(first),
        to: BusinessDate::new(first + ChronoDuration::days(7)),
    };
    let state = sim.context.state::<pms_opera::sim::State>();
    state.clear_requests();
    let p = property(&sim, HOTEL);
    let (mut got, mut stored, mut pages) = (BTreeSet::new(), None::<String>, 0);
    loop {
        let adapter = adapter(&config, client_credentials(&p));
        let cursor: Option<PageCursor> =
            stored.as_deref().map(|s| serde_json::from_str(s).unwrap());
        let page = adapter
            .reservations_page(&read, cursor.as_ref())
            .await
            .unwrap();
        got.extend(
            page.fetched
                .items
                .iter()
                .map(|r| r.id.external().to_string()),
        );
        pages += 1;
        match page.next {
            Some(next) => stored = Some(serde_json::to_string(&next).unwrap()),
            None => break,
        }
        assert!(pages < 100, "the cursor does not end");
    }
    let bulk = got.iter().filter(|id| id.starts_with("71")).count();
    assert_eq!(bulk, 2400, "every arrival of the range");
    let searches: Vec<_> = state
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/reservations") && r.method == "GET")
        .collect();
    for r in &searches {
        let get = |k: &str| r.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("orderBy").as_deref(),
            Some("ArrivalDate"),
            "{:?}",
            r.query
        );
        assert_ne!(r.status, 400, "the simulator refused {:?}", r.query);
    }
    // 2400 and the few the hotel had: 12 to 13 pages, two restarts re-reading a day each.
    let minimum = got.len().div_ceil(200);
    assert!(
        searches.len() <= minimum + 4,
        "{} requests for {} records",
        searches.len(),
        got.len()
    );
    sim.stop().await;
}

/// A sync that stops between pages stores the cursor as JSON and a new adapter (a later
/// invocation) resumes from it: a range of 3000 arrivals (past the offset cap: split by date,
/// then by surname) read one request at a time gives what the whole read gives, each request
/// within OHIP's limit and offset caps.
#[tokio::test]
async fn an_arrivals_range_read_page_by_page_through_stored_cursors_equals_the_whole_read() {
    let (sim, config, whole) = setup(roomy()).await;
    let day = (Utc::now() + ChronoDuration::days(40)).date_naive();
    bulk_arrivals(&sim, day, 3000);
    let read = ListRead::ArrivalsBetween {
        from: BusinessDate::new(day - ChronoDuration::days(2)),
        to: BusinessDate::new(day + ChronoDuration::days(1)),
    };
    let ListRead::ArrivalsBetween { from, to } = read else {
        unreachable!()
    };
    let want: BTreeSet<String> = whole
        .arrivals_between(from, to)
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert!(want.len() >= 3000);
    let state = sim.context.state::<pms_opera::sim::State>();
    state.clear_requests();
    let p = property(&sim, HOTEL);
    let (mut got, mut stored, mut pages) = (BTreeSet::new(), None::<String>, 0);
    loop {
        let adapter = adapter(&config, client_credentials(&p));
        let cursor: Option<PageCursor> =
            stored.as_deref().map(|s| serde_json::from_str(s).unwrap());
        let page = adapter
            .reservations_page(&read, cursor.as_ref())
            .await
            .unwrap();
        assert!(page.fetched.failures.is_empty());
        got.extend(
            page.fetched
                .items
                .iter()
                .map(|r| r.id.external().to_string()),
        );
        pages += 1;
        match page.next {
            Some(next) => stored = Some(serde_json::to_string(&next).unwrap()),
            None => break,
        }
        assert!(pages < 200, "the cursor does not end");
    }
    assert_eq!(got, want);
    let searches: Vec<_> = state
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/reservations") && r.method == "GET")
        .collect();
    assert_eq!(searches.len(), pages, "one search request per page");
    for r in &searches {
        let get = |k: &str| {
            r.query
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.parse::<usize>().unwrap())
        };
        assert!(get("limit").unwrap() <= 200, "{:?}", r.query);
        assert!(get("offset").unwrap_or(0) < 1000, "{:?}", r.query);
        assert_ne!(r.status, 400, "the simulator refused {:?}", r.query);
    }
    // Another vendor's cursor is refused.
    let foreign = PageCursor(serde_json::json!({"page": 2}));
    let err = whole
        .reservations_page(&read, Some(&foreign))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PMS_REJECTED", "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn one_token_serves_100_concurrent_calls() {
    let (sim, _config, adapter) = setup(roomy()).await;
    let adapter = Arc::new(adapter);
    let r = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let calls = (0..100).map(|_| {
        let a = adapter.clone();
        let id = ExternalId::parse(&r.id).unwrap();
        async move { a.get_reservation_by_id(&id).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))));
    let c = counters(&sim);
    assert_eq!(c.tokens_issued, 1, "one token fetch shared by 100 callers");
    assert_eq!(adapter.tokens_fetched(), 1);
    assert_eq!(c.unauthorized, 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_replays_the_call() {
    let (sim, _config, adapter) = setup(roomy()).await;
    let adapter = Arc::new(adapter);
    adapter.in_house().await.unwrap();
    assert_eq!(counters(&sim).tokens_issued, 1);
    // The gateway forgets every token: the next calls get 401.
    sim.admin()
        .vendor_action(pms_opera::PROVIDER, "expire-tokens")
        .await
        .unwrap();
    let r = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let calls = (0..20).map(|_| {
        let a = adapter.clone();
        let id = ExternalId::parse(&r.id).unwrap();
        async move { a.get_reservation_by_id(&id).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Some(_)))),
        "replayed after the refresh"
    );
    let c = counters(&sim);
    assert_eq!(
        c.tokens_issued, 2,
        "one refresh for all the refused callers"
    );
    assert!(c.unauthorized >= 1);
    sim.stop().await;
}

#[tokio::test]
async fn a_token_refused_again_after_the_refresh_is_unauthorized() {
    // Tokens that are dead on arrival: the refresh cannot help, and the call is not retried
    // forever.
    let mut cfg = roomy();
    cfg.token_ttl_secs = 0;
    let (sim, _config, adapter) = setup(cfg).await;
    let err = adapter.in_house().await.unwrap_err();
    assert!(matches!(err, PmsError::Unauthorized { .. }), "{err}");
    assert!(err.request_id().is_some());
    let c = counters(&sim);
    assert_eq!(c.tokens_issued, 2, "the first token and one refresh");
    assert_eq!(c.unauthorized, 2, "the call and its one replay");
    sim.stop().await;
}

#[tokio::test]
async fn a_token_is_replaced_before_it_expires() {
    let mut cfg = roomy();
    cfg.token_ttl_secs = 3;
    let (sim, _config, adapter) = setup(cfg).await;
    adapter.in_house().await.unwrap();
    adapter.in_house().await.unwrap();
    assert_eq!(counters(&sim).tokens_issued, 1, "reused while valid");
    // Replaced a tenth of its life early (2.7 s), before the gateway expires it (3 s).
    tokio::time::sleep(Duration::from_millis(2900)).await;
    adapter.in_house().await.unwrap();
    let c = counters(&sim);
    assert_eq!(c.tokens_issued, 2, "renewed at expiry");
    assert_eq!(
        c.unauthorized, 0,
        "renewed before the gateway had to refuse it"
    );
    sim.stop().await;
}

#[tokio::test]
async fn refused_credentials_fail_without_leaking_them() {
    let (sim, config, _) = setup(roomy()).await;
    let p = property(&sim, HOTEL);
    let mut creds = client_credentials(&p);
    creds.client_secret = SecretString::from("wrong-secret-7731".to_owned());
    let adapter = adapter(&config, creds);
    let err = adapter.connect().await.unwrap_err();
    assert!(matches!(err, PmsError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("wrong-secret-7731"));
    assert!(!format!("{err:?}").contains("wrong-secret-7731"));
    // A failed fetch is not retried by everyone queued behind it.
    let issued_before = counters(&sim).total_calls;
    let adapter = Arc::new(adapter);
    let all = futures::future::join_all((0..10).map(|_| {
        let a = adapter.clone();
        async move { a.in_house().await }
    }))
    .await;
    assert!(all
        .iter()
        .all(|r| matches!(r, Err(PmsError::Unauthorized { .. }))));
    assert!(counters(&sim).total_calls - issued_before < 10);
    sim.stop().await;
}

#[tokio::test]
async fn a_5xx_is_retried_and_then_succeeds() {
    let (sim, mut config, _) = setup(roomy()).await;
    config.retry.initial_delay = 400;
    let adapter = Arc::new(ohip_support::adapter(
        &config,
        client_credentials(&property(&sim, HOTEL)),
    ));
    adapter.connect().await.unwrap();
    let admin = sim.admin();
    admin
        .set_faults(
            pms_opera::PROVIDER,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(503),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let a = adapter.clone();
    let call = tokio::spawn(async move { a.in_house().await });
    // Once the first attempt failed, the PMS recovers before the retry.
    for _ in 0..200 {
        if counters(&sim).injected_errors >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    admin.clear_faults().await.unwrap();
    let result = call.await.unwrap();
    assert!(result.is_ok(), "{:?}", result.err());
    assert_eq!(counters(&sim).injected_errors, 1);
    sim.stop().await;
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let (sim, _config, adapter) = setup(roomy()).await;
    adapter.connect().await.unwrap();
    sim.admin().storm(pms_opera::PROVIDER, 1, 1).await.unwrap();
    let started = std::time::Instant::now();
    let result = adapter.in_house().await;
    assert!(result.is_ok(), "{:?}", result.err());
    assert!(counters(&sim).storm_rejections >= 1);
    // The retry policy's own delay is 20 ms; a one-second wait is the Retry-After.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    sim.stop().await;
}

#[tokio::test]
async fn failures_after_the_retry_budget_carry_the_gateways_request_id() {
    let (sim, _config, adapter) = setup(roomy()).await;
    adapter.connect().await.unwrap();
    sim.context
        .state::<pms_opera::sim::State>()
        .clear_requests();
    sim.admin()
        .set_faults(
            pms_opera::PROVIDER,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(502),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let err = adapter.in_house().await.unwrap_err();
    assert!(
        matches!(
            err,
            PmsError::Unavailable {
                cause: UnavailableCause::Http(502),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(counters(&sim).injected_errors, 3, "three attempts");
    let last = sim
        .context
        .state::<pms_opera::sim::State>()
        .requests()
        .pop()
        .unwrap();
    assert_eq!(err.request_id(), Some(last.response_request_id.as_str()));
    assert!(last.response_request_id.starts_with("sim-"));
    sim.stop().await;
}

#[tokio::test]
async fn a_4xx_fails_at_once_with_the_vendors_message() {
    let (sim, _config, adapter) = setup(roomy()).await;
    let closed = reservation_where(&sim, |r| r.status == SimStatus::CheckedOut);
    sim.context
        .state::<pms_opera::sim::State>()
        .clear_requests();
    let err = adapter
        .post_charge(
            &conf(&closed.confirmation),
            &Charge {
                amount: Money::new(500, pms_domain::domain::Currency::parse("GBP").unwrap()),
                description: "Late bar tab".into(),
                revenue_center: Some("2000".into()),
                reference: "op-closed-1".into(),
            },
        )
        .await
        .unwrap_err();
    match &err {
        PmsError::InvalidRequest {
            message, status, ..
        } => {
            assert_eq!(*status, Some(400));
            assert!(message.contains("postings are not allowed"), "{message}");
            assert!(message.contains("OPERA-BAD_REQUEST"), "{message}");
        }
        other => panic!("{other}"),
    }
    let charges: Vec<_> = sim
        .context
        .state::<pms_opera::sim::State>()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/charges"))
        .collect();
    assert_eq!(charges.len(), 1, "not retried");
    assert_eq!(
        err.request_id(),
        Some(charges[0].response_request_id.as_str())
    );
    assert_eq!(counters(&sim).charges_posted, 0);
    sim.stop().await;
}

#[tokio::test]
async fn errors_without_a_gateway_request_id_carry_ours() {
    // A stand-in gateway that answers tokens, then 400 without any request id header.
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/oauth/v1/tokens",
            post(|| async {
                axum::Json(serde_json::json!({"access_token": "t", "expires_in": 3600}))
            }),
        )
        .route(
            "/rsv/v1/hotels/{hotel}/reservations",
            get(|| async {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(
                        serde_json::json!({"title": "Bad Request", "detail": "no such search"}),
                    ),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sim = start(pms_sim::default_config()).await;
    let p = property(&sim, HOTEL);
    let mut config = hotel_config(&sim, &p);
    config.vendor.base_url = Some(url::Url::parse(&format!("http://{addr}")).unwrap());
    let adapter = ohip_support::adapter(&config, client_credentials(&p));
    let err = adapter.in_house().await.unwrap_err();
    assert!(err.to_string().contains("no such search"), "{err}");
    let id = err.request_id().expect("our x-request-id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    sim.stop().await;
}

#[tokio::test]
async fn writes_change_the_simulated_hotel() {
    let (sim, config, adapter) = setup(roomy()).await;
    let r = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let c = conf(&r.confirmation);

    // A note appears on the reservation.
    adapter
        .add_reservation_note(
            &c,
            &Note {
                text: "Guest allergic to feathers".into(),
                title: None,
                internal: true,
            },
        )
        .await
        .unwrap();
    let after = reservation_where(&sim, |x| x.id == r.id);
    assert_eq!(
        after.notes.last().map(String::as_str),
        Some("Guest allergic to feathers")
    );
    let read = adapter.get_reservation(&c).await.unwrap().unwrap();
    assert!(read.notes.iter().any(|n| n == "Guest allergic to feathers"));

    // A charge changes the balance, is counted, and can be found by our reference.
    let before = adapter.get_balance(&c).await.unwrap();
    let receipt = adapter
        .post_charge(
            &c,
            &Charge {
                amount: Money::new(1999, config.currency),
                description: "Room service".into(),
                revenue_center: None,
                reference: "op-7f3a".into(),
            },
        )
        .await
        .unwrap();
    // The posting's transaction number, from the answer's body (its Location names only the
    // charges collection).
    let posted_no = sim
        .context
        .with_hotel(pms_opera::PROVIDER, HOTEL, |h| h.charges[0].id.clone())
        .unwrap();
    assert_eq!(receipt.vendor_id.as_deref(), Some(posted_no.as_str()));
    assert_eq!(receipt.reference, "op-7f3a");
    assert!(receipt.request_id.is_some());
    let after = adapter.get_balance(&c).await.unwrap();
    assert_eq!(after.amount_minor - before.amount_minor, 1999);
    assert_eq!(after.currency, config.currency);
    assert_eq!(counters(&sim).charges_posted, 1);
    let found = adapter.find_charge(&c, "op-7f3a").await.unwrap().unwrap();
    assert_eq!(found.vendor_id, receipt.vendor_id);
    assert!(adapter.find_charge(&c, "op-other").await.unwrap().is_none());
    let posted = sim
        .context
        .with_hotel(pms_opera::PROVIDER, HOTEL, |h| h.charges.clone())
        .unwrap();
    assert_eq!(posted[0].reference.as_deref(), Some("op-7f3a"));
    assert_eq!(posted[0].revenue_center.as_deref(), Some("5016"));

    // A checkout change moves the departure and sets the time.
    let new_departure = r.departure + ChronoDuration::days(1);
    adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: BusinessDate::new(new_departure),
                time: Some(NaiveTime::from_hms_opt(13, 30, 0).unwrap()),
            },
        )
        .await
        .unwrap();
    let moved = reservation_where(&sim, |x| x.id == r.id);
    assert_eq!(moved.departure, new_departure);
    assert_eq!(
        moved.departure_time,
        NaiveTime::from_hms_opt(13, 30, 0).unwrap()
    );
    let read = adapter.get_reservation(&c).await.unwrap().unwrap();
    assert_eq!(read.departure.naive(), new_departure);
    assert_eq!(
        read.expected_departure_time,
        NaiveTime::from_hms_opt(13, 30, 0)
    );
    let err = adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: BusinessDate::new(r.arrival),
                time: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::InvalidRequest { .. }));

    // Preferences land on the profile.
    let guest = ExternalId::parse(&r.guest_id).unwrap();
    adapter
        .update_guest_preferences(
            &guest,
            &[Preference {
                category: "ROOM FEATURES".into(),
                key: "QUIET".into(),
                value: "Away from the lift".into(),
                source: PreferenceSource::Guest,
            }],
        )
        .await
        .unwrap();
    let g = adapter.get_guest(&guest).await.unwrap().unwrap();
    assert!(g.preferences.iter().any(|p| p.category == "ROOM FEATURES"
        && p.key == "QUIET"
        && p.value == "Away from the lift"));

    // Writes on what does not exist are NotFound.
    let err = adapter
        .add_reservation_note(
            &conf("123"),
            &Note {
                text: "x".into(),
                title: None,
                internal: false,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::NotFound { .. }), "{err}");
    let err = adapter
        .update_guest_preferences(
            &ExternalId::parse("404404").unwrap(),
            &[Preference {
                category: "ROOM".into(),
                key: "K".into(),
                value: "v".into(),
                source: PreferenceSource::Guest,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::NotFound { .. }), "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn the_delta_follows_business_events_and_reports_what_it_cannot_read() {
    let (sim, _config, adapter) = setup(roomy()).await;
    assert_eq!(adapter.capabilities().delta, DeltaSupport::EventFeed);
    let window = || ChangeWindow {
        from: Utc::now() - ChronoDuration::hours(1),
        to: Utc::now(),
    };
    // Nothing happened yet.
    let empty = adapter.reservations_changed(window()).await.unwrap();
    assert!(empty.items.is_empty() && empty.failures.is_empty());

    let a = reservation_where(&sim, |r| r.status == SimStatus::Confirmed);
    let b = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let admin = sim.admin();
    admin
        .patch_reservation(
            pms_opera::PROVIDER,
            HOTEL,
            &a.id,
            &ReservationPatch {
                status: Some(SimStatus::Cancelled),
                ..ReservationPatch::default()
            },
        )
        .await
        .unwrap();
    admin
        .patch_reservation(
            pms_opera::PROVIDER,
            HOTEL,
            &b.id,
            &ReservationPatch {
                rate_code: Some("CORP".into()),
                ..ReservationPatch::default()
            },
        )
        .await
        .unwrap();
    // 30 more changes: more than one page of 20 events.
    let others: Vec<String> = sim
        .context
        .with_hotel(pms_opera::PROVIDER, HOTEL, |h| {
            h.reservations
                .iter()
                .filter(|r| r.id != a.id && r.id != b.id)
                .skip(40)
                .take(30)
                .map(|r| r.id.clone())
                .collect()
        })
        .unwrap();
    for id in &others {
        admin
            .patch_reservation(
                pms_opera::PROVIDER,
                HOTEL,
                id,
                &ReservationPatch {
                    special_requests: Some(vec!["Crib".into()]),
                    ..ReservationPatch::default()
                },
            )
            .await
            .unwrap();
    }
    // One of them cannot be read right now.
    let broken = others[3].clone();
    admin
        .set_faults(
            pms_opera::PROVIDER,
            &FaultConfig {
                failing_entities: vec![broken.clone()],
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let changed = adapter.reservations_changed(window()).await.unwrap();
    let ids: BTreeSet<String> = changed
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert!(ids.contains(&a.id) && ids.contains(&b.id));
    assert_eq!(ids.len() + changed.failures.len(), 32);
    let cancelled = changed
        .items
        .iter()
        .find(|r| r.id.external().as_str() == a.id)
        .unwrap();
    assert_eq!(cancelled.status, ReservationStatus::Cancelled);
    // The consumed event of the unreadable reservation is reported, not dropped.
    assert_eq!(changed.failures.len(), 1);
    assert_eq!(changed.failures[0].id, broken);
    assert_eq!(
        sim.context
            .state::<pms_opera::sim::State>()
            .queued_events(HOTEL),
        0,
        "the queue was read to its end"
    );
    // Dequeued events are gone: the next read is empty.
    admin.clear_faults().await.unwrap();
    let again = adapter.reservations_changed(window()).await.unwrap();
    assert!(again.items.is_empty() && again.failures.is_empty());
    // API writes are events too.
    adapter
        .add_reservation_note(
            &conf(&b.confirmation),
            &Note {
                text: "VIP".into(),
                title: None,
                internal: false,
            },
        )
        .await
        .unwrap();
    let changed = adapter.reservations_changed(window()).await.unwrap();
    assert_eq!(changed.items.len(), 1);
    // Read as the feeds read reservations (a reservationIdList search, which carries no
    // comments: notes are read live, by getReservation).
    assert_eq!(changed.items[0].id.external().as_str(), b.id);
    let live = adapter
        .get_reservation(&conf(&b.confirmation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.notes.last().map(String::as_str), Some("VIP"));
    sim.stop().await;
}

#[tokio::test]
async fn without_business_events_the_delta_rereads_around_today() {
    let (sim, mut config, _) = setup(roomy()).await;
    config.vendor.external_system_code = None;
    let adapter = ohip_support::adapter(&config, client_credentials(&property(&sim, HOTEL)));
    assert_eq!(adapter.capabilities().delta, DeltaSupport::Reread);
    let r = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let from = Utc::now();
    sim.admin()
        .patch_reservation(
            pms_opera::PROVIDER,
            HOTEL,
            &r.id,
            &ReservationPatch {
                rate_code: Some("AAA".into()),
                ..ReservationPatch::default()
            },
        )
        .await
        .unwrap();
    let changed = adapter
        .reservations_changed(ChangeWindow {
            from,
            to: Utc::now() + ChronoDuration::seconds(1),
        })
        .await
        .unwrap();
    let ids: Vec<&str> = changed
        .items
        .iter()
        .map(|x| x.id.external().as_str())
        .collect();
    assert_eq!(ids, [r.id.as_str()], "only what changed in the window");
    assert!(!sim
        .context
        .state::<pms_opera::sim::State>()
        .requests()
        .iter()
        .any(|q| q.path.ends_with("/businessEvents")));
    sim.stop().await;
}

fn zoned(name: &str, tz: chrono_tz::Tz) -> SimConfig {
    let mut cfg = roomy();
    let props = cfg.properties.get_mut(&pms_opera::PROVIDER).unwrap();
    let base = props[0].clone();
    props.push(PropertySetup {
        property_id: name.into(),
        time_zone: tz,
        currency: "USD".into(),
        currency_exponent: 2,
        credentials: base.credentials.clone(),
    });
    // One client per property in the simulator: the default one steps aside.
    props.remove(0);
    cfg
}

#[tokio::test]
async fn hotel_local_times_and_dates_across_zones() {
    for (name, tz) in [
        ("SIMHNL", chrono_tz::Pacific::Honolulu),
        ("SIMAKL", chrono_tz::Pacific::Auckland),
    ] {
        let sim = start(zoned(name, tz)).await;
        let p = property(&sim, name);
        let config = hotel_config(&sim, &p);
        let adapter = ohip_support::adapter(&config, client_credentials(&p));
        let today_local = Utc::now().with_timezone(&tz).date_naive();
        // Arrivals are the hotel's local date, whatever the UTC date is.
        let want: BTreeSet<String> = sim
            .context
            .with_hotel(pms_opera::PROVIDER, name, |h| {
                h.reservations
                    .iter()
                    .filter(|r| {
                        r.arrival == today_local
                            && r.status != SimStatus::Cancelled
                            && r.status != SimStatus::NoShow
                    })
                    .map(|r| r.id.clone())
                    .collect()
            })
            .unwrap();
        let got: BTreeSet<String> = adapter
            .arrivals(BusinessDate::new(today_local))
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.id.external().to_string())
            .collect();
        assert_eq!(got, want, "{name}");

        // Timestamps without an offset are hotel-local and come back as the same instant,
        // including on DST change days (Auckland: 2026-04-05 and 2026-09-27).
        let instants = [
            "2026-06-15T22:15:30.250Z",
            // 02:30 NZDT on the fall-back day (the first of the two 02:30s).
            "2026-04-04T13:30:00Z",
            // 03:00 NZDT right after the spring-forward gap.
            "2026-09-26T14:00:00Z",
        ];
        for at in instants {
            let at = chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc);
            let id = sim
                .context
                .with_hotel(pms_opera::PROVIDER, name, |h| {
                    let r = h
                        .reservations
                        .iter_mut()
                        .find(|r| r.status == SimStatus::InHouse)
                        .unwrap();
                    r.updated_at = at;
                    r.id.clone()
                })
                .unwrap();
            let r = adapter
                .get_reservation_by_id(&ExternalId::parse(&id).unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.source_updated_at, Some(at), "{name} {at}");
            assert_eq!(r.version, at.timestamp_millis() as u64);
        }
        sim.stop().await;
    }
}

#[tokio::test]
async fn the_factory_builds_the_ohip_adapter_from_the_hotels_secret() {
    use pms_domain::memory::MemorySecrets;
    use pms_domain::ports::{CachedSecrets, SecretStore, SystemClock};
    let sim = start(roomy()).await;
    let p = property(&sim, HOTEL);
    let config = hotel_config(&sim, &p);
    let secrets = Arc::new(MemorySecrets::new());
    let factory = crate::vendor_factory(
        Arc::new(CachedSecrets::new(
            secrets.clone(),
            Arc::new(SystemClock),
            chrono::Duration::minutes(5),
        )),
        Arc::new(SystemClock),
        "pms/test",
    );
    secrets
        .put(
            &factory.credentials_secret(&config.hotel_id),
            &client_credentials(&p).to_secret(),
        )
        .await
        .unwrap();
    let adapter = factory.adapter_for(&config).await.unwrap();
    assert_eq!(adapter.provider(), pms_opera::PROVIDER);
    assert!(adapter.health_check().await.healthy);
    assert!(adapter.calls_made() >= 2, "token and one read");
    sim.stop().await;
}

#[tokio::test]
async fn the_shared_rate_limiter_keeps_calls_within_the_hotels_limit() {
    use pms_domain::config::RateLimitSettings;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::SystemClock;
    let mut cfg = pms_sim::default_config();
    cfg.limits.set(pms_opera::PROVIDER, 10, 1_000);
    let sim = start(cfg).await;
    let p = property(&sim, HOTEL);
    let mut config = hotel_config(&sim, &p);
    config.rate_limit = Some(RateLimitSettings {
        requests: 10,
        per_seconds: 1,
    });
    let store: Arc<dyn pms_domain::ports::ItemStore> =
        Arc::new(MemoryStore::new(Arc::new(SystemClock)));
    let adapter = Arc::new(
        pms_opera::OhipAdapter::from_config(&config, client_credentials(&p), &deps(Some(store)))
            .unwrap(),
    );
    let r = reservation_where(&sim, |r| r.status == SimStatus::InHouse);
    let all = futures::future::join_all((0..25).map(|_| {
        let a = adapter.clone();
        let id = ExternalId::parse(&r.id).unwrap();
        async move { a.get_reservation_by_id(&id).await }
    }))
    .await;
    assert!(all.iter().all(|r| r.is_ok()));
    assert_eq!(counters(&sim).rate_limit_violations, 0);
    sim.stop().await;
}

#[tokio::test]
async fn every_ohip_status_maps_and_keeps_its_raw_value() {
    let (sim, _config, adapter) = setup(roomy()).await;
    let r = reservation_where(&sim, |r| r.status == SimStatus::Confirmed);
    let cases = [
        ("Reserved", ReservationStatus::Confirmed),
        ("Requested", ReservationStatus::Confirmed),
        ("NoShow", ReservationStatus::NoShow),
        ("Cancelled", ReservationStatus::Cancelled),
        ("InHouse", ReservationStatus::CheckedIn),
        ("CheckedOut", ReservationStatus::CheckedOut),
        ("Waitlisted", ReservationStatus::Confirmed),
        ("DueIn", ReservationStatus::Confirmed),
        ("DueOut", ReservationStatus::CheckedIn),
        ("Walkin", ReservationStatus::CheckedIn),
        ("PendingCheckout", ReservationStatus::CheckedIn),
        // Not in the spec: kept, and shown as a booking rather than dropped.
        ("Quarantined", ReservationStatus::Confirmed),
    ];
    for (raw, want) in cases {
        sim.admin()
            .patch_reservation(
                pms_opera::PROVIDER,
                HOTEL,
                &r.id,
                &ReservationPatch {
                    raw_status: Some(raw.into()),
                    ..ReservationPatch::default()
                },
            )
            .await
            .unwrap();
        let got = adapter
            .get_reservation(&conf(&r.confirmation))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((got.status, got.raw_status.as_str()), (want, raw));
    }
    sim.stop().await;
}

#[tokio::test]
async fn a_guest_search_past_ohips_cap_asks_for_narrower_criteria() {
    let (sim, _config, adapter) = setup(roomy()).await;
    sim.context.with_hotel(pms_opera::PROVIDER, HOTEL, |h| {
        let template = h.guests[0].clone();
        for i in 0..1100 {
            let mut g = template.clone();
            g.id = format!("{}", 5_000_000 + i);
            g.last_name = "Popular".into();
            h.guests.push(g);
        }
    });
    let err = adapter
        .search_guests(&GuestQuery {
            name: Some("Popular".into()),
            ..GuestQuery::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::InvalidRequest { .. }), "{err}");
    assert!(err.to_string().contains("narrow the search"), "{err}");
    let requests = sim.context.state::<pms_opera::sim::State>().requests();
    assert!(requests
        .iter()
        .filter(|r| r.path == "/crm/v1/profiles")
        .all(|r| r.status == 200 || r.status == 204));
    sim.stop().await;
}

#[tokio::test]
async fn the_simulator_refuses_what_ohip_refuses() {
    let sim = start(roomy()).await;
    let p = property(&sim, HOTEL);
    let base = sim.vendor_url(pms_opera::PROVIDER);
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/oauth/v1/tokens"))
        .basic_auth(
            &p.credentials["clientId"],
            Some(&p.credentials["clientSecret"]),
        )
        .header("x-app-key", &p.credentials["appKey"])
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "urn:opc:hgbu:ws:__myscopes__"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let reservations = format!("{base}/rsv/v1/hotels/{HOTEL}/reservations");
    let get = |url: String,
               query: Vec<(&'static str, &'static str)>,
               headers: Vec<(&'static str, String)>| {
        let mut rb = http.get(url).query(&query);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        rb
    };
    let full = || {
        vec![
            ("authorization", bearer.clone()),
            ("x-app-key", p.credentials["appKey"].clone()),
            ("x-hotelid", HOTEL.to_owned()),
        ]
    };
    let status =
        |rb: reqwest::RequestBuilder| async move { rb.send().await.unwrap().status().as_u16() };
    assert_eq!(
        status(get(reservations.clone(), vec![("limit", "200")], full())).await,
        200
    );
    assert_eq!(
        status(get(reservations.clone(), vec![("limit", "201")], full())).await,
        400
    );
    assert_eq!(
        status(get(reservations.clone(), vec![("offset", "1001")], full())).await,
        400
    );
    let mut no_token = full();
    no_token.remove(0);
    assert_eq!(
        status(get(reservations.clone(), vec![], no_token)).await,
        401
    );
    let mut stale = full();
    stale[0].1 = "Bearer not-a-token".into();
    assert_eq!(status(get(reservations.clone(), vec![], stale)).await, 401);
    let mut no_key = full();
    no_key.remove(1);
    assert_eq!(status(get(reservations.clone(), vec![], no_key)).await, 403);
    let mut no_hotel = full();
    no_hotel.remove(2);
    assert_eq!(
        status(get(reservations.clone(), vec![], no_hotel)).await,
        400
    );
    let mut other_hotel = full();
    other_hotel[2].1 = "ELSEWHERE".into();
    assert_eq!(
        status(get(reservations.clone(), vec![], other_hotel)).await,
        403
    );
    assert_eq!(
        status(get(format!("{reservations}/123456789"), vec![], full())).await,
        204,
        "not found is 204"
    );
    let events = format!("{base}/int/v1/externalSystem/SIMEXT/hotels/{HOTEL}/businessEvents");
    assert_eq!(
        status(get(events.clone(), vec![("limit", "21")], full())).await,
        400
    );
    assert_eq!(
        status(get(events, vec![("limit", "20")], full())).await,
        204,
        "empty queue"
    );
    // Wrong client secret and wrong app key at the token endpoint.
    let bad_secret = http
        .post(format!("{base}/oauth/v1/tokens"))
        .basic_auth(&p.credentials["clientId"], Some("nope"))
        .header("x-app-key", &p.credentials["appKey"])
        .form(&[("grant_type", "client_credentials"), ("scope", "s")]);
    assert_eq!(status(bad_secret).await, 401);
    let bad_key = http
        .post(format!("{base}/oauth/v1/tokens"))
        .basic_auth(
            &p.credentials["clientId"],
            Some(&p.credentials["clientSecret"]),
        )
        .header("x-app-key", "00000000-0000-4000-8000-000000000000")
        .form(&[("grant_type", "client_credentials"), ("scope", "s")]);
    assert_eq!(status(bad_key).await, 403);
    sim.stop().await;
}

/// Nobody has arrived on a date still to come: a future arrivals range is one "Arrival"
/// search, not also an "Arrived" one.
#[tokio::test]
async fn a_future_arrivals_range_asks_only_for_expected_arrivals() {
    let (sim, config, adapter) = setup(roomy()).await;
    let today = config.time_zone.business_date(Utc::now());
    let calls = |sim: &pms_sim::Simulator| {
        counters(sim)
            .calls
            .get("getHotelReservations")
            .copied()
            .unwrap_or(0)
    };
    let before = calls(&sim);
    adapter
        .arrivals_between(today.add_days(1), today.add_days(3))
        .await
        .unwrap();
    // The default hotel's few arrivals of three days fit in one page.
    assert_eq!(calls(&sim) - before, 1);
    let before = calls(&sim);
    adapter
        .arrivals_between(today, today.add_days(1))
        .await
        .unwrap();
    assert_eq!(calls(&sim) - before, 2, "today's range asks for both");
}
