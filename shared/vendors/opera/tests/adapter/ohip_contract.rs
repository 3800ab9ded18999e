//! OHIP contract tests: every request the adapter sends matches the official spec (method,
//! path, required headers, parameter names and values, body shape), and every answer the
//! simulator gives matches the spec's response schema. The spec excerpts live in
//! `testdata/` (see its README for their source).

use crate::ohip_support;

use chrono::NaiveTime;
use ohip_support::contract::{example, Spec};
use ohip_support::*;
use pms_domain::domain::{
    Charge, CheckoutChange, ExternalId, GuestQuery, Money, Note, Preference, PreferenceSource,
    RoomNumber,
};
use pms_domain::pms::{ChangeWindow, PmsAdapter};
use pms_sim::SimStatus;

/// Runs every operation of the adapter once (and the token's password grant).
async fn exercise_everything() -> (pms_sim::Simulator, Vec<String>) {
    let (sim, config, adapter) = setup(roomy()).await;
    let hotel = sim.admin().hotel(pms_opera::PROVIDER, HOTEL).await.unwrap();
    let in_house = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let confirmation =
        pms_domain::domain::ConfirmationNumber::parse(&in_house.confirmation).unwrap();
    let guest = ExternalId::parse(&in_house.guest_id).unwrap();
    let today = config.time_zone.business_date(chrono::Utc::now());
    let mut ran = Vec::new();

    adapter.connect().await.unwrap();
    assert!(adapter.health_check().await.healthy);
    adapter.get_guest(&guest).await.unwrap().unwrap();
    let g = hotel.guest(&in_house.guest_id).unwrap();
    adapter
        .search_guests(&GuestQuery {
            name: Some(format!("{} {}", g.first_name, g.last_name)),
            email: Some(g.email.clone()),
            phone: Some(g.phone.clone()),
        })
        .await
        .unwrap();
    adapter
        .update_guest_preferences(
            &guest,
            &[Preference {
                category: "ROOM FEATURES".into(),
                key: "HIGHFLOOR".into(),
                value: "High floor".into(),
                source: PreferenceSource::Guest,
            }],
        )
        .await
        .unwrap();
    adapter
        .get_reservation(&confirmation)
        .await
        .unwrap()
        .unwrap();
    adapter.arrivals(today).await.unwrap();
    adapter.departures(today).await.unwrap();
    adapter.in_house().await.unwrap();
    adapter
        .add_reservation_note(
            &confirmation,
            &Note {
                text: "Extra pillows".into(),
                title: Some("Housekeeping".into()),
                internal: false,
            },
        )
        .await
        .unwrap();
    adapter
        .update_checkout(
            &confirmation,
            &CheckoutChange {
                date: pms_domain::domain::BusinessDate::new(in_house.departure),
                time: Some(NaiveTime::from_hms_opt(14, 0, 0).unwrap()),
            },
        )
        .await
        .unwrap();
    let currency = config.currency;
    adapter
        .post_charge(
            &confirmation,
            &Charge {
                amount: Money::new(1250, currency),
                description: "Minibar".into(),
                revenue_center: None,
                reference: "op-contract-1".into(),
            },
        )
        .await
        .unwrap();
    adapter
        .find_charge(&confirmation, "op-contract-1")
        .await
        .unwrap()
        .unwrap();
    adapter.get_balance(&confirmation).await.unwrap();
    let room = &hotel.rooms[0];
    adapter
        .room_status(&RoomNumber::parse(&room.number).unwrap())
        .await
        .unwrap()
        .unwrap();
    adapter.room_statuses().await.unwrap();
    let now = chrono::Utc::now();
    adapter
        .reservations_changed(ChangeWindow {
            from: now - chrono::Duration::hours(1),
            to: now,
        })
        .await
        .unwrap();
    ran.push("client credentials".to_owned());

    // The password grant (Resource Owner environments).
    let p = property(&sim, HOTEL);
    let other = ohip_support::adapter(&config, password_credentials(&p));
    other.connect().await.unwrap();
    ran.push("password grant".to_owned());
    (sim, ran)
}

#[tokio::test]
async fn every_request_and_answer_matches_the_spec() {
    let spec = Spec::load();
    let (sim, _) = exercise_everything().await;
    let requests = sim.context.state::<pms_opera::sim::State>().requests();
    let mut seen = std::collections::BTreeSet::new();
    let mut errors = Vec::new();
    for r in &requests {
        let (id, _) = spec
            .operation(&r.method, &r.path)
            .unwrap_or_else(|| panic!("{} {} is not an OHIP operation", r.method, r.path));
        seen.insert(id.to_owned());
        assert!(
            (200..300).contains(&r.status),
            "{id} answered {}: {:?}",
            r.status,
            r.response_body
        );
        errors.extend(spec.check_request(r));
        errors.extend(spec.check_response(r));
    }
    assert!(
        errors.is_empty(),
        "contract violations:\n{}",
        errors.join("\n")
    );
    let all: std::collections::BTreeSet<String> = [
        "getToken",
        "getProfile",
        "getProfiles",
        "postPreference",
        "getReservation",
        "getHotelReservations",
        "putReservation",
        "getHousekeepingOverview",
        "postBillingCharges",
        "getFolio",
        "getBusinessEvents",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(seen, all, "every operation was exercised and checked");
    sim.stop().await;
}

#[tokio::test]
async fn the_checker_catches_departures_from_the_spec() {
    // The checker is only worth something if it fails: feed it requests that are wrong.
    let spec = Spec::load();
    let (sim, _) = exercise_everything().await;
    let requests = sim.context.state::<pms_opera::sim::State>().requests();
    let charge = requests
        .iter()
        .find(|r| r.path.ends_with("/charges"))
        .unwrap()
        .clone();
    let mut bad = charge.clone();
    bad.body = Some(
        charge
            .body
            .as_ref()
            .unwrap()
            .replace("postingReference", "postingRef"),
    );
    assert!(spec
        .check_request(&bad)
        .iter()
        .any(|e| e.contains("postingRef")));
    let mut bad = charge.clone();
    bad.headers.retain(|(k, _)| k != "x-hotelid");
    assert!(spec
        .check_request(&bad)
        .iter()
        .any(|e| e.contains("x-hotelid")));
    let search = requests
        .iter()
        .find(|r| r.path.ends_with("/reservations") && r.method == "GET")
        .unwrap();
    let mut bad = search.clone();
    bad.query.push(("searchType".into(), "Arrivals".into()));
    bad.query
        .push(("modifiedSince".into(), "2026-01-01".into()));
    let errs = spec.check_request(&bad);
    assert!(errs.iter().any(|e| e.contains("Arrivals")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("modifiedSince")), "{errs:?}");
    sim.stop().await;
}

#[tokio::test]
async fn requests_follow_the_official_workflows() {
    // The workflow collection's token requests: form fields, Basic auth, the app key header.
    let (sim, _) = exercise_everything().await;
    let requests = sim.context.state::<pms_opera::sim::State>().requests();
    let token = requests
        .iter()
        .find(|r| {
            r.path == "/oauth/v1/tokens"
                && r.body.as_deref().is_some_and(|b| b.contains("password"))
        })
        .unwrap();
    let workflow = example("workflow_getToken_password.json");
    let mut want: Vec<String> = workflow["form"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut got: Vec<String> =
        url::form_urlencoded::parse(token.body.as_deref().unwrap().as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(workflow["auth"], "basic");
    assert!(token.headers.iter().any(|(k, _)| k == "x-app-key"));
    // The departure time is written like the workflow "14. Check-Out - putReservation".
    let put = requests
        .iter()
        .find(|r| {
            r.method == "PUT"
                && r.body
                    .as_deref()
                    .is_some_and(|b| b.contains("departureDate"))
        })
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(put.body.as_deref().unwrap()).unwrap();
    let ours = body["reservations"][0]["roomStay"]["expectedTimes"]
        ["reservationExpectedDepartureTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let workflow = example("workflow_putReservation_departure.json");
    let theirs: serde_json::Value =
        serde_json::from_str(workflow["body"].as_str().unwrap()).unwrap();
    let theirs = theirs["reservations"][0]["roomStay"]["expectedTimes"]
        ["reservationExpectedDepartureTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let shape = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect()
    };
    assert_eq!(shape(&ours), shape(&theirs), "{ours} vs {theirs}");
    // The charge carries the workflow's fields, with the transaction code as the schema's
    // string and our reference in postingReference.
    let charge = requests
        .iter()
        .find(|r| r.path.ends_with("/charges"))
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(charge.body.as_deref().unwrap()).unwrap();
    let line = &body["criteria"]["charges"][0];
    assert_eq!(line["transactionCode"], "5016");
    assert_eq!(line["postingReference"], "op-contract-1");
    assert_eq!(line["price"]["amount"], serde_json::json!(12.5));
    let workflow = example("workflow_postBillingCharges.json");
    let raw = workflow["body"].as_str().unwrap();
    for key in [
        "postingQuantity",
        "usePackageAllowance",
        "applyRoutingInstructions",
        "idContext",
        "postIt",
    ] {
        assert!(raw.contains(key), "{key} is in the workflow");
        assert!(
            charge.body.as_deref().unwrap().contains(key),
            "{key} is sent"
        );
    }
    // Business events are dequeued with the workflow's path and a limit within the spec's 20.
    let events = requests
        .iter()
        .find(|r| r.path.ends_with("/businessEvents"))
        .unwrap();
    assert_eq!(
        events.path,
        format!("/int/v1/externalSystem/SIMEXT/hotels/{HOTEL}/businessEvents")
    );
    assert!(events
        .query
        .iter()
        .any(|(k, v)| k == "limit" && v.parse::<u32>().unwrap() <= 20));
    sim.stop().await;
}
