//! The sync feeds: what the scheduler fans out and a hotel configures (`config::SyncSettings`).

use serde::{Deserialize, Serialize};

/// The feeds the scheduler fans out (mirrors `config::SyncSettings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    Arrivals,
    Departures,
    InHouse,
    RoomStatus,
    /// The reservations delta since the watermark.
    Reservations,
    /// Rooms free per night and room type, from the PMS.
    Availability,
}

impl Feed {
    pub const ALL: [Feed; 6] = [
        Feed::Arrivals,
        Feed::Departures,
        Feed::InHouse,
        Feed::RoomStatus,
        Feed::Reservations,
        Feed::Availability,
    ];

    /// The name used in keys, run records, logs and the CLI (`in_house`, `room_status`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Arrivals => "arrivals",
            Feed::Departures => "departures",
            Feed::InHouse => "in_house",
            Feed::RoomStatus => "room_status",
            Feed::Reservations => "reservations",
            Feed::Availability => "availability",
        }
    }

    pub fn parse(s: &str) -> Option<Feed> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Feed::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
