//! `pms-local up`: the whole local stack in one command, and its clean shutdown.
//!
//! Every process it starts runs in a process group of its own, so Ctrl-C reaches only
//! `pms-local`, which then stops exactly what it started (the group, so the functions
//! `cargo lambda watch` runs go too) and nothing else: a moto server that was already
//! answering is used and left running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use super::driver::{self, Driver, FunctionSpec, HttpInvoker};
use super::stack::{provision, StackOutputs};
use super::template::Template;
use super::{aws_env, demo, sdk_config, LocalError, LocalResult, REGION};
use pms_sim::Simulator;

#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Repository root (holds `Cargo.toml`, `.venv`, `.local`).
    pub root: PathBuf,
    pub template: PathBuf,
    pub stack_name: String,
    pub moto_port: u16,
    pub watch_port: u16,
    /// Port of the OHIP/Mews/Cloudbeds simulator.
    pub sim_port: u16,
    /// Seed the demo hotels (mock and one per simulated vendor) and a token for them.
    pub seed: bool,
}

/// `.local/stack.json`: where scripts and tests find the running stack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackFile {
    pub stack_name: String,
    pub region: String,
    pub aws_endpoint: String,
    /// Base URL of `cargo lambda watch` (Invoke API and function URLs).
    pub lambda_endpoint: String,
    /// The environment contract plus the AWS variables for the local endpoint.
    pub env: BTreeMap<String, String>,
    /// Binary -> function URL.
    pub functions: BTreeMap<String, String>,
    pub simulators: BTreeMap<String, String>,
    pub demo: Demo,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Demo {
    pub hotel_id: String,
    pub token_id: Option<String>,
    pub token: Option<String>,
    /// Provider -> our id of the demo hotel served by that vendor's simulator.
    #[serde(default)]
    pub vendor_hotels: BTreeMap<String, String>,
}

impl StackFile {
    pub fn path(root: &Path) -> PathBuf {
        root.join(".local").join("stack.json")
    }

    pub fn load(root: &Path) -> LocalResult<StackFile> {
        let path = StackFile::path(root);
        let text = std::fs::read_to_string(&path).map_err(|source| LocalError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| {
            LocalError::Process(format!("{} is not a stack file: {e}", path.display()))
        })
    }

    /// Written owner-only: it holds the demo token.
    fn write(&self, root: &Path) -> LocalResult<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = StackFile::path(root);
        let io = |source| LocalError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| io(e.into()))?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        Ok(path)
    }
}

/// A process we started, in its own process group.
struct Started {
    name: &'static str,
    child: tokio::process::Child,
    pgid: Option<rustix::process::Pid>,
}

#[derive(Default)]
struct Children(Vec<Started>);

impl Children {
    fn spawn(&mut self, name: &'static str, cmd: &mut Command) -> LocalResult<()> {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LocalError::Process(format!("cannot start {name}: {e}")))?;
        let pgid = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        tracing::info!(process = name, pid = ?child.id(), "started");
        self.0.push(Started { name, child, pgid });
        Ok(())
    }

    /// The first of our processes that has exited, if any.
    fn exited(&mut self) -> Option<(&'static str, std::process::ExitStatus)> {
        self.0.iter_mut().find_map(|s| {
            s.child
                .try_wait()
                .ok()
                .flatten()
                .map(|status| (s.name, status))
        })
    }

    /// Stop in reverse start order: SIGTERM to the group, SIGKILL what is left after 5 s.
    async fn stop_all(&mut self) {
        use rustix::process::{kill_process, kill_process_group, Signal};
        while let Some(mut s) = self.0.pop() {
            if let Some(pgid) = s.pgid {
                // cargo lambda watch runs each function in a process group of its own; note
                // them now, to end any it leaves behind.
                let strays = descendants(pgid.as_raw_pid());
                let _ = kill_process_group(pgid, Signal::TERM);
                if tokio::time::timeout(Duration::from_secs(5), s.child.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!(process = s.name, "did not stop on SIGTERM; killing it");
                }
                // The leader may be gone while its children (a function `cargo run` started)
                // are not; the group signal reaches them. ESRCH (nobody left) is fine.
                let _ = kill_process_group(pgid, Signal::KILL);
                for (pid, start) in strays {
                    // Only the very process we saw (same start time), never a reused pid.
                    if proc_stat(pid).is_some_and(|(_, s)| s == start) {
                        if let Some(p) = rustix::process::Pid::from_raw(pid) {
                            tracing::warn!(pid, "ending a process the emulator left behind");
                            let _ = kill_process(p, Signal::KILL);
                        }
                    }
                }
            }
            let _ = s.child.kill().await;
            tracing::info!(process = s.name, "stopped");
        }
    }
}

/// (parent pid, start time) from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is field 4, starttime field 22.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Every live descendant of `root`, with its start time.
fn descendants(root: i32) -> Vec<(i32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let procs: Vec<(i32, i32, u64)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| proc_stat(pid).map(|(ppid, start)| (pid, ppid, start)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, start) in &procs {
            if *ppid == parent {
                found.push((*pid, *start));
                frontier.push(*pid);
            }
        }
    }
    found
}

async fn moto_answers(endpoint: &str) -> bool {
    let client = reqwest::Client::new();
    matches!(
        client
            .get(format!("{endpoint}/moto-api/"))
            .timeout(Duration::from_secs(2))
            .send()
            .await,
        Ok(r) if r.status().is_success()
    )
}

async fn port_answers(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// The pinned tools; `make tools` is their one definition.
async fn ensure_venv(root: &Path) -> LocalResult<PathBuf> {
    let bin = root.join(".venv").join("bin");
    if bin.join("moto_server").is_file() && bin.join("cargo-lambda").is_file() {
        return Ok(bin);
    }
    tracing::info!("installing the pinned tools into .venv (make tools)");
    let status = Command::new("make")
        .arg("tools")
        .current_dir(root)
        .status()
        .await
        .map_err(|e| LocalError::Process(format!("cannot run make tools: {e}")))?;
    if !status.success() {
        return Err(LocalError::Process(format!("make tools failed ({status})")));
    }
    Ok(bin)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `package`: build within one package, so its features match `cargo run -p` (a workspace-wide
/// build may unify features differently and rebuild dependencies).
async fn cargo_build(root: &Path, package: Option<&str>, bins: &[&str]) -> LocalResult<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build")
        .arg("-q")
        .current_dir(root)
        .kill_on_drop(true);
    if let Some(p) = package {
        cmd.arg("-p").arg(p);
    }
    for b in bins {
        cmd.arg("--bin").arg(b);
    }
    let status = cmd
        .status()
        .await
        .map_err(|e| LocalError::Process(format!("cannot run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(LocalError::Process(format!(
            "cargo build --bin {} failed ({status})",
            bins.join(" --bin ")
        )))
    }
}

/// Run `pmsctl` with the stack's environment; stdout captured, stderr passed through.
async fn pmsctl(
    bin: &Path,
    env: &BTreeMap<String, String>,
    args: &[&str],
) -> LocalResult<(bool, String)> {
    let out = Command::new(bin)
        .args(args)
        .envs(env)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| LocalError::Process(format!("cannot run pmsctl: {e}")))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The demo hotel and a token for it and the vendor demo hotels, through the ops CLI.
/// Problems are warnings: the stack is useful without the demo data.
async fn seed_demo(
    root: &Path,
    env: &BTreeMap<String, String>,
    vendor_hotels: BTreeMap<String, String>,
) -> Demo {
    let mut demo = Demo {
        hotel_id: "demo".into(),
        vendor_hotels,
        ..Demo::default()
    };
    if let Err(e) = cargo_build(root, Some("pmsctl"), &["pmsctl"]).await {
        tracing::warn!(error = %e, "pmsctl could not be built; skipping the demo hotel (is the ops CLI merged yet?)");
        return demo;
    }
    let bin = target_dir(root).join("debug").join("pmsctl");
    if !bin.is_file() {
        tracing::warn!(path = %bin.display(), "pmsctl does not exist; skipping the demo hotel (is the ops CLI merged yet?)");
        return demo;
    }
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let bin = bin.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            pmsctl(&bin, env, &args).await
        }
    };
    match run(&["hotel", "get", "--hotel", "demo"]).await {
        Ok((true, _)) => tracing::info!("demo hotel exists"),
        Ok((false, _)) => match run(&[
            "hotel",
            "add",
            "--hotel",
            "demo",
            "--name",
            "Demo Hotel",
            "--provider",
            "mock",
            "--time-zone",
            "Europe/Prague",
            "--currency",
            "EUR",
        ])
        .await
        {
            Ok((true, _)) => tracing::info!("demo hotel added"),
            Ok((false, _)) => {
                tracing::warn!("pmsctl hotel add failed; no demo hotel");
                return demo;
            }
            Err(e) => {
                tracing::warn!(error = %e, "no demo hotel");
                return demo;
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "no demo hotel");
            return demo;
        }
    }
    let mut args = vec!["token", "create", "--hotel", "demo"];
    for hotel in demo.vendor_hotels.values() {
        args.extend(["--hotel", hotel.as_str()]);
    }
    args.extend([
        "--label", "demo", "--scope", "read", "--scope", "write", "--json",
    ]);
    match run(&args).await {
        Ok((true, out)) => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Created {
                token_id: String,
                token: String,
            }
            // The output is never echoed: it holds the token.
            match out
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Created>(l.trim()).ok())
                .or_else(|| serde_json::from_str::<Created>(out.trim()).ok())
            {
                Some(c) => {
                    demo.token_id = Some(c.token_id);
                    demo.token = Some(c.token);
                }
                None => tracing::warn!(
                    "pmsctl token create printed no {{\"tokenId\",\"token\"}} JSON; no demo token (is the ops CLI merged yet?)"
                ),
            }
        }
        Ok((false, _)) => tracing::warn!("pmsctl token create failed; no demo token"),
        Err(e) => tracing::warn!(error = %e, "no demo token"),
    }
    demo
}

/// The environment `cargo lambda watch` gives every function: the contract, each function's
/// own variables (one process serves them all, so they are merged), and the AWS variables.
fn watch_env(
    outputs: &StackOutputs,
    functions: &[FunctionSpec],
    endpoint: &str,
) -> BTreeMap<String, String> {
    let mut env = outputs.env.clone();
    for f in functions {
        for (k, v) in &f.env {
            if let Some(old) = env.insert(k.clone(), v.clone()) {
                if &old != v {
                    tracing::warn!(variable = %k, function = %f.logical_id, "functions disagree on a variable; the last one wins locally");
                }
            }
        }
    }
    env.extend(aws_env(endpoint));
    env
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut probe: F) -> LocalResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if probe().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(LocalError::Process(format!(
        "{what} did not answer within {} s",
        timeout.as_secs()
    )))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Bring the stack up and run until Ctrl-C (SIGINT) or SIGTERM.
pub async fn up(opts: UpOptions) -> LocalResult<()> {
    let mut children = Children::default();
    let mut started_moto = false;
    let result = tokio::select! {
        r = run(&opts, &mut children, &mut started_moto) => r,
        _ = shutdown_signal() => {
            tracing::info!("stopping");
            Ok(())
        }
    };
    children.stop_all().await;
    if started_moto {
        // Its resources died with moto; a stale file would point scripts at nothing.
        let _ = std::fs::remove_file(StackFile::path(&opts.root));
    }
    result
}

async fn run(
    opts: &UpOptions,
    children: &mut Children,
    started_moto: &mut bool,
) -> LocalResult<()> {
    let root = &opts.root;
    let bin = ensure_venv(root).await?;
    let endpoint = format!("http://127.0.0.1:{}", opts.moto_port);

    if moto_answers(&endpoint).await {
        tracing::info!(%endpoint, "moto is already running; using it (it will be left running)");
    } else {
        let log_dir = root.join(".local");
        std::fs::create_dir_all(&log_dir).map_err(|source| LocalError::Io {
            path: log_dir.clone(),
            source,
        })?;
        let log_path = log_dir.join("moto.log");
        let log = std::fs::File::create(&log_path).map_err(|source| LocalError::Io {
            path: log_path.clone(),
            source,
        })?;
        let log2 = log.try_clone().map_err(|source| LocalError::Io {
            path: log_path.clone(),
            source,
        })?;
        children.spawn(
            "moto_server",
            Command::new(bin.join("moto_server"))
                .args(["-H", "127.0.0.1", "-p", &opts.moto_port.to_string()])
                .stdout(log)
                .stderr(log2),
        )?;
        *started_moto = true;
        wait_for("moto_server", Duration::from_secs(30), || {
            moto_answers(&endpoint)
        })
        .await?;
        tracing::info!(%endpoint, log = %log_path.display(), "moto is up");
    }

    let template = Template::load(&opts.template)?;
    let sdk = sdk_config(&endpoint).await;
    let outputs = provision(&sdk, &template, &opts.stack_name).await?;
    let mut contract = outputs.env.clone();
    contract.extend(aws_env(&endpoint));

    // The vendor simulators run inside this process: the demo hotels of OHIP, Mews and
    // Cloudbeds talk to them over HTTP like to the real vendors.
    let sim_config = pms_sim::default_config();
    let sim = Simulator::start(
        sim_config.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], opts.sim_port)),
    )
    .await
    .map_err(|e| {
        LocalError::Process(format!(
            "cannot start the vendor simulator on port {}: {e}",
            opts.sim_port
        ))
    })?;
    tracing::info!(url = %sim.base_url(), "vendor simulator is up");

    let demo = if opts.seed {
        let vendor_hotels = demo::seed_vendor_hotels(&endpoint, &contract, &sim, &sim_config).await;
        seed_demo(root, &contract, vendor_hotels).await
    } else {
        Demo {
            hotel_id: "demo".into(),
            ..Demo::default()
        }
    };

    let functions = driver::functions(&template, &outputs)?;
    let lambda_endpoint = format!("http://127.0.0.1:{}", opts.watch_port);
    if !functions.is_empty() {
        let bins: Vec<&str> = functions.iter().map(|f| f.binary.as_str()).collect();
        // Built up front so the first invocation is not a compile racing the function timeout.
        cargo_build(root, None, &bins).await?;
        if port_answers(opts.watch_port).await {
            return Err(LocalError::Process(format!(
                "port {} is taken; is another cargo lambda watch running?",
                opts.watch_port
            )));
        }
        let mut path = bin.as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        // The driver keeps one batch in flight per SQS source: a function with two sources
        // (the sync worker's bulk and refresh queues) needs an instance for each, or a
        // webhook refresh waits behind a bulk batch as it would not in AWS (where each source
        // has its own MaximumConcurrency).
        let concurrency = functions
            .iter()
            .map(|f| f.queues.len())
            .max()
            .unwrap_or(1)
            .max(1)
            .to_string();
        children.spawn(
            "cargo lambda watch",
            Command::new(bin.join("cargo-lambda"))
                .args([
                    "lambda",
                    "watch",
                    "--invoke-address",
                    "127.0.0.1",
                    "--invoke-port",
                    &opts.watch_port.to_string(),
                    "--concurrency",
                    &concurrency,
                ])
                .current_dir(root)
                .envs(watch_env(&outputs, &functions, &endpoint))
                .env("PATH", path),
        )?;
        wait_for("cargo lambda watch", Duration::from_secs(120), || {
            port_answers(opts.watch_port)
        })
        .await?;
    } else {
        tracing::info!("the template has no functions yet; not starting cargo lambda watch");
    }

    let file = StackFile {
        stack_name: opts.stack_name.clone(),
        region: REGION.into(),
        aws_endpoint: endpoint.clone(),
        lambda_endpoint: lambda_endpoint.clone(),
        env: contract,
        functions: functions
            .iter()
            .map(|f| {
                (
                    f.binary.clone(),
                    format!("{lambda_endpoint}/lambda-url/{}/", f.binary),
                )
            })
            .collect(),
        simulators: pms_sim::providers()
            .iter()
            .map(|v| (v.to_string(), sim.vendor_url(*v)))
            .chain([("admin".to_string(), format!("{}/_admin", sim.base_url()))])
            .collect(),
        demo: demo.clone(),
    };
    let path = file.write(root)?;

    // stdout is for the user: what is where, and the demo token (the one place it appears).
    println!("local stack {:?} is up", opts.stack_name);
    println!("  AWS endpoint (moto): {endpoint}");
    println!("  stack file:          {}", path.display());
    println!("  vendor simulator:    {}", sim.base_url());
    for (bin, url) in &file.functions {
        println!("  function {bin}: {url}");
    }
    match &demo.token {
        Some(token) => println!("  demo hotel {:?}, partner token: {token}", demo.hotel_id),
        None => println!("  no demo token (see the warnings above)"),
    }
    for (provider, hotel) in &demo.vendor_hotels {
        println!("  demo hotel {hotel:?} on the {provider} simulator");
    }
    println!("Ctrl-C stops everything this command started.");

    let driver = Arc::new(Driver::new(
        &sdk,
        Arc::new(HttpInvoker::new(&lambda_endpoint)),
    ));
    let mut tasks = driver.spawn(&functions);
    let result = loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Some((name, status)) = children.exited() {
                    break Err(LocalError::Process(format!("{name} exited unexpectedly ({status})")));
                }
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "a driver task ended");
                }
            }
        }
    };
    tasks.abort_all();
    sim.stop().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_descendants() {
        let me = std::process::id() as i32;
        let (ppid, start) = proc_stat(me).unwrap();
        assert!(ppid > 0 && start > 0);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendants(me);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|(pid, _)| *pid == child.id() as i32));
    }

    #[test]
    fn stack_file_shape() {
        let f = StackFile {
            stack_name: "pms-local".into(),
            region: REGION.into(),
            aws_endpoint: "http://127.0.0.1:5055".into(),
            lambda_endpoint: "http://127.0.0.1:9000".into(),
            env: [("TABLE_NAME".to_string(), "pms-local-pms".to_string())].into(),
            functions: [(
                "webhook".to_string(),
                "http://127.0.0.1:9000/lambda-url/webhook/".to_string(),
            )]
            .into(),
            simulators: BTreeMap::new(),
            demo: Demo {
                hotel_id: "demo".into(),
                token_id: Some("t1".into()),
                token: Some("secret".into()),
                vendor_hotels: [("mews".to_string(), "demo-mews".to_string())].into(),
            },
        };
        let v = serde_json::to_value(&f).unwrap();
        for k in [
            "stackName",
            "region",
            "awsEndpoint",
            "env",
            "functions",
            "simulators",
            "demo",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["demo"]["hotelId"], "demo");
        assert_eq!(v["demo"]["tokenId"], "t1");
        let back: StackFile = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
    }
}
