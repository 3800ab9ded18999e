//! The mock PMS: a deterministic, seeded, in-memory hotel that implements every operation.
//! Writes change its state (a charge changes the balance, a note appears on the reservation),
//! so flows can be exercised end to end without a vendor. It is the local demo hotel's PMS.
//!
//! State is shared per hotel within a process (a registry keyed by hotel id), so every adapter
//! built for the same hotel in one process sees the same hotel. Separate processes (separate
//! Lambdas) start from the same seed but do not share writes: use the vendor simulators for
//! cross-process behaviour.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use pms_domain::domain::{
    hash::sha256_hex, BusinessDate, Capabilities, Charge, ChargeReceipt, CheckoutChange,
    ConfirmationNumber, Currency, DeltaSupport, ExternalId, Guest, GuestQuery, GuestSummary,
    HealthStatus, HotelId, Housekeeping, Money, Note, Occupancy, Preference, PreferenceSource,
    PropertyTz, Provider, RecordId, Reservation, ReservationStatus, RoomNumber, RoomStatus,
    RoomTypeCode, WriteReceipt,
};
use pms_domain::pms::{
    ChangeWindow, Fetched, ItemFailure, PmsAdapter, PmsError, PmsResult, UnavailableCause,
};
use pms_domain::ports::Clock;

/// How big the seeded hotel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MockSize {
    pub rooms: u32,
    pub reservations: u32,
    pub guests: u32,
}

impl Default for MockSize {
    fn default() -> Self {
        Self {
            rooms: 40,
            reservations: 60,
            guests: 50,
        }
    }
}

/// A failure the mock answers every call with while it is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MockFault {
    Unavailable,
    Timeout,
    RateLimited(Duration),
    Unauthorized,
    /// An answer that cannot be read: whether a write was applied is unknown.
    Garbled,
}

impl MockFault {
    fn to_error(&self) -> PmsError {
        let request_id = Some(format!("mock-{}", uuid::Uuid::new_v4()));
        match self {
            MockFault::Unavailable => PmsError::Unavailable {
                cause: UnavailableCause::Http(503),
                message: "mock PMS is down".into(),
                request_id,
            },
            MockFault::Timeout => PmsError::Unavailable {
                cause: UnavailableCause::Timeout,
                message: "mock PMS timed out".into(),
                request_id,
            },
            MockFault::RateLimited(d) => PmsError::RateLimited {
                retry_after: Some(*d),
                request_id,
            },
            MockFault::Unauthorized => PmsError::Unauthorized {
                message: "mock credentials revoked".into(),
                request_id,
            },
            MockFault::Garbled => PmsError::Protocol {
                message: "mock PMS answered something unreadable".into(),
                request_id,
            },
        }
    }
}

/// A charge on a mock folio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedCharge {
    pub posting_id: String,
    pub charge: Charge,
    pub posted_at: DateTime<Utc>,
}

struct MockState {
    guests: BTreeMap<ExternalId, Guest>,
    reservations: BTreeMap<ConfirmationNumber, Reservation>,
    folios: HashMap<ConfirmationNumber, Vec<PostedCharge>>,
    rooms: BTreeMap<RoomNumber, RoomStatus>,
}

/// One mock hotel: its state, its faults and its call counters.
pub struct MockPms {
    hotel: HotelId,
    tz: PropertyTz,
    currency: Currency,
    clock: Arc<dyn Clock>,
    state: Mutex<MockState>,
    fault: Mutex<Option<MockFault>>,
    /// How long every call takes (after it is counted, before its answer).
    latency: Mutex<Duration>,
    failing_items: Mutex<Vec<String>>,
    /// Vendor-style room ids (Mews resource GUIDs, Cloudbeds roomIDs) standing for room numbers,
    /// so thin webhook events can name rooms the way real vendors do.
    room_ids: Mutex<HashMap<ExternalId, RoomNumber>>,
    calls: AtomicU64,
    calls_by_op: Mutex<BTreeMap<&'static str, u64>>,
}

static REGISTRY: LazyLock<Mutex<HashMap<HotelId, Arc<MockPms>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

const FIRST: &[&str] = &[
    "Sarah", "James", "Aiko", "Luca", "Amara", "Noah", "Elena", "Mateo", "Priya", "Oliver",
    "Sofia", "Kenji", "Chloe", "Omar", "Ingrid", "Rafael", "Mei", "Jonas", "Leila", "Tomas",
];
const LAST: &[&str] = &[
    "Chen", "Smith", "Tanaka", "Rossi", "Okafor", "Müller", "Garcia", "Novak", "Patel", "Brown",
    "Silva", "Kowalski", "Dubois", "Haddad", "Larsen", "Costa", "Wong", "Fischer", "Nasser",
    "Berg",
];
const ROOM_TYPES: &[&str] = &["KING", "QUEEN", "TWIN", "SUITE"];
const LANGS: &[&str] = &["en", "de", "ja", "it", "fr", "es", "cs"];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MockPms {
    /// The process-wide mock hotel for `hotel`, seeded on first use.
    pub fn shared(
        hotel: &HotelId,
        tz: PropertyTz,
        currency: Currency,
        clock: Arc<dyn Clock>,
    ) -> Arc<MockPms> {
        lock(&REGISTRY)
            .entry(hotel.clone())
            .or_insert_with(|| {
                Arc::new(MockPms::seeded(
                    hotel.clone(),
                    tz,
                    currency,
                    clock,
                    MockSize::default(),
                ))
            })
            .clone()
    }

    /// A fresh mock hotel, seeded from the hotel id and today's business date (so the demo
    /// always has arrivals today), not registered.
    pub fn seeded(
        hotel: HotelId,
        tz: PropertyTz,
        currency: Currency,
        clock: Arc<dyn Clock>,
        size: MockSize,
    ) -> MockPms {
        let now = clock.now();
        let seed =
            u64::from_str_radix(&sha256_hex(hotel.as_str().as_bytes())[..16], 16).unwrap_or(7);
        let state = seed_state(seed, tz, currency, now, size);
        MockPms {
            hotel,
            tz,
            currency,
            clock,
            state: Mutex::new(state),
            fault: Mutex::new(None),
            latency: Mutex::new(Duration::ZERO),
            failing_items: Mutex::new(Vec::new()),
            room_ids: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
            calls_by_op: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn hotel(&self) -> &HotelId {
        &self.hotel
    }

    pub fn time_zone(&self) -> PropertyTz {
        self.tz
    }

    /// Every call fails with `fault` until cleared.
    pub fn set_fault(&self, fault: Option<MockFault>) {
        *lock(&self.fault) = fault;
    }

    /// Every call takes `latency` from now on (a slow PMS).
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    /// List reads report the record with this vendor id as failed (a bad record).
    pub fn fail_item(&self, external_id: &str) {
        lock(&self.failing_items).push(external_id.to_owned());
    }

    pub fn clear_item_failures(&self) {
        lock(&self.failing_items).clear();
    }

    pub fn calls(&self, operation: &str) -> u64 {
        lock(&self.calls_by_op).get(operation).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Charges posted to a reservation's folio.
    pub fn charges(&self, confirmation: &ConfirmationNumber) -> Vec<PostedCharge> {
        lock(&self.state)
            .folios
            .get(confirmation)
            .cloned()
            .unwrap_or_default()
    }

    pub fn reservations(&self) -> Vec<Reservation> {
        lock(&self.state).reservations.values().cloned().collect()
    }

    pub fn guests(&self) -> Vec<Guest> {
        lock(&self.state).guests.values().cloned().collect()
    }

    /// Changes a reservation as staff at the PMS would, stamping a new update time.
    pub fn modify_reservation(
        &self,
        confirmation: &ConfirmationNumber,
        change: impl FnOnce(&mut Reservation),
    ) -> Option<Reservation> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let r = state.reservations.get_mut(confirmation)?;
        change(r);
        stamp(r, now);
        Some(r.clone())
    }

    /// Adds a reservation (for tests and the demo's "new booking").
    pub fn insert_reservation(&self, reservation: Reservation) {
        lock(&self.state)
            .reservations
            .insert(reservation.confirmation_number.clone(), reservation);
    }

    pub fn set_room(&self, status: RoomStatus) {
        lock(&self.state)
            .rooms
            .insert(status.room_number.clone(), status);
    }

    /// Sets a room and the vendor id it is known by (what a thin webhook event carries).
    pub fn set_room_with_id(&self, id: ExternalId, status: RoomStatus) {
        lock(&self.room_ids).insert(id, status.room_number.clone());
        self.set_room(status);
    }

    /// Adds or replaces a guest profile (for tests and the demo).
    pub fn insert_guest(&self, guest: Guest) {
        let id = guest.id.external().clone();
        lock(&self.state).guests.insert(id, guest);
    }

    async fn enter(&self, op: &'static str) -> PmsResult<()> {
        // Like a vendor request: not made when it could not finish before the caller's deadline.
        pms_domain::pms::deadline::admit()?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        *lock(&self.calls_by_op).entry(op).or_default() += 1;
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match &*lock(&self.fault) {
            Some(f) => Err(f.to_error()),
            None => Ok(()),
        }
    }

    fn receipt(&self) -> WriteReceipt {
        WriteReceipt {
            vendor_id: None,
            request_id: Some(format!("mock-{}", uuid::Uuid::new_v4())),
        }
    }

    fn fetched(&self, items: Vec<Reservation>) -> Fetched<Reservation> {
        let failing = lock(&self.failing_items).clone();
        let (bad, good): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|r| failing.iter().any(|f| f == r.id.external().as_str()));
        Fetched {
            items: good,
            failures: bad
                .into_iter()
                .map(|r| ItemFailure {
                    id: r.id.external().to_string(),
                    code: "PMS_PROTOCOL".into(),
                    message: "mock: record could not be read".into(),
                })
                .collect(),
        }
    }

    fn select(&self, pred: impl Fn(&Reservation) -> bool) -> Vec<Reservation> {
        lock(&self.state)
            .reservations
            .values()
            .filter(|r| pred(r))
            .cloned()
            .collect()
    }
}

fn stamp(r: &mut Reservation, now: DateTime<Utc>) {
    // Strictly increasing even for writes within the same millisecond.
    let v = Reservation::version_from(Some(now)).max(r.version + 1);
    r.version = v;
    r.source_updated_at = Some(now);
}

#[allow(
    clippy::expect_used,
    reason = "a fixed data set: every id and time is valid by construction (its tests build it)"
)]
fn seed_state(
    seed: u64,
    tz: PropertyTz,
    currency: Currency,
    now: DateTime<Utc>,
    size: MockSize,
) -> MockState {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let today = tz.business_date(now);
    let pick =
        |rng: &mut Xoshiro256PlusPlus, list: &[&'static str]| list[rng.random_range(0..list.len())];

    let mut guests = BTreeMap::new();
    for i in 0..size.guests.max(1) {
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let id = ExternalId::parse(format!("g-{:05}", i + 1)).expect("static id");
        let tier = ["GOLD", "SILVER", "PLATINUM"];
        let mut prefs = Vec::new();
        if rng.random_bool(0.4) {
            prefs.push(Preference {
                category: "ROOM".into(),
                key: ["HIGH_FLOOR", "QUIET", "NEAR_LIFT"][rng.random_range(0..3)].into(),
                value: "requested".into(),
                source: PreferenceSource::Pms,
            });
        }
        let updated = now - chrono::Duration::days(rng.random_range(1..400));
        guests.insert(
            id.clone(),
            Guest {
                id: RecordId::new(crate::PROVIDER, id),
                external_ids: BTreeMap::from([("profile".to_owned(), format!("P{}", 50000 + i))]),
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                email: Some(format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase().replace('ü', "u"),
                    i + 1
                )),
                phone: Some(format!("+1 555 01{:02} {:04}", i % 100, 1000 + i)),
                language: Some(pick(&mut rng, LANGS).into()),
                loyalty_tier: rng
                    .random_bool(0.3)
                    .then(|| tier[rng.random_range(0..3)].into()),
                vip: rng.random_bool(0.1),
                preferences: prefs,
                source_updated_at: Some(updated),
                version: Reservation::version_from(Some(updated)),
            },
        );
    }
    let guest_list: Vec<Guest> = guests.values().cloned().collect();

    let floors = (size.rooms.max(1)).div_ceil(20);
    let mut rooms = BTreeMap::new();
    let mut room_numbers = Vec::new();
    for i in 0..size.rooms.max(1) {
        let floor = 1 + i / 20.min(size.rooms.max(1));
        let number = RoomNumber::parse(format!("{}{:02}", floor, 1 + i % 20)).expect("room");
        room_numbers.push(number.clone());
        let hk = [
            Housekeeping::Clean,
            Housekeeping::Dirty,
            Housekeeping::Inspected,
            Housekeeping::Pickup,
        ];
        let housekeeping = if rng.random_bool(0.03) {
            Housekeeping::OutOfOrder
        } else {
            hk[rng.random_range(0..hk.len())]
        };
        rooms.insert(
            number.clone(),
            RoomStatus {
                room_number: number,
                room_type: Some(
                    RoomTypeCode::parse(ROOM_TYPES[(i as usize) % ROOM_TYPES.len()]).expect("type"),
                ),
                occupancy: Occupancy::Vacant,
                housekeeping,
                raw_status: None,
                floor: Some(floor.min(floors).to_string()),
                do_not_disturb: false,
                source_updated_at: Some(now),
            },
        );
    }

    let mut reservations = BTreeMap::new();
    for i in 0..size.reservations {
        let arrival = today.add_days(rng.random_range(-5..=10));
        let nights = rng.random_range(1..=5);
        let departure = arrival.add_days(nights);
        let status = if departure < today {
            if rng.random_bool(0.05) {
                ReservationStatus::NoShow
            } else {
                ReservationStatus::CheckedOut
            }
        } else if arrival < today || (arrival == today && rng.random_bool(0.5)) {
            ReservationStatus::CheckedIn
        } else if rng.random_bool(0.05) {
            ReservationStatus::Cancelled
        } else {
            ReservationStatus::Confirmed
        };
        let room = (status != ReservationStatus::Cancelled && status != ReservationStatus::NoShow)
            .then(|| room_numbers[(i as usize) % room_numbers.len()].clone());
        let guest = &guest_list[rng.random_range(0..guest_list.len())];
        let rate = rng.random_range(120..=350) as i64 * 10i64.pow(currency.exponent() as u32);
        let total = Money::new(rate * nights, currency);
        let paid = if status == ReservationStatus::CheckedOut {
            total.amount_minor
        } else {
            0
        };
        let updated = now - chrono::Duration::minutes(rng.random_range(30..10_000));
        let ext = ExternalId::parse(format!("r-{:05}", i + 1)).expect("static id");
        let confirmation =
            ConfirmationNumber::parse(format!("{}", 700_000 + i * 7 + 3)).expect("conf");
        let raw = match status {
            ReservationStatus::Confirmed => "RESERVED",
            ReservationStatus::CheckedIn => "IN_HOUSE",
            ReservationStatus::CheckedOut => "CHECKED_OUT",
            ReservationStatus::Cancelled => "CANCELLED",
            ReservationStatus::NoShow => "NO_SHOW",
        };
        let reservation = Reservation {
            id: RecordId::new(crate::PROVIDER, ext),
            confirmation_number: confirmation.clone(),
            guest: Some(GuestSummary {
                id: Some(guest.id.clone()),
                first_name: guest.first_name.clone(),
                last_name: guest.last_name.clone(),
                email: guest.email.clone(),
                phone: guest.phone.clone(),
            }),
            room_type: room
                .as_ref()
                .and_then(|n| rooms.get(n))
                .and_then(|r: &RoomStatus| r.room_type.clone())
                .or_else(|| RoomTypeCode::parse(ROOM_TYPES[0]).ok()),
            room_number: room.clone(),
            arrival,
            departure,
            expected_arrival_time: Some(NaiveTime::from_hms_opt(15, 0, 0).expect("time")),
            expected_departure_time: Some(NaiveTime::from_hms_opt(11, 0, 0).expect("time")),
            status,
            raw_status: raw.into(),
            adults: rng.random_range(1..=3),
            children: if rng.random_bool(0.2) { 1 } else { 0 },
            rate_code: Some(["BAR", "CORP", "AAA", "PKG"][rng.random_range(0..4)].into()),
            total: Some(total),
            balance: Some(Money::new(total.amount_minor - paid, currency)),
            special_requests: if rng.random_bool(0.2) {
                vec!["Late arrival".into()]
            } else {
                vec![]
            },
            notes: vec![],
            source_updated_at: Some(updated),
            version: Reservation::version_from(Some(updated)),
            not_carried: Default::default(),
        };
        if status == ReservationStatus::CheckedIn {
            if let Some(r) = room.as_ref().and_then(|n| rooms.get_mut(n)) {
                r.occupancy = Occupancy::Occupied;
                // An occupied room is in service.
                if r.housekeeping == Housekeeping::OutOfOrder {
                    r.housekeeping = Housekeeping::Dirty;
                }
            }
        }
        reservations.insert(confirmation, reservation);
    }
    MockState {
        guests,
        reservations,
        folios: HashMap::new(),
        rooms,
    }
}

/// The adapter over a [`MockPms`].
#[derive(Clone)]
pub struct MockAdapter {
    pms: Arc<MockPms>,
}

impl MockAdapter {
    pub fn new(pms: Arc<MockPms>) -> Self {
        Self { pms }
    }

    pub fn pms(&self) -> &Arc<MockPms> {
        &self.pms
    }
}

#[async_trait]
impl PmsAdapter for MockAdapter {
    fn provider(&self) -> Provider {
        crate::PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: crate::PROVIDER,
            search_by_name: true,
            search_by_email: true,
            search_by_phone: true,
            update_preferences: true,
            add_note: true,
            checkout_date: true,
            checkout_time: true,
            post_charge: true,
            native_charge_idempotency: false,
            find_charge_by_reference: true,
            balance: true,
            room_status: true,
            // The mock PMS serves partner-pushed availability only.
            availability: false,
            delta: DeltaSupport::ModifiedSince,
        }
    }

    fn calls_made(&self) -> u64 {
        self.pms.total_calls()
    }

    async fn connect(&self) -> PmsResult<()> {
        self.pms.enter("connect").await
    }

    async fn disconnect(&self) -> PmsResult<()> {
        Ok(())
    }

    async fn health_check(&self) -> HealthStatus {
        let started = std::time::Instant::now();
        let result = self.pms.enter("health_check").await;
        HealthStatus {
            provider: crate::PROVIDER,
            healthy: result.is_ok(),
            latency_ms: started.elapsed().as_millis() as u64,
            message: result.err().map(|e| e.to_string()),
            checked_at: self.pms.clock.now(),
        }
    }

    async fn get_guest(&self, guest_id: &ExternalId) -> PmsResult<Option<Guest>> {
        self.pms.enter("get_guest").await?;
        Ok(lock(&self.pms.state).guests.get(guest_id).cloned())
    }

    async fn search_guests(&self, query: &GuestQuery) -> PmsResult<Vec<Guest>> {
        query
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        self.pms.enter("search_guests").await?;
        Ok(lock(&self.pms.state)
            .guests
            .values()
            .filter(|g| query.matches(g))
            .cloned()
            .collect())
    }

    async fn update_guest_preferences(
        &self,
        guest_id: &ExternalId,
        preferences: &[Preference],
    ) -> PmsResult<WriteReceipt> {
        self.pms.enter("update_guest_preferences").await?;
        let now = self.pms.clock.now();
        let mut state = lock(&self.pms.state);
        let guest = state
            .guests
            .get_mut(guest_id)
            .ok_or_else(|| PmsError::not_found(format!("guest {guest_id}")))?;
        for p in preferences {
            guest
                .preferences
                .retain(|e| !(e.category == p.category && e.key == p.key));
            guest.preferences.push(p.clone());
        }
        guest.source_updated_at = Some(now);
        guest.version = Reservation::version_from(Some(now)).max(guest.version + 1);
        Ok(self.pms.receipt())
    }

    async fn get_reservation(
        &self,
        confirmation: &ConfirmationNumber,
    ) -> PmsResult<Option<Reservation>> {
        self.pms.enter("get_reservation").await?;
        Ok(lock(&self.pms.state)
            .reservations
            .get(confirmation)
            .cloned())
    }

    async fn get_reservation_by_id(&self, id: &ExternalId) -> PmsResult<Option<Reservation>> {
        self.pms.enter("get_reservation_by_id").await?;
        let failing = lock(&self.pms.failing_items)
            .iter()
            .any(|f| f == id.as_str());
        if failing {
            return Err(PmsError::protocol(format!(
                "mock: reservation {id} could not be read"
            )));
        }
        Ok(self.pms.select(|r| r.id.external() == id).pop())
    }

    async fn arrivals(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        self.pms.enter("arrivals").await?;
        let items = self.pms.select(|r| {
            r.arrival == date
                && matches!(
                    r.status,
                    ReservationStatus::Confirmed | ReservationStatus::CheckedIn
                )
        });
        Ok(self.pms.fetched(items))
    }

    async fn departures(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        self.pms.enter("departures").await?;
        let items = self.pms.select(|r| {
            r.departure == date
                && matches!(
                    r.status,
                    ReservationStatus::CheckedIn | ReservationStatus::CheckedOut
                )
        });
        Ok(self.pms.fetched(items))
    }

    async fn in_house(&self) -> PmsResult<Fetched<Reservation>> {
        self.pms.enter("in_house").await?;
        let items = self
            .pms
            .select(|r| r.status == ReservationStatus::CheckedIn);
        Ok(self.pms.fetched(items))
    }

    async fn add_reservation_note(
        &self,
        confirmation: &ConfirmationNumber,
        note: &Note,
    ) -> PmsResult<WriteReceipt> {
        note.validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        self.pms.enter("add_reservation_note").await?;
        self.pms
            .modify_reservation(confirmation, |r| r.notes.push(note.text.clone()))
            .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))?;
        Ok(self.pms.receipt())
    }

    async fn update_checkout(
        &self,
        confirmation: &ConfirmationNumber,
        change: &CheckoutChange,
    ) -> PmsResult<WriteReceipt> {
        self.pms.enter("update_checkout").await?;
        let current = self
            .pms
            .select(|r| &r.confirmation_number == confirmation)
            .pop()
            .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))?;
        if change.date <= current.arrival {
            return Err(PmsError::invalid(format!(
                "departure {} must be after arrival {}",
                change.date, current.arrival
            )));
        }
        if current.status.is_final() {
            return Err(PmsError::invalid(format!(
                "reservation is {} and cannot change its departure",
                current.status
            )));
        }
        self.pms.modify_reservation(confirmation, |r| {
            r.departure = change.date;
            if let Some(t) = change.time {
                r.expected_departure_time = Some(t);
            }
        });
        Ok(self.pms.receipt())
    }

    async fn post_charge(
        &self,
        confirmation: &ConfirmationNumber,
        charge: &Charge,
    ) -> PmsResult<ChargeReceipt> {
        charge
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        self.pms.enter("post_charge").await?;
        if charge.amount.currency != self.pms.currency {
            return Err(PmsError::invalid(format!(
                "the folio is in {}, not {}",
                self.pms.currency, charge.amount.currency
            )));
        }
        let now = self.pms.clock.now();
        let posting_id = format!("post-{}", uuid::Uuid::new_v4());
        {
            let mut state = lock(&self.pms.state);
            let r = state
                .reservations
                .get_mut(confirmation)
                .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))?;
            if r.status != ReservationStatus::CheckedIn && r.status != ReservationStatus::Confirmed
            {
                return Err(PmsError::invalid(format!(
                    "cannot post to a {} reservation",
                    r.status
                )));
            }
            let balance = r.balance.unwrap_or(Money::zero(self.pms.currency));
            r.balance = balance.checked_add(charge.amount);
            stamp(r, now);
            state
                .folios
                .entry(confirmation.clone())
                .or_default()
                .push(PostedCharge {
                    posting_id: posting_id.clone(),
                    charge: charge.clone(),
                    posted_at: now,
                });
        }
        Ok(ChargeReceipt {
            vendor_id: Some(posting_id),
            reference: charge.reference.clone(),
            request_id: self.pms.receipt().request_id,
            existed: false,
        })
    }

    async fn find_charge(
        &self,
        confirmation: &ConfirmationNumber,
        reference: &str,
    ) -> PmsResult<Option<ChargeReceipt>> {
        self.pms.enter("find_charge").await?;
        Ok(self
            .pms
            .charges(confirmation)
            .into_iter()
            .find(|c| c.charge.reference == reference)
            .map(|c| ChargeReceipt {
                vendor_id: Some(c.posting_id),
                reference: reference.to_owned(),
                request_id: None,
                existed: true,
            }))
    }

    async fn get_balance(&self, confirmation: &ConfirmationNumber) -> PmsResult<Money> {
        self.pms.enter("get_balance").await?;
        lock(&self.pms.state)
            .reservations
            .get(confirmation)
            .map(|r| r.balance.unwrap_or(Money::zero(self.pms.currency)))
            .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))
    }

    async fn room_status(&self, room: &RoomNumber) -> PmsResult<Option<RoomStatus>> {
        self.pms.enter("room_status").await?;
        Ok(lock(&self.pms.state).rooms.get(room).cloned())
    }

    async fn room_statuses(&self) -> PmsResult<Vec<RoomStatus>> {
        self.pms.enter("room_statuses").await?;
        Ok(lock(&self.pms.state).rooms.values().cloned().collect())
    }

    async fn room_status_by_id(&self, id: &ExternalId) -> PmsResult<Option<RoomStatus>> {
        self.pms.enter("room_status_by_id").await?;
        // The mock's room ids are its room numbers, unless a vendor-style id was registered.
        let aliased = lock(&self.pms.room_ids).get(id).cloned();
        let Some(number) = aliased.or_else(|| RoomNumber::parse(id.as_str()).ok()) else {
            return Ok(None);
        };
        Ok(lock(&self.pms.state).rooms.get(&number).cloned())
    }

    async fn reservations_changed(&self, window: ChangeWindow) -> PmsResult<Fetched<Reservation>> {
        self.pms.enter("reservations_changed").await?;
        let items = self.pms.select(|r| {
            r.source_updated_at
                .is_some_and(|t| t >= window.from && t <= window.to)
        });
        Ok(self.pms.fetched(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::ports::ManualClock;

    fn hotel() -> (Arc<MockPms>, MockAdapter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ));
        let pms = Arc::new(MockPms::seeded(
            HotelId::parse("demo").unwrap(),
            PropertyTz::parse("Europe/Prague").unwrap(),
            Currency::eur(),
            clock.clone(),
            MockSize::default(),
        ));
        (pms.clone(), MockAdapter::new(pms), clock)
    }

    #[test]
    fn seeding_is_deterministic() {
        let (a, _, _) = hotel();
        let (b, _, _) = hotel();
        assert_eq!(a.reservations(), b.reservations());
        assert_eq!(a.guests(), b.guests());
        assert_eq!(a.reservations().len(), 60);
        for r in a.reservations() {
            r.validate().unwrap();
        }
    }

    #[tokio::test]
    async fn a_charge_changes_the_balance_and_is_findable() {
        let (pms, adapter, _) = hotel();
        let r = pms
            .reservations()
            .into_iter()
            .find(|r| r.status == ReservationStatus::CheckedIn)
            .expect("an in-house reservation");
        let before = adapter.get_balance(&r.confirmation_number).await.unwrap();
        let charge = Charge {
            amount: Money::new(2550, Currency::eur()),
            description: "Minibar".into(),
            revenue_center: None,
            reference: "op-1".into(),
        };
        adapter
            .post_charge(&r.confirmation_number, &charge)
            .await
            .unwrap();
        let after = adapter.get_balance(&r.confirmation_number).await.unwrap();
        assert_eq!(after.amount_minor - before.amount_minor, 2550);
        assert!(adapter
            .find_charge(&r.confirmation_number, "op-1")
            .await
            .unwrap()
            .is_some());
        assert!(adapter
            .find_charge(&r.confirmation_number, "op-2")
            .await
            .unwrap()
            .is_none());
        // No native idempotency: the writer must prevent a second post.
        assert!(!adapter.capabilities().native_charge_idempotency);
    }

    #[tokio::test]
    async fn reads_follow_dates_and_writes_bump_versions() {
        let (pms, adapter, clock) = hotel();
        let today = BusinessDate::parse("2026-12-01").unwrap();
        let arrivals = adapter.arrivals(today).await.unwrap();
        assert!(arrivals.items.iter().all(|r| r.arrival == today));
        let in_house = adapter.in_house().await.unwrap();
        assert!(!in_house.items.is_empty());
        let r = &in_house.items[0];
        clock.advance(chrono::Duration::minutes(1));
        let window_start = clock.now();
        adapter
            .add_reservation_note(
                &r.confirmation_number,
                &Note {
                    text: "Allergic to feathers".into(),
                    title: None,
                    internal: false,
                },
            )
            .await
            .unwrap();
        let changed = adapter
            .reservations_changed(ChangeWindow {
                from: window_start,
                to: clock.now(),
            })
            .await
            .unwrap();
        assert_eq!(changed.items.len(), 1);
        assert!(changed.items[0].version > r.version);
        assert_eq!(changed.items[0].notes, ["Allergic to feathers"]);
        assert_eq!(pms.calls("add_reservation_note"), 1);
    }

    #[tokio::test]
    async fn faults_and_item_failures() {
        let (pms, adapter, _) = hotel();
        pms.set_fault(Some(MockFault::Unavailable));
        let err = adapter.in_house().await.unwrap_err();
        assert!(err.is_retryable());
        assert!(err.request_id().is_some());
        assert!(!adapter.health_check().await.healthy);
        pms.set_fault(None);
        let first = adapter.in_house().await.unwrap().items[0]
            .id
            .external()
            .to_string();
        pms.fail_item(&first);
        let listed = adapter.in_house().await.unwrap();
        assert_eq!(listed.failures.len(), 1);
        assert_eq!(listed.failures[0].id, first);
    }
}
