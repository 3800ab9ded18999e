//! GraphQL types of the write side: mutation inputs and the operation they answer. One-to-one
//! mappings of the core's types; no rules live here.

use async_graphql::{
    Enum, InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
    ID,
};
use chrono::{DateTime, NaiveTime, Utc};
use pms_app::reads::public_error_message;
use pms_app::writes::{OperationRecord, OperationRef};
use pms_domain::domain as core;

/// A property-local wall-clock time, `HH:MM` (or `HH:MM:SS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime(pub NaiveTime);

#[Scalar(name = "LocalTime")]
impl ScalarType for LocalTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveTime::parse_from_str(s, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
                .map(LocalTime)
                .map_err(|_| InputValueError::custom("expected a time as HH:MM")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%H:%M").to_string())
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "pms_app::writes::OperationStatus")]
pub enum OperationStatus {
    /// On the write queue, waiting for the writer (also between retries).
    Queued,
    /// The writer is calling the PMS.
    InProgress,
    /// The PMS accepted it; `result` says what it answered.
    Succeeded,
    /// Refused for good without a PMS call worth retrying (see `error`).
    Failed,
    /// The PMS refused it, or kept failing: it waits for the hotel's operations staff.
    DeadLettered,
    /// Operations staff gave up on it; it will not be executed.
    Abandoned,
}

/// What the PMS answered to a write that succeeded.
#[derive(SimpleObject)]
pub struct OperationResult {
    /// The vendor's id of what was created (posting, note), when it gives one.
    pub vendor_id: Option<String>,
    /// The vendor's request id, for support cases with the vendor.
    pub vendor_request_id: Option<String>,
    /// The charge's reference at the vendor (`postCharge` only).
    pub reference: Option<String>,
}

/// Why the last attempt failed.
#[derive(SimpleObject)]
pub struct OperationError {
    /// `PMS_REJECTED`, `PMS_UNAVAILABLE`, `NOT_FOUND`, `PMS_RATE_LIMITED`,
    /// `IDEMPOTENCY_CONFLICT`, `OUTCOME_UNKNOWN`...
    pub code: String,
    /// What the code means. What the PMS said is for the hotel's staff (`pmsctl dlq`).
    pub message: String,
    /// Whether the writer retries it by itself.
    pub retryable: bool,
}

/// A write to the hotel's PMS, queued at once and executed by the writer; poll
/// `operation(id:)` for its outcome.
#[derive(SimpleObject)]
pub struct Operation {
    /// Global id, `<hotel>/<operation id>`; `operation(id:)` takes it.
    pub id: ID,
    pub hotel_id: ID,
    /// The operation id alone (what the hotel's operations staff see).
    pub operation_id: String,
    /// `addReservationNote`, `updateGuestPreferences`, `postCharge` or `updateCheckoutTime`.
    pub kind: String,
    pub status: OperationStatus,
    /// PMS attempts so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub result: Option<OperationResult>,
    pub error: Option<OperationError>,
}

impl From<OperationRecord> for Operation {
    fn from(op: OperationRecord) -> Self {
        let text =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Self {
            id: ID(OperationRef::new(op.hotel_id.clone(), op.id.clone()).to_string()),
            hotel_id: ID(op.hotel_id.to_string()),
            operation_id: op.id.to_string(),
            kind: op.operation,
            status: op.status.into(),
            attempts: op.attempts,
            created_at: op.created_at,
            updated_at: op.updated_at,
            result: op.result.as_ref().map(|r| OperationResult {
                vendor_id: text(r, "vendorId"),
                vendor_request_id: text(r, "requestId"),
                reference: text(r, "reference"),
            }),
            // The recorded message may quote the vendor or AWS: partners get the code's text.
            error: op.error.map(|e| OperationError {
                message: public_error_message(&e.code).to_owned(),
                code: e.code,
                retryable: e.retryable,
            }),
        }
    }
}

#[derive(InputObject)]
pub struct NoteInput {
    /// 1 to 2000 characters.
    pub text: String,
    /// At most 200 characters.
    pub title: Option<String>,
    /// Staff-only note where the PMS has the notion (OPERA); ignored elsewhere.
    #[graphql(default)]
    pub internal: bool,
}

impl From<NoteInput> for core::Note {
    fn from(n: NoteInput) -> Self {
        Self {
            text: n.text,
            title: n.title,
            internal: n.internal,
        }
    }
}

#[derive(InputObject)]
pub struct PreferenceInput {
    /// The vendor's preference group, e.g. `ROOM FEATURES` (OPERA), `Options` (Mews).
    pub category: String,
    /// The code within the group, e.g. `HIGH FLOOR`.
    pub key: String,
    #[graphql(default)]
    pub value: String,
}

impl From<PreferenceInput> for core::Preference {
    fn from(p: PreferenceInput) -> Self {
        Self {
            category: p.category,
            key: p.key,
            value: p.value,
            source: core::PreferenceSource::Partner,
        }
    }
}

#[derive(InputObject)]
pub struct ChargeInput {
    /// The amount in the currency's minor units (cents): `1250` is 12.50. Greater than zero.
    pub amount_minor: i64,
    /// ISO 4217 code; must be the hotel's currency.
    pub currency: String,
    /// What the guest sees on the folio (1 to 200 characters).
    pub description: String,
    /// OPERA transaction code, Mews accounting category id, Cloudbeds item category; the
    /// hotel's configured default when absent.
    pub revenue_center: Option<String>,
    /// Your reference for the charge (1 to 64 of letters, digits, `- _ . :`); derived from the
    /// idempotency key when absent. At the PMS it carries your scope as a suffix
    /// (`<reference>.<8 hex>`, `Operation.result.reference`), so no other partner's charge is
    /// ever taken for yours. The PMS is searched for it before a charge is ever posted again.
    pub reference: Option<String>,
}
