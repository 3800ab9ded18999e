//! Partner REST ingestion: partners push bookings, guests and availability for a hotel; we read
//! and validate them ([`normalize`]), and upsert them through the one merge rule
//! ([`IngestService`]), with an optional `Idempotency-Key` ([`idempotency`]).
//!
//! Authentication (partner token, provider key) and HTTP are the webhook function's concern;
//! this module starts from an authenticated hotel and partner system.

mod fields;
pub mod idempotency;
mod model;
mod service;

pub use service::{
    normalize, IngestKind, IngestReport, IngestService, ItemResult, Normalized, Records,
};

use serde::Serialize;

/// Most items one batch request may carry.
pub const MAX_BATCH_ITEMS: usize = 100;

/// One problem with a partner's input: where (`items[2].checkOut`), a stable code
/// (`INVALID_DATES`), and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}
