//! Integration-test harness: a uniquely named stack, provisioned from the repository's
//! `template.yaml` on the moto server that `make test` starts, so tests run in parallel
//! (nextest: one process per test) without seeing each other's resources.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

pub mod chaos;
pub mod graphql;
pub mod subscriptions;
pub mod writes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pms_runtime::AwsServices as _;

/// The adapter factory with every vendor registered, as pmsctl builds it.
pub fn default_factory(
    secrets: std::sync::Arc<pms_domain::ports::CachedSecrets>,
    clock: std::sync::Arc<dyn pms_domain::ports::Clock>,
    secrets_prefix: &str,
) -> pms_vendor_kit::pms::AdapterFactory {
    let mut factory = pms_vendor_kit::pms::AdapterFactory::new(secrets, clock, secrets_prefix);
    for vendor in pms_vendors::all() {
        factory.add(vendor);
    }
    factory
}
pub use pms_local::{StackOutputs, Template};

/// The repository root.
/// A stay date for fixtures that go through the merge rule on the real clock: `offset` days
/// after a day a month from now, so such a stay is never past its hotel's retention (fixed
/// dates would be refused as `past_retention` once they are 90 days old).
pub fn fixture_day(offset: i64) -> pms_domain::domain::BusinessDate {
    pms_domain::domain::BusinessDate::new(chrono::Utc::now().date_naive()).add_days(30 + offset)
}

/// Bulk booking `n` for the benchmarks: a confirmed two-night stay, arrivals spread over the 365
/// days from 2026-01-01 (a one-day range holds ~1/365 of a hotel).
pub fn bench_booking(n: u32) -> pms_domain::domain::Reservation {
    use pms_domain::domain::{
        BusinessDate, ConfirmationNumber, Currency, ExternalId, Money, Provider, RecordId,
        Reservation, ReservationStatus,
    };
    let arrival = BusinessDate::parse("2026-01-01")
        .expect("a valid date")
        .add_days(i64::from(n % 365));
    Reservation {
        id: RecordId::new(
            Provider::named("mock"),
            ExternalId::parse(format!("b{n:07}")).expect("a valid id"),
        ),
        confirmation_number: ConfirmationNumber::parse(format!("C{n:07}"))
            .expect("a valid confirmation number"),
        guest: None,
        room_number: None,
        room_type: None,
        arrival,
        departure: arrival.add_days(2),
        expected_arrival_time: None,
        expected_departure_time: None,
        status: ReservationStatus::Confirmed,
        raw_status: "RESERVED".into(),
        adults: 2,
        children: 0,
        rate_code: None,
        total: Some(Money::new(30_000, Currency::eur())),
        balance: None,
        special_requests: vec![],
        notes: vec![],
        source_updated_at: None,
        version: 1,
        not_carried: Default::default(),
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// The repository's `template.yaml`.
pub fn repo_template() -> Template {
    Template::load(&repo_root().join("template.yaml")).expect("template.yaml loads")
}

/// The repository template plus the resources of a fixture under `tests/fixtures/`
/// (for example test functions), so fixtures never repeat the real resources.
pub fn template_with_fixture(name: &str) -> Template {
    let mut t = repo_template();
    let fixture = Template::load(&repo_root().join("tests").join("fixtures").join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    for (id, r) in fixture.resources {
        // Fixture functions stand in for real ones of the same logical id (the driver tests
        // need exact event shapes); any other resource must not be repeated.
        let is_function = r.kind == "AWS::Serverless::Function";
        let replaced = t.resources.insert(id.clone(), r);
        assert!(
            replaced.is_none() || is_function,
            "fixture {name} redefines {id}"
        );
    }
    t
}

/// The moto endpoint of this test run.
pub fn endpoint() -> String {
    std::env::var("PMS_TEST_AWS_ENDPOINT")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| {
            panic!("no local AWS endpoint: run the integration tests with `make test` (it starts moto and sets PMS_TEST_AWS_ENDPOINT)")
        })
}

pub struct TestStack {
    pub stack_name: String,
    /// Endpoint set, test credentials, us-east-1.
    pub sdk_config: aws_config::SdkConfig,
    pub endpoint: String,
    pub outputs: StackOutputs,
}

impl TestStack {
    /// A fresh stack (`t-<8 hex>`) from `template.yaml`.
    pub async fn new() -> TestStack {
        TestStack::from_template(&repo_template()).await
    }

    pub async fn from_template(template: &Template) -> TestStack {
        let endpoint = endpoint();
        let stack_name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let sdk_config = pms_local::sdk_config(&endpoint).await;
        let outputs = pms_local::provision(&sdk_config, template, &stack_name)
            .await
            .unwrap_or_else(|e| panic!("provisioning {stack_name} on {endpoint}: {e}"));
        TestStack {
            stack_name,
            sdk_config,
            endpoint,
            outputs,
        }
    }

    /// The environment contract plus the AWS variables, for a process under test.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = self.outputs.env.clone();
        env.extend(pms_local::aws_env(&self.endpoint));
        env.into_iter().collect()
    }

    pub fn table_name(&self) -> &str {
        &self.outputs.table_name
    }

    /// A queue's URL by logical id (`SyncJobsQueue`, `WriteOpsDLQ`...).
    pub fn queue_url(&self, logical_id: &str) -> &str {
        self.outputs
            .queue_url(logical_id)
            .unwrap_or_else(|| panic!("the template has no queue {logical_id}"))
    }

    pub fn event_bus_name(&self) -> &str {
        &self.outputs.event_bus_name
    }

    pub fn secrets_prefix(&self) -> &str {
        &self.outputs.secrets_prefix
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config)
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config)
    }

    /// The resource names of this stack (the environment contract, parsed).
    pub fn names(&self) -> pms_app::names::ResourceNames {
        let env: BTreeMap<String, String> = self.outputs.env.clone();
        pms_app::names::ResourceNames::from_lookup(|k| env.get(k).cloned())
            .expect("the template provides the whole environment contract")
    }

    /// Every port over this stack's AWS resources, as a function would build them.
    pub fn services(&self) -> pms_app::runtime::Services {
        self.services_with_clock(std::sync::Arc::new(pms_domain::ports::SystemClock))
    }

    /// The services a function would build, over a store that counts its requests and logs
    /// the keys it writes (`CountingStore`), and a bus that counts the events it publishes.
    pub fn counted_services(
        &self,
    ) -> (
        std::sync::Arc<pms_testkit::counting::CountingStore>,
        std::sync::Arc<CountingBus>,
        pms_app::runtime::Services,
    ) {
        use std::sync::Arc;
        init_test_logging();
        let names = self.names();
        let clock: Arc<dyn pms_domain::ports::Clock> = Arc::new(pms_domain::ports::SystemClock);
        let store = Arc::new(pms_testkit::counting::CountingStore::new(Arc::new(
            pms_aws::DynamoStore::from_config(&self.sdk_config, &names.table, clock.clone()),
        )));
        let bus = Arc::new(CountingBus::new(Arc::new(
            pms_aws::EventBridgeBus::from_config(&self.sdk_config, &names.event_bus),
        )));
        let services = pms_app::runtime::Services::from_parts(
            names,
            clock,
            store.clone(),
            Arc::new(pms_aws::SqsQueue::from_config(&self.sdk_config)),
            Arc::new(pms_aws::SecretsManagerStore::from_config(&self.sdk_config)),
            bus.clone(),
        )
        .with_vendors(pms_vendors::all());
        (store, bus, services)
    }

    pub fn services_with_clock(
        &self,
        clock: std::sync::Arc<dyn pms_domain::ports::Clock>,
    ) -> pms_app::runtime::Services {
        init_test_logging();
        pms_app::runtime::Services::from_aws(self.names(), &self.sdk_config, clock)
            .with_vendors(pms_vendors::all())
    }
}

/// JSON logs from the code under test, as in Lambda, so the secrets scan of the test run's
/// output sees everything the code would log.
pub fn init_test_logging() {
    pms_app::obs::init_logging();
}

/// An event bus decorator that counts the events published through it. It changes no
/// behaviour.
pub struct CountingBus {
    inner: std::sync::Arc<dyn pms_domain::ports::EventBus>,
    events: std::sync::atomic::AtomicU64,
}

impl CountingBus {
    pub fn new(inner: std::sync::Arc<dyn pms_domain::ports::EventBus>) -> Self {
        Self {
            inner,
            events: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Events published so far.
    pub fn events(&self) -> u64 {
        self.events.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl pms_domain::ports::EventBus for CountingBus {
    async fn publish(
        &self,
        events: &[pms_domain::domain::events::DomainEvent],
    ) -> pms_domain::ports::PortResult<()> {
        self.inner.publish(events).await?;
        self.events
            .fetch_add(events.len() as u64, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A Lambda SQS event for received messages, in the shape the event source mapping sends.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], arn: &str) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), serde_json::json!(v)))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: serde_json::Map<String, serde_json::Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                serde_json::json!({"stringValue": v.string_value(), "stringListValues": [],
                                       "binaryListValues": [], "dataType": v.data_type()}),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            serde_json::json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}
