use crate::cache::CacheError;
use crate::domain::{HotelId, Provider, ValidationError};
use crate::pms::PmsError;
use crate::ports::PortError;

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
    #[error(transparent)]
    Store(PortError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ReadError {
    /// The partner-facing code: `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`, `PMS_UNAVAILABLE`
    /// or `INTERNAL`.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::Forbidden => "FORBIDDEN",
            ReadError::HotelNotConfigured(_) => "NOT_FOUND",
            ReadError::Invalid(_)
            | ReadError::InvalidCursor
            | ReadError::Unsupported { .. }
            | ReadError::PmsRejected(_) => "BAD_USER_INPUT",
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
            other => ReadError::Store(other),
        }
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
        }
    }
}
