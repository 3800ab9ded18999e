//! Benchmark (not a test): each function's release `bootstrap` as Lambda runs it, against a
//! local Lambda Runtime API (written here), beside a hello-world lambda_runtime binary from the
//! same release build.
//!
//! - **Init**: process start to its first `GET /2018-06-01/runtime/invocation/next` (what Lambda
//!   reports as Init Duration), over several cold starts, and the resident set at that moment.
//! - **Load**: one process handles a series of its real events one at a time, as one Lambda
//!   instance does; afterwards its peak resident set (`VmHWM`). The events flow as in
//!   production, on moto and the Mews simulator: webhook deliveries (the webhook function),
//!   the refresh jobs they queued (sync-worker, batches of 10), `bookings` queries over what
//!   the worker stored (graphql), and note writes submitted through the write service
//!   (writer, batches of 10). Every answer is checked; a failed invocation is reported.
//!
//! usage: scripts/with-moto.sh cargo run --release -p pms-tests --example lambda_bench -- \
//!          [--cold N] [--invocations N] <name>=<path to bootstrap>...
//! (`make bench` builds the bootstraps and passes them.) Names: hello-lambda, webhook,
//! sync-worker, graphql, writer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pms_app::registry::{IngestCredentials, IngestKeys, Scope};
use pms_app::runtime::Services;
use pms_app::writes::{WriteOperation, WriteRecords, WriteService};
use pms_domain::domain::{ConfirmationNumber, HotelId, Note};
use pms_domain::ports::SecretStore;
use pms_sim::setup::hotel_for;
use pms_sim::Simulator;
use pms_tests::{repo_root, repo_template, TestStack};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

const DEFAULT_COLD: usize = 10;
const DEFAULT_INVOCATIONS: usize = 200;
const SQS_BATCH: usize = 10;

/// How an invocation's answer is judged (an HTTP status, a batch response...).
type AnswerCheck = fn(&str) -> Result<(), String>;

// ---- the Runtime API -------------------------------------------------------------------------

struct Invocation {
    id: String,
    body: String,
    done: oneshot::Sender<Result<String, String>>,
}

struct Runtime {
    events: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    first_poll: watch::Sender<Option<Instant>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<String, String>>>>,
    init_error: Mutex<Option<String>>,
}

/// One Runtime API server for one function process.
struct Emulator {
    addr: std::net::SocketAddr,
    runtime: Arc<Runtime>,
    send: mpsc::Sender<Invocation>,
    server: tokio::task::JoinHandle<()>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> Response {
    rt.first_poll.send_if_modified(|t| {
        let first = t.is_none();
        if first {
            *t = Some(Instant::now());
        }
        first
    });
    // One process polls at a time, as in Lambda.
    let Some(inv) = rt.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    rt.waiting
        .lock()
        .expect("lock")
        .insert(inv.id.clone(), inv.done);
    let deadline = chrono::Utc::now().timestamp_millis() + 120_000;
    let mut h = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).expect("header value");
    h.insert("lambda-runtime-aws-request-id", header(&inv.id));
    h.insert("lambda-runtime-deadline-ms", header(&deadline.to_string()));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    h.insert(
        "lambda-runtime-trace-id",
        header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
    );
    h.insert("content-type", header("application/json"));
    (StatusCode::OK, h, inv.body).into_response()
}

async fn finish(rt: &Runtime, id: &str, outcome: Result<String, String>) -> StatusCode {
    match rt.waiting.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(
    State(rt): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    finish(&rt, &id, Ok(body)).await
}

async fn error(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: String) -> StatusCode {
    finish(&rt, &id, Err(body)).await
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: String) -> StatusCode {
    *rt.init_error.lock().expect("lock") = Some(body);
    StatusCode::ACCEPTED
}

impl Emulator {
    async fn start() -> Emulator {
        let (send, events) = mpsc::channel(1);
        let runtime = Arc::new(Runtime {
            events: tokio::sync::Mutex::new(events),
            first_poll: watch::channel(None).0,
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(runtime.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("runtime API");
        });
        Emulator {
            addr,
            runtime,
            send,
            server,
        }
    }

    /// Waits for the process's first poll; the instant it arrived.
    async fn first_poll(&self) -> Result<Instant, String> {
        let mut rx = self.runtime.first_poll.subscribe();
        let polled = tokio::time::timeout(Duration::from_secs(30), async {
            rx.wait_for(Option::is_some).await.ok().and_then(|t| *t)
        })
        .await;
        match polled {
            Ok(Some(t)) => Ok(t),
            _ => Err(self
                .runtime
                .init_error
                .lock()
                .expect("lock")
                .clone()
                .unwrap_or_else(|| "no poll within 30 s".into())),
        }
    }

    async fn invoke(&self, body: String) -> Result<String, String> {
        let (done, result) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        self.send
            .send(Invocation { id, body, done })
            .await
            .map_err(|_| "runtime API closed".to_string())?;
        match tokio::time::timeout(Duration::from_secs(120), result).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("no answer".into()),
            Err(_) => Err("timed out".into()),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---- processes -------------------------------------------------------------------------------

struct Function {
    name: String,
    bootstrap: PathBuf,
    env: Vec<(String, String)>,
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

impl Function {
    /// Starts the bootstrap against `emu` as Lambda would: only the function's environment.
    fn spawn(&self, emu: &Emulator, log: &std::fs::File) -> tokio::process::Child {
        let mut cmd = tokio::process::Command::new(&self.bootstrap);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", emu.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log.try_clone().expect("log"))
            .kill_on_drop(true);
        cmd.spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.bootstrap.display()))
    }

    fn log(&self) -> std::fs::File {
        let dir = repo_root().join("target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        std::fs::File::create(dir.join(format!("{}.log", self.name))).expect("log file")
    }

    /// Cold starts: init time and resident set at the first poll.
    async fn cold(&self, runs: usize) -> Result<Vec<(Duration, u64)>, String> {
        let log = self.log();
        let mut out = Vec::new();
        for _ in 0..runs {
            let emu = Emulator::start().await;
            let started = Instant::now();
            let mut child = self.spawn(&emu, &log);
            let polled = emu.first_poll().await;
            let (rss, _) = memory(child.id().unwrap_or(0));
            let _ = child.kill().await;
            out.push((polled? - started, rss));
        }
        Ok(out)
    }

    /// One process answers `events` in turn; each answer goes through `check`.
    async fn load(&self, events: Vec<String>, check: fn(&str) -> Result<(), String>) -> Load {
        let log = self.log();
        let emu = Emulator::start().await;
        let mut child = self.spawn(&emu, &log);
        let pid = child.id().unwrap_or(0);
        let mut load = Load::default();
        if let Err(e) = emu.first_poll().await {
            load.failures.push(format!("init: {e}"));
            return load;
        }
        let started = Instant::now();
        for body in events {
            let t = Instant::now();
            let answer = emu.invoke(body).await;
            load.latencies.push(t.elapsed());
            if let Err(e) = answer.and_then(|a| check(&a)) {
                load.failures.push(e);
            }
        }
        load.elapsed = started.elapsed();
        (load.rss_kib, load.peak_kib) = memory(pid);
        let _ = child.kill().await;
        load
    }
}

#[derive(Default)]
struct Load {
    latencies: Vec<Duration>,
    elapsed: Duration,
    rss_kib: u64,
    peak_kib: u64,
    failures: Vec<String>,
}

// ---- events ----------------------------------------------------------------------------------

fn apigw(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let fixture = repo_root().join("tests/fixtures/apigw/http-api-v2-post.json");
    let mut e: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    e["rawPath"] = json!(path);
    e["routeKey"] = json!("$default");
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["pathParameters"] = json!({});
    let h = e["headers"].as_object_mut().expect("headers");
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), json!(v));
    }
    h.insert("content-length".into(), json!(body.len().to_string()));
    e["body"] = json!(body);
    e.to_string()
}

fn http_ok(answer: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(answer).map_err(|e| format!("{e}: {answer}"))?;
    let status = v["statusCode"].as_u64().unwrap_or(0);
    let body = v["body"].as_str().unwrap_or("");
    if !(200..300).contains(&status) || body.contains("\"errors\"") {
        return Err(format!("HTTP {status}: {}", &body[..body.len().min(300)]));
    }
    Ok(())
}

fn no_batch_failures(answer: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(answer).map_err(|e| format!("{e}: {answer}"))?;
    match v["batchItemFailures"].as_array() {
        Some(f) if f.is_empty() => Ok(()),
        _ => Err(format!("batch failures: {answer}")),
    }
}

fn any_answer(_: &str) -> Result<(), String> {
    Ok(())
}

/// Messages waiting on a queue, as Lambda SQS events of up to `SQS_BATCH` records.
async fn sqs_events(stack: &TestStack, logical_id: &str) -> Vec<String> {
    let sqs = stack.sqs();
    let url = stack.queue_url(logical_id).to_owned();
    let arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        url.rsplit('/').next().unwrap_or_default()
    );
    let mut events = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(SQS_BATCH as i32)
            .visibility_timeout(600)
            .send()
            .await
            .expect("receive");
        let messages = got.messages();
        if messages.is_empty() {
            break;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                                   "SenderId": "bench", "ApproximateFirstReceiveTimestamp": "0"},
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        events.push(json!({ "Records": records }).to_string());
    }
    events
}

// ---- report ----------------------------------------------------------------------------------

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

struct Args {
    cold: usize,
    invocations: usize,
    functions: Vec<(String, PathBuf)>,
}

fn args() -> Args {
    let mut a = Args {
        cold: DEFAULT_COLD,
        invocations: DEFAULT_INVOCATIONS,
        functions: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cold" => a.cold = it.next().and_then(|v| v.parse().ok()).expect("--cold N"),
            "--invocations" => {
                a.invocations = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--invocations N")
            }
            other => {
                let (name, path) = other.split_once('=').expect("<name>=<bootstrap>");
                a.functions.push((name.to_owned(), PathBuf::from(path)));
            }
        }
    }
    assert!(!a.functions.is_empty(), "no bootstrap given");
    a
}

// ---- main ------------------------------------------------------------------------------------

struct Bench {
    stack: TestStack,
    services: Services,
    hotel: HotelId,
    property: String,
    webhook_secret: String,
    token: String,
    reservations: Vec<(String, String)>,
    /// Each function's environment (globals, its own variables, AWS endpoint).
    env: HashMap<String, Vec<(String, String)>>,
    _sim: Simulator,
}

impl Bench {
    async fn new() -> Bench {
        let stack = TestStack::new().await;
        let services = stack.services();
        let sim = Simulator::start(
            pms_sim::default_config(),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("simulator");
        let setup = sim.context.config.properties[&pms_mews::PROVIDER][0].clone();
        let hotel = HotelId::parse("bench-mews").expect("hotel id");
        let (config, credentials) = hotel_for(
            pms_mews::PROVIDER,
            &setup,
            &sim.vendor_url(pms_mews::PROVIDER),
            hotel.clone(),
        )
        .expect("hotel config");
        services
            .secrets
            .put(&services.adapters.credentials_secret(&hotel), &credentials)
            .await
            .expect("credentials");
        services.hotels.create(&config).await.expect("hotel");
        let secrets: Arc<dyn SecretStore> = services.secrets.clone();
        let keys = IngestKeys::new(secrets, services.names.secrets_prefix.clone());
        let mut creds = IngestCredentials::default();
        let webhook_secret = creds.rotate_webhook_secret().expose_secret().to_owned();
        keys.put(&hotel, &creds).await.expect("webhook secret");
        let (token, _) = services
            .tokens
            .create(vec![hotel.clone()], vec![Scope::Read], "bench")
            .await
            .expect("token");
        let sim_hotel = sim
            .admin()
            .hotel(pms_mews::PROVIDER, &setup.property_id)
            .await
            .expect("simulated hotel");
        let reservations = sim_hotel
            .reservations
            .iter()
            .map(|r| (r.id.clone(), r.confirmation.clone()))
            .collect();
        let specs =
            pms_local::driver::functions(&repo_template(), &stack.outputs).expect("functions");
        let mut env = HashMap::new();
        for s in specs {
            let mut e = stack.env();
            e.extend(s.env.clone());
            env.insert(s.binary.clone(), e);
        }
        Bench {
            stack,
            services,
            hotel,
            property: setup.property_id,
            webhook_secret,
            token: token.expose_secret().to_owned(),
            reservations,
            env,
            _sim: sim,
        }
    }

    fn webhook_events(&self, n: usize) -> Vec<String> {
        let path = format!("/v1/webhooks/mews/{}/{}", self.hotel, self.webhook_secret);
        (0..n)
            .map(|i| {
                let (id, _) = &self.reservations[i % self.reservations.len()];
                // A distinct delivery each time (Mews deliveries are identified by content).
                let body = json!({"EnterpriseId": self.property, "IntegrationId": format!("bench-{i}"),
                    "Events": [{"Discriminator": "ServiceOrderUpdated", "Value": {"Id": id}},
                               {"Discriminator": "MessageAdded", "Value": {"Id": format!("m-{i}")}}]});
                apigw(
                    "POST",
                    &path,
                    &[("content-type", "application/json")],
                    &body.to_string(),
                )
            })
            .collect()
    }

    fn graphql_events(&self, n: usize) -> Vec<String> {
        let query = json!({"query": "query($h: ID!) { bookings(hotelId: $h, first: 50) { edges { node { id status arrival departure guest { lastName } } } pageInfo { hasNextPage } } }",
            "variables": {"h": self.hotel.as_str()}});
        let auth = format!("Bearer {}", self.token);
        (0..n)
            .map(|_| {
                apigw(
                    "POST",
                    "/graphql",
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &auth),
                    ],
                    &query.to_string(),
                )
            })
            .collect()
    }

    /// Note writes submitted as partners' writes are, then read off the write queue.
    async fn writer_events(&self, n: usize) -> Vec<String> {
        let records = WriteRecords::new(self.services.store.clone(), self.services.clock.clone());
        let writes = WriteService::new(
            records,
            self.services.queue.clone(),
            self.services.names.write_queue_url.clone(),
        );
        let config = self
            .services
            .hotels
            .require(&self.hotel)
            .await
            .expect("hotel");
        let caps = self
            .services
            .adapters
            .adapter_for(&config)
            .await
            .expect("adapter")
            .capabilities();
        for i in 0..n {
            let (_, confirmation) = &self.reservations[i % self.reservations.len()];
            let op = WriteOperation::AddReservationNote {
                confirmation: ConfirmationNumber::parse(confirmation.as_str()).expect("conf"),
                note: Note {
                    text: format!("bench note {i}"),
                    title: None,
                    internal: false,
                },
            };
            writes
                .submit(&self.hotel, op, None, "bench", &format!("bench-{i}"), &caps)
                .await
                .expect("submit");
        }
        sqs_events(&self.stack, "WriteOpsQueue").await
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let bench = Bench::new().await;
    let mut rows = Vec::new();
    let mut hello_init = None;
    for (name, bootstrap) in &a.functions {
        let env = bench
            .env
            .get(name)
            .cloned()
            .unwrap_or_else(|| bench.stack.env());
        let f = Function {
            name: name.clone(),
            bootstrap: bootstrap.clone(),
            env,
        };
        let cold = match f.cold(a.cold).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{name}: no first poll: {e} (log: target/bench/{name}.log)");
                std::process::exit(1);
            }
        };
        let (events, check): (Vec<String>, AnswerCheck) = match name.as_str() {
            "webhook" => (bench.webhook_events(a.invocations), http_ok),
            "sync-worker" => (
                sqs_events(&bench.stack, "SyncJobsQueue").await,
                no_batch_failures,
            ),
            "graphql" => (bench.graphql_events(a.invocations), http_ok),
            "writer" => (bench.writer_events(a.invocations).await, no_batch_failures),
            _ => (
                vec![json!({"hello": "world"}).to_string(); a.invocations],
                any_answer,
            ),
        };
        let n = events.len();
        eprintln!("{name}: {} cold starts done; {n} invocations", cold.len());
        let load = f.load(events, check).await;
        for e in load.failures.iter().take(3) {
            eprintln!("{name}: failed invocation: {e}");
        }
        let inits: Vec<Duration> = cold.iter().map(|c| c.0).collect();
        let init_rss = cold.iter().map(|c| c.1).max().unwrap_or(0);
        if name == "hello-lambda" {
            hello_init = Some(pct(&inits, 0.5));
        }
        rows.push((name.clone(), inits, init_rss, n, load));
    }
    println!(
        "Lambda Runtime API emulator on loopback; {} cold starts per function; one process per \
         function for the load; moto at {}",
        a.cold, bench.stack.endpoint
    );
    println!(
        "{:<13} | {:>9} | {:>9} | {:>11} | {:>11} | {:>6} | {:>10} | {:>10} | {:>12} | {:>6}",
        "function",
        "init p50",
        "init max",
        "vs hello",
        "RSS at init",
        "events",
        "event p50",
        "event p90",
        "peak RSS",
        "failed"
    );
    let mut failed = false;
    for (name, inits, init_rss, n, load) in &rows {
        let p50 = pct(inits, 0.5);
        let delta = hello_init
            .map(|h| format!("{:+.1} ms", (p50.as_secs_f64() - h.as_secs_f64()) * 1000.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<13} | {:>9} | {:>9} | {:>11} | {:>11} | {:>6} | {:>10} | {:>10} | {:>12} | {:>6}",
            name,
            ms(p50),
            ms(pct(inits, 1.0)),
            delta,
            mib(*init_rss),
            n,
            ms(pct(&load.latencies, 0.5)),
            ms(pct(&load.latencies, 0.9)),
            mib(load.peak_kib),
            load.failures.len()
        );
        failed |= !load.failures.is_empty();
    }
    if failed {
        eprintln!("some invocations failed; the functions' logs are in target/bench/");
        std::process::exit(1);
    }
}
