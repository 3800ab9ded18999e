//! Write operations as they travel: what a partner asked for, the queue message, and the
//! operation record `operation(id)` reports.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::{
    Capabilities, Charge, CheckoutChange, ConfirmationNumber, ExternalId, HotelId, Note,
    Preference, ValidationError,
};

/// The writes partners can ask of a PMS: one per GraphQL mutation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum WriteOperation {
    AddReservationNote {
        confirmation: ConfirmationNumber,
        note: Note,
    },
    UpdateGuestPreferences {
        guest_id: ExternalId,
        preferences: Vec<Preference>,
    },
    PostCharge {
        confirmation: ConfirmationNumber,
        charge: Charge,
    },
    UpdateCheckout {
        confirmation: ConfirmationNumber,
        change: CheckoutChange,
    },
}

impl WriteOperation {
    pub fn name(&self) -> &'static str {
        match self {
            WriteOperation::AddReservationNote { .. } => "addReservationNote",
            WriteOperation::UpdateGuestPreferences { .. } => "updateGuestPreferences",
            WriteOperation::PostCharge { .. } => "postCharge",
            WriteOperation::UpdateCheckout { .. } => "updateCheckoutTime",
        }
    }

    pub fn is_charge(&self) -> bool {
        matches!(self, WriteOperation::PostCharge { .. })
    }

    /// Checks the payload beyond its types.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            WriteOperation::AddReservationNote { note, .. } => note.validate(),
            WriteOperation::UpdateGuestPreferences { preferences, .. } => {
                if preferences.is_empty() {
                    return Err(ValidationError::new(
                        "preferences",
                        "give at least one preference",
                    ));
                }
                if preferences.len() > 50 {
                    return Err(ValidationError::new("preferences", "at most 50 at a time"));
                }
                preferences.iter().try_for_each(Preference::validate)
            }
            WriteOperation::PostCharge { charge, .. } => charge.validate_input(),
            WriteOperation::UpdateCheckout { .. } => Ok(()),
        }
    }

    /// Whether the hotel's vendor can do this at all; answered before queueing. The error names
    /// what is not supported (an operation, or one of its options).
    pub fn supported_by(&self, caps: &Capabilities) -> Result<(), &'static str> {
        match self {
            WriteOperation::AddReservationNote { .. } if !caps.add_note => Err(self.name()),
            WriteOperation::UpdateGuestPreferences { .. } if !caps.update_preferences => {
                Err(self.name())
            }
            WriteOperation::PostCharge { .. } if !caps.post_charge => Err(self.name()),
            WriteOperation::UpdateCheckout { .. } if !caps.checkout_date => Err(self.name()),
            WriteOperation::UpdateCheckout { change, .. }
                if change.time.is_some() && !caps.checkout_time =>
            {
                Err("a checkout time")
            }
            _ => Ok(()),
        }
    }

    /// The reference a charge carries to the vendor, scoped by the partner (`actor`, the token
    /// id) like its idempotency key: a charge without one gets one derived from its key, so every
    /// retry of the same request carries the same reference; a partner's own reference gets the
    /// partner's scope as a suffix, so two partners using the same reference never find (or,
    /// at Cloudbeds, collide with) each other's charges.
    pub fn scope_charge_reference(&mut self, actor: &str, key: &IdempotencyKey) {
        if let WriteOperation::PostCharge { charge, .. } = self {
            charge.reference = if charge.reference.trim().is_empty() {
                derive_charge_reference(key)
            } else {
                format!("{}.{}", charge.reference.trim(), partner_scope(actor))
            };
        }
    }

    /// A stable hash of the business payload (canonical JSON).
    pub fn payload_hash(&self) -> String {
        sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperationId(String);

impl OperationId {
    pub fn new() -> Self {
        Self(format!("op_{}", uuid::Uuid::new_v4().simple()))
    }
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok =
            s.len() == 35 && s.starts_with("op_") && s[3..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new("id", "is not an operation id"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for OperationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperationId({})", self.0)
    }
}

impl TryFrom<String> for OperationId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OperationId> for String {
    fn from(v: OperationId) -> String {
        v.0
    }
}

/// A short, stable scope of a partner (its token id) for the references it sends to vendors.
pub fn partner_scope(actor: &str) -> String {
    sha256_hex(actor.as_bytes())[..8].to_owned()
}

/// A stable vendor reference for a charge whose caller gave none, from its idempotency key.
pub fn derive_charge_reference(key: &IdempotencyKey) -> String {
    let digest = sha256_hex(key.as_str().as_bytes());
    format!("pms-{}", &digest[..24])
}

/// An operation as partners name it: `<hotel>/<operation id>` (`Operation.id`), so a lookup
/// knows the hotel to authorize before it reads anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationRef {
    pub hotel: HotelId,
    pub id: OperationId,
}

impl OperationRef {
    pub fn new(hotel: HotelId, id: OperationId) -> Self {
        Self { hotel, id }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let (hotel, id) = value
            .trim()
            .split_once('/')
            .ok_or_else(|| ValidationError::new("id", "expected `<hotel>/op_<32 hex>`"))?;
        Ok(Self {
            hotel: HotelId::parse(hotel)?,
            id: OperationId::parse(id)?,
        })
    }
}

impl fmt::Display for OperationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hotel, self.id)
    }
}

/// The idempotency key: the caller's, scoped by who sent it (`c:<token id>:<key>`, as ingestion
/// scopes its `IDEM#<token id>#...` keys), or, for a request without one, the request's own
/// operation (`u:<operation id>`: two identical charges without a key are two charges). Never
/// the SQS message id (a redriven message gets a new one).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key a partner (`actor`, its token id) sent: another partner's same key is another
    /// key, so it neither sees this partner's operation nor learns that the key exists.
    pub fn partner(actor: &str, key: &str) -> Result<Self, ValidationError> {
        let key = key.trim();
        if key.is_empty() || key.len() > 128 {
            return Err(ValidationError::new(
                "idempotencyKey",
                "must be 1 to 128 characters",
            ));
        }
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(ValidationError::new(
                "idempotencyKey",
                "may contain only letters, digits and - _ . :",
            ));
        }
        Ok(Self(format!("c:{}:{key}", actor_key_scope(actor))))
    }

    /// The key of a request sent without one: its own operation, so it is never confused with
    /// another request, however alike.
    pub fn unique(operation: &OperationId) -> Self {
        Self(format!("u:{operation}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        // `d:` keys (derived from the payload) are no longer made; stored ones still read.
        let ok = ["c:", "u:", "d:"].iter().any(|p| value.starts_with(p))
            && value.len() <= 180
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if ok {
            Ok(Self(value))
        } else {
            Err(ValidationError::new(
                "idempotencyKey",
                "is not a stored idempotency key",
            ))
        }
    }
}

/// The token id as it appears in keys (token ids are 16 hex digits; anything else is hashed).
fn actor_key_scope(actor: &str) -> String {
    let plain = !actor.is_empty()
        && actor.len() <= 40
        && actor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if plain {
        actor.to_owned()
    } else {
        format!("h{}", &sha256_hex(actor.as_bytes())[..16])
    }
}

impl From<IdempotencyKey> for String {
    fn from(v: IdempotencyKey) -> String {
        v.0
    }
}

/// The write-queue message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteMessage {
    pub operation_id: OperationId,
    pub hotel_id: HotelId,
    pub idempotency_key: IdempotencyKey,
    pub payload_hash: String,
    pub operation: WriteOperation,
    /// The partner token id that asked (for the audit log).
    pub actor: String,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    /// Deliveries of earlier copies of this message that were attempts: a message that waited
    /// (see [`WriteMessage::waited`]) is replaced by a copy, whose SQS receive count starts
    /// again at 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prior_attempts: u32,
    /// Deliveries of this operation that were not started for the invocation's deadline (see
    /// [`WriteMessage::not_started`]): they come back later and later, and past
    /// [`MAX_NOT_STARTED`] the executor counts one as an attempt, so a PMS that is always too
    /// slow to start a call in time still ends the operation.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_started: u32,
    /// Deliveries of this operation that only waited (copies made by
    /// [`WriteMessage::waited`]): a delivery that finds the key held looks again less often
    /// each time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waits: u32,
    /// This copy's token (none on the message a partner's request sent): the writer records the
    /// live copy's (`WriteRecords::set_live_copy`) and drops deliveries of any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<String>,
}

/// Deliveries of one operation that may go unstarted before the next one counts as an
/// attempt (with their back-off, about four minutes of waiting).
pub const MAX_NOT_STARTED: u32 = 8;

/// The longest a delivery that was not started waits before it comes back.
const NOT_STARTED_MAX_DELAY: Duration = Duration::from_secs(120);

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl WriteMessage {
    /// Which attempt its `receive_count`-th delivery (SQS `ApproximateReceiveCount`) is.
    pub fn attempt(&self, receive_count: u32) -> u32 {
        self.prior_attempts.saturating_add(receive_count.max(1))
    }

    /// The copy that replaces this message when its `receive_count`-th delivery only waited:
    /// that delivery is not counted as an attempt.
    pub fn waited(&self, receive_count: u32) -> WriteMessage {
        WriteMessage {
            prior_attempts: self.attempt(receive_count) - 1,
            waits: self.waits.saturating_add(1),
            copy: Some(uuid::Uuid::new_v4().simple().to_string()),
            ..self.clone()
        }
    }

    /// The copy that replaces this message when its `receive_count`-th delivery was not started
    /// (no time left in the invocation, or every request refused for the deadline), and the
    /// delay it comes back after: at once the first time, then doubling from 2 s up to 2 min, so
    /// an operation that cannot start cannot cycle through the queue.
    pub fn not_started(&self, receive_count: u32) -> (WriteMessage, Duration) {
        let copy = WriteMessage {
            not_started: self.not_started.saturating_add(1),
            ..self.waited(receive_count)
        };
        let delay = match copy.not_started {
            0 | 1 => Duration::ZERO,
            n => Duration::from_secs(1u64 << (n - 1).min(7)).min(NOT_STARTED_MAX_DELAY),
        };
        (copy, delay)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    Queued,
    InProgress,
    Succeeded,
    /// Refused for good without a PMS call worth retrying (e.g. an idempotency conflict).
    Failed,
    /// In the dead-letter records, waiting for ops to redrive or abandon it.
    DeadLettered,
    Abandoned,
}

/// A failure as recorded (operation, DLQ item, audit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
    pub request_id: Option<String>,
}

impl RecordedError {
    /// A charge that may exist at the PMS: `OUTCOME_UNKNOWN`, retryable (a redrive looks on
    /// the folio before it ever posts). `why` says what is not known.
    pub fn outcome_unknown(why: &str) -> Self {
        Self {
            code: "OUTCOME_UNKNOWN".into(),
            message: format!("outcome unknown: the charge may exist at the PMS; {why}"),
            retryable: true,
            request_id: None,
        }
    }
}

impl From<&pms_domain::pms::PmsError> for RecordedError {
    fn from(e: &pms_domain::pms::PmsError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
            retryable: e.is_retryable(),
            request_id: e.request_id().map(str::to_owned),
        }
    }
}

/// What `operation(id)` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationRecord {
    pub id: OperationId,
    pub hotel_id: HotelId,
    pub operation: String,
    pub idempotency_key: IdempotencyKey,
    pub payload_hash: String,
    pub status: OperationStatus,
    pub attempts: u32,
    pub result: Option<serde_json::Value>,
    pub error: Option<RecordedError>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The message, kept so ops can redrive it from the record alone.
    pub message: WriteMessage,
}
