use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use pms_domain::domain::events::DomainEvent;
use pms_domain::domain::hash::content_hash;
use pms_domain::domain::{
    Availability, BusinessDate, ConfirmationNumber, Guest, HotelId, RecordId, Reservation,
    RoomNumber, RoomStatus,
};
use pms_domain::ports::{IndexKeys, Item, ItemKey, Partition, PortResult};

/// What a stored canonical record holds: the record, and the domain events its last change
/// produced that are not yet known to be published (an outbox in the record itself, so a change
/// and its events are written in one put).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRecord<T> {
    pub record: T,
    pub stored_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_events: Vec<DomainEvent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Booking,
    Guest,
    Room,
    Availability,
}

impl RecordKind {
    pub fn prefix(self) -> &'static str {
        match self {
            RecordKind::Booking => "BOOKING#",
            RecordKind::Guest => "GUEST#",
            RecordKind::Room => "ROOM#",
            RecordKind::Availability => "AVAIL#",
        }
    }
}

pub fn booking_key(hotel: &HotelId, id: &RecordId) -> ItemKey {
    ItemKey::hotel(
        hotel,
        format!("BOOKING#{}#{}", id.provider(), id.external()),
    )
}

pub fn guest_key(hotel: &HotelId, id: &RecordId) -> ItemKey {
    ItemKey::hotel(hotel, format!("GUEST#{}#{}", id.provider(), id.external()))
}

pub fn room_key(hotel: &HotelId, room: &RoomNumber) -> ItemKey {
    ItemKey::hotel(hotel, format!("ROOM#{room}"))
}

pub fn availability_key(hotel: &HotelId, a: &Availability) -> ItemKey {
    ItemKey::hotel(hotel, format!("AVAIL#{}#{}", a.date, a.room_type))
}

/// Sort key of a booking in the arrivals / departures index: date first, so a date range is one
/// key range; the record id after it keeps keys unique.
pub fn date_index_key(date: BusinessDate, id: &RecordId) -> String {
    format!("BOOKING#{date}#{}#{}", id.provider(), id.external())
}

/// Bounds of a date range in the date indexes (inclusive).
pub fn date_range_bounds(from: BusinessDate, to: BusinessDate) -> (String, String) {
    (
        format!("BOOKING#{from}#"),
        format!("BOOKING#{to}#\u{10FFFF}"),
    )
}

/// Lookup-index sort key of a booking's confirmation number.
pub fn confirmation_lookup(confirmation: &ConfirmationNumber) -> String {
    format!("CONF#{confirmation}#")
}

pub(crate) fn booking_item(
    hotel: &HotelId,
    r: &Reservation,
    stored_at: DateTime<Utc>,
    pending_events: Vec<DomainEvent>,
) -> PortResult<Item> {
    let stored = StoredRecord {
        record: r,
        stored_at,
        pending_events,
    };
    Ok(Item::encode(booking_key(hotel, &r.id), &stored)?
        .with_version(r.version, content_hash(r))
        .with_index(IndexKeys {
            by_arrival: Some(date_index_key(r.arrival, &r.id)),
            by_departure: Some(date_index_key(r.departure, &r.id)),
            lookup: Some((
                Partition::Hotel(hotel.clone()),
                format!(
                    "{}{}#{}",
                    confirmation_lookup(&r.confirmation_number),
                    r.id.provider(),
                    r.id.external()
                ),
            )),
        }))
}

pub(crate) fn guest_item(
    hotel: &HotelId,
    g: &Guest,
    stored_at: DateTime<Utc>,
    pending_events: Vec<DomainEvent>,
) -> PortResult<Item> {
    let stored = StoredRecord {
        record: g,
        stored_at,
        pending_events,
    };
    Ok(Item::encode(guest_key(hotel, &g.id), &stored)?.with_version(g.version, content_hash(g)))
}

pub(crate) fn room_item(
    hotel: &HotelId,
    r: &RoomStatus,
    version: u64,
    stored_at: DateTime<Utc>,
    pending_events: Vec<DomainEvent>,
) -> PortResult<Item> {
    let stored = StoredRecord {
        record: r,
        stored_at,
        pending_events,
    };
    Ok(Item::encode(room_key(hotel, &r.room_number), &stored)?
        .with_version(version, content_hash(r)))
}

pub(crate) fn availability_item(
    hotel: &HotelId,
    a: &Availability,
    stored_at: DateTime<Utc>,
    pending_events: Vec<DomainEvent>,
) -> PortResult<Item> {
    let stored = StoredRecord {
        record: a,
        stored_at,
        pending_events,
    };
    Ok(Item::encode(availability_key(hotel, a), &stored)?.with_version(a.version, content_hash(a)))
}
