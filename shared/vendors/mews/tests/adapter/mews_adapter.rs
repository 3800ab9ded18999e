//! The Mews adapter against the simulated Mews Connector API over HTTP: reads map the
//! simulator's data, listings follow the cursor to the end, interval filters are split into
//! windows of at most three months, enrichment is batched, business dates follow the hotel's
//! zone, and writes change the simulated hotel.

use crate::mews_support;

use std::collections::HashSet;

use crate::vendor_factory;
use chrono::{Duration, NaiveTime, Utc};
use mews_support::{date, reservation, utc, MewsEnv, AUCKLAND, HONOLULU, NEW_YORK, PREFIX};
use pms_domain::domain::{
    BusinessDate, Charge, CheckoutChange, ConfirmationNumber, Currency, ExternalId, GuestQuery,
    Housekeeping, Money, Note, Occupancy, Preference, PreferenceSource, PropertyTz,
    ReservationStatus, RoomNumber,
};
use pms_domain::pms::{
    ChangeWindow, EntityKind, EntityRef, ListRead, PageCursor, PmsAdapter, Refreshed,
};
use pms_sim::{SimSize, SimStatus};

fn conf(s: &str) -> ConfirmationNumber {
    ConfirmationNumber::parse(s).unwrap()
}

#[tokio::test]
async fn the_factory_builds_the_adapter_from_stored_credentials() {
    let env = MewsEnv::default().await;
    env.store_own_credentials(HONOLULU).await;
    let factory = vendor_factory(env.cached.clone(), env.clock.clone(), PREFIX);
    let adapter = factory.adapter_for(&env.config(HONOLULU)).await.unwrap();
    assert_eq!(adapter.provider(), pms_mews::PROVIDER);
    adapter.connect().await.unwrap();
    let health = adapter.health_check().await;
    assert!(health.healthy, "{health:?}");
    assert_eq!(env.calls("configuration/get"), 2);
    let caps = adapter.capabilities();
    assert!(!caps.search_by_phone && caps.search_by_email && caps.find_charge_by_reference);
    assert!(!caps.native_charge_idempotency);
    assert_eq!(caps.delta, pms_domain::domain::DeltaSupport::ModifiedSince);
    // Credentials reach the wire only in the body, and never in Debug output of the error path.
    let body = env.captured("configuration/get").pop().unwrap();
    assert_eq!(body["AccessToken"], "sim-mews-access-token");
    assert_eq!(body["ClientToken"], "sim-mews-client-token");
    assert_eq!(body["Client"], "pms-integration tests");
    assert_eq!(body["EnterpriseId"], HONOLULU);
}

#[tokio::test]
async fn a_token_for_another_enterprise_is_a_configuration_error() {
    let env = MewsEnv::default().await;
    let akl = env.property(AUCKLAND);
    env.store_credentials(
        HONOLULU,
        &akl.credentials["clientToken"],
        &akl.credentials["accessToken"],
    )
    .await;
    let adapter = env.adapter_with(&env.config(HONOLULU), None).await;
    let err = adapter.connect().await.unwrap_err();
    assert_eq!(err.code(), "PMS_CONFIGURATION", "{err}");
}

#[tokio::test]
async fn in_house_maps_the_simulated_hotel() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let hotel = env.hotel(HONOLULU);
    let fetched = adapter.in_house().await.unwrap();
    assert!(fetched.failures.is_empty(), "{:?}", fetched.failures);
    let expected: Vec<_> = hotel
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::InHouse)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(fetched.items.len(), expected.len());
    for sim in expected {
        let r = fetched
            .items
            .iter()
            .find(|r| r.id.external().as_str() == sim.id)
            .expect("reservation");
        assert_eq!(r.status, ReservationStatus::CheckedIn);
        assert_eq!(r.raw_status, "Started");
        assert_eq!(r.confirmation_number.as_str(), sim.confirmation);
        assert_eq!(r.arrival.naive(), sim.arrival);
        assert_eq!(r.departure.naive(), sim.departure);
        assert_eq!(r.expected_arrival_time, Some(sim.arrival_time));
        let room = hotel.room(sim.room_id.as_deref().unwrap()).unwrap();
        assert_eq!(r.room_number.as_ref().unwrap().as_str(), room.number);
        assert_eq!(r.room_type.as_ref().unwrap().as_str(), sim.room_type);
        assert_eq!(r.rate_code.as_deref(), Some(sim.rate_code.as_str()));
        assert_eq!((r.adults, r.children), (sim.adults, sim.children));
        let guest = hotel.guest(&sim.guest_id).unwrap();
        let g = r.guest.as_ref().unwrap();
        assert_eq!(g.last_name.as_deref(), Some(guest.last_name.as_str()));
        assert_eq!(g.email.as_deref(), Some(guest.email.as_str()));
    }
    // One call per kind of data: the reservations and each enrichment.
    assert_eq!(env.calls("reservations/getAll/2023-06-06"), 1);
    assert_eq!(env.calls("customers/getAll"), 1);
    assert_eq!(env.calls("resources/getAll"), 1);
    assert_eq!(env.calls("serviceOrderNotes/getAll"), 1);
    // Reference data is cached: a second read asks only for the changing data.
    adapter.in_house().await.unwrap();
    assert_eq!(env.calls("rates/getAll"), 1);
    assert_eq!(env.calls("resourceCategories/getAll"), 1);
    assert_eq!(env.calls("ageCategories/getAll"), 1);
    let req = env
        .captured("reservations/getAll/2023-06-06")
        .pop()
        .unwrap();
    assert_eq!(req["States"], serde_json::json!(["Started"]));
}

#[tokio::test]
async fn listings_follow_the_cursor_to_the_end() {
    let env = MewsEnv::default().await;
    env.store_own_credentials(HONOLULU).await;
    let adapter = env
        .adapter_with(&env.config(HONOLULU), None)
        .await
        .with_page_size(7);
    let hotel = env.hotel(HONOLULU);
    let now = Utc::now();
    let fetched = adapter
        .reservations_changed(ChangeWindow {
            from: now - Duration::days(10),
            to: now,
        })
        .await
        .unwrap();
    let got: HashSet<String> = fetched
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    let want: HashSet<String> = hotel.reservations.iter().map(|r| r.id.clone()).collect();
    assert_eq!(hotel.reservations.len(), 120);
    assert_eq!(got, want);
    // 120 reservations in pages of 7: 17 full pages and a short last one.
    assert_eq!(env.calls("reservations/getAll/2023-06-06"), 18);
    let pages = env.captured("reservations/getAll/2023-06-06");
    assert!(pages[0]["Limitation"].get("Cursor").is_none());
    for p in &pages[1..] {
        assert!(p["Limitation"]["Cursor"].is_string());
        assert_eq!(p["Limitation"]["Count"], 7);
    }
}

/// A sync that stops between pages stores the cursor as JSON and a later invocation (another
/// adapter instance) resumes from it: read that way, page by page, a seven-month delta (three
/// windows) and an arrivals range give exactly what the whole reads give.
#[tokio::test]
async fn a_listing_read_page_by_page_through_stored_cursors_equals_the_whole_read() {
    let env = MewsEnv::default().await;
    env.store_own_credentials(HONOLULU).await;
    let config = env.config(HONOLULU);
    let now = Utc::now();
    let today = config.time_zone.business_date(now);
    let reads = [
        ListRead::Changed {
            window: ChangeWindow {
                from: now - Duration::days(213),
                to: now,
            },
        },
        ListRead::ArrivalsBetween {
            from: today.add_days(-3),
            to: today.add_days(20),
        },
        ListRead::InHouse,
    ];
    for read in reads {
        let whole = adapter_with_pages(&env, &config, 1000).await;
        let whole = match read {
            ListRead::Changed { window } => whole.reservations_changed(window).await,
            ListRead::ArrivalsBetween { from, to } => whole.arrivals_between(from, to).await,
            ListRead::Departures { date } => whole.departures(date).await,
            ListRead::InHouse => whole.in_house().await,
        }
        .unwrap();
        let mut want: Vec<String> = ids(&whole.items);
        want.sort();
        assert!(!want.is_empty(), "{read:?}");

        let before = env.calls("reservations/getAll/2023-06-06");
        let mut stored: Option<String> = None;
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            // Each page from a new adapter, as a new invocation builds one.
            // Pages of 20 keep the test's requests under Mews' 200 per 30 s.
            let adapter = adapter_with_pages(&env, &config, 20).await;
            let cursor: Option<PageCursor> =
                stored.as_deref().map(|s| serde_json::from_str(s).unwrap());
            let page = adapter
                .reservations_page(&read, cursor.as_ref())
                .await
                .unwrap();
            assert!(page.fetched.failures.is_empty());
            got.extend(ids(&page.fetched.items));
            pages += 1;
            match page.next {
                Some(next) => stored = Some(serde_json::to_string(&next).unwrap()),
                None => break,
            }
            assert!(pages < 100, "{read:?}: the cursor does not end");
        }
        let asked = env.calls("reservations/getAll/2023-06-06") - before;
        assert_eq!(asked, pages, "one request per page");
        assert!(pages > 1, "{read:?}: pages of 20 take several requests");
        got.sort();
        let n = got.len();
        got.dedup();
        assert_eq!(n, got.len(), "{read:?}: a reservation came twice");
        assert_eq!(got, want, "{read:?}");
    }
    // A cursor of another shape is refused, never read as the first page.
    let adapter = adapter_with_pages(&env, &config, 7).await;
    let foreign = PageCursor(serde_json::json!({"offset": 200}));
    let err = adapter
        .reservations_page(&ListRead::InHouse, Some(&foreign))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PMS_REJECTED", "{err}");
}

async fn adapter_with_pages(
    env: &MewsEnv,
    config: &pms_domain::config::HotelConfig,
    n: u32,
) -> pms_mews::MewsAdapter {
    env.adapter_with(config, None).await.with_page_size(n)
}

fn ids(items: &[pms_domain::domain::Reservation]) -> Vec<String> {
    items.iter().map(|r| r.id.external().to_string()).collect()
}

#[tokio::test]
async fn a_seven_month_delta_is_asked_in_three_windows() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let to = Utc::now();
    let from = to - Duration::days(213);
    let changed = adapter
        .reservations_changed(ChangeWindow { from, to })
        .await
        .unwrap();
    assert_eq!(changed.items.len(), 120);
    let windows: Vec<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> = env
        .captured("reservations/getAll/2023-06-06")
        .iter()
        .map(|b| {
            (
                utc(b["UpdatedUtc"]["StartUtc"].as_str().unwrap()),
                utc(b["UpdatedUtc"]["EndUtc"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(windows.len(), 3, "{windows:?}");
    assert!(windows[0].0 <= from && windows[0].0 > from - Duration::seconds(1));
    assert!(windows[2].1 > to && windows[2].1 <= to + Duration::seconds(1));
    for w in windows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "windows are contiguous");
    }
    for (s, e) in &windows {
        assert!(*e <= s.checked_add_months(chrono::Months::new(3)).unwrap());
    }
}

#[tokio::test]
async fn a_batch_and_fifty_guests_take_two_customer_calls() {
    // The spec's limit of CustomerIds per call (1000) is the batch.
    let n = pms_mews::CUSTOMER_BATCH + 50;
    let mut config = mews_support::sim_config();
    config.size = SimSize {
        rooms: 40,
        reservations: 0,
        guests: (n + 50) as u32,
    };
    let env = MewsEnv::start(config).await;
    let adapter = env.adapter(HONOLULU).await;
    let today = Utc::now()
        .with_timezone(&chrono_tz::Pacific::Honolulu)
        .date_naive();
    env.with_hotel(HONOLULU, |h| {
        for i in 0..n {
            let r = reservation(
                h,
                &format!("{}", 500_000 + i),
                i,
                Some(i % 40),
                today - Duration::days(1),
                today + Duration::days(2),
                SimStatus::InHouse,
                Utc::now(),
            );
            h.reservations.push(r);
        }
    });
    let fetched = adapter.in_house().await.unwrap();
    assert_eq!(fetched.items.len(), n);
    let guests: HashSet<_> = fetched
        .items
        .iter()
        .map(|r| r.guest.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(guests.len(), n);
    assert!(fetched
        .items
        .iter()
        .all(|r| r.guest.as_ref().unwrap().last_name.is_some()));
    assert_eq!(env.calls("customers/getAll"), 2);
    let batches: Vec<usize> = env
        .captured("customers/getAll")
        .iter()
        .map(|b| b["CustomerIds"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [pms_mews::CUSTOMER_BATCH, 50]);
    // The rooms of all those reservations are one resources call.
    assert_eq!(env.calls("resources/getAll"), 1);
}

#[tokio::test]
async fn arrivals_and_departures_follow_local_days_in_honolulu_auckland_and_new_york() {
    let env = MewsEnv::default().await;
    let now = Utc::now();
    for (property, arrival, departure, start_utc, end_utc) in [
        // Honolulu (-10): the local day 2027-01-15 is 10:00Z to 10:00Z; 15:00 HST is 01:00Z on
        // the next UTC day.
        (
            HONOLULU,
            "2027-01-15",
            "2027-01-18",
            ("2027-01-15T10:00:00Z", "2027-01-16T10:00:00Z"),
            ("2027-01-18T10:00:00Z", "2027-01-19T10:00:00Z"),
        ),
        // Auckland: arrival in NZDT (+13), departure on the day NZ leaves daylight saving
        // (4 Apr 2027, 25 hours).
        (
            AUCKLAND,
            "2027-04-02",
            "2027-04-04",
            ("2027-04-01T11:00:00Z", "2027-04-02T11:00:00Z"),
            ("2027-04-03T11:00:00Z", "2027-04-04T12:00:00Z"),
        ),
        // New York: arrival on the spring-forward day (14 Mar 2027, 23 hours), departure on
        // the fall-back day (7 Nov 2027, 25 hours).
        (
            NEW_YORK,
            "2027-03-14",
            "2027-11-07",
            ("2027-03-14T05:00:00Z", "2027-03-15T04:00:00Z"),
            ("2027-11-07T04:00:00Z", "2027-11-08T05:00:00Z"),
        ),
    ] {
        let adapter = env.adapter(property).await;
        let (a, d) = (date(arrival), date(departure));
        let (arriving, departing) = env.with_hotel(property, |h| {
            let arriving = reservation(h, "700001", 0, Some(0), a, d, SimStatus::Confirmed, now);
            let mut departing = reservation(h, "700002", 1, Some(1), a, d, SimStatus::InHouse, now);
            departing.departure_time = NaiveTime::from_hms_opt(11, 30, 0).unwrap();
            h.reservations.push(arriving.clone());
            h.reservations.push(departing.clone());
            (arriving, departing)
        });
        env.sim
            .context
            .state::<pms_mews::sim::State>()
            .clear_captured();
        let arrivals = adapter.arrivals(BusinessDate::new(a)).await.unwrap().items;
        let ids: Vec<String> = arrivals
            .iter()
            .map(|r| r.id.external().to_string())
            .collect();
        assert!(ids.contains(&arriving.id), "{property}: {ids:?}");
        assert!(
            ids.contains(&departing.id),
            "started reservations are arrivals too"
        );
        let r = arrivals
            .iter()
            .find(|r| r.id.external().as_str() == arriving.id)
            .unwrap();
        assert_eq!(r.arrival.naive(), a);
        assert_eq!(r.expected_arrival_time.unwrap().to_string(), "15:00:00");
        let req = env.captured("reservations/getAll/2023-06-06").remove(0);
        assert_eq!(
            req["ScheduledStartUtc"]["StartUtc"], start_utc.0,
            "{property}"
        );
        assert_eq!(
            req["ScheduledStartUtc"]["EndUtc"], start_utc.1,
            "{property}"
        );
        assert_eq!(
            req["States"],
            serde_json::json!(["Confirmed", "Optional", "Started"])
        );

        env.sim
            .context
            .state::<pms_mews::sim::State>()
            .clear_captured();
        let departures = adapter
            .departures(BusinessDate::new(d))
            .await
            .unwrap()
            .items;
        let ids: Vec<String> = departures
            .iter()
            .map(|r| r.id.external().to_string())
            .collect();
        assert!(ids.contains(&departing.id), "{property}: {ids:?}");
        assert!(
            !ids.contains(&arriving.id),
            "not checked in: not a departure"
        );
        let r = departures
            .iter()
            .find(|r| r.id.external().as_str() == departing.id)
            .unwrap();
        assert_eq!(r.departure.naive(), d);
        assert_eq!(r.expected_departure_time.unwrap().to_string(), "11:30:00");
        let req = env.captured("reservations/getAll/2023-06-06").remove(0);
        assert_eq!(req["ScheduledEndUtc"]["StartUtc"], end_utc.0, "{property}");
        assert_eq!(req["ScheduledEndUtc"]["EndUtc"], end_utc.1, "{property}");
    }
}

#[tokio::test]
async fn reads_by_confirmation_id_and_guest() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let hotel = env.hotel(HONOLULU);
    let sim = &hotel.reservations[3];
    let r = adapter
        .get_reservation(&conf(&sim.confirmation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.id.external().as_str(), sim.id);
    let by_id = adapter
        .get_reservation_by_id(&ExternalId::parse(sim.id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id, r);
    assert!(adapter
        .get_reservation(&conf("nope-1"))
        .await
        .unwrap()
        .is_none());
    let req = env.captured("reservations/getAll/2023-06-06");
    assert_eq!(req[0]["Numbers"], serde_json::json!([sim.confirmation]));
    assert_eq!(req[0]["Limitation"]["Count"], 1);

    let guest = hotel.guest(&sim.guest_id).unwrap();
    let g = adapter
        .get_guest(&ExternalId::parse(guest.id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.email.as_deref(), Some(guest.email.as_str()));
    assert_eq!(g.vip, guest.vip);
    let by_email = adapter
        .search_guests(&GuestQuery {
            email: Some(guest.email.to_uppercase()),
            ..GuestQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_email.len(), 1);
    assert_eq!(by_email[0].id, g.id);
    let by_name = adapter
        .search_guests(&GuestQuery {
            name: Some(format!("{} {}", guest.first_name, guest.last_name)),
            ..GuestQuery::default()
        })
        .await
        .unwrap();
    assert!(by_name.iter().any(|x| x.id == g.id));
    assert!(by_name.iter().all(|x| x
        .full_name()
        .to_lowercase()
        .contains(&guest.first_name.to_lowercase())));
    let err = adapter
        .search_guests(&GuestQuery {
            phone: Some(guest.phone.clone()),
            ..GuestQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UNSUPPORTED");
}

#[tokio::test]
async fn room_statuses_with_occupancy_from_started_reservations() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let hotel = env.hotel(HONOLULU);
    let rooms = adapter.room_statuses().await.unwrap();
    assert_eq!(rooms.len(), hotel.rooms.len());
    let occupied: HashSet<&str> = hotel
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::InHouse)
        .filter_map(|r| r.room_id.as_deref())
        .collect();
    for room in &hotel.rooms {
        let s = rooms
            .iter()
            .find(|s| s.room_number.as_str() == room.number)
            .unwrap();
        let want = if occupied.contains(room.id.as_str()) {
            Occupancy::Occupied
        } else {
            Occupancy::Vacant
        };
        assert_eq!(s.occupancy, want, "room {}", room.number);
        assert_eq!(s.floor.as_deref(), Some(room.floor.to_string().as_str()));
        assert_ne!(s.housekeeping, Housekeeping::Unknown);
    }
    let one = adapter
        .room_status(&RoomNumber::parse(hotel.rooms[5].number.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.room_number.as_str(), hotel.rooms[5].number);
    let by_id = adapter
        .room_status_by_id(&ExternalId::parse(hotel.rooms[5].id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id, one);
    assert!(adapter
        .room_status(&RoomNumber::parse("999").unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn fetch_entities_batches_ids_by_kind() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let hotel = env.hotel(HONOLULU);
    let mut refs = Vec::new();
    for r in hotel.reservations.iter().take(30) {
        refs.push(EntityRef {
            kind: EntityKind::Reservation,
            id: ExternalId::parse(r.id.as_str()).unwrap(),
        });
    }
    for g in hotel.guests.iter().take(20) {
        refs.push(EntityRef {
            kind: EntityKind::Guest,
            id: ExternalId::parse(g.id.as_str()).unwrap(),
        });
    }
    for room in hotel.rooms.iter().take(10) {
        refs.push(EntityRef {
            kind: EntityKind::Room,
            id: ExternalId::parse(room.id.as_str()).unwrap(),
        });
    }
    let gone = EntityRef {
        kind: EntityKind::Reservation,
        id: ExternalId::parse("00000000-0000-4000-8000-000000000000").unwrap(),
    };
    refs.push(gone.clone());
    refs.push(refs[0].clone());
    let results = adapter.fetch_entities(&refs).await;
    assert_eq!(results.len(), 61, "one result per distinct reference");
    for (r, result) in &results {
        let got = result.as_ref().unwrap();
        match (r.kind, got) {
            (_, Refreshed::Gone) => assert_eq!(r, &gone),
            (EntityKind::Reservation, Refreshed::Reservation(x)) => {
                assert_eq!(x.id.external(), &r.id)
            }
            (EntityKind::Guest, Refreshed::Guest(x)) => assert_eq!(x.id.external(), &r.id),
            (EntityKind::Room, Refreshed::Room(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // 31 reservation ids: one call; their enrichment plus 20 guests: two customer calls.
    let reservation_calls = env.captured("reservations/getAll/2023-06-06");
    assert_eq!(
        reservation_calls
            .iter()
            .filter(|b| b.get("ReservationIds").is_some())
            .count(),
        1
    );
    assert_eq!(env.calls("customers/getAll"), 2);
}

#[tokio::test]
async fn a_note_appears_on_the_reservation() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let sim = env.hotel(HONOLULU).reservations[0].clone();
    let receipt = adapter
        .add_reservation_note(
            &conf(&sim.confirmation),
            &Note {
                text: "Allergic to feathers".into(),
                title: Some("Housekeeping".into()),
                internal: true,
            },
        )
        .await
        .unwrap();
    assert!(receipt.vendor_id.is_some() && receipt.request_id.is_some());
    let after = env.hotel(HONOLULU).reservation(&sim.id).unwrap().clone();
    assert_eq!(after.notes, ["Housekeeping: Allergic to feathers"]);
    assert!(after.updated_at > sim.updated_at);
    let r = adapter
        .get_reservation(&conf(&sim.confirmation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.notes, ["Housekeeping: Allergic to feathers"]);
    assert!(r.version > 0);
    let body = env.captured("serviceOrderNotes/add").pop().unwrap();
    assert_eq!(body["ServiceOrderNotes"][0]["ServiceOrderId"], sim.id);
}

#[tokio::test]
async fn a_charge_changes_the_balance_and_is_found_by_reference() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let sim = env
        .hotel(HONOLULU)
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let c = conf(&sim.confirmation);
    let before = adapter.get_balance(&c).await.unwrap();
    let expected = env.hotel(HONOLULU).balance_minor(&sim.id).unwrap();
    assert_eq!(before.amount_minor, expected);
    assert!(adapter.find_charge(&c, "op-42").await.unwrap().is_none());
    let charge = Charge {
        amount: Money::new(2550, Currency::usd()),
        description: "Minibar".into(),
        revenue_center: None,
        reference: "op-42".into(),
    };
    let receipt = adapter.post_charge(&c, &charge).await.unwrap();
    let order_id = receipt.vendor_id.clone().unwrap();
    assert_eq!(
        env.sim.context.counters()[&pms_mews::PROVIDER].charges_posted,
        1
    );
    let after = adapter.get_balance(&c).await.unwrap();
    assert_eq!(after.amount_minor - before.amount_minor, 2550);
    let found = adapter.find_charge(&c, "op-42").await.unwrap().unwrap();
    assert_eq!(found.vendor_id.as_deref(), Some(order_id.as_str()));
    assert!(adapter.find_charge(&c, "op-43").await.unwrap().is_none());
    let body = env.captured("orders/add").pop().unwrap();
    assert_eq!(
        body["ServiceId"],
        env.property(HONOLULU).credentials["serviceId"]
    );
    assert_eq!(body["AccountId"], sim.guest_id);
    assert_eq!(body["LinkedReservationId"], sim.id);
    let item = &body["Items"][0];
    assert_eq!(item["Name"], "Minibar");
    assert_eq!(item["UnitCount"], 1);
    assert_eq!(item["UnitAmount"]["GrossValue"], 25.5);
    assert_eq!(item["UnitAmount"]["Currency"], "USD");
    assert_eq!(
        item["UnitAmount"]["TaxCodes"],
        serde_json::json!(["US-HI-G"])
    );
    assert_eq!(
        item["AccountingCategoryId"],
        "90eff5aa-36b4-4689-80c0-ab3a00bb412e"
    );
    assert_eq!(item["ExternalIdentifier"], "op-42");
    assert!(body["Notes"].as_str().unwrap().contains("[ref op-42]"));
    // Payments reduce the balance.
    env.with_hotel(HONOLULU, |h| {
        h.reservation_mut(&sim.id).unwrap().payments_minor = 10_000
    });
    let paid = adapter.get_balance(&c).await.unwrap();
    assert_eq!(paid.amount_minor, after.amount_minor - 10_000);
}

#[tokio::test]
async fn a_checkout_change_moves_the_departure_in_local_time() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let now = Utc::now();
    let sim = env.with_hotel(HONOLULU, |h| {
        let r = reservation(
            h,
            "800001",
            2,
            Some(2),
            date("2027-01-10"),
            date("2027-01-12"),
            SimStatus::InHouse,
            now,
        );
        h.reservations.push(r.clone());
        r
    });
    let c = conf(&sim.confirmation);
    adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: BusinessDate::parse("2027-01-13").unwrap(),
                time: Some(NaiveTime::from_hms_opt(13, 0, 0).unwrap()),
            },
        )
        .await
        .unwrap();
    let body = env.captured("reservations/updateInterval").pop().unwrap();
    // 13:00 HST is 23:00Z the same day.
    assert_eq!(body["EndUtc"], "2027-01-13T23:00:00Z");
    assert_eq!(body["ChargeCancellationFee"], false);
    assert!(body.get("StartUtc").is_none());
    let after = env.hotel(HONOLULU).reservation(&sim.id).unwrap().clone();
    assert_eq!(after.departure, date("2027-01-13"));
    assert_eq!(
        after.departure_time,
        NaiveTime::from_hms_opt(13, 0, 0).unwrap()
    );
    let r = adapter.get_reservation(&c).await.unwrap().unwrap();
    assert_eq!(r.departure.to_string(), "2027-01-13");
    // Without a time, the current local departure time is kept.
    adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: BusinessDate::parse("2027-01-14").unwrap(),
                time: None,
            },
        )
        .await
        .unwrap();
    let body = env.captured("reservations/updateInterval").pop().unwrap();
    assert_eq!(body["EndUtc"], "2027-01-14T23:00:00Z");
    // Before the arrival: refused here, never sent.
    let err = adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: BusinessDate::parse("2027-01-09").unwrap(),
                time: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PMS_REJECTED");
    assert_eq!(env.calls("reservations/updateInterval"), 2);
}

#[tokio::test]
async fn preferences_round_trip_through_mews_fields_and_notes() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    // A guest of the enterprise: one with a stay there (customers are the chain's).
    let hotel = env.hotel(HONOLULU);
    let guest = hotel
        .guests
        .iter()
        .find(|g| !g.vip && hotel.reservations.iter().any(|r| r.guest_id == g.id))
        .unwrap()
        .clone();
    env.with_hotel(HONOLULU, |h| {
        h.guest_mut(&guest.id).unwrap().notes = "Prefers the lake side.".into()
    });
    let id = ExternalId::parse(guest.id.as_str()).unwrap();
    let pref = |c: &str, k: &str, v: &str| Preference {
        category: c.into(),
        key: k.into(),
        value: v.into(),
        source: PreferenceSource::Partner,
    };
    adapter
        .update_guest_preferences(
            &id,
            &[
                pref("Classifications", "VeryImportant", ""),
                pref("Options", "SendMarketingEmails", ""),
                pref("DietaryRequirements", "diet", "Vegan"),
                pref("ROOM", "HIGH_FLOOR", "requested"),
                pref("PreferredSpaceFeatures", "OceanView", ""),
            ],
        )
        .await
        .unwrap();
    let body = env.captured("customers/update").pop().unwrap();
    assert_eq!(body["CustomerId"], guest.id);
    assert!(body["Classifications"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("VeryImportant")));
    assert_eq!(body["DietaryRequirements"], "Vegan");
    let notes = body["Notes"].as_str().unwrap();
    assert!(notes.starts_with("Prefers the lake side."), "{notes}");
    let g = adapter.get_guest(&id).await.unwrap().unwrap();
    assert!(g.vip, "VeryImportant makes a VIP");
    let has = |c: &str, k: &str| g.preferences.iter().any(|p| p.category == c && p.key == k);
    assert!(has("Classifications", "VeryImportant"));
    assert!(has("Options", "SendMarketingEmails"));
    assert!(has("DietaryRequirements", "DietaryRequirements"));
    assert!(has("ROOM", "HIGH_FLOOR"));
    assert!(has("PreferredSpaceFeatures", "OceanView"));
    // Staff text survived, and a second write replaces our line rather than adding one.
    adapter
        .update_guest_preferences(&id, &[pref("ROOM", "HIGH_FLOOR", "top floor")])
        .await
        .unwrap();
    let sim = env.hotel(HONOLULU).guest(&guest.id).unwrap().clone();
    assert!(sim.notes.starts_with("Prefers the lake side."));
    assert_eq!(sim.notes.matches("HIGH_FLOOR").count(), 1);
    assert!(sim.notes.contains("top floor"));
    // Asking again for what Mews already holds sends nothing.
    let updates = env.calls("customers/update");
    adapter
        .update_guest_preferences(&id, &[pref("Classifications", "VeryImportant", "")])
        .await
        .unwrap();
    assert_eq!(env.calls("customers/update"), updates);
    let err = adapter
        .update_guest_preferences(&id, &[pref("Classifications", "Royalty", "")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PMS_REJECTED");
}

#[tokio::test]
async fn business_dates_use_the_configured_zone_not_utc() {
    // The same UTC instants read by hotels in different zones.
    let honolulu = PropertyTz::parse("Pacific/Honolulu").unwrap();
    let at = utc("2027-01-16T01:00:00Z");
    assert_eq!(honolulu.business_date(at).to_string(), "2027-01-15");
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let now = Utc::now();
    let r = env.with_hotel(HONOLULU, |h| {
        let r = reservation(
            h,
            "900001",
            3,
            Some(3),
            date("2027-01-15"),
            date("2027-01-16"),
            SimStatus::Confirmed,
            now,
        );
        h.reservations.push(r.clone());
        r
    });
    let got = adapter
        .get_reservation(&conf(&r.confirmation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.arrival.to_string(), "2027-01-15");
    let wire = env.captured("reservations/getAll/2023-06-06");
    assert!(!wire.is_empty());
    // The simulator serves 15:00 HST as 01:00Z on the next UTC day.
    let served = env.with_hotel(HONOLULU, |h| {
        let tz = h.time_zone;
        chrono::TimeZone::from_local_datetime(&tz, &r.arrival.and_time(r.arrival_time))
            .single()
            .unwrap()
            .with_timezone(&Utc)
    });
    assert_eq!(served, at);
}

/// Availability over the DST changes of New York and Auckland: one request per range, the
/// time units are the local midnights (the simulator refuses any other instant), and every
/// night's figure is the simulated hotel's own count of its rooms and stays.
#[tokio::test]
async fn availability_follows_local_nights_and_the_simulated_rooms() {
    let env = MewsEnv::default().await;
    for (property, from, to) in [
        (NEW_YORK, "2027-03-12", "2027-03-16"),
        (NEW_YORK, "2027-11-05", "2027-11-09"),
        (AUCKLAND, "2027-04-02", "2027-04-06"),
        (HONOLULU, "2027-01-15", "2027-02-14"),
    ] {
        let adapter = env.adapter(property).await;
        let (from, to) = (BusinessDate::new(date(from)), BusinessDate::new(date(to)));
        let before = env.sim.context.counters()[&pms_mews::PROVIDER]
            .calls
            .get("services/getAvailability/2024-01-22")
            .copied()
            .unwrap_or(0);
        let nights = adapter.availability(from, to).await.unwrap();
        let after = env.sim.context.counters()[&pms_mews::PROVIDER].calls
            ["services/getAvailability/2024-01-22"];
        assert_eq!(after - before, 1, "one request for the range");
        let hotel = env.hotel(property);
        let mut d = from;
        while d <= to {
            let counts = hotel.night(d.naive());
            let of_night: Vec<_> = nights.iter().filter(|n| n.date == d).collect();
            assert!(!of_night.is_empty(), "{property} {d}: no night");
            for n in of_night {
                let c = counts
                    .get(n.room_type.as_str())
                    .copied()
                    .unwrap_or_default();
                assert_eq!(n.available, c.available(), "{property} {d} {}", n.room_type);
                assert_eq!(n.total, Some(c.total), "{property} {d} {}", n.room_type);
                assert_eq!(n.out_of_order, Some(c.out_of_order));
                assert_eq!(n.provider, pms_mews::PROVIDER);
            }
            d = d.add_days(1);
        }
        assert!(nights.iter().all(|n| n.date >= from && n.date <= to));
    }
    // Beyond 367 nights is refused before any request.
    let adapter = env.adapter(HONOLULU).await;
    let from = BusinessDate::new(date("2027-01-01"));
    let e = adapter
        .availability(from, from.add_days(367))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PMS_REJECTED");
}
