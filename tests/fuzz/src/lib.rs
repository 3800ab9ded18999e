//! What every fuzz target checks besides "no panic": the properties the product relies on.

use pms_app::ingest::{normalize, IngestKind, Records, MAX_BATCH_ITEMS};
use pms_app::registry::PartnerSystem;
use pms_vendor_kit::pms::decode::{Decoder, Hotel};
use pms_vendor_kit::webhooks::{PayloadError, VendorDelivery};

/// A parsed webhook delivery: a usable dedupe id and property, and the same delivery (so the
/// same dedupe id) when the vendor re-sends the body with other formatting or key order.
pub fn check_webhook(parse: fn(&[u8]) -> Result<VendorDelivery, PayloadError>, body: &[u8]) {
    let Ok(delivery) = parse(body) else {
        return;
    };
    assert_eq!(delivery.delivery_id.len(), 40, "{delivery:?}");
    assert!(
        delivery
            .delivery_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{delivery:?}"
    );
    assert!(!delivery.property_id.is_empty(), "{delivery:?}");
    assert_eq!(delivery.property_id.trim(), delivery.property_id);
    let value: serde_json::Value = serde_json::from_slice(body).expect("the parser read it");
    let reformatted = serde_json::to_vec_pretty(&value).expect("a JSON value serialises");
    let again = parse(&reformatted).expect("the same body, formatted otherwise, parses");
    assert_eq!(again, delivery, "formatting changed the delivery");
}

/// A partner body, as the webhook function reads it (JSON, then the partner model), as each
/// kind: either field errors, or 1 to `MAX_BATCH_ITEMS` records that pass the canonical
/// model's checks and read back equal from their stored form.
pub fn check_ingest(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let partner = PartnerSystem::parse("fuzz-partner").expect("a valid partner system");
    let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time");
    for kind in [
        IngestKind::Bookings,
        IngestKind::Guests,
        IngestKind::Availability,
    ] {
        let normalized = match normalize(kind, &value, &partner, now) {
            Ok(n) => n,
            Err(errors) => {
                assert!(!errors.is_empty(), "refused without a reason");
                continue;
            }
        };
        let n = normalized.records.len();
        assert!((1..=MAX_BATCH_ITEMS).contains(&n), "{n} records");
        match &normalized.records {
            Records::Bookings(v) => {
                for r in v {
                    r.validate().expect("an accepted booking is valid");
                    assert_eq!(r.id.provider(), pms_domain::domain::Provider::PARTNER);
                    round_trip(r);
                }
            }
            Records::Guests(v) => {
                for g in v {
                    for p in &g.preferences {
                        p.validate().expect("an accepted preference is valid");
                    }
                    round_trip(g);
                }
            }
            Records::Availability(v) => {
                for a in v {
                    a.availability
                        .validate()
                        .expect("accepted availability is valid");
                    round_trip(a);
                }
            }
        }
    }
}

fn round_trip<T>(v: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(v).expect("a record serialises");
    let back: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("stored form does not read back ({e}): {json}"));
    assert_eq!(&back, v, "stored form reads back different: {json}");
}

/// A vendor response body through every decoder of the vendor, in one of the sample hotels
/// (picked by the input's length: deterministic, and the fuzzer reaches all of them). Every
/// record must read back equal from its stored form.
pub fn check_decoders(decoders: &[Decoder], body: &[u8]) {
    let hotels = Hotel::samples();
    let hotel = &hotels[body.len() % hotels.len()];
    for d in decoders {
        if let Ok(decoded) = (d.decode)(body, hotel) {
            for r in &decoded.records {
                assert!(r.round_trips(), "{}: {r:?} does not read back", d.name);
            }
        }
    }
}
