//! Prints a delivery as a receiver gets it (headers and the exact body, as JSON), signed now
//! with the secrets given (two: as during a rotation, one signature each), to try a receiver's
//! verification by hand:
//!
//! ```sh
//! cargo run -q -p pms-subscriptions --example signed_delivery -- whsec_... [whsec_...]
//! ```
//!
//! The event is the README's sample (`tests/readme_delivery.rs` keeps the README's copy,
//! signed at a fixed time, equal to what this code sends).

#![allow(clippy::expect_used)] // fixed sample values: a failure is a bug in this file

use chrono::{DateTime, Utc};
use pms_domain::domain::events::{field_changes, DomainEvent, EventType};
use pms_domain::domain::{HotelId, Provider};
use pms_subscriptions::deliver::SignedRequest;
use pms_subscriptions::SigningSecret;
use serde_json::json;

/// Room 204 of hotel `h1` (Mews) cleaned: a `pms.room.status_changed`.
pub fn sample_event() -> DomainEvent {
    let at: DateTime<Utc> = "2026-12-07T14:03:11Z".parse().expect("a time");
    let room = |housekeeping: &str, raw: &str| {
        json!({
            "provider": "mews",
            "roomNumber": "204",
            "roomType": "DBL",
            "occupancy": "vacant",
            "housekeeping": housekeeping,
            "rawStatus": raw,
            "floor": "2",
            "doNotDisturb": false,
            "sourceUpdatedAt": at,
        })
    };
    let before = room("dirty", "Dirty");
    let after = room("clean", "Clean");
    DomainEvent::new(
        EventType::RoomStatusChanged,
        HotelId::parse("h1").expect("a hotel id"),
        Provider::named("mews"),
        "204",
        u64::try_from(at.timestamp_millis()).expect("after 1970"),
        at,
        Some("c-5d2e8a61".into()),
        after.clone(),
    )
    .with_changes(field_changes(Some(&before), &after))
}

#[allow(clippy::print_stdout)] // the example's output
fn main() {
    let secrets: Result<Vec<SigningSecret>, _> = std::env::args()
        .skip(1)
        .map(|s| SigningSecret::parse(&s))
        .collect();
    let secrets = match secrets {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("usage: signed_delivery whsec_... [whsec_...]");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let r = SignedRequest::new(&sample_event(), &secrets, Utc::now());
    let out = json!({
        "headers": {
            "webhook-id": r.id,
            "webhook-timestamp": r.timestamp.to_string(),
            "webhook-signature": r.signature,
        },
        "body": String::from_utf8(r.body).expect("JSON is UTF-8"),
    });
    println!("{out:#}");
}
