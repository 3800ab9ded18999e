use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BusinessDate, Money, RoomTypeCode, ValidationError};

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
