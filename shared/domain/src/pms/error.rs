//! The one error type every PMS adapter returns. It says what went wrong in terms callers act
//! on (retry, refresh credentials, give up, tell the partner), carries the vendor's request id
//! for support tickets, and never carries credentials or request headers.

use std::fmt;
use std::time::Duration;

use crate::domain::Provider;

/// Why the PMS could not be reached or did not answer properly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnavailableCause {
    Timeout,
    ConnectionReset,
    ConnectionRefused,
    /// A 5xx status.
    Http(u16),
    /// Anything else on the transport (DNS, TLS).
    Transport,
    /// Not sent: it could not have finished before the caller's deadline.
    Deadline,
    /// Not sent: the hotel's circuit breaker is open (its PMS failed repeatedly; see
    /// `pms_app::health`).
    CircuitOpen,
}

impl UnavailableCause {
    /// The token a retryable list (`retry.retryableErrors`) uses for this cause.
    pub fn retry_token(self) -> String {
        match self {
            UnavailableCause::Timeout => "ETIMEDOUT".into(),
            UnavailableCause::ConnectionReset => "ECONNRESET".into(),
            UnavailableCause::ConnectionRefused => "ECONNREFUSED".into(),
            UnavailableCause::Http(status) => status.to_string(),
            UnavailableCause::Transport => "ETRANSPORT".into(),
            UnavailableCause::Deadline => "EDEADLINE".into(),
            UnavailableCause::CircuitOpen => "ECIRCUITOPEN".into(),
        }
    }
}

impl fmt::Display for UnavailableCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnavailableCause::Timeout => f.write_str("timeout"),
            UnavailableCause::ConnectionReset => f.write_str("connection reset"),
            UnavailableCause::ConnectionRefused => f.write_str("connection refused"),
            UnavailableCause::Http(s) => write!(f, "HTTP {s}"),
            UnavailableCause::Transport => f.write_str("transport error"),
            UnavailableCause::Deadline => f.write_str("deadline"),
            UnavailableCause::CircuitOpen => f.write_str("circuit open"),
        }
    }
}

fn rid(request_id: &Option<String>) -> String {
    request_id
        .as_deref()
        .map(|r| format!(" (request id {r})"))
        .unwrap_or_default()
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum PmsError {
    #[error("{what} was not found{}", rid(request_id))]
    NotFound {
        what: String,
        request_id: Option<String>,
    },

    #[error("the PMS refused our credentials: {message}{}", rid(request_id))]
    Unauthorized {
        message: String,
        request_id: Option<String>,
    },

    #[error("rate limited by the PMS{}{}", retry_after.map(|d| format!(", retry after {} ms", d.as_millis())).unwrap_or_default(), rid(request_id))]
    RateLimited {
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },

    #[error("{operation} is not supported by {provider}")]
    Unsupported {
        provider: Provider,
        operation: &'static str,
    },

    #[error("the PMS rejected the request{}: {message}{}", status.map(|s| format!(" with HTTP {s}")).unwrap_or_default(), rid(request_id))]
    InvalidRequest {
        message: String,
        status: Option<u16>,
        request_id: Option<String>,
    },

    #[error("the PMS is unavailable ({cause}): {message}{}", rid(request_id))]
    Unavailable {
        cause: UnavailableCause,
        message: String,
        request_id: Option<String>,
    },

    #[error(
        "the PMS answered something we cannot read: {message}{}",
        rid(request_id)
    )]
    Protocol {
        message: String,
        request_id: Option<String>,
    },

    #[error("the hotel's PMS configuration is incomplete: {message}")]
    Configuration { message: String },
}

/// The default retryable list: transport failures, 429 and the transient 5xx statuses (what a
/// repeat can fix); a hotel's `retry.retryableErrors` replaces it.
pub const DEFAULT_RETRYABLE: &[&str] = &[
    "ETIMEDOUT",
    "ECONNRESET",
    "ECONNREFUSED",
    "429",
    "500",
    "502",
    "503",
    "504",
];

impl PmsError {
    pub fn not_found(what: impl Into<String>) -> Self {
        PmsError::NotFound {
            what: what.into(),
            request_id: None,
        }
    }

    pub fn unsupported(provider: Provider, operation: &'static str) -> Self {
        PmsError::Unsupported {
            provider,
            operation,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        PmsError::InvalidRequest {
            message: message.into(),
            status: None,
            request_id: None,
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        PmsError::Protocol {
            message: message.into(),
            request_id: None,
        }
    }

    pub fn unavailable(cause: UnavailableCause, message: impl Into<String>) -> Self {
        PmsError::Unavailable {
            cause,
            message: message.into(),
            request_id: None,
        }
    }

    /// A stable machine code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PmsError::NotFound { .. } => "NOT_FOUND",
            PmsError::Unauthorized { .. } => "PMS_UNAUTHORIZED",
            PmsError::RateLimited { .. } => "PMS_RATE_LIMITED",
            PmsError::Unsupported { .. } => "UNSUPPORTED",
            PmsError::InvalidRequest { .. } => "PMS_REJECTED",
            PmsError::Unavailable { .. } => "PMS_UNAVAILABLE",
            PmsError::Protocol { .. } => "PMS_PROTOCOL",
            PmsError::Configuration { .. } => "PMS_CONFIGURATION",
        }
    }

    /// The token matched against a retry policy's retryable list, if the error has one.
    pub fn retry_token(&self) -> Option<String> {
        match self {
            PmsError::RateLimited { .. } => Some("429".into()),
            PmsError::Unavailable { cause, .. } => Some(cause.retry_token()),
            _ => None,
        }
    }

    /// Retryable under the default list ([`DEFAULT_RETRYABLE`]).
    pub fn is_retryable(&self) -> bool {
        self.retry_token()
            .is_some_and(|t| DEFAULT_RETRYABLE.contains(&t.as_str()))
    }

    /// The vendor's own id of the failed request, for support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            PmsError::NotFound { request_id, .. }
            | PmsError::Unauthorized { request_id, .. }
            | PmsError::RateLimited { request_id, .. }
            | PmsError::InvalidRequest { request_id, .. }
            | PmsError::Unavailable { request_id, .. }
            | PmsError::Protocol { request_id, .. } => request_id.as_deref(),
            PmsError::Unsupported { .. } | PmsError::Configuration { .. } => None,
        }
    }

    /// Attaches the vendor request id when the error does not have one yet.
    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        if let Some(id) = id {
            match &mut self {
                PmsError::NotFound { request_id, .. }
                | PmsError::Unauthorized { request_id, .. }
                | PmsError::RateLimited { request_id, .. }
                | PmsError::InvalidRequest { request_id, .. }
                | PmsError::Unavailable { request_id, .. }
                | PmsError::Protocol { request_id, .. } => {
                    if request_id.is_none() {
                        *request_id = Some(id);
                    }
                }
                PmsError::Unsupported { .. } | PmsError::Configuration { .. } => {}
            }
        }
        self
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PmsError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the outcome of a write is unknown: the vendor may or may not have applied it.
    /// Such writes must be checked before they are sent again.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            PmsError::Unavailable {
                cause: UnavailableCause::Timeout
                    | UnavailableCause::ConnectionReset
                    | UnavailableCause::Http(500 | 502 | 504)
                    | UnavailableCause::Transport,
                ..
            } | PmsError::Protocol { .. }
        )
    }
}

/// Classifies a transport failure of reqwest without exposing the URL (which may hold a secret
/// path segment) or headers.
pub fn classify_transport(err: &reqwest::Error) -> PmsError {
    let cause = if err.is_timeout() {
        UnavailableCause::Timeout
    } else if err.is_connect() {
        UnavailableCause::ConnectionRefused
    } else if is_reset(err) {
        UnavailableCause::ConnectionReset
    } else {
        UnavailableCause::Transport
    };
    PmsError::unavailable(cause, cause.to_string())
}

fn is_reset(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = e.source();
    }
    // hyper reports a closed connection mid-request as an incomplete message.
    err.is_request() && !err.is_connect()
}

pub type PmsResult<T> = Result<T, PmsError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_default_retryable_list() {
        let cases = [
            (PmsError::unavailable(UnavailableCause::Timeout, "t"), true),
            (
                PmsError::unavailable(UnavailableCause::ConnectionReset, "r"),
                true,
            ),
            (
                PmsError::unavailable(UnavailableCause::ConnectionRefused, "r"),
                true,
            ),
            (
                PmsError::unavailable(UnavailableCause::Http(500), "x"),
                true,
            ),
            (
                PmsError::unavailable(UnavailableCause::Http(502), "x"),
                true,
            ),
            (
                PmsError::unavailable(UnavailableCause::Http(503), "x"),
                true,
            ),
            (
                PmsError::unavailable(UnavailableCause::Http(504), "x"),
                true,
            ),
            (
                PmsError::unavailable(UnavailableCause::Http(501), "x"),
                false,
            ),
            (
                PmsError::unavailable(UnavailableCause::Transport, "x"),
                false,
            ),
            (
                PmsError::RateLimited {
                    retry_after: None,
                    request_id: None,
                },
                true,
            ),
            (PmsError::invalid("bad"), false),
            (PmsError::not_found("x"), false),
            (
                PmsError::Unauthorized {
                    message: "no".into(),
                    request_id: None,
                },
                false,
            ),
            (
                PmsError::unsupported(Provider::named("cloudbeds"), "update_checkout_time"),
                false,
            ),
            (PmsError::protocol("garbage"), false),
        ];
        for (err, retryable) in cases {
            assert_eq!(err.is_retryable(), retryable, "{err}");
        }
    }

    #[test]
    fn request_id_is_kept_and_shown() {
        let err = PmsError::invalid("bad date").with_request_id(Some("req-42".into()));
        assert_eq!(err.request_id(), Some("req-42"));
        assert!(err.to_string().contains("req-42"));
        // An id already present is not replaced.
        let err = err.with_request_id(Some("other".into()));
        assert_eq!(err.request_id(), Some("req-42"));
    }
}
