//! Contract test: every request the Mews adapter sends, captured by the simulator while every
//! adapter operation runs, matches the official Mews docs kept in `testdata/spec`:
//! `POST`, `Content-Type: application/json`, the exact documented address, and a body whose
//! every property is documented (not deprecated), required ones present, values of the
//! documented types, enums, sizes and interval lengths.

use crate::mews_support;

use std::collections::BTreeSet;

use crate::mews_spec::MewsSpec;
use chrono::{Duration, NaiveTime, Utc};
use mews_support::{MewsEnv, HONOLULU};
use pms_domain::domain::{
    BusinessDate, Charge, CheckoutChange, ConfirmationNumber, Currency, ExternalId, GuestQuery,
    Money, Note, Preference, PreferenceSource, RoomNumber,
};
use pms_domain::pms::{ChangeWindow, EntityKind, EntityRef, PmsAdapter};
use pms_sim::SimStatus;

/// Every operation the adapter uses.
const OPERATIONS: [&str; 16] = [
    "configuration/get",
    "reservations/getAll/2023-06-06",
    "reservations/updateInterval",
    "customers/getAll",
    "customers/update",
    "resources/getAll",
    "serviceOrderNotes/getAll",
    "serviceOrderNotes/add",
    "orders/add",
    "orderItems/getAll",
    "productServiceOrders/getAll",
    "payments/getAll",
    "rates/getAll",
    "resourceCategories/getAll",
    "ageCategories/getAll",
    "services/getAvailability/2024-01-22",
];

#[tokio::test]
async fn every_request_matches_the_mews_docs() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let hotel = env.hotel(HONOLULU);
    let r = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let c = ConfirmationNumber::parse(r.confirmation.as_str()).unwrap();
    let guest = hotel.guest(&r.guest_id).unwrap().clone();
    let guest_id = ExternalId::parse(guest.id.as_str()).unwrap();
    let today = BusinessDate::new(
        Utc::now()
            .with_timezone(&chrono_tz::Pacific::Honolulu)
            .date_naive(),
    );

    // Every operation of the adapter, reads and writes.
    adapter.connect().await.unwrap();
    assert!(adapter.health_check().await.healthy);
    adapter.get_guest(&guest_id).await.unwrap().unwrap();
    for q in [
        GuestQuery {
            email: Some(guest.email.clone()),
            ..GuestQuery::default()
        },
        GuestQuery {
            name: Some(guest.last_name.clone()),
            ..GuestQuery::default()
        },
        GuestQuery {
            name: Some(format!("{} {}", guest.first_name, guest.last_name)),
            phone: Some(guest.phone.clone()),
            ..GuestQuery::default()
        },
    ] {
        adapter.search_guests(&q).await.unwrap();
    }
    adapter
        .update_guest_preferences(
            &guest_id,
            &[
                Preference {
                    category: "Classifications".into(),
                    key: "Returning".into(),
                    value: String::new(),
                    source: PreferenceSource::Partner,
                },
                Preference {
                    category: "Options".into(),
                    key: "SendMarketingEmails".into(),
                    value: String::new(),
                    source: PreferenceSource::Partner,
                },
                Preference {
                    category: "DietaryRequirements".into(),
                    key: "diet".into(),
                    value: "Halal".into(),
                    source: PreferenceSource::Partner,
                },
                Preference {
                    category: "PILLOW".into(),
                    key: "FOAM".into(),
                    value: "two".into(),
                    source: PreferenceSource::Partner,
                },
            ],
        )
        .await
        .unwrap();
    adapter.get_reservation(&c).await.unwrap().unwrap();
    adapter
        .get_reservation_by_id(&ExternalId::parse(r.id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    adapter.arrivals(today).await.unwrap();
    adapter.departures(today).await.unwrap();
    adapter.in_house().await.unwrap();
    let now = Utc::now();
    adapter
        .reservations_changed(ChangeWindow {
            from: now - Duration::days(200),
            to: now,
        })
        .await
        .unwrap();
    adapter
        .add_reservation_note(
            &c,
            &Note {
                text: "VIP amenity".into(),
                title: None,
                internal: false,
            },
        )
        .await
        .unwrap();
    adapter
        .update_checkout(
            &c,
            &CheckoutChange {
                date: BusinessDate::new(r.departure).add_days(1),
                time: Some(NaiveTime::from_hms_opt(14, 0, 0).unwrap()),
            },
        )
        .await
        .unwrap();
    adapter
        .post_charge(
            &c,
            &Charge {
                amount: Money::new(1999, Currency::usd()),
                description: "Room service".into(),
                revenue_center: Some("c0610937-0165-4091-a79c-44eb34173daf".into()),
                reference: "op-contract-1".into(),
            },
        )
        .await
        .unwrap();
    adapter
        .find_charge(&c, "op-contract-1")
        .await
        .unwrap()
        .unwrap();
    adapter.get_balance(&c).await.unwrap();
    adapter.room_statuses().await.unwrap();
    adapter
        .room_status(&RoomNumber::parse(hotel.rooms[0].number.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    adapter
        .room_status_by_id(&ExternalId::parse(hotel.rooms[1].id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    let nights = adapter
        .availability(today, today.add_days(30))
        .await
        .unwrap();
    assert!(nights.len() >= 31, "{} nights", nights.len());
    adapter
        .fetch_entities(&[
            EntityRef {
                kind: EntityKind::Reservation,
                id: ExternalId::parse(r.id.as_str()).unwrap(),
            },
            EntityRef {
                kind: EntityKind::Guest,
                id: guest_id.clone(),
            },
            EntityRef {
                kind: EntityKind::Room,
                id: ExternalId::parse(hotel.rooms[2].id.as_str()).unwrap(),
            },
        ])
        .await;

    // Check every captured request against the docs.
    let spec = MewsSpec::load();
    let documented: BTreeSet<String> = spec.operations().into_iter().collect();
    let captured = env.sim.context.state::<pms_mews::sim::State>().captured();
    assert!(captured.len() > 40, "{} requests", captured.len());
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for req in &captured {
        let op = req.operation().to_owned();
        if req.method != "POST" {
            problems.push(format!("{op}: method {}", req.method));
        }
        if req.content_type.as_deref() != Some("application/json") {
            problems.push(format!("{op}: content type {:?}", req.content_type));
        }
        if !documented.contains(&op) {
            problems.push(format!("{}: not a documented address", req.path));
        }
        let body = req.json();
        let findings = spec.check_request(&op, &body);
        problems.extend(findings.errors);
        problems.extend(
            findings
                .deprecated
                .into_iter()
                .map(|d| format!("{d}: deprecated")),
        );
        // The tokens are the hotel's, and the client names itself.
        if body["AccessToken"] != "sim-mews-access-token"
            || body["Client"] != "pms-integration tests"
        {
            problems.push(format!("{op}: tokens"));
        }
        seen.insert(op);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let expected: BTreeSet<String> = OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, expected, "operations exercised");
    // Nothing failed on the simulated side either.
    let c = env.sim.context.counters()[&pms_mews::PROVIDER].clone();
    assert_eq!((c.unauthorized, c.rate_limit_violations), (0, 0));
}

#[tokio::test]
async fn the_simulator_answers_wrong_addresses_as_mews_does() {
    let env = MewsEnv::default().await;
    let base = env.sim.vendor_url(pms_mews::PROVIDER);
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "ClientToken": "sim-mews-client-token",
        "AccessToken": "sim-mews-access-token",
        "Client": "contract test",
    });
    for (path, status) in [
        ("/api/connector/v1/configuration/get", 200),
        ("/api/connector/v1/configuration/get/", 404),
        ("/api/connector/v1/Configuration/get", 404),
        ("/api/connector/v1/reservations/getAll", 404),
    ] {
        let resp = http
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert!(resp.headers().contains_key("request-id"), "{path}");
    }
    let resp = http
        .get(format!("{base}/api/connector/v1/configuration/get"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // Missing Limitation and an over-long interval: 400 with a Mews error body.
    let mut bad = body.clone();
    bad["UpdatedUtc"] =
        serde_json::json!({"StartUtc": "2026-01-01T00:00:00Z", "EndUtc": "2026-05-01T00:00:00Z"});
    bad["Limitation"] = serde_json::json!({"Count": 10});
    let resp = http
        .post(format!(
            "{base}/api/connector/v1/reservations/getAll/2023-06-06"
        ))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let rid = resp.headers()["request-id"].to_str().unwrap().to_owned();
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(err["Message"].as_str().unwrap().contains("3 months"));
    assert_eq!(err["RequestId"], rid);
    bad["Limitation"] = serde_json::json!({"Count": 1001});
    bad.as_object_mut().unwrap().remove("UpdatedUtc");
    let resp = http
        .post(format!(
            "{base}/api/connector/v1/reservations/getAll/2023-06-06"
        ))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Wrong tokens: 401.
    let mut wrong = body.clone();
    wrong["AccessToken"] = serde_json::json!("nope");
    let resp = http
        .post(format!("{base}/api/connector/v1/configuration/get"))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}
