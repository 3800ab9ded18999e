//! Mews general webhooks: `{"EnterpriseId", "IntegrationId", "Events":[{"Discriminator",
//! "Value":{"Id"}}]}`. Events carry ids only; each entity is fetched with the matching getAll.
//! Unknown discriminators (and ones we do not act on) are kept as ignored events, never errors.

use serde_json::Value;

use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::ExternalId;
use pms_domain::pms::{EntityKind, EntityRef};
use pms_vendor_kit::webhooks::{
    id_text, DedupePolicy, PayloadError, ThinEvent, VendorDelivery, MAX_EVENTS,
};

/// The entity kind a discriminator names, for the ones a refresh can fetch.
pub fn entity_kind(discriminator: &str) -> Option<EntityKind> {
    match discriminator {
        // Reservations are the only service orders Mews sends today.
        "ServiceOrderUpdated" => Some(EntityKind::Reservation),
        "ResourceUpdated" => Some(EntityKind::Room),
        "CustomerAdded" | "CustomerUpdated" => Some(EntityKind::Guest),
        // MessageAdded, PaymentUpdated, ResourceBlockUpdated and future types: acknowledged.
        _ => None,
    }
}

pub fn parse(body: &[u8]) -> Result<VendorDelivery, PayloadError> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    let obj = json
        .as_object()
        .ok_or_else(|| PayloadError::invalid("body", "must be a JSON object"))?;
    let enterprise = obj
        .get("EnterpriseId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| PayloadError::required("EnterpriseId"))?;
    let raw_events = obj
        .get("Events")
        .and_then(Value::as_array)
        .ok_or_else(|| PayloadError::required("Events"))?;
    if raw_events.len() > MAX_EVENTS {
        return Err(PayloadError::Invalid {
            field: "Events",
            code: "TOO_MANY_EVENTS",
            message: format!(
                "has {} events; at most {MAX_EVENTS} are taken per delivery",
                raw_events.len()
            ),
        });
    }
    let mut events = Vec::with_capacity(raw_events.len());
    for e in raw_events {
        let name = e
            .get("Discriminator")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let id = e.get("Value").and_then(|v| v.get("Id")).and_then(id_text);
        let entities = match (entity_kind(&name), id) {
            (Some(kind), Some(id)) => match ExternalId::parse(id) {
                Ok(id) => vec![EntityRef { kind, id }],
                Err(_) => {
                    tracing::warn!(event = %name, "Mews event with an unusable entity id ignored");
                    vec![]
                }
            },
            (Some(_), None) => {
                tracing::warn!(event = %name, "Mews event without Value.Id ignored");
                vec![]
            }
            (None, _) => vec![],
        };
        events.push(ThinEvent { name, entities });
    }
    // Mews gives no event id or time: the delivery is identified by what it says. serde_json's
    // map is ordered, so the re-serialised events are canonical whatever the key order sent.
    let canonical = serde_json::to_string(raw_events).unwrap_or_default();
    let delivery_id =
        sha256_hex(format!("mews|{enterprise}|{canonical}").as_bytes())[..40].to_owned();
    VendorDelivery {
        provider: crate::PROVIDER,
        property_id: enterprise,
        delivery_id,
        dedupe: DedupePolicy::WhilePending,
        events,
    }
    .within_limits("Events")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERAL: &str = include_str!("../testdata/wh-general.json");

    #[test]
    fn the_official_example_names_four_entities_and_ignores_two_events() {
        let d = parse(GENERAL.as_bytes()).unwrap();
        assert_eq!(d.provider, crate::PROVIDER);
        assert_eq!(d.property_id, "851df8c8-90f2-4c4a-8e01-a4fc46b25178");
        assert_eq!(d.events.len(), 6);
        let kinds: Vec<EntityKind> = d.entities().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EntityKind::Reservation,
                EntityKind::Room,
                EntityKind::Guest,
                EntityKind::Guest
            ]
        );
        assert_eq!(d.ignored(), ["MessageAdded", "PaymentUpdated"]);
    }

    #[test]
    fn added_and_updated_for_one_customer_is_one_entity() {
        let body = r#"{"EnterpriseId":"e","IntegrationId":"i","Events":[
            {"Discriminator":"CustomerAdded","Value":{"Id":"c-1"}},
            {"Discriminator":"CustomerUpdated","Value":{"Id":"c-1"}},
            {"Discriminator":"SomethingNew","Value":{"Id":"x"},"Extra":true}]}"#;
        let d = parse(body.as_bytes()).unwrap();
        assert_eq!(d.entities().len(), 1);
        assert_eq!(d.ignored(), ["SomethingNew"]);
    }

    #[test]
    fn delivery_id_ignores_key_order_and_whitespace_but_not_content() {
        let a = r#"{"EnterpriseId":"e","Events":[{"Discriminator":"CustomerAdded","Value":{"Id":"c"}}]}"#;
        let b = r#"{ "Events":[ {"Value":{"Id":"c"}, "Discriminator":"CustomerAdded"} ], "EnterpriseId":"e" }"#;
        let c = r#"{"EnterpriseId":"e","Events":[{"Discriminator":"CustomerAdded","Value":{"Id":"d"}}]}"#;
        let id = |s: &str| parse(s.as_bytes()).unwrap().delivery_id;
        assert_eq!(id(a), id(b));
        assert_ne!(id(a), id(c));
    }

    #[test]
    fn too_many_events_or_entities_are_refused_naming_the_field() {
        use pms_vendor_kit::webhooks::{MAX_ENTITIES, MAX_EVENTS};
        let body = |events: usize, distinct: usize| {
            let events: Vec<serde_json::Value> = (0..events)
                .map(|i| {
                    serde_json::json!({"Discriminator": "CustomerUpdated",
                                       "Value": {"Id": format!("c-{}", i % distinct)}})
                })
                .collect();
            serde_json::json!({"EnterpriseId": "e", "Events": events}).to_string()
        };
        let code = |b: String| match parse(b.as_bytes()) {
            Err(PayloadError::Invalid { field, code, .. }) => Some((field, code)),
            _ => None,
        };
        assert!(parse(body(MAX_EVENTS, 10).as_bytes()).is_ok());
        assert!(parse(body(MAX_ENTITIES, MAX_ENTITIES).as_bytes()).is_ok());
        assert_eq!(
            code(body(MAX_EVENTS + 1, 1)),
            Some(("Events", "TOO_MANY_EVENTS"))
        );
        assert_eq!(
            code(body(MAX_ENTITIES + 1, MAX_ENTITIES + 1)),
            Some(("Events", "TOO_MANY_ENTITIES"))
        );
    }

    #[test]
    fn malformed_and_incomplete_bodies() {
        assert!(matches!(parse(b"{"), Err(PayloadError::Malformed(_))));
        assert!(matches!(
            parse(b"[]"),
            Err(PayloadError::Invalid { field: "body", .. })
        ));
        assert!(matches!(
            parse(br#"{"Events":[]}"#),
            Err(PayloadError::Invalid {
                field: "EnterpriseId",
                ..
            })
        ));
        assert!(matches!(
            parse(br#"{"EnterpriseId":"e"}"#),
            Err(PayloadError::Invalid {
                field: "Events",
                ..
            })
        ));
        // A known event without an id is acknowledged, not fatal.
        let d =
            parse(br#"{"EnterpriseId":"e","Events":[{"Discriminator":"CustomerAdded"}]}"#).unwrap();
        assert!(d.entities().is_empty());
    }
}
