//! Cloudbeds wire records -> the canonical model.
//!
//! Decisions, each for a reason:
//! - **Confirmation number = `reservationID`.** It is the number Cloudbeds shows staff and mails
//!   to guests for every booking. `thirdPartyIdentifier` is a channel's own number (Booking.com,
//!   Expedia), empty for direct bookings, and v1.3 documents no filter on it, so it cannot be a
//!   lookup key; it is not used as the confirmation number.
//! - **Local date-times** (`dateModified` "YYYY-MM-DD HH:MM:SS", no offset) are read in the
//!   hotel's zone with [`PropertyTz::local_to_utc`]; UTC instants sent as filters are written in
//!   the hotel's local time (see [`window_params`]).
//! - **Every field a read carries is mapped.** `getReservations` rows lack `total` and
//!   `estimatedArrivalTime`, which `getReservation` and `getReservationsWithRateDetails` rows
//!   have: those map them, and a `getReservations` row says it does not carry them
//!   (`Reservation::not_carried`), so the merge keeps the stored values instead of emptying
//!   them. The sync reads rate-detail rows wherever their filters allow (see `lib.rs`).
//! - **One reservation, one room.** The canonical reservation holds one room: the first assigned
//!   room (multi-room bookings keep their first room's number and type).
//! - **Guests have no modification stamp** in `getGuest`, and `getGuestList.dateModified` is the
//!   reservation's, so a guest's version is the time it was read: a later read is newer (the same
//!   rule the merge applies to room states).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};

use super::wire::{
    Amount, BalanceDetailed, GuestDetail, GuestEntry, GuestListEntry, HousekeepingRoom,
    RateDetailsRow, ReservationDetail, ReservationRow, RowRoom,
};
use pms_domain::domain::{
    BusinessDate, Currency, ExternalId, Guest, GuestSummary, Housekeeping, Money, NotCarried,
    Occupancy, PropertyTz, RecordId, Reservation, ReservationField, ReservationStatus, RoomNumber,
    RoomStatus, RoomTypeCode,
};
use pms_domain::pms::ChangeWindow;

/// Why a record could not be mapped. Names the field, never its value (values may be personal).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MapError(pub String);

impl MapError {
    fn missing(field: &str) -> Self {
        MapError(format!("`{field}` is missing"))
    }
    fn invalid(field: &str) -> Self {
        MapError(format!("`{field}` is not valid"))
    }
}

/// What mapping needs to know about the hotel.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub tz: PropertyTz,
    pub currency: Currency,
}

// ---- statuses ---------------------------------------------------------------------------------

/// Every reservation status value the v1.3 spec names, and what it means canonically.
///
/// - `GetReservation(s)Response.status`: not_confirmed, confirmed, canceled, checked_in,
///   checked_out, no_show.
/// - `GetGuestListResponse.status` adds in_progress ("pending confirmation").
/// - `guestList[].guestStatus` adds call2confirm, paypal_init, pending_payment, not_checked_in,
///   in_house; `rooms[].roomStatus` adds cancelled (double l).
///
/// Pending states (not_confirmed, in_progress, call2confirm, paypal_init, pending_payment) are
/// bookings the hotel still expects, so they are `Confirmed`; the raw value is kept beside it.
pub const STATUS_TABLE: &[(&str, ReservationStatus)] = &[
    ("not_confirmed", ReservationStatus::Confirmed),
    ("confirmed", ReservationStatus::Confirmed),
    ("in_progress", ReservationStatus::Confirmed),
    ("call2confirm", ReservationStatus::Confirmed),
    ("paypal_init", ReservationStatus::Confirmed),
    ("pending_payment", ReservationStatus::Confirmed),
    ("not_checked_in", ReservationStatus::Confirmed),
    ("canceled", ReservationStatus::Cancelled),
    ("cancelled", ReservationStatus::Cancelled),
    ("checked_in", ReservationStatus::CheckedIn),
    ("in_house", ReservationStatus::CheckedIn),
    ("checked_out", ReservationStatus::CheckedOut),
    ("no_show", ReservationStatus::NoShow),
];

/// The status a raw value means, if the spec names it.
pub fn status_of(raw: &str) -> Option<ReservationStatus> {
    let raw = raw.trim().to_ascii_lowercase();
    STATUS_TABLE
        .iter()
        .find(|(k, _)| *k == raw)
        .map(|(_, s)| *s)
}

/// Maps a raw status; an unknown value becomes `Confirmed` (the booking stays visible and
/// nothing is treated as final) with a warning, and the raw value is kept by the caller.
pub fn map_status(raw: &str, reservation_id: &str) -> ReservationStatus {
    status_of(raw).unwrap_or_else(|| {
        tracing::warn!(
            provider = "cloudbeds",
            reservation_id,
            raw_status = raw,
            "unknown Cloudbeds reservation status; treating it as confirmed"
        );
        ReservationStatus::Confirmed
    })
}

// ---- times and money --------------------------------------------------------------------------

const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Reads a Cloudbeds date-time. Local wall-clock forms (no offset) are in the hotel's zone;
/// forms with an offset are exact. PHP's zero date and blanks are `None`.
pub fn parse_datetime(s: &str, tz: PropertyTz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0000-00-00") {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%z") {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(tz.local_to_utc(n));
        }
    }
    None
}

/// A local date (`YYYY-MM-DD`), required.
fn date(value: &Option<String>, field: &str) -> Result<BusinessDate, MapError> {
    let v = value.as_deref().ok_or_else(|| MapError::missing(field))?;
    // Some Cloudbeds dates carry a time part; the date is what counts.
    let day = v.get(..10).unwrap_or(v);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(BusinessDate::new)
        .map_err(|_| MapError::invalid(field))
}

/// A UTC instant as a Cloudbeds local date-time parameter.
pub fn local_param(at: DateTime<Utc>, tz: PropertyTz) -> String {
    tz.to_local(at).format(LOCAL_FORMAT).to_string()
}

/// `modifiedFrom`/`modifiedTo` for a UTC window. Cloudbeds compares local wall-clock times, and
/// across a fall-back the local clock repeats an hour (the window's local "from" can even read
/// later than its "to"). Both ends are widened by the offset change inside the window, so every
/// instant of the window is inside the local range: a little more is read, never less.
pub fn window_params(window: &ChangeWindow, tz: PropertyTz) -> (String, String) {
    let offset = |t: DateTime<Utc>| {
        i64::from(
            tz.tz()
                .offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    };
    let (mut lo, mut hi) = (offset(window.from), offset(window.from));
    // Offsets hold for months; sampling every 30 minutes sees every change in the window.
    let mut t = window.from;
    while t < window.to {
        let o = offset(t);
        lo = lo.min(o);
        hi = hi.max(o);
        t += Duration::minutes(30);
    }
    let o = offset(window.to);
    lo = lo.min(o);
    hi = hi.max(o);
    let widen = Duration::seconds(hi - lo);
    let from = tz.to_local(window.from) - widen;
    let to = tz.to_local(window.to) + widen;
    (
        from.format(LOCAL_FORMAT).to_string(),
        to.format(LOCAL_FORMAT).to_string(),
    )
}

/// An amount in the hotel's currency. Text is read exactly; a float with more decimals than the
/// currency has (tax arithmetic such as "212.39999999999998") is rounded half away from zero.
pub fn money(amount: &Amount, currency: Currency) -> Result<Money, MapError> {
    Money::from_decimal_str(&amount.0, currency).or_else(|_| {
        amount
            .0
            .parse::<f64>()
            .ok()
            .and_then(|f| Money::from_f64(f, currency).ok())
            .ok_or_else(|| MapError::invalid("amount"))
    })
}

// ---- reservations -----------------------------------------------------------------------------

fn record_id(id: &str, field: &str) -> Result<RecordId, MapError> {
    ExternalId::parse(id)
        .map(|e| RecordId::new(crate::PROVIDER, e))
        .map_err(|_| MapError::invalid(field))
}

/// The reservation's main guest in a `guestList`: flagged `isMainGuest`, else the one whose id
/// the row names, else the first.
fn main_guest<'a>(
    list: &'a [(Option<String>, GuestEntry)],
    guest_id: Option<&str>,
) -> Option<(Option<&'a str>, &'a GuestEntry)> {
    let id_of =
        |(k, g): &'a (Option<String>, GuestEntry)| (g.guest_id.as_deref().or(k.as_deref()), g);
    list.iter()
        .find(|(_, g)| g.is_main_guest == Some(true))
        .or_else(|| guest_id.and_then(|want| list.iter().find(|e| id_of(e).0 == Some(want))))
        .or_else(|| list.first())
        .map(id_of)
}

/// "Aiko Tanaka" -> ("Aiko", "Tanaka"); a single word is a last name.
fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.trim();
    match name.rsplit_once(' ') {
        Some((first, last)) => (Some(first.trim().to_owned()), Some(last.to_owned())),
        None if name.is_empty() => (None, None),
        None => (None, Some(name.to_owned())),
    }
}

fn guest_summary(
    list: &[(Option<String>, GuestEntry)],
    guest_id: Option<&str>,
    guest_name: Option<&str>,
    guest_email: Option<&str>,
) -> Option<GuestSummary> {
    let main = main_guest(list, guest_id);
    let id = main.and_then(|(id, _)| id).or(guest_id);
    let entry = main.map(|(_, g)| g);
    let (first, last) = match entry {
        Some(g) if g.first_name.is_some() || g.last_name.is_some() => {
            (g.first_name.clone(), g.last_name.clone())
        }
        _ => split_name(
            entry
                .and_then(|g| g.guest_name.as_deref())
                .or(guest_name)
                .unwrap_or(""),
        ),
    };
    let summary = GuestSummary {
        id: id.and_then(|i| record_id(i, "guestID").ok()),
        first_name: first,
        last_name: last,
        email: entry
            .and_then(|g| g.email.clone())
            .or(guest_email.map(str::to_owned)),
        phone: entry.and_then(|g| g.phone.clone().or_else(|| g.cell_phone.clone())),
    };
    (summary != GuestSummary::default()).then_some(summary)
}

/// The fields rows and details share, read from either.
struct Common<'a> {
    id: &'a str,
    raw_status: String,
    arrival: BusinessDate,
    departure: BusinessDate,
    guest: Option<GuestSummary>,
    room_name: Option<&'a str>,
    room_type: Option<&'a str>,
    adults: u64,
    children: u64,
    balance: Option<Money>,
    date_modified: Option<&'a str>,
    date_created: Option<&'a str>,
    /// Details only.
    expected_arrival_time: Option<chrono::NaiveTime>,
    total: Option<Money>,
    /// What the read lacks (rows: the details-only fields).
    not_carried: Vec<ReservationField>,
}

fn build(c: Common<'_>, ctx: &Ctx) -> Result<Reservation, MapError> {
    let status = map_status(&c.raw_status, c.id);
    let updated = c
        .date_modified
        .and_then(|s| parse_datetime(s, ctx.tz))
        .or_else(|| c.date_created.and_then(|s| parse_datetime(s, ctx.tz)));
    let confirmation = pms_domain::domain::ConfirmationNumber::parse(c.id)
        .map_err(|_| MapError::invalid("reservationID"))?;
    Ok(Reservation {
        id: record_id(c.id, "reservationID")?,
        confirmation_number: confirmation,
        guest: c.guest,
        room_number: c.room_name.and_then(|n| RoomNumber::parse(n).ok()),
        room_type: c.room_type.and_then(|t| RoomTypeCode::parse(t).ok()),
        arrival: c.arrival,
        departure: c.departure,
        expected_arrival_time: c.expected_arrival_time,
        expected_departure_time: None,
        status,
        raw_status: c.raw_status,
        adults: u32::try_from(c.adults).unwrap_or(u32::MAX),
        children: u32::try_from(c.children).unwrap_or(u32::MAX),
        rate_code: None,
        total: c.total,
        balance: c.balance,
        special_requests: Vec::new(),
        notes: Vec::new(),
        source_updated_at: updated,
        version: Reservation::version_from(updated),
        not_carried: NotCarried(c.not_carried),
    })
}

/// The balance of a `getReservation`: `balance`, or `grandTotal - paid` of `balanceDetailed`.
pub fn detail_balance(d: &ReservationDetail, currency: Currency) -> Result<Money, MapError> {
    balance_of(d.balance.as_ref(), &d.balance_detailed, currency)
}

/// `balance`, or `grandTotal - paid` of `balanceDetailed` (details and rate-detail rows).
fn balance_of(
    balance: Option<&Amount>,
    detailed: &[BalanceDetailed],
    currency: Currency,
) -> Result<Money, MapError> {
    if let Some(b) = balance {
        return money(b, currency);
    }
    let mut out: Option<Money> = None;
    for part in detailed {
        let (Some(total), paid) = (&part.grand_total, &part.paid) else {
            continue;
        };
        let total = money(total, currency)?;
        let paid = paid
            .as_ref()
            .map(|p| money(p, currency))
            .transpose()?
            .unwrap_or(Money::zero(currency));
        let owed = total
            .checked_sub(paid)
            .ok_or_else(|| MapError::invalid("balanceDetailed"))?;
        out = Some(match out {
            Some(acc) => acc
                .checked_add(owed)
                .ok_or_else(|| MapError::invalid("balanceDetailed"))?,
            None => owed,
        });
    }
    out.ok_or_else(|| MapError::missing("balance"))
}

/// `getReservation.data` -> reservation.
pub fn reservation_from_detail(d: &ReservationDetail, ctx: &Ctx) -> Result<Reservation, MapError> {
    let id = d
        .reservation_id
        .as_deref()
        .ok_or_else(|| MapError::missing("reservationID"))?;
    let first_room = d
        .assigned
        .iter()
        .find(|r| r.room_name.is_some())
        .or(d.assigned.first());
    let any_room = first_room.or(d.unassigned.first());
    let sum = |f: fn(&super::wire::RoomStay) -> Option<u64>| -> u64 {
        d.assigned.iter().chain(&d.unassigned).filter_map(f).sum()
    };
    build(
        Common {
            id,
            raw_status: d.status.clone().unwrap_or_default(),
            arrival: date(&d.start_date, "startDate")?,
            departure: date(&d.end_date, "endDate")?,
            guest: guest_summary(
                &d.guest_list,
                None,
                d.guest_name.as_deref(),
                d.guest_email.as_deref(),
            ),
            room_name: first_room.and_then(|r| r.room_name.as_deref()),
            room_type: any_room.and_then(|r| r.room_type_name.as_deref()),
            adults: sum(|r| r.adults),
            children: sum(|r| r.children),
            balance: optional_balance(detail_balance(d, ctx.currency))?,
            date_modified: d.date_modified.as_deref(),
            date_created: d.date_created.as_deref(),
            expected_arrival_time: d.estimated_arrival_time.as_deref().and_then(local_time),
            total: d
                .total
                .as_ref()
                .map(|t| money(t, ctx.currency))
                .transpose()?,
            not_carried: Vec::new(),
        },
        ctx,
    )
}

/// `estimatedArrivalTime` ("24-hour format": `15:30`, or with seconds). A value that is not a
/// time is left out rather than failing the reservation.
fn local_time(s: &str) -> Option<chrono::NaiveTime> {
    let s = s.trim();
    chrono::NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| chrono::NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
}

/// The balance when the read has none (`MapError::missing`) is `None`; other errors stay.
fn optional_balance(b: Result<Money, MapError>) -> Result<Option<Money>, MapError> {
    match b {
        Ok(b) => Ok(Some(b)),
        Err(e) if e == MapError::missing("balance") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The stay's room (named) and a room for its type, of a list row's `rooms`. Rows list
/// assigned and unassigned rooms together; a cancelled room is not the stay's room while
/// another is live. A cancelled booking (every room cancelled) keeps its room, as
/// `getReservation` shows it: otherwise a sync and a refresh would disagree on it.
fn stay_rooms(rooms: &[RowRoom]) -> (Option<&RowRoom>, Option<&RowRoom>) {
    let live = |room: &&RowRoom| {
        room.room_status
            .as_deref()
            .is_none_or(|s| status_of(s) != Some(ReservationStatus::Cancelled))
    };
    let named = |room: &&RowRoom| room.room_name.is_some();
    let first_room = rooms.iter().filter(live).find(named).or_else(|| {
        rooms
            .iter()
            .find(named)
            .filter(|_| !rooms.iter().any(|x| live(&x)))
    });
    let any_room = first_room.or(rooms.iter().find(live)).or(rooms.first());
    (first_room, any_room)
}

/// A `getReservationsWithRateDetails` row (with `includeGuestsDetails`) -> reservation. It
/// carries every field a `getReservation` maps (`total`, `estimatedArrivalTime`, the balance),
/// so nothing is left to the merge; persons are summed over the rooms, as details do.
pub fn reservation_from_rate_row(r: &RateDetailsRow, ctx: &Ctx) -> Result<Reservation, MapError> {
    let id = r
        .reservation_id
        .as_deref()
        .ok_or_else(|| MapError::missing("reservationID"))?;
    let (first_room, any_room) = stay_rooms(&r.rooms);
    let sum = |f: fn(&RowRoom) -> Option<u64>| -> u64 { r.rooms.iter().filter_map(f).sum() };
    build(
        Common {
            id,
            raw_status: r.status.clone().unwrap_or_default(),
            arrival: date(&r.check_in, "reservationCheckIn")?,
            departure: date(&r.check_out, "reservationCheckOut")?,
            guest: guest_summary(&r.guest_list, r.guest_id.as_deref(), None, None),
            room_name: first_room.and_then(|room| room.room_name.as_deref()),
            room_type: any_room.and_then(|room| room.room_type_name.as_deref()),
            adults: sum(|room| room.adults),
            children: sum(|room| room.children),
            balance: optional_balance(balance_of(
                r.balance.as_ref(),
                &r.balance_detailed,
                ctx.currency,
            ))?,
            date_modified: r.date_modified.as_deref(),
            date_created: r.date_created.as_deref(),
            expected_arrival_time: r.estimated_arrival_time.as_deref().and_then(local_time),
            total: r
                .total
                .as_ref()
                .map(|t| money(t, ctx.currency))
                .transpose()?,
            not_carried: Vec::new(),
        },
        ctx,
    )
}

/// What `getReservations` rows lack that `getReservation` carries.
pub const ROW_LACKS: &[ReservationField] = &[
    ReservationField::ExpectedArrivalTime,
    ReservationField::Total,
];

/// A `getReservations` row (with `includeAllRooms` and `includeGuestsDetails`) -> reservation.
pub fn reservation_from_row(r: &ReservationRow, ctx: &Ctx) -> Result<Reservation, MapError> {
    let id = r
        .reservation_id
        .as_deref()
        .ok_or_else(|| MapError::missing("reservationID"))?;
    let (first_room, any_room) = stay_rooms(&r.rooms);
    build(
        Common {
            id,
            raw_status: r.status.clone().unwrap_or_default(),
            arrival: date(&r.start_date, "startDate")?,
            departure: date(&r.end_date, "endDate")?,
            guest: guest_summary(
                &r.guest_list,
                r.guest_id.as_deref(),
                r.guest_name.as_deref(),
                None,
            ),
            room_name: first_room.and_then(|room| room.room_name.as_deref()),
            room_type: any_room.and_then(|room| room.room_type_name.as_deref()),
            adults: r.adults.unwrap_or(0),
            children: r.children.unwrap_or(0),
            balance: r
                .balance
                .as_ref()
                .map(|b| money(b, ctx.currency))
                .transpose()?,
            date_modified: r.date_modified.as_deref(),
            date_created: r.date_created.as_deref(),
            expected_arrival_time: None,
            total: None,
            not_carried: ROW_LACKS.to_vec(),
        },
        ctx,
    )
}

// ---- guests -----------------------------------------------------------------------------------

fn guest(
    id: &str,
    first: Option<String>,
    last: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    read_at: DateTime<Utc>,
) -> Result<Guest, MapError> {
    Ok(Guest {
        id: record_id(id, "guestID")?,
        external_ids: Default::default(),
        first_name: first,
        last_name: last,
        email,
        phone,
        language: None,
        loyalty_tier: None,
        vip: false,
        // Cloudbeds has no preference object (see `capabilities`).
        preferences: Vec::new(),
        source_updated_at: None,
        version: Reservation::version_from(Some(read_at)),
    })
}

/// `getGuest.data` for `guest_id` -> guest; `None` when the guest was merged into another (the
/// record is gone; `newGuestID` is the survivor).
pub fn guest_from_detail(
    guest_id: &str,
    d: &GuestDetail,
    read_at: DateTime<Utc>,
) -> Result<Option<Guest>, MapError> {
    if d.is_merged == Some(true) {
        tracing::info!(
            provider = "cloudbeds",
            guest_id,
            merged_into = d.new_guest_id.as_deref().unwrap_or(""),
            "Cloudbeds guest was merged into another"
        );
        return Ok(None);
    }
    guest(
        guest_id,
        d.first_name.clone(),
        d.last_name.clone(),
        d.email.clone(),
        d.phone.clone().or_else(|| d.cell_phone.clone()),
        read_at,
    )
    .map(Some)
}

/// A `getGuestList` entry (keyed by guest id) -> guest; merged guests are skipped.
pub fn guest_from_list(
    key: Option<&str>,
    e: &GuestListEntry,
    read_at: DateTime<Utc>,
) -> Result<Option<Guest>, MapError> {
    if e.is_merged == Some(true) {
        return Ok(None);
    }
    let id = e
        .guest_id
        .as_deref()
        .or(key)
        .ok_or_else(|| MapError::missing("guestID"))?;
    let (first, last) = if e.first_name.is_some() || e.last_name.is_some() {
        (e.first_name.clone(), e.last_name.clone())
    } else {
        split_name(e.guest_name.as_deref().unwrap_or(""))
    };
    guest(
        id,
        first,
        last,
        e.email.clone(),
        e.phone.clone().or_else(|| e.cell_phone.clone()),
        read_at,
    )
    .map(Some)
}

// ---- housekeeping -----------------------------------------------------------------------------

/// `roomCondition`: the response enum is clean | dirty; `inspected` exists where the property
/// enabled it (postHousekeepingStatus and the OCI/VCI codes of getHousekeepingStatus).
pub fn condition_of(raw: &str) -> Option<Housekeeping> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "clean" => Some(Housekeeping::Clean),
        "dirty" => Some(Housekeeping::Dirty),
        "inspected" => Some(Housekeeping::Inspected),
        _ => None,
    }
}

/// The spec's derived code (VD, OD, VC, OC, OCI, VCI, plus DND, RS, OOO, VP) and the front-desk
/// status, e.g. "OD+DND stayover": what staff see, kept as the raw status.
pub fn housekeeping_code(h: &HousekeepingRoom) -> String {
    let occupied = if h.room_occupied == Some(true) {
        "O"
    } else {
        "V"
    };
    let condition = match h.room_condition.as_deref().and_then(condition_of) {
        Some(Housekeeping::Clean) => "C",
        Some(Housekeeping::Inspected) => "CI",
        Some(Housekeeping::Dirty) => "D",
        _ => "?",
    };
    let mut code = format!("{occupied}{condition}");
    for (set, flag) in [
        (h.do_not_disturb, "DND"),
        (h.refused_service, "RS"),
        (h.room_blocked, "OOO"),
        (h.vacant_pickup, "VP"),
    ] {
        if set == Some(true) {
            code.push('+');
            code.push_str(flag);
        }
    }
    if let Some(fd) = &h.frontdesk_status {
        code.push(' ');
        code.push_str(fd);
    }
    code
}

/// A `getHousekeepingStatus` room -> room status. Occupancy and cleanliness are separate
/// dimensions (`roomOccupied`, `roomCondition`); a blocked room is out of order and a vacant
/// pickup needs a pickup, whatever its condition says.
pub fn room_from_housekeeping(h: &HousekeepingRoom) -> Result<RoomStatus, MapError> {
    let name = h
        .room_name
        .as_deref()
        .ok_or_else(|| MapError::missing("roomName"))?;
    let housekeeping = if h.room_blocked == Some(true) {
        Housekeeping::OutOfOrder
    } else if h.vacant_pickup == Some(true) {
        Housekeeping::Pickup
    } else {
        match h.room_condition.as_deref() {
            Some(raw) => condition_of(raw).unwrap_or_else(|| {
                tracing::warn!(
                    provider = "cloudbeds",
                    room = name,
                    room_condition = raw,
                    "unknown Cloudbeds room condition"
                );
                Housekeeping::Unknown
            }),
            None => Housekeeping::Unknown,
        }
    };
    Ok(RoomStatus {
        room_number: RoomNumber::parse(name).map_err(|_| MapError::invalid("roomName"))?,
        room_type: h
            .room_type_name
            .as_deref()
            .and_then(|t| RoomTypeCode::parse(t).ok()),
        occupancy: match h.room_occupied {
            Some(true) => Occupancy::Occupied,
            Some(false) => Occupancy::Vacant,
            None => Occupancy::Unknown,
        },
        housekeeping,
        raw_status: Some(housekeeping_code(h)),
        floor: None,
        do_not_disturb: h.do_not_disturb == Some(true),
        // `date` is a day without a time: no instant to order by; the merge uses the read time.
        source_updated_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn status_table_has_no_duplicates_and_unknown_is_confirmed() {
        let mut keys: Vec<_> = STATUS_TABLE.iter().map(|(k, _)| *k).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), STATUS_TABLE.len());
        assert_eq!(status_of("CHECKED_IN"), Some(ReservationStatus::CheckedIn));
        assert_eq!(status_of("bogus"), None);
        assert_eq!(map_status("bogus", "1"), ReservationStatus::Confirmed);
    }

    #[test]
    fn local_times_are_read_in_the_hotel_zone() {
        let ny = PropertyTz::parse("America/New_York").unwrap();
        // An ordinary winter time: EST is UTC-5.
        assert_eq!(
            parse_datetime("2026-01-15 10:00:00", ny),
            Some(utc("2026-01-15T15:00:00Z"))
        );
        // Spring forward: 02:30 does not exist and moves to 03:00 EDT (07:00Z); 03:15:42 EDT.
        assert_eq!(
            parse_datetime("2026-03-08 02:30:00", ny),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        assert_eq!(
            parse_datetime("2026-03-08 03:15:42", ny),
            Some(utc("2026-03-08T07:15:42Z"))
        );
        // Fall back: 01:30 happens twice; the earlier (EDT) instant is taken.
        assert_eq!(
            parse_datetime("2026-11-01 01:30:00", ny),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        let hnl = PropertyTz::parse("Pacific/Honolulu").unwrap();
        assert_eq!(
            parse_datetime("2026-12-01 15:00:00", hnl),
            Some(utc("2026-12-02T01:00:00Z"))
        );
        let akl = PropertyTz::parse("Pacific/Auckland").unwrap();
        assert_eq!(
            parse_datetime("2026-12-02 09:00:00", akl),
            Some(utc("2026-12-01T20:00:00Z"))
        );
        // Offsets are exact; PHP zero dates and blanks are nothing.
        assert_eq!(
            parse_datetime("2026-12-02T09:00:00Z", akl),
            Some(utc("2026-12-02T09:00:00Z"))
        );
        assert_eq!(parse_datetime("0000-00-00 00:00:00", akl), None);
        assert_eq!(parse_datetime("", akl), None);
    }

    #[test]
    fn change_windows_are_sent_in_local_time() {
        let akl = PropertyTz::parse("Pacific/Auckland").unwrap();
        let w = ChangeWindow {
            from: utc("2026-12-01T20:00:00Z"),
            to: utc("2026-12-01T20:05:00Z"),
        };
        assert_eq!(
            window_params(&w, akl),
            ("2026-12-02 09:00:00".into(), "2026-12-02 09:05:00".into())
        );
        let hnl = PropertyTz::parse("Pacific/Honolulu").unwrap();
        assert_eq!(
            window_params(&w, hnl),
            ("2026-12-01 10:00:00".into(), "2026-12-01 10:05:00".into())
        );
    }

    #[test]
    fn change_windows_across_a_fall_back_cover_the_repeated_hour() {
        let ny = PropertyTz::parse("America/New_York").unwrap();
        // 05:50Z = 01:50 EDT, 06:10Z = 01:10 EST: the local "to" reads earlier than "from".
        let w = ChangeWindow {
            from: utc("2026-11-01T05:50:00Z"),
            to: utc("2026-11-01T06:10:00Z"),
        };
        let (from, to) = window_params(&w, ny);
        assert_eq!(
            (from.as_str(), to.as_str()),
            ("2026-11-01 00:50:00", "2026-11-01 02:10:00")
        );
        // Every instant of the window, read back as Cloudbeds would write it, is in range.
        let mut t = w.from;
        while t <= w.to {
            let local = local_param(t, ny);
            assert!(local >= from && local <= to, "{local} outside {from}..{to}");
            t += Duration::minutes(1);
        }
        // Spring forward is widened too (the offset changed): harmless, a little more is read.
        let w = ChangeWindow {
            from: utc("2026-03-08T06:55:00Z"),
            to: utc("2026-03-08T07:05:00Z"),
        };
        assert_eq!(
            window_params(&w, ny),
            ("2026-03-08 00:55:00".into(), "2026-03-08 04:05:00".into())
        );
    }

    #[test]
    fn amounts_are_exact_or_rounded_floats() {
        let usd = Currency::usd();
        assert_eq!(
            money(&Amount("612.4".into()), usd).unwrap().amount_minor,
            61240
        );
        assert_eq!(
            money(&Amount("212.39999999999998".into()), usd)
                .unwrap()
                .amount_minor,
            21240
        );
        assert_eq!(money(&Amount("-7".into()), usd).unwrap().amount_minor, -700);
        assert!(money(&Amount("n/a".into()), usd).is_err());
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            money(&Amount("15000".into()), jpy).unwrap().amount_minor,
            15000
        );
    }
}
