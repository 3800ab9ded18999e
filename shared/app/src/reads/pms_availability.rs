//! Availability as the hotel's PMS counts it (the sync's `availability` feed), read from the
//! store: one key range of `PMSAVAIL#`, never the partners' `AVAIL#`.

use crate::records::{pms_availability_bounds, StoredPmsAvailability};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{BusinessDate, PmsAvailability, RoomTypeCode};
use pms_domain::ports::{ItemStore, KeyCondition, Partition, Query};

use super::ReadError;

/// Items per key query (see `calendar`).
const PAGE: u32 = 250;

/// Stored PMS nights of `[from, to]` (a checked range), by date then room type. Only the
/// hotel's current PMS's: nights a former PMS left behind are not its figures.
pub(crate) async fn nights(
    store: &dyn ItemStore,
    config: &HotelConfig,
    from: BusinessDate,
    to: BusinessDate,
    room_type: Option<&RoomTypeCode>,
) -> Result<Vec<PmsAvailability>, ReadError> {
    let (low, high) = pms_availability_bounds(from, to);
    let q = Query::primary(
        Partition::Hotel(config.hotel_id.clone()),
        KeyCondition::Between(low, high),
    )
    .limit(PAGE);
    let mut out = Vec::new();
    for item in store.query_all(&q).await? {
        let night = item.decode::<StoredPmsAvailability>()?.record;
        if night.provider == config.provider && room_type.is_none_or(|t| &night.room_type == t) {
            out.push(night);
        }
    }
    Ok(out)
}
