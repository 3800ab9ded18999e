//! Canonical records in the store: their keys and indexes, the one merge rule that webhooks,
//! partner ingestion and the sync all go through, and the key queries reads use.

mod keys;
mod merge;
mod pms_availability;
mod queries;
pub mod retention;
mod stored;

pub use keys::{
    availability_key, booking_key, confirmation_lookup, date_index_key, date_range_bounds,
    guest_key, room_key,
};
pub use keys::{RecordKind, StoredRecord};
pub use merge::{MergeOutcome, MergeReport, Merger, NotApplied};
pub use merge::{Mergeable, ProvidedAvailability, ProvidedRoom};
pub use pms_availability::{
    pms_availability_bounds, pms_availability_key, StoredPmsAvailability, SyncedAvailability,
    PMS_AVAILABILITY_PREFIX,
};
pub use queries::{BookingPage, ReservationQueries};
pub use retention::{Retention, RetentionSource};
pub use stored::StoredBookings;
