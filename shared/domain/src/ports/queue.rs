use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PortError, PortResult};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub delay: Option<Duration>,
    /// String message attributes (correlation id, hotel, job kind).
    pub attributes: BTreeMap<String, String>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    pub fn with_attribute(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(key.to_owned(), value.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// SQS `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
    pub sent_at: Option<DateTime<Utc>>,
    pub attributes: BTreeMap<String, String>,
}

/// An entry of a batch send that failed after the adapter's own retries.
#[derive(Debug)]
pub struct BatchSendFailure {
    pub index: usize,
    pub error: PortError,
}

/// A message queue (SQS in AWS), addressed by queue URL.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue_url: &str, message: OutgoingMessage) -> PortResult<String>;

    /// Sends many messages in batches of 10, retrying failed entries; returns the entries that
    /// still failed.
    async fn send_batch(
        &self,
        queue_url: &str,
        messages: Vec<OutgoingMessage>,
    ) -> PortResult<Vec<BatchSendFailure>>;

    async fn receive(
        &self,
        queue_url: &str,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>>;

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> PortResult<()>;

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()>;

    /// Approximate visible + in-flight messages.
    async fn depth(&self, queue_url: &str) -> PortResult<u64>;

    /// Asks the queue service to move every message of a dead-letter queue back to `source_url`
    /// (SQS `StartMessageMoveTask`). `Ok(false)` when the endpoint does not support it (moto), so
    /// callers fall back to moving messages one by one.
    async fn start_move_all(&self, _dlq_url: &str, _source_url: &str) -> PortResult<bool> {
        Ok(false)
    }

    /// The latest move task out of this dead-letter queue (SQS `ListMessageMoveTasks`), for
    /// progress; `None` when the endpoint has none or does not support move tasks.
    async fn move_task(&self, _dlq_url: &str) -> PortResult<Option<MoveTask>> {
        Ok(None)
    }
}

/// A move task's state, as the queue service reports it (counts are approximate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveTask {
    Running {
        moved: u64,
        to_move: Option<u64>,
    },
    Completed {
        moved: u64,
    },
    /// Failed or cancelled, with the service's reason.
    Failed {
        moved: u64,
        reason: String,
    },
}
