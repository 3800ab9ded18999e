//! Cloudbeds API v1.3 protocol (`/api/v1.3/...`), shapes from `pms-v1.3-openapi.yaml`
//! (cloudbeds/openapi-specs@f6c4b9a).
//!
//! What it does as Cloudbeds does (or is documented to): `x-api-key` auth (HTTP 401 with
//! `{"success":false,"message":...}`), business errors as **HTTP 200 with `success:false`**,
//! the 5 requests/s limit per property (sliding window, 429 + Retry-After over it), `pageSize`
//! at most 100 (5000 for housekeeping), `X-Request-ID` on every response, local date-times
//! "YYYY-MM-DD HH:MM:SS" in the property's zone, ids as digit strings, `data` keyed by guest id
//! in getGuestList (`[]` when empty, as PHP encodes an empty map), `balanceDetailed` as an object
//! or an array, and `postCustomItem.referenceID` idempotency (a repeat creates nothing and says
//! so in `notice`). Writes change the shared hotel and stamp `dateModified`.
//!
//! Message wording for errors is ours: Cloudbeds publishes no catalogue of messages.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Form, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use pms_vendor_kit::sim::data::{SimCharge, SimGuest, SimHousekeeping, SimReservation};
use pms_vendor_kit::sim::{Denied, SimContext, SimHotel, SimStatus};

pub const PREFIX: &str = "/cloudbeds";
/// What a hotel's `baseUrl` points at (the Cloudbeds API root).
pub const API_ROOT: &str = "/cloudbeds/api/v1.3";

/// Page size limits of the spec.
const MAX_PAGE: usize = 100;
const MAX_HOUSEKEEPING_PAGE: usize = 5000;

#[derive(Default)]
pub struct State {}

pub fn router() -> Router<Arc<SimContext>> {
    Router::new()
        .route("/api/v1.3/getReservation", get(get_reservation))
        .route("/api/v1.3/getReservations", get(get_reservations))
        .route(
            "/api/v1.3/getReservationsWithRateDetails",
            get(get_reservations_with_rate_details),
        )
        .route("/api/v1.3/getGuest", get(get_guest))
        .route("/api/v1.3/getGuestList", get(get_guest_list))
        .route("/api/v1.3/getHousekeepingStatus", get(get_housekeeping))
        .route("/api/v1.3/getRatePlans", get(get_rate_plans))
        .route("/api/v1.3/postReservationNote", post(post_reservation_note))
        .route("/api/v1.3/postCustomItem", post(post_custom_item))
        .route("/api/v1.3/putReservation", put(put_reservation))
        // Every answer, refusals and 404/405/415 included, carries a request id.
        .layer(axum::middleware::map_response(with_request_id))
}

async fn with_request_id(mut response: Response) -> Response {
    if !response.headers().contains_key("x-request-id") {
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            response.headers_mut().insert("x-request-id", v);
        }
    }
    response
}

// ---- envelope and guard -----------------------------------------------------------------------

type Params = Vec<(String, String)>;

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// A business error: HTTP 200, `success:false`, as Cloudbeds answers them.
fn fail(message: impl Into<String>) -> Response {
    ok(json!({"success": false, "message": message.into()}))
}

fn error_status(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"success": false, "message": message}))).into_response()
}

fn denied(d: Denied) -> Response {
    match d {
        Denied::RateLimited { retry_after, .. } => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut r = error_status(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        Denied::ServerError { status, message } => error_status(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            message.as_deref().unwrap_or("Internal server error"),
        ),
        Denied::Timeout => error_status(StatusCode::GATEWAY_TIMEOUT, "Gateway timeout"),
    }
}

/// Auth, property, rate limit and faults. Returns the property id the key belongs to.
async fn enter(
    ctx: &SimContext,
    endpoint: &str,
    headers: &HeaderMap,
    params: &Params,
    property_param: &str,
) -> Result<String, Response> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let property = (!key.is_empty())
        .then(|| ctx.property_by_credential(crate::PROVIDER, "apiKey", key))
        .flatten()
        .map(|p| p.property_id.clone());
    // Cloudbeds limits per property; unauthenticated calls share one budget.
    let rate_key = property.clone().unwrap_or_else(|| "-".into());
    ctx.admit(crate::PROVIDER, endpoint, &rate_key)
        .await
        .map_err(denied)?;
    let Some(property) = property else {
        ctx.count(crate::PROVIDER, |c| c.unauthorized += 1);
        return Err(error_status(
            StatusCode::UNAUTHORIZED,
            "Invalid or missing API key (x-api-key)",
        ));
    };
    let header = headers
        .get("x-property-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    for asked in [param(params, property_param), header]
        .into_iter()
        .flatten()
    {
        if asked.split(',').any(|p| p.trim() != property) {
            return Err(fail(format!(
                "You don't have access to property ID {asked}"
            )));
        }
    }
    Ok(property)
}

/// `pageNumber` and `pageSize`, or the message of a business error.
fn page(params: &Params, max: usize) -> Result<(usize, usize), String> {
    let number = match param(params, "pageNumber") {
        None => 1,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err("pageNumber must be a positive integer".into()),
        },
    };
    let size = match param(params, "pageSize") {
        None => 100.min(max),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => return Err(format!("pageSize must be between 1 and {max}")),
        },
    };
    Ok((number, size))
}

fn slice<T: Clone>(all: &[T], (number, size): (usize, usize)) -> Vec<T> {
    all.iter()
        .skip((number - 1) * size)
        .take(size)
        .cloned()
        .collect()
}

// ---- rendering --------------------------------------------------------------------------------

fn local(h: &SimHotel, t: DateTime<Utc>) -> String {
    t.with_timezone(&h.time_zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn today(h: &SimHotel) -> NaiveDate {
    Utc::now().with_timezone(&h.time_zone).date_naive()
}

fn amount(h: &SimHotel, minor: i64) -> Value {
    if h.currency_exponent == 0 {
        return json!(minor);
    }
    json!(minor as f64 / 10f64.powi(h.currency_exponent as i32))
}

fn status_raw(r: &SimReservation) -> String {
    r.raw_status.clone().unwrap_or_else(|| {
        match r.status {
            SimStatus::Confirmed => "confirmed",
            SimStatus::InHouse => "checked_in",
            SimStatus::CheckedOut => "checked_out",
            SimStatus::Cancelled => "canceled",
            SimStatus::NoShow => "no_show",
        }
        .into()
    })
}

/// The guest's status on the reservation (`guestList[].guestStatus`).
fn guest_status(r: &SimReservation) -> &'static str {
    match r.status {
        SimStatus::Confirmed => "not_checked_in",
        SimStatus::InHouse => "in_house",
        SimStatus::CheckedOut => "checked_out",
        SimStatus::Cancelled => "canceled",
        SimStatus::NoShow => "no_show",
    }
}

fn room_status(r: &SimReservation) -> &'static str {
    match r.status {
        SimStatus::Confirmed | SimStatus::NoShow => "not_checked_in",
        SimStatus::InHouse => "in_house",
        SimStatus::CheckedOut => "checked_out",
        SimStatus::Cancelled => "cancelled",
    }
}

fn room_type_id(h: &SimHotel, name: &str) -> String {
    let mut types: Vec<&str> = h.rooms.iter().map(|r| r.room_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let i = types.iter().position(|t| *t == name).unwrap_or(types.len());
    (88_430 + i).to_string()
}

fn charges_minor(h: &SimHotel, r: &SimReservation) -> i64 {
    h.charges_of(&r.id).map(|c| c.amount_minor).sum()
}

fn balance_detailed(h: &SimHotel, r: &SimReservation) -> Value {
    let extras = charges_minor(h, r);
    let grand = r.total_minor() + extras;
    let detail = json!({
        "suggestedDeposit": format!("{:.*}", h.currency_exponent as usize, (r.total_minor() as f64 / 5.0) / 10f64.powi(h.currency_exponent as i32)),
        "subTotal": amount(h, r.total_minor()),
        "additionalItems": amount(h, extras),
        "taxesFees": amount(h, 0),
        "grandTotal": amount(h, grand),
        "paid": amount(h, r.payments_minor),
    });
    // The spec's oneOf: some answers carry an array. Odd ids get one, so clients meet both.
    let odd =
        r.id.bytes()
            .last()
            .is_some_and(|b| b.is_ascii_digit() && (b - b'0') % 2 == 1);
    if odd {
        json!([detail])
    } else {
        detail
    }
}

fn stay(h: &SimHotel, r: &SimReservation) -> Value {
    let mut s = json!({
        "reservationRoomID": format!("7{}", r.id),
        "roomTypeName": r.room_type,
        "roomTypeNameShort": r.room_type.chars().take(2).collect::<String>(),
        "roomTypeIsVirtual": false,
        "roomTypeID": room_type_id(h, &r.room_type),
        "subReservationID": format!("{}-1", r.id),
        "isRoomLocked": false,
        "startDate": r.arrival.to_string(),
        "endDate": r.departure.to_string(),
        "adults": r.adults.to_string(),
        "children": r.children.to_string(),
        "dailyRates": (0..r.nights()).map(|n| json!({
            "date": (r.arrival + Duration::days(n)).to_string(),
            "rate": amount(h, r.nightly_rate_minor),
        })).collect::<Vec<_>>(),
        "roomTotal": format!("{:.*}", h.currency_exponent as usize, r.total_minor() as f64 / 10f64.powi(h.currency_exponent as i32)),
    });
    if let Some(room) = r.room_id.as_deref().and_then(|id| h.room(id)) {
        s["roomID"] = json!(room.id);
        s["roomName"] = json!(room.number);
        s["dormRoomName"] = Value::Null;
        s["marketName"] = json!("Leisure");
        s["marketCode"] = json!("LEI");
    }
    s
}

fn guest_entry(h: &SimHotel, r: &SimReservation, g: &SimGuest) -> Value {
    let room = r.room_id.as_deref().and_then(|id| h.room(id));
    let assigned = json!({
        "reservationRoomID": format!("7{}", r.id),
        "roomID": room.map(|x| x.id.clone()),
        "roomName": room.map(|x| x.number.clone()),
        "roomTypeName": r.room_type,
        "roomTypeIsVirtual": false,
        "roomTypeID": room_type_id(h, &r.room_type),
        "roomStatus": room_status(r),
        "subReservationID": format!("{}-1", r.id),
        "ratePlanName": r.rate_code,
        "isRoomLocked": false,
    });
    json!({
        "guestID": g.id,
        "guestName": format!("{} {}", g.first_name, g.last_name),
        "guestFirstName": g.first_name,
        "guestLastName": g.last_name,
        "guestGender": "N/A",
        "guestEmail": g.email,
        "guestPhone": g.phone,
        "guestCellPhone": "",
        "guestCountry": "US",
        "guestStatus": guest_status(r),
        "subReservationID": format!("{}-1", r.id),
        "startDate": r.arrival.to_string(),
        "endDate": r.departure.to_string(),
        "assignedRoom": room.is_some(),
        "roomID": room.map(|x| x.id.clone()),
        "roomName": room.map(|x| x.number.clone()),
        "roomTypeName": r.room_type,
        "roomTypeIsVirtual": false,
        "isMainGuest": true,
        "isAnonymized": false,
        "customFields": [],
        "rooms": if room.is_some() { vec![assigned.clone()] } else { vec![] },
        "unassignedRooms": if room.is_none() { vec![assigned] } else { vec![] },
    })
}

fn guest_list(h: &SimHotel, r: &SimReservation) -> Value {
    let mut m = Map::new();
    if let Some(g) = h.guest(&r.guest_id) {
        m.insert(g.id.clone(), guest_entry(h, r, g));
    }
    // An empty map is `[]` in PHP's JSON.
    if m.is_empty() {
        json!([])
    } else {
        Value::Object(m)
    }
}

fn guest_name(h: &SimHotel, r: &SimReservation) -> (String, String) {
    h.guest(&r.guest_id)
        .map(|g| (format!("{} {}", g.first_name, g.last_name), g.email.clone()))
        .unwrap_or_default()
}

fn reservation_detail(h: &SimHotel, r: &SimReservation) -> Value {
    let (name, email) = guest_name(h, r);
    let assigned = r.room_id.is_some();
    json!({
        "propertyID": h.property_id,
        "guestName": name,
        "guestEmail": email,
        "isAnonymized": false,
        "guestList": guest_list(h, r),
        "reservationID": r.id,
        "dateCreated": local(h, r.created_at),
        "dateModified": local(h, r.updated_at),
        "estimatedArrivalTime": r.arrival_time.format("%H:%M").to_string(),
        "source": "Website",
        "sourceID": "s-1",
        "thirdPartyIdentifier": Value::Null,
        "status": status_raw(r),
        "total": amount(h, r.total_minor() + charges_minor(h, r)),
        "balance": amount(h, h.balance_minor(&r.id).unwrap_or(0)),
        "balanceDetailed": balance_detailed(h, r),
        "assigned": if assigned { vec![stay(h, r)] } else { vec![] },
        "unassigned": if assigned { vec![] } else { vec![stay(h, r)] },
        "cardsOnFile": [],
        "customFields": [],
        "startDate": r.arrival.to_string(),
        "endDate": r.departure.to_string(),
        "allotmentBlockCode": Value::Null,
        "groupInventory": Value::Null,
        "origin": "Booking engine",
        "mealPlans": "",
    })
}

fn reservation_row(
    ctx: &SimContext,
    h: &SimHotel,
    r: &SimReservation,
    guests: bool,
    rooms: bool,
) -> Value {
    let (name, _) = guest_name(h, r);
    let mut row = json!({
        "propertyID": h.property_id,
        "reservationID": r.id,
        "dateCreated": local(h, r.created_at),
        "dateModified": local(h, r.updated_at),
        "status": status_raw(r),
        "guestID": r.guest_id,
        "profileID": r.guest_id,
        "guestName": name,
        "startDate": r.arrival.to_string(),
        "endDate": r.departure.to_string(),
        "adults": r.adults.to_string(),
        "children": r.children.to_string(),
        "balance": amount(h, h.balance_minor(&r.id).unwrap_or(0)),
        "sourceName": "Website",
        "sourceID": "s-1",
        "thirdPartyIdentifier": "",
        "origin": "Booking engine",
        "mealPlans": "",
    });
    if rooms {
        let room = r.room_id.as_deref().and_then(|id| h.room(id));
        let mut entry = json!({
            "roomTypeID": room_type_id(h, &r.room_type),
            "roomTypeName": r.room_type,
            "roomTypeIsVirtual": false,
            "subReservationID": format!("{}-1", r.id),
            "isRoomLocked": false,
            "guestID": r.guest_id,
            "guestName": name,
            "adults": r.adults.to_string(),
            "children": r.children.to_string(),
            "reservationRoomID": format!("7{}", r.id),
            "roomCheckIn": r.arrival.to_string(),
            "roomCheckOut": r.departure.to_string(),
            "roomStatus": room_status(r),
        });
        if let Some(room) = room {
            entry["roomID"] = json!(room.id);
            entry["roomName"] = json!(room.number);
        }
        row["rooms"] = json!([entry]);
    }
    if guests {
        row["guestList"] = guest_list(h, r);
    }
    // A record the vendor cannot serve properly (fault injection): PHP's zero date.
    if ctx.entity_fails(crate::PROVIDER, &r.id) {
        row["startDate"] = json!("0000-00-00");
    }
    row
}

/// A row of `getReservationsWithRateDetails` (`GetReservationsWithRateDetailsResponse`): the
/// booking's dates as `date-time`s, rooms with their persons and rates, the total, the balance
/// and the estimated arrival time.
fn rate_details_row(ctx: &SimContext, h: &SimHotel, r: &SimReservation, guests: bool) -> Value {
    let (name, _) = guest_name(h, r);
    let room = r.room_id.as_deref().and_then(|id| h.room(id));
    let rates: Map<String, Value> = (0..r.nights())
        .map(|n| {
            (
                (r.arrival + Duration::days(n)).to_string(),
                amount(h, r.nightly_rate_minor),
            )
        })
        .collect();
    let mut entry = json!({
        "roomTypeID": room_type_id(h, &r.room_type),
        "roomTypeIsVirtual": false,
        "roomTypeName": r.room_type,
        "subReservationID": format!("{}-1", r.id),
        "isRoomLocked": false,
        "guestID": r.guest_id,
        "guestName": name,
        "rateID": "r-1",
        "rateName": r.rate_code,
        "adults": r.adults.to_string(),
        "children": r.children.to_string(),
        "reservationRoomID": format!("7{}", r.id),
        "roomCheckIn": r.arrival.to_string(),
        "roomCheckOut": r.departure.to_string(),
        "roomStatus": room_status(r),
        "detailedRoomRates": rates.clone(),
    });
    if let Some(room) = room {
        entry["roomID"] = json!(room.id);
        entry["roomName"] = json!(room.number);
    }
    let mut detailed = balance_detailed(h, r);
    // This list's schema has the object form only.
    if let Some(first) = detailed.as_array().and_then(|a| a.first()).cloned() {
        detailed = first;
    }
    let mut row = json!({
        "propertyID": h.property_id,
        "reservationID": r.id,
        "isDeleted": false,
        "dateCreated": local(h, r.created_at),
        "dateModified": local(h, r.updated_at),
        "status": status_raw(r),
        "reservationCheckIn": format!("{} 00:00:00", r.arrival),
        "reservationCheckOut": format!("{} 00:00:00", r.departure),
        "guestID": r.guest_id,
        "profileID": r.guest_id,
        "guestCountry": "US",
        "sourceName": "Website",
        "source": {"name": "Website", "paymentCollect": "hotel", "sourceID": "s-1", "category": "Direct"},
        "sourceCategory": "Direct",
        "sourceReservationID": "",
        "propertyCurrency": "USD",
        "balanceDetailed": detailed,
        "detailedRates": rates,
        "rooms": [entry],
        "origin": "Booking engine",
        "mealPlans": "",
        "thirdPartyIdentifier": "",
        "estimatedArrivalTime": r.arrival_time.format("%H:%M").to_string(),
        "total": amount(h, r.total_minor() + charges_minor(h, r)),
        "balance": amount(h, h.balance_minor(&r.id).unwrap_or(0)),
    });
    if guests {
        row["guestList"] = guest_list(h, r);
    }
    if ctx.entity_fails(crate::PROVIDER, &r.id) {
        row["reservationCheckIn"] = json!("0000-00-00 00:00:00");
    }
    row
}

// ---- reads ------------------------------------------------------------------------------------

async fn get_reservation(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let property = match enter(&ctx, "getReservation", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(id) = param(&p, "reservationID").map(str::to_owned) else {
        return fail("Parameter reservationID is required");
    };
    if ctx.entity_fails(crate::PROVIDER, &id) {
        return error_status(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }
    ctx.with_hotel(crate::PROVIDER, &property, |h| match h.reservation(&id) {
        Some(r) => ok(json!({"success": true, "data": reservation_detail(h, r)})),
        None => fail("Reservation not found"),
    })
    .unwrap_or_else(|| fail("Property not found"))
}

const STATUSES: &[&str] = &[
    "not_confirmed",
    "confirmed",
    "canceled",
    "checked_in",
    "checked_out",
    "no_show",
];

fn date_param(p: &Params, name: &str) -> Result<Option<NaiveDate>, String> {
    match param(p, name) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("{name} must be a date (YYYY-MM-DD)")),
    }
}

fn datetime_param(p: &Params, name: &str) -> Result<Option<NaiveDateTime>, String> {
    match param(p, name) {
        None => Ok(None),
        Some(v) => NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
            })
            .map(Some)
            .map_err(|_| format!("{name} must be a date-time (YYYY-MM-DD HH:MM:SS)")),
    }
}

fn truthy(p: &Params, name: &str) -> bool {
    matches!(param(p, name), Some("true" | "1"))
}

async fn get_reservations(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let property = match enter(&ctx, "getReservations", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let paging = match page(&p, MAX_PAGE) {
        Ok(x) => x,
        Err(m) => return fail(m),
    };
    let status = param(&p, "status").map(str::to_owned);
    if let Some(s) = &status {
        if !STATUSES.contains(&s.as_str()) {
            return fail(format!("Invalid status {s}"));
        }
    }
    let dates = (|| -> Result<_, String> {
        Ok((
            date_param(&p, "checkInFrom")?,
            date_param(&p, "checkInTo")?,
            date_param(&p, "checkOutFrom")?,
            date_param(&p, "checkOutTo")?,
            datetime_param(&p, "modifiedFrom")?,
            datetime_param(&p, "modifiedTo")?,
        ))
    })();
    let (in_from, in_to, out_from, out_to, mod_from, mod_to) = match dates {
        Ok(d) => d,
        Err(m) => return fail(m),
    };
    let guests = truthy(&p, "includeGuestsDetails");
    let rooms = truthy(&p, "includeAllRooms");
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        let mut matching: Vec<&SimReservation> = h
            .reservations
            .iter()
            .filter(|r| status.as_deref().is_none_or(|s| status_raw(r) == s))
            .filter(|r| in_from.is_none_or(|d| r.arrival >= d))
            .filter(|r| in_to.is_none_or(|d| r.arrival <= d))
            .filter(|r| out_from.is_none_or(|d| r.departure >= d))
            .filter(|r| out_to.is_none_or(|d| r.departure <= d))
            .filter(|r| {
                // Cloudbeds compares its local wall-clock stamps, to the second.
                let m = NaiveDateTime::parse_from_str(&local(h, r.updated_at), "%Y-%m-%d %H:%M:%S")
                    .unwrap_or_default();
                mod_from.is_none_or(|f| m >= f) && mod_to.is_none_or(|t| m <= t)
            })
            .collect();
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        let rows: Vec<Value> = slice(&matching, paging)
            .into_iter()
            .map(|r| reservation_row(&ctx, h, r, guests, rooms))
            .collect();
        ok(json!({
            "success": true,
            "data": rows,
            "count": rows.len(),
            "total": matching.len(),
        }))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

/// `getReservationsWithRateDetails`: filters by modification, booking and check-out dates, by
/// ids (comma-separated `reservationID`) and excluded statuses; pages of up to 100.
async fn get_reservations_with_rate_details(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let endpoint = "getReservationsWithRateDetails";
    let property = match enter(&ctx, endpoint, &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let paging = match page(&p, MAX_PAGE) {
        Ok(x) => x,
        Err(m) => return fail(m),
    };
    let excluded: Vec<String> = param(&p, "excludeStatuses")
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect())
        .unwrap_or_default();
    if let Some(bad) = excluded.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        return fail(format!("Invalid status {bad}"));
    }
    let ids: Option<BTreeSet<String>> =
        param(&p, "reservationID").map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
    let filters = (|| -> Result<_, String> {
        Ok((
            datetime_param(&p, "modifiedFrom")?,
            datetime_param(&p, "modifiedTo")?,
            datetime_param(&p, "resultsFrom")?,
            datetime_param(&p, "resultsTo")?,
            date_param(&p, "reservationCheckOutFrom")?,
            date_param(&p, "reservationCheckOutTo")?,
        ))
    })();
    let (mod_from, mod_to, booked_from, booked_to, out_from, out_to) = match filters {
        Ok(f) => f,
        Err(m) => return fail(m),
    };
    let guests = truthy(&p, "includeGuestsDetails");
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        let stamp = |t: DateTime<Utc>| {
            NaiveDateTime::parse_from_str(&local(h, t), "%Y-%m-%d %H:%M:%S").unwrap_or_default()
        };
        let mut matching: Vec<&SimReservation> = h
            .reservations
            .iter()
            .filter(|r| !excluded.iter().any(|s| *s == status_raw(r)))
            .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
            .filter(|r| out_from.is_none_or(|d| r.departure >= d))
            .filter(|r| out_to.is_none_or(|d| r.departure <= d))
            .filter(|r| {
                let m = stamp(r.updated_at);
                mod_from.is_none_or(|f| m >= f) && mod_to.is_none_or(|t| m <= t)
            })
            .filter(|r| {
                let b = stamp(r.created_at);
                booked_from.is_none_or(|f| b >= f) && booked_to.is_none_or(|t| b <= t)
            })
            .collect();
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        let rows: Vec<Value> = slice(&matching, paging)
            .into_iter()
            .map(|r| rate_details_row(&ctx, h, r, guests))
            .collect();
        ok(json!({
            "success": true,
            "data": rows,
            "count": rows.len(),
            "total": matching.len(),
        }))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

async fn get_guest(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let property = match enter(&ctx, "getGuest", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let guest_id = param(&p, "guestID").map(str::to_owned);
    let reservation_id = param(&p, "reservationID").map(str::to_owned);
    if guest_id.is_none() && reservation_id.is_none() {
        return fail("Parameter guestID or reservationID is required");
    }
    if let Some(id) = &guest_id {
        if ctx.entity_fails(crate::PROVIDER, id) {
            return error_status(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    }
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        let id = match (&guest_id, &reservation_id) {
            (Some(g), _) => g.clone(),
            (None, Some(r)) => match h.reservation(r) {
                Some(r) => r.guest_id.clone(),
                None => return fail("Reservation not found"),
            },
            (None, None) => return fail("Parameter guestID or reservationID is required"),
        };
        let Some(g) = h.guest(&id) else {
            return fail("Guest not found");
        };
        let special = h
            .reservations
            .iter()
            .filter(|r| r.guest_id == g.id)
            .flat_map(|r| r.special_requests.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ");
        ok(json!({"success": true, "data": {
            "firstName": g.first_name,
            "lastName": g.last_name,
            "gender": "N/A",
            "email": g.email,
            "phone": g.phone,
            "cellPhone": "",
            "country": "US",
            "address": "",
            "address2": "",
            "city": "",
            "zip": "",
            "state": "",
            "birthDate": "",
            "documentType": "",
            "documentNumber": "",
            "documentIssueDate": "",
            "documentIssuingCountry": "",
            "documentExpirationDate": "",
            "customFields": [],
            "specialRequests": special,
            "taxID": Value::Null,
            "companyTaxID": Value::Null,
            "companyName": Value::Null,
            "isAnonymized": false,
            "guestOptIn": false,
            "isMerged": false,
            "newGuestID": "",
        }}))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

async fn get_guest_list(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    // This operation names its property parameter `propertyIDs`.
    let property = match enter(&ctx, "getGuestList", &headers, &p, "propertyIDs").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let paging = match page(&p, MAX_PAGE) {
        Ok(x) => x,
        Err(m) => return fail(m),
    };
    let eq = |name: &str, have: &str| param(&p, name).is_none_or(|w| w.eq_ignore_ascii_case(have));
    let phone_eq = |name: &str, have: &str| {
        param(&p, name).is_none_or(|w| !digits(w).is_empty() && digits(w) == digits(have))
    };
    let statuses: Option<Vec<&str>> =
        param(&p, "status").map(|s| s.split(',').map(str::trim).collect());
    let info = truthy(&p, "includeGuestInfo");
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        // Guests as Cloudbeds lists them: through their reservations, the latest one each.
        let mut entries: Vec<(String, Value)> = Vec::new();
        let mut guests: Vec<&SimGuest> = h.guests.iter().collect();
        guests.sort_by(|a, b| a.id.cmp(&b.id));
        for g in guests {
            let Some(r) = h
                .reservations
                .iter()
                .filter(|r| r.guest_id == g.id)
                .max_by_key(|r| r.updated_at)
            else {
                continue;
            };
            let raw = status_raw(r);
            let fits = eq("guestFirstName", &g.first_name)
                && eq("guestLastName", &g.last_name)
                && eq("guestEmail", &g.email)
                && phone_eq("guestPhone", &g.phone)
                // The simulated guests have no cell phone.
                && phone_eq("guestCellPhone", "")
                && statuses.as_ref().is_none_or(|s| s.contains(&raw.as_str()));
            if !fits {
                continue;
            }
            let mut e = json!({
                "reservationID": r.id,
                "guestName": format!("{} {}", g.first_name, g.last_name),
                "guestEmail": g.email,
                "guestID": g.id,
                "dateCreated": local(h, r.created_at),
                "dateModified": local(h, r.updated_at),
                "isMainGuest": true,
                "isAnonymized": false,
                "status": raw,
                "isMerged": false,
                "newGuestID": "",
            });
            if info {
                e["guestFirstName"] = json!(g.first_name);
                e["guestLastName"] = json!(g.last_name);
                e["guestPhone"] = json!(g.phone);
                e["guestCellPhone"] = Value::Null;
                e["guestCountry"] = json!("US");
                e["guestNotes"] = if g.notes.is_empty() {
                    Value::Null
                } else {
                    json!([{"ID": format!("{}1", g.id), "note": g.notes}])
                };
            }
            entries.push((g.id.clone(), e));
        }
        let page_entries = slice(&entries, paging);
        let data = if page_entries.is_empty() {
            json!([])
        } else {
            Value::Object(page_entries.iter().cloned().collect())
        };
        ok(json!({
            "success": true,
            "data": data,
            "count": page_entries.len(),
            "total": entries.len(),
        }))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

async fn get_housekeeping(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let property = match enter(&ctx, "getHousekeepingStatus", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let paging = match page(&p, MAX_HOUSEKEEPING_PAGE) {
        Ok(x) => x,
        Err(m) => return fail(m),
    };
    let condition = param(&p, "roomCondition").map(str::to_owned);
    if condition
        .as_deref()
        .is_some_and(|c| !matches!(c, "clean" | "dirty"))
    {
        return fail("roomCondition must be clean or dirty");
    }
    let occupied = param(&p, "roomOccupied").map(|v| matches!(v, "true" | "1"));
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        let day = today(h);
        let live =
            |r: &&SimReservation| !matches!(r.status, SimStatus::Cancelled | SimStatus::NoShow);
        let mut rooms: Vec<Value> = Vec::new();
        for room in &h.rooms {
            let here = h
                .reservations
                .iter()
                .filter(live)
                .filter(|r| r.room_id.as_deref() == Some(room.id.as_str()));
            let (mut arriving, mut departing, mut staying) = (false, false, false);
            for r in here {
                arriving |= r.arrival == day && r.status != SimStatus::CheckedOut;
                departing |= r.departure == day
                    && matches!(r.status, SimStatus::InHouse | SimStatus::CheckedOut);
                staying |= r.status == SimStatus::InHouse && r.arrival < day && r.departure > day;
            }
            let frontdesk = match (arriving, departing, staying) {
                (true, true, _) => "turnover",
                (false, true, _) => "check-out",
                (true, false, _) => "check-in",
                (false, false, true) => "stayover",
                _ => "unused",
            };
            let (cond, pickup, blocked) = match room.housekeeping {
                SimHousekeeping::Clean => ("clean", false, false),
                SimHousekeeping::Dirty => ("dirty", false, false),
                SimHousekeeping::Inspected => ("inspected", false, false),
                SimHousekeeping::Pickup => ("dirty", true, false),
                SimHousekeeping::OutOfOrder | SimHousekeeping::OutOfService => {
                    ("dirty", false, true)
                }
            };
            if condition.as_deref().is_some_and(|c| {
                // "inspected" is a clean room.
                c != cond && !(c == "clean" && cond == "inspected")
            }) || occupied.is_some_and(|o| o != room.occupied)
            {
                continue;
            }
            rooms.push(json!({
                "date": room.updated_at.with_timezone(&h.time_zone).date_naive().to_string(),
                "roomTypeID": room_type_id(h, &room.room_type),
                "roomTypeName": room.room_type,
                "roomID": room.id,
                "roomName": room.number,
                "roomCondition": cond,
                "roomOccupied": room.occupied,
                "roomBlocked": blocked,
                "frontdeskStatus": frontdesk,
                "housekeeperID": "",
                "housekeeper": "",
                "doNotDisturb": false,
                "refusedService": false,
                "vacantPickup": pickup && !room.occupied,
                "roomComments": "",
            }));
        }
        let page_rooms = slice(&rooms, paging);
        ok(json!({
            "success": true,
            "data": page_rooms,
            "count": page_rooms.len(),
            "total": rooms.len(),
        }))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

// ---- rates and availability ---------------------------------------------------------------------

/// The simulated hotel's nightly prices per room type, in minor units: its base rate, and a
/// non-refundable plan 10 % below it.
fn base_rate_minor(room_type: &str) -> i64 {
    match room_type {
        "SUITE" => 34_900,
        "KING" => 21_900,
        _ => 18_900,
    }
}

/// `getRatePlans`: for each room type its base rate (no `ratePlanID`) and one derived plan,
/// with `roomRateDetailed` per night when `detailedRates` is set. `roomsAvailable` per night is
/// counted from the hotel's rooms and stays (`SimHotel::night`), the same for every rate of the
/// type; the rate's own `roomsAvailable` is the fewest over the stay.
async fn get_rate_plans(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let property = match enter(&ctx, "getRatePlans", &headers, &p, "propertyIDs").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (start, end) = match (date_param(&p, "startDate"), date_param(&p, "endDate")) {
        (Ok(Some(s)), Ok(Some(e))) => (s, e),
        (Err(m), _) | (_, Err(m)) => return fail(m),
        _ => return fail("startDate and endDate are required"),
    };
    if end <= start {
        return fail("endDate must be after startDate");
    }
    let detailed = truthy(&p, "detailedRates");
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        let nights: Vec<NaiveDate> = start.iter_days().take_while(|d| *d < end).collect();
        let counts: Vec<_> = nights.iter().map(|d| h.night(*d)).collect();
        let mut types: Vec<&str> = h.rooms.iter().map(|r| r.room_type.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        let mut data = Vec::new();
        for t in types {
            let type_id = room_type_id(h, t);
            let per_night: Vec<u32> = counts
                .iter()
                .map(|c| c.get(t).map(|n| n.available()).unwrap_or(0))
                .collect();
            let fewest = per_night.iter().copied().min().unwrap_or(0);
            let base = base_rate_minor(t);
            for (plan, price) in [(None, base), (Some("NRF"), base * 9 / 10)] {
                let detail: Vec<Value> = nights
                    .iter()
                    .zip(&per_night)
                    .map(|(d, rooms)| {
                        json!({
                            "date": d.to_string(),
                            "rateBase": amount(h, price),
                            "totalRate": amount(h, price),
                            "roomsAvailable": rooms,
                            "closedToArrival": false,
                            "closedToDeparture": false,
                            "blocked": false,
                            "minLos": 1,
                            "maxLos": 0,
                        })
                    })
                    .collect();
                data.push(json!({
                    "rateID": format!("{}{}", type_id, if plan.is_some() { "2" } else { "1" }),
                    "isDerived": plan.is_some(),
                    "roomRate": amount(h, price),
                    "totalRate": amount(h, price * nights.len() as i64),
                    "roomsAvailable": fewest,
                    "roomTypeID": type_id,
                    "roomTypeName": t,
                    "propertyID": h.property_id,
                    "ratePlanID": plan.map(|_| format!("{type_id}9")),
                    "ratePlanNamePublic": plan.map(|_| "Non-refundable"),
                    "ratePlanNamePrivate": plan,
                    "derivedType": plan.map(|_| "percentage"),
                    "derivedValue": plan.map(|_| -10),
                    "roomRateDetailed": if detailed { json!(detail) } else { Value::Null },
                }));
            }
        }
        ok(json!({"success": true, "data": data}))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

// ---- writes -----------------------------------------------------------------------------------

fn touch(r: &mut SimReservation) {
    let now = Utc::now();
    r.updated_at = now.max(r.updated_at + Duration::milliseconds(1));
}

async fn post_reservation_note(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Form(p): Form<Params>,
) -> Response {
    let property = match enter(&ctx, "postReservationNote", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (Some(id), Some(note)) = (
        param(&p, "reservationID").map(str::to_owned),
        param(&p, "reservationNote").map(str::to_owned),
    ) else {
        return fail("Parameters reservationID and reservationNote are required");
    };
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        match h.reservation_mut(&id) {
            Some(r) => {
                r.notes.push(note);
                touch(r);
                ok(json!({
                    "success": true,
                    "reservationNoteID": format!("{}{:03}", r.id, r.notes.len()),
                }))
            }
            None => fail("Reservation not found"),
        }
    })
    .unwrap_or_else(|| fail("Property not found"))
}

/// A decimal in major units to minor units, exactly.
fn minor_units(text: &str, exponent: u32) -> Option<i64> {
    let (neg, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > exponent as usize
    {
        return None;
    }
    let scaled = format!(
        "{}{}{}",
        if int.is_empty() { "0" } else { int },
        frac,
        "0".repeat(exponent as usize - frac.len())
    );
    scaled.parse::<i64>().ok().map(|v| if neg { -v } else { v })
}

struct Item {
    name: String,
    price_minor: i64,
    quantity: i64,
    category: Option<String>,
}

/// `items[i][field]` form fields into items, in index order.
fn parse_items(p: &Params, exponent: u32) -> Result<Vec<Item>, String> {
    let mut by_index: std::collections::BTreeMap<usize, Vec<(&str, &str)>> = Default::default();
    for (k, v) in p {
        let Some(rest) = k.strip_prefix("items[") else {
            continue;
        };
        let Some((index, field)) = rest.split_once("][") else {
            return Err(format!("Malformed field {k}"));
        };
        let index: usize = index.parse().map_err(|_| format!("Malformed field {k}"))?;
        let field = field.strip_suffix(']').unwrap_or(field);
        by_index.entry(index).or_default().push((field, v.as_str()));
    }
    let mut items = Vec::new();
    for (i, fields) in by_index {
        let get = |n: &str| fields.iter().find(|(f, _)| *f == n).map(|(_, v)| v.trim());
        let name = get("itemName")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("items[{i}][itemName] is required"))?;
        let price = get("itemPrice")
            .and_then(|v| minor_units(v, exponent))
            .ok_or_else(|| format!("items[{i}][itemPrice] is not a valid price"))?;
        let quantity =
            match get("itemQuantity") {
                None => 1,
                Some(q) => q.parse::<i64>().ok().filter(|q| *q >= 1).ok_or_else(|| {
                    format!("items[{i}][itemQuantity] must be a positive integer")
                })?,
            };
        items.push(Item {
            name: name.to_owned(),
            price_minor: price,
            quantity,
            category: get("itemCategoryName")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        });
    }
    if items.is_empty() {
        return Err("At least one item is required".into());
    }
    Ok(items)
}

fn transaction_id(position: usize) -> String {
    (90_000_000 + position).to_string()
}

async fn post_custom_item(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Form(p): Form<Params>,
) -> Response {
    let property = match enter(&ctx, "postCustomItem", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if param(&p, "houseAccountID").is_some() || param(&p, "groupCode").is_some() {
        return fail("Only reservation folios are simulated");
    }
    let Some(id) = param(&p, "reservationID").map(str::to_owned) else {
        return fail("Parameter reservationID is required");
    };
    let reference = param(&p, "referenceID").map(str::to_owned);
    let paid = truthy(&p, "itemPaid");
    let outcome = ctx.with_hotel(crate::PROVIDER, &property, |h| {
        // The same referenceID again: nothing is created; the first posting is named.
        if let Some(reference) = &reference {
            if let Some(pos) = h
                .charges
                .iter()
                .position(|c| c.reference.as_deref() == Some(reference.as_str()))
            {
                return (
                    ok(json!({"success": true, "data": {
                        "soldProductID": h.charges[pos].id,
                        "transactionID": transaction_id(pos),
                        "notice": "referenceID already exists: nothing was created or updated",
                    }})),
                    false,
                );
            }
        }
        let items = match parse_items(&p, h.currency_exponent) {
            Ok(items) => items,
            Err(message) => return (fail(message), false),
        };
        let Some(r) = h.reservation(&id) else {
            return (fail("Reservation not found"), false);
        };
        if matches!(r.status, SimStatus::Cancelled | SimStatus::NoShow) {
            return (
                fail("Items cannot be posted to a canceled or no-show reservation"),
                false,
            );
        }
        let now = Utc::now();
        let first = h.charges.len();
        let mut total = 0;
        for (i, item) in items.iter().enumerate() {
            let amount = item.price_minor * item.quantity;
            total += amount;
            h.charges.push(SimCharge {
                notes: None,
                id: (4_470_000 + first + i).to_string(),
                reservation_id: id.clone(),
                amount_minor: amount,
                currency: h.currency.clone(),
                description: item.name.clone(),
                reference: reference.clone(),
                revenue_center: item.category.clone(),
                posted_at: now,
            });
        }
        let sold = h.charges[first].id.clone();
        if let Some(r) = h.reservation_mut(&id) {
            if paid {
                r.payments_minor += total;
            }
            touch(r);
        }
        (
            ok(json!({"success": true, "data": {
                "soldProductID": sold,
                "transactionID": transaction_id(first),
            }})),
            true,
        )
    });
    match outcome {
        Some((response, posted)) => {
            if posted {
                ctx.count(crate::PROVIDER, |c| c.charges_posted += 1);
            }
            response
        }
        None => fail("Property not found"),
    }
}

async fn put_reservation(
    AxState(ctx): AxState<Arc<SimContext>>,
    headers: HeaderMap,
    Form(p): Form<Params>,
) -> Response {
    let property = match enter(&ctx, "putReservation", &headers, &p, "propertyID").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(id) = param(&p, "reservationID").map(str::to_owned) else {
        return fail("Parameter reservationID is required");
    };
    let checkout = match date_param(&p, "checkoutDate") {
        Ok(d) => d,
        Err(m) => return fail(m),
    };
    let status = match param(&p, "status") {
        None => None,
        Some(s) => match s {
            "confirmed" | "not_confirmed" => Some(SimStatus::Confirmed),
            "canceled" => Some(SimStatus::Cancelled),
            "checked_in" => Some(SimStatus::InHouse),
            "checked_out" => Some(SimStatus::CheckedOut),
            "no_show" => Some(SimStatus::NoShow),
            other => return fail(format!("Invalid status {other}")),
        },
    };
    let arrival_time = match param(&p, "estimatedArrivalTime") {
        None => None,
        Some(t) => match chrono::NaiveTime::parse_from_str(t, "%H:%M") {
            Ok(t) => Some(t),
            Err(_) => return fail("estimatedArrivalTime must be HH:MM"),
        },
    };
    ctx.with_hotel(crate::PROVIDER, &property, |h| {
        let Some(r) = h.reservation_mut(&id) else {
            return fail("Reservation not found");
        };
        if let Some(d) = checkout {
            if matches!(
                r.status,
                SimStatus::CheckedOut | SimStatus::Cancelled | SimStatus::NoShow
            ) {
                return fail("The reservation's dates cannot be changed in its current status");
            }
            if d <= r.arrival {
                return fail("checkoutDate must be after the check-in date");
            }
            r.departure = d;
        }
        if let Some(s) = status {
            r.status = s;
            r.raw_status = None;
        }
        if let Some(t) = arrival_time {
            r.arrival_time = t;
        }
        touch(r);
        let r = r.clone();
        ok(json!({"success": true, "message": Value::Null, "data": reservation_detail(h, &r)}))
    })
    .unwrap_or_else(|| fail("Property not found"))
}

impl pms_vendor_kit::sim::SimState for State {}

/// The Cloudbeds simulator, as `pms-sim` mounts it.
pub fn simulator() -> Option<pms_vendor_kit::sim::SimVendor> {
    Some(pms_vendor_kit::sim::SimVendor {
        provider: crate::PROVIDER,
        prefix: PREFIX,
        api_root: API_ROOT,
        id_style: pms_vendor_kit::sim::IdStyle::Numeric,
        data_salt: 3,
        // 5 requests per second per property.
        limit: (5, 1_000),
        router,
        admin: None,
        default_property,
        configure,
        on_reservation_change: None,
    })
}

fn default_property() -> pms_vendor_kit::sim::PropertySetup {
    pms_vendor_kit::sim::PropertySetup {
        property_id: "318267".into(),
        time_zone: chrono_tz::America::New_York,
        currency: "USD".into(),
        currency_exponent: 2,
        credentials: pms_vendor_kit::sim::creds(&[("apiKey", "cbat_simulator_key_318267")]),
    }
}

/// A hotel against a simulated property: the item category charges default to.
fn configure(
    config: &mut pms_domain::config::HotelConfig,
    _property: &pms_vendor_kit::sim::PropertySetup,
) {
    config.vendor.default_revenue_center = Some("Guest services".into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_exactly() {
        assert_eq!(minor_units("24.50", 2), Some(2450));
        assert_eq!(minor_units("24.5", 2), Some(2450));
        assert_eq!(minor_units("7", 2), Some(700));
        assert_eq!(minor_units("1500", 0), Some(1500));
        assert_eq!(minor_units("1.234", 2), None);
        assert_eq!(minor_units("abc", 2), None);
    }

    #[test]
    fn items_are_read_from_indexed_brackets() {
        let p: Params = vec![
            ("items[1][itemName]".into(), "Spa".into()),
            ("items[1][itemPrice]".into(), "80".into()),
            ("items[0][itemName]".into(), "Minibar".into()),
            ("items[0][itemPrice]".into(), "12.25".into()),
            ("items[0][itemQuantity]".into(), "2".into()),
        ];
        let items = parse_items(&p, 2).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (
                items[0].name.as_str(),
                items[0].price_minor,
                items[0].quantity
            ),
            ("Minibar", 1225, 2)
        );
        assert_eq!(items[1].price_minor, 8000);
        let bad: Params = vec![("items[0][itemName]".into(), "x".into())];
        assert!(parse_items(&bad, 2).is_err());
    }
}
