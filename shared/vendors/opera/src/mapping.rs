//! OHIP wire records -> the canonical model. The status tables live here, once, total over the
//! specs' enums; timestamps without an offset are hotel-local and become UTC through the
//! property's time zone; amounts become `Money` without floats.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::wire::{
    id_of_type, CurrencyAmount, Flex, FolioResponse, HotelReservation, HousekeepingRoom,
    PersonName, Profile, ProfileInfo, ReservationInfo,
};
use pms_domain::domain::{
    BusinessDate, ConfirmationNumber, Currency, ExternalId, Guest, GuestSummary, Housekeeping,
    Money, NotCarried, Occupancy, Preference, PreferenceSource, PropertyTz, RecordId, Reservation,
    ReservationField, ReservationStatus, RoomNumber, RoomStatus, RoomTypeCode,
};
use pms_domain::pms::{PmsError, PmsResult};

/// Every value of the specs' `pMS_ResStatusType` (rsv.json), the type of both
/// `reservationStatus` and `computedReservationStatus`.
pub const RESERVATION_STATUSES: [&str; 11] = [
    "Reserved",
    "Requested",
    "NoShow",
    "Cancelled",
    "InHouse",
    "CheckedOut",
    "Waitlisted",
    "DueIn",
    "DueOut",
    "Walkin",
    "PendingCheckout",
];

/// Every value of `housekeepingRoomStatusType` (hsk.json).
pub const HOUSEKEEPING_STATUSES: [&str; 6] = [
    "Clean",
    "Dirty",
    "Pickup",
    "Inspected",
    "OutOfOrder",
    "OutOfService",
];

/// Every value of `frontOfficeRoomStatusType` (hsk.json).
pub const FRONT_OFFICE_STATUSES: [&str; 2] = ["Vacant", "Occupied"];

/// The OHIP reservation status table. `None` for a value the spec does not define.
pub fn reservation_status(raw: &str) -> Option<ReservationStatus> {
    Some(match raw.trim() {
        // Booked, not arrived. "Requested" and "Waitlisted" are not yet confirmed by the hotel,
        // but they are future stays: the canonical set has nothing closer.
        "Reserved" | "Requested" | "Waitlisted" | "DueIn" => ReservationStatus::Confirmed,
        // The guest is in the hotel; DueOut and PendingCheckout have not left yet.
        "InHouse" | "DueOut" | "Walkin" | "PendingCheckout" => ReservationStatus::CheckedIn,
        "CheckedOut" => ReservationStatus::CheckedOut,
        "Cancelled" => ReservationStatus::Cancelled,
        "NoShow" => ReservationStatus::NoShow,
        _ => return None,
    })
}

/// The canonical status of a reservation and the raw value kept with it. `reservationStatus`
/// is the stored state; `computedReservationStatus` (the operational view, e.g. DueIn) is used
/// when the stored one is missing. Unknown values become `Confirmed` (a booking we keep and
/// show, never drop) with a warning.
pub fn map_reservation_status(
    stored: Option<&str>,
    computed: Option<&str>,
    reservation: &str,
) -> (ReservationStatus, String) {
    let raw = stored
        .filter(|s| !s.trim().is_empty())
        .or(computed.filter(|s| !s.trim().is_empty()))
        .unwrap_or("")
        .to_owned();
    let status = reservation_status(&raw)
        .or_else(|| computed.and_then(reservation_status))
        .unwrap_or_else(|| {
            tracing::warn!(
                reservation,
                raw_status = %raw,
                "unknown OHIP reservation status; mapped to confirmed"
            );
            ReservationStatus::Confirmed
        });
    (status, raw)
}

/// The OHIP housekeeping (cleaning) status table.
pub fn housekeeping_status(raw: &str) -> Housekeeping {
    match raw.trim() {
        "Clean" => Housekeeping::Clean,
        "Dirty" => Housekeeping::Dirty,
        "Pickup" => Housekeeping::Pickup,
        "Inspected" => Housekeeping::Inspected,
        "OutOfOrder" => Housekeeping::OutOfOrder,
        "OutOfService" => Housekeeping::OutOfService,
        other => {
            tracing::warn!(raw_status = other, "unknown OHIP housekeeping status");
            Housekeeping::Unknown
        }
    }
}

/// The OHIP front office (occupancy) status table.
pub fn front_office_status(raw: &str) -> Occupancy {
    match raw.trim() {
        "Vacant" => Occupancy::Vacant,
        "Occupied" => Occupancy::Occupied,
        other => {
            tracing::warn!(raw_status = other, "unknown OHIP front office status");
            Occupancy::Unknown
        }
    }
}

/// What mapping needs to know about the hotel.
#[derive(Clone, Copy, Debug)]
pub struct MapCtx {
    pub tz: PropertyTz,
    pub currency: Currency,
}

fn protocol(message: String) -> PmsError {
    PmsError::protocol(message)
}

/// Parses an OHIP timestamp. The examples use hotel-local wall-clock times without an offset
/// (`"2020-01-28 14:33:54.0"`, rsv) and ISO instants (`"2019-09-03T14:56:18.259Z"`, crm); a
/// bare date is the start of that local day.
pub fn parse_timestamp(raw: &str, tz: PropertyTz) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(local) = parse_local_datetime(s) {
        return Some(tz.local_to_utc(local));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| tz.local_to_utc(d.and_time(NaiveTime::MIN)))
}

/// A wall-clock date-time without offset, with `' '` or `'T'`, with or without fractions.
pub fn parse_local_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// The local time of an expected arrival/departure. The spec says date-time; the getReservation
/// example sends a bare date (no time known), the workflows `"2021-03-23 10:00:00.0"`.
pub fn parse_expected_time(raw: &str) -> Option<NaiveTime> {
    let s = raw.trim();
    if let Some(dt) = parse_local_datetime(s) {
        return Some(dt.time());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        // An instant with an offset: its wall-clock time is the one the hotel entered.
        return Some(t.naive_local().time());
    }
    ["%H:%M:%S%.f", "%H:%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(s, f).ok())
}

/// Formats a local date-time the way OHIP's workflows send them: `"2021-03-23 10:00:00.0"`.
pub fn format_local_datetime(date: BusinessDate, time: NaiveTime) -> String {
    format!("{} {}.0", date, time.format("%H:%M:%S"))
}

/// `currencyAmountType` -> Money, exactly. The currency is the amount's own, else the hotel's.
pub fn money(amount: &CurrencyAmount, ctx: &MapCtx) -> PmsResult<Option<Money>> {
    let Some(value) = amount.amount.as_ref() else {
        return Ok(None);
    };
    let currency = match amount.currency_code.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => Currency::parse(code)
            .map_err(|_| protocol(format!("unknown currency code {code:?}")))?,
        _ => ctx.currency,
    };
    decimal(value, currency).map(Some)
}

/// The balance a folio answer states: the reservation's own balance when it carries one, else
/// the sum of its folio windows' balances. `None` when it states none.
pub fn folio_balance(folio: FolioResponse, ctx: &MapCtx) -> PmsResult<Option<Money>> {
    let info = folio.reservation_folio_information.unwrap_or_default();
    let reservation = info.reservation_info.unwrap_or_default();
    let direct = reservation
        .room_stay
        .and_then(|s| s.balance)
        .or_else(|| reservation.revenues_and_balances.and_then(|r| r.balance));
    if let Some(amount) = direct {
        if let Some(m) = money(&amount, ctx)? {
            return Ok(Some(m));
        }
    }
    let mut total: Option<Money> = None;
    for w in &info.folio_windows {
        if let Some(m) = w
            .balance
            .as_ref()
            .map(|b| money(b, ctx))
            .transpose()?
            .flatten()
        {
            total = Some(match total {
                None => m,
                Some(t) => t.checked_add(m).ok_or_else(|| {
                    protocol(
                        "folio window balances do not add up (currencies differ or out of range)"
                            .to_owned(),
                    )
                })?,
            });
        }
    }
    Ok(total)
}

/// A decimal amount in a currency, exactly (no floats; more decimals than the currency has is
/// an error, never rounded).
pub fn decimal(value: &Flex, currency: Currency) -> PmsResult<Money> {
    Money::from_decimal_str(value.as_str(), currency)
        .map_err(|e| protocol(format!("amount: {}", e.message)))
}

fn date(raw: Option<&str>, field: &str, reservation: &str) -> PmsResult<BusinessDate> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| protocol(format!("reservation {reservation} has no {field}")))?;
    // Some answers carry a time part; the date is what the hotel booked.
    let day = raw.get(..10).unwrap_or(raw);
    BusinessDate::parse(day).map_err(|_| {
        protocol(format!(
            "reservation {reservation}: {field} {raw:?} is not a date"
        ))
    })
}

fn count(v: Option<&Flex>) -> Option<u32> {
    v.and_then(|f| f.as_str().trim().parse::<u32>().ok())
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn primary_name(names: &[PersonName]) -> Option<&PersonName> {
    names
        .iter()
        .find(|n| {
            n.name_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("Primary"))
        })
        .or_else(|| names.first())
}

fn profile_email(p: &Profile) -> Option<String> {
    let list = p
        .emails
        .as_ref()
        .map(|e| e.email_info.as_slice())
        .unwrap_or(&[]);
    let pick = list
        .iter()
        .filter_map(|i| i.email.as_ref())
        .find(|e| e.primary_ind.is_some_and(|b| b.0))
        .or_else(|| list.iter().find_map(|i| i.email.as_ref()))
        .or_else(|| p.email_info.as_ref().and_then(|i| i.email.as_ref()));
    pick.and_then(|e| non_empty(e.email_address.as_deref()))
}

fn profile_phone(p: &Profile) -> Option<String> {
    let list = p
        .telephones
        .as_ref()
        .map(|t| t.telephone_info.as_slice())
        .unwrap_or(&[]);
    let phones: Vec<_> = list
        .iter()
        .filter_map(|i| i.telephone.as_ref())
        .filter(|t| {
            // Fax numbers are telephones too in OPERA; a guest's phone is a PHONE/MOBILE.
            !t.phone_tech_type
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("FAX"))
        })
        .collect();
    let pick = phones
        .iter()
        .find(|t| t.primary_ind.is_some_and(|b| b.0))
        .or_else(|| phones.first())
        .copied()
        .or_else(|| p.telephone_info.as_ref().and_then(|i| i.telephone.as_ref()));
    pick.and_then(|t| non_empty(t.phone_number.as_deref()))
}

/// Given and family name of a profile: `customer.personName` (detailed profiles), else the
/// summary's `formerName` (`name` is the family name there).
fn profile_names(p: &Profile) -> (Option<String>, Option<String>) {
    if let Some(n) = p
        .customer
        .as_ref()
        .and_then(|c| primary_name(&c.person_name))
    {
        return (
            non_empty(n.given_name.as_deref()),
            non_empty(n.surname.as_deref()),
        );
    }
    match &p.former_name {
        Some(n) => (
            non_empty(n.given_name.as_deref()),
            non_empty(n.name.as_deref()),
        ),
        None => (None, None),
    }
}

/// A guest profile.
pub fn guest_from_profile(id: &str, p: &Profile, ctx: &MapCtx) -> PmsResult<Guest> {
    let external = ExternalId::parse(id).map_err(|e| protocol(format!("profile id: {e}")))?;
    let (first_name, last_name) = profile_names(p);
    let memberships: Vec<_> = p
        .profile_memberships
        .as_ref()
        .map(|m| m.profile_membership.iter().collect())
        .unwrap_or_else(|| p.profile_membership.iter().collect());
    let active: Vec<_> = memberships
        .into_iter()
        .filter(|m| !m.inactive.is_some_and(|b| b.0))
        .collect();
    let membership = active
        .iter()
        .find(|m| m.primary_membership.is_some_and(|b| b.0))
        .or_else(|| active.first())
        .copied();
    let mut external_ids = std::collections::BTreeMap::new();
    if let Some(m) = membership {
        if let Some(number) = m.membership_id.as_ref().map(Flex::as_str) {
            if !number.trim().is_empty() {
                let kind = m.membership_type.as_deref().unwrap_or("membership");
                external_ids.insert(format!("membership:{kind}"), number.trim().to_owned());
            }
        }
    }
    let vip = match (
        p.customer.as_ref().and_then(|c| c.vip_status.as_ref()),
        &p.vip_status,
    ) {
        (Some(code), _) => !code.as_str().trim().is_empty(),
        (None, Some(serde_json::Value::Object(o))) => o
            .get("code")
            .and_then(|c| c.as_str())
            .is_some_and(|c| !c.trim().is_empty()),
        (None, Some(serde_json::Value::String(s))) => !s.trim().is_empty(),
        _ => false,
    };
    let mut preferences = Vec::new();
    if let Some(pc) = &p.preference_collection {
        for group in &pc.preference_type {
            let Some(category) = non_empty(group.preference_type.as_deref()) else {
                continue;
            };
            for item in &group.preference {
                let Some(key) = non_empty(
                    item.preference_code
                        .as_deref()
                        .or(item.preference_value.as_deref()),
                ) else {
                    continue;
                };
                let value = non_empty(item.description.as_deref())
                    .or_else(|| non_empty(item.preference_value.as_deref()))
                    .unwrap_or_else(|| key.clone());
                preferences.push(Preference {
                    category: category.clone(),
                    key,
                    value,
                    source: PreferenceSource::Pms,
                });
            }
        }
    }
    let language = p
        .customer
        .as_ref()
        .and_then(|c| non_empty(c.language.as_deref()))
        .or_else(|| {
            p.former_name
                .as_ref()
                .and_then(|n| non_empty(n.language.as_deref()))
        });
    let updated = p
        .last_modify_date_time
        .as_deref()
        .or(p.create_date_time.as_deref())
        .and_then(|s| parse_timestamp(s, ctx.tz));
    Ok(Guest {
        id: RecordId::new(crate::PROVIDER, external),
        external_ids,
        first_name,
        last_name,
        email: profile_email(p),
        phone: profile_phone(p),
        language,
        loyalty_tier: membership.and_then(|m| non_empty(m.membership_level.as_deref())),
        vip,
        preferences,
        source_updated_at: updated,
        version: Reservation::version_from(updated),
    })
}

/// A profile from `{profileIdList, profile}` (reservations' guests, getProfiles, the getProfile
/// example).
pub fn guest_from_profile_info(info: &ProfileInfo, ctx: &MapCtx) -> PmsResult<Guest> {
    let id = id_of_type(&info.profile_id_list, "Profile")
        .or_else(|| {
            info.profile_id_list
                .first()
                .and_then(|i| i.id.as_ref())
                .map(Flex::as_str)
        })
        .ok_or_else(|| protocol("profile without an id".into()))?;
    guest_from_profile(id, &info.profile.clone().unwrap_or_default(), ctx)
}

fn reservation_ids(ids: &[super::wire::UniqueId]) -> PmsResult<(ExternalId, ConfirmationNumber)> {
    let id = id_of_type(ids, "Reservation")
        .ok_or_else(|| protocol("reservation without a Reservation id".into()))?;
    let external = ExternalId::parse(id).map_err(|e| protocol(format!("reservation id: {e}")))?;
    let confirmation = id_of_type(ids, "Confirmation")
        .ok_or_else(|| protocol(format!("reservation {id} has no Confirmation id")))?;
    let confirmation = ConfirmationNumber::parse(confirmation)
        .map_err(|e| protocol(format!("reservation {id}: confirmation number: {e}")))?;
    Ok((external, confirmation))
}

fn room_number(v: Option<&Flex>) -> Option<RoomNumber> {
    v.and_then(|f| RoomNumber::parse(f.as_str()).ok())
}

fn room_type(v: Option<&str>) -> Option<RoomTypeCode> {
    v.and_then(|s| RoomTypeCode::parse(s).ok())
}

/// A reservation from getReservation (`hotelReservationType`).
pub fn reservation_from_full(r: &HotelReservation, ctx: &MapCtx) -> PmsResult<Reservation> {
    let (external, confirmation) = reservation_ids(&r.reservation_id_list)?;
    let rid = external.as_str().to_owned();
    let stay = r.room_stay.clone().unwrap_or_default();
    let first_rate = stay.room_rates.first();
    let (status, raw_status) = map_reservation_status(
        r.reservation_status.as_deref(),
        r.computed_reservation_status.as_deref(),
        &rid,
    );
    let guest = r
        .reservation_guests
        .0
        .iter()
        .find(|g| g.primary.is_some_and(|b| b.0))
        .or_else(|| r.reservation_guests.0.first())
        .and_then(|g| g.profile_info.as_ref())
        .map(|info| {
            let profile = info.profile.clone().unwrap_or_default();
            let (first_name, last_name) = profile_names(&profile);
            let id = id_of_type(&info.profile_id_list, "Profile")
                .and_then(|id| ExternalId::parse(id).ok())
                .map(|e| RecordId::new(crate::PROVIDER, e));
            GuestSummary {
                id,
                first_name,
                last_name,
                email: profile_email(&profile),
                phone: profile_phone(&profile),
            }
        });
    let counts = stay
        .guest_counts
        .as_ref()
        .or_else(|| first_rate.and_then(|r| r.guest_counts.as_ref()));
    let adults = counts.and_then(|c| count(c.adults.as_ref()));
    let children = counts.and_then(|c| count(c.children.as_ref())).unwrap_or(0);
    let total = match &stay.total {
        Some(t) => match t.amount_after_tax.as_ref().or(t.amount_before_tax.as_ref()) {
            Some(v) => {
                let currency = match t.currency_code.as_deref() {
                    Some(c) if !c.trim().is_empty() => Currency::parse(c)
                        .map_err(|_| protocol(format!("unknown currency code {c:?}")))?,
                    _ => ctx.currency,
                };
                Some(decimal(v, currency)?)
            }
            None => None,
        },
        None => None,
    };
    let updated = r
        .last_modify_date_time
        .as_deref()
        .or(r.create_date_time.as_deref())
        .and_then(|s| parse_timestamp(s, ctx.tz));
    let expected = stay.expected_times.clone().unwrap_or_default();
    let notes = r
        .comments
        .0
        .iter()
        .filter_map(|c| c.comment.as_ref())
        .filter_map(|c| c.text.as_ref().and_then(|t| non_empty(t.value.as_deref())))
        .collect();
    Ok(Reservation {
        id: RecordId::new(crate::PROVIDER, external),
        confirmation_number: confirmation,
        guest,
        room_number: room_number(
            stay.current_room_info
                .as_ref()
                .and_then(|c| c.room_id.as_ref())
                .or_else(|| first_rate.and_then(|r| r.room_id.as_ref())),
        ),
        room_type: room_type(
            stay.current_room_info
                .as_ref()
                .and_then(|c| c.room_type.as_deref())
                .or_else(|| first_rate.and_then(|r| r.room_type.as_deref())),
        ),
        arrival: date(stay.arrival_date.as_deref(), "arrivalDate", &rid)?,
        departure: date(stay.departure_date.as_deref(), "departureDate", &rid)?,
        expected_arrival_time: expected
            .reservation_expected_arrival_time
            .as_deref()
            .and_then(parse_expected_time),
        expected_departure_time: expected
            .reservation_expected_departure_time
            .as_deref()
            .and_then(parse_expected_time),
        status,
        raw_status,
        // A stay has at least one adult; counts are absent when the fetch did not ask for them
        // (the official example has none).
        adults: adults.unwrap_or(1).max(u32::from(children == 0)),
        children,
        rate_code: first_rate.and_then(|r| non_empty(r.rate_plan_code.as_deref())),
        total,
        balance: None,
        special_requests: Vec::new(),
        notes,
        source_updated_at: updated,
        version: Reservation::version_from(updated),
        // The balance is a search result's (`roomStay.balance`) or the folio's: the merge keeps
        // the stored one rather than emptying it on a refresh.
        not_carried: NotCarried(FULL_LACKS.to_vec()),
    })
}

/// What a full read (`hotelReservationType`, as mapped) lacks that a search result carries.
pub const FULL_LACKS: &[ReservationField] = &[ReservationField::Balance];
/// What a search result (`reservationInfoType`) lacks that a full read carries.
pub const INFO_LACKS: &[ReservationField] = &[ReservationField::Notes];

/// A reservation from a getHotelReservations result (`reservationInfoType`). Search results
/// carry no comments: `notes` is empty here, and full reads (`get_reservation*`) fill it.
pub fn reservation_from_info(r: &ReservationInfo, ctx: &MapCtx) -> PmsResult<Reservation> {
    let (external, confirmation) = reservation_ids(&r.reservation_id_list)?;
    let rid = external.as_str().to_owned();
    let stay = r.room_stay.clone().unwrap_or_default();
    let (status, raw_status) = map_reservation_status(
        r.reservation_status.as_deref(),
        r.computed_reservation_status.as_deref(),
        &rid,
    );
    let guest = r.reservation_guest.as_ref().map(|g| GuestSummary {
        id: g
            .id
            .as_ref()
            .and_then(|id| ExternalId::parse(id.as_str()).ok())
            .map(|e| RecordId::new(crate::PROVIDER, e)),
        first_name: non_empty(g.given_name.as_deref()),
        last_name: non_empty(g.surname.as_deref()),
        email: non_empty(g.email.as_deref()),
        phone: non_empty(g.phone_number.as_deref()),
    });
    let children = count(stay.child_count.as_ref()).unwrap_or(0);
    let adults = count(stay.adult_count.as_ref());
    let updated = r
        .last_modify_date_time
        .as_deref()
        .or(r.create_date_time.as_deref())
        .and_then(|s| parse_timestamp(s, ctx.tz));
    let expected = stay.expected_times.clone().unwrap_or_default();
    Ok(Reservation {
        id: RecordId::new(crate::PROVIDER, external),
        confirmation_number: confirmation,
        guest,
        room_number: room_number(stay.room_id.as_ref()),
        room_type: room_type(stay.room_type.as_deref()),
        arrival: date(stay.arrival_date.as_deref(), "arrivalDate", &rid)?,
        departure: date(stay.departure_date.as_deref(), "departureDate", &rid)?,
        expected_arrival_time: expected
            .reservation_expected_arrival_time
            .as_deref()
            .and_then(parse_expected_time),
        expected_departure_time: expected
            .reservation_expected_departure_time
            .as_deref()
            .and_then(parse_expected_time),
        status,
        raw_status,
        adults: adults.unwrap_or(1).max(u32::from(children == 0)),
        children,
        rate_code: non_empty(stay.rate_plan_code.as_deref()),
        total: match &stay.total_amount {
            Some(a) => money(a, ctx)?,
            None => None,
        },
        balance: match &stay.balance {
            Some(a) => money(a, ctx)?,
            None => None,
        },
        special_requests: Vec::new(),
        notes: Vec::new(),
        source_updated_at: updated,
        version: Reservation::version_from(updated),
        // `reservationInfoType` has no comments: the merge keeps the notes a full read stored.
        not_carried: NotCarried(INFO_LACKS.to_vec()),
    })
}

/// A room from the housekeeping board. `roomId` is the room number in OHIP.
pub fn room_from_housekeeping(room: &HousekeepingRoom) -> PmsResult<RoomStatus> {
    let number = room
        .room_id
        .as_ref()
        .map(Flex::as_str)
        .ok_or_else(|| protocol("housekeeping room without a roomId".into()))?;
    let room_number =
        RoomNumber::parse(number).map_err(|e| protocol(format!("room id {number:?}: {e}")))?;
    let status = room
        .housekeeping
        .as_ref()
        .and_then(|h| h.housekeeping_room_status.clone())
        .unwrap_or_default();
    let hk_raw = status.housekeeping_room_status.clone().unwrap_or_default();
    let fo_raw = status.front_office_status.clone().unwrap_or_default();
    let housekeeping = if hk_raw.is_empty() {
        Housekeeping::Unknown
    } else {
        housekeeping_status(&hk_raw)
    };
    let occupancy = if fo_raw.is_empty() {
        Occupancy::Unknown
    } else {
        front_office_status(&fo_raw)
    };
    let raw_status = match (hk_raw.is_empty(), fo_raw.is_empty()) {
        (true, true) => None,
        _ => Some(format!("{hk_raw}/{fo_raw}")),
    };
    Ok(RoomStatus {
        room_number,
        room_type: room_type(room.room_type.as_ref().and_then(|t| t.code())),
        occupancy,
        housekeeping,
        raw_status,
        floor: room
            .floor
            .as_ref()
            .and_then(|f| non_empty(Some(f.as_str()))),
        do_not_disturb: room
            .housekeeping
            .as_ref()
            .and_then(|h| h.guest_service_request.as_deref())
            .is_some_and(|s| s == "DoNotDisturb"),
        // The housekeeping board carries no timestamps.
        source_updated_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> PropertyTz {
        PropertyTz::parse(name).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn status_table_is_total_over_the_spec_enum() {
        for raw in RESERVATION_STATUSES {
            assert!(reservation_status(raw).is_some(), "{raw} is not mapped");
        }
        let expect = [
            ("Reserved", ReservationStatus::Confirmed),
            ("Requested", ReservationStatus::Confirmed),
            ("NoShow", ReservationStatus::NoShow),
            ("Cancelled", ReservationStatus::Cancelled),
            ("InHouse", ReservationStatus::CheckedIn),
            ("CheckedOut", ReservationStatus::CheckedOut),
            ("Waitlisted", ReservationStatus::Confirmed),
            ("DueIn", ReservationStatus::Confirmed),
            ("DueOut", ReservationStatus::CheckedIn),
            ("Walkin", ReservationStatus::CheckedIn),
            ("PendingCheckout", ReservationStatus::CheckedIn),
        ];
        for (raw, want) in expect {
            let (got, kept) = map_reservation_status(Some(raw), None, "r");
            assert_eq!(got, want, "{raw}");
            assert_eq!(kept, raw, "the raw status is kept unchanged");
        }
    }

    #[test]
    fn computed_status_fills_in_and_unknown_is_a_safe_default() {
        let (s, raw) = map_reservation_status(None, Some("DueOut"), "r");
        assert_eq!((s, raw.as_str()), (ReservationStatus::CheckedIn, "DueOut"));
        // An unknown stored value falls back to a known computed one.
        let (s, raw) = map_reservation_status(Some("Frozen"), Some("InHouse"), "r");
        assert_eq!((s, raw.as_str()), (ReservationStatus::CheckedIn, "Frozen"));
        let (s, raw) = map_reservation_status(Some("Teleported"), None, "r");
        assert_eq!(
            (s, raw.as_str()),
            (ReservationStatus::Confirmed, "Teleported")
        );
    }

    #[test]
    fn room_status_tables_are_total_and_separate() {
        for raw in HOUSEKEEPING_STATUSES {
            assert_ne!(housekeeping_status(raw), Housekeeping::Unknown, "{raw}");
        }
        for raw in FRONT_OFFICE_STATUSES {
            assert_ne!(front_office_status(raw), Occupancy::Unknown, "{raw}");
        }
        assert_eq!(housekeeping_status("Sparkling"), Housekeeping::Unknown);
        assert_eq!(front_office_status("Haunted"), Occupancy::Unknown);
    }

    #[test]
    fn local_timestamps_use_the_property_zone() {
        // The getReservation example's createDateTime in London winter time (UTC+0).
        assert_eq!(
            parse_timestamp("2020-01-28 14:33:54.0", tz("Europe/London")),
            Some(utc("2020-01-28T14:33:54Z"))
        );
        // Honolulu is UTC-10 all year.
        assert_eq!(
            parse_timestamp("2026-12-01 15:00:00.0", tz("Pacific/Honolulu")),
            Some(utc("2026-12-02T01:00:00Z"))
        );
        // Auckland in summer is UTC+13: local morning is the previous UTC day.
        assert_eq!(
            parse_timestamp("2026-12-02 09:00:00.0", tz("Pacific/Auckland")),
            Some(utc("2026-12-01T20:00:00Z"))
        );
        // Instants with an offset are taken as they are (crm example).
        assert_eq!(
            parse_timestamp("2019-09-03T14:56:18.259Z", tz("Pacific/Auckland")),
            Some(utc("2019-09-03T14:56:18.259Z"))
        );
        assert_eq!(parse_timestamp("", tz("Europe/London")), None);
        assert_eq!(parse_timestamp("yesterday", tz("Europe/London")), None);
    }

    #[test]
    fn dst_change_days_in_auckland() {
        let akl = tz("Pacific/Auckland");
        // 2026-04-05 03:00 NZDT -> 02:00 NZST: 02:30 happens twice; the earlier one is taken.
        assert_eq!(
            parse_timestamp("2026-04-05 02:30:00.0", akl),
            Some(utc("2026-04-04T13:30:00Z"))
        );
        // 2026-09-27 02:00 NZST -> 03:00 NZDT: 02:30 does not exist; the next valid instant.
        assert_eq!(
            parse_timestamp("2026-09-27 02:30:00.0", akl),
            Some(utc("2026-09-26T14:00:00Z"))
        );
    }

    #[test]
    fn expected_times_are_wall_clock() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(parse_expected_time("2021-03-23 10:00:00.0"), Some(t(10, 0)));
        assert_eq!(parse_expected_time("2021-03-23T13:30:00"), Some(t(13, 30)));
        assert_eq!(parse_expected_time("16:21:34").map(|x| x.hour()), Some(16));
        // The getReservation example sends a bare date: no time is known.
        assert_eq!(parse_expected_time("2020-01-13"), None);
        assert_eq!(
            format_local_datetime(BusinessDate::parse("2021-03-23").unwrap(), t(10, 0)),
            "2021-03-23 10:00:00.0"
        );
    }

    use chrono::Timelike;

    #[test]
    fn amounts_are_exact() {
        let ctx = MapCtx {
            tz: tz("Europe/London"),
            currency: Currency::parse("GBP").unwrap(),
        };
        let a: CurrencyAmount =
            serde_json::from_str(r#"{"amount": 1234.56, "currencyCode": "USD"}"#).unwrap();
        let m = money(&a, &ctx).unwrap().unwrap();
        assert_eq!((m.amount_minor, m.currency.code()), (123456, "USD"));
        let a: CurrencyAmount = serde_json::from_str(r#"{"amount": 0.1}"#).unwrap();
        assert_eq!(money(&a, &ctx).unwrap().unwrap().amount_minor, 10);
        let a: CurrencyAmount =
            serde_json::from_str(r#"{"amount": 1500, "currencyCode": "JPY"}"#).unwrap();
        assert_eq!(money(&a, &ctx).unwrap().unwrap().amount_minor, 1500);
        let a: CurrencyAmount =
            serde_json::from_str(r#"{"amount": 12.345, "currencyCode": "EUR"}"#).unwrap();
        assert!(money(&a, &ctx).is_err(), "too many decimals are refused");
        let a: CurrencyAmount =
            serde_json::from_str(r#"{"amount": 1, "currencyCode": "aaa"}"#).unwrap();
        assert!(money(&a, &ctx).is_err());
        let none: CurrencyAmount = serde_json::from_str("{}").unwrap();
        assert_eq!(money(&none, &ctx).unwrap(), None);
    }
}

/// The specs' official response examples (copied into `testdata/examples/`) map to
/// the canonical model.
#[cfg(test)]
mod official_examples {
    use super::*;
    use crate::wire::{BusinessEvents, HousekeepingBoard, ProfileResponse, ReservationResponse};

    const RESERVATION: &str = include_str!("../testdata/examples/getReservation_200.json");
    const PROFILE: &str = include_str!("../testdata/examples/getProfile_200.json");
    const HOUSEKEEPING: &str =
        include_str!("../testdata/examples/getHousekeepingOverview_200.json");
    const EVENTS: &str = include_str!("../testdata/examples/getBusinessEvents_200.json");

    fn ctx() -> MapCtx {
        MapCtx {
            tz: PropertyTz::parse("America/Los_Angeles").unwrap(),
            currency: Currency::usd(),
        }
    }

    #[test]
    fn get_reservation_example() {
        let wire: ReservationResponse = serde_json::from_str(RESERVATION).unwrap();
        let r = &wire.reservations.unwrap().reservation[0];
        let m = reservation_from_full(r, &ctx()).unwrap();
        m.validate().unwrap();
        assert_eq!(m.id.to_string(), "opera:571062");
        assert_eq!(m.confirmation_number.as_str(), "813595");
        assert_eq!(m.arrival.to_string(), "2020-01-13");
        assert_eq!(m.departure.to_string(), "2020-01-14");
        assert_eq!(m.status, ReservationStatus::Confirmed);
        assert_eq!(m.raw_status, "Reserved");
        let g = m.guest.as_ref().unwrap();
        assert_eq!(g.id.as_ref().unwrap().to_string(), "opera:687128");
        assert_eq!(g.first_name.as_deref(), Some("Jennifer"));
        assert_eq!(g.last_name.as_deref(), Some("Clarke"));
        assert_eq!(
            m.notes,
            [
                "This is a sample reservation comment",
                "Cashier Comment will go here"
            ]
        );
        // The example's expected times are bare dates: no time is invented.
        assert_eq!(m.expected_arrival_time, None);
        // No lastModifyDateTime: the creation time, hotel-local (Los Angeles, PST = UTC-8).
        let created = DateTime::parse_from_rfc3339("2020-01-28T22:33:54Z").unwrap();
        assert_eq!(m.source_updated_at, Some(created.with_timezone(&Utc)));
        assert_eq!(m.version, created.timestamp_millis() as u64);
    }

    /// Every field of the official example the canonical model has a place for arrives in the
    /// record: a field the example carries and the record leaves empty fails.
    #[test]
    fn every_field_of_the_reservation_example_the_model_has_a_place_for_is_mapped() {
        type Check = fn(&Reservation) -> bool;
        let r0 = "/reservations/reservation/0";
        let fields: &[(&str, Check)] = &[
            ("/reservationIdList/0/id", |r| {
                !r.id.external().as_str().is_empty()
            }),
            ("/reservationStatus", |r| !r.raw_status.is_empty()),
            ("/roomStay/arrivalDate", |r| {
                r.arrival.to_string() == "2020-01-13"
            }),
            ("/roomStay/departureDate", |r| {
                r.departure.to_string() == "2020-01-14"
            }),
            ("/roomStay/roomType", |r| r.room_type.is_some()),
            ("/roomStay/roomId", |r| r.room_number.is_some()),
            ("/roomStay/ratePlanCode", |r| r.rate_code.is_some()),
            ("/roomStay/adultCount", |r| r.adults > 0),
            ("/roomStay/total/amountBeforeTax", |r| r.total.is_some()),
            ("/reservationGuests/0/profileInfo/profileIdList/0/id", |r| {
                r.guest.as_ref().is_some_and(|g| g.id.is_some())
            }),
            (
                "/reservationGuests/0/profileInfo/profile/customer/personName/0/givenName",
                |r| r.guest.as_ref().is_some_and(|g| g.first_name.is_some()),
            ),
            (
                "/reservationGuests/0/profileInfo/profile/customer/personName/0/surname",
                |r| r.guest.as_ref().is_some_and(|g| g.last_name.is_some()),
            ),
            ("/reservationIdList/1/id", |r| {
                r.confirmation_number.as_str() == "813595"
            }),
            ("/comments/0/comment/text/value", |r| !r.notes.is_empty()),
            ("/comments/1/comment/text/value", |r| r.notes.len() == 2),
            ("/createDateTime", |r| r.source_updated_at.is_some()),
            // The example's expected times are bare dates: no wall-clock time to keep
            // (`expected_times_are_wall_clock`); a time-of-day there would be mapped.
        ];
        let raw: serde_json::Value = serde_json::from_str(RESERVATION).unwrap();
        let wire: ReservationResponse = serde_json::from_str(RESERVATION).unwrap();
        let m = reservation_from_full(&wire.reservations.unwrap().reservation[0], &ctx()).unwrap();
        let mut checked = 0;
        for (pointer, holds) in fields {
            let given = raw
                .pointer(&format!("{r0}{pointer}"))
                .is_some_and(|x| !x.is_null() && x != "");
            if given {
                checked += 1;
                assert!(holds(&m), "{pointer} is given but not in the record");
            }
        }
        assert!(checked >= 9, "{checked} fields checked");
    }

    /// A search result has no comments and a full read (as mapped) no balance: each says so,
    /// and merged over the other's stored record it keeps what it lacks, so a sync and a
    /// webhook refresh never empty each other's fields.
    #[test]
    fn search_results_and_full_reads_keep_what_the_other_carries() {
        let wire: ReservationResponse = serde_json::from_str(RESERVATION).unwrap();
        let full =
            reservation_from_full(&wire.reservations.unwrap().reservation[0], &ctx()).unwrap();
        assert_eq!(full.not_carried.0, FULL_LACKS);
        assert_eq!(full.notes.len(), 2);
        let info: ReservationInfo = serde_json::from_value(serde_json::json!({
            "reservationIdList": [
                {"id": "571062", "type": "Reservation"},
                {"id": "813595", "type": "Confirmation"}
            ],
            "reservationStatus": "Reserved",
            "createDateTime": "2020-01-28 14:33:54.0",
            "roomStay": {
                "arrivalDate": "2020-01-13",
                "departureDate": "2020-01-14",
                "balance": {"amount": 120.5, "currencyCode": "USD"}
            }
        }))
        .unwrap();
        let row = reservation_from_info(&info, &ctx()).unwrap();
        assert_eq!(row.not_carried.0, INFO_LACKS);
        assert!(row.notes.is_empty() && row.balance.is_some());
        let mut synced = row.clone();
        synced.keep_uncarried(&full);
        assert_eq!(synced.notes, full.notes, "a sync keeps the refreshed notes");
        let mut refreshed = full.clone();
        refreshed.keep_uncarried(&row);
        assert_eq!(
            refreshed.balance, row.balance,
            "a refresh keeps the synced balance"
        );
    }

    #[test]
    fn get_profile_example_in_both_shapes() {
        // The example's shape: profiles.profileInfo[].profile.
        let wire: ProfileResponse = serde_json::from_str(PROFILE).unwrap();
        let info = &wire.profiles.as_ref().unwrap().profile_info[0];
        let profile = info.profile.clone().unwrap();
        let g = guest_from_profile("687128", &profile, &ctx()).unwrap();
        assert_eq!(g.first_name.as_deref(), Some("Thomas"));
        assert_eq!(g.last_name.as_deref(), Some("Smith"));
        assert_eq!(g.email.as_deref(), Some("eg@example.com"));
        assert_eq!(g.phone.as_deref(), Some("+1 415 555 0100"));
        assert_eq!(g.language.as_deref(), Some("EN"));
        assert!(g.vip, "vipStatus 2");
        assert_eq!(g.loyalty_tier.as_deref(), Some("Gold"));
        let t = DateTime::parse_from_rfc3339("2000-09-03T14:56:18.259Z").unwrap();
        assert_eq!(g.source_updated_at, Some(t.with_timezone(&Utc)));
        // The schema's shape: profileDetails (same profile node).
        let mut value: serde_json::Value = serde_json::from_str(PROFILE).unwrap();
        let node = value["profiles"]["profileInfo"][0]["profile"].take();
        let schema_shape = serde_json::json!({
            "profileIdList": [{"id": "687128", "type": "Profile"}],
            "profileDetails": node,
        });
        let wire: ProfileResponse = serde_json::from_value(schema_shape).unwrap();
        let g2 =
            guest_from_profile("687128", wire.profile_details.as_ref().unwrap(), &ctx()).unwrap();
        assert_eq!(g, g2);
    }

    #[test]
    fn housekeeping_example() {
        let wire: HousekeepingBoard = serde_json::from_str(HOUSEKEEPING).unwrap();
        let info = wire.housekeeping_room_info.unwrap();
        // Paging fields arrive as strings in the example.
        assert_eq!(info.paging.total_results.unwrap().as_u64(), Some(9));
        let rooms: Vec<RoomStatus> = info
            .housekeeping_rooms
            .unwrap()
            .room
            .iter()
            .map(|r| room_from_housekeeping(r).unwrap())
            .collect();
        assert_eq!(rooms.len(), 9);
        let first = &rooms[0];
        assert_eq!(first.room_number.as_str(), "112");
        assert_eq!(first.room_type.as_ref().unwrap().as_str(), "STDK");
        assert_eq!(first.housekeeping, Housekeeping::Dirty);
        assert_eq!(first.occupancy, Occupancy::Vacant);
        assert_eq!(first.raw_status.as_deref(), Some("Dirty/Vacant"));
        assert_eq!(first.floor.as_deref(), Some("01,LF"));
    }

    #[test]
    fn business_events_example() {
        let wire: BusinessEvents = serde_json::from_str(EVENTS).unwrap();
        let reservations: Vec<(String, String)> = wire
            .business_event_data
            .iter()
            .filter_map(|d| d.business_event.as_ref()?.header.as_ref())
            .filter(|h| h.module_name.as_deref() == Some("Reservation"))
            .map(|h| {
                (
                    h.action_type.clone().unwrap(),
                    h.primary_key.as_ref().unwrap().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            reservations,
            [
                ("NEW RESERVATION".to_owned(), "919074".to_owned()),
                ("UPDATE RESERVATION".to_owned(), "934171".to_owned())
            ]
        );
        // actionId is a string in some events and a number in others.
        let ids: Vec<&str> = wire
            .business_event_data
            .iter()
            .filter_map(|d| {
                d.business_event
                    .as_ref()?
                    .header
                    .as_ref()?
                    .action_id
                    .as_ref()
            })
            .map(|a| a.as_str())
            .collect();
        assert_eq!(ids, ["561141", "561142", "2130690", "2240137"]);
    }
}
