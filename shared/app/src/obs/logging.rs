use tracing::Span;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Crates that log what passes through them when verbose, held at these levels whatever level
/// is configured: the Lambda runtime logs each raw invocation payload at TRACE (partner data,
/// tokens in headers), and the SDK, HTTP and TLS stacks log request parameters and bodies at
/// DEBUG. Targets match by prefix (`aws_smithy` covers `aws_smithy_runtime`).
const CLAMPED: &[(&str, LevelFilter)] = &[
    ("lambda_runtime", LevelFilter::INFO),
    ("lambda_http", LevelFilter::INFO),
    ("aws_lambda_events", LevelFilter::INFO),
    ("aws_config", LevelFilter::WARN),
    ("aws_credential_types", LevelFilter::WARN),
    ("aws_runtime", LevelFilter::WARN),
    ("aws_sdk", LevelFilter::WARN),
    ("aws_sigv4", LevelFilter::WARN),
    ("aws_smithy", LevelFilter::WARN),
    ("hyper", LevelFilter::WARN),
    ("h2", LevelFilter::WARN),
    ("reqwest", LevelFilter::WARN),
    ("rustls", LevelFilter::WARN),
    ("tokio_rustls", LevelFilter::WARN),
    ("tower", LevelFilter::WARN),
];

/// The configured level: `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls),
/// else `RUST_LOG`, else `info`.
pub fn configured_level() -> String {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into())
}

/// A level name (Lambda's TRACE..FATAL, any case) or a `RUST_LOG` directive list; anything
/// unreadable is `info`.
fn level_filter(level: &str) -> EnvFilter {
    let level = level.trim().to_ascii_lowercase();
    // Lambda has FATAL; tracing's most severe level is ERROR.
    let level = if level == "fatal" { "error" } else { &level };
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The clamp: a second filter every event must also pass, so no level or directive given to
/// [`level_filter`] can open the crates of [`CLAMPED`] further.
fn clamp() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CLAMPED.iter().copied())
}

/// The JSON subscriber at `level`, writing to `writer`.
pub fn subscriber<W>(level: &str, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        // Lambda reads `level`, `message` and `timestamp` at the top level.
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_ansi(false)
        .with_writer(writer);
    tracing_subscriber::registry()
        .with(level_filter(level))
        .with(clamp())
        .with(fmt)
}

/// Installs the JSON subscriber once per process, at [`configured_level`].
pub fn init_logging() {
    let _ = subscriber(&configured_level(), std::io::stdout).try_init();
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

/// The span of one queued unit of work (a write message): the correlation id it carries (the
/// partner's request's, not the Lambda invocation's), its hotel and provider once known and
/// the operation, so a partner's id finds every line of its work.
pub fn message_span(function: &'static str, correlation_id: &str) -> Span {
    tracing::info_span!(
        "message",
        function,
        correlation_id,
        hotel = tracing::field::Empty,
        provider = tracing::field::Empty,
        operation_id = tracing::field::Empty
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
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
        }
    }

    /// What the subscriber at `level` writes when every crate logs at every level.
    fn logged_at(level: &str) -> String {
        let out = Capture::default();
        let writer = out.clone();
        tracing::subscriber::with_default(subscriber(level, move || writer.clone()), || {
            // What the runtime does with an event at TRACE (lambda_runtime's api_response
            // layer), and what the SDK and HTTP stacks do at DEBUG.
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "RAW-EVENT-1", "raw payload");
            tracing::debug!(target: "lambda_runtime_api_client", body = "RAW-EVENT-2", "next event");
            tracing::debug!(target: "lambda_http::request", body = "RAW-EVENT-3", "request");
            tracing::trace!(target: "aws_lambda_events::encodings", body = "RAW-EVENT-4", "decode");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", input = "RAW-EVENT-5", "send");
            tracing::debug!(target: "aws_sdk_dynamodb::operation", input = "RAW-EVENT-6", "put_item");
            tracing::trace!(target: "hyper_util::client", body = "RAW-EVENT-7", "write");
            tracing::debug!(target: "reqwest::connect", url = "RAW-EVENT-8", "connect");
            tracing::debug!(target: "rustls::client", data = "RAW-EVENT-9", "handshake");
            tracing::debug!(target: "pms_app::sync", "ours-debug");
            tracing::warn!(target: "aws_smithy_runtime::client", "sdk-warning");
            tracing::info!(target: "lambda_runtime", "runtime-info");
        });
        out.text()
    }

    #[test]
    fn no_log_level_lets_the_runtime_or_sdk_log_raw_events() {
        for level in [
            "TRACE",
            "DEBUG",
            "INFO",
            "WARN",
            "trace",
            "debug,lambda_runtime=trace,aws_smithy_runtime=trace,hyper=trace",
            "lambda_runtime=trace",
        ] {
            let text = logged_at(level);
            assert!(!text.contains("RAW-EVENT"), "{level}: {text}");
        }
        for level in ["TRACE", "DEBUG", "INFO", "WARN"] {
            assert!(logged_at(level).contains("sdk-warning"), "{level}");
        }
        // The configured level still governs our own crates and the clamped crates below it.
        assert!(logged_at("DEBUG").contains("ours-debug"));
        assert!(logged_at("DEBUG").contains("runtime-info"));
        assert!(!logged_at("INFO").contains("ours-debug"));
        assert!(!logged_at("ERROR").contains("sdk-warning"));
        assert!(!logged_at("FATAL").contains("sdk-warning"));
    }

    #[test]
    fn correlation_ids_are_sanitised() {
        assert_eq!(correlation_id_from(Some("abc-123")), "abc-123");
        let made = correlation_id_from(Some("evil\n{\"level\":\"ERROR\"}"));
        assert_ne!(made, "evil\n{\"level\":\"ERROR\"}");
        assert_eq!(made.len(), 36);
        assert_eq!(correlation_id_from(None).len(), 36);
    }
}
