use tracing::Span;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per process. Level from `AWS_LAMBDA_LOG_LEVEL` (set by
/// Lambda's advanced logging controls), else `RUST_LOG`, else `info`.
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .map(|l| l.to_lowercase())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    // The SDK's own debug logs can include request parameters; keep them at warn.
    let filter = EnvFilter::try_new(format!(
        "{level},aws_smithy_runtime=warn,aws_config=warn,hyper=warn,h2=warn,rustls=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        // Lambda reads `level`, `message` and `timestamp` at the top level.
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
}

/// The span of one invocation; `hotel` and `provider` are filled in once known.
pub fn invocation_span(function: &'static str, correlation_id: &str) -> Span {
    tracing::info_span!(
        "invocation",
        function,
        correlation_id,
        hotel = tracing::field::Empty,
        provider = tracing::field::Empty
    )
}

pub fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Takes a correlation id from an incoming request or message when it is a sane token, else
/// makes one. Partner-supplied ids are length- and charset-limited so they cannot forge log
/// structure.
pub fn correlation_id_from(candidate: Option<&str>) -> String {
    match candidate.map(str::trim) {
        Some(c)
            if !c.is_empty()
                && c.len() <= 128
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.:".contains(ch)) =>
        {
            c.to_owned()
        }
        _ => new_correlation_id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_sanitised() {
        assert_eq!(correlation_id_from(Some("abc-123")), "abc-123");
        let made = correlation_id_from(Some("evil\n{\"level\":\"ERROR\"}"));
        assert_ne!(made, "evil\n{\"level\":\"ERROR\"}");
        assert_eq!(made.len(), 36);
        assert_eq!(correlation_id_from(None).len(), 36);
    }
}
