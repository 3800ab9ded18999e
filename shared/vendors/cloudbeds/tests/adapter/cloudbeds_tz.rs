//! Business dates and local date-times across time zones, through the simulator: Cloudbeds
//! speaks the hotel's wall clock with no offset, so a UTC window must be sent, and stamps read,
//! in the hotel's zone. Far zones (Honolulu UTC-10, Auckland UTC+12/13) and a DST change day.

use crate::cloudbeds_support;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use cloudbeds_support::*;
use pms_domain::domain::BusinessDate;
use pms_domain::pms::ChangeWindow;
use pms_sim::data::SimReservation;
use pms_sim::SimStatus;

const HNL: &str = "900001";
const AKL: &str = "900002";
const NYC: &str = "900003";

fn zones() -> pms_sim::SimConfig {
    config_with(&[
        (HNL, chrono_tz::Pacific::Honolulu, "cbat_hnl"),
        (AKL, chrono_tz::Pacific::Auckland, "cbat_akl"),
        (NYC, chrono_tz::America::New_York, "cbat_nyc"),
    ])
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn arrivals_and_changes_follow_the_hotels_own_day_in_far_zones() {
    let sim = simulator(zones()).await;
    for (property, tz, key) in [
        (HNL, "Pacific/Honolulu", "cbat_hnl"),
        (AKL, "Pacific/Auckland", "cbat_akl"),
    ] {
        let config = hotel_config(&sim, property, tz);
        let adapter = adapter_for(&config, key).await;
        let hotel = sim
            .admin()
            .hotel(pms_cloudbeds::PROVIDER, property)
            .await
            .unwrap();
        // The hotel's today, not UTC's: for most of the day they differ in these zones.
        let today = config.time_zone.business_date(Utc::now());
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
        assert_eq!(got, want, "{tz}");

        // A change made now is found by a window around now, in UTC, and its stamp reads back
        // as the same instant (to the second) in this zone.
        let r = &hotel.reservations[5];
        let patched = sim
            .admin()
            .patch_reservation(
                pms_cloudbeds::PROVIDER,
                property,
                &r.id,
                &pms_sim::ReservationPatch {
                    rate_code: Some("CORP".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let window = ChangeWindow {
            from: patched.updated_at - Duration::seconds(2),
            to: patched.updated_at + Duration::seconds(2),
        };
        let changed = adapter.reservations_changed(window).await.unwrap();
        let found = changed
            .items
            .iter()
            .find(|x| x.id.external().as_str() == r.id)
            .unwrap_or_else(|| panic!("{tz}: the change is not in its window"));
        let read = found.source_updated_at.unwrap();
        assert!(
            (read - patched.updated_at).num_milliseconds().abs() < 1000,
            "{tz}: {read} vs {}",
            patched.updated_at
        );
        // Only what changed in those seconds.
        assert!(changed.items.len() <= 2, "{tz}: {}", changed.items.len());
    }
    assert_eq!(counters(&sim).await.rate_limit_violations, 0);
    sim.stop().await;
}

fn stay(id: &str, guest: &str, updated: DateTime<Utc>) -> SimReservation {
    SimReservation {
        id: id.into(),
        confirmation: id.into(),
        guest_id: guest.into(),
        room_id: None,
        room_type: "KING".into(),
        arrival: NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
        departure: NaiveDate::from_ymd_opt(2026, 11, 7).unwrap(),
        arrival_time: NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
        departure_time: NaiveTime::from_hms_opt(11, 0, 0).unwrap(),
        status: SimStatus::Confirmed,
        raw_status: None,
        adults: 2,
        children: 0,
        rate_code: "BAR".into(),
        nightly_rate_minor: 18_000,
        payments_minor: 0,
        notes: vec![],
        special_requests: vec![],
        created_at: updated - Duration::days(30),
        updated_at: updated,
    }
}

#[tokio::test]
async fn a_delta_across_the_fall_back_hour_misses_nothing() {
    let sim = simulator(zones()).await;
    let config = hotel_config(&sim, NYC, "America/New_York");
    let adapter = adapter_for(&config, "cbat_nyc").await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, NYC)
        .await
        .unwrap();
    let guest = hotel.guests[0].id.clone();
    // 1 November 2026, New York: 01:00-02:00 happens twice (EDT, then EST at 06:00Z).
    let edt = utc("2026-11-01T05:55:00Z"); // 01:55 EDT
    let est = utc("2026-11-01T06:05:00Z"); // 01:05 EST, wall clock earlier than the one before
    let outside = utc("2026-11-01T08:30:00Z"); // 03:30 EST
    for (id, at) in [("777001", edt), ("777002", est), ("777003", outside)] {
        sim.admin()
            .add_reservation(pms_cloudbeds::PROVIDER, NYC, &stay(id, &guest, at))
            .await
            .unwrap();
    }
    let changed = adapter
        .reservations_changed(ChangeWindow {
            from: utc("2026-11-01T05:50:00Z"),
            to: utc("2026-11-01T06:10:00Z"),
        })
        .await
        .unwrap();
    let ids: BTreeSet<String> = changed
        .items
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert!(ids.contains("777001"), "{ids:?}");
    assert!(ids.contains("777002"), "{ids:?}");
    assert!(!ids.contains("777003"), "{ids:?}");
    // A stamp in the repeated hour cannot say which pass it was (Cloudbeds gives no offset);
    // it reads as the earlier one, never a time that was not on the clock.
    let second_pass = changed
        .items
        .iter()
        .find(|r| r.id.external().as_str() == "777002")
        .unwrap();
    assert_eq!(
        second_pass.source_updated_at,
        Some(utc("2026-11-01T05:05:00Z"))
    );
    // On the spring-forward day every local stamp is one instant.
    let spring = utc("2026-03-08T07:15:42Z"); // 03:15:42 EDT
    sim.admin()
        .add_reservation(
            pms_cloudbeds::PROVIDER,
            NYC,
            &stay("777004", &guest, spring),
        )
        .await
        .unwrap();
    let r = adapter
        .get_reservation(&pms_domain::domain::ConfirmationNumber::parse("777004").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.source_updated_at, Some(spring));
    assert_eq!(r.arrival.to_string(), "2026-11-05");
    sim.stop().await;
}
