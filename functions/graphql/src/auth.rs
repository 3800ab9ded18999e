//! Authentication, the first step of every GraphQL request: the bearer token is verified before
//! the body is even decoded, so a request without a valid token costs a header read and a
//! format check (a well-formed token: one store read), never a parse or a validation. A
//! verified token becomes the request's [`ReadSession`](pms_app::reads::ReadSession) and
//! [`WriteSession`](pms_app::writes::WriteSession).

use pms_app::registry::{AuthError, Principal, TokenService};
use secrecy::{ExposeSecret, SecretString};

/// The token from an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<SecretString> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| SecretString::from(token.to_owned()))
}

/// Why a request was not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, malformed, unknown, revoked: all look the same to the caller.
    Unauthenticated,
    /// The token could not be checked (store or signing key unreachable): fail closed, retry.
    Unavailable,
}

/// Verifies a presented token. The token service checks its format before any read, so
/// garbage costs nothing; the failure's detail goes to the log only.
pub async fn authenticate(
    tokens: &TokenService,
    token: &SecretString,
) -> Result<Principal, Refusal> {
    match tokens.verify(token.expose_secret()).await {
        Ok(principal) => {
            tracing::debug!(token_id = %principal.token_id, "token verified");
            Ok(principal)
        }
        Err(AuthError::Unavailable(e)) => {
            tracing::error!(error = %e, "partner tokens cannot be verified");
            Err(Refusal::Unavailable)
        }
        Err(_) => Err(Refusal::Unauthenticated),
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
