use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BusinessDate, Money, Provider, RoomTypeCode, ValidationError};

/// Rooms of one type that can still be sold on one property-local night.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub date: BusinessDate,
    pub room_type: RoomTypeCode,
    pub available: u32,
    pub total: Option<u32>,
    /// Best available rate for the night, when the source gives one.
    pub rate: Option<Money>,
    pub source_updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

impl Availability {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(total) = self.total {
            if self.available > total {
                return Err(ValidationError::new(
                    "available",
                    format!(
                        "{} available is more than the {} rooms of the type",
                        self.available, total
                    ),
                ));
            }
        }
        if let Some(rate) = &self.rate {
            if rate.amount_minor < 0 {
                return Err(ValidationError::new("rate", "must not be negative")
                    .with_code("NEGATIVE_AMOUNT"));
            }
        }
        Ok(())
    }
}

/// Rooms of one type free on one property-local night, as the hotel's PMS counts them (the
/// sync's `availability` feed). Kept apart from [`Availability`], which partners push: the two
/// are stored under different keys and a partner's value never overwrites the PMS's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PmsAvailability {
    /// The night, in the property's time zone.
    pub date: BusinessDate,
    /// The room type as the hotel's bookings name it (Mews category short name, Cloudbeds room
    /// type name), so a booking's `roomType` and this line up.
    pub room_type: RoomTypeCode,
    /// The vendor's id of the room type (Mews resource category id, Cloudbeds `roomTypeID`).
    pub room_type_id: String,
    /// Rooms that can still be sold that night.
    pub available: u32,
    /// Rooms of the type, when the vendor says (Mews `ActiveResources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// Rooms of the type out of order that night, when the vendor says (Mews
    /// `OutOfOrderBlocks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<u32>,
    /// The PMS the figures come from.
    pub provider: Provider,
}

impl PmsAvailability {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(total) = self.total {
            if self.available > total {
                return Err(ValidationError::new(
                    "available",
                    format!(
                        "{} available is more than the {} rooms of the type",
                        self.available, total
                    ),
                ));
            }
        }
        if self.room_type_id.trim().is_empty() {
            return Err(ValidationError::new("roomTypeId", "must not be empty"));
        }
        Ok(())
    }
}
