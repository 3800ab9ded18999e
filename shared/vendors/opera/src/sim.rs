//! OHIP (OPERA Cloud) protocol over a [`SimHotel`]: OAuth tokens and the property APIs the
//! adapter uses (crm profiles and preferences, rsv reservations, hsk housekeeping board, csh
//! charges and folios, int business events). Paths, parameters and shapes follow the specs
//! extracted in `shared/vendors/opera/testdata/` (oracle/hospitality-api-docs).
//!
//! Like the gateway it stands in for, it: validates Basic client credentials and the app key on
//! the token endpoint and issues tokens that expire (`token_ttl_secs`); answers 401 to
//! missing, unknown or expired tokens, 403 to a wrong app key or hotel, 400 to a missing
//! `x-hotelid`; limits by hotel; answers 204 for "not found"; refuses `limit` > 200 and
//! `offset` > 1000 and never lists a record past the 1 000th; renders errors as
//! `exceptionDetailType`; and queues a business event for every data change.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{json, Value};

use pms_vendor_kit::sim::data::{
    SimCharge, SimGuest, SimHotel, SimPreference, SimReservation, SimStatus,
};
use pms_vendor_kit::sim::{Denied, SimContext};

pub const PREFIX: &str = "/opera";
/// The documented page maximum.
pub const MAX_LIMIT: usize = 200;
/// Records past this index are cut off; larger offsets are refused.
pub const OFFSET_CAP: usize = 1000;
/// getBusinessEvents: "The maximum allowable limit for this API is 20".
pub const MAX_EVENTS: usize = 20;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Grant {
    client_id: String,
    expires: Instant,
}

/// A business event waiting in a hotel's queue.
#[derive(Clone, Debug)]
pub struct SimEvent {
    pub id: u64,
    pub module: String,
    pub action: String,
    pub primary_key: String,
    pub created: DateTime<Utc>,
    /// (dataElement, oldValue, newValue)
    pub details: Vec<(String, Option<String>, String)>,
}

/// A request as the simulator received it, for contract tests. Secrets are not kept: the
/// `authorization` header is reduced to its scheme, `x-app-key` to whether it matched.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// JSON bodies as sent; form bodies with secret fields blanked.
    pub body: Option<String>,
    pub status: u16,
    /// The id the simulated gateway gave the request (its `x-request-id` response header).
    pub response_request_id: String,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
}

/// Issued tokens, business event queues and the request log.
#[derive(Default)]
pub struct State {
    tokens: Mutex<HashMap<String, Grant>>,
    events: Mutex<HashMap<String, VecDeque<SimEvent>>>,
    next_event: AtomicU64,
    requests: Mutex<Vec<RecordedRequest>>,
}

const REQUEST_LOG_CAP: usize = 50_000;

impl State {
    /// Makes every issued token invalid now (the next call with one gets 401).
    pub fn expire_all(&self) {
        lock(&self.tokens).clear();
    }

    pub fn reset(&self) {
        self.expire_all();
        lock(&self.events).clear();
        lock(&self.requests).clear();
    }

    /// Queues a business event for `hotel`.
    pub fn record_event(
        &self,
        hotel: &str,
        module: &str,
        action: &str,
        primary_key: &str,
        details: Vec<(String, Option<String>, String)>,
    ) {
        let id = 2_000_000 + self.next_event.fetch_add(1, Ordering::SeqCst);
        lock(&self.events)
            .entry(hotel.to_owned())
            .or_default()
            .push_back(SimEvent {
                id,
                module: module.to_owned(),
                action: action.to_owned(),
                primary_key: primary_key.to_owned(),
                created: Utc::now(),
                details,
            });
    }

    /// A reservation changed (API write or admin patch): OPERA publishes a Reservation event.
    pub fn reservation_changed(&self, hotel: &str, r: &SimReservation, action: &str) {
        self.record_event(
            hotel,
            "Reservation",
            action,
            &r.id,
            vec![
                ("CONFIRMATION NO".into(), None, r.confirmation.clone()),
                (
                    "RESERVATION STATUS".into(),
                    None,
                    status_names(r, r.arrival).0.to_uppercase(),
                ),
                ("ARRIVAL DATE".into(), None, r.arrival.to_string()),
                ("DEPARTURE DATE".into(), None, r.departure.to_string()),
            ],
        );
    }

    /// Events still queued for `hotel`.
    pub fn queued_events(&self, hotel: &str) -> usize {
        lock(&self.events).get(hotel).map_or(0, VecDeque::len)
    }

    /// Every request received so far (oldest first).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    fn record_request(&self, r: RecordedRequest) {
        let mut log = lock(&self.requests);
        if log.len() >= REQUEST_LOG_CAP {
            log.remove(0);
        }
        log.push(r);
    }
}

pub fn router() -> Router<Arc<SimContext>> {
    Router::new().route("/{*rest}", any(dispatch))
}

// ---- rendering helpers --------------------------------------------------------------------

fn with_request_id(mut r: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// An `exceptionDetailType` answer.
fn problem(status: StatusCode, detail: impl Into<String>, code: &str) -> Response {
    let body = json!({
        "type": format!("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.{}", status.as_u16()),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail.into(),
        "o:errorCode": code,
        "o:errorDetails": [],
    });
    (status, Json(body)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A decimal amount as a JSON number ("12.34" -> 12.34).
fn amount(minor: i64, exponent: u32) -> Value {
    let div = 10i64.pow(exponent);
    let text = if exponent == 0 {
        minor.to_string()
    } else {
        format!(
            "{}{}.{:0width$}",
            if minor < 0 { "-" } else { "" },
            minor.unsigned_abs() / div as u64,
            minor.unsigned_abs() % div as u64,
            width = exponent as usize
        )
    };
    serde_json::from_str::<serde_json::Number>(&text)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn money(h: &SimHotel, minor: i64) -> Value {
    json!({ "amount": amount(minor, h.currency_exponent), "currencyCode": h.currency })
}

/// Hotel-local wall clock, the way the rsv examples print it: `"2020-01-28 14:33:54.0"`.
fn local_stamp(h: &SimHotel, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&h.time_zone).naive_local();
    let ms = local.and_utc().timestamp_subsec_millis();
    if ms == 0 {
        format!("{}.0", local.format("%Y-%m-%d %H:%M:%S"))
    } else {
        format!("{}.{:03}", local.format("%Y-%m-%d %H:%M:%S"), ms)
    }
}

fn local_time(date: NaiveDate, time: NaiveTime) -> String {
    format!("{} {}.0", date, time.format("%H:%M:%S"))
}

fn today(h: &SimHotel) -> NaiveDate {
    Utc::now().with_timezone(&h.time_zone).date_naive()
}

/// (`reservationStatus`, `computedReservationStatus`) of a reservation on `today`.
fn status_names(r: &SimReservation, today: NaiveDate) -> (String, Option<&'static str>) {
    if let Some(raw) = &r.raw_status {
        return (raw.clone(), None);
    }
    let (stored, computed) = match r.status {
        SimStatus::Confirmed => ("Reserved", (r.arrival == today).then_some("DueIn")),
        SimStatus::InHouse => ("InHouse", (r.departure == today).then_some("DueOut")),
        SimStatus::CheckedOut => ("CheckedOut", None),
        SimStatus::Cancelled => ("Cancelled", None),
        SimStatus::NoShow => ("NoShow", None),
    };
    (stored.to_owned(), computed)
}

fn room_number(h: &SimHotel, r: &SimReservation) -> Option<String> {
    r.room_id
        .as_deref()
        .and_then(|id| h.room(id))
        .map(|room| room.number.clone())
}

fn id_list(r: &SimReservation) -> Value {
    json!([
        { "id": r.id, "type": "Reservation" },
        { "id": r.confirmation, "type": "Confirmation" }
    ])
}

fn profile_node(g: &SimGuest) -> Value {
    let mut customer = json!({
        "personName": [{ "givenName": g.first_name, "surname": g.last_name, "nameType": "Primary" }],
        "language": g.language,
    });
    if g.vip {
        customer["vipStatus"] = json!("VIP");
    }
    let mut p = json!({
        "customer": customer,
        "emails": { "emailInfo": [{ "email": {
            "emailAddress": g.email, "type": "EMAIL", "primaryInd": true } }] },
        "telephones": { "telephoneInfo": [{ "telephone": {
            "phoneNumber": g.phone, "phoneTechType": "PHONE", "phoneUseType": "HOME",
            "primaryInd": true } }] },
        "profileType": "Guest",
        "statusCode": "Active",
        // The crm examples print instants in UTC with a Z.
        "createDateTime": g.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModifyDateTime": g.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if let Some(tier) = &g.loyalty_tier {
        p["profileMemberships"] = json!({ "profileMembership": [{
            "membershipType": "SIMREWARDS",
            "membershipId": format!("SR{}", g.id),
            "membershipLevel": tier,
            "primaryMembership": true,
        }] });
    }
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for pref in &g.preferences {
        let item = json!({ "preferenceValue": pref.code, "description": pref.description });
        match groups.iter_mut().find(|(c, _)| *c == pref.category) {
            Some((_, items)) => items.push(item),
            None => groups.push((pref.category.clone(), vec![item])),
        }
    }
    if !groups.is_empty() {
        p["preferenceCollection"] = json!({ "preferenceType": groups
            .into_iter()
            .map(|(c, items)| json!({ "preferenceType": c, "preference": items }))
            .collect::<Vec<_>>() });
    }
    p
}

/// `profileSummaryType`, as getProfiles lists a profile: no `customer` node; the person's name
/// is under `formerName` (`name` is the family name), contacts are single objects.
fn profile_summary_node(g: &SimGuest) -> Value {
    let mut p = json!({
        "formerName": {
            "name": g.last_name,
            "givenName": g.first_name,
            "nameType": "Primary",
            "language": g.language,
        },
        "emailInfo": { "email": { "emailAddress": g.email, "type": "EMAIL", "primaryInd": true } },
        "telephoneInfo": { "telephone": {
            "phoneNumber": g.phone, "phoneTechType": "PHONE", "phoneUseType": "HOME",
            "primaryInd": true } },
        "profileType": "Guest",
        "statusCode": "Active",
        "createDateTime": g.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModifyDateTime": g.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if g.vip {
        p["vipStatus"] = json!({ "code": "VIP" });
    }
    if let Some(tier) = &g.loyalty_tier {
        p["profileMembership"] = json!({
            "membershipType": "SIMREWARDS",
            "membershipId": format!("SR{}", g.id),
            "membershipLevel": tier,
            "primaryMembership": true,
        });
    }
    p
}

/// `hotelReservationType`, as getReservation and putReservation answer.
fn full_reservation(h: &SimHotel, r: &SimReservation) -> Value {
    let (stored, computed) = status_names(r, today(h));
    let room = room_number(h, r);
    let mut room_stay = json!({
        "arrivalDate": r.arrival.to_string(),
        "departureDate": r.departure.to_string(),
        "expectedTimes": {
            "reservationExpectedArrivalTime": local_time(r.arrival, r.arrival_time),
            "reservationExpectedDepartureTime": local_time(r.departure, r.departure_time),
        },
        "roomRates": [{
            "roomType": r.room_type,
            "ratePlanCode": r.rate_code,
            "start": r.arrival.to_string(),
            "end": r.departure.to_string(),
            "guestCounts": { "adults": r.adults, "children": r.children },
            "rates": { "rate": [{ "base": {
                "amountBeforeTax": amount(r.nightly_rate_minor, h.currency_exponent),
                "currencyCode": h.currency } }] },
        }],
        "guestCounts": { "adults": r.adults, "children": r.children },
        "total": {
            "amountAfterTax": amount(r.total_minor(), h.currency_exponent),
            "currencyCode": h.currency,
        },
    });
    if let Some(n) = &room {
        room_stay["currentRoomInfo"] = json!({ "roomId": n, "roomType": r.room_type });
        room_stay["roomRates"][0]["roomId"] = json!(n);
    }
    let guests = match h.guest(&r.guest_id) {
        Some(g) => json!([{
            "profileInfo": {
                "profileIdList": [{ "id": g.id, "type": "Profile" }],
                "profile": profile_node(g),
            },
            "primary": true,
        }]),
        None => json!([]),
    };
    let comments: Vec<Value> = r
        .notes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "comment": {
                    "text": { "value": n },
                    "notificationLocation": "GEN",
                    "type": "RESERVATION",
                    "internal": false,
                },
                "id": format!("{}{:03}", r.id, i + 1),
                "type": "Comment",
            })
        })
        .collect();
    let mut out = json!({
        "reservationIdList": id_list(r),
        "roomStay": room_stay,
        "reservationGuests": guests,
        "comments": comments,
        "hotelId": h.property_id,
        "reservationStatus": stored,
        "createDateTime": local_stamp(h, r.created_at),
        "lastModifyDateTime": local_stamp(h, r.updated_at),
    });
    if let Some(c) = computed {
        out["computedReservationStatus"] = json!(c);
    }
    out
}

/// `reservationInfoType`, as getHotelReservations lists it.
fn reservation_info(h: &SimHotel, r: &SimReservation) -> Value {
    let (stored, computed) = status_names(r, today(h));
    let mut stay = json!({
        "arrivalDate": r.arrival.to_string(),
        "departureDate": r.departure.to_string(),
        "expectedTimes": {
            "reservationExpectedArrivalTime": local_time(r.arrival, r.arrival_time),
            "reservationExpectedDepartureTime": local_time(r.departure, r.departure_time),
        },
        "adultCount": r.adults,
        "childCount": r.children,
        "roomType": r.room_type,
        "ratePlanCode": r.rate_code,
        "totalAmount": money(h, r.total_minor()),
        "balance": money(h, h.balance_minor(&r.id).unwrap_or(0)),
    });
    if let Some(n) = room_number(h, r) {
        stay["roomId"] = json!(n);
    }
    let mut guest = json!({});
    if let Some(g) = h.guest(&r.guest_id) {
        guest = json!({
            "id": g.id,
            "type": "Profile",
            "givenName": g.first_name,
            "surname": g.last_name,
            "email": g.email,
            "phoneNumber": g.phone,
        });
    }
    let mut out = json!({
        "reservationIdList": id_list(r),
        "roomStay": stay,
        "reservationGuest": guest,
        "hotelId": h.property_id,
        "reservationStatus": stored,
        "createDateTime": local_stamp(h, r.created_at),
        "lastModifyDateTime": local_stamp(h, r.updated_at),
    });
    if let Some(c) = computed {
        out["computedReservationStatus"] = json!(c);
    }
    out
}

fn hk_status(h: pms_vendor_kit::sim::data::SimHousekeeping) -> &'static str {
    use pms_vendor_kit::sim::data::SimHousekeeping as H;
    match h {
        H::Clean => "Clean",
        H::Dirty => "Dirty",
        H::Inspected => "Inspected",
        H::Pickup => "Pickup",
        H::OutOfOrder => "OutOfOrder",
        H::OutOfService => "OutOfService",
    }
}

// ---- the request ------------------------------------------------------------------------

struct Req {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    request_id: String,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn json(&self) -> Result<Value, Problem> {
        serde_json::from_slice(&self.body).map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "the request body is not valid JSON",
                "OPERA-BAD_REQUEST",
            )
        })
    }
}

/// An error answer, kept small until it is rendered.
pub struct Problem {
    status: StatusCode,
    detail: String,
    code: &'static str,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>, code: &'static str) -> Self {
        Self {
            status,
            detail: detail.into(),
            code,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            // 401 has no schema in the specs; a short JSON body.
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "title": "Unauthorized", "status": 401, "detail": self.detail })),
            )
                .into_response();
        }
        problem(self.status, self.detail, self.code)
    }
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail, "OPERA-BAD_REQUEST")
}

/// limit/offset of a list request, refused beyond OHIP's bounds.
fn paging(req: &Req, default_limit: usize, max: usize) -> Result<(usize, usize), Problem> {
    let parse = |name: &str| -> Result<Option<usize>, Problem> {
        match req.param(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| bad(format!("{name} must be a non-negative integer"))),
        }
    };
    let limit = parse("limit")?.unwrap_or(default_limit);
    if limit == 0 || limit > max {
        return Err(bad(format!(
            "limit {limit} is out of range: the maximum allowable limit for this API is {max}"
        )));
    }
    let offset = parse("offset")?.unwrap_or(0);
    if offset > OFFSET_CAP {
        return Err(bad(format!(
            "offset {offset} is out of range: the maximum allowed offset is {OFFSET_CAP}"
        )));
    }
    Ok((limit, offset))
}

/// One page of `items` with OHIP's paging attributes; `None` when the page is empty (204).
fn page_of<T: Clone>(items: &[T], limit: usize, offset: usize) -> Option<(Vec<T>, Value)> {
    // Records past the cap are cut off, and the reported total is capped like getProfiles'.
    let visible = items.len().min(OFFSET_CAP);
    let page: Vec<T> = items
        .iter()
        .take(visible)
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    if page.is_empty() {
        return None;
    }
    let meta = json!({
        "hasMore": offset + page.len() < visible,
        "totalResults": visible,
        "count": page.len(),
        "limit": limit,
        "offset": offset,
        "totalPages": visible.div_ceil(limit),
    });
    Some((page, meta))
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

// ---- dispatch -----------------------------------------------------------------------------

async fn dispatch(
    AxState(ctx): AxState<Arc<SimContext>>,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    // The gateway's own id of the request, distinct from the client's `x-request-id`.
    let request_id = format!("sim-{}", uuid::Uuid::new_v4());
    let req = Req {
        method,
        segments: rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        query,
        headers,
        body,
        request_id,
    };
    let response = route(&ctx, &req).await;
    // Keep the answer's body for contract tests, then send it on unchanged.
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut entry = recorded(&ctx, &req, parts.status.as_u16());
    entry.response_request_id = req.request_id.clone();
    entry.response_body = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    entry.response_headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    ctx.state::<State>().record_request(entry);
    with_request_id(
        Response::from_parts(parts, axum::body::Body::from(bytes)),
        &req.request_id,
    )
}

fn recorded(ctx: &SimContext, req: &Req, status: u16) -> RecordedRequest {
    let headers = req
        .headers
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().to_ascii_lowercase();
            let value = v.to_str().unwrap_or("");
            let shown = match name.as_str() {
                "authorization" => value.split_whitespace().next().unwrap_or("").to_owned(),
                "x-app-key" => {
                    let known = ctx
                        .config
                        .properties
                        .get(&crate::PROVIDER)
                        .is_some_and(|ps| {
                            ps.iter()
                                .any(|p| p.credentials.get("appKey").is_some_and(|k| k == value))
                        });
                    if known { "known" } else { "unknown" }.to_owned()
                }
                _ => value.to_owned(),
            };
            (name, shown)
        })
        .collect();
    let content_type = req
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned());
    let body = if req.body.is_empty() {
        None
    } else if content_type.as_deref() == Some("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .map(|(k, v)| {
                let v = if k == "password" { String::new() } else { v };
                (k, v)
            })
            .collect();
        Some(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        )
    } else {
        Some(String::from_utf8_lossy(&req.body).into_owned())
    };
    RecordedRequest {
        method: req.method.to_string(),
        path: format!("/{}", req.segments.join("/")),
        query: req.query.clone(),
        headers,
        content_type,
        body,
        status,
        response_request_id: String::new(),
        response_headers: Vec::new(),
        response_body: None,
    }
}

fn operation(req: &Req) -> Option<&'static str> {
    let s: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = &req.method;
    Some(match (m, s.as_slice()) {
        (&Method::POST, ["oauth", "v1", "tokens"]) => "getToken",
        (&Method::GET, ["crm", "v1", "profiles"]) => "getProfiles",
        (&Method::GET, ["crm", "v1", "profiles", _]) => "getProfile",
        (&Method::POST, ["crm", "v1", "profiles", _, "preferences"]) => "postPreference",
        (&Method::GET, ["rsv", "v1", "hotels", _, "reservations"]) => "getHotelReservations",
        (&Method::GET, ["rsv", "v1", "hotels", _, "reservations", _]) => "getReservation",
        (&Method::PUT, ["rsv", "v1", "hotels", _, "reservations", _]) => "putReservation",
        (&Method::GET, ["hsk", "v1", "hotels", _, "housekeepingOverview"]) => {
            "getHousekeepingOverview"
        }
        (&Method::POST, ["csh", "v1", "hotels", _, "reservations", _, "charges"]) => {
            "postBillingCharges"
        }
        (&Method::GET, ["csh", "v1", "hotels", _, "reservations", _, "folios"]) => "getFolio",
        (&Method::GET, ["int", "v1", "externalSystem", _, "hotels", _, "businessEvents"]) => {
            "getBusinessEvents"
        }
        _ => return None,
    })
}

fn denied(d: Denied) -> Response {
    match d {
        Denied::RateLimited { retry_after, .. } => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests; slow down",
                "OPERA-TOO_MANY_REQUESTS",
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        Denied::ServerError { status, message } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if let Some(m) = message {
                problem(status, m, "OPERA-REJECTED")
            } else if status == StatusCode::INTERNAL_SERVER_ERROR {
                problem(status, "System error", "OPERA-SYSTEM_ERROR")
            } else {
                // 502/503 have no schema in the specs.
                (status, status.canonical_reason().unwrap_or("")).into_response()
            }
        }
        Denied::Timeout => (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout").into_response(),
    }
}

async fn route(ctx: &SimContext, req: &Req) -> Response {
    let Some(op) = operation(req) else {
        return problem(
            StatusCode::NOT_FOUND,
            format!(
                "{} /{} is not an OHIP resource",
                req.method,
                req.segments.join("/")
            ),
            "OPERA-NOT_FOUND",
        );
    };
    let rate_key = if op == "getToken" {
        "oauth".to_owned()
    } else {
        req.header("x-hotelid").unwrap_or("-").to_owned()
    };
    if let Err(d) = ctx.admit(crate::PROVIDER, op, &rate_key).await {
        return denied(d);
    }
    if op == "getToken" {
        return token(ctx, req);
    }
    let hotel = match authorize(ctx, req) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let s: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    // Hotel codes in paths name the resource; the header authorizes it.
    let path_hotel = match s.as_slice() {
        ["rsv" | "hsk" | "csh", "v1", "hotels", h, ..] => Some(*h),
        ["int", "v1", "externalSystem", _, "hotels", h, ..] => Some(*h),
        _ => None,
    };
    if path_hotel.is_some_and(|h| h != hotel) {
        return problem(
            StatusCode::FORBIDDEN,
            "the hotel in the path is not the x-hotelid the call is authorized for",
            "OPERA-FORBIDDEN",
        );
    }
    let result = match (op, s.as_slice()) {
        ("getProfiles", _) => get_profiles(ctx, &hotel, req),
        ("getProfile", [.., id]) => get_profile(ctx, &hotel, id),
        ("postPreference", [_, _, _, id, _]) => post_preference(ctx, &hotel, id, req),
        ("getHotelReservations", _) => get_reservations(ctx, &hotel, req),
        ("getReservation", [.., id]) => get_reservation(ctx, &hotel, id),
        ("putReservation", [.., id]) => put_reservation(ctx, &hotel, id, req),
        ("getHousekeepingOverview", _) => housekeeping(ctx, &hotel, req),
        ("postBillingCharges", [.., id, _]) => post_charges(ctx, &hotel, id, req),
        ("getFolio", [.., id, _]) => get_folio(ctx, &hotel, id, req),
        ("getBusinessEvents", [_, _, _, code, ..]) => business_events(ctx, &hotel, code, req),
        _ => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown resource",
            "OPERA-NOT_FOUND",
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn unauthorized(ctx: &SimContext, detail: &str) -> Problem {
    ctx.count(crate::PROVIDER, |c| c.unauthorized += 1);
    Problem::new(StatusCode::UNAUTHORIZED, detail, "OPERA-UNAUTHORIZED")
}

/// The token endpoint (`getToken`): Basic client credentials, app key, grant.
fn token(ctx: &SimContext, req: &Req) -> Response {
    let basic = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some((client_id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return unauthorized(ctx, "Basic client credentials are required").into_response();
    };
    let Some(property) = ctx.property_by_credential(crate::PROVIDER, "clientId", client_id) else {
        return unauthorized(ctx, "invalid client id or secret").into_response();
    };
    if property.credentials.get("clientSecret").map(String::as_str) != Some(secret) {
        return unauthorized(ctx, "invalid client id or secret").into_response();
    }
    if req.header("x-app-key") != property.credentials.get("appKey").map(String::as_str) {
        return problem(
            StatusCode::FORBIDDEN,
            "the application key is missing or not registered for this client",
            "OPERA-FORBIDDEN",
        );
    }
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return bad("the token request must be application/x-www-form-urlencoded").into_response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    match field("grant_type") {
        Some("client_credentials") => {
            if field("scope").is_none() {
                return bad("scope is required for the client_credentials grant").into_response();
            }
            if let Some(e) = req.header("enterpriseId") {
                let ok = (1..=8).contains(&e.len())
                    && e.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if !ok {
                    return bad("enterpriseId must match ^[A-Z0-9]{1,8}$").into_response();
                }
            }
        }
        Some("password") => {
            let want_user = property.credentials.get("username");
            let want_pass = property.credentials.get("password");
            if want_user.is_none()
                || field("username") != want_user.map(String::as_str)
                || field("password") != want_pass.map(String::as_str)
            {
                return unauthorized(ctx, "invalid username or password").into_response();
            }
        }
        Some(other) => return bad(format!("unsupported grant_type {other}")).into_response(),
        None => return bad("grant_type is required").into_response(),
    }
    let access = format!("sim-ohip-{}", uuid::Uuid::new_v4());
    let ttl = ctx.config.token_ttl_secs;
    lock(&ctx.state::<State>().tokens).insert(
        access.clone(),
        Grant {
            client_id: client_id.to_owned(),
            expires: Instant::now() + Duration::from_secs(ttl),
        },
    );
    ctx.count(crate::PROVIDER, |c| c.tokens_issued += 1);
    (
        StatusCode::OK,
        Json(json!({
            "access_token": access,
            "expires_in": ttl,
            "token_type": "Bearer",
            "oracle_tk_context": "user_assertion",
        })),
    )
        .into_response()
}

/// Checks the token, app key and hotel of a property API call; the hotel code on success.
fn authorize(ctx: &SimContext, req: &Req) -> Result<String, Problem> {
    let Some(token) = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Err(unauthorized(ctx, "a Bearer token is required"));
    };
    let client = {
        let state = ctx.state::<State>();
        let tokens = lock(&state.tokens);
        match tokens.get(token) {
            Some(g) if g.expires > Instant::now() => g.client_id.clone(),
            Some(_) => return Err(unauthorized(ctx, "the token has expired")),
            None => return Err(unauthorized(ctx, "the token is not valid")),
        }
    };
    let Some(app_key) = req.header("x-app-key") else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "the x-app-key header is required",
            "OPERA-FORBIDDEN",
        ));
    };
    let Some(hotel) = req.header("x-hotelid") else {
        return Err(bad("the x-hotelid header is required"));
    };
    let Some(property) = ctx.property(crate::PROVIDER, hotel) else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("hotel {hotel} is not available to this application"),
            "OPERA-FORBIDDEN",
        ));
    };
    if property.credentials.get("clientId") != Some(&client)
        || property.credentials.get("appKey").map(String::as_str) != Some(app_key)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("this application is not authorized for hotel {hotel}"),
            "OPERA-FORBIDDEN",
        ));
    }
    Ok(hotel.to_owned())
}

type Answer = Result<Response, Problem>;

fn with_hotel<R>(
    ctx: &SimContext,
    hotel: &str,
    f: impl FnOnce(&mut SimHotel) -> R,
) -> Result<R, Problem> {
    ctx.with_hotel(crate::PROVIDER, hotel, f).ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            format!("hotel {hotel} is not available"),
            "OPERA-FORBIDDEN",
        )
    })
}

// ---- crm ----------------------------------------------------------------------------------

fn get_profile(ctx: &SimContext, hotel: &str, id: &str) -> Answer {
    if ctx.entity_fails(crate::PROVIDER, id) {
        return Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("profile {id} could not be read"),
            "OPERA-SYSTEM_ERROR",
        ));
    }
    with_hotel(ctx, hotel, |_| ())?;
    // Profiles are the chain's: found through any member, with the property they belong to.
    let found = ctx
        .chain_of(crate::PROVIDER, hotel)
        .into_iter()
        .find_map(|p| {
            ctx.with_hotel(crate::PROVIDER, &p, |h| h.guest(id).cloned())
                .flatten()
                .map(|g| (p, g))
        });
    Ok(match found {
        None => no_content(),
        Some((registered, g)) => {
            let mut details = profile_node(&g);
            details["registeredProperty"] = json!(registered);
            Json(json!({
                "profileIdList": [{ "id": g.id, "type": "Profile" }],
                "profileDetails": details,
            }))
            .into_response()
        }
    })
}

fn starts_with_ci(value: &str, prefix: &str) -> bool {
    value
        .to_lowercase()
        .starts_with(&prefix.trim().to_lowercase())
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn get_profiles(ctx: &SimContext, hotel: &str, req: &Req) -> Answer {
    let (limit, offset) = paging(req, 20, MAX_LIMIT)?;
    let surname = req.param("profileName");
    let given = req.param("givenName");
    let email = req.param("email");
    let phone = req.param("phone");
    with_hotel(ctx, hotel, |h| {
        let matches: Vec<&SimGuest> = h
            .guests
            .iter()
            .filter(|g| surname.is_none_or(|s| starts_with_ci(&g.last_name, s)))
            .filter(|g| given.is_none_or(|s| starts_with_ci(&g.first_name, s)))
            .filter(|g| email.is_none_or(|e| g.email.eq_ignore_ascii_case(e.trim())))
            .filter(|g| {
                phone.is_none_or(|p| {
                    let (want, have) = (digits(p), digits(&g.phone));
                    !want.is_empty() && (have.ends_with(&want) || want.ends_with(&have))
                })
            })
            .collect();
        match page_of(&matches, limit, offset) {
            None => no_content(),
            Some((page, meta)) => {
                let infos: Vec<Value> = page
                    .iter()
                    .map(|g| {
                        json!({
                            "profileIdList": [{ "id": g.id, "type": "Profile" }],
                            "profile": profile_summary_node(g),
                        })
                    })
                    .collect();
                Json(json!({ "profileSummaries": merge(json!({ "profileInfo": infos }), meta) }))
                    .into_response()
            }
        }
    })
}

fn post_preference(ctx: &SimContext, hotel: &str, id: &str, req: &Req) -> Answer {
    let body = req.json()?;
    let collections = body
        .get("preferenceCollections")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("preferenceCollections is required"))?;
    let mut new = Vec::new();
    for c in collections {
        let category = c
            .get("preferenceType")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad("preferenceType is required"))?;
        for p in c
            .get("preference")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let code = p
                .get("preferenceValue")
                .or_else(|| p.get("preferenceCode"))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| bad("preferenceValue or preferenceCode is required"))?;
            new.push(SimPreference {
                category: category.to_owned(),
                code: code.to_owned(),
                description: p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or(code)
                    .to_owned(),
            });
        }
    }
    if new.is_empty() {
        return Err(bad("no preference given"));
    }
    let now = Utc::now();
    let found = with_hotel(ctx, hotel, |h| {
        let Some(g) = h.guest_mut(id) else {
            return false;
        };
        for p in new {
            g.preferences
                .retain(|e| !(e.category == p.category && e.code == p.code));
            g.preferences.push(p);
        }
        g.updated_at = now;
        true
    })?;
    if !found {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("profile {id} not found"),
            "OPERA-NOT_FOUND",
        ));
    }
    ctx.state::<State>().record_event(
        hotel,
        "Profile",
        "UPDATE PROFILE",
        id,
        vec![("PREFERENCES".into(), None, "updated".into())],
    );
    let mut r = (
        StatusCode::CREATED,
        Json(json!({ "links": [{ "rel": "self", "method": "GET",
            "href": format!("/crm/v1/profiles/{id}/preferences") }] })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/crm/v1/profiles/{id}/preferences")) {
        r.headers_mut().insert("location", v);
    }
    Ok(r)
}

// ---- rsv ----------------------------------------------------------------------------------

const SIMULATED_SEARCH_TYPES: &[&str] = &[
    "Any",
    "Arrival",
    "Arrived",
    "Departure",
    "CheckedOut",
    "InHouse",
    "Cancellation",
    "NoShow",
];

fn date_param(req: &Req, name: &str) -> Result<Option<NaiveDate>, Problem> {
    match req.param(name) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| bad(format!("{name} must be a date (YYYY-MM-DD)"))),
    }
}

fn get_reservations(ctx: &SimContext, hotel: &str, req: &Req) -> Answer {
    let (limit, offset) = paging(req, 20, MAX_LIMIT)?;
    let search = req.param("searchType").unwrap_or("Any");
    if !SIMULATED_SEARCH_TYPES.contains(&search) {
        return Err(bad(format!("searchType {search} is not supported here")));
    }
    let arrival = (
        date_param(req, "arrivalStartDate")?,
        date_param(req, "arrivalEndDate")?,
    );
    let departure = (
        date_param(req, "departureStartDate")?,
        date_param(req, "departureEndDate")?,
    );
    let stay_date = date_param(req, "stayDate")?;
    let confirmations = req.params("confirmationNumberList");
    let ids = req.params("reservationIdList");
    let profiles = req.params("profileIds");
    let surname = req.param("surname");
    let given = req.param("givenName");
    let from_name = req.param("fromName").map(str::to_uppercase);
    let to_name = req.param("toName").map(str::to_uppercase);
    let room = req.param("roomId");
    let order_by = req.params("orderBy").first().copied();
    if let Some(o) = order_by {
        if !["ArrivalDate", "DepartureDate", "GuestSurname"].contains(&o) {
            return Err(bad(format!("orderBy {o} is not supported here")));
        }
    }
    let descending = match req.params("sortOrder").first().copied() {
        None | Some("Asc") => false,
        Some("Desc") => true,
        Some(other) => return Err(bad(format!("sortOrder {other} is not one of Asc, Desc"))),
    };
    // Asked for by id, a record the vendor cannot serve fails the request (fault injection).
    if let Some(id) = ids.iter().find(|id| ctx.entity_fails(crate::PROVIDER, id)) {
        return Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reservation {id} could not be read"),
            "OPERA-SYSTEM_ERROR",
        ));
    }
    with_hotel(ctx, hotel, |h| {
        let day = stay_date.unwrap_or_else(|| today(h));
        let in_range = |d: NaiveDate, (from, to): (Option<NaiveDate>, Option<NaiveDate>)| {
            from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
        };
        // A search type applies to its own date range, else to the stay date (business date).
        let arrival_day = |r: &SimReservation| match arrival {
            (None, None) => r.arrival == day,
            range => in_range(r.arrival, range),
        };
        let departure_day = |r: &SimReservation| match departure {
            (None, None) => r.departure == day,
            range => in_range(r.departure, range),
        };
        let mut matches: Vec<&SimReservation> = h
            .reservations
            .iter()
            .filter(|r| match search {
                "Arrival" => r.status == SimStatus::Confirmed && arrival_day(r),
                "Arrived" => {
                    matches!(r.status, SimStatus::InHouse | SimStatus::CheckedOut) && arrival_day(r)
                }
                "Departure" => r.status == SimStatus::InHouse && departure_day(r),
                "CheckedOut" => r.status == SimStatus::CheckedOut && departure_day(r),
                "InHouse" => r.status == SimStatus::InHouse,
                "Cancellation" => r.status == SimStatus::Cancelled,
                "NoShow" => r.status == SimStatus::NoShow,
                _ => true,
            })
            .filter(|r| in_range(r.arrival, arrival))
            .filter(|r| in_range(r.departure, departure))
            .filter(|r| {
                confirmations.is_empty() || confirmations.contains(&r.confirmation.as_str())
            })
            .filter(|r| ids.is_empty() || ids.contains(&r.id.as_str()))
            .filter(|r| profiles.is_empty() || profiles.contains(&r.guest_id.as_str()))
            .filter(|r| room.is_none_or(|n| room_number(h, r).as_deref() == Some(n)))
            .filter(|r| {
                let g = h.guest(&r.guest_id);
                let last = g.map(|g| g.last_name.to_uppercase()).unwrap_or_default();
                surname.is_none_or(|s| starts_with_ci(&last, s))
                    && given.is_none_or(|s| g.is_some_and(|g| starts_with_ci(&g.first_name, s)))
                    && from_name.as_deref().is_none_or(|f| last.as_str() >= f)
                    && to_name.as_deref().is_none_or(|t| last.as_str() <= t)
            })
            .collect();
        matches.sort_by(|a, b| a.id.cmp(&b.id));
        // `orderBy` (the first given) and `sortOrder`; ties stay in id order.
        match order_by {
            Some("ArrivalDate") => matches.sort_by_key(|r| r.arrival),
            Some("DepartureDate") => matches.sort_by_key(|r| r.departure),
            Some("GuestSurname") => matches.sort_by_key(|r| {
                h.guest(&r.guest_id)
                    .map(|g| g.last_name.to_uppercase())
                    .unwrap_or_default()
            }),
            _ => {}
        }
        if descending {
            matches.reverse();
        }
        match page_of(&matches, limit, offset) {
            None => no_content(),
            Some((page, meta)) => {
                let infos: Vec<Value> = page.iter().map(|r| reservation_info(h, r)).collect();
                Json(json!({ "reservations": merge(json!({ "reservationInfo": infos }), meta) }))
                    .into_response()
            }
        }
    })
}

fn get_reservation(ctx: &SimContext, hotel: &str, id: &str) -> Answer {
    if ctx.entity_fails(crate::PROVIDER, id) {
        return Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reservation {id} could not be read"),
            "OPERA-SYSTEM_ERROR",
        ));
    }
    with_hotel(ctx, hotel, |h| match h.reservation(id) {
        None => no_content(),
        Some(r) => Json(json!({ "reservations": { "reservation": [full_reservation(h, r)] } }))
            .into_response(),
    })
}

fn comments_of(reservation: &Value) -> Vec<String> {
    let list = match reservation.get("comments") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o
            .get("commentInfo")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|c| c.pointer("/comment/text/value").and_then(Value::as_str))
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s.trim(), f).ok())
}

fn put_reservation(ctx: &SimContext, hotel: &str, id: &str, req: &Req) -> Answer {
    let body = req.json()?;
    let reservations = body
        .get("reservations")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
        .ok_or_else(|| bad("reservations must hold the one reservation to change"))?;
    let change = &reservations[0];
    let named = change
        .get("reservationIdList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| i.get("type").and_then(Value::as_str) == Some("Reservation"))
        .and_then(|i| i.get("id"))
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| Some(v.to_string()))
        });
    if named.as_deref().is_some_and(|n| n != id) {
        return Err(bad(
            "reservationIdList does not name the reservation in the path",
        ));
    }
    if change
        .get("hotelId")
        .and_then(Value::as_str)
        .is_some_and(|h| h != hotel)
    {
        return Err(bad("hotelId does not match the hotel in the path"));
    }
    let notes = comments_of(change);
    let stay = change.get("roomStay");
    let departure = match stay
        .and_then(|s| s.get("departureDate"))
        .and_then(Value::as_str)
    {
        Some(d) => Some(
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| bad("departureDate must be a date"))?,
        ),
        None => None,
    };
    let departure_time = match stay
        .and_then(|s| s.pointer("/expectedTimes/reservationExpectedDepartureTime"))
        .and_then(Value::as_str)
    {
        Some(t) => Some(
            parse_local(t)
                .map(|dt| dt.time())
                .ok_or_else(|| bad("reservationExpectedDepartureTime must be a date-time"))?,
        ),
        None => None,
    };
    let now = Utc::now();
    let outcome = with_hotel(ctx, hotel, |h| {
        let Some(r) = h.reservation_mut(id) else {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                format!("reservation {id} not found"),
                "OPERA-NOT_FOUND",
            ));
        };
        if departure.is_some() || departure_time.is_some() {
            if matches!(
                r.status,
                SimStatus::CheckedOut | SimStatus::Cancelled | SimStatus::NoShow
            ) {
                return Err(bad(format!(
                    "reservation {id} is closed; its departure cannot change"
                )));
            }
            if let Some(d) = departure {
                if d <= r.arrival {
                    return Err(bad("departureDate must be after the arrival date"));
                }
            }
        }
        let old_departure = r.departure;
        if let Some(d) = departure {
            r.departure = d;
        }
        if let Some(t) = departure_time {
            r.departure_time = t;
        }
        r.notes.extend(notes);
        r.updated_at = now.max(r.updated_at + chrono::Duration::milliseconds(1));
        let snapshot = r.clone();
        let rendered = full_reservation(h, &snapshot);
        Ok((snapshot, old_departure, rendered))
    })?;
    let (snapshot, old_departure, rendered) = outcome?;
    let mut details = vec![(
        "CONFIRMATION NO".to_owned(),
        None,
        snapshot.confirmation.clone(),
    )];
    if old_departure != snapshot.departure {
        details.push((
            "DEPARTURE DATE".into(),
            Some(old_departure.to_string()),
            snapshot.departure.to_string(),
        ));
    }
    ctx.state::<State>()
        .record_event(hotel, "Reservation", "UPDATE RESERVATION", id, details);
    Ok(Json(json!({ "reservations": { "reservation": [rendered] } })).into_response())
}

// ---- hsk ----------------------------------------------------------------------------------

fn housekeeping(ctx: &SimContext, hotel: &str, req: &Req) -> Answer {
    let (limit, offset) = paging(req, 20, MAX_LIMIT)?;
    let from = req.param("fromRoomNumber");
    let to = req.param("toRoomNumber");
    let hk = req.params("housekeepingRoomStatus");
    let fo = req.params("frontOfficeRoomStatus");
    with_hotel(ctx, hotel, |h| {
        let mut rooms: Vec<&pms_vendor_kit::sim::data::SimRoom> = h
            .rooms
            .iter()
            .filter(|r| from.is_none_or(|f| r.number.as_str() >= f))
            .filter(|r| to.is_none_or(|t| r.number.as_str() <= t))
            .filter(|r| hk.is_empty() || hk.contains(&hk_status(r.housekeeping)))
            .filter(|r| {
                fo.is_empty() || fo.contains(&if r.occupied { "Occupied" } else { "Vacant" })
            })
            .collect();
        rooms.sort_by(|a, b| a.number.cmp(&b.number));
        match page_of(&rooms, limit, offset) {
            None => no_content(),
            Some((page, meta)) => {
                let list: Vec<Value> = page
                    .iter()
                    .map(|r| {
                        let fo = if r.occupied { "Occupied" } else { "Vacant" };
                        json!({
                            "roomId": r.number,
                            "roomType": { "roomType": r.room_type, "roomClass": "ALL", "pseudoRoom": false },
                            "floor": r.floor.to_string(),
                            "housekeeping": {
                                "housekeepingRoomStatus": {
                                    "housekeepingRoomStatus": hk_status(r.housekeeping),
                                    "frontOfficeStatus": fo,
                                    "housekeepingStatus": fo,
                                },
                            },
                        })
                    })
                    .collect();
                Json(json!({ "housekeepingRoomInfo": merge(
                    json!({ "housekeepingRooms": { "room": list, "hotelId": h.property_id } }),
                    meta,
                ) }))
                .into_response()
            }
        }
    })
}

// ---- csh ----------------------------------------------------------------------------------

/// A JSON decimal -> minor units, refusing more decimals than the currency has.
fn minor_units(v: &Value, exponent: u32) -> Option<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    if frac.len() > exponent as usize || int.is_empty() && frac.is_empty() {
        return None;
    }
    let padded = format!("{int}{frac:0<width$}", width = exponent as usize);
    let n: i64 = padded.parse().ok()?;
    Some(if negative { -n } else { n })
}

fn post_charges(ctx: &SimContext, hotel: &str, id: &str, req: &Req) -> Answer {
    let body = req.json()?;
    let criteria = body
        .get("criteria")
        .ok_or_else(|| bad("criteria is required"))?;
    if criteria
        .get("hotelId")
        .and_then(Value::as_str)
        .is_some_and(|h| h != hotel)
    {
        return Err(bad("criteria.hotelId does not match the hotel in the path"));
    }
    if let Some(rid) = criteria.pointer("/reservationId/id") {
        let rid = rid
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| rid.to_string());
        if rid != id {
            return Err(bad("criteria.reservationId does not match the path"));
        }
    }
    let charges = match criteria.get("charges") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        // The workflows also send a single object.
        Some(Value::Object(_)) => vec![criteria["charges"].clone()],
        _ => return Err(bad("criteria.charges must hold at least one charge")),
    };
    let now = Utc::now();
    let result = with_hotel(ctx, hotel, |h| {
        let Some(r) = h.reservation(id).cloned() else {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                format!("reservation {id} not found"),
                "OPERA-NOT_FOUND",
            ));
        };
        if !matches!(r.status, SimStatus::InHouse | SimStatus::Confirmed) {
            return Err(bad(format!(
                "postings are not allowed on a {:?} reservation",
                r.status
            )));
        }
        let mut posted = Vec::new();
        for c in &charges {
            let code = c
                .get("transactionCode")
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .or_else(|| {
                    c.get("articleCode")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| bad("transactionCode or articleCode is required"))?;
            let price = c.get("price").ok_or_else(|| bad("price is required"))?;
            let currency = price
                .get("currencyCode")
                .and_then(Value::as_str)
                .unwrap_or(&h.currency);
            if currency != h.currency {
                return Err(bad(format!(
                    "the folio is in {}, not {currency}",
                    h.currency
                )));
            }
            let unit = price
                .get("amount")
                .and_then(|a| minor_units(a, h.currency_exponent))
                .ok_or_else(|| bad("price.amount is not a valid amount for the currency"))?;
            let quantity = c
                .get("postingQuantity")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let charge = SimCharge {
                notes: None,
                id: format!("{}", 900_000 + h.charges.len() + posted.len()),
                reservation_id: id.to_owned(),
                amount_minor: unit * quantity,
                currency: h.currency.clone(),
                description: c
                    .get("postingRemark")
                    .and_then(Value::as_str)
                    .unwrap_or(&code)
                    .to_owned(),
                reference: c
                    .get("postingReference")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                revenue_center: Some(code),
                posted_at: now,
            };
            posted.push(charge);
        }
        h.charges.extend(posted.iter().cloned());
        if let Some(r) = h.reservation_mut(id) {
            r.updated_at = now.max(r.updated_at + chrono::Duration::milliseconds(1));
        }
        let rendered: Vec<Value> = posted
            .iter()
            .map(|c| {
                json!({
                    "transactionNo": c.id.parse::<u64>().unwrap_or(0),
                    "transactionCode": c.revenue_center,
                    "reference": c.reference,
                    "remark": c.description,
                    "postedAmount": money(h, c.amount_minor),
                    "transactionType": "Revenue",
                })
            })
            .collect();
        Ok((posted, rendered))
    })?;
    let (posted, rendered) = result?;
    ctx.count(crate::PROVIDER, |c| c.charges_posted += posted.len() as u64);
    for c in &posted {
        ctx.state::<State>().record_event(
            hotel,
            "Cashiering",
            "NEW POSTING",
            &c.id,
            vec![("RESERVATION ID".into(), None, id.to_owned())],
        );
    }
    let mut r = (StatusCode::CREATED, Json(json!({ "postings": rendered }))).into_response();
    // As the gateway answers: the Location names the charges collection, not the posting.
    if let Ok(v) =
        HeaderValue::from_str(&format!("/csh/v1/hotels/{hotel}/reservations/{id}/charges"))
    {
        r.headers_mut().insert("location", v);
    }
    Ok(r)
}

fn get_folio(ctx: &SimContext, hotel: &str, id: &str, req: &Req) -> Answer {
    let balance_only = req.param("reservationBalanceOnly") == Some("true");
    let instructions = req.params("fetchInstructions");
    let window = req.param("folioWindowNo");
    let (limit, offset) = paging(req, 50, MAX_LIMIT)?;
    with_hotel(ctx, hotel, |h| {
        let Some(r) = h.reservation(id).cloned() else {
            return problem(
                StatusCode::NOT_FOUND,
                format!("reservation {id} not found"),
                "OPERA-NOT_FOUND",
            );
        };
        let charges: Vec<SimCharge> = h.charges_of(id).cloned().collect();
        // Folios exist once the guest checked in (or once something was posted).
        let has_folio =
            matches!(r.status, SimStatus::InHouse | SimStatus::CheckedOut) || !charges.is_empty();
        if !has_folio {
            return no_content();
        }
        let balance = h.balance_minor(id).unwrap_or(0);
        let info = json!({
            "reservationIdList": id_list(&r),
            "roomStay": {
                "arrivalDate": r.arrival.to_string(),
                "departureDate": r.departure.to_string(),
                "balance": money(h, balance),
            },
        });
        if balance_only {
            return Json(json!({ "reservationFolioInformation": { "reservationInfo": info } }))
                .into_response();
        }
        if window.is_some_and(|w| w != "1") {
            return no_content();
        }
        let revenue = r.total_minor() + charges.iter().map(|c| c.amount_minor).sum::<i64>();
        let mut w = json!({
            "folioWindowNo": 1,
            "balance": money(h, balance),
            "revenue": money(h, revenue),
            "payment": money(h, r.payments_minor),
            "emptyWindow": charges.is_empty(),
        });
        if instructions.contains(&"Postings") {
            let postings: Vec<Value> = charges
                .iter()
                .map(|c| {
                    json!({
                        "transactionNo": c.id.parse::<u64>().unwrap_or(0),
                        "transactionCode": c.revenue_center,
                        "reference": c.reference,
                        "remark": c.description,
                        "postedAmount": money(h, c.amount_minor),
                        "transactionDate": c.posted_at.with_timezone(&h.time_zone).date_naive().to_string(),
                        "folioWindowNo": 1,
                        "transactionType": "Revenue",
                    })
                })
                .collect();
            match page_of(&postings, limit, offset) {
                Some((page, meta)) => {
                    w["folios"] = json!([{ "postings": page }]);
                    w = merge(w, meta);
                }
                None => {
                    w["folios"] = json!([]);
                    w["hasMore"] = json!(false);
                }
            }
        }
        Json(json!({ "reservationFolioInformation": {
            "reservationInfo": info,
            "folioWindows": [w],
        } }))
        .into_response()
    })
}

// ---- int ----------------------------------------------------------------------------------

fn business_events(ctx: &SimContext, hotel: &str, code: &str, req: &Req) -> Answer {
    let (limit, _) = paging(req, MAX_EVENTS, MAX_EVENTS)?;
    let configured = ctx
        .property(crate::PROVIDER, hotel)
        .and_then(|p| p.credentials.get("externalSystemCode").cloned());
    if configured.as_deref().is_some_and(|c| c != code) {
        return Err(bad(format!(
            "external system {code} has no business event consumer for hotel {hotel}"
        )));
    }
    let events: Vec<SimEvent> = {
        let state = ctx.state::<State>();
        let mut queues = lock(&state.events);
        let q = queues.entry(hotel.to_owned()).or_default();
        let n = limit.min(q.len());
        q.drain(..n).collect()
    };
    if events.is_empty() {
        return Ok(no_content());
    }
    with_hotel(ctx, hotel, |h| {
        let data: Vec<Value> = events
            .iter()
            .map(|e| {
                let details: Vec<Value> = e
                    .details
                    .iter()
                    .map(|(el, old, new)| {
                        let mut d = json!({ "dataElement": el, "newValue": new });
                        if let Some(o) = old {
                            d["oldValue"] = json!(o);
                        }
                        d
                    })
                    .collect();
                json!({
                    "businessEvent": {
                        "header": {
                            "moduleName": e.module,
                            "actionType": e.action,
                            "actionId": e.id,
                            "primaryKey": e.primary_key,
                            "publisherId": 1,
                            "createdDateTime": local_stamp(h, e.created),
                            "hotelId": hotel,
                        },
                        "details": details,
                    },
                    "businessEventId": { "id": e.id.to_string() },
                })
            })
            .collect();
        Json(json!({ "businessEventData": data })).into_response()
    })
}

impl pms_vendor_kit::sim::SimState for State {
    fn reset(&self) {
        State::reset(self);
    }
}

/// The OHIP simulator, as `pms-sim` mounts it.
pub fn simulator() -> Option<pms_vendor_kit::sim::SimVendor> {
    Some(pms_vendor_kit::sim::SimVendor {
        provider: crate::PROVIDER,
        prefix: PREFIX,
        api_root: PREFIX,
        id_style: pms_vendor_kit::sim::IdStyle::Numeric,
        data_salt: 1,
        // OHIP's default: 100 requests per minute per hotel.
        limit: (100, 60_000),
        router,
        admin: Some(admin),
        default_property,
        configure,
        on_reservation_change: Some(|ctx, property, r, change| {
            // OHIP publishes a business event for every change made at the PMS.
            ctx.state::<State>()
                .reservation_changed(property, r, change);
        }),
    })
}

fn default_property() -> pms_vendor_kit::sim::PropertySetup {
    pms_vendor_kit::sim::PropertySetup {
        property_id: "SIMOHIP".into(),
        time_zone: chrono_tz::Europe::London,
        currency: "GBP".into(),
        currency_exponent: 2,
        credentials: pms_vendor_kit::sim::creds(&[
            ("clientId", "sim-ohip-client"),
            ("clientSecret", "sim-ohip-secret"),
            ("appKey", "6f1c5c5e-4a8a-4a55-9d2d-8d0f0f2b9a01"),
            // Password grant (Resource Owner environments).
            ("username", "SIM_INTEGRATION"),
            ("password", "sim-ohip-password"),
            // The business events consumer (OPERA Cloud > External Database).
            ("externalSystemCode", "SIMEXT"),
        ]),
    }
}

/// A hotel against a simulated property: transaction code 5016, business events as its
/// external system.
fn configure(
    config: &mut pms_domain::config::HotelConfig,
    property: &pms_vendor_kit::sim::PropertySetup,
) {
    config.vendor.external_system_code = property.credential("externalSystemCode");
    config.vendor.default_revenue_center = Some("5016".into());
}

/// `POST /_admin/opera/expire-tokens`: every issued token expires now.
fn admin() -> Router<Arc<SimContext>> {
    Router::new().route(
        "/expire-tokens",
        axum::routing::post(|AxState(ctx): AxState<Arc<SimContext>>| async move {
            ctx.state::<State>().expire_all();
            StatusCode::NO_CONTENT
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_render_as_exact_decimals() {
        assert_eq!(amount(1234, 2).to_string(), "12.34");
        assert_eq!(amount(-5, 2).to_string(), "-0.05");
        assert_eq!(amount(1500, 0).to_string(), "1500");
        assert_eq!(minor_units(&json!(12.34), 2), Some(1234));
        assert_eq!(minor_units(&json!(75), 2), Some(7500));
        assert_eq!(minor_units(&json!("0.1"), 2), Some(10));
        assert_eq!(minor_units(&json!(1.234), 2), None);
    }

    #[test]
    fn pages_cut_off_at_the_cap() {
        let items: Vec<u32> = (0..3000).collect();
        let (page, meta) = page_of(&items, 200, 800).unwrap();
        assert_eq!(page.len(), 200);
        assert_eq!(meta["hasMore"], json!(false));
        assert_eq!(meta["totalResults"], json!(1000));
        assert!(page_of(&items, 200, 1000).is_none());
        assert!(page_of::<u32>(&[], 20, 0).is_none());
    }
}
