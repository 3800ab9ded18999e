//! The correlation id of the work in progress (a partner's request, the job or write message
//! carrying it), for the vendor requests that work makes: they send it as `X-Correlation-Id`,
//! so one id follows a request from the partner to the PMS (and into a vendor's support case).

use std::future::Future;

tokio::task_local! {
    static CORRELATION: String;
}

/// The header vendor requests carry the correlation id in.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Runs `work` with `correlation_id` as the id of every vendor request it makes.
pub async fn scope<F: Future>(correlation_id: impl Into<String>, work: F) -> F::Output {
    CORRELATION.scope(correlation_id.into(), work).await
}

/// The correlation id in force, if any.
pub fn current() -> Option<String> {
    CORRELATION.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_holds_inside_its_scope_only() {
        assert_eq!(current(), None);
        let inside = scope("c-1", async { current() }).await;
        assert_eq!(inside.as_deref(), Some("c-1"));
        assert_eq!(current(), None);
    }
}
