use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    BusinessDate, ConfirmationNumber, Money, RecordId, ReservationStatus, RoomNumber, RoomTypeCode,
    ValidationError,
};

/// The main guest of a reservation, as the reservation carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestSummary {
    pub id: Option<RecordId>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A reservation field that a read of it may not carry (a vendor's list rows lack what only its
/// detail read has).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReservationField {
    ExpectedArrivalTime,
    ExpectedDepartureTime,
    RateCode,
    Total,
    Balance,
    SpecialRequests,
    Notes,
}

/// The fields a read did not carry: the merge keeps the stored values of these instead of
/// emptying them. Not part of the record's value (never stored, never compared).
#[derive(Clone, Debug, Default)]
pub struct NotCarried(pub Vec<ReservationField>);

impl PartialEq for NotCarried {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl NotCarried {
    pub fn contains(&self, f: ReservationField) -> bool {
        self.0.contains(&f)
    }
}

/// A reservation (a partner's "booking"): one stay of one room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub id: RecordId,
    pub confirmation_number: ConfirmationNumber,
    pub guest: Option<GuestSummary>,
    pub room_number: Option<RoomNumber>,
    pub room_type: Option<RoomTypeCode>,
    /// Property-local dates.
    pub arrival: BusinessDate,
    pub departure: BusinessDate,
    /// Property-local wall-clock times.
    pub expected_arrival_time: Option<NaiveTime>,
    pub expected_departure_time: Option<NaiveTime>,
    pub status: ReservationStatus,
    /// The vendor's own status value, unchanged ("Started", "DueIn", "not_confirmed").
    pub raw_status: String,
    pub adults: u32,
    pub children: u32,
    pub rate_code: Option<String>,
    pub total: Option<Money>,
    pub balance: Option<Money>,
    #[serde(default)]
    pub special_requests: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Ordering version. Larger is newer. Vendors without an explicit version use the source
    /// updated-at in epoch milliseconds, so a record never goes back to an older state.
    pub version: u64,
    /// What this read did not carry (see [`NotCarried`]).
    #[serde(skip)]
    pub not_carried: NotCarried,
}

/// Partner APIs call it a booking; it is the same record.
pub type Booking = Reservation;

impl Reservation {
    /// Takes the fields this read did not carry from `stored` (the same reservation as stored),
    /// so a read that lacks them never empties them.
    pub fn keep_uncarried(&mut self, stored: &Reservation) {
        use ReservationField as F;
        for f in std::mem::take(&mut self.not_carried.0) {
            match f {
                F::ExpectedArrivalTime => self.expected_arrival_time = stored.expected_arrival_time,
                F::ExpectedDepartureTime => {
                    self.expected_departure_time = stored.expected_departure_time
                }
                F::RateCode => self.rate_code.clone_from(&stored.rate_code),
                F::Total => self.total = stored.total,
                F::Balance => self.balance = stored.balance,
                F::SpecialRequests => self.special_requests.clone_from(&stored.special_requests),
                F::Notes => self.notes.clone_from(&stored.notes),
            }
        }
    }

    /// Checks what the canonical model requires beyond its types.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.departure <= self.arrival {
            return Err(ValidationError::new(
                "departure",
                format!(
                    "checkout {} must be after check-in {}",
                    self.departure, self.arrival
                ),
            )
            .with_code("INVALID_DATES"));
        }
        if self.adults == 0 && self.children == 0 {
            return Err(ValidationError::new(
                "adults",
                "a stay needs at least one guest",
            ));
        }
        if self.total.is_some_and(|m| m.amount_minor < 0) {
            return Err(
                ValidationError::new("total", "must not be negative").with_code("NEGATIVE_AMOUNT")
            );
        }
        Ok(())
    }

    /// Nights between arrival and departure.
    pub fn nights(&self) -> i64 {
        self.arrival.days_until(self.departure)
    }

    /// The version a source timestamp implies (epoch milliseconds, never negative).
    pub fn version_from(updated_at: Option<DateTime<Utc>>) -> u64 {
        updated_at
            .map(|t| t.timestamp_millis().max(0) as u64)
            .unwrap_or(0)
    }
}
