//! One delivery of one event to one subscription: the signed request (Standard Webhooks
//! headers over the exact body sent), the POST (10 s, no redirects, only to the addresses the
//! target check allowed, the response body never read beyond its status), what the answer
//! means, and when to try again.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::model::Subscription;
use crate::signing::{signature_header, SigningSecret};
use crate::target::{Target, TargetError, TargetPolicy};
use pms_domain::domain::events::DomainEvent;

/// A receiver must answer within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits before each retry (the Standard Webhooks reference schedule): an event is tried for
/// about 27.5 hours before it is a dead letter.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed; `None`:
/// the schedule is spent, the delivery is a dead letter.
pub fn retry_delay(attempt: u32) -> Option<Duration> {
    RETRY_SCHEDULE
        .get(attempt.checked_sub(1)? as usize)
        .copied()
}

/// The request for one event: its id is the event's (the same on every attempt and for every
/// subscription, so a receiver drops repeats); the entity's version is in the body, so a
/// receiver can drop a delivery older than one it has (deliveries are not ordered).
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
}

/// The JSON body of an event's delivery.
pub fn body(event: &DomainEvent) -> serde_json::Value {
    json!({
        "type": event.event_type.as_str(),
        "timestamp": event.occurred_at,
        "data": {
            "eventId": event.id,
            "hotelId": event.hotel_id,
            "provider": event.provider,
            "entityId": event.entity_id,
            "version": event.version,
            "correlationId": event.correlation_id,
            "record": event.data,
            "changes": event.changes,
        }
    })
}

impl SignedRequest {
    pub fn new(event: &DomainEvent, secrets: &[SigningSecret], now: DateTime<Utc>) -> Self {
        let id = format!("msg_{}", event.id);
        let timestamp = now.timestamp();
        let body = body(event).to_string().into_bytes();
        let signature = signature_header(secrets, &id, timestamp, &body);
        Self {
            id,
            timestamp,
            signature,
            body,
        }
    }
}

/// What a receiver's answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Delivered,
    /// 410: the receiver asks to stop; the subscription is disabled.
    Gone,
    /// Anything else (or no answer): try again on the schedule.
    Retry,
}

pub fn classify(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        _ => Answer::Retry,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The URL no longer passes the target check (its host now resolves inside a network).
    #[error(transparent)]
    Target(#[from] TargetError),
    /// No answer within the timeout, or the connection failed. The error's text names no URL
    /// query (it may carry a receiver's token).
    #[error("no answer from {host}: {kind}")]
    Unanswered { host: String, kind: &'static str },
}

/// Posts deliveries.
#[derive(Clone)]
pub struct Deliverer {
    policy: TargetPolicy,
    timeout: Duration,
}

impl Deliverer {
    pub fn new(policy: TargetPolicy) -> Self {
        Self {
            policy,
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// Another timeout than [`REQUEST_TIMEOUT`] (the chaos suite's slow receivers).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Posts `request` to the subscription's URL and returns the HTTP status. The host is
    /// resolved and checked now, and the connection goes only to those addresses.
    pub async fn post(
        &self,
        subscription: &Subscription,
        request: &SignedRequest,
    ) -> Result<u16, DeliveryError> {
        let target = Target::parse(&subscription.url, self.policy)?;
        let addrs: Vec<SocketAddr> = target.resolve(self.policy).await?;
        let host = target.host();
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|_| DeliveryError::Unanswered {
                host: host.clone(),
                kind: "client",
            })?;
        let response = client
            .post(target.url().clone())
            .header("content-type", "application/json")
            .header("user-agent", "pms-integration-webhooks/1")
            .header("webhook-id", &request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", &request.signature)
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| DeliveryError::Unanswered {
                host: host.clone(),
                kind: if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                },
            })?;
        // The body is not read: receivers' answers are not stored.
        Ok(response.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::verify;
    use pms_domain::domain::events::{EventType, FieldChange};
    use pms_domain::domain::{HotelId, Provider};

    fn event() -> DomainEvent {
        DomainEvent::new(
            EventType::BookingCheckedIn,
            HotelId::parse("h1").unwrap(),
            Provider::named("mews"),
            "mews:r1",
            7,
            Utc::now(),
            Some("c-1".into()),
            json!({"status": "checked_in", "roomNumber": "204"}),
        )
        .with_changes(vec![FieldChange {
            field: "status".into(),
            before: json!("confirmed"),
            after: json!("checked_in"),
        }])
    }

    /// A receiver on loopback answering `status`, keeping what it was sent.
    async fn receiver(
        status: u16,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>,
    ) {
        use axum::routing::post;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let kept = kept.clone();
                    async move {
                        kept.lock().unwrap().push((headers, body.to_vec()));
                        let mut r =
                            axum::response::Response::new(axum::body::Body::from("x".repeat(64)));
                        *r.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                        if status == 302 {
                            r.headers_mut().insert(
                                "location",
                                "http://127.0.0.1:1/elsewhere".parse().unwrap(),
                            );
                        }
                        r
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), seen)
    }

    fn subscription(url: &str) -> Subscription {
        Subscription {
            id: crate::model::SubscriptionId::generate(),
            hotel_id: HotelId::parse("h1").unwrap(),
            url: url.into(),
            events: vec![EventType::BookingCheckedIn],
            enabled: true,
            disabled_reason: None,
            created_by: "staff:test".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            secret_rotated_at: None,
            failing_since: None,
        }
    }

    #[tokio::test]
    async fn a_receiver_gets_a_delivery_it_can_verify_and_its_answer_decides() {
        let secret = SigningSecret::generate();
        let d = Deliverer::new(TargetPolicy::AllowLoopback);
        let (url, seen) = receiver(204).await;
        let r = SignedRequest::new(&event(), std::slice::from_ref(&secret), Utc::now());
        assert_eq!(d.post(&subscription(&url), &r).await.unwrap(), 204);
        let (headers, body) = seen.lock().unwrap()[0].clone();
        let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
        verify(
            &secret,
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &h("webhook-signature"),
            &body,
            Utc::now().timestamp(),
        )
        .unwrap();

        let (gone, _) = receiver(410).await;
        let status = d.post(&subscription(&gone), &r).await.unwrap();
        assert_eq!(classify(status), Answer::Gone);
        // A redirect is an answer, not a place to go (it could point inside our network).
        let (moved, _) = receiver(302).await;
        let status = d.post(&subscription(&moved), &r).await.unwrap();
        assert_eq!((status, classify(status)), (302, Answer::Retry));
    }

    #[tokio::test]
    async fn in_aws_a_loopback_receiver_is_refused_and_a_dead_one_is_unanswered() {
        let (url, seen) = receiver(204).await;
        let r = SignedRequest::new(&event(), &[SigningSecret::generate()], Utc::now());
        let aws = Deliverer::new(TargetPolicy::PublicOnly);
        assert!(matches!(
            aws.post(&subscription(&url), &r).await,
            Err(DeliveryError::Target(_))
        ));
        assert!(seen.lock().unwrap().is_empty());
        let local = Deliverer::new(TargetPolicy::AllowLoopback);
        assert!(matches!(
            local
                .post(&subscription("http://127.0.0.1:1/hook"), &r)
                .await,
            Err(DeliveryError::Unanswered { .. })
        ));
    }

    #[test]
    fn the_schedule_spans_more_than_a_day_then_stops() {
        let total: Duration = (1..=7).filter_map(retry_delay).sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        assert_eq!(retry_delay(8), None);
        assert_eq!(retry_delay(0), None);
    }

    #[test]
    fn answers_mean_delivered_gone_or_retry() {
        assert_eq!(classify(204), Answer::Delivered);
        assert_eq!(classify(410), Answer::Gone);
        for s in [301, 400, 404, 429, 500, 503] {
            assert_eq!(classify(s), Answer::Retry, "{s}");
        }
    }

    #[test]
    fn a_request_verifies_with_the_secret_and_says_what_changed() {
        let s = SigningSecret::generate();
        let e = event();
        let r = SignedRequest::new(&e, std::slice::from_ref(&s), Utc::now());
        verify(
            &s,
            &r.id,
            &r.timestamp.to_string(),
            &r.signature,
            &r.body,
            r.timestamp,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "pms.booking.checked_in");
        assert_eq!(v["data"]["version"], 7);
        assert_eq!(v["data"]["changes"][0]["before"], "confirmed");
        assert_eq!(r.id, format!("msg_{}", e.id));
        // The same event is the same message id on every attempt.
        assert_eq!(SignedRequest::new(&e, &[s], Utc::now()).id, r.id);
    }
}
