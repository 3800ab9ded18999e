//! SQS semantics the in-memory queue leaves out, added around it for the in-memory lanes:
//! visibility timeouts (a received message comes back when its timeout passes, or when
//! `change_visibility` says), delayed sends, and the redrive policy (a message received more
//! than `maxReceiveCount` times moves to its dead-letter queue), as template.yaml configures.
//!
//! And [`LaneDelays`], around either backend: delayed sends wait in the lane's time, so the
//! driver's fast-forward brings them as it brings back messages hidden for a retry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pms_domain::memory::MemoryQueue;
use pms_domain::ports::{
    BatchSendFailure, Clock, OutgoingMessage, PortResult, Queue, ReceivedMessage,
};

use super::clock::OffsetClock;

/// What SQS makes of a requested delay or visibility: whole seconds (the SQS adapter sends
/// `as_secs()`), at most `cap`. A message asked back in 59.7 s is back in 59 s.
pub fn sqs_seconds(d: Duration, cap: u64) -> chrono::Duration {
    chrono::Duration::seconds(d.as_secs().min(cap) as i64)
}

/// Sends with a delay (`DelaySeconds`), held back in the lane's time: the real queue would hide
/// them for real seconds, which the lane's fast-forward cannot move. Everything else passes.
pub struct LaneDelays {
    inner: Arc<dyn Queue>,
    clock: Arc<OffsetClock>,
    delayed: Mutex<Vec<(String, DateTime<Utc>, OutgoingMessage)>>,
}

impl LaneDelays {
    pub fn new(inner: Arc<dyn Queue>, clock: Arc<OffsetClock>) -> Self {
        Self {
            inner,
            clock,
            delayed: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, DateTime<Utc>, OutgoingMessage)>> {
        self.delayed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the next held send is due (lane time).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock().iter().map(|(_, at, _)| *at).min()
    }

    /// Sends what is due by the lane's clock now; returns how many.
    pub async fn flush_due(&self) -> PortResult<usize> {
        self.flush_until(self.clock.now()).await
    }

    /// Sends everything held, due or not (the queue's retention is about to take it).
    pub async fn flush_all(&self) -> PortResult<usize> {
        self.flush_until(DateTime::<Utc>::MAX_UTC).await
    }

    async fn flush_until(&self, now: DateTime<Utc>) -> PortResult<usize> {
        let due: Vec<(String, OutgoingMessage)> = {
            let mut held = self.lock();
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *held)
                .into_iter()
                .partition(|(_, at, _)| *at <= now);
            *held = later;
            due.into_iter().map(|(q, _, m)| (q, m)).collect()
        };
        let n = due.len();
        for (i, (queue, message)) in due.iter().enumerate() {
            if let Err(e) = self.inner.send(queue, message.clone()).await {
                // Not lost: what was not sent waits for the next flush.
                let mut held = self.lock();
                for (q, m) in due.into_iter().skip(i) {
                    held.push((q, now, m));
                }
                return Err(e);
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl Queue for LaneDelays {
    async fn send(&self, queue_url: &str, mut message: OutgoingMessage) -> PortResult<String> {
        match message.delay.take().filter(|d| !d.is_zero()) {
            Some(delay) => {
                let due = self.clock.now() + sqs_seconds(delay, 900);
                self.lock().push((queue_url.to_owned(), due, message));
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
        let (later, now): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|m| m.delay.is_some_and(|d| !d.is_zero()));
        for m in later {
            self.send(queue_url, m).await?;
        }
        if now.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.send_batch(queue_url, now).await
    }

    async fn receive(
        &self,
        queue_url: &str,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
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
            .lock()
            .iter()
            .filter(|(q, _, _)| q == queue_url)
            .count() as u64;
        Ok(self.inner.depth(queue_url).await? + held)
    }

    async fn start_move_all(&self, dlq_url: &str, source_url: &str) -> PortResult<bool> {
        self.inner.start_move_all(dlq_url, source_url).await
    }
}

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

    #[tokio::test]
    async fn a_delayed_send_waits_in_lane_time_in_whole_seconds() {
        let inner: Arc<dyn Queue> =
            Arc::new(SqsLikeQueue::new(BTreeMap::new(), Duration::from_secs(30)));
        let clock = Arc::new(OffsetClock::new());
        let q = LaneDelays::new(inner, clock.clone());
        let mut later = OutgoingMessage::new("later");
        later.delay = Some(Duration::from_millis(2_700));
        q.send("q", later).await.unwrap();
        q.send("q", OutgoingMessage::new("now")).await.unwrap();
        assert_eq!(
            q.depth("q").await.unwrap(),
            2,
            "a delayed message counts in the depth"
        );
        let got = q.receive("q", 10, Duration::ZERO, None).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "now");
        assert_eq!(
            q.flush_due().await.unwrap(),
            0,
            "not due in real time alone"
        );
        // SQS takes whole seconds: 2.7 s is 2 s.
        clock.advance(chrono::Duration::seconds(2));
        assert_eq!(q.flush_due().await.unwrap(), 1);
        let got = q.receive("q", 10, Duration::ZERO, None).await.unwrap();
        assert_eq!(got[0].body, "later");
        assert!(q.next_due().is_none());
    }
}
