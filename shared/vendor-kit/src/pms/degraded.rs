//! Optional lookups (a Mews read's customers, notes, rates, categories) that failed and were
//! left out, so the primary read still answers. Only refusals degrade: a token scoped to fewer
//! operations than we ask for answers 403 or 404 for the ones it lacks, and that answer will not
//! change on a retry. A transient failure (5xx, timeout, 429, after the retry policy) still fails
//! the read, so the caller's retry gets a whole answer instead of a record stored without parts
//! it had.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use pms_domain::domain::Provider;
use pms_domain::pms::{PmsError, PmsResult};

static DEGRADED: AtomicU64 = AtomicU64::new(0);

/// Whether a failed optional lookup may be left out (see the module's comment).
pub fn may_degrade(e: &PmsError) -> bool {
    matches!(
        e,
        PmsError::InvalidRequest { .. }
            | PmsError::NotFound { .. }
            | PmsError::Unsupported { .. }
            | PmsError::Protocol { .. }
    )
}

/// Runs an optional lookup: a refusal is logged (with the vendor's status and request id),
/// counted, and answered with an empty value.
pub async fn optional<T: Default>(
    provider: Provider,
    lookup: &'static str,
    call: impl Future<Output = PmsResult<T>>,
) -> PmsResult<T> {
    match call.await {
        Ok(v) => Ok(v),
        Err(e) if may_degrade(&e) => {
            let status = match &e {
                PmsError::InvalidRequest { status, .. } => *status,
                PmsError::NotFound { .. } => Some(404),
                _ => None,
            };
            tracing::warn!(
                provider = %provider,
                lookup,
                status = ?status,
                code = e.code(),
                request_id = ?e.request_id(),
                error = %e,
                "an optional lookup failed; its part of the answer is left empty"
            );
            DEGRADED.fetch_add(1, Ordering::Relaxed);
            Ok(T::default())
        }
        Err(e) => Err(e),
    }
}

/// Lookups left out since the last call (the invocation's metric `EnrichmentsDegraded`).
pub fn take() -> u64 {
    DEGRADED.swap(0, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refusals_degrade_and_are_counted_transient_failures_do_not() {
        let p = Provider::named("mews");
        take();
        let refused: PmsResult<Vec<u8>> = Err(PmsError::InvalidRequest {
            message: "Forbidden".into(),
            status: Some(403),
            request_id: Some("r1".into()),
        });
        assert!(optional(p, "rates", async { refused })
            .await
            .unwrap()
            .is_empty());
        let missing: PmsResult<Vec<u8>> = Err(PmsError::not_found("operation"));
        assert!(optional(p, "notes", async { missing }).await.is_ok());
        let down: PmsResult<Vec<u8>> = Err(PmsError::unavailable(
            pms_domain::pms::UnavailableCause::Http(503),
            "down",
        ));
        assert!(optional(p, "customers", async { down }).await.is_err());
        let limited: PmsResult<Vec<u8>> = Err(PmsError::RateLimited {
            retry_after: None,
            request_id: None,
        });
        assert!(optional(p, "customers", async { limited }).await.is_err());
        assert_eq!(take(), 2);
        assert_eq!(take(), 0);
    }
}
