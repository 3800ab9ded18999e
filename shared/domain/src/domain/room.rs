use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RoomNumber, RoomTypeCode};

/// Whether a guest is in the room. Vendors that do not say give `Unknown`, never a guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occupancy {
    Vacant,
    Occupied,
    Unknown,
}

/// The room's cleaning / service state, independent of occupancy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Housekeeping {
    Clean,
    Dirty,
    Inspected,
    Pickup,
    OutOfOrder,
    OutOfService,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomStatus {
    pub room_number: RoomNumber,
    pub room_type: Option<RoomTypeCode>,
    pub occupancy: Occupancy,
    pub housekeeping: Housekeeping,
    /// The vendor's raw values, e.g. "Dirty/Vacant" or "OD".
    pub raw_status: Option<String>,
    pub floor: Option<String>,
    #[serde(default)]
    pub do_not_disturb: bool,
    pub source_updated_at: Option<DateTime<Utc>>,
}
