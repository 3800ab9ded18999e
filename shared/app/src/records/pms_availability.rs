//! Availability read from the PMS (the sync's `availability` feed) in the store. It has a key
//! of its own, `PMSAVAIL#<date>#<room type>`, beside the partners' `AVAIL#<date>#<room type>`:
//! a partner's push never overwrites the PMS's count of a night and the PMS's never a
//! partner's, and each read answers one source.
//!
//! Its version is when the read began (epoch ms): a slower read that began earlier never
//! overwrites a later one. Like room states it is re-read every run, so an unchanged night
//! writes nothing (not even its newer version, see [`Mergeable::keeps_newer_version`]); a night
//! stays until a week after it has passed.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::keys::StoredRecord;
use super::merge::Mergeable;
use pms_domain::domain::events::{DomainEvent, EventType};
use pms_domain::domain::hash::content_hash;
use pms_domain::domain::{
    BusinessDate, HotelId, PmsAvailability, PropertyTz, Provider, Reservation, RoomTypeCode,
};
use pms_domain::ports::{Item, ItemKey, PortResult};

/// Sort key prefix of PMS availability (partners' is `AVAIL#`, which this does not start with,
/// so neither source's date range ever reads the other's items).
pub const PMS_AVAILABILITY_PREFIX: &str = "PMSAVAIL#";

/// How long a night is kept after it has passed.
const KEEP_AFTER_NIGHT: Duration = Duration::days(7);

pub fn pms_availability_key(
    hotel: &HotelId,
    date: BusinessDate,
    room_type: &RoomTypeCode,
) -> ItemKey {
    ItemKey::hotel(
        hotel,
        format!("{PMS_AVAILABILITY_PREFIX}{date}#{room_type}"),
    )
}

/// Bounds of a date range of PMS availability (inclusive).
pub fn pms_availability_bounds(from: BusinessDate, to: BusinessDate) -> (String, String) {
    (
        format!("{PMS_AVAILABILITY_PREFIX}{from}#"),
        format!("{PMS_AVAILABILITY_PREFIX}{to}#\u{10FFFF}"),
    )
}

/// One night of one room type as a sync read it, and when that read began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncedAvailability {
    #[serde(flatten)]
    pub availability: PmsAvailability,
    /// The version; not part of the record (nor of its content hash), so an unchanged night
    /// read again is unchanged.
    #[serde(skip)]
    pub read_at: DateTime<Utc>,
    /// The property's zone, for the night's expiry; not stored.
    #[serde(skip)]
    pub tz: Option<PropertyTz>,
}

impl SyncedAvailability {
    pub fn new(availability: PmsAvailability, read_at: DateTime<Utc>, tz: PropertyTz) -> Self {
        Self {
            availability,
            read_at,
            tz: Some(tz),
        }
    }

    /// Epoch seconds after which the item is gone: a week after the night ends.
    fn expires_at(&self) -> i64 {
        let tz = self.tz.unwrap_or_else(PropertyTz::utc);
        let (_, end) = tz.day_bounds(self.availability.date);
        (end + KEEP_AFTER_NIGHT).timestamp()
    }
}

impl Mergeable for SyncedAvailability {
    fn key(&self, hotel: &HotelId) -> ItemKey {
        pms_availability_key(hotel, self.availability.date, &self.availability.room_type)
    }
    fn entity_id(&self) -> String {
        format!("{}:{}", self.availability.date, self.availability.room_type)
    }
    fn provider(&self) -> Provider {
        self.availability.provider
    }
    fn version(&self, _now: DateTime<Utc>) -> u64 {
        Reservation::version_from(Some(self.read_at))
    }
    fn to_item(
        &self,
        hotel: &HotelId,
        now: DateTime<Utc>,
        pending: Vec<DomainEvent>,
    ) -> PortResult<Item> {
        let stored = StoredRecord {
            record: self,
            stored_at: now,
            pending_events: pending,
        };
        Ok(Item::encode(self.key(hotel), &stored)?
            .with_version(self.version(now), content_hash(self))
            .expiring_at(self.expires_at()))
    }
    /// Every night is read again each run: a newer version of an unchanged night is not worth
    /// a write (a read that began earlier and differs can still land until the next run
    /// corrects it, as for room states).
    fn keeps_newer_version(&self) -> bool {
        false
    }
    fn event_types(&self, _previous: Option<&Self>) -> Vec<EventType> {
        vec![EventType::AvailabilitySynced]
    }
}

/// The stored shape, as reads decode it.
#[derive(Deserialize)]
pub struct StoredPmsAvailability {
    pub record: PmsAvailability,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn night(available: u32) -> PmsAvailability {
        PmsAvailability {
            date: BusinessDate::parse("2026-12-03").unwrap(),
            room_type: RoomTypeCode::parse("KING").unwrap(),
            room_type_id: "88430".into(),
            available,
            total: Some(10),
            out_of_order: None,
            provider: Provider::named("cloudbeds"),
        }
    }

    #[test]
    fn the_read_time_is_the_version_and_not_the_content() {
        let tz = PropertyTz::parse("Pacific/Honolulu").unwrap();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let a = SyncedAvailability::new(night(4), t("2026-12-01T10:00:00Z"), tz);
        let b = SyncedAvailability::new(night(4), t("2026-12-01T10:05:00Z"), tz);
        assert_eq!(content_hash(&a), content_hash(&b));
        assert!(b.version(Utc::now()) > a.version(Utc::now()));
        let hotel = HotelId::parse("h1").unwrap();
        assert_eq!(a.key(&hotel).sort, "PMSAVAIL#2026-12-03#KING");
        let item = a.to_item(&hotel, Utc::now(), vec![]).unwrap();
        // Kept until a week after the Honolulu night of Dec 3 ends (Dec 4 10:00 UTC).
        assert_eq!(item.expires_at, Some(t("2026-12-11T10:00:00Z").timestamp()));
        let back: StoredRecord<SyncedAvailability> = item.decode().unwrap();
        assert_eq!(back.record.availability, night(4));
        assert_ne!(
            content_hash(&SyncedAvailability::new(
                night(3),
                t("2026-12-01T10:00:00Z"),
                tz
            )),
            content_hash(&a)
        );
    }
}
