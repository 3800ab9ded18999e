//! The graphql function end to end, in-process, on moto: filters and pagination, lookups and
//! day views, tenant isolation for every query, the read-through cache, and the protections.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use pms_app::records::ProvidedAvailability;
use pms_app::registry::{HotelRegistry, Scope};
use pms_app::sync_runs::{SyncRun, SyncRuns};
use pms_domain::domain::{
    Availability, BusinessDate, ConfirmationNumber, Currency, ExternalId, GuestSummary, HotelId,
    Money, Provider, RecordId, Reservation, ReservationStatus, RoomTypeCode,
};
use pms_domain::ports::Clock;
use pms_mock::{MockFault, MockPms};
use pms_tests::graphql::{GraphqlStack, Reply};
use serde_json::{json, Value};

const A_ZONE: &str = "Europe/Prague";
const B_ZONE: &str = "Pacific/Honolulu";

fn today() -> BusinessDate {
    BusinessDate::parse("2026-12-01").unwrap()
}

async fn stack() -> GraphqlStack {
    // 12:00 UTC: 1 Dec in Prague (13:00) and in Honolulu (02:00).
    GraphqlStack::starting_at(Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()).await
}

const STATUSES: [ReservationStatus; 5] = [
    ReservationStatus::Confirmed,
    ReservationStatus::CheckedIn,
    ReservationStatus::CheckedOut,
    ReservationStatus::Cancelled,
    ReservationStatus::NoShow,
];

/// Booking `n` of a hotel: every fifth from Mews, statuses cycling, arrivals over 12 days.
fn booking(tag: &str, n: u32) -> Reservation {
    let provider = if n % 5 == 4 {
        Provider::named("mews")
    } else {
        Provider::named("mock")
    };
    let arrival = today().add_days(i64::from(n % 12) - 3);
    Reservation {
        id: RecordId::new(
            provider,
            ExternalId::parse(format!("{tag}-{n:04}")).unwrap(),
        ),
        confirmation_number: ConfirmationNumber::parse(format!("{tag}C{n:04}")).unwrap(),
        guest: Some(GuestSummary {
            id: None,
            first_name: Some(format!("Guest{n}")),
            last_name: Some(tag.to_uppercase()),
            email: None,
            phone: None,
        }),
        room_number: None,
        room_type: None,
        arrival,
        departure: arrival.add_days(1 + i64::from(n % 4)),
        expected_arrival_time: None,
        expected_departure_time: None,
        status: STATUSES[(n % 5) as usize],
        raw_status: "X".into(),
        adults: 2,
        children: 0,
        rate_code: None,
        total: Some(Money::new(10_000 + i64::from(n), Currency::eur())),
        balance: None,
        special_requests: vec![],
        notes: vec![],
        source_updated_at: None,
        version: 1,
        not_carried: Default::default(),
    }
}

async fn seed(g: &GraphqlStack, hotel: &HotelId, tag: &str, count: u32) -> Vec<Reservation> {
    let all: Vec<Reservation> = (0..count).map(|n| booking(tag, n)).collect();
    g.services
        .merger
        .merge(hotel, all.clone(), None)
        .await
        .unwrap();
    all
}

const PAGE: &str = "query($h: ID!, $f: BookingFilterInput, $first: Int, $after: String) {
  bookings(hotelId: $h, filter: $f, first: $first, after: $after) {
    edges { cursor node { id recordId provider status arrival departure nights confirmationNumber
                          guest { firstName lastName } total { amount currency } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}";

/// Every booking id the filter yields, following the cursor to the end.
async fn all_pages(g: &GraphqlStack, token: &str, hotel: &HotelId, filter: Value) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    for _ in 0..100 {
        let r = g
            .query(
                token,
                PAGE,
                json!({"h": hotel.as_str(), "f": filter, "first": 7, "after": after}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.codes().is_empty(), "{}", r.body);
        let c = &r.data()["bookings"];
        let edges = c["edges"].as_array().unwrap();
        assert!(edges.len() <= 7);
        nodes.extend(edges.iter().map(|e| e["node"].clone()));
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return nodes;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn every_filter_pages_to_the_end_without_duplicates_or_gaps() {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let b = g.add_hotel("b", B_ZONE).await;
    let seeded = seed(&g, &a, "a", 83).await;
    seed(&g, &b, "b", 20).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    let d = |days: i64| today().add_days(days).to_string();
    type Pred = Box<dyn Fn(&Reservation) -> bool>;
    let cases: Vec<(Value, Pred)> = vec![
        (json!({}), Box::new(|_| true)),
        (
            json!({"status": ["CONFIRMED"]}),
            Box::new(|r| r.status == ReservationStatus::Confirmed),
        ),
        (
            json!({"status": ["CHECKED_IN", "NO_SHOW"]}),
            Box::new(|r| {
                matches!(
                    r.status,
                    ReservationStatus::CheckedIn | ReservationStatus::NoShow
                )
            }),
        ),
        (
            json!({"arrivalFrom": d(-1), "arrivalTo": d(3)}),
            Box::new(|r| r.arrival >= today().add_days(-1) && r.arrival <= today().add_days(3)),
        ),
        (
            json!({"arrivalFrom": d(5)}),
            Box::new(|r| r.arrival >= today().add_days(5)),
        ),
        (
            json!({"departureFrom": d(2), "departureTo": d(4)}),
            Box::new(|r| r.departure >= today().add_days(2) && r.departure <= today().add_days(4)),
        ),
        (
            json!({"departureTo": d(0)}),
            Box::new(|r| r.departure <= today()),
        ),
        (
            json!({"provider": "MEWS"}),
            Box::new(|r| r.id.provider() == Provider::named("mews")),
        ),
        (
            json!({"provider": "MOCK", "status": ["CONFIRMED", "CHECKED_OUT"], "arrivalFrom": d(0)}),
            Box::new(|r| {
                r.id.provider() == Provider::named("mock")
                    && matches!(
                        r.status,
                        ReservationStatus::Confirmed | ReservationStatus::CheckedOut
                    )
                    && r.arrival >= today()
            }),
        ),
        (
            json!({"arrivalFrom": d(-3), "arrivalTo": d(8), "departureFrom": d(4), "departureTo": d(4)}),
            Box::new(|r| r.departure == today().add_days(4)),
        ),
    ];
    for (filter, pred) in cases {
        let nodes = all_pages(&g, &token, &a, filter.clone()).await;
        let ids: Vec<String> = nodes
            .iter()
            .map(|n| n["recordId"].as_str().unwrap().to_owned())
            .collect();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "duplicates for {filter}");
        let want: BTreeSet<String> = seeded
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.id.to_string())
            .collect();
        assert!(!want.is_empty(), "the seeded data exercises {filter}");
        assert_eq!(unique, want, "{filter}");
        // An arrival range alone comes back in arrival order (with a narrower departure range
        // too, the departure index is read instead).
        if filter.get("arrivalFrom").is_some() && filter.get("departureFrom").is_none() {
            let dates: Vec<&str> = nodes
                .iter()
                .map(|n| n["arrival"].as_str().unwrap())
                .collect();
            assert!(
                dates.windows(2).all(|w| w[0] <= w[1]),
                "{filter}: {dates:?}"
            );
        }
    }
    // The page size is bounded, and cursors are bound to their query.
    let r = g
        .query(&token, PAGE, json!({"h": a.as_str(), "first": 101}))
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    let r = g
        .query(&token, PAGE, json!({"h": a.as_str(), "first": 0}))
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    let first = g
        .query(&token, PAGE, json!({"h": a.as_str(), "first": 2}))
        .await;
    let cursor = first.data()["bookings"]["pageInfo"]["endCursor"].clone();
    let r = g
        .query(
            &token,
            PAGE,
            json!({"h": a.as_str(), "first": 2, "after": cursor, "f": {"status": ["CONFIRMED"]}}),
        )
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    let r = g
        .query(
            &token,
            PAGE,
            json!({"h": a.as_str(), "after": "eyJub3QiOiJvdXJzIn0"}),
        )
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    let r = g
        .query(
            &token,
            PAGE,
            json!({"h": a.as_str(), "f": {"arrivalFrom": d(3), "arrivalTo": d(1)}}),
        )
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "arrivalTo");
}

#[tokio::test]
async fn lookups_day_views_availability_sync_runs_and_health() {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let seeded = seed(&g, &a, "a", 40).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    let h = a.as_str();

    // booking(id) and bookingByConfirmation.
    let r = g
        .query(
            &token,
            "query($h: ID!, $c: String!) { bookingByConfirmation(hotelId: $h, confirmationNumber: $c) { id status arrival } }",
            json!({"h": h, "c": "aC0007"}),
        )
        .await;
    let id = r.data()["bookingByConfirmation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id, format!("{h}/mock:a-0007"));
    let r = g
        .query(
            &token,
            "query($id: ID!) { booking(id: $id) { confirmationNumber nights total { amount currency } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(r.data()["booking"]["confirmationNumber"], "aC0007");
    assert_eq!(
        r.data()["booking"]["total"],
        json!({"amount": "100.07", "currency": "EUR"})
    );
    let r = g
        .query(
            &token,
            "query($id: ID!) { booking(id: $id) { id } }",
            json!({"id": format!("{h}/mock:nope")}),
        )
        .await;
    assert_eq!(r.codes(), ["NOT_FOUND"]);
    assert_eq!(r.data()["booking"], Value::Null);

    // Day views default to today in the hotel's zone and leave out cancelled and no-shows.
    let day = "query($h: ID!, $d: Date) {
      arrivals(hotelId: $h, date: $d) { date bookings { recordId } }
      departures(hotelId: $h, date: $d) { date bookings { recordId } }
      inHouse(hotelId: $h) { date bookings { recordId status } } }";
    let r = g.query(&token, day, json!({"h": h})).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    assert_eq!(r.data()["arrivals"]["date"], "2026-12-01");
    let ids = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| b["recordId"].as_str().unwrap().to_owned())
            .collect()
    };
    let expected = |f: &dyn Fn(&Reservation) -> bool| -> BTreeSet<String> {
        seeded
            .iter()
            .filter(|r| f(r))
            .map(|r| r.id.to_string())
            .collect()
    };
    let live = |r: &Reservation| {
        !matches!(
            r.status,
            ReservationStatus::Cancelled | ReservationStatus::NoShow
        )
    };
    assert_eq!(
        ids(&r.data()["arrivals"]["bookings"]),
        expected(&|r| r.arrival == today() && live(r))
    );
    assert_eq!(
        ids(&r.data()["departures"]["bookings"]),
        expected(&|r| r.departure == today() && live(r))
    );
    assert_eq!(
        ids(&r.data()["inHouse"]["bookings"]),
        expected(&|r| r.status == ReservationStatus::CheckedIn && r.arrival <= today())
    );
    let r = g
        .query(&token, day, json!({"h": h, "d": "2026-12-03"}))
        .await;
    assert_eq!(
        ids(&r.data()["arrivals"]["bookings"]),
        expected(&|r| r.arrival == today().add_days(2) && live(r))
    );
    let r = g
        .query(&token, day, json!({"h": h, "d": "2026-13-01"}))
        .await;
    assert!(!r.codes().is_empty());
    assert!(
        r.codes().iter().all(|c| c == "BAD_USER_INPUT"),
        "{}",
        r.body
    );

    // Availability stored by ingestion, by key range.
    let mut nights = Vec::new();
    for offset in 0..10 {
        for t in ["KING", "TWIN"] {
            nights.push(ProvidedAvailability {
                provider: Provider::named("mock"),
                availability: Availability {
                    date: today().add_days(offset),
                    room_type: RoomTypeCode::parse(t).unwrap(),
                    available: 4,
                    total: Some(12),
                    rate: Some(Money::new(15_000, Currency::eur())),
                    source_updated_at: None,
                    version: 1,
                },
            });
        }
    }
    g.services.merger.merge(&a, nights, None).await.unwrap();
    let r = g
        .query(
            &token,
            "query($h: ID!) { availability(hotelId: $h, from: \"2026-12-03\", to: \"2026-12-05\", roomType: \"KING\", source: PARTNER) { date roomType available total rate { amount } provider source } }",
            json!({"h": h}),
        )
        .await;
    let list = r.data()["availability"].as_array().unwrap();
    let dates: Vec<&str> = list.iter().map(|x| x["date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2026-12-03", "2026-12-04", "2026-12-05"]);
    assert!(list.iter().all(|x| x["roomType"] == "KING"
        && x["rate"]["amount"] == "150.00"
        && x["source"] == "PARTNER"));

    // Sync runs as the sync worker records them; health with the latest.
    let runs = SyncRuns::new(g.item_store());
    for i in 0..3 {
        let mut run = SyncRun::start(format!("run-{i}"), a.clone(), "reservations", g.clock.now());
        run.record_created("r-1");
        run.record_unchanged(5);
        if i == 2 {
            run.record_failed("r-9", "PMS_PROTOCOL", "unreadable");
        }
        g.clock.advance(Duration::seconds(2));
        run.finish(g.clock.now(), 3);
        runs.record(&run, 30).await.unwrap();
    }
    let r = g
        .query(
            &token,
            "query($h: ID!) { syncRuns(hotelId: $h, last: 2) { runId status created { count ids } unchanged failed { count ids } vendorCalls durationMs errors { code entityId } }
               health(hotelId: $h) { hotelId pms { provider healthy } lastSync { runId status } } }",
            json!({"h": h}),
        )
        .await;
    assert!(r.codes().is_empty(), "{}", r.body);
    let runs = r.data()["syncRuns"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["runId"], "run-2");
    assert_eq!(runs[0]["status"], "PARTIAL");
    assert_eq!(runs[0]["failed"], json!({"count": 1, "ids": ["r-9"]}));
    assert_eq!(runs[0]["errors"][0]["code"], "PMS_PROTOCOL");
    assert_eq!(runs[1]["durationMs"], 2000);
    assert_eq!(r.data()["health"]["pms"]["healthy"], true);
    assert_eq!(r.data()["health"]["lastSync"]["runId"], "run-2");
    let r = g
        .query(
            &token,
            "query($h: ID!) { syncRuns(hotelId: $h, last: 500) { runId } }",
            json!({"h": h}),
        )
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
}

/// One query per root field, for hotel `$h`.
const EVERY_QUERY: &[(&str, &str)] = &[
    ("bookings", "query($h: ID!) { bookings(hotelId: $h) { edges { node { id } } } }"),
    ("bookingByConfirmation", "query($h: ID!) { bookingByConfirmation(hotelId: $h, confirmationNumber: \"bC0001\") { id } }"),
    ("availability", "query($h: ID!) { availability(hotelId: $h, from: \"2026-12-01\", to: \"2026-12-02\", source: PARTNER) { date } }"),
    ("arrivals", "query($h: ID!) { arrivals(hotelId: $h) { bookings { id } } }"),
    ("departures", "query($h: ID!) { departures(hotelId: $h) { bookings { id } } }"),
    ("inHouse", "query($h: ID!) { inHouse(hotelId: $h) { bookings { id } } }"),
    ("guest", "query($h: ID!) { guest(hotelId: $h, id: \"mock:g-00001\") { value { email } } }"),
    ("searchGuests", "query($h: ID!) { searchGuests(hotelId: $h, name: \"a\") { value { guests { email } } } }"),
    ("reservation", "query($h: ID!) { reservation(hotelId: $h, confirmationNumber: \"700003\") { value { id } } }"),
    ("roomStatus", "query($h: ID!) { roomStatus(hotelId: $h, room: \"101\") { value { roomNumber } } }"),
    ("roomStatuses", "query($h: ID!) { roomStatuses(hotelId: $h) { value { rooms { roomNumber } } } }"),
    ("balance", "query($h: ID!) { balance(hotelId: $h, confirmationNumber: \"700003\") { value { amount } } }"),
    ("syncRuns", "query($h: ID!) { syncRuns(hotelId: $h) { runId } }"),
    ("health", "query($h: ID!) { health(hotelId: $h) { pms { healthy } } }"),
];

#[tokio::test]
async fn a_token_never_sees_another_hotel_for_any_query() {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let b = g.add_hotel("b", B_ZONE).await;
    seed(&g, &a, "a", 10).await;
    let b_bookings = seed(&g, &b, "b", 10).await;
    let mut run = SyncRun::start("b-run", b.clone(), "reservations", g.clock.now());
    run.finish(g.clock.now(), 1);
    SyncRuns::new(g.item_store())
        .record(&run, 30)
        .await
        .unwrap();
    let token_a = g.token(&[&a], &[Scope::Read]).await;
    let token_both = g.token(&[&a, &b], &[Scope::Read]).await;
    let write_only = g.token(&[&a, &b], &[Scope::Write]).await;
    let pms_b = MockPms::shared(
        &b,
        pms_domain::domain::PropertyTz::parse(B_ZONE).unwrap(),
        Currency::eur(),
        g.clock.clone(),
    );
    for (field, q) in EVERY_QUERY {
        let vars = json!({"h": b.as_str()});
        let calls_before = pms_b.total_calls();
        let r = g.query(&token_a, q, vars.clone()).await;
        assert_eq!(r.codes(), ["FORBIDDEN"], "{field}: {}", r.body);
        assert_eq!(r.data(), &Value::Null, "{field} leaks: {}", r.body);
        let text = r.body.to_string();
        assert!(!text.contains("bC0"), "{field} leaks B's data");
        assert_eq!(pms_b.total_calls(), calls_before, "{field} reached B's PMS");
        let r = g.query(&write_only, q, vars.clone()).await;
        assert_eq!(r.codes(), ["FORBIDDEN"], "{field} without the read scope");
        // The token that covers B gets an answer (data or a domain error, never FORBIDDEN).
        let r = g.query(&token_both, q, vars).await;
        assert!(
            !r.codes().contains(&"FORBIDDEN".to_owned()),
            "{field} with a token for B: {}",
            r.body
        );
        assert_ne!(r.data(), &Value::Null, "{field}: {}", r.body);
    }
    // B's global booking id and confirmation numbers, asked with A's token or under A's id.
    let b_id = format!("{}/{}", b, b_bookings[1].id);
    let r = g
        .query(
            &token_a,
            "query($id: ID!) { booking(id: $id) { id } }",
            json!({"id": b_id}),
        )
        .await;
    assert_eq!(r.codes(), ["FORBIDDEN"]);
    let r = g
        .query(
            &token_a,
            "query($h: ID!) { bookingByConfirmation(hotelId: $h, confirmationNumber: \"bC0001\") { id } }",
            json!({"h": a.as_str()}),
        )
        .await;
    assert_eq!(r.codes(), ["NOT_FOUND"]);
    // A's own listing holds only A's bookings.
    let nodes = all_pages(&g, &token_a, &a, json!({})).await;
    assert_eq!(nodes.len(), 10);
    assert!(nodes
        .iter()
        .all(|n| n["recordId"].as_str().unwrap().contains(":a-")));
    // A cursor of A's listing cannot page through B's.
    let first = g
        .query(&token_both, PAGE, json!({"h": a.as_str(), "first": 2}))
        .await;
    let cursor = first.data()["bookings"]["pageInfo"]["endCursor"].clone();
    let r = g
        .query(
            &token_both,
            PAGE,
            json!({"h": b.as_str(), "first": 2, "after": cursor}),
        )
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    // An unknown hotel is as forbidden as another tenant's.
    let r = g
        .query(&token_a, EVERY_QUERY[0].1, json!({"h": "no-such-hotel"}))
        .await;
    assert_eq!(r.codes(), ["FORBIDDEN"]);
}

const GUEST: &str = "query($h: ID!, $id: ID!) { guest(hotelId: $h, id: $id) { stale fetchedAt value { id email fullName } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_serves_fresh_refetches_once_and_bridges_outages() {
    let g = Arc::new(stack().await);
    let a = g.add_hotel("a", A_ZONE).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    let pms = MockPms::shared(
        &a,
        pms_domain::domain::PropertyTz::parse(A_ZONE).unwrap(),
        Currency::eur(),
        g.clock.clone(),
    );
    let guest = pms.guests().remove(3);
    let vars = json!({"h": a.as_str(), "id": guest.id.to_string()});

    // First read fetches; reads within the TTL (guest: 1 h) do not call the PMS.
    let first = g.query(&token, GUEST, vars.clone()).await;
    assert!(first.codes().is_empty(), "{}", first.body);
    assert_eq!(first.data()["guest"]["value"]["email"], json!(guest.email));
    assert_eq!(first.data()["guest"]["stale"], false);
    assert_eq!(pms.calls("get_guest"), 1);
    g.clock.advance(Duration::minutes(59));
    for _ in 0..3 {
        let r = g.query(&token, GUEST, vars.clone()).await;
        assert_eq!(
            r.data()["guest"]["fetchedAt"],
            first.data()["guest"]["fetchedAt"]
        );
    }
    assert_eq!(pms.calls("get_guest"), 1);

    // Expired: 20 concurrent readers, one PMS call.
    g.clock.advance(Duration::minutes(2));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (g, token, vars) = (g.clone(), token.clone(), vars.clone());
            tokio::spawn(async move { g.query(&token, GUEST, vars).await })
        })
        .collect();
    let refreshed_at = g.clock.now();
    for t in tasks {
        let r: Reply = t.await.unwrap();
        assert!(r.codes().is_empty(), "{}", r.body);
        assert_eq!(r.data()["guest"]["stale"], false);
        let at: chrono::DateTime<Utc> =
            serde_json::from_value(r.data()["guest"]["fetchedAt"].clone()).unwrap();
        assert_eq!(at, refreshed_at);
    }
    assert_eq!(pms.calls("get_guest"), 2);

    // The PMS fails: past the TTL the cached copy is served, flagged stale...
    pms.set_fault(Some(MockFault::Unavailable));
    g.clock.advance(Duration::minutes(90));
    let r = g.query(&token, GUEST, vars.clone()).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    assert_eq!(r.data()["guest"]["stale"], true);
    let at: chrono::DateTime<Utc> =
        serde_json::from_value(r.data()["guest"]["fetchedAt"].clone()).unwrap();
    assert_eq!(at, refreshed_at);
    assert_eq!(r.data()["guest"]["value"]["email"], json!(guest.email));
    // ...until it is older than the tolerance (2 × TTL): then PMS_UNAVAILABLE, no data.
    g.clock.advance(Duration::minutes(31));
    let r = g.query(&token, GUEST, vars.clone()).await;
    assert_eq!(r.codes(), ["PMS_UNAVAILABLE"], "{}", r.body);
    assert_eq!(r.body["errors"][0]["extensions"]["retryable"], true);
    assert_eq!(r.data()["guest"], Value::Null);
    assert!(
        !r.body.to_string().contains("mock PMS is down"),
        "no vendor detail leaks"
    );
    pms.set_fault(None);

    // TTLs come from the hotel's configuration: room status at 10 s here.
    let registry = HotelRegistry::new(g.item_store());
    let mut config = registry.require(&a).await.unwrap();
    config.cache.room_status_ttl = 10;
    config.updated_at = g.clock.now();
    registry.update(&config).await.unwrap();
    let room = "query($h: ID!) { roomStatus(hotelId: $h, room: \"101\") { stale value { roomNumber housekeeping occupancy } } }";
    let before = pms.calls("room_status");
    let r = g.query(&token, room, json!({"h": a.as_str()})).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    g.clock.advance(Duration::seconds(9));
    let r = g.query(&token, room, json!({"h": a.as_str()})).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    assert_eq!(pms.calls("room_status"), before + 1);
    g.clock.advance(Duration::seconds(2));
    let r = g.query(&token, room, json!({"h": a.as_str()})).await;
    assert_eq!(r.data()["roomStatus"]["value"]["roomNumber"], "101");
    assert_eq!(pms.calls("room_status"), before + 2);

    // The other PMS-backed reads answer through the cache too.
    let in_house = pms
        .reservations()
        .into_iter()
        .find(|r| r.status == ReservationStatus::CheckedIn)
        .unwrap();
    let q = "query($h: ID!, $c: String!, $email: String!) {
      reservation(hotelId: $h, confirmationNumber: $c) { stale value { confirmationNumber status } }
      balance(hotelId: $h, confirmationNumber: $c) { value { amount currency } }
      searchGuests(hotelId: $h, email: $email) { value { guests { id } } }
      roomStatuses(hotelId: $h) { value { rooms { roomNumber } } } }";
    let vars =
        json!({"h": a.as_str(), "c": in_house.confirmation_number.as_str(), "email": guest.email});
    for _ in 0..2 {
        let r = g.query(&token, q, vars.clone()).await;
        assert!(r.codes().is_empty(), "{}", r.body);
        assert_eq!(
            r.data()["reservation"]["value"]["confirmationNumber"],
            in_house.confirmation_number.as_str()
        );
        assert_eq!(r.data()["balance"]["value"]["currency"], "EUR");
        assert_eq!(
            r.data()["searchGuests"]["value"]["guests"][0]["id"],
            guest.id.to_string()
        );
        assert_eq!(
            r.data()["roomStatuses"]["value"]["rooms"]
                .as_array()
                .unwrap()
                .len(),
            pms_mock::MockSize::default().rooms as usize
        );
    }
    for op in [
        "get_reservation",
        "get_balance",
        "search_guests",
        "room_statuses",
    ] {
        assert_eq!(pms.calls(op), 1, "{op} is cached");
    }
    let r = g
        .query(
            &token,
            "query($h: ID!) { reservation(hotelId: $h, confirmationNumber: \"000\") { stale } }",
            json!({"h": a.as_str()}),
        )
        .await;
    assert_eq!(r.codes(), ["NOT_FOUND"]);
}

#[tokio::test]
async fn protections_answer_before_any_store_read() {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    let h = a.as_str();

    // No token: 401, no data, and nothing read.
    let before = g.store.calls();
    let r = g
        .post_raw(None, br#"{"query":"{ __typename }"}"#.to_vec())
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.codes(), ["UNAUTHENTICATED"]);
    assert_eq!(g.store.calls(), before);
    let r = g
        .query("pms_0123456789abcdef_forged", "{ __typename }", json!({}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.codes(), ["UNAUTHENTICATED"]);

    // A depth bomb and a complexity bomb, with a valid token: rejected after the token check
    // (at most its one read) and before anything of the hotel is read.
    let mut depth = String::from("{ __schema { types { fields { type { ");
    for _ in 0..14 {
        depth.push_str("ofType { ");
    }
    depth.push_str("name");
    depth.push_str(&" }".repeat(14 + 5));
    let mut complexity = String::from("{ ");
    for i in 0..10 {
        complexity.push_str(&format!(
            "b{i}: bookings(hotelId: \"{h}\", first: 100) {{ edges {{ node {{ id status arrival departure guest {{ firstName }} }} }} }} "
        ));
    }
    complexity.push('}');
    for (name, q) in [("depth", depth), ("complexity", complexity)] {
        let before = g.store.calls();
        let r = g.query(&token, &q, json!({})).await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{name}: {}", r.body);
        assert!(
            g.store.calls() <= before + 1,
            "{name} bomb read more than the token"
        );
    }
    // Syntax errors and unknown fields are the caller's too.
    for q in ["{ bookings(", "{ nope }"] {
        let r = g.query(&token, q, json!({})).await;
        assert_eq!(
            (r.status.as_u16(), r.codes()),
            (400, vec!["BAD_USER_INPUT".to_owned()])
        );
    }
    // Body size limit, batches, methods.
    let big = format!(
        "{{\"query\":\"{{ __typename }}\",\"variables\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(pms_graphql::MAX_BODY_BYTES)
    );
    assert_eq!(g.post_raw(Some(&token), big.into_bytes()).await.status, 413);
    let r = g
        .post_raw(Some(&token), br#"[{"query":"{ __typename }"}]"#.to_vec())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.codes()),
        (400, vec!["BAD_USER_INPUT".to_owned()])
    );

    // Introspection is allowed: GraphiQL's full introspection query fits the limits.
    let r = g.query(&token, INTROSPECTION, json!({})).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    let types = r.data()["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "BookingsConnection"));
    assert_eq!(r.data()["__schema"]["mutationType"]["name"], "MutationRoot");
    assert!(types.iter().any(|t| t["name"] == "Operation"));
}

/// A 1 KB request, cheap to send and costly to validate: `levels` fragments, each spreading the
/// previous one twice, so the
/// query executes 2^levels fields (the engine's validation walks every one of them).
fn doubling_fragments(levels: usize) -> String {
    let mut q = format!("query {{ ...F{levels} }}\nfragment F0 on QueryRoot {{ __typename }}\n");
    for i in 1..=levels {
        q.push_str(&format!(
            "fragment F{i} on QueryRoot {{...F{p} ...F{p}}}\n",
            p = i - 1
        ));
    }
    q
}

#[tokio::test]
async fn pre_authentication_cost_is_bounded_token_first_then_capped_fragments_aliases_directives_tokens(
) {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    let bomb = doubling_fragments(26);
    assert!(bomb.len() < 2048, "a small request: {} bytes", bomb.len());

    // Without a valid token nothing of the query is looked at: a garbage token is refused by
    // its format (no store read), and so is one that only looks like a token, whatever follows.
    for presented in ["x", "pms_0123456789abcdef_forged"] {
        let before = g.store.calls();
        let r = g.query(presented, &bomb, json!({})).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.codes(), ["UNAUTHENTICATED"]);
        // Only the token is read: an eventual read, a consistent one on a miss (a token just
        // created), and the location of tokens issued before the per-token partitions.
        assert!(g.store.calls() <= before + 3, "only the token is read");
        // A query that does not even parse is still a 401: the token is checked first.
        let r = g.query(presented, "{ bookings(", json!({})).await;
        assert_eq!(
            (r.status.as_u16(), r.codes()),
            (401, vec!["UNAUTHENTICATED".to_owned()]),
            "{}",
            r.body
        );
    }
    let r = g
        .post_raw(Some("x"), b"this is not JSON at all".to_vec())
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // With a valid token, the same request is refused by the expansion limit, named in the
    // message, before the engine validates it; nothing of the hotel is read.
    let before = g.store.calls();
    let r = g.query(&token, &bomb, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.codes(), ["BAD_USER_INPUT"]);
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("once its fragments are expanded"),
        "{message}"
    );
    // Only the token is read: an eventual read, a consistent one on a miss (a token just
    // created), and the location of tokens issued before the per-token partitions.
    assert!(g.store.calls() <= before + 3, "only the token is read");

    // Aliases, directives, tokens and bracket nesting are capped too.
    let aliases: String = (0..=pms_graphql::limits::MAX_ALIASES)
        .map(|i| format!("a{i}: __typename "))
        .collect();
    let directives =
        "__typename @skip(if: false) ".repeat(pms_graphql::limits::MAX_DIRECTIVES as usize + 1);
    let tokens = "__typename ".repeat(pms_graphql::limits::MAX_TOKENS);
    let nesting = format!(
        "{{ bookings(hotelId: \"{a}\", filter: {}) {{ totalCount }} }}",
        "{ status: [".repeat(pms_graphql::limits::MAX_NESTING)
    );
    for (name, q, says) in [
        ("aliases", format!("{{ {aliases} }}"), "aliases"),
        ("directives", format!("{{ {directives} }}"), "directives"),
        ("tokens", format!("{{ {tokens} }}"), "tokens"),
        ("nesting", nesting, "nests"),
    ] {
        let r = g.query(&token, &q, json!({})).await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{name}");
        let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name}: {message}");
    }

    // Within the limits, fragments and aliases work as before.
    let ok = "query { ...T a: __typename } fragment T on QueryRoot { b: __typename __typename }";
    let r = g.query(&token, ok, json!({})).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    assert_eq!(r.data()["a"], "QueryRoot");
    assert_eq!(r.data()["b"], "QueryRoot");
}

/// graphql-js's `getIntrospectionQuery()` as GraphiQL 4 sends it (TypeRef nests 9 `ofType`).
const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name kind } mutationType { name kind } subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }
"#;

#[tokio::test]
async fn store_reads_are_bounded_per_request_across_all_fields_counting_items_read() {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    // 200 stays checked in today, arrived within the in-house window.
    let stays: Vec<Reservation> = (0..200)
        .map(|n| {
            let mut r = booking("big", n);
            r.status = ReservationStatus::CheckedIn;
            r.arrival = today().add_days(-i64::from(n % 5));
            r.departure = today().add_days(2);
            r
        })
        .collect();
    g.services.merger.merge(&a, stays, None).await.unwrap();
    let per_field = 200u64;

    // One field reads 200 items: fine, and so is a request of a few.
    let one = g
        .query(
            &token,
            "query($h: ID!) { inHouse(hotelId: $h) { bookings { id } } }",
            json!({"h": a.as_str()}),
        )
        .await;
    assert!(one.codes().is_empty(), "{}", one.body);
    assert_eq!(
        one.data()["inHouse"]["bookings"].as_array().unwrap().len(),
        200
    );

    // Thirty aliases of it would read 6 000 items: the request's budget (5 000 items, over all
    // its fields) answers what fits and refuses the rest; no field answers half a list.
    let fields: String = (0..30)
        .map(|i| format!("f{i}: inHouse(hotelId: $h) {{ bookings {{ id }} }} "))
        .collect();
    let r = g
        .query(
            &token,
            &format!("query($h: ID!) {{ {fields} }}"),
            json!({"h": a.as_str()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answered = (0..30)
        .filter(|i| r.data()[format!("f{i}")]["bookings"].is_array())
        .count() as u64;
    for i in 0..30 {
        let list = &r.data()[format!("f{i}")]["bookings"];
        assert!(list.is_null() || list.as_array().unwrap().len() == 200);
    }
    let refused = r
        .codes()
        .iter()
        .filter(|c| *c == "READ_BUDGET_EXCEEDED")
        .count() as u64;
    assert_eq!(answered + refused, 30, "{}", r.body);
    assert!(refused >= 1, "{}", r.body);
    assert!(
        answered * per_field <= pms_app::reads::MAX_ITEMS_READ,
        "{answered} fields of {per_field} items answered"
    );
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("stored items"), "{message}");
    // The budget is the request's: the next request has its own.
    let again = g
        .query(
            &token,
            "query($h: ID!) { inHouse(hotelId: $h) { bookings { id } } }",
            json!({"h": a.as_str()}),
        )
        .await;
    assert!(again.codes().is_empty(), "{}", again.body);
}

#[tokio::test]
async fn pms_not_found_answers_are_cached_briefly() {
    let g = stack().await;
    let a = g.add_hotel("a", A_ZONE).await;
    let token = g.token(&[&a], &[Scope::Read]).await;
    let pms = MockPms::shared(
        &a,
        pms_domain::domain::PropertyTz::parse(A_ZONE).unwrap(),
        Currency::eur(),
        g.clock.clone(),
    );
    let vars = json!({"h": a.as_str(), "id": "mock:g-99999"});
    // Asking again and again for a guest the PMS does not have costs it one call...
    for _ in 0..5 {
        let r = g.query(&token, GUEST, vars.clone()).await;
        assert_eq!(r.codes(), ["NOT_FOUND"], "{}", r.body);
    }
    assert_eq!(pms.calls("get_guest"), 1);
    // ...for a short while: then it is asked again (a guest created meanwhile shows up).
    g.clock
        .advance(Duration::seconds(pms_app::cache::NOT_FOUND_TTL_SECONDS - 1));
    g.query(&token, GUEST, vars.clone()).await;
    assert_eq!(pms.calls("get_guest"), 1);
    g.clock.advance(Duration::seconds(1));
    let r = g.query(&token, GUEST, vars).await;
    assert_eq!(r.codes(), ["NOT_FOUND"]);
    assert_eq!(pms.calls("get_guest"), 2);
}
