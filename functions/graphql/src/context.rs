//! What the resolvers take from a request's context: the caller's write and subscription
//! sessions and the correlation id, and how an error names the argument the caller sent.

use async_graphql::{Context, Result};
use pms_app::subscriptions::{PartnerSubscriptionError, SubscriptionSession};
use pms_app::writes::{WriteError, WriteSession};

use crate::errors::{self, Code, CorrelationId};

pub(crate) fn write_session<'a>(ctx: &Context<'a>) -> Result<&'a WriteSession> {
    // Only the authentication gate puts a session in the context.
    ctx.data::<WriteSession>()
        .map_err(|_| errors::error(Code::Unauthenticated, "a bearer token is required"))
}

pub(crate) fn subscription_session<'a>(ctx: &Context<'a>) -> Result<&'a SubscriptionSession> {
    ctx.data::<SubscriptionSession>()
        .map_err(|_| errors::error(Code::Unauthenticated, "a bearer token is required"))
}

pub(crate) fn subscription_error(
    ctx: &Context<'_>,
    e: PartnerSubscriptionError,
) -> async_graphql::Error {
    errors::from_subscription(e, correlation(ctx))
}

pub(crate) fn correlation<'a>(ctx: &Context<'a>) -> &'a str {
    ctx.data::<CorrelationId>()
        .map(|c| c.0.as_str())
        .unwrap_or("")
}

pub(crate) fn write_error(ctx: &Context<'_>, e: WriteError) -> async_graphql::Error {
    let field = e.field().map(input_path);
    errors::from_write(e, field, correlation(ctx))
}

/// Where a core field sits in the mutations' arguments, so `extensions.field` names what the
/// caller sent.
pub(crate) fn input_path(field: &str) -> String {
    match field {
        "amount" => "charge.amountMinor".into(),
        "currency" | "description" | "revenueCenter" | "reference" => format!("charge.{field}"),
        "text" | "title" => format!("note.{field}"),
        "category" | "key" | "value" => format!("preferences.{field}"),
        other => other.into(),
    }
}
