//! Observability shared by every function: JSON logs Lambda's advanced logging understands, an
//! invocation span that puts function, hotel, provider and correlation id on every line, and
//! CloudWatch Embedded Metric Format metrics flushed once per invocation.

mod logging;
mod metrics;

pub use logging::{
    configured_level, correlation_id_from, init_logging, invocation_span, message_span,
    new_correlation_id, subscriber,
};
pub use metrics::Metrics;
