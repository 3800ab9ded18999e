//! What the ingestion tests share: a stack on moto (the shared `TestStack`, provisioned from
//! template.yaml), the services wired over it exactly as the
//! functions wire them, the webhook function and the sync worker called in process with real
//! event payloads, hotels on the mock PMS, and an observer of the event bus (a rule that
//! copies every event to an SQS queue).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use lambda_http::http::HeaderMap;
use pms_app::names::ResourceNames;
use pms_app::processor::{Backoff, JobProcessor};
use pms_app::refresh::RefreshService;
use pms_app::registry::{IngestCredentials, IngestKeys, PartnerSystem, Scope};
use pms_app::runtime::Services;
use pms_app::webhooks::WebhookDeliveries;
use pms_aws::{DynamoStore, EventBridgeBus, SecretsManagerStore, SqsQueue};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider};
use pms_domain::ports::{Clock, ItemStore, SecretStore, SystemClock};
use pms_mock::MockPms;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sync_worker_fn::Worker;
use webhook_fn::App;

pub use pms_tests::TestStack as Stack;

const EVENT_TEMPLATE: &str = include_str!("../../../fixtures/apigw/http-api-v2-post.json");

pub struct Harness {
    pub stack: Stack,
    pub services: Services,
    pub app: App,
    pub worker: Worker,
    sqs: aws_sdk_sqs::Client,
}

pub struct TestHotel {
    pub id: HotelId,
    pub token: String,
    pub provider_key: String,
    pub webhook_secret: Option<String>,
    pub pms: Arc<MockPms>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A problem-details answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{:#}", self.json);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.json["status"], status);
        assert_eq!(self.json["code"], code, "{:#}", self.json);
        assert!(self.json["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("tag:")));
        assert!(self.json["title"].is_string() && self.json["detail"].is_string());
        assert!(self.json["correlationId"].is_string());
    }

    /// The field errors of a 422, as (field, code).
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or_default().to_owned(),
                            e["code"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An API Gateway HTTP API (v2) event: the committed fixture with this request's method, path,
/// headers and body.
pub fn apigw_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut event: Value = serde_json::from_str(EVENT_TEMPLATE).expect("fixture");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["routeKey"] = json!("$default");
    event["pathParameters"] = json!({});
    let h = event["headers"].as_object_mut().expect("headers");
    h.remove("content-type");
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), json!(v));
    }
    h.insert(
        "content-length".into(),
        json!(body.map_or(0, str::len).to_string()),
    );
    match body {
        Some(b) => event["body"] = json!(b),
        None => {
            event.as_object_mut().expect("event").remove("body");
        }
    }
    event
}

/// Puts a decorator (counting, failing) around a port.
pub type Wrap<P> = Box<dyn FnOnce(Arc<P>) -> Arc<P>>;

/// What a test may put between the services and moto.
pub struct Ports {
    pub clock: Arc<dyn Clock>,
    /// Wraps the table's store.
    pub store: Wrap<dyn ItemStore>,
    /// Wraps Secrets Manager (underneath the services' cache).
    pub secrets: Wrap<dyn SecretStore>,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            store: Box::new(|s| s),
            secrets: Box::new(|s| s),
        }
    }
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_ports(Ports::default()).await
    }

    /// The harness with the test's clock and decorators around the AWS adapters.
    pub async fn with_ports(ports: Ports) -> Harness {
        let stack = Stack::new().await;
        let env = stack.env();
        let names = ResourceNames::from_lookup(|k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .expect("env contract");
        let sdk = &stack.sdk_config;
        let services = Services::from_parts(
            names.clone(),
            ports.clock.clone(),
            (ports.store)(Arc::new(DynamoStore::from_config(
                sdk,
                &names.table,
                ports.clock.clone(),
            ))),
            Arc::new(SqsQueue::from_config(sdk)),
            (ports.secrets)(Arc::new(SecretsManagerStore::from_config(sdk))),
            Arc::new(EventBridgeBus::from_config(sdk, &names.event_bus)),
        )
        .with_vendors(pms_vendors::all());
        let app = App::new(&services);
        // No backoff in tests: a failed message is visible again at once.
        let processor = JobProcessor::new(
            RefreshService::new(
                services.hotels.clone(),
                services.adapters.clone(),
                services.merger.clone(),
                WebhookDeliveries::new(services.store.clone(), services.clock.clone()),
            ),
            services.queue.clone(),
            services.names.sync_queue_url.clone(),
        )
        .with_refresh_queue(services.names.refresh_queue_url.clone())
        .with_backoff(Backoff {
            base: Duration::ZERO,
            cap: Duration::ZERO,
        });
        let worker = Worker::with_processor(&services, processor);
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config);
        Harness {
            stack,
            services,
            app,
            worker,
            sqs,
        }
    }

    /// A hotel on the mock PMS with a partner token (scope ingest), a provider key for the
    /// partner system `acme`, and (when `webhook`) a webhook secret.
    pub async fn hotel(&self, property_id: Option<&str>, webhook: bool) -> TestHotel {
        let id = HotelId::parse(format!(
            "h-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        ))
        .expect("hotel id");
        let mut config = HotelConfig::new(
            id.clone(),
            "Test hotel",
            Provider::named("mock"),
            PropertyTz::parse("Europe/Prague").expect("tz"),
            Currency::eur(),
            // The harness's clock, as its tokens' (a token grants hotels made before it).
            self.services.clock.now(),
        );
        config.vendor.property_id = property_id.map(str::to_owned);
        self.services.hotels.create(&config).await.expect("hotel");
        let (token, _) = self
            .services
            .tokens
            .create(vec![id.clone()], vec![Scope::Ingest], "tests")
            .await
            .expect("token");
        let secrets: Arc<dyn SecretStore> = self.services.secrets.clone();
        let keys = IngestKeys::new(secrets, self.services.names.secrets_prefix.clone());
        let mut creds = IngestCredentials::default();
        let provider_key = creds.rotate_partner_key(&PartnerSystem::parse("acme").expect("p"));
        let webhook_secret = webhook.then(|| creds.rotate_webhook_secret());
        keys.put(&id, &creds).await.expect("ingest secret");
        let pms = MockPms::shared(
            &id,
            config.time_zone,
            config.currency,
            Arc::new(SystemClock),
        );
        TestHotel {
            id,
            token: token.expose_secret().to_owned(),
            provider_key: provider_key.expose_secret().to_owned(),
            webhook_secret: webhook_secret.map(|s| s.expose_secret().to_owned()),
            pms,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let event = apigw_event(method, path, headers, body);
        let req = lambda_http::request::from_str(&event.to_string()).expect("apigw request");
        let resp = self.app.handle(req).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let json = match resp.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).expect("JSON body"),
            lambda_http::Body::Empty => Value::Null,
            lambda_http::Body::Binary(b) => serde_json::from_slice(b).expect("JSON body"),
            _ => Value::Null,
        };
        let reply = Reply {
            status,
            headers,
            json,
        };
        assert_documented(method, path, &reply);
        reply
    }

    /// Partner push with both credentials.
    pub async fn push(
        &self,
        hotel: &TestHotel,
        kind: &str,
        body: &Value,
        extra: &[(&str, &str)],
    ) -> Reply {
        let auth = format!("Bearer {}", hotel.token);
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("x-provider-key", hotel.provider_key.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        self.call(
            "POST",
            &format!("/v1/hotels/{}/{kind}", hotel.id),
            &headers,
            Some(&body.to_string()),
        )
        .await
    }

    pub async fn webhook(&self, vendor: &str, hotel: &TestHotel, body: &str) -> Reply {
        let secret = hotel.webhook_secret.as_deref().unwrap_or("no-secret");
        self.call(
            "POST",
            &format!("/v1/webhooks/{vendor}/{}/{secret}", hotel.id),
            &[("content-type", "application/json")],
            Some(body),
        )
        .await
    }

    /// Receives up to 10 messages of a queue, with every attribute Lambda's event carries.
    pub async fn receive(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    pub async fn queue_arn(&self, url: &str) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("arn")
    }

    /// One round of the Lambda SQS event sources: receive a batch from the refresh queue (else
    /// the sync queue), invoke the worker with it as an SQS event, delete what did not fail.
    /// Returns the bodies of the batch and the worker's answer; `None` when both are empty.
    pub async fn worker_round(&self) -> Option<(Vec<Value>, SqsBatchResponse)> {
        let mut batch = None;
        for queue in ["RefreshJobsQueue", "SyncJobsQueue"] {
            let url = self.stack.queue_url(queue).to_owned();
            let messages = self.receive(&url).await;
            if !messages.is_empty() {
                batch = Some((url, messages));
                break;
            }
        }
        let (url, messages) = batch?;
        let arn = self.queue_arn(&url).await;
        let event = sqs_event(&messages, &arn);
        let event: SqsEvent = serde_json::from_value(event).expect("SQS event");
        let response = self.worker.handle(event).await.expect("worker");
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if !failed.contains(&m.message_id().unwrap_or_default()) {
                self.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        let bodies = messages
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null))
            .collect();
        Some((bodies, response))
    }

    /// Runs the worker until the refresh and sync queues are empty (bounded).
    pub async fn drain(&self) -> Vec<SqsBatchResponse> {
        let mut out = Vec::new();
        for _ in 0..20 {
            match self.worker_round().await {
                Some((_, r)) => out.push(r),
                None => break,
            }
        }
        out
    }

    pub async fn queue_bodies(&self, logical_id: &str) -> Vec<Value> {
        // Peek: receive with a zero visibility timeout so the messages stay available.
        let url = self.stack.queue_url(logical_id).to_owned();
        let out = self
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        out.iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null))
            .collect()
    }

    /// Starts copying the bus's events to a new queue (an EventBridge rule with an SQS target).
    pub async fn observe_events(&self) -> EventTap {
        observe_bus(&self.stack).await
    }
}

/// Starts copying a stack's bus events to a new queue (an EventBridge rule with an SQS target),
/// so tests read what the bus really delivered.
pub async fn observe_bus(stack: &Stack) -> EventTap {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config);
    let queue = sqs
        .create_queue()
        .queue_name(format!("{}-tap", stack.event_bus_name()))
        .send()
        .await
        .expect("tap queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let eb = aws_sdk_eventbridge::Client::new(&stack.sdk_config);
    let bus = stack.event_bus_name();
    eb.put_rule()
        .name("tap")
        .event_bus_name(bus)
        .event_pattern(json!({"source": ["pms.integration"]}).to_string())
        .send()
        .await
        .expect("rule");
    eb.put_targets()
        .rule("tap")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("tap-queue")
                .arn(arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("targets");
    EventTap {
        sqs,
        queue,
        seen: Vec::new(),
    }
}

pub use pms_tests::sqs_event;

/// Domain events the bus delivered, read from the tap queue.
pub struct EventTap {
    sqs: aws_sdk_sqs::Client,
    queue: String,
    seen: Vec<Value>,
}

impl EventTap {
    /// Every event delivered so far (detail-type, detail), in arrival order.
    pub async fn events(&mut self) -> Vec<(String, Value)> {
        for _ in 0..5 {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("tap receive")
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                self.seen
                    .push(serde_json::from_str(m.body().unwrap_or("null")).expect("event json"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        self.seen
            .iter()
            .map(|e| {
                (
                    e["detail-type"].as_str().unwrap_or_default().to_owned(),
                    e["detail"].clone(),
                )
            })
            .collect()
    }

    pub async fn count(&mut self, detail_type: &str, entity: &str) -> usize {
        self.events()
            .await
            .iter()
            .filter(|(t, d)| t == detail_type && d["entityId"] == entity)
            .count()
    }
}

/// Every answer's status must be one the OpenAPI document declares for its operation, with the
/// media type it declares.
pub fn assert_documented(method: &str, path: &str, reply: &Reply) {
    let routes = webhook_fn::routes::routes();
    let template = routes
        .iter()
        .find(|(m, t)| m == method && template_matches(t, path))
        .map(|(_, t)| t.as_str());
    let Some(template) = template else {
        assert!(
            matches!(reply.status, 404 | 405),
            "{method} {path}: an unrouted request answered {}",
            reply.status
        );
        return;
    };
    let declared = webhook_fn::openapi::statuses(method, template);
    assert!(
        declared.contains(&reply.status),
        "{method} {template}: status {} is not in the OpenAPI document ({declared:?})",
        reply.status
    );
    let doc = webhook_fn::openapi::document();
    let content = &doc["paths"][template][method.to_ascii_lowercase()]["responses"]
        [reply.status.to_string()]["content"];
    let ct = reply.header("content-type").unwrap_or_default();
    assert!(
        content.get(ct).is_some(),
        "{method} {template} {}: content type {ct} not declared",
        reply.status
    );
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b)
}
