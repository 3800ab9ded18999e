use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{BatchSendFailure, OutgoingMessage, PortResult, Queue, ReceivedMessage};

#[derive(Clone, Debug)]
struct Stored {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    receives: u32,
    in_flight: bool,
}

/// An in-memory queue: visibility is "in flight until deleted or released", with no timers.
#[derive(Default)]
pub struct MemoryQueue {
    queues: Mutex<BTreeMap<String, VecDeque<Stored>>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bodies of every message on a queue, visible or not.
    pub fn bodies(&self, queue_url: &str) -> Vec<String> {
        self.lock()
            .get(queue_url)
            .map(|q| q.iter().map(|m| m.body.clone()).collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, VecDeque<Stored>>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, queue_url: &str, message: OutgoingMessage) -> PortResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.lock()
            .entry(queue_url.to_owned())
            .or_default()
            .push_back(Stored {
                id: id.clone(),
                body: message.body,
                attributes: message.attributes,
                receives: 0,
                in_flight: false,
            });
        Ok(id)
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        messages: Vec<OutgoingMessage>,
    ) -> PortResult<Vec<BatchSendFailure>> {
        for m in messages {
            self.send(queue_url, m).await?;
        }
        Ok(Vec::new())
    }

    async fn receive(
        &self,
        queue_url: &str,
        max_messages: u32,
        _wait: Duration,
        _visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        let mut queues = self.lock();
        let Some(q) = queues.get_mut(queue_url) else {
            return Ok(Vec::new());
        };
        Ok(q.iter_mut()
            .filter(|m| !m.in_flight)
            .take(max_messages as usize)
            .map(|m| {
                m.in_flight = true;
                m.receives += 1;
                ReceivedMessage {
                    message_id: m.id.clone(),
                    receipt_handle: m.id.clone(),
                    body: m.body.clone(),
                    receive_count: m.receives,
                    sent_at: None,
                    attributes: m.attributes.clone(),
                }
            })
            .collect())
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> PortResult<()> {
        if let Some(q) = self.lock().get_mut(queue_url) {
            q.retain(|m| m.id != receipt_handle);
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        if timeout.is_zero() {
            if let Some(m) = self
                .lock()
                .get_mut(queue_url)
                .and_then(|q| q.iter_mut().find(|m| m.id == receipt_handle))
            {
                m.in_flight = false;
            }
        }
        Ok(())
    }

    async fn depth(&self, queue_url: &str) -> PortResult<u64> {
        Ok(self
            .lock()
            .get(queue_url)
            .map(|q| q.len() as u64)
            .unwrap_or(0))
    }
}
