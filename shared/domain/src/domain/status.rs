use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The canonical reservation status. Each vendor's own status is mapped to one of these in one
/// table per vendor, and the raw vendor value is kept beside it on the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Confirmed,
    CheckedIn,
    CheckedOut,
    Cancelled,
    NoShow,
}

impl ReservationStatus {
    pub const ALL: [ReservationStatus; 5] = [
        ReservationStatus::Confirmed,
        ReservationStatus::CheckedIn,
        ReservationStatus::CheckedOut,
        ReservationStatus::Cancelled,
        ReservationStatus::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Confirmed => "confirmed",
            ReservationStatus::CheckedIn => "checked_in",
            ReservationStatus::CheckedOut => "checked_out",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::NoShow => "no_show",
        }
    }

    /// The guest is (or was) in the hotel: a stay that has started.
    pub fn is_in_house(self) -> bool {
        self == ReservationStatus::CheckedIn
    }

    /// A status no further operational change is expected from.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReservationStatus::CheckedOut
                | ReservationStatus::Cancelled
                | ReservationStatus::NoShow
        )
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReservationStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match norm.as_str() {
            "confirmed" => Ok(ReservationStatus::Confirmed),
            "checked_in" | "checkedin" | "in_house" => Ok(ReservationStatus::CheckedIn),
            "checked_out" | "checkedout" => Ok(ReservationStatus::CheckedOut),
            "cancelled" | "canceled" => Ok(ReservationStatus::Cancelled),
            "no_show" | "noshow" => Ok(ReservationStatus::NoShow),
            _ => Err(ValidationError::new(
                "status",
                format!(
                    "unknown status {s:?} (expected confirmed, checked_in, checked_out, cancelled or no_show)"
                ),
            )
            .with_code("UNKNOWN_STATUS")),
        }
    }
}
