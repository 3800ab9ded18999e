//! Mapping tests over the schema-built fixtures in `testdata/` (the v1.3 spec
//! has no response examples; see the README there).

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::mapping::{self, Ctx};
use super::{entry_matches, guest_searches, transport, wire};
use pms_domain::domain::{
    Currency, GuestQuery, Housekeeping, Occupancy, PropertyTz, ReservationField, ReservationStatus,
};
use pms_testkit::oas::check_value;

const EXCERPT: &str = include_str!("../testdata/pms-v1.3-excerpt.json");

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../testdata/responses/", $name)),
        )
    };
}

/// Every schema-built fixture and the operation whose 200 response it is.
const FIXTURES: &[(&str, (&str, &str))] = &[
    (
        "/getReservation",
        fixture!("getReservation.from-schema.json"),
    ),
    (
        "/getReservation",
        fixture!("getReservation.balance-array.from-schema.json"),
    ),
    (
        "/getReservations",
        fixture!("getReservations.from-schema.json"),
    ),
    (
        "/getReservationsWithRateDetails",
        fixture!("getReservationsWithRateDetails.from-schema.json"),
    ),
    ("/getGuest", fixture!("getGuest.from-schema.json")),
    ("/getGuest", fixture!("getGuest.merged.from-schema.json")),
    ("/getGuestList", fixture!("getGuestList.from-schema.json")),
    (
        "/getHousekeepingStatus",
        fixture!("getHousekeepingStatus.from-schema.json"),
    ),
    (
        "/postCustomItem",
        fixture!("postCustomItem.from-schema.json"),
    ),
    (
        "/postCustomItem",
        fixture!("postCustomItem.duplicate.from-schema.json"),
    ),
    (
        "/postReservationNote",
        fixture!("postReservationNote.from-schema.json"),
    ),
    (
        "/putReservation",
        fixture!("putReservation.from-schema.json"),
    ),
    ("/getRatePlans", fixture!("getRatePlans.from-schema.json")),
];

fn excerpt() -> Value {
    serde_json::from_str(EXCERPT).unwrap()
}

fn fixture(name: &str) -> Value {
    let (_, (_, text)) = FIXTURES
        .iter()
        .find(|(_, (n, _))| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    serde_json::from_str(text).unwrap()
}

fn ny() -> Ctx {
    Ctx {
        tz: PropertyTz::parse("America/New_York").unwrap(),
        currency: Currency::usd(),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn detail(v: &Value) -> wire::ReservationDetail {
    serde_json::from_value(v["data"].clone()).unwrap()
}

#[test]
fn fixtures_conform_to_the_schema() {
    let spec = excerpt();
    assert_eq!(
        spec["source"]["commit"],
        "f6c4b9a77566cf9722c61723299a1cab40135d35"
    );
    for (path, (name, text)) in FIXTURES {
        let schema =
            &spec["operations"][path]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{path} has no 200 schema");
        let value: Value = serde_json::from_str(text).unwrap();
        let mut problems = Vec::new();
        check_value(schema, &value, "$", &mut problems);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

#[test]
fn get_reservation_maps_to_the_canonical_model() {
    let r = mapping::reservation_from_detail(
        &detail(&fixture("getReservation.from-schema.json")),
        &ny(),
    )
    .unwrap();
    assert_eq!(r.id.to_string(), "cloudbeds:9837261524");
    assert_eq!(r.confirmation_number.as_str(), "9837261524");
    assert_eq!(r.status, ReservationStatus::CheckedIn);
    assert_eq!(r.raw_status, "checked_in");
    assert_eq!(r.arrival.to_string(), "2026-03-07");
    assert_eq!(r.departure.to_string(), "2026-03-10");
    assert_eq!(r.room_number.as_ref().unwrap().as_str(), "204");
    assert_eq!(r.room_type.as_ref().unwrap().as_str(), "Queen");
    assert_eq!((r.adults, r.children), (2, 0));
    let g = r.guest.as_ref().unwrap();
    assert_eq!(g.id.as_ref().unwrap().to_string(), "cloudbeds:52014");
    assert_eq!(g.first_name.as_deref(), Some("Aiko"));
    assert_eq!(g.last_name.as_deref(), Some("Tanaka"));
    assert_eq!(g.email.as_deref(), Some("aiko.tanaka@example.com"));
    assert_eq!(g.phone.as_deref(), Some("+1 212 555 0142"));
    assert_eq!(r.balance.unwrap().amount_minor, 21240);
    assert_eq!(r.balance.unwrap().currency, Currency::usd());
    // 03:15:42 on the spring-forward day in New York is EDT (UTC-4).
    assert_eq!(r.source_updated_at, Some(utc("2026-03-08T07:15:42Z")));
    assert_eq!(
        r.version,
        utc("2026-03-08T07:15:42Z").timestamp_millis() as u64
    );
    r.validate().unwrap();
}

#[test]
fn balance_detailed_as_an_array_gives_the_balance() {
    let d = detail(&fixture("getReservation.balance-array.from-schema.json"));
    assert!(d.balance.is_none());
    // grandTotal 399 - paid 99.5
    assert_eq!(
        mapping::detail_balance(&d, Currency::usd())
            .unwrap()
            .amount_minor,
        29950
    );
    let r = mapping::reservation_from_detail(&d, &ny()).unwrap();
    assert_eq!(r.status, ReservationStatus::Confirmed);
    assert_eq!(r.raw_status, "not_confirmed");
    assert_eq!(r.room_number, None, "no room is assigned yet");
    assert_eq!(r.room_type.as_ref().unwrap().as_str(), "King");
    assert_eq!((r.adults, r.children), (1, 1));
    // The channel's number is not the confirmation number.
    assert_eq!(r.confirmation_number.as_str(), "9837262001");
    assert_eq!(r.guest.unwrap().phone.as_deref(), Some("+1 917 555 0190"));
    // 01:30 on the fall-back day happens twice; the earlier (EDT) instant is taken.
    assert_eq!(r.source_updated_at, Some(utc("2026-11-01T05:30:00Z")));
    // The object form gives the same answer as `balance` when both are there.
    let mut v = fixture("getReservation.from-schema.json");
    v["data"].as_object_mut().unwrap().remove("balance");
    assert_eq!(
        mapping::detail_balance(&detail(&v), Currency::usd())
            .unwrap()
            .amount_minor,
        21240
    );
}

#[test]
fn list_rows_and_details_map_to_the_same_record() {
    let rows = fixture("getReservations.from-schema.json");
    let rows: Vec<wire::ReservationRow> = serde_json::from_value(rows["data"].clone()).unwrap();
    assert_eq!(rows.len(), 2);
    let from_rows: Vec<_> = rows
        .iter()
        .map(|r| mapping::reservation_from_row(r, &ny()).unwrap())
        .collect();
    let details = [
        mapping::reservation_from_detail(
            &detail(&fixture("getReservation.from-schema.json")),
            &ny(),
        )
        .unwrap(),
        mapping::reservation_from_detail(
            &detail(&fixture("getReservation.balance-array.from-schema.json")),
            &ny(),
        )
        .unwrap(),
    ];
    // Rows lack what only details carry, and say so; merged over a stored detail they keep
    // it, so a sync (rows) and a webhook refresh (details) never flip the stored record.
    for (row, detail) in from_rows.iter().zip(&details) {
        assert!(row.not_carried.contains(ReservationField::Total));
        assert!(row
            .not_carried
            .contains(ReservationField::ExpectedArrivalTime));
        let mut merged = row.clone();
        merged.keep_uncarried(detail);
        assert_eq!(&merged, detail);
        assert_eq!(
            pms_domain::domain::hash::content_hash(&merged),
            pms_domain::domain::hash::content_hash(detail),
            "the merge finds nothing changed"
        );
    }
}

type Check = fn(&pms_domain::domain::Reservation) -> bool;

/// The fields of a reservation in any of the three reads that the canonical model has a place
/// for, by JSON pointer within one record, and whether the mapped record holds each.
const RESERVATION_FIELDS: &[(&str, Check)] = &[
    ("/reservationID", |r| {
        !r.confirmation_number.as_str().is_empty()
    }),
    ("/status", |r| !r.raw_status.is_empty()),
    ("/guestName", |r| {
        r.guest.as_ref().is_some_and(|g| g.last_name.is_some())
    }),
    ("/guestEmail", |r| {
        r.guest.as_ref().is_some_and(|g| g.email.is_some())
    }),
    ("/guestID", |r| {
        r.guest.as_ref().is_some_and(|g| g.id.is_some())
    }),
    ("/estimatedArrivalTime", |r| {
        r.expected_arrival_time.is_some()
    }),
    ("/total", |r| r.total.is_some()),
    ("/balance", |r| r.balance.is_some()),
    ("/balanceDetailed/grandTotal", |r| r.balance.is_some()),
    ("/balanceDetailed/0/grandTotal", |r| r.balance.is_some()),
    ("/startDate", |r| r.arrival.to_string() != "1970-01-01"),
    ("/endDate", |r| r.departure > r.arrival),
    ("/reservationCheckIn", |r| {
        r.arrival.to_string() != "1970-01-01"
    }),
    ("/reservationCheckOut", |r| r.departure > r.arrival),
    ("/adults", |r| r.adults > 0),
    ("/children", |r| r.children > 0),
    ("/assigned/0/roomName", |r| r.room_number.is_some()),
    ("/assigned/0/roomTypeName", |r| r.room_type.is_some()),
    ("/assigned/0/adults", |r| r.adults > 0),
    ("/unassigned/0/roomTypeName", |r| r.room_type.is_some()),
    ("/unassigned/0/children", |r| r.children > 0),
    ("/rooms/0/roomName", |r| r.room_number.is_some()),
    ("/rooms/0/roomTypeName", |r| r.room_type.is_some()),
    ("/rooms/0/adults", |r| r.adults > 0),
    ("/rooms/0/children", |r| r.children > 0),
    ("/dateModified", |r| r.source_updated_at.is_some()),
];

/// Fields of the main guest's `guestList` entry the record's guest holds.
const GUEST_ENTRY_FIELDS: &[(&str, Check)] = &[
    ("/guestFirstName", |r| {
        r.guest.as_ref().is_some_and(|g| g.first_name.is_some())
    }),
    ("/guestLastName", |r| {
        r.guest.as_ref().is_some_and(|g| g.last_name.is_some())
    }),
    ("/guestEmail", |r| {
        r.guest.as_ref().is_some_and(|g| g.email.is_some())
    }),
    ("/guestPhone", |r| {
        r.guest.as_ref().is_some_and(|g| g.phone.is_some())
    }),
];

fn given(v: &Value, pointer: &str) -> bool {
    v.pointer(pointer)
        .is_some_and(|x| !x.is_null() && x != "" && x != 0 && x != "0")
}

/// Checks one record of a fixture against the mapped reservation; returns the fields checked.
fn walk(name: &str, record: &Value, r: &pms_domain::domain::Reservation) -> usize {
    let mut checked = 0;
    for (pointer, holds) in RESERVATION_FIELDS {
        if given(record, pointer) {
            checked += 1;
            assert!(holds(r), "{name}: {pointer} is given but not in the record");
        }
    }
    let main = record["guestList"]
        .as_object()
        .and_then(|m| m.values().find(|g| g["isMainGuest"] == true));
    for (pointer, holds) in GUEST_ENTRY_FIELDS {
        if main.is_some_and(|g| given(g, pointer)) {
            checked += 1;
            assert!(
                holds(r),
                "{name}: guestList main guest {pointer} is given but not in the record"
            );
        }
    }
    checked
}

/// Every field of the official (schema-built) examples that the canonical model has a place
/// for arrives in the record: a field an example carries and the record leaves empty fails.
/// It walks every reservation read the adapter maps: `getReservation`, the rows of
/// `getReservationsWithRateDetails` (the sync's list wherever its filters allow) and of
/// `getReservations` (arrivals; its rows lack `total` and `estimatedArrivalTime`, which the
/// sync reads by id from the rate-details list for rows that changed).
#[test]
fn every_field_of_the_examples_the_model_has_a_place_for_is_mapped() {
    let mut checked = 0;
    for name in [
        "getReservation.from-schema.json",
        "getReservation.balance-array.from-schema.json",
    ] {
        let v = fixture(name);
        let r = mapping::reservation_from_detail(&detail(&v), &ny()).unwrap();
        checked += walk(name, &v["data"], &r);
    }
    let name = "getReservationsWithRateDetails.from-schema.json";
    for row in fixture(name)["data"].as_array().unwrap() {
        let w: wire::RateDetailsRow = serde_json::from_value(row.clone()).unwrap();
        let r = mapping::reservation_from_rate_row(&w, &ny()).unwrap();
        assert!(r.not_carried.0.is_empty(), "{name}: carries everything");
        checked += walk(name, row, &r);
    }
    let name = "getReservations.from-schema.json";
    for row in fixture(name)["data"].as_array().unwrap() {
        let w: wire::ReservationRow = serde_json::from_value(row.clone()).unwrap();
        let r = mapping::reservation_from_row(&w, &ny()).unwrap();
        checked += walk(name, row, &r);
    }
    assert!(checked >= 80, "{checked} fields checked");
    let r = mapping::reservation_from_detail(
        &detail(&fixture("getReservation.from-schema.json")),
        &ny(),
    )
    .unwrap();
    assert_eq!(
        r.expected_arrival_time,
        chrono::NaiveTime::from_hms_opt(15, 30, 0)
    );
    assert_eq!(r.total.unwrap().amount_minor, 61240);
}

/// A rate-details row maps to exactly what `getReservation` gives for the same booking, so a
/// sync that reads only the list stores the same record a webhook refresh does.
#[test]
fn rate_detail_rows_and_details_map_to_the_same_record() {
    let rows = fixture("getReservationsWithRateDetails.from-schema.json");
    let rows: Vec<wire::RateDetailsRow> = serde_json::from_value(rows["data"].clone()).unwrap();
    assert_eq!(rows.len(), 2);
    for (row, name) in rows.iter().zip([
        "getReservation.from-schema.json",
        "getReservation.balance-array.from-schema.json",
    ]) {
        let from_row = mapping::reservation_from_rate_row(row, &ny()).unwrap();
        let from_detail = mapping::reservation_from_detail(&detail(&fixture(name)), &ny()).unwrap();
        assert_eq!(from_row, from_detail, "{name}");
        assert!(from_row.total.is_some(), "{name}: the total is on the list");
    }
    let first = mapping::reservation_from_rate_row(&rows[0], &ny()).unwrap();
    assert_eq!(
        first.expected_arrival_time,
        chrono::NaiveTime::from_hms_opt(15, 30, 0)
    );
    assert_eq!(first.total.unwrap().amount_minor, 61240);
    assert_eq!(first.balance.unwrap().amount_minor, 21240);
    // Without `balance`, `grandTotal - paid` (399 - 99.5).
    let mut v =
        serde_json::to_value(fixture("getReservationsWithRateDetails.from-schema.json")).unwrap();
    v["data"][1].as_object_mut().unwrap().remove("balance");
    let row: wire::RateDetailsRow = serde_json::from_value(v["data"][1].clone()).unwrap();
    let r = mapping::reservation_from_rate_row(&row, &ny()).unwrap();
    assert_eq!(r.balance.unwrap().amount_minor, 29950);
}

#[test]
fn a_cancelled_booking_keeps_its_room_in_rows_as_in_details() {
    let mut rows = fixture("getReservations.from-schema.json");
    let mut d = fixture("getReservation.from-schema.json");
    rows["data"][0]["status"] = json!("canceled");
    for room in rows["data"][0]["rooms"].as_array_mut().unwrap() {
        room["roomStatus"] = json!("cancelled");
    }
    d["data"]["status"] = json!("canceled");
    for room in d["data"]["assigned"].as_array_mut().unwrap() {
        room["roomStatus"] = json!("cancelled");
    }
    let row: wire::ReservationRow = serde_json::from_value(rows["data"][0].clone()).unwrap();
    let from_row = mapping::reservation_from_row(&row, &ny()).unwrap();
    let from_detail = mapping::reservation_from_detail(&detail(&d), &ny()).unwrap();
    assert!(
        from_row.room_number.is_some(),
        "the room stays on the record"
    );
    assert_eq!(from_row.room_number, from_detail.room_number);
    assert_eq!(from_row.status, from_detail.status);
}

#[test]
fn ids_and_amounts_may_be_strings_or_numbers() {
    let mut v = fixture("getReservation.from-schema.json");
    let d = v["data"].as_object_mut().unwrap();
    d.insert("reservationID".into(), json!(9837261524u64));
    d.insert("balance".into(), json!("212.40"));
    d["assigned"][0]["adults"] = json!(2);
    d["guestList"]["52014"]["guestID"] = json!(52014);
    d["guestList"]["52014"]["isMainGuest"] = json!("1");
    let a = mapping::reservation_from_detail(&detail(&v), &ny()).unwrap();
    let b = mapping::reservation_from_detail(
        &detail(&fixture("getReservation.from-schema.json")),
        &ny(),
    )
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_bad_row_is_a_mapping_error_naming_the_field_not_its_value() {
    let mut rows = fixture("getReservations.from-schema.json");
    rows["data"][0]["startDate"] = json!("0000-00-00");
    let row: wire::ReservationRow = serde_json::from_value(rows["data"][0].clone()).unwrap();
    let err = mapping::reservation_from_row(&row, &ny()).unwrap_err();
    assert_eq!(err.to_string(), "`startDate` is not valid");
}

#[test]
fn guests_map_and_merged_guests_are_gone() {
    let read_at = utc("2026-03-08T12:00:00Z");
    let d: wire::GuestDetail =
        serde_json::from_value(fixture("getGuest.from-schema.json")["data"].clone()).unwrap();
    let g = mapping::guest_from_detail("52014", &d, read_at)
        .unwrap()
        .unwrap();
    assert_eq!(g.id.to_string(), "cloudbeds:52014");
    assert_eq!(g.full_name(), "Aiko Tanaka");
    assert_eq!(g.email.as_deref(), Some("aiko.tanaka@example.com"));
    assert_eq!(g.phone.as_deref(), Some("+1 212 555 0142"));
    assert!(g.preferences.is_empty());
    assert_eq!(g.version, read_at.timestamp_millis() as u64);
    let merged: wire::GuestDetail =
        serde_json::from_value(fixture("getGuest.merged.from-schema.json")["data"].clone())
            .unwrap();
    assert_eq!(
        mapping::guest_from_detail("52013", &merged, read_at).unwrap(),
        None
    );
}

#[test]
fn guest_list_is_keyed_by_guest_id() {
    let read_at = utc("2026-03-08T12:00:00Z");
    let v = fixture("getGuestList.from-schema.json");
    let entries: Vec<(Option<String>, wire::GuestListEntry)> =
        wire::keyed(v["data"].clone()).unwrap();
    assert_eq!(entries.len(), 2);
    let guests: Vec<_> = entries
        .iter()
        .map(|(k, e)| {
            mapping::guest_from_list(k.as_deref(), e, read_at)
                .unwrap()
                .unwrap()
        })
        .collect();
    assert_eq!(guests[0].id.to_string(), "cloudbeds:52014");
    assert_eq!(guests[1].full_name(), "Kenji Tanaka");
    // The cell phone stands in when there is no phone.
    assert_eq!(guests[1].phone.as_deref(), Some("+1 646 555 0177"));

    let q = |name: Option<&str>, email: Option<&str>, phone: Option<&str>| GuestQuery {
        name: name.map(Into::into),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
    };
    let aiko = &entries[0].1;
    let kenji = &entries[1].1;
    assert!(entry_matches(&q(Some("tanaka"), None, None), aiko));
    assert!(entry_matches(&q(Some("Aiko Tanaka"), None, None), aiko));
    assert!(!entry_matches(&q(Some("Kenji"), None, None), aiko));
    assert!(entry_matches(
        &q(None, Some("AIKO.TANAKA@example.com"), None),
        aiko
    ));
    assert!(entry_matches(&q(None, None, Some("646-555-0177")), kenji));
    assert!(!entry_matches(&q(None, None, Some("646-555-0177")), aiko));
}

#[test]
fn guest_searches_cover_first_last_phone_and_cell() {
    let q = GuestQuery {
        name: Some("Tanaka".into()),
        email: None,
        phone: Some("+1 646 555 0177".into()),
    };
    let s = guest_searches(&q);
    assert_eq!(s.len(), 4);
    assert!(s.contains(&vec![
        ("guestLastName", "Tanaka".to_owned()),
        ("guestPhone", "+1 646 555 0177".to_owned())
    ]));
    assert!(s.contains(&vec![
        ("guestFirstName", "Tanaka".to_owned()),
        ("guestCellPhone", "+1 646 555 0177".to_owned())
    ]));
    let s = guest_searches(&GuestQuery {
        name: Some("Aiko  Tanaka".into()),
        email: Some("aiko.tanaka@example.com".into()),
        phone: None,
    });
    assert_eq!(
        s,
        vec![vec![
            ("guestFirstName", "Aiko".to_owned()),
            ("guestLastName", "Tanaka".to_owned()),
            ("guestEmail", "aiko.tanaka@example.com".to_owned()),
        ]]
    );
}

#[test]
fn housekeeping_keeps_condition_and_occupancy_apart() {
    let v = fixture("getHousekeepingStatus.from-schema.json");
    let rooms: Vec<wire::HousekeepingRoom> = serde_json::from_value(v["data"].clone()).unwrap();
    let mapped: Vec<_> = rooms
        .iter()
        .map(|r| mapping::room_from_housekeeping(r).unwrap())
        .collect();
    let summary: Vec<_> = mapped
        .iter()
        .map(|r| {
            (
                r.room_number.as_str().to_owned(),
                r.occupancy,
                r.housekeeping,
                r.do_not_disturb,
                r.raw_status.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "204".to_owned(),
                Occupancy::Occupied,
                Housekeeping::Dirty,
                true,
                "OD+DND stayover".to_owned()
            ),
            (
                "205".to_owned(),
                Occupancy::Vacant,
                Housekeeping::Clean,
                false,
                "VC check-in".to_owned()
            ),
            (
                "206".to_owned(),
                Occupancy::Vacant,
                Housekeeping::OutOfOrder,
                false,
                "VD+OOO unused".to_owned()
            ),
            (
                "207".to_owned(),
                Occupancy::Vacant,
                Housekeeping::Pickup,
                false,
                "VC+VP check-out".to_owned()
            ),
        ]
    );
    assert_eq!(mapped[0].room_type.as_ref().unwrap().as_str(), "Queen");
    // Inspected (OCI/VCI) where the property enables it; missing occupancy is unknown.
    let r = mapping::room_from_housekeeping(&wire::HousekeepingRoom {
        room_name: Some("301".into()),
        room_condition: Some("inspected".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (r.housekeeping, r.occupancy),
        (Housekeeping::Inspected, Occupancy::Unknown)
    );
}

/// Every status enum in the excerpt (reservation, guest-list, guest and room statuses,
/// request filters) is in the table.
#[test]
fn the_status_table_is_total_over_the_spec() {
    fn collect(v: &Value, key: Option<&str>, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let is_status = key.is_some_and(|k| k.ends_with("tatus"))
                    || m.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n == "status");
                if is_status {
                    let enums = m
                        .get("enum")
                        .or_else(|| m.get("schema").and_then(|s| s.get("enum")));
                    if let Some(Value::Array(e)) = enums {
                        out.extend(e.iter().filter_map(|x| x.as_str().map(str::to_owned)));
                    }
                }
                for (k, child) in m {
                    collect(child, Some(k), out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| collect(c, key, out)),
            _ => {}
        }
    }
    let mut values = Vec::new();
    collect(&excerpt()["operations"], None, &mut values);
    values.sort();
    values.dedup();
    // Reservation, guest-list, guest and room statuses all appear.
    for expected in [
        "not_confirmed",
        "in_progress",
        "call2confirm",
        "in_house",
        "cancelled",
    ] {
        assert!(values.iter().any(|v| v == expected), "{expected} not found");
    }
    // frontdeskStatus is a room's day plan, not a reservation status.
    values.retain(|v| {
        !["check-in", "check-out", "stayover", "turnover", "unused"].contains(&v.as_str())
    });
    for v in &values {
        assert!(mapping::status_of(v).is_some(), "{v} is not mapped");
    }
    assert_eq!(
        mapping::status_of("canceled"),
        Some(ReservationStatus::Cancelled)
    );
    assert_eq!(
        mapping::status_of("no_show"),
        Some(ReservationStatus::NoShow)
    );
    assert_eq!(
        mapping::status_of("checked_out"),
        Some(ReservationStatus::CheckedOut)
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_unknown_status_is_kept_raw_defaults_to_confirmed_and_warns() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let mut v = fixture("getReservation.from-schema.json");
    v["data"]["status"] = json!("waitlisted");
    let r = tracing::subscriber::with_default(subscriber, || {
        mapping::reservation_from_detail(&detail(&v), &ny()).unwrap()
    });
    assert_eq!(r.status, ReservationStatus::Confirmed);
    assert_eq!(r.raw_status, "waitlisted");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("unknown Cloudbeds reservation status"),
        "{text}"
    );
    assert!(text.contains("waitlisted"), "{text}");
}

#[test]
fn write_answers_are_read() {
    let posted: wire::CustomItemPosted =
        serde_json::from_value(fixture("postCustomItem.from-schema.json")["data"].clone()).unwrap();
    assert_eq!(posted.transaction_id.as_deref(), Some("90312277"));
    assert_eq!(posted.notice, None);
    let dup: wire::CustomItemPosted = serde_json::from_value(
        fixture("postCustomItem.duplicate.from-schema.json")["data"].clone(),
    )
    .unwrap();
    assert!(dup.notice.is_some());
    assert_eq!(
        fixture("postReservationNote.from-schema.json")["reservationNoteID"],
        "551902"
    );
}

#[test]
fn the_official_http_200_error_is_typed() {
    let body = include_bytes!("../testdata/responses/error.http200.official.json");
    let v: Value = serde_json::from_slice(body).unwrap();
    let err = transport::business_error(v["message"].as_str(), Some("rid-7".into()));
    assert!(
        matches!(err, pms_domain::pms::PmsError::Unauthorized { .. }),
        "{err:?}"
    );
    assert_eq!(err.request_id(), Some("rid-7"));
    assert!(err.to_string().contains("not active anymore"));
}

// ---- availability (getRatePlans with detailedRates) ------------------------------------------

fn rate_plans(v: &Value) -> Vec<wire::RatePlan> {
    serde_json::from_value(v["data"].clone()).unwrap()
}

fn day(s: &str) -> pms_domain::domain::BusinessDate {
    pms_domain::domain::BusinessDate::parse(s).unwrap()
}

#[test]
fn rate_plans_map_to_rooms_free_per_night_and_room_type() {
    let plans = rate_plans(&fixture("getRatePlans.from-schema.json"));
    let nights =
        super::availability::availability(&plans, day("2026-03-07"), day("2026-03-09")).unwrap();
    let got: Vec<(String, String, u32)> = nights
        .iter()
        .map(|n| (n.date.to_string(), n.room_type_id.clone(), n.available))
        .collect();
    let want = [
        ("2026-03-07", "72811", 4),
        ("2026-03-07", "72812", 1),
        ("2026-03-08", "72811", 3),
        ("2026-03-08", "72812", 0),
        ("2026-03-09", "72811", 5),
        ("2026-03-09", "72812", 2),
    ];
    let want: Vec<(String, String, u32)> = want
        .iter()
        .map(|(d, t, n)| (d.to_string(), t.to_string(), *n))
        .collect();
    // The plan of 72811 is held to 2 rooms on the 7th; the base rate's 4 is the room type's.
    assert_eq!(got, want);
    // The fixture's names are null (the spec types them integer): the id is the code.
    assert_eq!(nights[0].room_type.as_str(), "72811");
    assert!(nights
        .iter()
        .all(|n| n.provider == crate::PROVIDER && n.total.is_none() && n.validate().is_ok()));
    // Only the nights asked for.
    let one =
        super::availability::availability(&plans, day("2026-03-08"), day("2026-03-08")).unwrap();
    assert_eq!(one.len(), 2);
}

#[test]
fn a_room_type_name_is_the_code_bookings_carry_and_plans_without_a_base_rate_take_the_highest() {
    let plans: Vec<wire::RatePlan> = serde_json::from_value(json!([
        {"rateID": "1", "roomTypeID": "88430", "roomTypeName": "KING", "ratePlanID": "7",
         "roomRateDetailed": [{"date": "2026-12-01", "roomsAvailable": 2}]},
        {"rateID": "2", "roomTypeID": "88430", "roomTypeName": "KING", "ratePlanID": "8",
         "roomRateDetailed": [{"date": "2026-12-01", "roomsAvailable": "5"}]},
        {"rateID": "3", "roomTypeName": "LOST",
         "roomRateDetailed": [{"date": "2026-12-01", "roomsAvailable": 9}]}
    ]))
    .unwrap();
    let nights =
        super::availability::availability(&plans, day("2026-12-01"), day("2026-12-01")).unwrap();
    assert_eq!(nights.len(), 1, "{nights:?}");
    assert_eq!(nights[0].room_type.as_str(), "KING");
    assert_eq!(nights[0].available, 5);
}
