//! Cloudbeds availability: rooms free per night and room type from `getRatePlans` with
//! `detailedRates=true`, whose `roomRateDetailed[]` carries `roomsAvailable` "for the selected
//! date" for every night of the range, per rate of each room type, in one request.
//!
//! Why this call (see docs/decisions.md): `getAvailableRoomTypes` answers one `roomsAvailable`
//! for a whole stay (its dates are a check-in and a check-out), so nights would cost one request
//! each; `getRoomsUnassigned` lists rooms without a booking, with no per-night count.
//!
//! A room type has several rates (its base rate and rate plans); `roomsAvailable` is the room
//! type's inventory, so they agree. Where they do not, the base rate's (no `ratePlanID`) is the
//! room type's own; without one, the highest (a plan can only be held to fewer rooms).

use std::collections::BTreeMap;

use super::wire;
use pms_domain::domain::{BusinessDate, PmsAvailability, RoomTypeCode};
use pms_domain::pms::{PmsError, PmsResult};

/// Nights of `[from, to]` per room type, by date then room type id.
pub fn availability(
    plans: &[wire::RatePlan],
    from: BusinessDate,
    to: BusinessDate,
) -> PmsResult<Vec<PmsAvailability>> {
    // (date, room type id) -> (from the base rate, rooms, name)
    let mut nights: BTreeMap<(BusinessDate, String), (bool, u64, Option<String>)> = BTreeMap::new();
    for plan in plans {
        let Some(type_id) = plan.room_type_id.clone() else {
            tracing::warn!(
                rate_id = plan.rate_id.as_deref().unwrap_or(""),
                "Cloudbeds rate without a roomTypeID skipped"
            );
            continue;
        };
        let base = plan.rate_plan_id.is_none();
        for night in &plan.nights {
            let (Some(date), Some(rooms)) = (night.date.as_deref(), night.rooms_available) else {
                continue;
            };
            let date = BusinessDate::parse(date).map_err(|_| {
                PmsError::protocol("Cloudbeds getRatePlans answered a night without a date")
            })?;
            if date < from || date > to {
                continue;
            }
            let entry = nights.entry((date, type_id.clone())).or_insert((
                base,
                rooms,
                plan.room_type_name.clone(),
            ));
            let replace = match (entry.0, base) {
                (true, false) => false,
                (false, true) => true,
                _ => rooms > entry.1,
            };
            if replace {
                *entry = (base, rooms, plan.room_type_name.clone().or(entry.2.take()));
            } else if entry.2.is_none() {
                entry.2 = plan.room_type_name.clone();
            }
        }
    }
    nights
        .into_iter()
        .map(|((date, type_id), (_, rooms, name))| {
            // Bookings carry the room type's name (`roomTypeName`); the id stands in without one.
            let room_type = name
                .as_deref()
                .and_then(|n| RoomTypeCode::parse(n).ok())
                .map_or_else(|| RoomTypeCode::parse(type_id.as_str()), Ok)
                .map_err(|e| PmsError::protocol(format!("Cloudbeds roomTypeID: {e}")))?;
            Ok(PmsAvailability {
                date,
                room_type,
                room_type_id: type_id,
                available: u32::try_from(rooms).unwrap_or(u32::MAX),
                total: None,
                out_of_order: None,
                provider: crate::PROVIDER,
            })
        })
        .collect()
}
