//! Errors as partners see them: every error carries `extensions.code` (one of [`Code`]) and a
//! message that names no internals. Details go to the log, with the correlation id the partner
//! also gets (`extensions.reference`) for support.

use async_graphql::{ErrorExtensions, Response, ServerError, Value};
use pms_app::reads::ReadError;
use pms_app::subscriptions::PartnerSubscriptionError;
use pms_app::writes::WriteError;
use pms_domain::domain::ValidationError;

/// The codes partners branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    PmsUnavailable,
    /// The hotel's PMS cannot do this: a write (refused before queueing), or a read such as
    /// availability from an OPERA hotel's PMS.
    Unsupported,
    /// An idempotency key reused for a different request.
    IdempotencyConflict,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::NotFound => "NOT_FOUND",
            Code::PmsUnavailable => "PMS_UNAVAILABLE",
            Code::Unsupported => "UNSUPPORTED",
            Code::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Code::Internal => "INTERNAL",
        }
    }
}

/// Correlation id of the request, in the GraphQL context for error references.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

pub fn error(code: Code, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A core read error as a GraphQL error: the code and the public message for the partner, the
/// detail (store error, vendor answer) in the log with the request's correlation id.
pub fn from_read(e: ReadError, correlation: &str) -> async_graphql::Error {
    let code = e.code();
    let retryable = e.is_retryable();
    // Display carries the detail (AWS error text, the vendor's message), for ops only.
    if code == "INTERNAL" || code == "PMS_UNAVAILABLE" {
        tracing::error!(code, correlation, error = %e, retryable, "read failed");
    } else {
        tracing::warn!(code, correlation, error = %e, "read refused");
    }
    let field = e.field();
    async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
        ext.set("code", code);
        if retryable {
            ext.set("retryable", true);
        }
        if let Some(f) = field {
            ext.set("field", f);
        }
        if code == "INTERNAL" {
            ext.set("reference", correlation);
        }
    })
}

/// A core write error as a GraphQL error; `field` is the argument path it is about. The detail
/// goes to the log only, with the request's correlation id.
pub fn from_write(e: WriteError, field: Option<String>, correlation: &str) -> async_graphql::Error {
    let code = e.code();
    let retryable = e.is_retryable();
    if code == "INTERNAL" {
        tracing::error!(code, correlation, error = %e, retryable, "write failed");
    } else {
        tracing::warn!(code, correlation, error = %e, "write refused");
    }
    async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
        ext.set("code", code);
        if retryable {
            ext.set("retryable", true);
        }
        if let Some(f) = &field {
            ext.set("field", f.as_str());
        }
        if code == "INTERNAL" {
            ext.set("reference", correlation);
        }
    })
}

/// A subscription request's error as a GraphQL error: what was wrong with the request, with the
/// argument it is about in `extensions.field`; store details go to the log only.
pub fn from_subscription(e: PartnerSubscriptionError, correlation: &str) -> async_graphql::Error {
    let code = e.code();
    let retryable = e.is_retryable();
    if code == "INTERNAL" {
        tracing::error!(code, correlation, error = %e, retryable, "subscription request failed");
    } else {
        tracing::warn!(code, correlation, error = %e, "subscription request refused");
    }
    let field = e.field();
    async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
        ext.set("code", code);
        if retryable {
            ext.set("retryable", true);
        }
        if let Some(f) = field {
            ext.set("field", f);
        }
        if code == "INTERNAL" {
            ext.set("reference", correlation);
        }
    })
}

pub fn invalid(e: ValidationError) -> async_graphql::Error {
    let field = e.field;
    error(Code::BadUserInput, e.to_string()).extend_with(|_, ext| ext.set("field", field))
}

pub fn not_found(what: impl std::fmt::Display) -> async_graphql::Error {
    error(Code::NotFound, format!("{what} was not found"))
}

/// Errors the GraphQL engine raises itself (syntax, validation, depth and complexity limits,
/// argument coercion) carry no code; they are all about the request, so they are the caller's.
/// They are logged as the caller got them.
pub fn tag_engine_errors(response: &mut Response) {
    for e in &mut response.errors {
        if code_of(e).is_none() {
            tracing::info!(message = %e.message, "request refused by the GraphQL engine");
        }
        tag(e);
    }
}

fn tag(e: &mut ServerError) {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", Value::from(Code::BadUserInput.as_str()));
    }
}

pub fn code_of(e: &ServerError) -> Option<&str> {
    match e.extensions.as_ref()?.get("code")? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}
