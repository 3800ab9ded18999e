use crate::cache::CacheError;
use pms_domain::domain::{HotelId, Provider, ValidationError};
use pms_domain::pms::PmsError;
use pms_domain::ports::PortError;

/// Why a partner read failed. [`ReadError::code`] is the stable code partners see;
/// [`ReadError::public_message`] is what they read (the `Display` text may carry internal
/// detail and is for logs only).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The caller's token does not cover this hotel, or lacks the scope. Says nothing about
    /// whether the hotel exists.
    #[error("the credential does not allow this")]
    Forbidden,
    /// A hotel in the caller's scope that has no configuration.
    #[error("hotel {0} is not configured")]
    HotelNotConfigured(HotelId),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A pagination cursor from another query (or hotel), or tampered with.
    #[error("the cursor does not belong to this query")]
    InvalidCursor,
    #[error("{operation} is not supported by {provider}")]
    Unsupported {
        provider: Provider,
        operation: &'static str,
    },
    /// The PMS refused the request itself (not an outage).
    #[error("the PMS rejected the request: {0}")]
    PmsRejected(String),
    /// The PMS cannot answer and no usable cached copy exists. Retryable.
    #[error("the hotel's PMS is unavailable ({0}) and no recent copy is cached")]
    PmsUnavailable(&'static str),
    /// The request would read more stored items than one request may (see
    /// [`MAX_ITEMS_READ`](super::MAX_ITEMS_READ)).
    #[error(
        "the request reads more than {} stored items; ask for fewer fields or smaller pages",
        super::MAX_ITEMS_READ
    )]
    BudgetExceeded,
    #[error(transparent)]
    Store(PortError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ReadError {
    /// The partner-facing code: `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`, `UNSUPPORTED`,
    /// `PMS_UNAVAILABLE`, `READ_BUDGET_EXCEEDED` or `INTERNAL`.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::BudgetExceeded => "READ_BUDGET_EXCEEDED",
            ReadError::Forbidden => "FORBIDDEN",
            ReadError::HotelNotConfigured(_) => "NOT_FOUND",
            ReadError::Invalid(_) | ReadError::InvalidCursor | ReadError::PmsRejected(_) => {
                "BAD_USER_INPUT"
            }
            // As writes answer it: the hotel's PMS cannot do this, whatever the input.
            ReadError::Unsupported { .. } => "UNSUPPORTED",
            ReadError::PmsUnavailable(_) => "PMS_UNAVAILABLE",
            ReadError::Store(_) | ReadError::Internal(_) => "INTERNAL",
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            ReadError::PmsUnavailable(_) => true,
            ReadError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Safe to return to a partner: no store, vendor or credential detail.
    pub fn public_message(&self) -> String {
        match self {
            ReadError::Forbidden => "this credential does not give access to that hotel".into(),
            ReadError::PmsRejected(_) => "the hotel's PMS rejected the request".into(),
            ReadError::PmsUnavailable(_) => {
                "the hotel's PMS is unavailable and no recent copy is cached; retry later".into()
            }
            ReadError::Store(_) | ReadError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// The input field an error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ReadError::Invalid(v) => Some(v.field),
            _ => None,
        }
    }
}

impl From<PortError> for ReadError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::InvalidCursor => ReadError::InvalidCursor,
            e if super::budget::is_exhausted(&e) => ReadError::BudgetExceeded,
            other => ReadError::Store(other),
        }
    }
}

/// What a partner reads for an error recorded by the writer (an operation's `error`) or a sync
/// run: a fixed text per code. The recorded message (vendor bodies, AWS error text, account
/// ids, role names) stays in the record, the audit log and the logs, for the hotel's staff.
pub fn public_error_message(code: &str) -> &'static str {
    match code {
        "PMS_REJECTED" => "the hotel's PMS rejected the request",
        "PMS_UNAVAILABLE" => "the hotel's PMS could not be reached or did not answer in time",
        "PMS_RATE_LIMITED" => "the hotel's PMS asked us to slow down",
        "PMS_UNAUTHORIZED" => "the hotel's PMS refused the integration's credentials",
        "PMS_PROTOCOL" => "the hotel's PMS answered something that could not be read",
        "PMS_CONFIGURATION" => "the hotel's PMS connection is not configured",
        "NOT_FOUND" => "the PMS does not know the record the request names",
        "UNSUPPORTED" => "the hotel's PMS does not support this",
        "IDEMPOTENCY_CONFLICT" => "this idempotency key was used for a different request",
        "OUTCOME_UNKNOWN" => {
            "outcome unknown: the charge may exist at the PMS; it is looked for on the folio \
             before it is ever posted again"
        }
        "REFERENCE_CONFLICT" => {
            "the PMS already has a charge with this reference that this operation did not post; \
             nothing was posted: send the charge again with another reference"
        }
        "WRITER_STOPPED" | "STORE_UNAVAILABLE" | "HOTEL_NOT_CONFIGURED" => {
            "the write could not be completed; the hotel's operations staff can redrive it"
        }
        "INVALID" | "BAD_USER_INPUT" => "the request is not valid for the hotel's PMS",
        _ => "the operation failed; the hotel's operations staff can see the details",
    }
}

impl From<CacheError> for ReadError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Unavailable { cause, .. } => ReadError::PmsUnavailable(cause.code()),
            CacheError::Pms(cause) => match &*cause {
                PmsError::Unsupported {
                    provider,
                    operation,
                } => ReadError::Unsupported {
                    provider: *provider,
                    operation,
                },
                PmsError::InvalidRequest { message, .. } => ReadError::PmsRejected(message.clone()),
                other => ReadError::PmsUnavailable(other.code()),
            },
            CacheError::Decode(m) => ReadError::Internal(m),
            CacheError::Encode(e) => ReadError::Internal(e.to_string()),
        }
    }
}
