//! The `availability` feed: rooms free per night and room type, read from the PMS in one
//! request for the whole range (today through `lookAheadDays` in the hotel's zone) and stored
//! apart from partner pushes (`records::SyncedAvailability`).
//!
//! A vendor without an availability read (OPERA: not in its specifications) makes the feed's
//! runs read nothing: the run is recorded with nothing stored, rather than failing every tick
//! into the dead-letter queue. Turn the feed off for such hotels (`sync.availability.enabled`).

use chrono::{DateTime, Utc};

use crate::records::SyncedAvailability;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{BusinessDate, PmsAvailability};
use pms_domain::pms::{PmsAdapter, PmsResult};

/// The most nights one run reads: 366 (a year and a day), inside Mews' 367 time units per
/// request and the `availability` query's 366 days.
pub const MAX_NIGHTS: u32 = 365;

/// The nights a run reads: today through `lookAheadDays` (at most [`MAX_NIGHTS`] ahead).
pub fn range(config: &HotelConfig, today: BusinessDate) -> (BusinessDate, BusinessDate) {
    let ahead = config.sync.availability.look_ahead_days.min(MAX_NIGHTS);
    (today, today.add_days(i64::from(ahead)))
}

pub async fn read(
    adapter: &dyn PmsAdapter,
    from: BusinessDate,
    to: BusinessDate,
) -> PmsResult<Vec<PmsAvailability>> {
    if !adapter.capabilities().availability {
        tracing::debug!(
            provider = %adapter.provider(),
            "the PMS has no availability read; nothing to sync"
        );
        return Ok(Vec::new());
    }
    adapter.availability(from, to).await
}

/// The nights to merge: valid ones, versioned by `read_at` (the run's start). A night that fails the
/// model's checks (more free than the type has) is logged and left out; the rest are stored.
pub fn synced(
    config: &HotelConfig,
    nights: Vec<PmsAvailability>,
    read_at: DateTime<Utc>,
) -> Vec<SyncedAvailability> {
    nights
        .into_iter()
        .filter(|n| match n.validate() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(date = %n.date, room_type = %n.room_type, error = %e, "PMS availability night skipped");
                false
            }
        })
        .map(|n| SyncedAvailability::new(n, read_at, config.time_zone))
        .collect()
}
