//! Mews availability (`services/getAvailability/2024-01-22`) as rooms free per property-local
//! night and room type.
//!
//! The 2024-01-22 version answers metrics, not a ready "available" figure. Rooms free is
//! `UsableResources − Occupied − OtherServiceReservationCount`, never below zero:
//! - `UsableResources`: resources that are active and not out of order (what can be sold at
//!   all; `ActiveResources` still counts out-of-order rooms);
//! - `Occupied`: bookings assigned to the category, reservations and blocks alike (optional
//!   reservations and allotments hold rooms until released, so they are taken);
//! - `OtherServiceReservationCount`: resources of the category booked through another service
//!   (they are the same physical rooms).
//!
//! `ActiveResources` is reported as the total and `OutOfOrderBlocks` as out of order.
//! Time units are days starting at the property's local midnight; each `TimeUnitStartsUtc`
//! value is turned back into the property-local date it starts.

use std::collections::HashMap;

use super::wire;
use pms_domain::domain::{BusinessDate, PmsAvailability, PropertyTz, RoomTypeCode};
use pms_domain::pms::{PmsError, PmsResult};

pub const USABLE: &str = "UsableResources";
pub const ACTIVE: &str = "ActiveResources";
pub const OCCUPIED: &str = "Occupied";
pub const OTHER_SERVICE: &str = "OtherServiceReservationCount";
pub const OUT_OF_ORDER: &str = "OutOfOrderBlocks";

/// The metrics the adapter asks for (the request's `Metrics`): only what the figures need.
pub const METRICS: [&str; 5] = [USABLE, ACTIVE, OCCUPIED, OTHER_SERVICE, OUT_OF_ORDER];

/// The longest range one request may cover for a service of daily time units ("367 days if
/// days"), in nights.
pub const MAX_NIGHTS: i64 = 367;

fn value(c: &wire::CategoryAvailability, metric: &str, unit: usize) -> PmsResult<Option<u32>> {
    match c.metrics.get(metric) {
        None => Ok(None),
        Some(values) => values
            .get(unit)
            .map(|v| Some(u32::try_from((*v).max(0)).unwrap_or(u32::MAX)))
            .ok_or_else(|| {
                PmsError::protocol(format!(
                    "availability metric {metric} of category {} has fewer values than time units",
                    c.resource_category_id
                ))
            }),
    }
}

/// Nights of `[from, to]` per category. `codes` maps category ids to the room type code
/// bookings carry (the category's short name); a category it lacks keeps its id as the code.
pub fn availability(
    a: &wire::ServiceAvailability,
    tz: PropertyTz,
    from: BusinessDate,
    to: BusinessDate,
    codes: &HashMap<String, String>,
) -> PmsResult<Vec<PmsAvailability>> {
    let mut out = Vec::new();
    for c in &a.resource_category_availabilities {
        let code = codes
            .get(&c.resource_category_id)
            .cloned()
            .unwrap_or_else(|| c.resource_category_id.clone());
        let room_type = RoomTypeCode::parse(code.as_str())
            .or_else(|_| RoomTypeCode::parse(c.resource_category_id.as_str()))
            .map_err(|e| PmsError::protocol(format!("resource category id: {e}")))?;
        for (unit, start) in a.time_unit_starts_utc.iter().enumerate() {
            let date = tz.business_date(*start);
            // Mews answers every unit the interval intersects; only the nights asked for are
            // kept.
            if date < from || date > to {
                continue;
            }
            let usable = value(c, USABLE, unit)?.ok_or_else(|| {
                PmsError::protocol(format!("availability has no {USABLE} metric"))
            })?;
            let occupied = value(c, OCCUPIED, unit)?.ok_or_else(|| {
                PmsError::protocol(format!("availability has no {OCCUPIED} metric"))
            })?;
            let other = value(c, OTHER_SERVICE, unit)?.unwrap_or(0);
            let available = usable.saturating_sub(occupied).saturating_sub(other);
            let total = value(c, ACTIVE, unit)?.filter(|t| *t >= available);
            out.push(PmsAvailability {
                date,
                room_type: room_type.clone(),
                room_type_id: c.resource_category_id.clone(),
                available,
                total,
                out_of_order: value(c, OUT_OF_ORDER, unit)?,
                provider: crate::PROVIDER,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> wire::ServiceAvailability {
        serde_json::from_str(include_str!(
            "../testdata/examples/services_getAvailability_2024-01-22.response.json"
        ))
        .unwrap()
    }

    fn d(s: &str) -> BusinessDate {
        BusinessDate::parse(s).unwrap()
    }

    #[test]
    fn the_official_example_maps_to_rooms_free_per_local_night() {
        // The example's time units start at 23:00 UTC: midnight in a UTC+1 zone.
        let tz = PropertyTz::parse("Europe/Prague").unwrap();
        let category = "d1801d11-fe8d-404b-a26f-af170189605a";
        let codes = HashMap::from([(category.to_owned(), "DBL".to_owned())]);
        let nights =
            availability(&example(), tz, d("2024-02-01"), d("2024-02-05"), &codes).unwrap();
        let dates: Vec<String> = nights.iter().map(|n| n.date.to_string()).collect();
        assert_eq!(
            dates,
            [
                "2024-02-01",
                "2024-02-02",
                "2024-02-03",
                "2024-02-04",
                "2024-02-05"
            ]
        );
        // Usable 8 each night, Occupied [7, 5, 4, 3, 4], another service [0, 0, 1, 0, 0].
        let free: Vec<u32> = nights.iter().map(|n| n.available).collect();
        assert_eq!(free, [1, 3, 3, 5, 4]);
        assert!(nights.iter().all(|n| n.total == Some(8)));
        let ooo: Vec<Option<u32>> = nights.iter().map(|n| n.out_of_order).collect();
        assert_eq!(ooo, [Some(0), Some(1), Some(0), Some(0), Some(1)]);
        let first = &nights[0];
        assert_eq!(first.room_type.as_str(), "DBL");
        assert_eq!(first.room_type_id, category);
        assert_eq!(first.provider, crate::PROVIDER);
        assert!(nights.iter().all(|n| n.validate().is_ok()));
    }

    #[test]
    fn nights_outside_the_range_are_dropped_and_an_unknown_category_keeps_its_id() {
        let tz = PropertyTz::parse("Europe/Prague").unwrap();
        let nights = availability(
            &example(),
            tz,
            d("2024-02-02"),
            d("2024-02-03"),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(nights.len(), 2);
        assert_eq!(
            nights[0].room_type.as_str(),
            "d1801d11-fe8d-404b-a26f-af170189605a"
        );
        // In UTC the same units are the evening before: the dates follow the zone.
        let utc = availability(
            &example(),
            PropertyTz::utc(),
            d("2024-01-31"),
            d("2024-01-31"),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(utc.len(), 1);
        assert_eq!(utc[0].available, 1);
    }

    #[test]
    fn a_metric_shorter_than_the_time_units_or_missing_is_a_protocol_error() {
        let tz = PropertyTz::parse("Europe/Prague").unwrap();
        let mut short = example();
        short.resource_category_availabilities[0]
            .metrics
            .get_mut(OCCUPIED)
            .unwrap()
            .truncate(2);
        let e = availability(
            &short,
            tz,
            d("2024-02-01"),
            d("2024-02-05"),
            &HashMap::new(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "PMS_PROTOCOL");
        let mut missing = example();
        missing.resource_category_availabilities[0]
            .metrics
            .remove(USABLE);
        let e = availability(
            &missing,
            tz,
            d("2024-02-01"),
            d("2024-02-05"),
            &HashMap::new(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "PMS_PROTOCOL");
        // Overbooked: never below zero.
        let mut over = example();
        over.resource_category_availabilities[0]
            .metrics
            .insert(OCCUPIED.into(), vec![9, 9, 9, 9, 9]);
        let nights =
            availability(&over, tz, d("2024-02-01"), d("2024-02-05"), &HashMap::new()).unwrap();
        assert!(nights.iter().all(|n| n.available == 0));
    }
}
