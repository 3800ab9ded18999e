use std::fmt;

/// A failure of an infrastructure port (store, queue, secrets, event bus).
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The service asked us to slow down. Retryable.
    #[error("{service} throttled the request: {message}")]
    Throttled { service: Service, message: String },
    /// The service could not be reached or failed internally. Retryable.
    #[error("{service} is unavailable: {message}")]
    Unavailable { service: Service, message: String },
    /// The request was wrong (a bug or bad input). Not retryable.
    #[error("{service} rejected the request: {message}")]
    Rejected { service: Service, message: String },
    /// A pagination cursor that was not issued for this query (tampered, or for another hotel).
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    /// Stored data that does not decode. Not retryable.
    #[error("{service} holds data we cannot read: {message}")]
    Corrupt { service: Service, message: String },
    /// A named resource (queue, secret, table) that does not exist.
    #[error("{service} has no {what}")]
    Missing { service: Service, what: String },
    /// One of our own values that does not serialise (a bug: e.g. a map with non-string keys).
    /// Not retryable. `what` names the kind of record, never its data.
    #[error("cannot encode {what}: {message}")]
    Encode { what: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Sqs,
    SecretsManager,
    EventBridge,
    Store,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::DynamoDb => "DynamoDB",
            Service::Sqs => "SQS",
            Service::SecretsManager => "Secrets Manager",
            Service::EventBridge => "EventBridge",
            Service::Store => "item store",
        })
    }
}

impl PortError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PortError::Throttled { .. } | PortError::Unavailable { .. }
        )
    }

    pub fn code(&self) -> &'static str {
        match self {
            PortError::Throttled { .. } => "THROTTLED",
            PortError::Unavailable { .. } => "UNAVAILABLE",
            PortError::Rejected { .. } => "REJECTED",
            PortError::InvalidCursor => "INVALID_CURSOR",
            PortError::Corrupt { .. } => "CORRUPT",
            PortError::Missing { .. } => "MISSING",
            PortError::Encode { .. } => "ENCODE",
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;
