//! Mews Connector API protocol (`/api/connector/v1/...`), after
//! `vendor-specs/mews/operations/*.md` and `guidelines/*.md`:
//!
//! - every operation is `POST {PREFIX}/api/connector/v1/{resource}/{action}`, JSON body with
//!   `ClientToken`, `AccessToken` and `Client`; wrong tokens answer 401, a wrong address 404
//!   (the address is case-sensitive and takes no trailing slash);
//! - every response carries `Request-Id`; errors are `{Message, RequestId, Details}`;
//! - `getAll` operations need `Limitation.Count` (1 to 1000), return items newest first with a
//!   `Cursor` (the id of the oldest item returned; null when there are none), and continue after
//!   a given cursor;
//! - interval filters are half-open `[StartUtc, EndUtc)` (equality when both are equal) and
//!   longer than three months answer 400, as Mews does;
//! - the rate limit is keyed by `AccessToken` (200 per 30 s by default);
//! - writes change the shared [`SimHotel`]: notes, orders (charges, counted in
//!   `charges_posted`), reservation intervals, customer updates; `UpdatedUtc` moves with them.
//!
//! Every request is also captured (method, path, headers, body) so contract tests can check what
//! an adapter sent against the spec.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use chrono::{DateTime, Duration, LocalResult, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use pms_vendor_kit::sim::data::{
    SimCharge, SimGuest, SimHotel, SimHousekeeping, SimReservation, SimRoom,
};
use pms_vendor_kit::sim::{Denied, SimContext};

pub const PREFIX: &str = "/mews";

/// How many captured requests are kept (the oldest are dropped).
const CAPTURE_LIMIT: usize = 5000;

/// One request as the simulator received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturedRequest {
    pub method: String,
    /// The path below [`PREFIX`], e.g. `/api/connector/v1/customers/getAll`.
    pub path: String,
    pub content_type: Option<String>,
    pub prefer: Option<String>,
    pub body: String,
}

impl CapturedRequest {
    /// The operation, e.g. `customers/getAll`.
    pub fn operation(&self) -> &str {
        self.path
            .strip_prefix("/api/connector/v1/")
            .unwrap_or(&self.path)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
pub struct State {
    requests: Mutex<VecDeque<CapturedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    /// Requests received so far, oldest first.
    pub fn captured(&self) -> Vec<CapturedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    pub fn clear_captured(&self) {
        lock(&self.requests).clear();
    }

    pub fn reset(&self) {
        self.clear_captured();
    }

    fn capture(&self, r: CapturedRequest) {
        let mut q = lock(&self.requests);
        if q.len() >= CAPTURE_LIMIT {
            q.pop_front();
        }
        q.push_back(r);
    }
}

pub fn router() -> Router<Arc<SimContext>> {
    Router::new()
        .route("/api/connector/v1/{*operation}", any(dispatch))
        .fallback(fallback)
}

// ---- responses ------------------------------------------------------------------------------

struct ApiError {
    status: StatusCode,
    message: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::FORBIDDEN,
        message: message.into(),
    }
}

fn invalid(what: &str) -> ApiError {
    bad(format!("Invalid {what}."))
}

fn with_request_id(mut resp: Response, rid: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(rid) {
        resp.headers_mut().insert("Request-Id", v);
    }
    resp
}

fn error_response(rid: &str, status: StatusCode, message: &str) -> Response {
    let body = json!({"Message": message, "RequestId": rid, "Details": null});
    with_request_id((status, Json(body)).into_response(), rid)
}

fn denied_response(rid: &str, d: Denied) -> Response {
    match d {
        Denied::RateLimited { retry_after, .. } => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut resp = error_response(
                rid,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests, please try again later.",
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert("Retry-After", v);
            }
            resp
        }
        Denied::ServerError { status, message } => error_response(
            rid,
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            message.as_deref().unwrap_or("Unexpected server error."),
        ),
        Denied::Timeout => error_response(rid, StatusCode::GATEWAY_TIMEOUT, "Gateway timeout."),
    }
}

async fn fallback() -> Response {
    let rid = uuid::Uuid::new_v4().to_string();
    error_response(&rid, StatusCode::NOT_FOUND, "Not found.")
}

// ---- dispatch -------------------------------------------------------------------------------

/// The authenticated property of a request.
struct Prop {
    id: String,
    service_id: String,
}

type Handler = fn(&SimContext, &Prop, &Value, DateTime<Utc>) -> Result<Value, ApiError>;

fn handler(operation: &str) -> Option<Handler> {
    Some(match operation {
        "configuration/get" => configuration_get,
        "reservations/getAll/2023-06-06" => reservations_get_all,
        "reservations/updateInterval" => reservations_update_interval,
        "customers/getAll" => customers_get_all,
        "customers/update" => customers_update,
        "resources/getAll" => resources_get_all,
        "serviceOrderNotes/getAll" => notes_get_all,
        "serviceOrderNotes/add" => notes_add,
        "orders/add" => orders_add,
        "orderItems/getAll" => order_items_get_all,
        "productServiceOrders/getAll" => product_orders_get_all,
        "payments/getAll" => payments_get_all,
        "rates/getAll" => rates_get_all,
        "resourceCategories/getAll" => categories_get_all,
        "ageCategories/getAll" => age_categories_get_all,
        "services/getAvailability/2024-01-22" => services_get_availability,
        _ => return None,
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn dispatch(
    AxState(ctx): AxState<Arc<SimContext>>,
    method: Method,
    Path(operation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rid = uuid::Uuid::new_v4().to_string();
    let content_type = header(&headers, "content-type");
    ctx.state::<State>().capture(CapturedRequest {
        method: method.to_string(),
        path: format!("/api/connector/v1/{operation}"),
        content_type: content_type.clone(),
        prefer: header(&headers, "prefer"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let Some(handle) = handler(&operation) else {
        return error_response(&rid, StatusCode::NOT_FOUND, "Not found.");
    };
    if method != Method::POST {
        return error_response(&rid, StatusCode::NOT_FOUND, "Not found.");
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return error_response(&rid, StatusCode::BAD_REQUEST, "Invalid JSON.");
    };
    let token = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let access = token("AccessToken");
    if let Err(d) = ctx.admit(crate::PROVIDER, &operation, &access).await {
        return denied_response(&rid, d);
    }
    if !content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return error_response(&rid, StatusCode::BAD_REQUEST, "Invalid Content-Type.");
    }
    let client_token = token("ClientToken");
    let prop = ctx
        .property_by_credential(crate::PROVIDER, "accessToken", &access)
        .filter(|p| {
            !access.is_empty()
                && p.credentials.get("clientToken").map(String::as_str) == Some(&client_token)
        })
        .map(|p| Prop {
            id: p.property_id.clone(),
            service_id: p.credentials.get("serviceId").cloned().unwrap_or_default(),
        });
    let Some(prop) = prop else {
        ctx.count(crate::PROVIDER, |c| c.unauthorized += 1);
        return error_response(
            &rid,
            StatusCode::UNAUTHORIZED,
            "Invalid ClientToken or AccessToken.",
        );
    };
    if token("Client").trim().is_empty() {
        return error_response(&rid, StatusCode::BAD_REQUEST, "Invalid Client.");
    }
    match handle(&ctx, &prop, &value, Utc::now()) {
        Ok(v) => with_request_id(Json(v).into_response(), &rid),
        Err(e) => error_response(&rid, e.status, &e.message),
    }
}

// ---- request parsing ------------------------------------------------------------------------

fn present<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn str_array(body: &Value, key: &str, max: usize) -> Result<Option<Vec<String>>, ApiError> {
    let Some(v) = present(body, key) else {
        return Ok(None);
    };
    let arr = v.as_array().ok_or_else(|| invalid(key))?;
    if arr.len() > max {
        return Err(bad(format!("Invalid {key}: at most {max} items.")));
    }
    arr.iter()
        .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| invalid(key)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A `[StartUtc, EndUtc)` filter; 400 when malformed, reversed or longer than three months.
#[derive(Clone, Copy)]
struct Interval(DateTime<Utc>, DateTime<Utc>);

impl Interval {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        if self.0 == self.1 {
            t == self.0
        } else {
            self.0 <= t && t < self.1
        }
    }
    fn overlaps(&self, s: DateTime<Utc>, e: DateTime<Utc>) -> bool {
        s < self.1 && self.0 < e
    }
}

fn interval(body: &Value, key: &str) -> Result<Option<Interval>, ApiError> {
    let Some(v) = present(body, key) else {
        return Ok(None);
    };
    let get = |k: &str| v.get(k).and_then(Value::as_str).and_then(parse_utc);
    let (Some(start), Some(end)) = (get("StartUtc"), get("EndUtc")) else {
        return Err(invalid(key));
    };
    if end < start {
        return Err(bad(format!("Invalid {key}: the end is before the start.")));
    }
    let limit = start
        .checked_add_months(Months::new(3))
        .ok_or_else(|| invalid(key))?;
    if end > limit {
        return Err(bad(format!(
            "Invalid {key}: the interval must not be longer than 3 months."
        )));
    }
    Ok(Some(Interval(start, end)))
}

struct Limitation {
    count: usize,
    cursor: Option<String>,
}

fn limitation(body: &Value) -> Result<Limitation, ApiError> {
    let l = present(body, "Limitation").ok_or_else(|| invalid("Limitation"))?;
    let count = l
        .get("Count")
        .and_then(Value::as_u64)
        .filter(|c| (1..=1000).contains(c))
        .ok_or_else(|| bad("Invalid Limitation: Count must be between 1 and 1000."))?;
    let cursor = match l.get("Cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("Limitation")),
    };
    Ok(Limitation {
        count: count as usize,
        cursor,
    })
}

/// A page of `items` (already in universe order, newest first, each with its universe position)
/// after the cursor, whose position is looked up among `universe` ids.
fn paginate<T>(
    items: Vec<(usize, String, T)>,
    universe: &[String],
    lim: &Limitation,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = match &lim.cursor {
        None => None,
        Some(c) => Some(
            universe
                .iter()
                .position(|id| id == c)
                .ok_or_else(|| invalid("Cursor"))?,
        ),
    };
    let page: Vec<(usize, String, T)> = items
        .into_iter()
        .filter(|(pos, _, _)| after.is_none_or(|a| *pos > a))
        .take(lim.count)
        .collect();
    let cursor = page.last().map(|(_, id, _)| id.clone());
    Ok((page.into_iter().map(|(_, _, v)| v).collect(), cursor))
}

fn enterprise_ok(body: &Value, prop: &Prop) -> Result<bool, ApiError> {
    Ok(str_array(body, "EnterpriseIds", 1000)?.is_none_or(|ids| ids.iter().any(|i| i == &prop.id)))
}

fn any_in(list: &Option<Vec<String>>, value: &str) -> bool {
    list.as_ref().is_none_or(|l| l.iter().any(|x| x == value))
}

fn any_in_ci(list: &Option<Vec<String>>, value: &str) -> bool {
    list.as_ref()
        .is_none_or(|l| l.iter().any(|x| x.eq_ignore_ascii_case(value)))
}

fn in_interval(i: &Option<Interval>, t: DateTime<Utc>) -> bool {
    i.is_none_or(|i| i.contains(t))
}

fn hotel<R>(
    ctx: &SimContext,
    prop: &Prop,
    f: impl FnOnce(&mut SimHotel) -> R,
) -> Result<R, ApiError> {
    ctx.with_hotel(crate::PROVIDER, &prop.id, f)
        .ok_or_else(|| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The enterprise has no data.".into(),
        })
}

/// Ids asked for explicitly that are set to fail: Mews cannot serve the request.
fn failing(ctx: &SimContext, ids: &Option<Vec<String>>) -> Result<(), ApiError> {
    if let Some(ids) = ids {
        if ids.iter().any(|id| ctx.entity_fails(crate::PROVIDER, id)) {
            return Err(ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "Unexpected server error.".into(),
            });
        }
    }
    Ok(())
}

// ---- rendering helpers ----------------------------------------------------------------------

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A deterministic GUID for derived entities (categories, rates, notes, items).
fn guid(parts: &[&str]) -> String {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    "mews-a".hash(&mut a);
    "mews-b".hash(&mut b);
    for p in parts {
        p.hash(&mut a);
        p.hash(&mut b);
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.finish().to_le_bytes());
    bytes[8..].copy_from_slice(&b.finish().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn local_utc(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

fn decimal(minor: i64, exponent: u32) -> Value {
    json!(minor as f64 / 10f64.powi(exponent as i32))
}

fn amount(minor: i64, h: &SimHotel) -> Value {
    json!({
        "Currency": h.currency,
        "NetValue": decimal(minor, h.currency_exponent),
        "GrossValue": decimal(minor, h.currency_exponent),
        "TaxValues": [],
        "Breakdown": {"Items": [{"TaxRateCode": null, "NetValue": decimal(minor, h.currency_exponent), "TaxValue": 0}]},
    })
}

const RATE_CODES: &[&str] = &["BAR", "CORP", "AAA", "PKG"];
const ROOM_TYPES: &[&str] = &["KING", "QUEEN", "TWIN", "SUITE"];

fn category_id(h: &SimHotel, room_type: &str) -> String {
    guid(&["category", &h.property_id, room_type])
}
fn rate_id(h: &SimHotel, code: &str) -> String {
    guid(&["rate", &h.property_id, code])
}
fn age_id(h: &SimHotel, class: &str) -> String {
    guid(&["age", &h.property_id, class])
}

/// The Mews state (and cancellation reason) of a reservation.
fn state_of(r: &SimReservation) -> (String, Option<&'static str>) {
    use pms_vendor_kit::sim::data::SimStatus;
    if let Some(raw) = &r.raw_status {
        return (raw.clone(), None);
    }
    match r.status {
        SimStatus::Confirmed => ("Confirmed".into(), None),
        SimStatus::InHouse => ("Started".into(), None),
        SimStatus::CheckedOut => ("Processed".into(), None),
        SimStatus::Cancelled => ("Canceled".into(), Some("RequestedByGuest")),
        SimStatus::NoShow => ("Canceled".into(), Some("NoShow")),
    }
}

fn start_of(h: &SimHotel, r: &SimReservation) -> DateTime<Utc> {
    local_utc(h.time_zone, r.arrival, r.arrival_time)
}
fn end_of(h: &SimHotel, r: &SimReservation) -> DateTime<Utc> {
    local_utc(h.time_zone, r.departure, r.departure_time)
}

fn render_reservation(h: &SimHotel, prop: &Prop, r: &SimReservation, corrupt: bool) -> Value {
    let (state, reason) = state_of(r);
    let start = start_of(h, r);
    let end = end_of(h, r);
    let started = matches!(state.as_str(), "Started" | "Processed");
    let mut counts = vec![json!({"AgeCategoryId": age_id(h, "Adult"), "Count": r.adults})];
    if r.children > 0 {
        counts.push(json!({"AgeCategoryId": age_id(h, "Child"), "Count": r.children}));
    }
    json!({
        "Id": r.id,
        "ServiceId": prop.service_id,
        "AccountId": r.guest_id,
        "AccountType": "Customer",
        "CreatorProfileId": guid(&["profile", &h.property_id]),
        "UpdaterProfileId": guid(&["profile", &h.property_id]),
        "BookerId": null,
        "Number": r.confirmation,
        "State": state,
        "Origin": "Connector",
        "CommanderOrigin": null,
        "OriginDetails": null,
        "CreatedUtc": fmt(r.created_at),
        "UpdatedUtc": fmt(r.updated_at),
        "CancelledUtc": if state == "Canceled" { json!(fmt(r.updated_at)) } else { Value::Null },
        "VoucherId": null,
        "BusinessSegmentId": null,
        "Options": {
            "OwnerCheckedIn": started,
            "AllCompanionsCheckedIn": started,
            "AnyCompanionCheckedIn": started,
            "ConnectorCheckIn": false,
        },
        "RateId": rate_id(h, &r.rate_code),
        "CreditCardId": null,
        "GroupId": guid(&["group", &r.id]),
        "RequestedResourceCategoryId": category_id(h, &r.room_type),
        "AssignedResourceId": r.room_id,
        "AvailabilityBlockId": null,
        "PartnerCompanyId": null,
        "TravelAgencyId": null,
        "AssignedResourceLocked": false,
        "ChannelNumber": null,
        "ChannelManagerNumber": null,
        "CancellationReason": reason,
        "ReleasedUtc": null,
        "StartUtc": fmt(start),
        "EndUtc": fmt(end),
        // A record the simulated Mews serves broken (per-entity failure injection).
        "ScheduledStartUtc": if corrupt { json!("not a date") } else { json!(fmt(start)) },
        "ActualStartUtc": if started { json!(fmt(start)) } else { Value::Null },
        "ScheduledEndUtc": fmt(end),
        "ActualEndUtc": if state == "Processed" { json!(fmt(end)) } else { Value::Null },
        "Purpose": "Leisure",
        "QrCodeData": null,
        "PersonCounts": counts,
    })
}

fn space_feature(code: &str) -> Option<&'static str> {
    match code {
        "HIGH" => Some("HighFloor"),
        "QUIET" => None,
        "NOSMK" => None,
        _ => None,
    }
}

fn prefs_of<'a>(g: &'a SimGuest, category: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    g.preferences
        .iter()
        .filter(move |p| p.category == category)
        .map(|p| p.code.as_str())
}

fn render_customer(g: &SimGuest, number: usize, corrupt: bool) -> Value {
    let mut classifications: Vec<String> =
        prefs_of(g, "Classifications").map(str::to_owned).collect();
    if g.vip
        && !classifications
            .iter()
            .any(|c| c == "VeryImportant" || c == "Important")
    {
        classifications.push("VeryImportant".into());
    }
    let options: Vec<&str> = prefs_of(g, "Options").collect();
    let mut features: Vec<String> = prefs_of(g, "PreferredSpaceFeatures")
        .map(str::to_owned)
        .collect();
    features.extend(
        prefs_of(g, "ROOM")
            .filter_map(space_feature)
            .map(str::to_owned),
    );
    let dietary = g
        .preferences
        .iter()
        .find(|p| p.category == "DietaryRequirements")
        .map(|p| p.description.clone());
    json!({
        "Id": g.id,
        "ChainId": guid(&["chain"]),
        "Number": format!("{}", 10_000 + number),
        "Title": null,
        "Sex": null,
        "FirstName": g.first_name,
        "LastName": g.last_name,
        "SecondLastName": null,
        "NationalityCode": null,
        "PreferredLanguageCode": null,
        "LanguageCode": g.language,
        "BirthDate": null,
        "Email": g.email,
        "HasOtaEmail": false,
        "Phone": g.phone,
        "LoyaltyCode": g.loyalty_tier.as_ref().map(|t| format!("{t}-{}", 10_000 + number)),
        "Notes": g.notes,
        "DietaryRequirements": dietary,
        "CreatedUtc": fmt(g.created_at),
        "UpdatedUtc": fmt(g.updated_at),
        "AddressId": null,
        "Classifications": if corrupt { json!("not a list") } else { json!(classifications) },
        "Options": options,
        "CompanyId": null,
        "MergeTargetId": null,
        "IsActive": true,
        "PreferredSpaceFeatures": features,
        "CreatorProfileId": guid(&["profile"]),
        "UpdaterProfileId": guid(&["profile"]),
    })
}

fn render_resource(h: &SimHotel, room: &SimRoom, corrupt: bool) -> Value {
    let state = match room.housekeeping {
        SimHousekeeping::Clean => "Clean",
        // Mews has no "pickup": a room to be tidied again is dirty.
        SimHousekeeping::Dirty | SimHousekeeping::Pickup => "Dirty",
        SimHousekeeping::Inspected => "Inspected",
        SimHousekeeping::OutOfOrder => "OutOfOrder",
        SimHousekeeping::OutOfService => "OutOfService",
    };
    json!({
        "Id": room.id,
        "EnterpriseId": h.property_id,
        "IsActive": true,
        "ParentResourceId": null,
        "Name": room.number,
        "State": if corrupt { json!(7) } else { json!(state) },
        "Descriptions": {},
        "CreatedUtc": fmt(room.updated_at - Duration::days(365)),
        "UpdatedUtc": fmt(room.updated_at),
        "Data": {"Discriminator": "Space", "Value": {"FloorNumber": room.floor.to_string(), "LocationNotes": null}},
        "ExternalNames": {},
        "Directions": {},
    })
}

/// Reservations newest first (by creation), the order Mews pages in.
fn reservation_order(h: &SimHotel) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..h.reservations.len()).collect();
    idx.sort_by(|a, b| {
        let (ra, rb) = (&h.reservations[*a], &h.reservations[*b]);
        rb.created_at.cmp(&ra.created_at).then(rb.id.cmp(&ra.id))
    });
    idx
}

fn order_id_of(charge: &SimCharge) -> &str {
    charge.id.split('/').next().unwrap_or(&charge.id)
}

// ---- operations -----------------------------------------------------------------------------

fn configuration_get(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    // `EnterpriseId` selects among a portfolio token's enterprises; the simulated tokens are
    // single-enterprise, for which it is ignored (as for every other Mews operation).
    if present(body, "EnterpriseId").is_some_and(|e| !e.is_string()) {
        return Err(invalid("EnterpriseId"));
    }
    hotel(ctx, prop, |h| {
        json!({
            "NowUtc": fmt(now),
            "Enterprise": {
                "Id": h.property_id,
                "ExternalIdentifier": null,
                "ChainId": guid(&["chain"]),
                "ChainName": "Simulated Chain",
                "CreatedUtc": "2015-07-07T13:33:17Z",
                "UpdatedUtc": "2015-07-07T13:33:17Z",
                "Name": "Simulated Mews Hotel",
                "TimeZoneIdentifier": h.time_zone.name(),
                "LegalEnvironmentCode": "US",
                "DefaultLanguageCode": "en-US",
                "Pricing": "Gross",
                "Currencies": [{"Currency": h.currency, "IsDefault": true, "IsEnabled": true}],
                "IsPortfolio": false,
            },
            "Service": null,
            "PaymentCardStorage": null,
            "IsIdentityDocumentNumberRequired": false,
        })
    })
}

fn reservations_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let ids = str_array(body, "ReservationIds", 1000)?;
    let services = str_array(body, "ServiceIds", 1000)?;
    let accounts = str_array(body, "AccountIds", 1000)?;
    let numbers = str_array(body, "Numbers", 1000)?;
    let resources = str_array(body, "AssignedResourceIds", 1000)?;
    let states = str_array(body, "States", 1000)?;
    let created = interval(body, "CreatedUtc")?;
    let updated = interval(body, "UpdatedUtc")?;
    let colliding = interval(body, "CollidingUtc")?;
    let sched_start = interval(body, "ScheduledStartUtc")?;
    let sched_end = interval(body, "ScheduledEndUtc")?;
    let actual_start = interval(body, "ActualStartUtc")?;
    let actual_end = interval(body, "ActualEndUtc")?;
    if sched_start.is_some() && actual_start.is_some() {
        return Err(bad("ScheduledStartUtc cannot be used with ActualStartUtc."));
    }
    if sched_end.is_some() && actual_end.is_some() {
        return Err(bad("ScheduledEndUtc cannot be used with ActualEndUtc."));
    }
    if !enterprise_ok(body, prop)? || !any_in(&services, &prop.service_id) {
        return Ok(json!({"Reservations": [], "Cursor": null}));
    }
    failing(ctx, &ids)?;
    hotel(ctx, prop, |h| {
        let order = reservation_order(h);
        let universe: Vec<String> = order
            .iter()
            .map(|i| h.reservations[*i].id.clone())
            .collect();
        let mut items = Vec::new();
        for (pos, i) in order.iter().enumerate() {
            let r = &h.reservations[*i];
            let (state, _) = state_of(r);
            let (start, end) = (start_of(h, r), end_of(h, r));
            let started = matches!(state.as_str(), "Started" | "Processed");
            let keep = any_in(&ids, &r.id)
                && any_in(&accounts, &r.guest_id)
                && any_in(&numbers, &r.confirmation)
                && (resources.is_none()
                    || r.room_id.as_ref().is_some_and(|x| any_in(&resources, x)))
                && any_in(&states, &state)
                && in_interval(&created, r.created_at)
                && in_interval(&updated, r.updated_at)
                && colliding.is_none_or(|c| c.overlaps(start, end))
                && in_interval(&sched_start, start)
                && in_interval(&sched_end, end)
                && actual_start.is_none_or(|i| started && i.contains(start))
                && actual_end.is_none_or(|i| state == "Processed" && i.contains(end));
            if keep {
                items.push((pos, r.id.clone(), *i));
            }
        }
        // Only the page is rendered: a listing of 100 000 reservations stays cheap per page.
        let (page, cursor) = paginate(items, &universe, &lim)?;
        let page: Vec<Value> = page
            .into_iter()
            .map(|i| {
                let r = &h.reservations[i];
                let corrupt = ids.is_none() && ctx.entity_fails(crate::PROVIDER, &r.id);
                render_reservation(h, prop, r, corrupt)
            })
            .collect();
        Ok(json!({"Reservations": page, "Cursor": cursor}))
    })?
}

fn reservations_update_interval(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let id = present(body, "ReservationId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("ReservationId"))?
        .to_owned();
    if !present(body, "ChargeCancellationFee").is_some_and(Value::is_boolean) {
        return Err(invalid("ChargeCancellationFee"));
    }
    let time = |k: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        match present(body, k) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(parse_utc)
                .map(Some)
                .ok_or_else(|| invalid(k)),
        }
    };
    let (new_start, new_end) = (time("StartUtc")?, time("EndUtc")?);
    if new_start.is_none() && new_end.is_none() {
        return Err(bad("StartUtc or EndUtc must be specified."));
    }
    hotel(ctx, prop, |h| {
        let tz = h.time_zone;
        let r = h.reservation(&id).ok_or_else(|| invalid("ReservationId"))?;
        let (state, _) = state_of(r);
        if matches!(state.as_str(), "Processed" | "Canceled") {
            return Err(forbidden(format!(
                "The reservation is {state} and its interval cannot be changed."
            )));
        }
        let start = new_start.unwrap_or_else(|| start_of(h, r));
        let end = new_end.unwrap_or_else(|| end_of(h, r));
        if end <= start {
            return Err(forbidden("The reservation end must be after its start."));
        }
        let r = h
            .reservation_mut(&id)
            .ok_or_else(|| invalid("ReservationId"))?;
        let (ls, le) = (start.with_timezone(&tz), end.with_timezone(&tz));
        r.arrival = ls.date_naive();
        r.arrival_time = ls.time();
        r.departure = le.date_naive();
        r.departure_time = le.time();
        r.updated_at = now.max(r.updated_at + Duration::milliseconds(1));
        Ok(json!({}))
    })?
}

const CLASSIFICATIONS: &[&str] = &[
    "PaymasterAccount",
    "Blacklist",
    "Media",
    "LoyaltyProgram",
    "PreviousComplaint",
    "Returning",
    "Staff",
    "FriendOrFamily",
    "TopManagement",
    "Important",
    "VeryImportant",
    "Problematic",
    "Cashlist",
    "DisabledPerson",
    "Military",
    "Airline",
    "HealthCompliant",
    "InRoom",
    "WaitingForRoom",
    "Student",
    "Blocklist",
];
const OPTIONS: &[&str] = &[
    "None",
    "SendMarketingEmails",
    "Invoiceable",
    "BillAddressObjection",
    "SendMarketingPostalMail",
    "SendPartnerMarketingEmails",
    "SendPartnerMarketingPostalMail",
    "WithdrawCardConsent",
    "GuestPhotoConsent",
    "IdPhotosConsent",
];

fn customers_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let extent = present(body, "Extent").ok_or_else(|| invalid("Extent"))?;
    let ids = str_array(body, "CustomerIds", 1000)?;
    let emails = str_array(body, "Emails", 1000)?;
    let firsts = str_array(body, "FirstNames", 1000)?;
    let lasts = str_array(body, "LastNames", 1000)?;
    let loyalty = str_array(body, "LoyaltyCodes", 1000)?;
    let companies = str_array(body, "CompanyIds", 1)?;
    let created = interval(body, "CreatedUtc")?;
    let updated = interval(body, "UpdatedUtc")?;
    let deleted = interval(body, "DeletedUtc")?;
    if ids.is_none()
        && emails.is_none()
        && firsts.is_none()
        && lasts.is_none()
        && loyalty.is_none()
        && companies.is_none()
        && created.is_none()
        && updated.is_none()
        && deleted.is_none()
    {
        return Err(bad("Invalid CustomerIds: a filter must be specified."));
    }
    failing(ctx, &ids)?;
    let with_customers = extent.get("Customers").and_then(Value::as_bool) == Some(true);
    // Customers are the chain's: every member's, this enterprise's first.
    let mut guests = hotel(ctx, prop, |h| h.guests.clone())?;
    for other in ctx.chain_of(crate::PROVIDER, &prop.id).iter().skip(1) {
        if let Some(more) = ctx.with_hotel(crate::PROVIDER, other, |h| h.guests.clone()) {
            guests.extend(more);
        }
    }
    {
        let mut order: Vec<usize> = (0..guests.len()).collect();
        order.sort_by(|a, b| {
            let (ga, gb) = (&guests[*a], &guests[*b]);
            gb.created_at.cmp(&ga.created_at).then(gb.id.cmp(&ga.id))
        });
        let universe: Vec<String> = order.iter().map(|i| guests[*i].id.clone()).collect();
        // Ids asked for as a set, checked before rendering: a property of 60 000 guests
        // answers 1000 ids without rendering or comparing every guest against every id.
        let wanted: Option<HashSet<&str>> = ids
            .as_ref()
            .map(|ids| ids.iter().map(String::as_str).collect());
        let mut items = Vec::new();
        for (pos, i) in order.iter().enumerate() {
            let g = &guests[*i];
            if wanted.as_ref().is_some_and(|w| !w.contains(g.id.as_str())) {
                continue;
            }
            let rendered = render_customer(g, *i, false);
            let code = rendered["LoyaltyCode"].as_str().unwrap_or("").to_owned();
            let keep = any_in_ci(&emails, &g.email)
                && any_in_ci(&firsts, &g.first_name)
                && any_in_ci(&lasts, &g.last_name)
                && (loyalty.is_none() || any_in(&loyalty, &code))
                && companies.is_none()
                && deleted.is_none()
                && in_interval(&created, g.created_at)
                && in_interval(&updated, g.updated_at);
            if keep {
                let corrupt = ids.is_none() && ctx.entity_fails(crate::PROVIDER, &g.id);
                let v = if corrupt {
                    render_customer(g, *i, true)
                } else {
                    rendered
                };
                items.push((pos, g.id.clone(), v));
            }
        }
        let (page, cursor) = paginate(items, &universe, &lim)?;
        let page = if with_customers { page } else { Vec::new() };
        Ok(json!({"Customers": page, "Documents": null, "Cursor": cursor}))
    }
}

fn enum_list(body: &Value, key: &str, allowed: &[&str]) -> Result<Option<Vec<String>>, ApiError> {
    let list = str_array(body, key, 1000)?;
    if let Some(l) = &list {
        if let Some(bad_value) = l.iter().find(|v| !allowed.contains(&v.as_str())) {
            return Err(bad(format!("Invalid {key}: {bad_value}.")));
        }
    }
    Ok(list)
}

fn customers_update(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let id = present(body, "CustomerId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("CustomerId"))?
        .to_owned();
    let classifications = enum_list(body, "Classifications", CLASSIFICATIONS)?;
    let options = enum_list(body, "Options", OPTIONS)?;
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match present(body, k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(k)),
        }
    };
    let dietary = text("DietaryRequirements")?;
    if dietary.as_ref().is_some_and(|d| d.chars().count() > 255) {
        return Err(invalid("DietaryRequirements"));
    }
    let (first, last, email, phone, notes) = (
        text("FirstName")?,
        text("LastName")?,
        text("Email")?,
        text("Phone")?,
        text("Notes")?,
    );
    hotel(ctx, prop, |h| {
        let number = h
            .guests
            .iter()
            .position(|g| g.id == id)
            .ok_or_else(|| invalid("CustomerId"))?;
        let g = &mut h.guests[number];
        // A blank field leaves the value intact (customers.md).
        let set = |field: &mut String, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                *field = v;
            }
        };
        set(&mut g.first_name, first);
        set(&mut g.last_name, last);
        set(&mut g.email, email);
        set(&mut g.phone, phone);
        if let Some(n) = notes.filter(|n| !n.trim().is_empty()) {
            g.notes = n;
        }
        let mut replace = |category: &str, values: Vec<String>| {
            g.preferences.retain(|p| p.category != category);
            for v in values {
                g.preferences
                    .push(pms_vendor_kit::sim::data::SimPreference {
                        category: category.into(),
                        code: v,
                        description: String::new(),
                    });
            }
        };
        if let Some(c) = classifications {
            let vip = c.iter().any(|v| v == "VeryImportant" || v == "Important");
            replace("Classifications", c);
            g.vip = vip;
        }
        if let Some(o) = options {
            replace("Options", o.into_iter().filter(|v| v != "None").collect());
        }
        if let Some(d) = dietary.filter(|d| !d.trim().is_empty()) {
            g.preferences
                .retain(|p| p.category != "DietaryRequirements");
            g.preferences
                .push(pms_vendor_kit::sim::data::SimPreference {
                    category: "DietaryRequirements".into(),
                    code: "DietaryRequirements".into(),
                    description: d,
                });
        }
        g.updated_at = now.max(g.updated_at + Duration::milliseconds(1));
        Ok(render_customer(g, number, false))
    })?
}

fn extent_flag(body: &Value, key: &str) -> Result<bool, ApiError> {
    let extent = present(body, "Extent").ok_or_else(|| invalid("Extent"))?;
    Ok(extent.get(key).and_then(Value::as_bool) == Some(true))
}

fn resources_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let with_resources = extent_flag(body, "Resources")?;
    let ids = str_array(body, "ResourceIds", 1000)?;
    let names = str_array(body, "Names", 1000)?;
    let updated = interval(body, "UpdatedUtc")?;
    let created = interval(body, "CreatedUtc")?;
    if !enterprise_ok(body, prop)? {
        return Ok(json!({"Resources": [], "Cursor": null}));
    }
    failing(ctx, &ids)?;
    hotel(ctx, prop, |h| {
        let universe: Vec<String> = h.rooms.iter().map(|r| r.id.clone()).collect();
        let mut items = Vec::new();
        for (pos, room) in h.rooms.iter().enumerate() {
            let keep = any_in(&ids, &room.id)
                && any_in(&names, &room.number)
                && in_interval(&updated, room.updated_at)
                && in_interval(&created, room.updated_at - Duration::days(365));
            if keep {
                let corrupt = ids.is_none() && ctx.entity_fails(crate::PROVIDER, &room.id);
                items.push((pos, room.id.clone(), render_resource(h, room, corrupt)));
            }
        }
        let (page, cursor) = paginate(items, &universe, &lim)?;
        let page = if with_resources { page } else { Vec::new() };
        Ok(json!({
            "Resources": page,
            "ResourceCategories": null,
            "ResourceCategoryAssignments": null,
            "ResourceCategoryImageAssignments": null,
            "ResourceFeatures": null,
            "ResourceFeatureAssignments": null,
            "Cursor": cursor,
        }))
    })?
}

/// Every note of the hotel in page order: general notes and special requests per reservation.
fn all_notes(h: &SimHotel) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for i in reservation_order(h) {
        let r = &h.reservations[i];
        let lists = [
            ("General", "note", &r.notes),
            ("SpecialRequest", "request", &r.special_requests),
        ];
        for (kind, tag, list) in lists {
            for (n, text) in list.iter().enumerate() {
                let id = guid(&[tag, &r.id, &n.to_string()]);
                let at = fmt(r.created_at + Duration::minutes(n as i64));
                out.push((
                    id.clone(),
                    json!({"Id": id, "OrderId": r.id, "Text": text, "Type": kind, "CreatedUtc": at, "UpdatedUtc": at}),
                ));
            }
        }
    }
    out
}

fn notes_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let orders =
        str_array(body, "ServiceOrderIds", 1000)?.ok_or_else(|| invalid("ServiceOrderIds"))?;
    let orders: HashSet<&str> = orders.iter().map(String::as_str).collect();
    let note_ids = str_array(body, "ServiceOrderNoteIds", 1000)?;
    let types = str_array(body, "Types", 10)?
        .unwrap_or_else(|| vec!["General".into(), "ChannelManager".into()]);
    let updated = interval(body, "UpdatedUtc")?;
    if !enterprise_ok(body, prop)? {
        return Ok(json!({"ServiceOrderNotes": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        let all = all_notes(h);
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, v))| {
                v["OrderId"].as_str().is_some_and(|o| orders.contains(o))
                    && any_in(&note_ids, id)
                    && types.iter().any(|t| Some(t.as_str()) == v["Type"].as_str())
                    && updated.is_none_or(|u| {
                        v["UpdatedUtc"]
                            .as_str()
                            .and_then(parse_utc)
                            .is_some_and(|t| u.contains(t))
                    })
            })
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"ServiceOrderNotes": page, "Cursor": cursor}))
    })?
}

fn notes_add(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let notes = present(body, "ServiceOrderNotes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty() && a.len() <= 1000)
        .ok_or_else(|| invalid("ServiceOrderNotes"))?;
    let mut parsed = Vec::new();
    for n in notes {
        let order = n
            .get("ServiceOrderId")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("ServiceOrderId"))?;
        let text = n
            .get("Text")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| invalid("Text"))?;
        parsed.push((order.to_owned(), text.to_owned()));
    }
    hotel(ctx, prop, |h| {
        if let Some((missing, _)) = parsed.iter().find(|(o, _)| h.reservation(o).is_none()) {
            return Err(bad(format!("Invalid ServiceOrderId: {missing}.")));
        }
        let mut added = Vec::new();
        for (order, text) in parsed {
            let Some(r) = h.reservation_mut(&order) else {
                continue;
            };
            let n = r.notes.len();
            r.notes.push(text.clone());
            r.updated_at = now.max(r.updated_at + Duration::milliseconds(1));
            let at = fmt(r.created_at + Duration::minutes(n as i64));
            added.push(json!({
                "Id": guid(&["note", &order, &n.to_string()]),
                "OrderId": order,
                "Text": text,
                "Type": "General",
                "CreatedUtc": at,
                "UpdatedUtc": at,
            }));
        }
        Ok(json!({"ServiceOrderNotes": added}))
    })?
}

fn orders_add(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let service = present(body, "ServiceId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("ServiceId"))?;
    if service != prop.service_id {
        return Err(invalid("ServiceId"));
    }
    let account = present(body, "AccountId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("AccountId"))?
        .to_owned();
    if present(body, "ProductOrders")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(bad(
            "The simulated Mews accepts custom Items only, not ProductOrders.",
        ));
    }
    let items = present(body, "Items")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("Items"))?;
    let linked = present(body, "LinkedReservationId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let notes = present(body, "Notes")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let order_id = uuid::Uuid::new_v4().to_string();
    hotel(ctx, prop, |h| {
        if h.guest(&account).is_none() {
            return Err(invalid("AccountId"));
        }
        let reservation_id = match &linked {
            Some(id) => h
                .reservation(id)
                .map(|r| r.id.clone())
                .ok_or_else(|| invalid("LinkedReservationId"))?,
            // Mews predicts the reservation when none is given; the owner's latest stands in.
            None => h
                .reservations
                .iter()
                .filter(|r| r.guest_id == account)
                .max_by_key(|r| r.created_at)
                .map(|r| r.id.clone())
                .ok_or_else(|| invalid("AccountId"))?,
        };
        let mut charges = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let name = item
                .get("Name")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| invalid("Name"))?;
            let count = item
                .get("UnitCount")
                .and_then(Value::as_i64)
                .filter(|c| *c >= 1)
                .ok_or_else(|| invalid("UnitCount"))?;
            let unit = item
                .get("UnitAmount")
                .ok_or_else(|| invalid("UnitAmount"))?;
            let currency = unit
                .get("Currency")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("Currency"))?;
            if !currency.eq_ignore_ascii_case(&h.currency) {
                return Err(invalid("Currency"));
            }
            if !unit.get("TaxCodes").is_some_and(Value::is_array) {
                return Err(invalid("TaxCodes"));
            }
            // The simulated enterprise prices gross (configuration/get says so).
            let gross = unit
                .get("GrossValue")
                .and_then(Value::as_f64)
                .ok_or_else(|| {
                    bad("Invalid GrossValue: required for Gross pricing environments.")
                })?;
            let minor = (gross * 10f64.powi(h.currency_exponent as i32)).round() as i64 * count;
            charges.push(SimCharge {
                notes: notes.clone(),
                id: if n == 0 {
                    order_id.clone()
                } else {
                    format!("{order_id}/{n}")
                },
                reservation_id: reservation_id.clone(),
                amount_minor: minor,
                currency: h.currency.clone(),
                description: name.to_owned(),
                reference: item
                    .get("ExternalIdentifier")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                revenue_center: item
                    .get("AccountingCategoryId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                posted_at: now,
            });
        }
        h.charges.extend(charges);
        Ok(())
    })??;
    ctx.count(crate::PROVIDER, |c| c.charges_posted += 1);
    Ok(json!({"OrderId": order_id}))
}

/// Every order item of the hotel in page order: each reservation's nights, then posted charges.
fn all_order_items(h: &SimHotel, prop: &Prop) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for i in reservation_order(h) {
        let r = &h.reservations[i];
        let start = start_of(h, r);
        for night in 0..r.nights() {
            let id = guid(&["night", &r.id, &night.to_string()]);
            let consumed = start + Duration::days(night);
            out.push((
                id.clone(),
                json!({
                    "Id": id,
                    "EnterpriseId": h.property_id,
                    "AccountId": r.guest_id,
                    "AccountType": "Customer",
                    "Notes": null,
                    "ServiceId": prop.service_id,
                    "ServiceOrderId": r.id,
                    "BillId": null,
                    "AccountingCategoryId": null,
                    "ExternalIdentifier": null,
                    "UnitCount": 1,
                    "UnitAmount": amount(r.nightly_rate_minor, h),
                    "Amount": amount(r.nightly_rate_minor, h),
                    "OriginalAmount": amount(r.nightly_rate_minor, h),
                    "RevenueType": "Service",
                    "CreatedUtc": fmt(r.created_at),
                    "UpdatedUtc": fmt(r.created_at),
                    "ConsumedUtc": fmt(consumed),
                    "CanceledUtc": null,
                    "ClosedUtc": null,
                    "StartUtc": fmt(consumed),
                    "AccountingState": "Open",
                    "Type": "SpaceOrder",
                    "Options": {"CanceledWithReservation": false},
                    "Data": null,
                }),
            ));
        }
    }
    for c in &h.charges {
        let id = guid(&["item", &c.id]);
        let account = h.reservation(&c.reservation_id).map(|r| r.guest_id.clone());
        out.push((
            id.clone(),
            json!({
                "Id": id,
                "EnterpriseId": h.property_id,
                "AccountId": account,
                "AccountType": "Customer",
                // The order's notes, as free text on its items.
                "Notes": c.notes,
                "ServiceId": prop.service_id,
                "ServiceOrderId": order_id_of(c),
                "BillId": null,
                "AccountingCategoryId": c.revenue_center,
                "BillingName": c.description,
                "ExternalIdentifier": c.reference,
                "UnitCount": 1,
                "UnitAmount": amount(c.amount_minor, h),
                "Amount": amount(c.amount_minor, h),
                "OriginalAmount": amount(c.amount_minor, h),
                "RevenueType": "Additional",
                "CreatedUtc": fmt(c.posted_at),
                "UpdatedUtc": fmt(c.posted_at),
                "ConsumedUtc": fmt(c.posted_at),
                "CanceledUtc": null,
                "ClosedUtc": null,
                "StartUtc": null,
                "AccountingState": "Open",
                "Type": "CustomItem",
                "Options": {"CanceledWithReservation": false},
                "Data": null,
            }),
        ));
    }
    out
}

fn currency_ok(body: &Value, h: &SimHotel) -> Result<(), ApiError> {
    match present(body, "Currency") {
        None => Ok(()),
        // The simulator does not convert currencies.
        Some(v)
            if v.as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(&h.currency)) =>
        {
            Ok(())
        }
        Some(_) => Err(invalid("Currency")),
    }
}

fn time_matches(v: &Value, key: &str, i: &Option<Interval>) -> bool {
    i.is_none_or(|i| {
        v[key]
            .as_str()
            .and_then(parse_utc)
            .is_some_and(|t| i.contains(t))
    })
}

fn order_items_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let item_ids = str_array(body, "OrderItemIds", 1000)?;
    let accounts = str_array(body, "AccountIds", 100)?;
    let orders = str_array(body, "ServiceOrderIds", 1000)?;
    let services = str_array(body, "ServiceIds", 1000)?;
    let bills = str_array(body, "BillIds", 1000)?;
    let states = str_array(body, "AccountingStates", 1000)?;
    let types = str_array(body, "Types", 1000)?;
    let created = interval(body, "CreatedUtc")?;
    let updated = interval(body, "UpdatedUtc")?;
    let consumed = interval(body, "ConsumedUtc")?;
    let canceled = interval(body, "CanceledUtc")?;
    let closed = interval(body, "ClosedUtc")?;
    if [&item_ids, &accounts, &orders, &services, &bills]
        .iter()
        .all(|f| f.is_none())
        && [&created, &updated, &consumed, &canceled, &closed]
            .iter()
            .all(|f| f.is_none())
    {
        return Err(bad("At least one filter must be specified."));
    }
    if !enterprise_ok(body, prop)? {
        return Ok(json!({"OrderItems": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        currency_ok(body, h)?;
        let all = all_order_items(h, prop);
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, v))| {
                any_in(&item_ids, id)
                    && any_in(&accounts, &s(v, "AccountId"))
                    && any_in(&orders, &s(v, "ServiceOrderId"))
                    && any_in(&services, &s(v, "ServiceId"))
                    && bills.is_none()
                    && any_in(&states, &s(v, "AccountingState"))
                    && any_in(&types, &s(v, "Type"))
                    && time_matches(v, "CreatedUtc", &created)
                    && time_matches(v, "UpdatedUtc", &updated)
                    && time_matches(v, "ConsumedUtc", &consumed)
                    && canceled.is_none()
                    && closed.is_none()
            })
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"OrderItems": page, "Cursor": cursor}))
    })?
}

fn product_orders_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let services = str_array(body, "ServiceIds", 1000)?.ok_or_else(|| invalid("ServiceIds"))?;
    let ids = str_array(body, "ProductServiceOrderIds", 1000)?;
    let accounts = str_array(body, "AccountIds", 1000)?;
    let linked = str_array(body, "LinkedReservationIds", 1000)?;
    let updated = interval(body, "UpdatedUtc")?;
    if !enterprise_ok(body, prop)? || !services.contains(&prop.service_id) {
        return Ok(json!({"ProductServiceOrders": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        let mut seen = HashSet::new();
        let mut all: Vec<(String, Value)> = Vec::new();
        // Newest first, like every Mews listing.
        for c in h.charges.iter().rev() {
            let id = order_id_of(c).to_owned();
            if !seen.insert(id.clone()) {
                continue;
            }
            let account = h
                .reservation(&c.reservation_id)
                .map(|r| r.guest_id.clone())
                .unwrap_or_default();
            all.push((
                id.clone(),
                json!({
                    "Id": id,
                    "ServiceId": prop.service_id,
                    "AccountId": account,
                    "AccountType": "Customer",
                    "CreatorProfileId": guid(&["profile"]),
                    "UpdaterProfileId": guid(&["profile"]),
                    "BookerId": null,
                    "Number": format!("{}", 900_000 + all.len()),
                    "State": "Confirmed",
                    "Origin": "Connector",
                    "CommanderOrigin": null,
                    "OriginDetails": null,
                    "CreatedUtc": fmt(c.posted_at),
                    "UpdatedUtc": fmt(c.posted_at),
                    "CancelledUtc": null,
                    "VoucherId": null,
                    "BusinessSegmentId": null,
                    "LinkedReservationId": c.reservation_id,
                    "Options": {"OwnerCheckedIn": false, "AllCompanionsCheckedIn": false, "AnyCompanionCheckedIn": false, "ConnectorCheckIn": false},
                }),
            ));
        }
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, v))| {
                any_in(&ids, id)
                    && any_in(&accounts, v["AccountId"].as_str().unwrap_or(""))
                    && any_in(&linked, v["LinkedReservationId"].as_str().unwrap_or(""))
                    && time_matches(v, "UpdatedUtc", &updated)
            })
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"ProductServiceOrders": page, "Cursor": cursor}))
    })?
}

fn payments_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let ids = str_array(body, "PaymentIds", 1000)?;
    let accounts = str_array(body, "AccountIds", 100)?;
    let bills = str_array(body, "BillIds", 1000)?;
    let reservations = str_array(body, "ReservationIds", 1000)?;
    let states = str_array(body, "States", 1000)?;
    let accounting = str_array(body, "AccountingStates", 1000)?;
    let created = interval(body, "CreatedUtc")?;
    let updated = interval(body, "UpdatedUtc")?;
    let charged = interval(body, "ChargedUtc")?;
    let closed = interval(body, "ClosedUtc")?;
    let _settled = interval(body, "SettlementUtc")?;
    if [&ids, &accounts, &bills, &reservations]
        .iter()
        .all(|f| f.is_none())
        && [&created, &updated, &charged, &closed]
            .iter()
            .all(|f| f.is_none())
    {
        return Err(bad("At least one filter must be specified."));
    }
    if !enterprise_ok(body, prop)? {
        return Ok(json!({"Payments": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        currency_ok(body, h)?;
        let mut all = Vec::new();
        for i in reservation_order(h) {
            let r = &h.reservations[i];
            if r.payments_minor == 0 {
                continue;
            }
            let id = guid(&["payment", &r.id]);
            let at = fmt(r.updated_at);
            all.push((
                id.clone(),
                json!({
                    "Id": id,
                    "EnterpriseId": h.property_id,
                    "AccountId": r.guest_id,
                    "AccountType": "Customer",
                    "PaymentRequestId": null,
                    "BillId": null,
                    "ReservationId": r.id,
                    "AccountingCategoryId": null,
                    "Amount": amount(-r.payments_minor, h),
                    "OriginalAmount": amount(-r.payments_minor, h),
                    "Notes": null,
                    "SettlementId": null,
                    "ConsumedUtc": at,
                    "ClosedUtc": null,
                    "ChargedUtc": at,
                    "CreatedUtc": at,
                    "UpdatedUtc": at,
                    "SettlementUtc": null,
                    "AccountingState": "Open",
                    "State": "Charged",
                    "Identifier": null,
                    "Type": "CashPayment",
                    "Kind": "Payment",
                    "Data": null,
                    "PaymentOrigin": "PointOfSales",
                }),
            ));
        }
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, v))| {
                any_in(&ids, id)
                    && any_in(&accounts, &s(v, "AccountId"))
                    && bills.is_none()
                    && any_in(&reservations, &s(v, "ReservationId"))
                    && any_in(&states, &s(v, "State"))
                    && any_in(&accounting, &s(v, "AccountingState"))
                    && time_matches(v, "CreatedUtc", &created)
                    && time_matches(v, "UpdatedUtc", &updated)
                    && time_matches(v, "ChargedUtc", &charged)
                    && closed.is_none()
            })
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"Payments": page, "Cursor": cursor}))
    })?
}

/// Codes in use plus the standard ones, sorted (a stable universe for paging).
fn codes(standard: &[&str], used: impl Iterator<Item = String>) -> Vec<String> {
    let mut all: Vec<String> = standard.iter().map(|s| s.to_string()).chain(used).collect();
    all.sort();
    all.dedup();
    all
}

fn services_required(body: &Value, prop: &Prop) -> Result<bool, ApiError> {
    let services = str_array(body, "ServiceIds", 1000)?.ok_or_else(|| invalid("ServiceIds"))?;
    Ok(services.contains(&prop.service_id) && enterprise_ok(body, prop)?)
}

fn rates_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let ids = str_array(body, "RateIds", 1000)?;
    if !services_required(body, prop)? {
        return Ok(json!({"Rates": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        let all: Vec<(String, Value)> = codes(
            RATE_CODES,
            h.reservations.iter().map(|r| r.rate_code.clone()),
        )
        .into_iter()
        .map(|code| {
            let id = rate_id(h, &code);
            let v = json!({
                "Id": id,
                "GroupId": guid(&["rategroup", &h.property_id]),
                "ServiceId": prop.service_id,
                "BaseRateId": null,
                "IsBaseRate": code == "BAR",
                "BusinessSegmentId": null,
                "IsActive": true,
                "IsEnabled": true,
                "IsPublic": code != "CORP",
                "IsDefault": code == "BAR",
                "Type": if code == "CORP" { "Private" } else { "Public" },
                "Names": {"en-US": format!("{code} rate")},
                "ShortName": code,
                "UpdatedUtc": "2024-01-01T00:00:00Z",
                "ExternalIdentifier": null,
            });
            (id, v)
        })
        .collect();
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, _))| any_in(&ids, id))
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"Rates": page, "Cursor": cursor}))
    })?
}

fn categories_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let ids = str_array(body, "ResourceCategoryIds", 1000)?;
    if !services_required(body, prop)? {
        return Ok(json!({"ResourceCategories": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        let used = h
            .rooms
            .iter()
            .map(|r| r.room_type.clone())
            .chain(h.reservations.iter().map(|r| r.room_type.clone()));
        let all: Vec<(String, Value)> = codes(ROOM_TYPES, used)
            .into_iter()
            .enumerate()
            .map(|(n, code)| {
                let id = category_id(h, &code);
                let v = json!({
                    "Id": id,
                    "EnterpriseId": h.property_id,
                    "ServiceId": prop.service_id,
                    "IsActive": true,
                    "Type": if code == "SUITE" { "Suite" } else { "Room" },
                    "Names": {"en-US": format!("{} room", code.to_lowercase())},
                    "ShortNames": {"en-US": code},
                    "Descriptions": {},
                    "Ordering": n,
                    "Capacity": 2,
                    "ExtraCapacity": 0,
                    "ExternalIdentifier": null,
                });
                (id, v)
            })
            .collect();
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, _))| any_in(&ids, id))
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"ResourceCategories": page, "Cursor": cursor}))
    })?
}

fn age_categories_get_all(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let lim = limitation(body)?;
    let ids = str_array(body, "AgeCategoryIds", 1000)?;
    let services = str_array(body, "ServiceIds", 1000)?;
    if !any_in(&services, &prop.service_id) || !enterprise_ok(body, prop)? {
        return Ok(json!({"AgeCategories": [], "Cursor": null}));
    }
    hotel(ctx, prop, |h| {
        let all: Vec<(String, Value)> = [
            ("Adult", "Adults", Value::Null, Value::Null),
            ("Child", "Children", json!(0), json!(17)),
        ]
        .into_iter()
        .map(|(class, name, min, max)| {
            let id = age_id(h, class);
            let v = json!({
                "Id": id,
                "ServiceId": prop.service_id,
                "MinimalAge": min,
                "MaximalAge": max,
                "Names": {"en-US": name},
                "ShortNames": null,
                "CreatedUtc": "2024-01-01T00:00:00Z",
                "UpdatedUtc": "2024-01-01T00:00:00Z",
                "Classification": class,
                "IsActive": true,
                "ExternalIdentifier": null,
            });
            (id, v)
        })
        .collect();
        let universe: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
        let items = all
            .into_iter()
            .enumerate()
            .filter(|(_, (id, _))| any_in(&ids, id))
            .map(|(pos, (id, v))| (pos, id, v))
            .collect();
        let (page, cursor) = paginate(items, &universe, &lim)?;
        Ok(json!({"AgeCategories": page, "Cursor": cursor}))
    })?
}

/// The metrics of `services/getAvailability/2024-01-22` (services.md, "Service availability
/// metrics").
const AVAILABILITY_METRICS: &[&str] = &[
    "OutOfOrderBlocks",
    "PublicAvailabilityAdjustment",
    "OtherServiceReservationCount",
    "Occupied",
    "ConfirmedReservations",
    "OptionalReservations",
    "BlockAvailability",
    "AllocatedBlockAvailability",
    "UsableResources",
    "ActiveResources",
    "HouseUse",
];

/// A time unit start: a UTC timestamp that is 00:00 in the enterprise's zone ("UTC timestamps
/// must correspond to the start boundary of a time unit... Other timestamps are not
/// permitted").
fn time_unit_start(body: &Value, key: &str, tz: Tz) -> Result<NaiveDate, ApiError> {
    let at = present(body, key)
        .and_then(Value::as_str)
        .and_then(parse_utc)
        .ok_or_else(|| invalid(key))?;
    let date = at.with_timezone(&tz).date_naive();
    if local_utc(tz, date, NaiveTime::MIN) != at {
        return Err(bad(format!(
            "Invalid {key}: it must be the start of a time unit (00:00 in the enterprise's time zone)."
        )));
    }
    Ok(date)
}

/// Availability of the stay service per day and resource category, counted from the rooms and
/// stays of the simulated hotel (`SimHotel::night`). Nothing is booked through another service,
/// and the hotel has no blocks, adjustments or house use: those metrics are 0.
fn services_get_availability(
    ctx: &SimContext,
    prop: &Prop,
    body: &Value,
    _now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let service = present(body, "ServiceId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("ServiceId"))?;
    if service != prop.service_id {
        return Err(invalid("ServiceId"));
    }
    let metrics = str_array(body, "Metrics", AVAILABILITY_METRICS.len())?
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("Metrics"))?;
    if metrics
        .iter()
        .any(|m| !AVAILABILITY_METRICS.contains(&m.as_str()))
    {
        return Err(invalid("Metrics"));
    }
    hotel(ctx, prop, |h| {
        let tz = h.time_zone;
        let first = time_unit_start(body, "FirstTimeUnitStartUtc", tz)?;
        let last = time_unit_start(body, "LastTimeUnitStartUtc", tz)?;
        if last < first || (last - first).num_days() >= 367 {
            return Err(bad(
                "Invalid LastTimeUnitStartUtc: the interval is at most 367 time units.",
            ));
        }
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        let nights: Vec<_> = days.iter().map(|d| h.night(*d)).collect();
        let used = h
            .rooms
            .iter()
            .map(|r| r.room_type.clone())
            .chain(h.reservations.iter().map(|r| r.room_type.clone()));
        let categories: Vec<Value> = codes(ROOM_TYPES, used)
            .into_iter()
            .map(|code| {
                let per_day =
                    |f: &dyn Fn(&pms_vendor_kit::sim::data::SimNight) -> u32| -> Vec<u32> {
                        nights
                            .iter()
                            .map(|n| n.get(&code).map(f).unwrap_or(0))
                            .collect()
                    };
                let mut values = serde_json::Map::new();
                for m in &metrics {
                    let v = match m.as_str() {
                        "OutOfOrderBlocks" => per_day(&|n| n.out_of_order),
                        "Occupied" | "ConfirmedReservations" => per_day(&|n| n.occupied),
                        "UsableResources" => per_day(&|n| n.total - n.out_of_order),
                        "ActiveResources" => per_day(&|n| n.total),
                        _ => vec![0; days.len()],
                    };
                    values.insert(m.clone(), json!(v));
                }
                json!({
                    "ResourceCategoryId": category_id(h, &code),
                    "Metrics": values,
                })
            })
            .collect();
        Ok(json!({
            "TimeUnitStartsUtc": days
                .iter()
                .map(|d| fmt(local_utc(tz, *d, NaiveTime::MIN)))
                .collect::<Vec<_>>(),
            "ResourceCategoryAvailabilities": categories,
        }))
    })?
}

/// Ids the simulator derives for a property, so tests can build Mews-shaped expectations.
pub fn derived_ids(h: &SimHotel) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for code in RATE_CODES {
        out.insert(format!("rate:{code}"), rate_id(h, code));
    }
    for t in ROOM_TYPES {
        out.insert(format!("category:{t}"), category_id(h, t));
    }
    out.insert("age:Adult".into(), age_id(h, "Adult"));
    out.insert("age:Child".into(), age_id(h, "Child"));
    out
}

impl pms_vendor_kit::sim::SimState for State {
    fn reset(&self) {
        State::reset(self);
    }
}

/// The Mews simulator, as `pms-sim` mounts it.
pub fn simulator() -> Option<pms_vendor_kit::sim::SimVendor> {
    Some(pms_vendor_kit::sim::SimVendor {
        provider: crate::PROVIDER,
        prefix: PREFIX,
        api_root: PREFIX,
        id_style: pms_vendor_kit::sim::IdStyle::Guid,
        data_salt: 2,
        // 200 requests per 30 s per access token.
        limit: (200, 30_000),
        router,
        admin: None,
        default_property,
        configure,
        on_reservation_change: None,
    })
}

fn default_property() -> pms_vendor_kit::sim::PropertySetup {
    pms_vendor_kit::sim::PropertySetup {
        property_id: "3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
        time_zone: chrono_tz::Pacific::Honolulu,
        currency: "USD".into(),
        currency_exponent: 2,
        credentials: pms_vendor_kit::sim::creds(&[
            ("clientToken", "sim-mews-client-token"),
            ("accessToken", "sim-mews-access-token"),
            ("serviceId", "bd26d8db-86da-4f96-9efc-e5a4654a4a94"),
        ]),
    }
}

/// A hotel against a simulated enterprise: its stay service, an accounting category and the
/// tax code the simulator knows.
fn configure(
    config: &mut pms_domain::config::HotelConfig,
    property: &pms_vendor_kit::sim::PropertySetup,
) {
    config.vendor.service_id = property.credential("serviceId");
    config.vendor.default_revenue_center = Some("90eff5aa-36b4-4689-80c0-ab3a00bb412e".into());
    config.vendor.tax_code = Some("US-HI-G".into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_half_open_with_equality_mode() {
        let t = |s: &str| parse_utc(s).unwrap();
        let i = Interval(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z"));
        assert!(i.contains(t("2026-01-01T00:00:00Z")));
        assert!(!i.contains(t("2026-01-02T00:00:00Z")));
        let eq = Interval(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z"));
        assert!(eq.contains(t("2026-01-01T00:00:00Z")));
        let body = json!({"UpdatedUtc": {"StartUtc": "2026-01-31T00:00:00Z", "EndUtc": "2026-04-30T00:00:00Z"}});
        assert!(interval(&body, "UpdatedUtc").is_ok());
        let body = json!({"UpdatedUtc": {"StartUtc": "2026-01-31T00:00:00Z", "EndUtc": "2026-05-01T00:00:00Z"}});
        assert!(interval(&body, "UpdatedUtc").is_err());
    }

    #[test]
    fn guids_are_stable_and_distinct() {
        assert_eq!(guid(&["a", "b"]), guid(&["a", "b"]));
        assert_ne!(guid(&["a", "b"]), guid(&["ab"]));
        assert_eq!(guid(&["x"]).len(), 36);
    }
}
