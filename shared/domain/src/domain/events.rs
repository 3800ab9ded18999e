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
        }
    }
}
