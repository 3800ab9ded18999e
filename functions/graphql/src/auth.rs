//! Authentication as a step of execution: it runs after the request has been parsed and
//! validated (so a query rejected by the depth or complexity limits costs no store or secret
//! read) and before any resolver. A verified token becomes the request's
//! [`ReadSession`](pms_core::reads::ReadSession) and
//! [`WriteSession`](pms_core::writes::WriteSession).

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Data, Response, ServerError};
use pms_core::reads::PartnerReads;
use pms_core::registry::{AuthError, TokenService};
use pms_core::writes::PartnerWrites;
use secrecy::{ExposeSecret, SecretString};

use crate::errors::Code;

/// The bearer token the request presented, in the request's data.
pub struct PresentedToken(pub SecretString);

/// The token from an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<SecretString> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| SecretString::from(token.to_owned()))
}

pub struct AuthGate {
    tokens: TokenService,
    reads: PartnerReads,
    writes: PartnerWrites,
}

impl AuthGate {
    pub fn new(tokens: TokenService, reads: PartnerReads, writes: PartnerWrites) -> Self {
        Self {
            tokens,
            reads,
            writes,
        }
    }
}

impl ExtensionFactory for AuthGate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuthStep {
            tokens: self.tokens.clone(),
            reads: self.reads.clone(),
            writes: self.writes.clone(),
        })
    }
}

struct AuthStep {
    tokens: TokenService,
    reads: PartnerReads,
    writes: PartnerWrites,
}

fn refused(code: Code, message: &str, retryable: bool) -> Response {
    let mut e = ServerError::new(message, None);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", code.as_str());
    if retryable {
        ext.set("retryable", true);
    }
    Response::from_errors(vec![e])
}

#[async_trait::async_trait]
impl Extension for AuthStep {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(PresentedToken(token)) = ctx.data_opt::<PresentedToken>() else {
            return refused(Code::Unauthenticated, "a bearer token is required", false);
        };
        match self.tokens.verify(token.expose_secret()).await {
            Ok(principal) => {
                tracing::debug!(token_id = %principal.token_id, "token verified");
                let mut data = Data::default();
                data.insert(self.writes.session(principal.clone()));
                data.insert(self.reads.session(principal));
                next.run_with_data(ctx, operation_name, data).await
            }
            Err(AuthError::Unavailable(e)) => {
                tracing::error!(error = %e, "partner tokens cannot be verified");
                refused(
                    Code::Internal,
                    "credentials cannot be checked right now; retry later",
                    true,
                )
            }
            // Missing, invalid and revoked look the same to the caller.
            Err(_) => refused(
                Code::Unauthenticated,
                "the bearer token is not valid",
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let t = bearer(Some("Bearer pms_abc_def")).unwrap();
        assert_eq!(t.expose_secret(), "pms_abc_def");
        assert!(bearer(Some("bearer  x ")).is_some());
        assert!(bearer(Some("Basic dXNlcg==")).is_none());
        assert!(bearer(Some("Bearer ")).is_none());
        assert!(bearer(None).is_none());
    }
}
