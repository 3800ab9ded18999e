//! The simulated hotels' data, vendor-neutral. Each vendor module renders it in its own wire
//! format (OHIP JSON, Mews JSON, Cloudbeds JSON) and applies writes to it, so one seeded hotel
//! looks the same through every protocol and tests can change data without speaking a vendor.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimStatus {
    Confirmed,
    InHouse,
    CheckedOut,
    Cancelled,
    NoShow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimHousekeeping {
    Clean,
    Dirty,
    Inspected,
    Pickup,
    OutOfOrder,
    OutOfService,
}

/// One room type on one night (see [`SimHotel::night`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimNight {
    /// Rooms of the type.
    pub total: u32,
    pub out_of_order: u32,
    /// Stays (confirmed or in house) of the type that include the night.
    pub occupied: u32,
}

impl SimNight {
    /// Rooms that can still be sold: neither out of order nor taken (never below zero: the
    /// simulated hotels may be overbooked).
    pub fn available(&self) -> u32 {
        self.total
            .saturating_sub(self.out_of_order)
            .saturating_sub(self.occupied)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimRoom {
    /// The vendor's id of the room (a GUID for Mews, a number-like id elsewhere).
    pub id: String,
    pub number: String,
    pub room_type: String,
    pub floor: u32,
    pub housekeeping: SimHousekeeping,
    pub occupied: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimPreference {
    pub category: String,
    pub code: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimGuest {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub language: String,
    pub loyalty_tier: Option<String>,
    pub vip: bool,
    pub preferences: Vec<SimPreference>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimReservation {
    pub id: String,
    pub confirmation: String,
    pub guest_id: String,
    pub room_id: Option<String>,
    pub room_type: String,
    /// Property-local dates and times.
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
    pub arrival_time: NaiveTime,
    pub departure_time: NaiveTime,
    pub status: SimStatus,
    /// A vendor status to report instead of the one derived from `status` (to exercise every
    /// value of a vendor's enum).
    pub raw_status: Option<String>,
    pub adults: u32,
    pub children: u32,
    pub rate_code: String,
    pub nightly_rate_minor: i64,
    pub payments_minor: i64,
    pub notes: Vec<String>,
    pub special_requests: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SimReservation {
    pub fn nights(&self) -> i64 {
        (self.departure - self.arrival).num_days().max(0)
    }
    pub fn total_minor(&self) -> i64 {
        self.nightly_rate_minor * self.nights()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimCharge {
    pub id: String,
    pub reservation_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    /// The caller's reference (Cloudbeds `referenceID`, OHIP posting reference, Mews item
    /// `ExternalIdentifier`).
    pub reference: Option<String>,
    pub revenue_center: Option<String>,
    pub posted_at: DateTime<Utc>,
    /// Free text posted with it (Mews: the order's `Notes`, listed on its items).
    #[serde(default)]
    pub notes: Option<String>,
}

/// One simulated property.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimHotel {
    /// The vendor's id of the property (OHIP hotel code, Mews enterprise id, Cloudbeds propertyID).
    pub property_id: String,
    pub time_zone: Tz,
    pub currency: String,
    /// Digits after the decimal point of `currency`.
    pub currency_exponent: u32,
    pub rooms: Vec<SimRoom>,
    pub guests: Vec<SimGuest>,
    pub reservations: Vec<SimReservation>,
    pub charges: Vec<SimCharge>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSize {
    pub rooms: u32,
    pub reservations: u32,
    pub guests: u32,
}

impl Default for SimSize {
    fn default() -> Self {
        Self {
            rooms: 40,
            reservations: 120,
            guests: 80,
        }
    }
}

const FIRST: &[&str] = &[
    "Sarah", "James", "Aiko", "Luca", "Amara", "Noah", "Elena", "Mateo", "Priya", "Oliver",
    "Sofia", "Kenji", "Chloe", "Omar", "Ingrid", "Rafael", "Mei", "Jonas", "Leila", "Tomas",
];
const LAST: &[&str] = &[
    "Chen", "Smith", "Tanaka", "Rossi", "Okafor", "Muller", "Garcia", "Novak", "Patel", "Brown",
    "Silva", "Kowalski", "Dubois", "Haddad", "Larsen", "Costa", "Wong", "Fischer", "Nasser",
    "Berg",
];
const TYPES: &[&str] = &["KING", "QUEEN", "TWIN", "SUITE"];

/// Id styles per vendor, so a simulated hotel's ids look like the vendor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdStyle {
    /// Mews: GUIDs.
    Guid,
    /// OHIP and Cloudbeds: digit strings.
    Numeric,
}

fn make_id(rng: &mut Xoshiro256PlusPlus, style: IdStyle, n: u64) -> String {
    match style {
        IdStyle::Guid => {
            let bytes: [u8; 16] = rng.random();
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string()
        }
        IdStyle::Numeric => format!("{}", 100_000 + n),
    }
}

impl SimHotel {
    /// A deterministic hotel for `seed`, with stays around `now`'s local date.
    #[allow(clippy::too_many_arguments)]
    pub fn seeded(
        property_id: &str,
        time_zone: Tz,
        currency: &str,
        currency_exponent: u32,
        size: SimSize,
        seed: u64,
        style: IdStyle,
        now: DateTime<Utc>,
    ) -> SimHotel {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let today = now.with_timezone(&time_zone).date_naive();
        let unit = 10i64.pow(currency_exponent);
        let rooms: Vec<SimRoom> = (0..size.rooms.max(1))
            .map(|i| {
                let floor = 1 + i / 20;
                let hk = [
                    SimHousekeeping::Clean,
                    SimHousekeeping::Dirty,
                    SimHousekeeping::Inspected,
                    SimHousekeeping::Pickup,
                ];
                SimRoom {
                    id: make_id(&mut rng, style, 5000 + u64::from(i)),
                    number: format!("{floor}{:02}", 1 + i % 20),
                    room_type: TYPES[i as usize % TYPES.len()].into(),
                    floor,
                    housekeeping: if rng.random_bool(0.03) {
                        SimHousekeeping::OutOfOrder
                    } else {
                        hk[rng.random_range(0..hk.len())]
                    },
                    occupied: false,
                    updated_at: now - Duration::minutes(rng.random_range(1..600)),
                }
            })
            .collect();
        let guests: Vec<SimGuest> = (0..size.guests.max(1))
            .map(|i| {
                let first = FIRST[rng.random_range(0..FIRST.len())];
                let last = LAST[rng.random_range(0..LAST.len())];
                let created = now - Duration::days(rng.random_range(30..900));
                SimGuest {
                    id: make_id(&mut rng, style, 20_000 + u64::from(i)),
                    first_name: first.into(),
                    last_name: last.into(),
                    email: format!(
                        "{}.{}{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        i + 1
                    ),
                    phone: format!("+1555{:07}", 1_000_000 + i),
                    language: ["en", "de", "ja", "fr", "es"][rng.random_range(0..5)].into(),
                    loyalty_tier: rng
                        .random_bool(0.3)
                        .then(|| ["GOLD", "SILVER", "PLATINUM"][rng.random_range(0..3)].to_owned()),
                    vip: rng.random_bool(0.1),
                    preferences: if rng.random_bool(0.4) {
                        vec![SimPreference {
                            category: "ROOM".into(),
                            code: ["HIGH", "QUIET", "NOSMK"][rng.random_range(0..3)].into(),
                            description: "Requested".into(),
                        }]
                    } else {
                        vec![]
                    },
                    notes: String::new(),
                    created_at: created,
                    updated_at: created + Duration::days(rng.random_range(0..20)),
                }
            })
            .collect();
        let mut hotel = SimHotel {
            property_id: property_id.to_owned(),
            time_zone,
            currency: currency.to_owned(),
            currency_exponent,
            rooms,
            guests,
            reservations: Vec::new(),
            charges: Vec::new(),
        };
        for i in 0..size.reservations {
            let arrival = today + Duration::days(rng.random_range(-5..=10));
            let departure = arrival + Duration::days(rng.random_range(1..=5));
            let status = if departure < today {
                if rng.random_bool(0.05) {
                    SimStatus::NoShow
                } else {
                    SimStatus::CheckedOut
                }
            } else if arrival < today || (arrival == today && rng.random_bool(0.5)) {
                SimStatus::InHouse
            } else if rng.random_bool(0.05) {
                SimStatus::Cancelled
            } else {
                SimStatus::Confirmed
            };
            let room_idx = i as usize % hotel.rooms.len();
            let room_id = matches!(
                status,
                SimStatus::InHouse | SimStatus::CheckedOut | SimStatus::Confirmed
            )
            .then(|| hotel.rooms[room_idx].id.clone());
            if status == SimStatus::InHouse {
                let room = &mut hotel.rooms[room_idx];
                room.occupied = true;
                // An occupied room is in service.
                if room.housekeeping == SimHousekeeping::OutOfOrder {
                    room.housekeeping = SimHousekeeping::Dirty;
                }
            }
            let guest_id = hotel.guests[rng.random_range(0..hotel.guests.len())]
                .id
                .clone();
            let created = now - Duration::days(rng.random_range(1..60));
            let nightly = rng.random_range(120..=350) * unit;
            let r = SimReservation {
                id: make_id(&mut rng, style, 300_000 + u64::from(i)),
                confirmation: format!("{}", 8_000_000 + u64::from(i) * 13 + 7),
                guest_id,
                room_id,
                room_type: hotel.rooms[room_idx].room_type.clone(),
                arrival,
                departure,
                arrival_time: NaiveTime::from_hms_opt(15, 0, 0).unwrap_or_default(),
                departure_time: NaiveTime::from_hms_opt(11, 0, 0).unwrap_or_default(),
                status,
                raw_status: None,
                adults: rng.random_range(1..=3),
                children: u32::from(rng.random_bool(0.2)),
                rate_code: ["BAR", "CORP", "AAA", "PKG"][rng.random_range(0..4)].into(),
                nightly_rate_minor: nightly,
                payments_minor: 0,
                notes: vec![],
                special_requests: if rng.random_bool(0.2) {
                    vec!["Late arrival".into()]
                } else {
                    vec![]
                },
                created_at: created,
                updated_at: now - Duration::minutes(rng.random_range(10..5000)),
            };
            let mut r = r;
            if r.status == SimStatus::CheckedOut {
                r.payments_minor = r.total_minor();
            }
            hotel.reservations.push(r);
        }
        hotel
    }

    pub fn reservation(&self, id: &str) -> Option<&SimReservation> {
        self.reservations.iter().find(|r| r.id == id)
    }
    pub fn reservation_mut(&mut self, id: &str) -> Option<&mut SimReservation> {
        self.reservations.iter_mut().find(|r| r.id == id)
    }
    pub fn by_confirmation(&self, confirmation: &str) -> Option<&SimReservation> {
        self.reservations
            .iter()
            .find(|r| r.confirmation == confirmation)
    }
    /// Gives every guest a new id (`prefix` and the old one), reservations following: how a
    /// chain's properties get one id space for their profiles.
    pub fn renumber_guests(&mut self, prefix: &str) {
        let renamed: std::collections::HashMap<String, String> = self
            .guests
            .iter()
            .map(|g| (g.id.clone(), format!("{prefix}{}", g.id)))
            .collect();
        for g in &mut self.guests {
            if let Some(n) = renamed.get(&g.id) {
                g.id = n.clone();
            }
        }
        for r in &mut self.reservations {
            if let Some(n) = renamed.get(&r.guest_id) {
                r.guest_id = n.clone();
            }
        }
    }

    pub fn guest(&self, id: &str) -> Option<&SimGuest> {
        self.guests.iter().find(|g| g.id == id)
    }
    pub fn guest_mut(&mut self, id: &str) -> Option<&mut SimGuest> {
        self.guests.iter_mut().find(|g| g.id == id)
    }
    pub fn room(&self, id: &str) -> Option<&SimRoom> {
        self.rooms.iter().find(|r| r.id == id)
    }
    pub fn room_by_number(&self, number: &str) -> Option<&SimRoom> {
        self.rooms.iter().find(|r| r.number == number)
    }
    pub fn charges_of<'a>(
        &'a self,
        reservation_id: &'a str,
    ) -> impl Iterator<Item = &'a SimCharge> + 'a {
        self.charges
            .iter()
            .filter(move |c| c.reservation_id == reservation_id)
    }
    /// Every room type of a night, counted from the rooms and bookings: what the simulators'
    /// availability endpoints answer, so their figures agree with their own rooms and stays.
    /// A room out of order today counts as out of order every night (the simulated hotels
    /// have no dated room blocks); out of service is still sellable, as in the PMSs.
    pub fn night(&self, date: NaiveDate) -> std::collections::BTreeMap<String, SimNight> {
        let mut out: std::collections::BTreeMap<String, SimNight> = self
            .rooms
            .iter()
            .map(|r| (r.room_type.clone(), SimNight::default()))
            .chain(
                self.reservations
                    .iter()
                    .map(|r| (r.room_type.clone(), SimNight::default())),
            )
            .collect();
        for room in &self.rooms {
            let n = out.entry(room.room_type.clone()).or_default();
            n.total += 1;
            if room.housekeeping == SimHousekeeping::OutOfOrder {
                n.out_of_order += 1;
            }
        }
        for r in &self.reservations {
            let live = matches!(r.status, SimStatus::Confirmed | SimStatus::InHouse);
            if live && r.arrival <= date && date < r.departure {
                out.entry(r.room_type.clone()).or_default().occupied += 1;
            }
        }
        out
    }

    /// Balance = stay total + charges − payments, in minor units.
    pub fn balance_minor(&self, reservation_id: &str) -> Option<i64> {
        let r = self.reservation(reservation_id)?;
        let charges: i64 = self
            .charges_of(reservation_id)
            .map(|c| c.amount_minor)
            .sum();
        Some(r.total_minor() + charges - r.payments_minor)
    }

    /// Applies a patch as staff at the PMS would; stamps `updated_at`.
    pub fn apply_reservation_patch(
        &mut self,
        id: &str,
        patch: &ReservationPatch,
        now: DateTime<Utc>,
    ) -> Option<SimReservation> {
        let room_id = match &patch.room_number {
            Some(n) => Some(self.room_by_number(n)?.id.clone()),
            None => None,
        };
        let r = self.reservation_mut(id)?;
        if let Some(s) = patch.status {
            r.status = s;
        }
        if let Some(raw) = &patch.raw_status {
            r.raw_status = Some(raw.clone());
        }
        if room_id.is_some() {
            r.room_id = room_id;
        }
        if let Some(v) = patch.nightly_rate_minor {
            r.nightly_rate_minor = v;
        }
        if let Some(v) = &patch.rate_code {
            r.rate_code = v.clone();
        }
        if let Some(v) = &patch.special_requests {
            r.special_requests = v.clone();
        }
        if let Some(v) = patch.departure {
            r.departure = v;
        }
        if let Some(v) = patch.arrival {
            r.arrival = v;
        }
        r.updated_at = now.max(r.updated_at + Duration::milliseconds(1));
        let out = r.clone();
        if let Some(email) = &patch.guest_email {
            let gid = out.guest_id.clone();
            if let Some(g) = self.guest_mut(&gid) {
                g.email = email.clone();
                g.updated_at = now;
            }
        }
        Some(out)
    }
}

/// A change to a room made "at the PMS" (housekeeping, front desk) through the admin API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoomPatch {
    pub housekeeping: Option<SimHousekeeping>,
    pub occupied: Option<bool>,
}

impl SimHotel {
    /// Applies a room patch; stamps `updated_at`.
    pub fn apply_room_patch(
        &mut self,
        number: &str,
        patch: &RoomPatch,
        now: DateTime<Utc>,
    ) -> Option<SimRoom> {
        let room = self.rooms.iter_mut().find(|r| r.number == number)?;
        if let Some(h) = patch.housekeeping {
            room.housekeeping = h;
        }
        if let Some(o) = patch.occupied {
            room.occupied = o;
        }
        room.updated_at = now.max(room.updated_at + Duration::milliseconds(1));
        Some(room.clone())
    }
}

/// A change to a reservation made "at the PMS" through the admin API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReservationPatch {
    pub status: Option<SimStatus>,
    pub raw_status: Option<String>,
    pub room_number: Option<String>,
    pub nightly_rate_minor: Option<i64>,
    pub rate_code: Option<String>,
    pub special_requests: Option<Vec<String>>,
    pub arrival: Option<NaiveDate>,
    pub departure: Option<NaiveDate>,
    pub guest_email: Option<String>,
}
