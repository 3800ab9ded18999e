//! SQS semantics the in-memory queue leaves out, added around it for the in-memory lanes:
//! visibility timeouts (a received message comes back when its timeout passes, or when
//! `change_visibility` says), delayed sends, and the redrive policy (a message received more
//! than `maxReceiveCount` times moves to its dead-letter queue), as template.yaml configures.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pms_core::memory::MemoryQueue;
use pms_core::ports::{BatchSendFailure, OutgoingMessage, PortResult, Queue, ReceivedMessage};

pub struct SqsLikeQueue {
    inner: MemoryQueue,
    /// Source queue URL -> (dead-letter queue URL, maxReceiveCount).
    redrive: BTreeMap<String, (String, u32)>,
    default_visibility: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Receipt handle -> (queue URL, visible again at).
    hidden: HashMap<String, (String, Instant)>,
    /// Sends with a delay: (queue URL, due, message).
    delayed: Vec<(String, Instant, OutgoingMessage)>,
}

impl SqsLikeQueue {
    pub fn new(redrive: BTreeMap<String, (String, u32)>, default_visibility: Duration) -> Self {
        Self {
            inner: MemoryQueue::new(),
            redrive,
            default_visibility,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes due messages visible and sends due delayed messages.
    async fn tick(&self, queue_url: &str) -> PortResult<()> {
        let now = Instant::now();
        let (due_hidden, due_sends) = {
            let mut s = self.lock();
            let due_hidden: Vec<String> = s
                .hidden
                .iter()
                .filter(|(_, (q, at))| q == queue_url && *at <= now)
                .map(|(h, _)| h.clone())
                .collect();
            for h in &due_hidden {
                s.hidden.remove(h);
            }
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut s.delayed)
                .into_iter()
                .partition(|(q, at, _)| q == queue_url && *at <= now);
            s.delayed = later;
            (due_hidden, due)
        };
        for h in due_hidden {
            self.inner
                .change_visibility(queue_url, &h, Duration::ZERO)
                .await?;
        }
        for (q, _, m) in due_sends {
            self.inner.send(&q, m).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsLikeQueue {
    async fn send(&self, queue_url: &str, message: OutgoingMessage) -> PortResult<String> {
        match message.delay.filter(|d| !d.is_zero()) {
            Some(delay) => {
                let id = uuid::Uuid::new_v4().to_string();
                self.lock()
                    .delayed
                    .push((queue_url.to_owned(), Instant::now() + delay, message));
                Ok(id)
            }
            None => self.inner.send(queue_url, message).await,
        }
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
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        self.tick(queue_url).await?;
        let visibility = visibility_timeout.unwrap_or(self.default_visibility);
        let mut out = Vec::new();
        // Messages moved to the DLQ take no place in the answer: read again (bounded).
        for _ in 0..10 {
            let got = self
                .inner
                .receive(queue_url, max_messages, wait, None)
                .await?;
            if got.is_empty() {
                break;
            }
            for m in got {
                match self.redrive.get(queue_url) {
                    Some((dlq, max)) if m.receive_count > *max => {
                        self.inner.delete(queue_url, &m.receipt_handle).await?;
                        let mut moved = OutgoingMessage::new(m.body);
                        moved.attributes = m.attributes;
                        self.inner.send(dlq, moved).await?;
                    }
                    _ => {
                        self.lock().hidden.insert(
                            m.receipt_handle.clone(),
                            (queue_url.to_owned(), Instant::now() + visibility),
                        );
                        out.push(m);
                    }
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> PortResult<()> {
        self.lock().hidden.remove(receipt_handle);
        self.inner.delete(queue_url, receipt_handle).await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        if timeout.is_zero() {
            self.lock().hidden.remove(receipt_handle);
            self.inner
                .change_visibility(queue_url, receipt_handle, Duration::ZERO)
                .await
        } else {
            let mut s = self.lock();
            if let Some(entry) = s.hidden.get_mut(receipt_handle) {
                entry.1 = Instant::now() + timeout;
            }
            Ok(())
        }
    }

    async fn depth(&self, queue_url: &str) -> PortResult<u64> {
        let delayed = self
            .lock()
            .delayed
            .iter()
            .filter(|(q, _, _)| q == queue_url)
            .count() as u64;
        Ok(self.inner.depth(queue_url).await? + delayed)
    }
}

/// Sends with a delay, on either backend, held until the delay has passed or the driver lets
/// time pass ([`DelayedSends::release_all`], with the lane's clock): the writer replaces a
/// message that must wait (an unknown outcome's settle window, another delivery's lease) with a
/// copy delayed by the wait, measured on the lane's clock, which the driver fast-forwards.
pub struct DelayedSends {
    inner: Arc<dyn Queue>,
    held: Mutex<Vec<(String, Instant, OutgoingMessage)>>,
}

impl DelayedSends {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        Self {
            inner,
            held: Mutex::new(Vec::new()),
        }
    }

    fn take(&self, due: impl Fn(&Instant) -> bool) -> Vec<(String, OutgoingMessage)> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *held)
            .into_iter()
            .partition(|(_, at, _)| due(at));
        *held = later;
        now.into_iter().map(|(q, _, m)| (q, m)).collect()
    }

    async fn send_all(&self, due: Vec<(String, OutgoingMessage)>) -> PortResult<()> {
        for (q, mut m) in due {
            m.delay = None;
            self.inner.send(&q, m).await?;
        }
        Ok(())
    }

    /// Every held send goes out now.
    pub async fn release_all(&self) -> PortResult<()> {
        self.send_all(self.take(|_| true)).await
    }
}

#[async_trait]
impl Queue for DelayedSends {
    async fn send(&self, queue_url: &str, message: OutgoingMessage) -> PortResult<String> {
        match message.delay.filter(|d| !d.is_zero()) {
            Some(delay) => {
                self.held.lock().unwrap_or_else(|p| p.into_inner()).push((
                    queue_url.to_owned(),
                    Instant::now() + delay,
                    message,
                ));
                Ok(uuid::Uuid::new_v4().to_string())
            }
            None => self.inner.send(queue_url, message).await,
        }
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        messages: Vec<OutgoingMessage>,
    ) -> PortResult<Vec<BatchSendFailure>> {
        self.inner.send_batch(queue_url, messages).await
    }

    async fn receive(
        &self,
        queue_url: &str,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        let now = Instant::now();
        self.send_all(self.take(|at| *at <= now)).await?;
        self.inner
            .receive(queue_url, max_messages, wait, visibility_timeout)
            .await
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> PortResult<()> {
        self.inner.delete(queue_url, receipt_handle).await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        self.inner
            .change_visibility(queue_url, receipt_handle, timeout)
            .await
    }

    async fn depth(&self, queue_url: &str) -> PortResult<u64> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(q, _, _)| q == queue_url)
            .count() as u64;
        Ok(self.inner.depth(queue_url).await? + held)
    }

    async fn start_move_all(&self, dlq_url: &str, source_url: &str) -> PortResult<bool> {
        self.inner.start_move_all(dlq_url, source_url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn visibility_delays_and_the_redrive_policy_behave_as_in_sqs() {
        let q = SqsLikeQueue::new(
            BTreeMap::from([("q".to_owned(), ("dlq".to_owned(), 2))]),
            Duration::from_secs(30),
        );
        let receive = |url: &'static str| q.receive(url, 10, Duration::ZERO, None);
        q.send("q", OutgoingMessage::new("a")).await.unwrap();
        let m = receive("q").await.unwrap();
        assert_eq!((m.len(), m[0].receive_count), (1, 1));
        assert!(receive("q").await.unwrap().is_empty(), "in flight");
        q.change_visibility("q", &m[0].receipt_handle, Duration::from_millis(40))
            .await
            .unwrap();
        assert!(receive("q").await.unwrap().is_empty(), "hidden for 40 ms");
        tokio::time::sleep(Duration::from_millis(60)).await;
        let m = receive("q").await.unwrap();
        assert_eq!(m[0].receive_count, 2);
        q.change_visibility("q", &m[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
        // A third receive is over maxReceiveCount 2: the message moves to the DLQ instead.
        assert!(receive("q").await.unwrap().is_empty());
        let dead = receive("dlq").await.unwrap();
        assert_eq!(dead[0].body, "a");
        assert_eq!(q.depth("q").await.unwrap(), 0);

        let mut later = OutgoingMessage::new("b");
        later.delay = Some(Duration::from_millis(40));
        q.send("q", later).await.unwrap();
        assert_eq!(q.depth("q").await.unwrap(), 1);
        assert!(receive("q").await.unwrap().is_empty(), "delayed");
        tokio::time::sleep(Duration::from_millis(60)).await;
        let m = receive("q").await.unwrap();
        q.delete("q", &m[0].receipt_handle).await.unwrap();
        assert_eq!(q.depth("q").await.unwrap(), 0);
    }
}
