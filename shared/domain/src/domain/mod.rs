//! The canonical model: what every vendor maps to and every partner reads.

mod availability;
mod feed;
mod guest;
mod ids;
mod money;
mod operations;
mod reservation;
mod room;
mod status;
mod time;

pub mod events;
pub mod hash;

pub use availability::{Availability, PmsAvailability};
pub use feed::Feed;
pub use guest::{Guest, GuestQuery, Preference, PreferenceSource};
pub use ids::{
    ConfirmationNumber, ExternalId, HotelId, Provider, RecordId, RoomNumber, RoomTypeCode,
};
pub use money::{Currency, Money};
pub use operations::{
    Capabilities, Charge, ChargeReceipt, CheckoutChange, DeltaSupport, HealthStatus, Note,
    WriteReceipt,
};
pub use reservation::{Booking, GuestSummary, NotCarried, Reservation, ReservationField};
pub use room::{Housekeeping, Occupancy, RoomStatus};
pub use status::ReservationStatus;
pub use time::{BusinessDate, PropertyTz};

/// A value that failed validation at a boundary. `field` names the input (camelCase, as partners
/// send it) so HTTP and GraphQL errors can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
    /// A stable machine code where one exists (`INVALID_DATES`), else `INVALID_FIELD`.
    pub code: &'static str,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
            code: "INVALID_FIELD",
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}
