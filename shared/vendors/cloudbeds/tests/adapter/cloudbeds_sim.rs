//! The Cloudbeds adapter against the simulator over HTTP: reads map the simulated hotel, lists
//! page until `total`, writes change the hotel, and what Cloudbeds cannot do is refused.

use crate::cloudbeds_support;

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use cloudbeds_support::*;
use pms_domain::domain::{
    BusinessDate, Charge, CheckoutChange, ConfirmationNumber, ExternalId, GuestQuery, Housekeeping,
    Money, Note, Occupancy, Preference, PreferenceSource, ReservationStatus, RoomNumber,
};
use pms_domain::pms::{ChangeWindow, ListRead, PageCursor, PmsError};
use pms_sim::{SimConfig, SimSize, SimStatus};

fn conf(id: &str) -> ConfirmationNumber {
    ConfirmationNumber::parse(id).unwrap()
}

#[tokio::test]
async fn reads_map_the_simulated_hotel() {
    let (sim, config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let today = config.time_zone.business_date(Utc::now());

    let in_house = adapter.in_house().await.unwrap();
    assert!(in_house.failures.is_empty(), "{:?}", in_house.failures);
    let want: BTreeSet<String> = hotel
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::InHouse)
        .map(|r| r.id.clone())
        .collect();
    let got: BTreeSet<String> = in_house
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert!(in_house
        .items
        .iter()
        .all(|r| r.status == ReservationStatus::CheckedIn && r.raw_status == "checked_in"));

    let arrivals = adapter.arrivals(today).await.unwrap();
    let want: BTreeSet<String> = hotel
        .reservations
        .iter()
        .filter(|r| {
            BusinessDate::new(r.arrival) == today
                && matches!(r.status, SimStatus::Confirmed | SimStatus::InHouse)
        })
        .map(|r| r.id.clone())
        .collect();
    let got: BTreeSet<String> = arrivals
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert_eq!(got, want);

    let departures = adapter.departures(today).await.unwrap();
    let want: BTreeSet<String> = hotel
        .reservations
        .iter()
        .filter(|r| {
            BusinessDate::new(r.departure) == today
                && matches!(r.status, SimStatus::InHouse | SimStatus::CheckedOut)
        })
        .map(|r| r.id.clone())
        .collect();
    let got: BTreeSet<String> = departures
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert_eq!(got, want);

    // The detail read of a reservation equals its list row merged over it (a sync and a webhook
    // refresh agree), carries what rows lack, and its balance is the hotel's.
    for listed in in_house.items.iter().take(3) {
        let detail = adapter
            .get_reservation(&listed.confirmation_number)
            .await
            .unwrap()
            .expect("listed reservation exists");
        let mut merged = listed.clone();
        merged.keep_uncarried(&detail);
        assert_eq!(detail, merged);
        assert!(detail.total.is_some() && detail.expected_arrival_time.is_some());
        let sim_r = hotel.reservation(listed.id.external().as_str()).unwrap();
        let room = hotel.room(sim_r.room_id.as_deref().unwrap()).unwrap();
        assert_eq!(detail.room_number.as_ref().unwrap().as_str(), room.number);
        assert_eq!(detail.arrival, BusinessDate::new(sim_r.arrival));
        assert_eq!(detail.departure, BusinessDate::new(sim_r.departure));
        let guest = hotel.guest(&sim_r.guest_id).unwrap();
        assert_eq!(
            detail.guest.as_ref().unwrap().email.as_deref(),
            Some(guest.email.as_str())
        );
        let balance = adapter
            .get_balance(&listed.confirmation_number)
            .await
            .unwrap();
        assert_eq!(
            balance.amount_minor,
            hotel.balance_minor(&sim_r.id).unwrap()
        );
        assert_eq!(detail.balance, Some(balance));
    }
    assert_eq!(counters(&sim).await.rate_limit_violations, 0);
    sim.stop().await;
}

/// A month of availability in one `getRatePlans` request, each night and room type as the
/// simulated hotel counts its rooms and stays.
#[tokio::test]
async fn availability_is_the_simulated_hotels_count_per_night() {
    let (sim, config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let today = config.time_zone.business_date(Utc::now());
    let before = calls(&sim, "getRatePlans").await;
    let nights = adapter
        .availability(today, today.add_days(30))
        .await
        .unwrap();
    assert_eq!(calls(&sim, "getRatePlans").await - before, 1);
    let types: BTreeSet<&str> = hotel.rooms.iter().map(|r| r.room_type.as_str()).collect();
    assert_eq!(nights.len(), 31 * types.len());
    for n in &nights {
        let c = hotel.night(n.date.naive())[n.room_type.as_str()];
        assert_eq!(n.available, c.available(), "{} {}", n.date, n.room_type);
        assert_eq!(n.provider, pms_cloudbeds::PROVIDER);
    }
    assert!(nights.iter().any(|n| n.available > 0));
    sim.stop().await;
}

#[tokio::test]
async fn lists_page_until_total() {
    let sc = SimConfig {
        size: SimSize {
            rooms: 40,
            reservations: 250,
            guests: 80,
        },
        ..pms_sim::default_config()
    };
    let sim = simulator(sc).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, API_KEY).await;
    // Every reservation was modified within the last days: one window reads them all.
    let window = ChangeWindow {
        from: Utc::now() - Duration::days(30),
        to: Utc::now() + Duration::minutes(1),
    };
    let changed = adapter.reservations_changed(window).await.unwrap();
    assert!(changed.failures.is_empty());
    let ids: BTreeSet<_> = changed.items.iter().map(|r| r.id.clone()).collect();
    assert_eq!(changed.items.len(), 250);
    assert_eq!(ids.len(), 250, "no record is read twice");
    // The delta's list carries what `getReservations` rows lack.
    assert!(changed
        .items
        .iter()
        .all(|r| r.total.is_some() && r.expected_arrival_time.is_some()));
    // 250 at 100 a page: three pages, and not one more.
    assert_eq!(calls(&sim, "getReservationsWithRateDetails").await, 3);
    assert_eq!(calls(&sim, "getReservations").await, 0);
    assert_eq!(counters(&sim).await.rate_limit_violations, 0);
    sim.stop().await;
}

/// Arrivals are the one read only `getReservations` can filter (by check-in date), and its rows
/// lack `total` and `estimatedArrivalTime`: with nothing stored, every row is read again from
/// `getReservationsWithRateDetails` by id, one request per page of rows, and the records carry
/// every field, as `getReservation` gives it.
#[tokio::test]
async fn arrival_rows_are_completed_by_one_rate_details_read_per_page() {
    let sc = SimConfig {
        size: SimSize {
            rooms: 40,
            reservations: 250,
            guests: 80,
        },
        ..pms_sim::default_config()
    };
    let sim = simulator(sc).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, API_KEY).await;
    let today = config.time_zone.business_date(Utc::now());
    let (rows_before, rated_before) = (
        calls(&sim, "getReservations").await,
        calls(&sim, "getReservationsWithRateDetails").await,
    );
    let arrivals = adapter
        .arrivals_between(today.add_days(-400), today.add_days(400))
        .await
        .unwrap();
    assert!(arrivals.failures.is_empty(), "{:?}", arrivals.failures);
    assert!(arrivals.items.len() > 100, "more than a page");
    let pages = calls(&sim, "getReservations").await - rows_before;
    assert_eq!(
        calls(&sim, "getReservationsWithRateDetails").await - rated_before,
        pages,
        "one rate-details read per page of rows"
    );
    for r in arrivals.items.iter().take(5) {
        assert!(r.not_carried.0.is_empty(), "{r:?}");
        let detail = adapter
            .get_reservation(&r.confirmation_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&detail, r);
        assert!(r.total.is_some() && r.expected_arrival_time.is_some());
    }
    assert_eq!(counters(&sim).await.rate_limit_violations, 0);
    sim.stop().await;
}

/// A sync that stops between pages stores the cursor as JSON; a new adapter (a later
/// invocation) resumes from it, and the pages together are the whole list.
#[tokio::test]
async fn a_list_read_page_by_page_through_stored_cursors_equals_the_whole_read() {
    let sc = SimConfig {
        size: SimSize {
            rooms: 40,
            reservations: 250,
            guests: 80,
        },
        ..pms_sim::default_config()
    };
    let sim = simulator(sc).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let read = ListRead::Changed {
        window: ChangeWindow {
            from: Utc::now() - Duration::days(30),
            to: Utc::now() + Duration::minutes(1),
        },
    };
    let whole = adapter_for(&config, API_KEY).await;
    let ListRead::Changed { window } = read else {
        unreachable!()
    };
    let want: BTreeSet<String> = whole
        .reservations_changed(window)
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(want.len(), 250);
    let before = calls(&sim, "getReservationsWithRateDetails").await;
    let (mut got, mut stored, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let adapter = adapter_for(&config, API_KEY).await;
        let cursor: Option<PageCursor> =
            stored.as_deref().map(|s| serde_json::from_str(s).unwrap());
        let page = adapter
            .reservations_page(&read, cursor.as_ref())
            .await
            .unwrap();
        got.extend(page.fetched.items.iter().map(|r| r.id.to_string()));
        pages += 1;
        match page.next {
            Some(next) => stored = Some(serde_json::to_string(&next).unwrap()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not end");
    }
    // 250 at 100 a page: three pages, one request each, and not one more.
    assert_eq!(pages, 3);
    assert_eq!(
        calls(&sim, "getReservationsWithRateDetails").await - before,
        3
    );
    assert_eq!(got.len(), 250, "no record is read twice");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    // A cursor of another vendor's shape is refused.
    let adapter = adapter_for(&config, API_KEY).await;
    let foreign = PageCursor(serde_json::json!({"window": 0, "cursor": "abc"}));
    let err = adapter
        .reservations_page(&ListRead::InHouse, Some(&foreign))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PMS_REJECTED", "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn guests_are_read_and_searched() {
    let (sim, _config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    // Cloudbeds lists guests through their reservations.
    let r = &hotel.reservations[0];
    let g = hotel.guest(&r.guest_id).unwrap();

    let got = adapter
        .get_guest(&ExternalId::parse(&g.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id.to_string(), format!("cloudbeds:{}", g.id));
    assert_eq!(got.first_name.as_deref(), Some(g.first_name.as_str()));
    assert_eq!(got.email.as_deref(), Some(g.email.as_str()));
    assert_eq!(got.phone.as_deref(), Some(g.phone.as_str()));
    assert!(adapter
        .get_guest(&ExternalId::parse("999999999").unwrap())
        .await
        .unwrap()
        .is_none());

    let by_email = adapter
        .search_guests(&GuestQuery {
            email: Some(g.email.to_uppercase()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_email.len(), 1);
    assert_eq!(by_email[0].id, got.id);

    let by_name = adapter
        .search_guests(&GuestQuery {
            name: Some(g.last_name.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_name.iter().any(|x| x.id == got.id));
    assert!(by_name
        .iter()
        .all(|x| x.last_name.as_deref() == Some(g.last_name.as_str())
            || x.first_name.as_deref() == Some(g.last_name.as_str())));

    let by_phone = adapter
        .search_guests(&GuestQuery {
            phone: Some(g.phone.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_phone.len(), 1);
    assert_eq!(by_phone[0].id, got.id);

    let nobody = adapter
        .search_guests(&GuestQuery {
            email: Some("nobody@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(nobody.is_empty(), "an empty map `[]` is an empty result");
    sim.stop().await;
}

#[tokio::test]
async fn rooms_keep_occupancy_and_cleanliness_apart() {
    let (sim, _config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let rooms = adapter.room_statuses().await.unwrap();
    assert_eq!(rooms.len(), hotel.rooms.len());
    for sim_room in &hotel.rooms {
        let r = rooms
            .iter()
            .find(|r| r.room_number.as_str() == sim_room.number)
            .unwrap();
        let occupancy = if sim_room.occupied {
            Occupancy::Occupied
        } else {
            Occupancy::Vacant
        };
        assert_eq!(r.occupancy, occupancy, "room {}", sim_room.number);
        let expected = match sim_room.housekeeping {
            pms_sim::data::SimHousekeeping::Clean => Housekeeping::Clean,
            pms_sim::data::SimHousekeeping::Dirty => Housekeeping::Dirty,
            pms_sim::data::SimHousekeeping::Inspected => Housekeeping::Inspected,
            pms_sim::data::SimHousekeeping::Pickup if !sim_room.occupied => Housekeeping::Pickup,
            // Cloudbeds has pickup only for vacant rooms; an occupied one reads dirty.
            pms_sim::data::SimHousekeeping::Pickup => Housekeeping::Dirty,
            _ => Housekeeping::OutOfOrder,
        };
        assert_eq!(r.housekeeping, expected, "room {}", sim_room.number);
    }
    let one = &hotel.rooms[3];
    let by_number = adapter
        .room_status(&RoomNumber::parse(&one.number).unwrap())
        .await
        .unwrap()
        .unwrap();
    let by_id = adapter
        .room_status_by_id(&ExternalId::parse(&one.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_number, by_id);
    assert_eq!(by_number.room_number.as_str(), one.number);
    assert!(adapter
        .room_status(&RoomNumber::parse("9999").unwrap())
        .await
        .unwrap()
        .is_none());
    sim.stop().await;
}

#[tokio::test]
async fn writes_change_the_hotel() {
    let (sim, config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let r = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let c = conf(&r.id);

    // A note appears, and the reservation's dateModified moves (the delta sees it).
    let before = Utc::now() - Duration::seconds(1);
    let receipt = adapter
        .add_reservation_note(
            &c,
            &Note {
                text: "Allergic to feathers".into(),
                title: Some("Housekeeping".into()),
                internal: true,
            },
        )
        .await
        .unwrap();
    assert!(receipt.vendor_id.is_some());
    assert!(receipt.request_id.is_some());
    let after = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    assert_eq!(
        after.reservation(&r.id).unwrap().notes,
        ["Housekeeping: Allergic to feathers"]
    );
    let changed = adapter
        .reservations_changed(ChangeWindow {
            from: before,
            to: Utc::now() + Duration::seconds(1),
        })
        .await
        .unwrap();
    assert!(changed
        .items
        .iter()
        .any(|x| x.id.external().as_str() == r.id));

    // A charge changes the balance and is counted; the same referenceID again creates nothing.
    let balance = adapter.get_balance(&c).await.unwrap();
    let charge = Charge {
        amount: Money::new(2450, config.currency),
        description: "Minibar".into(),
        revenue_center: None,
        reference: "op-7f3a".into(),
    };
    let first = adapter.post_charge(&c, &charge).await.unwrap();
    assert_eq!(
        adapter.get_balance(&c).await.unwrap().amount_minor,
        balance.amount_minor + 2450
    );
    assert_eq!(counters(&sim).await.charges_posted, 1);
    let again = adapter.post_charge(&c, &charge).await.unwrap();
    assert_eq!(
        again.vendor_id, first.vendor_id,
        "the original posting is named"
    );
    // And said to have existed: whether it is ours is the writer's to decide.
    assert!(!first.existed && again.existed);
    assert_eq!(counters(&sim).await.charges_posted, 1);
    assert_eq!(
        adapter.get_balance(&c).await.unwrap().amount_minor,
        balance.amount_minor + 2450
    );
    let posted = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let charges: Vec<_> = posted.charges_of(&r.id).collect();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].reference.as_deref(), Some("op-7f3a"));
    assert_eq!(charges[0].description, "Minibar");
    // No category on the charge: the hotel's default revenue center is the item category.
    assert_eq!(charges[0].revenue_center.as_deref(), Some("Guest services"));

    // The checkout date moves.
    let new_departure = BusinessDate::new(r.departure).add_days(1);
    adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: new_departure,
                time: None,
            },
        )
        .await
        .unwrap();
    let moved = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    assert_eq!(
        BusinessDate::new(moved.reservation(&r.id).unwrap().departure),
        new_departure
    );
    assert_eq!(
        adapter
            .get_reservation(&c)
            .await
            .unwrap()
            .unwrap()
            .departure,
        new_departure
    );

    // A checkout time cannot be set in Cloudbeds: refused before any call.
    let puts = calls(&sim, "putReservation").await;
    let made = adapter.calls_made();
    let err = adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: new_departure,
                time: chrono::NaiveTime::from_hms_opt(14, 0, 0),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PmsError::Unsupported {
                operation: "update_checkout_time",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(calls(&sim, "putReservation").await, puts);
    assert_eq!(adapter.calls_made(), made);
    assert!(!adapter.capabilities().checkout_time);
    assert_eq!(counters(&sim).await.rate_limit_violations, 0);
    sim.stop().await;
}

#[tokio::test]
async fn business_errors_on_http_200_are_typed() {
    let (sim, config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let missing = conf("123");

    // "No such record" reads are `None`, after exactly one call.
    assert!(adapter.get_reservation(&missing).await.unwrap().is_none());
    assert_eq!(calls(&sim, "getReservation").await, 1);
    let err = adapter.get_balance(&missing).await.unwrap_err();
    assert!(matches!(err, PmsError::NotFound { .. }), "{err:?}");

    // A write to a missing reservation is NotFound, with the request id, at once.
    let err = adapter
        .add_reservation_note(
            &missing,
            &Note {
                text: "x".into(),
                title: None,
                internal: false,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::NotFound { .. }), "{err:?}");
    assert!(err.request_id().is_some());
    assert!(err.to_string().contains("reservation 123"), "{err}");

    // A rejected write carries Cloudbeds' message and request id, and is not retried.
    let r = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::Confirmed)
        .unwrap();
    let before = calls(&sim, "putReservation").await;
    let err = adapter
        .update_checkout(
            &conf(&r.id),
            &CheckoutChange {
                date: BusinessDate::new(r.arrival),
                time: None,
            },
        )
        .await
        .unwrap_err();
    match &err {
        PmsError::InvalidRequest {
            message,
            status,
            request_id,
        } => {
            assert_eq!(message, "checkoutDate must be after the check-in date");
            assert_eq!(*status, Some(200));
            assert!(request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(calls(&sim, "putReservation").await, before + 1);

    // A charge in another currency never reaches Cloudbeds.
    let err = adapter
        .post_charge(
            &conf(&r.id),
            &Charge {
                amount: Money::new(100, pms_domain::domain::Currency::eur()),
                description: "Spa".into(),
                revenue_center: None,
                reference: "op-eur".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::InvalidRequest { .. }));
    assert_eq!(calls(&sim, "postCustomItem").await, 0);
    let _ = config;

    // What Cloudbeds cannot do is said, not faked.
    let caps = adapter.capabilities();
    assert!(!caps.update_preferences && !caps.find_charge_by_reference);
    assert!(caps.native_charge_idempotency);
    let err = adapter
        .update_guest_preferences(
            &ExternalId::parse("1").unwrap(),
            &[Preference {
                category: "ROOM".into(),
                key: "HIGH_FLOOR".into(),
                value: "yes".into(),
                source: PreferenceSource::Guest,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PmsError::Unsupported { .. }));
    let err = adapter.find_charge(&conf(&r.id), "op-1").await.unwrap_err();
    assert!(matches!(err, PmsError::Unsupported { .. }));
    sim.stop().await;
}

#[tokio::test]
async fn a_record_the_vendor_cannot_serve_is_a_failure_not_a_lost_list() {
    let (sim, _config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let bad = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .id
        .clone();
    sim.admin()
        .set_faults(
            pms_cloudbeds::PROVIDER,
            &pms_sim::FaultConfig {
                failing_entities: vec![bad.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let in_house = adapter.in_house().await.unwrap();
    assert_eq!(in_house.failures.len(), 1);
    assert_eq!(in_house.failures[0].id, bad);
    assert_eq!(in_house.failures[0].code, "PMS_PROTOCOL");
    assert!(!in_house.items.is_empty());
    assert!(in_house
        .items
        .iter()
        .all(|r| r.id.external().as_str() != bad));
    sim.stop().await;
}

#[tokio::test]
async fn thin_events_are_fetched_with_one_room_read() {
    use pms_domain::pms::{EntityKind, EntityRef, Refreshed};
    let (sim, _config, adapter) = default_hotel().await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let id = |s: &str| ExternalId::parse(s).unwrap();
    let refs = vec![
        EntityRef {
            kind: EntityKind::Room,
            id: id(&hotel.rooms[0].id),
        },
        EntityRef {
            kind: EntityKind::Room,
            id: id(&hotel.rooms[1].id),
        },
        EntityRef {
            kind: EntityKind::Room,
            id: id("000000-0"),
        },
        EntityRef {
            kind: EntityKind::Reservation,
            id: id(&hotel.reservations[0].id),
        },
        EntityRef {
            kind: EntityKind::Reservation,
            id: id(&hotel.reservations[0].id),
        },
        EntityRef {
            kind: EntityKind::Guest,
            id: id(&hotel.reservations[0].guest_id),
        },
    ];
    let out = adapter.fetch_entities(&refs).await;
    assert_eq!(out.len(), 5, "duplicates are fetched once");
    let rooms: Vec<_> = out
        .iter()
        .filter(|(r, _)| r.kind == EntityKind::Room)
        .map(|(_, v)| v.as_ref().unwrap())
        .collect();
    assert_eq!(
        rooms
            .iter()
            .filter(|v| matches!(v, Refreshed::Room(_)))
            .count(),
        2
    );
    assert!(rooms.iter().any(|v| matches!(v, Refreshed::Gone)));
    assert!(out
        .iter()
        .any(|(_, v)| matches!(v, Ok(Refreshed::Reservation(_)))));
    assert!(out
        .iter()
        .any(|(_, v)| matches!(v, Ok(Refreshed::Guest(_)))));
    assert_eq!(calls(&sim, "getHousekeepingStatus").await, 1);
    sim.stop().await;
}

/// The simulator speaks the protocol itself, whatever client calls it.
#[tokio::test]
async fn the_simulator_enforces_the_protocol() {
    let sim = simulator(pms_sim::default_config()).await;
    let root = sim.vendor_url(pms_cloudbeds::PROVIDER);
    let client = http();
    let get = |path: &str| {
        client
            .get(format!("{root}/{path}"))
            .header("x-api-key", API_KEY)
    };
    let json = |r: reqwest::Response| async move {
        let rid = r.headers().get("x-request-id").is_some();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        (status, rid, body)
    };

    let (status, rid, body) = json(get("getReservations?pageSize=101").send().await.unwrap()).await;
    assert_eq!((status, rid), (200, true));
    assert_eq!(body["success"], false);
    assert_eq!(body["message"], "pageSize must be between 1 and 100");
    let (_, _, body) = json(get("getReservations?pageSize=100").send().await.unwrap()).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["count"], 100);
    assert_eq!(body["total"], 120);
    let (_, _, body) = json(
        get("getHousekeepingStatus?pageSize=5000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["success"], true);
    let (_, _, body) = json(
        get("getHousekeepingStatus?pageSize=5001")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["success"], false);
    // Cloudbeds allows 5 requests a second per property.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, _, body) = json(
        get("getGuestList?guestEmail=nobody@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["data"], serde_json::json!([]), "PHP's empty map");
    let (_, _, body) = json(get("getReservations?propertyID=1").send().await.unwrap()).await;
    assert_eq!(body["success"], false, "another property's data");
    assert_eq!(body["message"], "You don't have access to property ID 1");

    // Wrong or no key: HTTP 401 in the Cloudbeds envelope.
    let r = client
        .get(format!("{root}/getReservations"))
        .send()
        .await
        .unwrap();
    let (status, rid, body) = json(r).await;
    assert_eq!((status, rid), (401, true));
    assert_eq!(body["success"], false);
    assert!(body["message"].as_str().unwrap().contains("API key"));

    // Methods and encodings as the spec says them; refusals still carry a request id.
    let r = client
        .post(format!("{root}/getReservations"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.headers().get("x-request-id").is_some());
    let r = client
        .post(format!("{root}/postCustomItem"))
        .header("x-api-key", API_KEY)
        .json(&serde_json::json!({"reservationID": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415, "form bodies only");
    assert_eq!(counters(&sim).await.unauthorized, 1);

    // A sixth request within a second is refused with Retry-After, and counted as a violation.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut last = None;
    for _ in 0..6 {
        last = Some(get("getReservations?pageSize=1").send().await.unwrap());
    }
    let last = last.unwrap();
    assert_eq!(last.status().as_u16(), 429);
    assert!(last.headers().get("retry-after").is_some());
    assert!(last.headers().get("x-request-id").is_some());
    assert_eq!(counters(&sim).await.rate_limit_violations, 1);
    sim.stop().await;
}
