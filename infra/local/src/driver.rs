//! The event driver: what AWS does with a function's schedules (EventBridge rules, Scheduler
//! schedules) and SQS event source mappings, which neither moto nor cargo-lambda emulate.
//!
//! - Schedules fire on their expression and invoke the function with an EventBridge
//!   "Scheduled Event" (or the event's `Input`).
//! - SQS sources long-poll the queue, invoke with a real SQS event, and apply Lambda's rules:
//!   success deletes the batch; with `ReportBatchItemFailures` only the records not reported
//!   are deleted (a malformed report fails the whole batch); an error or timeout deletes
//!   nothing. Undeleted messages come back after the visibility timeout, and the queue's own
//!   redrive policy moves them to the DLQ after `maxReceiveCount` receives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::resolve::{references, Resolver};
use super::schedule::Schedule;
use super::stack::StackOutputs;
use super::template::{Resource, Template};
use super::{LocalError, LocalResult, ACCOUNT_ID, PARTITION, REGION};

/// Lambda's default function timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest SQS long poll.
const MAX_WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`), which is also the name
    /// `cargo lambda watch` serves it under.
    pub binary: String,
    pub timeout: Duration,
    /// The function's `Environment.Variables` (the contract included), those that resolve.
    pub env: BTreeMap<String, String>,
    pub schedules: Vec<ScheduleSource>,
    pub queues: Vec<SqsSource>,
    /// An API routes to it: served by `cargo lambda watch` under `/lambda-url/<binary>/`.
    pub http: bool,
}

#[derive(Clone, Debug)]
pub struct ScheduleSource {
    pub function: String,
    pub binary: String,
    pub event: String,
    pub schedule: Schedule,
    /// The event's `Input`; otherwise a Scheduled Event is sent.
    pub input: Option<Value>,
    /// The ARN the Scheduled Event names in `resources`.
    pub rule_arn: String,
    pub enabled: bool,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct SqsSource {
    pub function: String,
    pub binary: String,
    pub event: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
    pub timeout: Duration,
}

fn bad(ctx: &str, msg: impl std::fmt::Display) -> LocalError {
    LocalError::template(format!("{ctx}: {msg}"))
}

fn bool_of(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn u64_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Every function of the template with its event sources, resolved against a provisioned
/// stack. Read from the plain CloudFormation the SAM transform makes: each
/// `AWS::Lambda::Function`, and the `AWS::Lambda::EventSourceMapping`s, `AWS::Events::Rule`s,
/// `AWS::Scheduler::Schedule`s and API routes that invoke it.
pub fn functions(template: &Template, outputs: &StackOutputs) -> LocalResult<Vec<FunctionSpec>> {
    let cfn = template.plain()?;
    let resolver = outputs.resolver(&cfn)?;
    let mut specs = BTreeMap::new();
    for r in cfn.resources_of("AWS::Lambda::Function") {
        specs.insert(r.logical_id.clone(), function_spec(&resolver, r)?);
    }
    for r in cfn.resources.values() {
        match r.kind.as_str() {
            "AWS::Lambda::EventSourceMapping" => sqs_source(&resolver, outputs, r, &mut specs)?,
            "AWS::Events::Rule" | "AWS::Scheduler::Schedule" => {
                schedule_sources(&resolver, outputs, r, &mut specs)?
            }
            "AWS::ApiGatewayV2::Api" | "AWS::ApiGateway::RestApi" => {
                for id in routed_functions(r) {
                    if let Some(f) = specs.get_mut(&id) {
                        f.http = true;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(specs.into_values().collect())
}

fn function_spec(resolver: &Resolver, r: &Resource) -> LocalResult<FunctionSpec> {
    let id = r.logical_id.as_str();
    let binary = r
        .metadata
        .get("BuildProperties")
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(
                id,
                "Metadata.BuildProperties.Binary is required (CodeUri is the whole workspace)",
            )
        })?
        .to_string();
    let mut env = BTreeMap::new();
    if let Some(Value::Object(vars)) = r.prop("Environment").and_then(|e| e.get("Variables")) {
        for (k, v) in vars {
            match resolver.resolve_string(v, &format!("{id}.Environment.Variables.{k}")) {
                Ok(v) => {
                    env.insert(k.clone(), v);
                }
                Err(e) => {
                    tracing::warn!(function = id, variable = %k, error = %e, "variable left out locally")
                }
            }
        }
    }
    Ok(FunctionSpec {
        logical_id: id.to_string(),
        binary,
        timeout: u64_of(r.prop("Timeout"))
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT),
        env,
        schedules: Vec::new(),
        queues: Vec::new(),
        http: false,
    })
}

/// The function of `specs` an expression names (`!Ref F`, `!GetAtt F.Arn`, `${F.Arn}`).
fn invoked<'a>(
    v: Option<&Value>,
    specs: &'a mut BTreeMap<String, FunctionSpec>,
) -> Option<&'a mut FunctionSpec> {
    let id = references(v?)
        .into_iter()
        .find(|id| specs.contains_key(id))?;
    specs.get_mut(&id)
}

/// The transform names a source `<Function><Event>`: the event's name in the SAM template.
fn event_name(source_id: &str, function_id: &str) -> String {
    source_id
        .strip_prefix(function_id)
        .filter(|e| !e.is_empty())
        .unwrap_or(source_id)
        .to_string()
}

fn resolved(resolver: &Resolver, r: &Resource, key: &str) -> LocalResult<Option<Value>> {
    r.prop(key)
        .map(|v| resolver.resolve(v, &format!("{}.{key}", r.logical_id)))
        .transpose()
}

fn sqs_source(
    resolver: &Resolver,
    outputs: &StackOutputs,
    r: &Resource,
    specs: &mut BTreeMap<String, FunctionSpec>,
) -> LocalResult<()> {
    let id = r.logical_id.as_str();
    let Some(f) = invoked(r.prop("FunctionName"), specs) else {
        tracing::warn!(
            source = id,
            "event source of no function of this template; not driven"
        );
        return Ok(());
    };
    let queue_arn = resolved(resolver, r, "EventSourceArn")?
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| bad(id, "EventSourceArn (an ARN) is required"))?;
    let Some(queue_url) = outputs.queue_url_for_arn(&queue_arn) else {
        return Err(bad(id, format!("{queue_arn} is not a queue of this stack")));
    };
    let batch_size = u64_of(resolved(resolver, r, "BatchSize")?.as_ref()).unwrap_or(10);
    if batch_size == 0 {
        return Err(bad(id, "BatchSize must be at least 1"));
    }
    let report = r
        .prop("FunctionResponseTypes")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|t| t == "ReportBatchItemFailures"));
    for unsupported in ["FilterCriteria", "ScalingConfig"] {
        if r.prop(unsupported).is_some() {
            tracing::warn!(
                source = id,
                property = unsupported,
                "not applied by the local driver"
            );
        }
    }
    let window = u64_of(resolved(resolver, r, "MaximumBatchingWindowInSeconds")?.as_ref());
    let source = SqsSource {
        function: f.logical_id.clone(),
        binary: f.binary.clone(),
        event: event_name(id, &f.logical_id),
        queue_url: queue_url.to_string(),
        queue_arn,
        batch_size: batch_size as usize,
        batching_window: Duration::from_secs(window.unwrap_or(0)),
        report_batch_item_failures: report,
        enabled: bool_of(resolved(resolver, r, "Enabled")?.as_ref()).unwrap_or(true),
        timeout: f.timeout,
    };
    f.queues.push(source);
    Ok(())
}

/// An EventBridge rule's or a Scheduler schedule's targets that are functions of the template.
fn schedule_sources(
    resolver: &Resolver,
    outputs: &StackOutputs,
    r: &Resource,
    specs: &mut BTreeMap<String, FunctionSpec>,
) -> LocalResult<()> {
    let id = r.logical_id.as_str();
    let scheduler = r.kind == "AWS::Scheduler::Schedule";
    let Some(expr) = resolved(resolver, r, "ScheduleExpression")? else {
        tracing::debug!(
            rule = id,
            "no schedule (an event pattern); not driven locally"
        );
        return Ok(());
    };
    let expr = expr
        .as_str()
        .ok_or_else(|| bad(id, "ScheduleExpression must be a string"))?;
    let tz = resolved(resolver, r, "ScheduleExpressionTimezone")?;
    let schedule = Schedule::parse(expr, tz.as_ref().and_then(Value::as_str))?;
    let enabled = resolved(resolver, r, "State")?
        .and_then(|s| s.as_str().map(|s| !s.eq_ignore_ascii_case("DISABLED")))
        .unwrap_or(true);
    let name = match resolved(resolver, r, "Name")? {
        Some(Value::String(n)) => n,
        _ => {
            // CloudFormation's generated name starts so (it appends a random suffix).
            let mut n = format!("{}-{id}", outputs.stack_name);
            n.truncate(64);
            n
        }
    };
    let rule_arn = if scheduler {
        let group = resolved(resolver, r, "GroupName")?;
        let group = group.as_ref().and_then(Value::as_str).unwrap_or("default");
        format!("arn:{PARTITION}:scheduler:{REGION}:{ACCOUNT_ID}:schedule/{group}/{name}")
    } else {
        format!("arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:rule/{name}")
    };
    let targets: Vec<&Value> = if scheduler {
        r.prop("Target").into_iter().collect()
    } else {
        r.prop("Targets")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    };
    for target in targets {
        let Some(f) = invoked(target.get("Arn"), specs) else {
            tracing::warn!(
                rule = id,
                "a target that is no function of this template; not driven"
            );
            continue;
        };
        let input = match target.get("Input") {
            None => None,
            Some(v) => match resolver.resolve(v, &format!("{id}.Input"))? {
                Value::String(s) => Some(
                    serde_json::from_str(&s)
                        .map_err(|_| bad(id, "Input must be a JSON document"))?,
                ),
                other => Some(other),
            },
        };
        let source = ScheduleSource {
            function: f.logical_id.clone(),
            binary: f.binary.clone(),
            event: event_name(id, &f.logical_id),
            schedule: schedule.clone(),
            input,
            rule_arn: rule_arn.clone(),
            enabled,
            timeout: f.timeout,
        };
        f.schedules.push(source);
    }
    Ok(())
}

/// The functions an API's OpenAPI body routes to (each route's Lambda proxy integration).
fn routed_functions(api: &Resource) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(Value::Object(paths)) = api.prop("Body").and_then(|b| b.get("paths")) {
        for methods in paths.values().filter_map(Value::as_object) {
            for op in methods.values() {
                if let Some(uri) = op
                    .get("x-amazon-apigateway-integration")
                    .and_then(|i| i.get("uri"))
                {
                    out.extend(references(uri));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Events

/// The EventBridge "Scheduled Event" a rule sends to its target.
pub fn scheduled_event(rule_arn: &str, time: DateTime<Utc>) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    })
}

/// The Lambda SQS event for a batch of received messages.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: Map<String, Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            let mut o = Map::new();
                            if let Some(s) = v.string_value() {
                                o.insert("stringValue".into(), s.into());
                            }
                            if let Some(b) = v.binary_value() {
                                o.insert("binaryValue".into(), b64.encode(b.as_ref()).into());
                            }
                            o.insert(
                                "stringListValues".into(),
                                v.string_list_values().to_vec().into(),
                            );
                            o.insert(
                                "binaryListValues".into(),
                                v.binary_list_values()
                                    .iter()
                                    .map(|b| Value::from(b64.encode(b.as_ref())))
                                    .collect::<Vec<_>>()
                                    .into(),
                            );
                            o.insert("dataType".into(), v.data_type().into());
                            (k.clone(), Value::Object(o))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut r = json!({
                "messageId": m.message_id().unwrap_or_default(),
                "receiptHandle": m.receipt_handle().unwrap_or_default(),
                "body": m.body().unwrap_or_default(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            });
            if let Some(md5) = m.md5_of_message_attributes() {
                r["md5OfMessageAttributes"] = md5.into();
            }
            r
        })
        .collect();
    json!({ "Records": records })
}

// ---------------------------------------------------------------------------------------------
// Invoking

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// The function returned; the response payload as text (possibly empty).
    Returned(String),
    /// The function (or its runtime) reported an error.
    FunctionError { error_type: String, message: String },
    /// No answer within the function's timeout.
    Timeout,
    /// The invoke itself failed (nothing listening, unknown function...).
    Failed(String),
}

#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, function: &str, payload: &Value, timeout: Duration) -> Invocation;
}

/// The Lambda Invoke API of `cargo lambda watch`
/// (`POST <base>/2015-03-31/functions/<binary>/invocations`).
pub struct HttpInvoker {
    base: String,
    client: reqwest::Client,
    /// Added to the function timeout: the emulator's own overhead (process start).
    grace: Duration,
}

impl HttpInvoker {
    pub fn new(base: impl Into<String>) -> HttpInvoker {
        HttpInvoker {
            base: base.into().trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            grace: Duration::from_secs(10),
        }
    }

    pub fn with_grace(mut self, grace: Duration) -> HttpInvoker {
        self.grace = grace;
        self
    }
}

fn function_error(body: &str) -> Invocation {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Invocation::FunctionError {
        error_type: text("errorType").unwrap_or_else(|| "Unhandled".into()),
        message: text("errorMessage").unwrap_or_else(|| body.chars().take(500).collect()),
    }
}

#[async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(&self, function: &str, payload: &Value, timeout: Duration) -> Invocation {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let sent = self
            .client
            .post(&url)
            .json(payload)
            .timeout(timeout + self.grace)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Invocation::Timeout,
            Err(e) => return Invocation::Failed(format!("POST {url}: {e}")),
        };
        let status = resp.status();
        let error_header = resp.headers().contains_key("x-amz-function-error");
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Invocation::Timeout,
            Err(e) => return Invocation::Failed(format!("reading the response of {url}: {e}")),
        };
        // Real Lambda flags errors with a header; cargo lambda watch answers 500.
        if status.is_success() && !error_header {
            Invocation::Returned(body)
        } else if error_header || status == reqwest::StatusCode::INTERNAL_SERVER_ERROR {
            function_error(&body)
        } else {
            Invocation::Failed(format!(
                "POST {url}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQS batch semantics

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Delete every record.
    Success,
    /// Delete every record but these message ids.
    PartialFailure(Vec<String>),
    /// Delete nothing.
    Failure(String),
}

/// Lambda's reading of an SQS invocation's result (AWS, "Reporting batch item failures"):
/// empty, null, or no/empty `batchItemFailures` is a complete success; invalid JSON, or an
/// `itemIdentifier` that is null, empty, misnamed or not in the batch, is a complete failure.
pub fn interpret(invocation: &Invocation, report_failures: bool, ids: &[String]) -> BatchOutcome {
    let body = match invocation {
        Invocation::Returned(b) => b,
        Invocation::FunctionError {
            error_type,
            message,
        } => return BatchOutcome::Failure(format!("function error {error_type}: {message}")),
        Invocation::Timeout => return BatchOutcome::Failure("timed out".into()),
        Invocation::Failed(e) => return BatchOutcome::Failure(format!("not invoked: {e}")),
    };
    if !report_failures || body.trim().is_empty() {
        return BatchOutcome::Success;
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return BatchOutcome::Failure("the response is not valid JSON".into()),
    };
    let failures = match &v {
        Value::Null => return BatchOutcome::Success,
        Value::Object(m) => match m.get("batchItemFailures") {
            None | Some(Value::Null) => return BatchOutcome::Success,
            Some(Value::Array(a)) => a,
            Some(_) => {
                return BatchOutcome::Failure("batchItemFailures is not a list".into());
            }
        },
        _ => return BatchOutcome::Failure("the response is not a JSON object".into()),
    };
    let known: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut failed = Vec::new();
    for f in failures {
        match f.get("itemIdentifier") {
            Some(Value::String(s)) if !s.is_empty() => {
                if !known.contains(s.as_str()) {
                    return BatchOutcome::Failure(format!(
                        "itemIdentifier {s} is not in the batch"
                    ));
                }
                if !failed.contains(s) {
                    failed.push(s.clone());
                }
            }
            Some(Value::String(_)) => {
                return BatchOutcome::Failure("an itemIdentifier is empty".into())
            }
            Some(Value::Null) => return BatchOutcome::Failure("an itemIdentifier is null".into()),
            _ => {
                return BatchOutcome::Failure(
                    "a batchItemFailures entry has no itemIdentifier".into(),
                )
            }
        }
    }
    if failed.is_empty() {
        BatchOutcome::Success
    } else {
        BatchOutcome::PartialFailure(failed)
    }
}

/// What one poll of an SQS source did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchReport {
    /// Message ids in the batch, in order.
    pub received: Vec<String>,
    pub deleted: Vec<String>,
    /// Left on the queue: they come back after the visibility timeout.
    pub retained: Vec<String>,
    pub outcome: BatchOutcome,
}

// ---------------------------------------------------------------------------------------------
// The driver

pub struct Driver {
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<dyn Invoker>,
}

impl Driver {
    pub fn new(sdk: &aws_config::SdkConfig, invoker: Arc<dyn Invoker>) -> Driver {
        Driver {
            sqs: aws_sdk_sqs::Client::new(sdk),
            invoker,
        }
    }

    async fn receive(
        &self,
        src: &SqsSource,
        max: usize,
        wait: Duration,
    ) -> LocalResult<Vec<aws_sdk_sqs::types::Message>> {
        use aws_sdk_sqs::types::MessageSystemAttributeName;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&src.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.min(MAX_WAIT).as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| LocalError::aws(&src.event, "ReceiveMessage", e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// One Lambda poll of an SQS source: gather a batch (up to `BatchSize`, within
    /// `MaximumBatchingWindowInSeconds`), invoke, delete what succeeded.
    /// `wait` is the long-poll time for the first message; `None` when nothing arrived.
    pub async fn poll_once(
        &self,
        src: &SqsSource,
        wait: Duration,
    ) -> LocalResult<Option<BatchReport>> {
        let mut messages = self.receive(src, src.batch_size, wait).await?;
        if messages.is_empty() {
            return Ok(None);
        }
        let deadline = tokio::time::Instant::now() + src.batching_window;
        let mut last = messages.len();
        while messages.len() < src.batch_size {
            let now = tokio::time::Instant::now();
            let wait = if src.batching_window.is_zero() {
                // No window: Lambda invokes with what one receive gave, unless a full receive
                // suggests more are waiting for a batch bigger than 10.
                if last < 10 {
                    break;
                }
                Duration::ZERO
            } else if now >= deadline {
                break;
            } else {
                // Whole seconds only; round up so the window is not cut short.
                Duration::from_secs((deadline - now).as_secs_f64().ceil() as u64)
            };
            let more = self
                .receive(src, src.batch_size - messages.len(), wait)
                .await?;
            last = more.len();
            if more.is_empty() && src.batching_window.is_zero() {
                break;
            }
            messages.extend(more);
        }
        let ids: Vec<String> = messages
            .iter()
            .map(|m| m.message_id().unwrap_or_default().to_string())
            .collect();
        let event = sqs_event(&messages, &src.queue_arn);
        let invocation = self.invoker.invoke(&src.binary, &event, src.timeout).await;
        let outcome = interpret(&invocation, src.report_batch_item_failures, &ids);
        let keep: BTreeSet<&str> = match &outcome {
            BatchOutcome::Success => BTreeSet::new(),
            BatchOutcome::PartialFailure(f) => f.iter().map(String::as_str).collect(),
            BatchOutcome::Failure(_) => ids.iter().map(String::as_str).collect(),
        };
        let delete: Vec<&aws_sdk_sqs::types::Message> = messages
            .iter()
            .filter(|m| !keep.contains(m.message_id().unwrap_or_default()))
            .collect();
        let mut deleted = Vec::new();
        for chunk in delete.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .map_err(|e| LocalError::template(e.to_string()))
                })
                .collect::<LocalResult<Vec<_>>>()?;
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&src.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| LocalError::aws(&src.event, "DeleteMessageBatch", e))?;
            let failed: BTreeSet<String> =
                out.failed().iter().map(|f| f.id().to_string()).collect();
            for (i, m) in chunk.iter().enumerate() {
                if failed.contains(&i.to_string()) {
                    tracing::warn!(
                        message_id = m.message_id().unwrap_or_default(),
                        "delete failed; the message will come back"
                    );
                } else {
                    deleted.push(m.message_id().unwrap_or_default().to_string());
                }
            }
        }
        let retained: Vec<String> = ids
            .iter()
            .filter(|id| !deleted.contains(id))
            .cloned()
            .collect();
        match &outcome {
            BatchOutcome::Failure(why) => tracing::warn!(
                function = %src.binary, event = %src.event, batch = ids.len(), reason = %why,
                "batch failed; every message stays on the queue"
            ),
            _ => tracing::info!(
                function = %src.binary, event = %src.event, batch = ids.len(),
                deleted = deleted.len(), retained = retained.len(), "batch processed"
            ),
        }
        Ok(Some(BatchReport {
            received: ids,
            deleted,
            retained,
            outcome,
        }))
    }

    /// Invoke a scheduled function once, as its rule would at `time`.
    pub async fn fire(&self, src: &ScheduleSource, time: DateTime<Utc>) -> Invocation {
        let payload = src
            .input
            .clone()
            .unwrap_or_else(|| scheduled_event(&src.rule_arn, time));
        let result = self
            .invoker
            .invoke(&src.binary, &payload, src.timeout)
            .await;
        match &result {
            Invocation::Returned(_) => {
                tracing::info!(function = %src.binary, event = %src.event, "scheduled invocation done")
            }
            other => {
                tracing::warn!(function = %src.binary, event = %src.event, result = ?other, "scheduled invocation failed")
            }
        }
        result
    }

    async fn run_schedule(self: Arc<Self>, src: ScheduleSource) {
        let start = Utc::now();
        let mut after = start;
        tracing::info!(function = %src.binary, event = %src.event, schedule = %src.schedule.expression, "schedule armed");
        while let Some(next) = src.schedule.next_after(after, start) {
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            // EventBridge invokes asynchronously: a failure is logged, the schedule goes on.
            self.fire(&src, next).await;
            after = next;
        }
        tracing::info!(function = %src.binary, event = %src.event, "schedule will not fire again");
    }

    async fn run_queue(self: Arc<Self>, src: SqsSource) {
        tracing::info!(function = %src.binary, event = %src.event, queue = %src.queue_url, "polling");
        loop {
            if let Err(e) = self.poll_once(&src, MAX_WAIT).await {
                tracing::warn!(function = %src.binary, event = %src.event, error = %e, "poll failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }

    /// Start one task per enabled schedule and SQS source. Dropping or aborting the set
    /// stops them; an in-flight batch then simply comes back after its visibility timeout.
    pub fn spawn(self: Arc<Self>, functions: &[FunctionSpec]) -> tokio::task::JoinSet<()> {
        let mut set = tokio::task::JoinSet::new();
        for f in functions {
            for s in &f.schedules {
                if s.enabled {
                    set.spawn(self.clone().run_schedule(s.clone()));
                } else {
                    tracing::info!(function = %f.binary, event = %s.event, "schedule disabled");
                }
            }
            for q in &f.queues {
                if q.enabled {
                    set.spawn(self.clone().run_queue(q.clone()));
                } else {
                    tracing::info!(function = %f.binary, event = %q.event, "SQS source disabled");
                }
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    fn ret(s: &str) -> Invocation {
        Invocation::Returned(s.into())
    }

    #[test]
    fn batch_item_failures_follow_lambda() {
        let ids = ids();
        // Complete successes.
        for body in [
            "",
            "null",
            "{}",
            r#"{"batchItemFailures": []}"#,
            r#"{"batchItemFailures": null}"#,
        ] {
            assert_eq!(
                interpret(&ret(body), true, &ids),
                BatchOutcome::Success,
                "{body}"
            );
        }
        // Partial failure, duplicates collapsed.
        assert_eq!(
            interpret(
                &ret(
                    r#"{"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "b"}]}"#
                ),
                true,
                &ids
            ),
            BatchOutcome::PartialFailure(vec!["b".into()])
        );
        // Complete failures.
        for body in [
            "not json",
            r#""ok""#,
            r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            r#"{"batchItemFailures": [{"itemId": "a"}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": "zzz"}]}"#,
            r#"{"batchItemFailures": {"itemIdentifier": "a"}}"#,
        ] {
            assert!(
                matches!(interpret(&ret(body), true, &ids), BatchOutcome::Failure(_)),
                "{body}"
            );
        }
        // Without ReportBatchItemFailures the response is not read.
        assert_eq!(
            interpret(
                &ret(r#"{"batchItemFailures": [{"itemIdentifier": "a"}]}"#),
                false,
                &ids
            ),
            BatchOutcome::Success
        );
        // Errors and timeouts delete nothing.
        for inv in [
            Invocation::Timeout,
            Invocation::Failed("down".into()),
            Invocation::FunctionError {
                error_type: "E".into(),
                message: "m".into(),
            },
        ] {
            assert!(matches!(
                interpret(&inv, true, &ids),
                BatchOutcome::Failure(_)
            ));
            assert!(matches!(
                interpret(&inv, false, &ids),
                BatchOutcome::Failure(_)
            ));
        }
    }

    #[test]
    fn scheduled_event_shape() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let e = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", t);
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["time"], "2026-11-22T10:05:00Z");
        assert_eq!(
            e["resources"][0],
            "arn:aws:events:us-east-1:123456789012:rule/r"
        );
        assert_eq!(e["detail"], json!({}));
        assert_eq!(e["account"], ACCOUNT_ID);
        // Functions deserialize it with aws_lambda_events.
        let parsed: aws_lambda_events::event::eventbridge::EventBridgeEvent =
            serde_json::from_value(e).unwrap();
        assert_eq!(parsed.detail_type, "Scheduled Event");
    }

    #[test]
    fn sqs_event_shape() {
        use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
        let m = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body("{\"job\":1}")
            .md5_of_body("md5")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(
                MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
                "1700000000100",
            )
            .message_attributes(
                "kind",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("sync")
                    .build()
                    .unwrap(),
            )
            .message_attributes(
                "blob",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![1u8, 2]))
                    .build()
                    .unwrap(),
            )
            .build();
        let arn = "arn:aws:sqs:us-east-1:123456789012:q";
        let e = sqs_event(&[m], arn);
        let r = &e["Records"][0];
        assert_eq!(r["messageId"], "m-1");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], arn);
        assert_eq!(r["awsRegion"], REGION);
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "sync");
        assert_eq!(r["messageAttributes"]["blob"]["binaryValue"], "AQI=");
        assert_eq!(
            r["messageAttributes"]["kind"]["stringListValues"],
            json!([])
        );
        // Functions deserialize it with aws_lambda_events.
        let parsed: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(e).unwrap();
        let rec = &parsed.records[0];
        assert_eq!(rec.message_id.as_deref(), Some("m-1"));
        assert_eq!(rec.receipt_handle.as_deref(), Some("rh-1"));
        assert_eq!(
            rec.attributes["ApproximateFirstReceiveTimestamp"],
            "1700000000100"
        );
        assert_eq!(
            rec.message_attributes["kind"].data_type.as_deref(),
            Some("String")
        );
        assert_eq!(rec.event_source_arn.as_deref(), Some(arn));
    }

    #[test]
    fn function_errors_are_parsed() {
        assert_eq!(
            function_error(r#"{"errorType":"Boom","errorMessage":"it broke"}"#),
            Invocation::FunctionError {
                error_type: "Boom".into(),
                message: "it broke".into()
            }
        );
        assert!(matches!(
            function_error("plain"),
            Invocation::FunctionError { .. }
        ));
    }
}
