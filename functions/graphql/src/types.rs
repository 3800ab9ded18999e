//! GraphQL types: one-to-one mappings of the core's records. No rules live here.

use async_graphql::{
    Enum, InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
    ID,
};
use chrono::{DateTime, Utc};
use pms_app::cache::Cached;
use pms_app::reads::{BookingConnection, BookingFilter, BookingRef, HotelHealth};
use pms_app::records::ProvidedAvailability;
use pms_app::sync_runs as runs;
use pms_domain::domain as core;
use pms_domain::domain::HotelId;

/// A calendar date (`YYYY-MM-DD`) in the hotel's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub core::BusinessDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => core::BusinessDate::parse(s)
                .map(Date)
                .map_err(|e| InputValueError::custom(e.message)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "pms_domain::domain::ReservationStatus")]
pub enum BookingStatus {
    Confirmed,
    CheckedIn,
    CheckedOut,
    Cancelled,
    NoShow,
}

/// The schema's `Provider`: every vendor this build serves (`pms_vendors::for_each_vendor!`),
/// and `PARTNER`.
macro_rules! provider_enum {
    ($($Name:ident),*) => {
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Provider {
            $($Name,)*
            /// Records a partner pushed through ingestion.
            Partner,
        }
    };
}
pms_vendors::for_each_vendor!(provider_enum);

impl From<pms_domain::domain::Provider> for Provider {
    fn from(p: pms_domain::domain::Provider) -> Self {
        // The schema lists every registered vendor, and a record's provider is one of them or
        // the partner; a name the schema lacks (a record of a vendor this build no longer
        // serves) reads as the partner's rather than failing the whole answer.
        use async_graphql::resolver_utils::EnumType;
        Provider::items()
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(p.as_str()))
            .map(|i| i.value)
            .unwrap_or_else(|| {
                tracing::warn!(provider = %p, "a record of a provider this build does not serve");
                Provider::Partner
            })
    }
}

impl From<Provider> for pms_domain::domain::Provider {
    fn from(p: Provider) -> Self {
        use async_graphql::resolver_utils::EnumType;
        let name = Provider::items()
            .iter()
            .find(|i| i.value == p)
            .map(|i| i.name.to_ascii_lowercase())
            .unwrap_or_default();
        pms_domain::domain::Provider::parse(&name).unwrap_or(pms_domain::domain::Provider::PARTNER)
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "pms_domain::domain::Occupancy")]
pub enum Occupancy {
    Vacant,
    Occupied,
    Unknown,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "pms_domain::domain::Housekeeping")]
pub enum Housekeeping {
    Clean,
    Dirty,
    Inspected,
    Pickup,
    OutOfOrder,
    OutOfService,
    Unknown,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "pms_domain::domain::PreferenceSource")]
pub enum PreferenceSource {
    Pms,
    Guest,
    Staff,
    Partner,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "pms_app::sync_runs::SyncRunStatus")]
pub enum SyncRunStatus {
    Succeeded,
    Partial,
    Failed,
}

/// An exact amount: `amount` is a decimal string in the currency's minor-unit precision.
#[derive(SimpleObject)]
pub struct Money {
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

impl From<core::Money> for Money {
    fn from(m: core::Money) -> Self {
        Self {
            amount: m.to_decimal_string(),
            currency: m.currency.code().to_owned(),
        }
    }
}

/// The main guest as the booking carries it.
#[derive(SimpleObject)]
pub struct GuestSummary {
    /// The guest's record id (`<provider>:<id>`), when the source names one.
    pub id: Option<ID>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl From<core::GuestSummary> for GuestSummary {
    fn from(g: core::GuestSummary) -> Self {
        Self {
            id: g.id.map(|i| ID(i.to_string())),
            first_name: g.first_name,
            last_name: g.last_name,
            email: g.email,
            phone: g.phone,
        }
    }
}

/// A booking (a reservation): one stay of one room.
#[derive(SimpleObject)]
pub struct Booking {
    /// Global id, `<hotel>/<provider>:<external id>`; `booking(id:)` takes it.
    pub id: ID,
    pub hotel_id: ID,
    /// `<provider>:<external id>`.
    pub record_id: String,
    pub provider: Provider,
    /// The vendor's own id.
    pub external_id: String,
    pub confirmation_number: String,
    pub status: BookingStatus,
    /// The vendor's status value, unchanged.
    pub raw_status: String,
    pub arrival: Date,
    pub departure: Date,
    pub nights: i64,
    /// Property-local wall-clock time, `HH:MM`.
    pub expected_arrival_time: Option<String>,
    pub expected_departure_time: Option<String>,
    pub guest: Option<GuestSummary>,
    pub room_number: Option<String>,
    pub room_type: Option<String>,
    pub adults: u32,
    pub children: u32,
    pub rate_code: Option<String>,
    pub total: Option<Money>,
    pub balance: Option<Money>,
    pub special_requests: Vec<String>,
    pub notes: Vec<String>,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Source version (ordering); a decimal string, as it can exceed 2^53.
    pub version: String,
}

impl Booking {
    pub fn new(hotel: &HotelId, r: core::Reservation) -> Self {
        let time = |t: Option<chrono::NaiveTime>| t.map(|t| t.format("%H:%M").to_string());
        Self {
            id: ID(BookingRef::new(hotel.clone(), r.id.clone()).to_string()),
            hotel_id: ID(hotel.to_string()),
            record_id: r.id.to_string(),
            provider: r.id.provider().into(),
            external_id: r.id.external().to_string(),
            confirmation_number: r.confirmation_number.to_string(),
            status: r.status.into(),
            raw_status: r.raw_status.clone(),
            arrival: Date(r.arrival),
            departure: Date(r.departure),
            expected_arrival_time: time(r.expected_arrival_time),
            expected_departure_time: time(r.expected_departure_time),
            nights: r.nights(),
            guest: r.guest.map(Into::into),
            room_number: r.room_number.map(|n| n.to_string()),
            room_type: r.room_type.map(|t| t.to_string()),
            adults: r.adults,
            children: r.children,
            rate_code: r.rate_code,
            total: r.total.map(Into::into),
            balance: r.balance.map(Into::into),
            special_requests: r.special_requests,
            notes: r.notes,
            source_updated_at: r.source_updated_at,
            version: r.version.to_string(),
        }
    }
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// True when the page was asked for with `after`.
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    /// Pass as `after` for the next page. When a page ends early because the query examined
    /// as many stored items as one request may, it can have fewer edges than asked for and
    /// still `hasNextPage`: this cursor then resumes after the last item examined.
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct BookingEdge {
    pub cursor: String,
    pub node: Booking,
}

#[derive(SimpleObject)]
pub struct BookingsConnection {
    pub edges: Vec<BookingEdge>,
    pub page_info: PageInfo,
}

impl BookingsConnection {
    pub fn new(hotel: &HotelId, c: BookingConnection) -> Self {
        let start_cursor = c.edges.first().map(|e| e.cursor.clone());
        Self {
            edges: c
                .edges
                .into_iter()
                .map(|e| BookingEdge {
                    cursor: e.cursor,
                    node: Booking::new(hotel, e.booking),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: c.has_next_page,
                has_previous_page: c.has_previous_page,
                start_cursor,
                end_cursor: c.end_cursor,
            },
        }
    }
}

/// Which bookings: every given criterion must hold; list values are alternatives.
#[derive(InputObject, Default)]
pub struct BookingFilterInput {
    /// Any of these statuses.
    #[graphql(default)]
    pub status: Vec<BookingStatus>,
    pub arrival_from: Option<Date>,
    pub arrival_to: Option<Date>,
    pub departure_from: Option<Date>,
    pub departure_to: Option<Date>,
    pub provider: Option<Provider>,
}

impl From<BookingFilterInput> for BookingFilter {
    fn from(f: BookingFilterInput) -> Self {
        Self {
            statuses: f.status.into_iter().map(Into::into).collect(),
            arrival_from: f.arrival_from.map(|d| d.0),
            arrival_to: f.arrival_to.map(|d| d.0),
            departure_from: f.departure_from.map(|d| d.0),
            departure_to: f.departure_to.map(|d| d.0),
            provider: f.provider.map(Into::into),
        }
    }
}

/// The bookings of one business date.
#[derive(SimpleObject)]
pub struct DayBookings {
    /// The date answered for (today in the hotel's zone when none was given).
    pub date: Date,
    pub bookings: Vec<Booking>,
}

impl DayBookings {
    pub fn new(hotel: &HotelId, date: core::BusinessDate, list: Vec<core::Reservation>) -> Self {
        Self {
            date: Date(date),
            bookings: list.into_iter().map(|r| Booking::new(hotel, r)).collect(),
        }
    }
}

/// Whose availability figures: the two are stored apart and never mixed in one answer.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvailabilitySource {
    /// The hotel's PMS, as the sync's `availability` feed last read it.
    Pms,
    /// What partner systems pushed through REST ingestion.
    Partner,
}

#[derive(SimpleObject)]
pub struct Availability {
    pub date: Date,
    pub room_type: String,
    pub available: u32,
    pub total: Option<u32>,
    /// Best available rate for the night, when the source gives one.
    pub rate: Option<Money>,
    pub provider: Provider,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Whose figure this is.
    pub source: AvailabilitySource,
    /// The PMS's id of the room type (Mews resource category, Cloudbeds `roomTypeID`); PMS
    /// figures only.
    pub room_type_id: Option<String>,
    /// Rooms of the type out of order that night, when the PMS says (Mews).
    pub out_of_order: Option<u32>,
}

impl From<ProvidedAvailability> for Availability {
    fn from(p: ProvidedAvailability) -> Self {
        let a = p.availability;
        Self {
            date: Date(a.date),
            room_type: a.room_type.to_string(),
            available: a.available,
            total: a.total,
            rate: a.rate.map(Into::into),
            provider: p.provider.into(),
            source_updated_at: a.source_updated_at,
            source: AvailabilitySource::Partner,
            room_type_id: None,
            out_of_order: None,
        }
    }
}

impl From<core::PmsAvailability> for Availability {
    fn from(a: core::PmsAvailability) -> Self {
        Self {
            date: Date(a.date),
            room_type: a.room_type.to_string(),
            available: a.available,
            total: a.total,
            rate: None,
            provider: a.provider.into(),
            source_updated_at: None,
            source: AvailabilitySource::Pms,
            room_type_id: Some(a.room_type_id),
            out_of_order: a.out_of_order,
        }
    }
}

#[derive(SimpleObject)]
pub struct Preference {
    pub category: String,
    pub key: String,
    pub value: String,
    pub source: PreferenceSource,
}

#[derive(SimpleObject)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(SimpleObject)]
pub struct Guest {
    /// `<provider>:<external id>`; `guest(id:)` takes it.
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub loyalty_tier: Option<String>,
    pub vip: bool,
    pub preferences: Vec<Preference>,
    /// Other identifiers the vendor knows the guest by.
    pub external_ids: Vec<KeyValue>,
    pub source_updated_at: Option<DateTime<Utc>>,
}

impl From<core::Guest> for Guest {
    fn from(g: core::Guest) -> Self {
        Self {
            id: ID(g.id.to_string()),
            full_name: g.full_name(),
            first_name: g.first_name,
            last_name: g.last_name,
            email: g.email,
            phone: g.phone,
            language: g.language,
            loyalty_tier: g.loyalty_tier,
            vip: g.vip,
            preferences: g
                .preferences
                .into_iter()
                .map(|p| Preference {
                    category: p.category,
                    key: p.key,
                    value: p.value,
                    source: p.source.into(),
                })
                .collect(),
            external_ids: g
                .external_ids
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
            source_updated_at: g.source_updated_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct RoomStatus {
    pub room_number: String,
    pub room_type: Option<String>,
    pub occupancy: Occupancy,
    pub housekeeping: Housekeeping,
    /// The vendor's raw values.
    pub raw_status: Option<String>,
    pub floor: Option<String>,
    pub do_not_disturb: bool,
    pub source_updated_at: Option<DateTime<Utc>>,
}

impl From<core::RoomStatus> for RoomStatus {
    fn from(r: core::RoomStatus) -> Self {
        Self {
            room_number: r.room_number.to_string(),
            room_type: r.room_type.map(|t| t.to_string()),
            occupancy: r.occupancy.into(),
            housekeeping: r.housekeeping.into(),
            raw_status: r.raw_status,
            floor: r.floor,
            do_not_disturb: r.do_not_disturb,
            source_updated_at: r.source_updated_at,
        }
    }
}

/// A value read from the hotel's PMS through the cache.
#[derive(SimpleObject)]
#[graphql(concrete(name = "CachedGuest", params(Guest)))]
#[graphql(concrete(name = "CachedGuestList", params(GuestList)))]
#[graphql(concrete(name = "CachedBooking", params(Booking)))]
#[graphql(concrete(name = "CachedRoomStatus", params(RoomStatus)))]
#[graphql(concrete(name = "CachedRoomStatusList", params(RoomStatusList)))]
#[graphql(concrete(name = "CachedMoney", params(Money)))]
pub struct CachedValue<T: async_graphql::OutputType> {
    pub value: T,
    /// The PMS could not be reached: this copy is older than its TTL (but within the stale
    /// tolerance).
    pub stale: bool,
    /// When the value was read from the PMS.
    pub fetched_at: DateTime<Utc>,
}

impl<T: async_graphql::OutputType> CachedValue<T> {
    pub fn map<C>(c: Cached<C>, f: impl FnOnce(C) -> T) -> Self {
        Self {
            value: f(c.value),
            stale: c.stale,
            fetched_at: c.fetched_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct GuestList {
    pub guests: Vec<Guest>,
}

#[derive(SimpleObject)]
pub struct RoomStatusList {
    pub rooms: Vec<RoomStatus>,
}

#[derive(SimpleObject)]
pub struct SyncCount {
    pub count: u64,
    /// The first ids counted (at most 100).
    pub ids: Vec<String>,
}

impl From<runs::IdCount> for SyncCount {
    fn from(c: runs::IdCount) -> Self {
        Self {
            count: c.count,
            ids: c.ids,
        }
    }
}

#[derive(SimpleObject)]
pub struct SyncRunError {
    pub code: String,
    pub message: String,
    pub entity_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct SyncRun {
    pub run_id: String,
    pub feed: String,
    pub status: SyncRunStatus,
    pub created: SyncCount,
    pub updated: SyncCount,
    pub unchanged: u64,
    pub failed: SyncCount,
    pub vendor_calls: u64,
    pub duration_ms: u64,
    /// The first errors of the run (at most 10).
    pub errors: Vec<SyncRunError>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<runs::SyncRun> for SyncRun {
    fn from(r: runs::SyncRun) -> Self {
        Self {
            run_id: r.run_id,
            feed: r.feed,
            status: r.status.into(),
            created: r.created.into(),
            updated: r.updated.into(),
            unchanged: r.unchanged,
            failed: r.failed.into(),
            vendor_calls: r.vendor_calls,
            duration_ms: r.duration_ms,
            errors: r
                .errors
                .into_iter()
                .map(|e| SyncRunError {
                    code: e.code,
                    message: e.message,
                    entity_id: e.entity_id,
                })
                .collect(),
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct PmsHealth {
    pub provider: Provider,
    pub healthy: bool,
    pub latency_ms: u64,
    pub message: Option<String>,
    pub checked_at: DateTime<Utc>,
}

/// A hotel's PMS circuit breaker: opened by repeated connection errors, 5xx or refused
/// credentials; while open, scheduled syncs are skipped and PMS reads answer from the cache
/// (`stale`) or `PMS_UNAVAILABLE` at once; it closes by itself when a probe succeeds.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    /// Open, with one probe of the PMS running.
    HalfOpen,
}

#[derive(SimpleObject)]
pub struct Circuit {
    pub state: CircuitState,
    /// Failures counted since the PMS last answered.
    pub failures: u32,
    pub opened_at: Option<DateTime<Utc>>,
    /// When the PMS is tried again (while open).
    pub next_probe_at: Option<DateTime<Utc>>,
    /// The code of the last failure counted, e.g. `PMS_UNAVAILABLE`.
    pub last_error: Option<String>,
}

impl From<pms_app::health::CircuitView> for Circuit {
    fn from(v: pms_app::health::CircuitView) -> Self {
        use pms_app::health::CircuitState as S;
        Self {
            state: match v.state {
                S::Closed => CircuitState::Closed,
                S::Open => CircuitState::Open,
                S::HalfOpen => CircuitState::HalfOpen,
            },
            failures: v.failures,
            opened_at: v.opened_at,
            next_probe_at: v.next_probe_at,
            last_error: v.last_error,
        }
    }
}

#[derive(SimpleObject)]
pub struct Health {
    pub hotel_id: ID,
    /// The adapter's live health check (not made while the circuit is open).
    pub pms: PmsHealth,
    /// The hotel's PMS circuit breaker.
    pub circuit: Circuit,
    /// The outcome of the latest sync run, if any ran.
    pub last_sync: Option<SyncRun>,
}

impl Health {
    pub fn new(hotel: &HotelId, h: HotelHealth) -> Self {
        Self {
            hotel_id: ID(hotel.to_string()),
            pms: PmsHealth {
                provider: h.pms.provider.into(),
                healthy: h.pms.healthy,
                latency_ms: h.pms.latency_ms,
                message: h.pms.message,
                checked_at: h.pms.checked_at,
            },
            circuit: h.circuit.into(),
            last_sync: h.last_sync.map(Into::into),
        }
    }
}
