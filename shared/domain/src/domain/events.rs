//! Domain events published on the EventBridge bus when a stored record really changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::hash::sha256_hex;
use super::{HotelId, Provider, ReservationStatus};

/// EventBridge `source` of every event we publish.
pub const EVENT_SOURCE: &str = "pms.integration";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "pms.booking.synced")]
    BookingSynced,
    #[serde(rename = "pms.guest.synced")]
    GuestSynced,
    #[serde(rename = "pms.availability.synced")]
    AvailabilitySynced,
    #[serde(rename = "pms.booking.checked_in")]
    BookingCheckedIn,
    #[serde(rename = "pms.booking.checked_out")]
    BookingCheckedOut,
    #[serde(rename = "pms.booking.cancelled")]
    BookingCancelled,
    #[serde(rename = "pms.room.status_changed")]
    RoomStatusChanged,
}

impl EventType {
    /// The EventBridge `detail-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::BookingSynced => "pms.booking.synced",
            EventType::GuestSynced => "pms.guest.synced",
            EventType::AvailabilitySynced => "pms.availability.synced",
            EventType::BookingCheckedIn => "pms.booking.checked_in",
            EventType::BookingCheckedOut => "pms.booking.checked_out",
            EventType::BookingCancelled => "pms.booking.cancelled",
            EventType::RoomStatusChanged => "pms.room.status_changed",
        }
    }

    /// Every event type, in the order partners see them listed.
    pub const ALL: [EventType; 7] = [
        EventType::BookingSynced,
        EventType::BookingCheckedIn,
        EventType::BookingCheckedOut,
        EventType::BookingCancelled,
        EventType::GuestSynced,
        EventType::RoomStatusChanged,
        EventType::AvailabilitySynced,
    ];

    /// The type named `name` (its detail-type, `pms.booking.checked_in`).
    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name.trim())
    }

    /// The transition event for a status change, if the new status is one partners act on.
    pub fn for_transition(
        from: Option<ReservationStatus>,
        to: ReservationStatus,
    ) -> Option<EventType> {
        if from == Some(to) {
            return None;
        }
        match to {
            ReservationStatus::CheckedIn => Some(EventType::BookingCheckedIn),
            ReservationStatus::CheckedOut => Some(EventType::BookingCheckedOut),
            ReservationStatus::Cancelled => Some(EventType::BookingCancelled),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    /// Deterministic: the same change (hotel, type, entity, version) always has the same id, so
    /// consumers can drop a duplicate delivery.
    pub id: String,
    pub event_type: EventType,
    pub hotel_id: HotelId,
    pub provider: Provider,
    pub entity_id: String,
    pub version: u64,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: Option<String>,
    pub data: serde_json::Value,
    /// What changed: each canonical field whose value differs from the stored record's, with
    /// both values (`before` null when the record is new), so a receiver needs no copy of its
    /// own to see "room 101 -> 204". Events stored before this field existed have none.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
}

/// One field of a record, before and after a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The record's field name, as the event's `data` names it (`roomNumber`, `status`).
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// The fields of `after` (a record as JSON) that differ from `before` (the stored one; `None`
/// for a new record), in field-name order. Bookkeeping fields (version, source stamps) are not
/// changes, as they are not for the content hash; a field that disappears is a change to null.
pub fn field_changes(
    before: Option<&serde_json::Value>,
    after: &serde_json::Value,
) -> Vec<FieldChange> {
    use serde_json::Value;
    let empty = serde_json::Map::new();
    let fields = |v: Option<&Value>| match v {
        Some(Value::Object(m)) => m.clone(),
        _ => empty.clone(),
    };
    let (old, new) = (fields(before), fields(Some(after)));
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|name| !super::hash::VOLATILE.contains(&name.as_str()))
        .filter_map(|name| {
            let was = old.get(name).cloned().unwrap_or(Value::Null);
            let is = new.get(name).cloned().unwrap_or(Value::Null);
            (was != is).then(|| FieldChange {
                field: name.clone(),
                before: was,
                after: is,
            })
        })
        .collect()
}

impl DomainEvent {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        event_type: EventType,
        hotel_id: HotelId,
        provider: Provider,
        entity_id: impl Into<String>,
        version: u64,
        occurred_at: DateTime<Utc>,
        correlation_id: Option<String>,
        data: serde_json::Value,
    ) -> Self {
        let entity_id = entity_id.into();
        let id = sha256_hex(
            format!(
                "{}|{}|{}|{}",
                hotel_id,
                event_type.as_str(),
                entity_id,
                version
            )
            .as_bytes(),
        )[..32]
            .to_owned();
        Self {
            id,
            event_type,
            hotel_id,
            provider,
            entity_id,
            version,
            occurred_at,
            correlation_id,
            data,
            changes: Vec::new(),
        }
    }

    /// The event with what changed (see [`field_changes`]).
    pub fn with_changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.changes = changes;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_name_each_field_that_differs_with_both_values() {
        let before = json!({"roomNumber": "101", "status": "checked_in", "adults": 2,
                            "version": 1, "sourceUpdatedAt": "t1", "notes": ["a"]});
        let after = json!({"roomNumber": "204", "status": "checked_in", "adults": 2,
                           "version": 2, "sourceUpdatedAt": "t2"});
        let c = field_changes(Some(&before), &after);
        assert_eq!(
            c,
            [
                FieldChange {
                    field: "notes".into(),
                    before: json!(["a"]),
                    after: json!(null)
                },
                FieldChange {
                    field: "roomNumber".into(),
                    before: json!("101"),
                    after: json!("204")
                },
            ]
        );
    }

    #[test]
    fn a_new_record_changes_every_field_from_null() {
        let c = field_changes(
            None,
            &json!({"status": "confirmed", "version": 1, "x": null}),
        );
        assert_eq!(
            c,
            [FieldChange {
                field: "status".into(),
                before: json!(null),
                after: json!("confirmed")
            }]
        );
    }
}
