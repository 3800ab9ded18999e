//! Day views over stored bookings (arrivals, departures, in-house) and stored availability, in
//! the hotel's time zone. Each is one bounded key range.

use serde::Deserialize;

use super::ReadError;
use crate::records::{ProvidedAvailability, ReservationQueries};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{
    Availability, BusinessDate, Provider, Reservation, ReservationStatus, RoomTypeCode,
    ValidationError,
};
use pms_domain::ports::{ItemStore, KeyCondition, Partition, Query};

/// How far back `in_house` looks for the arrival of a stay still checked in. Stays checked in
/// for longer than this are not listed (the store has no in-house index yet; see the docs).
pub const IN_HOUSE_LOOKBACK_DAYS: i64 = 30;
/// The longest availability range one query may ask for.
pub const MAX_AVAILABILITY_DAYS: i64 = 366;
/// Items per key query: what a read reserves of the request's read budget at a time, so
/// several day views in one request share it fairly.
const PAGE: u32 = 250;

/// A stay that is expected: not cancelled, not a no-show.
fn expected(r: &Reservation) -> bool {
    !matches!(
        r.status,
        ReservationStatus::Cancelled | ReservationStatus::NoShow
    )
}

pub(crate) enum Side {
    Arrivals,
    Departures,
}

/// Expected arrivals (or departures) of one business date, in key order.
pub(crate) async fn day(
    reservations: &ReservationQueries,
    config: &HotelConfig,
    date: BusinessDate,
    side: Side,
) -> Result<Vec<Reservation>, ReadError> {
    let hotel = &config.hotel_id;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = match side {
            Side::Arrivals => {
                reservations
                    .arriving(hotel, date, date, PAGE, cursor)
                    .await?
            }
            Side::Departures => {
                reservations
                    .departing(hotel, date, date, PAGE, cursor)
                    .await?
            }
        };
        out.extend(page.bookings.into_iter().filter(expected));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Stays checked in on `today`: checked-in bookings that arrived within the lookback window.
pub(crate) async fn in_house(
    reservations: &ReservationQueries,
    config: &HotelConfig,
    today: BusinessDate,
) -> Result<Vec<Reservation>, ReadError> {
    let hotel = &config.hotel_id;
    let from = today.add_days(-IN_HOUSE_LOOKBACK_DAYS);
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = reservations
            .arriving(hotel, from, today, PAGE, cursor)
            .await?;
        out.extend(
            page.bookings
                .into_iter()
                .filter(|r| r.status == ReservationStatus::CheckedIn),
        );
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// The stored shape of an availability record (see `records::keys`).
#[derive(Deserialize)]
struct StoredAvailability {
    record: Availability,
    provider: Option<Provider>,
}

/// An availability range: `to` not before `from`, at most [`MAX_AVAILABILITY_DAYS`] days.
pub(crate) fn check_range(from: BusinessDate, to: BusinessDate) -> Result<(), ReadError> {
    if from > to {
        return Err(ValidationError::new("to", format!("{to} is before {from}")).into());
    }
    if from.days_until(to) >= MAX_AVAILABILITY_DAYS {
        return Err(ValidationError::new(
            "to",
            format!("a range is at most {MAX_AVAILABILITY_DAYS} days"),
        )
        .into());
    }
    Ok(())
}

/// Stored availability for `[from, to]`, by date then room type.
pub(crate) async fn availability(
    store: &dyn ItemStore,
    config: &HotelConfig,
    from: BusinessDate,
    to: BusinessDate,
    room_type: Option<&RoomTypeCode>,
) -> Result<Vec<ProvidedAvailability>, ReadError> {
    check_range(from, to)?;
    let q = Query::primary(
        Partition::Hotel(config.hotel_id.clone()),
        KeyCondition::Between(format!("AVAIL#{from}#"), format!("AVAIL#{to}#\u{10FFFF}")),
    )
    .limit(PAGE);
    store
        .query_all(&q)
        .await?
        .iter()
        .map(|i| i.decode::<StoredAvailability>())
        .filter(|r| {
            r.as_ref()
                .map_or(true, |s| room_type.is_none_or(|t| &s.record.room_type == t))
        })
        .map(|r| {
            let s = r?;
            Ok(ProvidedAvailability {
                provider: s.provider.unwrap_or(config.provider),
                availability: s.record,
            })
        })
        .collect()
}
