//! Partner subscriptions under test: a receiver on loopback whose behaviour a test (or the
//! chaos suite) switches, and delivery rounds that run the delivery function in process on
//! the real deliveries queue (moto), deleting what Lambda would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fn_delivery::Delivery;
use serde_json::Value;

use crate::sqs_event;
use crate::writes::{queue_arn, receive};

/// How the receiver answers the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 204, after reading the body.
    Accept,
    /// This status (a 5xx, a 410, a 429).
    Answer(u16),
    /// Accepts after this long (slower than the deliverer's 10 s is a timeout).
    Slow(Duration),
}

/// One request the receiver got (whatever it answered).
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON delivery")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    behaviour: Option<Behaviour>,
    /// Answers for the next requests, before `behaviour` applies again.
    script: std::collections::VecDeque<Behaviour>,
    received: Vec<Received>,
}

/// A receiver on a loopback port. [`Receiver::down`] closes the port (connections refused);
/// [`Receiver::up`] opens it again on the same port.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

async fn hook(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let behaviour = inner.lock().unwrap().behaviour.unwrap_or(Behaviour::Accept);
    let status = match behaviour {
        Behaviour::Accept => 204,
        Behaviour::Answer(s) => s,
        Behaviour::Slow(d) => {
            tokio::time::sleep(d).await;
            204
        }
    };
    inner.lock().unwrap().received.push(Received {
        headers,
        body: body.to_vec(),
        answered: status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut r = Receiver {
            addr,
            inner: Arc::default(),
            server: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.inner.clone());
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// The subscription URL (plain http is allowed on loopback by the local policy only).
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, behaviour: Behaviour) {
        self.inner.lock().unwrap().behaviour = Some(behaviour);
    }

    /// Answers the next requests so, one each, then as [`Receiver::set`] says.
    pub fn script(&self, answers: impl IntoIterator<Item = Behaviour>) {
        self.inner.lock().unwrap().script = answers.into_iter().collect();
    }

    /// Forgets what it received and its script; accepts again.
    pub fn reset(&self) {
        let mut i = self.inner.lock().unwrap();
        i.received.clear();
        i.script.clear();
        i.behaviour = None;
    }

    /// Stops listening: connections are refused until [`Receiver::up`].
    pub async fn down(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
            let _ = s.await;
        }
    }

    pub async fn up(&mut self) {
        if self.server.is_some() {
            return;
        }
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The deliveries it accepted (2xx).
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
}

/// The delivery function over one queue, the way Lambda's event source mapping runs it.
pub struct DeliveryLane {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
}

impl DeliveryLane {
    pub async fn new(sqs: aws_sdk_sqs::Client, queue_url: &str) -> DeliveryLane {
        let arn = queue_arn(&sqs, queue_url).await;
        DeliveryLane {
            sqs,
            queue_url: queue_url.to_owned(),
            queue_arn: arn,
        }
    }

    /// One batch (up to 10 visible messages) through the function; Lambda's rule after it: the
    /// messages not reported as failures are deleted. Returns how many were received.
    pub async fn round(&self, delivery: &Delivery) -> usize {
        let messages = receive(&self.sqs, &self.queue_url, 10, None).await;
        if messages.is_empty() {
            return 0;
        }
        let event: SqsEvent =
            serde_json::from_value(sqs_event(&messages, &self.queue_arn)).expect("an SQS event");
        let response = delivery.process(event).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for m in &messages {
            if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        messages.len()
    }

    /// Rounds until `done` holds or `limit` passes (messages delayed or hidden come back by
    /// themselves; an empty round waits a little).
    pub async fn until(
        &self,
        delivery: &Delivery,
        limit: Duration,
        mut done: impl FnMut() -> bool,
    ) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if done() {
                return true;
            }
            if self.round(delivery).await == 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        done()
    }

    /// Removes every message (events of a sync made before the test's subscriptions).
    pub async fn purge(&self) {
        loop {
            let ms = receive(&self.sqs, &self.queue_url, 10, Some(60)).await;
            if ms.is_empty() {
                return;
            }
            for m in ms {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}
