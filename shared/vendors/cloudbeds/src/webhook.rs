//! Cloudbeds webhooks: one event per request, e.g. `{"reservationID":"…","propertyID":318267,
//! "propertyID_str":"318267","version":"1.0","event":"reservation/created",
//! "timestamp":1766005022.073195}`. Reservation events spell ids `…ID`, guest events `…Id`, and
//! both come as integers or as `…_str` strings; we accept every spelling.

use serde_json::{Map, Value};

use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::ExternalId;
use pms_domain::pms::{EntityKind, EntityRef};
use pms_vendor_kit::webhooks::{id_text, DedupePolicy, PayloadError, ThinEvent, VendorDelivery};

/// The first present spelling of an id field (`propertyID`, `propertyId`, `propertyID_str`...).
fn field(obj: &Map<String, Value>, base: &str) -> Option<String> {
    let camel = format!("{}Id", base);
    let upper = format!("{}ID", base);
    [
        upper.clone(),
        camel.clone(),
        format!("{upper}_str"),
        format!("{camel}_str"),
    ]
    .iter()
    .find_map(|k| obj.get(k).and_then(id_text))
}

fn entity(obj: &Map<String, Value>, base: &str, kind: EntityKind) -> Option<EntityRef> {
    let id = field(obj, base)?;
    match ExternalId::parse(id) {
        Ok(id) => Some(EntityRef { kind, id }),
        Err(_) => {
            tracing::warn!(field = base, "Cloudbeds event with an unusable id ignored");
            None
        }
    }
}

/// The entities an event names: reservation events their reservation, guest events the guest
/// (and its reservation, whose guest list changed), housekeeping events the room.
fn entities(event: &str, obj: &Map<String, Value>) -> Vec<EntityRef> {
    let (family, _) = event.split_once('/').unwrap_or((event, ""));
    let found = match family {
        "reservation" => vec![entity(obj, "reservation", EntityKind::Reservation)],
        "guest" => vec![
            entity(obj, "guest", EntityKind::Guest),
            entity(obj, "reservation", EntityKind::Reservation),
        ],
        "housekeeping" => vec![entity(obj, "room", EntityKind::Room)],
        // accounting/*, night_audit/*, integration/*, roomblock/*...: acknowledged.
        _ => vec![],
    };
    found.into_iter().flatten().collect()
}

pub fn parse(body: &[u8]) -> Result<VendorDelivery, PayloadError> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    let obj = json
        .as_object()
        .ok_or_else(|| PayloadError::invalid("body", "must be a JSON object"))?;
    let event = obj
        .get("event")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| PayloadError::required("event"))?
        .trim()
        .to_owned();
    let property = field(obj, "property").ok_or_else(|| PayloadError::required("propertyID"))?;
    let entities = entities(&event, obj);
    // Cloudbeds stamps each event: event, entity and timestamp identify it, and a repeat is the
    // same event. Without a stamp the whole (canonical) body is the identity, and the same
    // content may be a later change.
    let stamp = obj
        .get("timestamp")
        .filter(|t| t.is_number() || t.is_string());
    let dedupe = if stamp.is_some() {
        DedupePolicy::ExactEvent
    } else {
        DedupePolicy::WhilePending
    };
    let identity = match stamp {
        Some(ts) => {
            let ids: Vec<String> = entities.iter().map(|e| e.id.to_string()).collect();
            format!("{event}|{property}|{}|{ts}", ids.join(","))
        }
        None => serde_json::to_string(&json).unwrap_or_default(),
    };
    let delivery_id = sha256_hex(format!("cloudbeds|{identity}").as_bytes())[..40].to_owned();
    VendorDelivery {
        provider: crate::PROVIDER,
        property_id: property,
        delivery_id,
        dedupe,
        events: vec![ThinEvent {
            name: event,
            entities,
        }],
    }
    .within_limits("event")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = include_str!("../testdata/reservation-created.json");
    const GUEST: &str = include_str!("../testdata/guest-created.json");

    #[test]
    fn reservation_events_use_upper_id_and_integer_property() {
        let d = parse(CREATED.as_bytes()).unwrap();
        assert_eq!(d.provider, crate::PROVIDER);
        assert_eq!(d.property_id, "318267");
        let e = d.entities();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, EntityKind::Reservation);
        assert_eq!(e[0].id.as_str(), "8264173821462");
    }

    #[test]
    fn guest_events_use_camel_id_and_strings() {
        let d = parse(GUEST.as_bytes()).unwrap();
        assert_eq!(d.property_id, "318267");
        assert_eq!(d.entities()[0].kind, EntityKind::Guest);
        let only_str = br#"{"event":"guest/details_changed","propertyId_str":"77","guestId_str":"g9","timestamp":1.5}"#;
        let d = parse(only_str).unwrap();
        assert_eq!(d.property_id, "77");
        assert_eq!(d.entities()[0].id.as_str(), "g9");
    }

    #[test]
    fn housekeeping_names_the_room_and_unknown_events_are_ignored() {
        let d = parse(br#"{"event":"housekeeping/room_condition_changed","propertyID":1,"roomID":"601917-0","timestamp":2}"#).unwrap();
        assert_eq!(d.entities()[0].kind, EntityKind::Room);
        let d =
            parse(br#"{"event":"night_audit/completed","propertyID":1,"timestamp":3}"#).unwrap();
        assert!(d.entities().is_empty());
        assert_eq!(d.ignored(), ["night_audit/completed"]);
    }

    #[test]
    fn the_same_event_has_the_same_id_and_a_later_one_does_not() {
        let a = parse(CREATED.as_bytes()).unwrap();
        let reordered: Value = serde_json::from_str(CREATED).unwrap();
        let b = parse(serde_json::to_string_pretty(&reordered).unwrap().as_bytes()).unwrap();
        assert_eq!(a.delivery_id, b.delivery_id);
        let mut later = reordered.clone();
        later["timestamp"] = serde_json::json!(1766005099.5);
        let c = parse(later.to_string().as_bytes()).unwrap();
        assert_ne!(a.delivery_id, c.delivery_id);
    }

    #[test]
    fn property_and_event_are_required() {
        assert!(matches!(
            parse(br#"{"event":"reservation/created","reservationID":"1"}"#),
            Err(PayloadError::Invalid {
                field: "propertyID",
                ..
            })
        ));
        assert!(matches!(
            parse(br#"{"propertyID":1}"#),
            Err(PayloadError::Invalid { field: "event", .. })
        ));
        assert!(matches!(parse(b"nope"), Err(PayloadError::Malformed(_))));
    }
}
