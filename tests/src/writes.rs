//! The write path end to end, for tests (and the chaos suite): a [`TestStack`] on moto, the
//! vendor simulators in process, the graphql function's real handler for mutations, and the
//! writer's real handler fed with real SQS messages received from the stack's write queue, the
//! way Lambda's event source does (received batch -> SQS event -> handler -> partial batch
//! response read as Lambda reads it -> what did not fail is deleted).
//!
//! The writer also runs as a separate process ([`WritesStack::writer_process`], the
//! `writer-once` binary), with the crash hook when a test needs the process to die right after
//! the PMS accepted a write.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use fn_writer::Writer;
use pms_app::registry::Scope;
use pms_app::runtime::Services;
use pms_app::writes::{BatchReport, Executor, WriteRecords};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{HotelId, Provider, RecordId};
use pms_domain::ports::SecretStore;
use pms_graphql::GraphqlApp;
use pms_local::driver::{interpret, sqs_event, BatchOutcome, Invocation};
use pms_sim::data::{SimReservation, SimStatus};
use pms_sim::setup::hotel_for;
use pms_sim::{SimConfig, SimHotel, Simulator, VendorCounters};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::graphql::Reply;
use crate::TestStack;

/// The write queue's `maxReceiveCount` (template.yaml).
pub const MAX_RECEIVES: u32 = 3;

/// How a test stack's writer differs from the deployed one, to make slow vendors and settle
/// windows fit a test's time.
#[derive(Clone, Debug, Default)]
pub struct WriterOptions {
    /// The vendor HTTP client's timeout (deployed: 20 s).
    pub client_timeout: Option<Duration>,
    /// How long after an unanswered charge attempt its folio is searched (deployed: 60 s).
    pub settle: Option<chrono::Duration>,
}

/// The writer as the stack runs it: one attempt per delivery (the queue retries). In a process
/// started with `PMS_WRITER_CRASH_AFTER_PMS_CALL=1` (`writer-once`), it exits right after the
/// PMS accepted a write, before recording it: the crash hook exists in test builds only.
pub fn writer_for(services: Services, lease: Option<chrono::Duration>) -> Writer {
    writer_with(services, lease, &WriterOptions::default())
}

/// [`writer_for`] with [`WriterOptions`].
pub fn writer_with(
    services: Services,
    lease: Option<chrono::Duration>,
    options: &WriterOptions,
) -> Writer {
    let mut services = services.without_in_process_retries();
    if let Some(timeout) = options.client_timeout {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("an HTTP client");
        services.adapters = std::sync::Arc::new(
            crate::default_factory(
                services.secrets.clone(),
                services.clock.clone(),
                &services.names.secrets_prefix,
            )
            .with_store(services.store.clone())
            .with_retry_override(pms_domain::pms::RetryPolicy::none())
            .with_http(http),
        );
    }
    let settle = options.settle;
    Writer::with_executor(services, |records| {
        let mut e = Executor::new(records, MAX_RECEIVES);
        if let Some(l) = lease {
            e = e.with_lease(l);
        }
        if let Some(s) = settle {
            e = e.with_settle(s);
        }
        if std::env::var("PMS_WRITER_CRASH_AFTER_PMS_CALL").is_ok_and(|v| v == "1") {
            e = e.with_after_pms_call(std::sync::Arc::new(|| {
                eprintln!("test hook: exiting after the PMS call, before recording it");
                std::process::exit(137);
            }));
        }
        e
    })
}

/// One invocation of the writer with a batch, as Lambda's SQS event source makes it.
#[derive(Debug)]
pub struct WriterRound {
    pub messages: Vec<Message>,
    /// `None` when the handler failed the whole batch.
    pub response: Option<SqsBatchResponse>,
    pub report: Option<BatchReport>,
    /// How Lambda reads the response.
    pub outcome: BatchOutcome,
    /// Message ids deleted from the queue after the invocation.
    pub deleted: Vec<String>,
}

impl WriterRound {
    /// Message ids reported as batch item failures.
    pub fn failed_ids(&self) -> Vec<String> {
        self.response
            .as_ref()
            .map(|r| {
                r.batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Messages still on the queue after this round (reported failed, or the whole batch).
    pub fn retained(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| {
                !self
                    .deleted
                    .iter()
                    .any(|d| Some(d.as_str()) == m.message_id())
            })
            .collect()
    }
}

/// Receives up to `max` messages of a queue with every attribute Lambda's event carries.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    max: i32,
    visibility: Option<i32>,
) -> Vec<Message> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max)
        .wait_time_seconds(0)
        .set_visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}

/// Invokes the writer with these messages as one SQS event, then deletes what Lambda would.
pub async fn invoke(
    writer: &Writer,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    messages: Vec<Message>,
) -> WriterRound {
    invoke_within(writer, sqs, queue_url, queue_arn, messages, None).await
}

/// [`invoke`] with the Lambda context's deadline this far away (none: no deadline).
pub async fn invoke_within(
    writer: &Writer,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    messages: Vec<Message>,
    deadline: Option<Duration>,
) -> WriterRound {
    let event: SqsEvent =
        serde_json::from_value(sqs_event(&messages, queue_arn)).expect("an SQS event");
    let ids: Vec<String> = messages
        .iter()
        .map(|m| m.message_id().unwrap_or_default().to_owned())
        .collect();
    let mut context = lambda_runtime::Context::default();
    if let Some(d) = deadline {
        let now_ms = chrono::Utc::now().timestamp_millis() as u64;
        context.deadline = now_ms + d.as_millis() as u64;
    }
    let event = lambda_runtime::LambdaEvent::new(event, context);
    let (response, report, invocation) = match writer.process(event).await {
        Ok((response, report)) => {
            let body = serde_json::to_string(&response).expect("response JSON");
            (Some(response), Some(report), Invocation::Returned(body))
        }
        Err(e) => (
            None,
            None,
            Invocation::FunctionError {
                error_type: "WriterError".into(),
                message: e.to_string(),
            },
        ),
    };
    let outcome = interpret(&invocation, true, &ids);
    let keep: Vec<String> = match &outcome {
        BatchOutcome::Success => Vec::new(),
        BatchOutcome::PartialFailure(failed) => failed.clone(),
        BatchOutcome::Failure(_) => ids.clone(),
    };
    let mut deleted = Vec::new();
    for m in &messages {
        let id = m.message_id().unwrap_or_default();
        if keep.iter().any(|k| k == id) || deleted.iter().any(|d| d == id) {
            continue;
        }
        // A duplicate delivery may already be gone: deleting it again is what Lambda would try.
        let _ = sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await;
        deleted.push(id.to_owned());
    }
    WriterRound {
        messages,
        response,
        report,
        outcome,
        deleted,
    }
}

/// A hotel configured against a simulated property.
#[derive(Clone, Debug)]
pub struct SimHotelRef {
    pub vendor: Provider,
    pub id: HotelId,
    pub config: HotelConfig,
    pub property: String,
}

impl SimHotelRef {
    pub fn provider(&self) -> Provider {
        self.config.provider
    }
}

/// How a vendor names a reservation in the canonical API (Cloudbeds: its reservation id).
pub fn confirmation_of(vendor: Provider, r: &SimReservation) -> String {
    match vendor {
        pms_cloudbeds::PROVIDER => r.id.clone(),
        pms_opera::PROVIDER | pms_mews::PROVIDER => r.confirmation.clone(),
        other => panic!("{other} is not a simulated vendor"),
    }
}

/// A guest's record id (`Guest.id`) at a vendor.
pub fn guest_record_id(vendor: Provider, guest_id: &str) -> String {
    RecordId::new(
        vendor,
        pms_domain::domain::ExternalId::parse(guest_id).expect("guest id"),
    )
    .to_string()
}

/// What a separate writer process did.
#[derive(Debug)]
pub struct ProcessRun {
    pub output: Output,
    /// The messages it received (before it processed them).
    pub received: Vec<(String, String)>,
    /// Its batch response, when it got that far.
    pub response: Option<Value>,
}

impl ProcessRun {
    pub fn exit_code(&self) -> Option<i32> {
        self.output.status.code()
    }
}

pub struct WritesStack {
    pub stack: TestStack,
    pub services: Services,
    pub app: GraphqlApp,
    pub writer: Writer,
    pub sim: Simulator,
    pub sqs: aws_sdk_sqs::Client,
    write_queue_arn: String,
}

impl WritesStack {
    pub async fn new() -> Self {
        Self::with_sim(pms_sim::default_config()).await
    }

    pub async fn with_sim(config: SimConfig) -> Self {
        Self::with(config, WriterOptions::default()).await
    }

    /// A stack whose writer has a shorter client timeout or settle window.
    pub async fn with_writer(options: WriterOptions) -> Self {
        Self::with(pms_sim::default_config(), options).await
    }

    pub async fn with(config: SimConfig, options: WriterOptions) -> Self {
        let stack = TestStack::new().await;
        let services = stack.services();
        let app = GraphqlApp::from_services(&services);
        let writer = writer_with(services.clone(), None, &options);
        let sim = Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator");
        let sqs = stack.sqs();
        let write_queue_arn = queue_arn(&sqs, stack.queue_url("WriteOpsQueue")).await;
        Self {
            stack,
            services,
            app,
            writer,
            sim,
            sqs,
            write_queue_arn,
        }
    }

    pub fn records(&self) -> WriteRecords {
        WriteRecords::new(self.services.store.clone(), self.services.clock.clone())
    }

    pub fn write_queue_url(&self) -> &str {
        self.stack.queue_url("WriteOpsQueue")
    }

    pub fn write_dlq_url(&self) -> &str {
        self.stack.queue_url("WriteOpsDLQ")
    }

    /// A hotel (unique id) on the vendor's first simulated property, with its credentials.
    pub async fn sim_hotel(&self, vendor: Provider) -> SimHotelRef {
        let property = self.sim.context.config.properties[&vendor][0].clone();
        let id = HotelId::parse(format!(
            "w{}-{}",
            vendor,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))
        .expect("hotel id");
        let (config, credentials) =
            hotel_for(vendor, &property, &self.sim.vendor_url(vendor), id.clone())
                .expect("hotel config");
        self.services
            .secrets
            .put(
                &self.services.adapters.credentials_secret(&id),
                &credentials,
            )
            .await
            .expect("credentials stored");
        self.services.hotels.create(&config).await.expect("hotel");
        SimHotelRef {
            vendor,
            id,
            config,
            property: property.property_id,
        }
    }

    /// A partner token (plain text) and its id.
    pub async fn token(&self, hotels: &[&HotelId], scopes: &[Scope]) -> (String, String) {
        let (plain, record) = self
            .services
            .tokens
            .create(
                hotels.iter().map(|h| (*h).clone()).collect(),
                scopes.to_vec(),
                "writes test",
            )
            .await
            .expect("token");
        (plain.expose_secret().to_owned(), record.token_id)
    }

    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> Reply {
        self.graphql_traced(token, query, variables, None).await
    }

    /// [`Self::graphql`] with the partner's `x-correlation-id`.
    pub async fn graphql_traced(
        &self,
        token: &str,
        query: &str,
        variables: Value,
        correlation_id: Option<&str>,
    ) -> Reply {
        use lambda_http::http::{header, Method};
        use lambda_http::{Body, Request};
        let body = json!({"query": query, "variables": variables});
        let mut req = Request::new(Body::Binary(serde_json::to_vec(&body).expect("json")));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = "/graphql".parse().expect("uri");
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().expect("h"));
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("h"),
        );
        if let Some(id) = correlation_id {
            req.headers_mut()
                .insert("x-correlation-id", id.parse().expect("h"));
        }
        let resp = self.app.handle(req).await;
        let status = resp.status();
        let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// `operation(id:)` as the token sees it (the `data.operation` object).
    pub async fn operation(&self, token: &str, id: &str) -> Value {
        let r = self
            .graphql(
                token,
                "query($id: ID!) { operation(id: $id) { id operationId kind status attempts
                   createdAt result { vendorId vendorRequestId reference }
                   error { code message retryable } } }",
                json!({"id": id}),
            )
            .await;
        assert!(r.codes().is_empty(), "operation({id}): {}", r.body);
        r.data()["operation"].clone()
    }

    /// The simulated property's data now.
    pub fn sim_data(&self, h: &SimHotelRef) -> SimHotel {
        self.sim
            .context
            .with_hotel(h.vendor, &h.property, |x| x.clone())
            .expect("simulated property")
    }

    /// A reservation of the property in this state.
    pub fn sim_reservation(&self, h: &SimHotelRef, status: SimStatus) -> SimReservation {
        self.sim_data(h)
            .reservations
            .into_iter()
            .find(|r| r.status == status)
            .expect("a simulated reservation in that state")
    }

    pub fn counters(&self, vendor: Provider) -> VendorCounters {
        self.sim.context.counters()[&vendor].clone()
    }

    /// Receives from the write queue (up to 10).
    pub async fn receive_writes(&self, visibility: Option<i32>) -> Vec<Message> {
        receive(&self.sqs, self.write_queue_url(), 10, visibility).await
    }

    /// One round of the event source: a batch from the write queue through the writer.
    pub async fn writer_round(&self) -> Option<WriterRound> {
        let messages = self.receive_writes(None).await;
        if messages.is_empty() {
            return None;
        }
        Some(self.deliver(messages).await)
    }

    /// These received messages through the writer in one invocation.
    pub async fn deliver(&self, messages: Vec<Message>) -> WriterRound {
        self.deliver_within(messages, None).await
    }

    /// [`WritesStack::deliver`] with the invocation's deadline this far away.
    pub async fn deliver_within(
        &self,
        messages: Vec<Message>,
        deadline: Option<Duration>,
    ) -> WriterRound {
        invoke_within(
            &self.writer,
            &self.sqs,
            self.write_queue_url(),
            &self.write_queue_arn,
            messages,
            deadline,
        )
        .await
    }

    /// Messages of the write queue sent with a delay that has not passed yet.
    pub async fn delayed_writes(&self) -> u64 {
        self.sqs
            .get_queue_attributes()
            .queue_url(self.write_queue_url())
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Runs writer rounds, letting retry delays pass and waiting out delayed messages (real
    /// time), until the write queue holds nothing at all or `limit` has passed.
    pub async fn settle_writes(&self, limit: Duration) -> Vec<WriterRound> {
        let until = std::time::Instant::now() + limit;
        let mut rounds = Vec::new();
        while std::time::Instant::now() < until {
            if let Some(round) = self.writer_round().await {
                self.let_delays_pass(&round).await;
                rounds.push(round);
                continue;
            }
            if self.delayed_writes().await == 0
                && self
                    .services
                    .queue
                    .depth(self.write_queue_url())
                    .await
                    .unwrap_or(0)
                    == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        rounds
    }

    /// What the retry delay would do once it has passed: the round's retained messages are
    /// visible again now (tests assert the delays the writer chose, they do not wait them).
    pub async fn let_delays_pass(&self, round: &WriterRound) {
        for m in round.retained() {
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(self.write_queue_url())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .visibility_timeout(0)
                .send()
                .await;
        }
    }

    /// Runs writer rounds until the write queue is empty, letting retry delays pass and waiting
    /// for delayed copies (a delivery that waited is replaced by one), bounded.
    pub async fn drain(&self) -> Vec<WriterRound> {
        let mut rounds = Vec::new();
        let mut idle = 0;
        while rounds.len() < 30 && idle < 100 {
            let Some(round) = self.writer_round().await else {
                // Everything, not only what is delayed: a delay can lapse between the empty
                // receive and this count, and the message is then visible, not delayed.
                if self.queue_depth().await == 0 {
                    break;
                }
                idle += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            self.let_delays_pass(&round).await;
            rounds.push(round);
        }
        rounds
    }

    /// Messages of the write queue: visible, in flight and delayed.
    pub async fn queue_depth(&self) -> u64 {
        self.services
            .queue
            .depth(self.write_queue_url())
            .await
            .expect("queue depth")
    }

    /// Messages in the write DLQ (peeked: visible again at once).
    pub async fn dlq_messages(&self) -> Vec<Message> {
        receive(&self.sqs, self.write_dlq_url(), 10, Some(0)).await
    }

    /// Visible messages of the write queue (peeked).
    pub async fn queued_messages(&self) -> Vec<Message> {
        receive(&self.sqs, self.write_queue_url(), 10, Some(0)).await
    }

    /// The environment a function process gets: the contract plus the AWS variables.
    pub fn process_env(&self) -> Vec<(String, String)> {
        self.stack.env()
    }

    /// One round of the event source in a separate writer process (`writer-once`): it
    /// receives a batch (with this visibility timeout), prints what it received, runs the
    /// writer's handler, deletes what succeeded and prints the response. With `crash`, the
    /// process exits right after the PMS accepted a write, before recording it.
    pub async fn writer_process(
        &self,
        crash: bool,
        visibility_secs: u32,
        lease_secs: u32,
    ) -> ProcessRun {
        let mut cmd = tokio::process::Command::new(workspace_bin("pms-tests", "writer-once").await);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(self.process_env())
            .args([
                "--visibility-secs",
                &visibility_secs.to_string(),
                "--lease-secs",
                &lease_secs.to_string(),
            ]);
        if crash {
            cmd.env("PMS_WRITER_CRASH_AFTER_PMS_CALL", "1");
        }
        let output = cmd.output().await.expect("writer-once runs");
        // Its logs join the test's output, which the secrets scan reads.
        eprintln!(
            "writer-once (crash hook {crash}) exited with {:?}\n{}{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut received = Vec::new();
        let mut response = None;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(list) = v.get("received").and_then(Value::as_array) {
                received = list
                    .iter()
                    .map(|m| {
                        (
                            m["messageId"].as_str().unwrap_or_default().to_owned(),
                            m["receiptHandle"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
            }
            if let Some(r) = v.get("response") {
                response = Some(r.clone());
            }
        }
        ProcessRun {
            output,
            received,
            response,
        }
    }

    /// Makes messages a process received visible again, as the end of their visibility timeout
    /// would.
    pub async fn release(&self, received: &[(String, String)]) {
        for (_, handle) in received {
            self.sqs
                .change_message_visibility()
                .queue_url(self.write_queue_url())
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .expect("visibility reset");
        }
    }

    /// Runs `pmsctl` (the real binary) against this stack.
    pub async fn pmsctl(&self, args: &[&str]) -> Output {
        let output = tokio::process::Command::new(workspace_bin("pmsctl", "pmsctl").await)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.process_env())
            .env("PMS_STACK_FILE", "/nonexistent/stack.json")
            .output()
            .await
            .expect("pmsctl runs");
        eprintln!(
            "pmsctl {} -> {:?}\n{}{}",
            args.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// `target/<profile>/<name>`, a binary of a workspace package, built when missing (a library
/// cannot name binaries with `CARGO_BIN_EXE_*`, and another package's are not built for this
/// one's tests).
pub async fn workspace_bin(package: &str, name: &str) -> PathBuf {
    // The test binary is target/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .to_path_buf();
    let bin = dir.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = tokio::process::Command::new(cargo)
            .args(["build", "-q", "-p", package, "--bin", name])
            .current_dir(crate::repo_root())
            .status()
            .await
            .expect("cargo build runs");
        assert!(status.success(), "building {name} failed");
    }
    assert!(bin.exists(), "{} is not built", bin.display());
    bin
}

/// Sleeps past a writer lease held by a process that died (leases are the writer's own clock,
/// which no test can move across processes).
pub async fn wait_out_lease(lease_secs: u32) {
    tokio::time::sleep(Duration::from_secs(u64::from(lease_secs) + 1)).await;
}
