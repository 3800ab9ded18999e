//! `pms-local`: the local stack from `template.yaml` (moto server + cargo lambda watch + the
//! event driver). `pms-local up` is what `make dev` runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pms_local::{
    self as local, driver, find_root, sdk_config, up::StackFile, up::UpOptions, HttpInvoker,
    Invocation, LocalError, LocalResult, Template,
};

#[derive(Parser)]
#[command(
    name = "pms-local",
    about = "Local stack from template.yaml: moto, cargo lambda watch, event driver"
)]
struct Cli {
    /// Template to use (default: template.yaml at the repository root).
    #[arg(long, global = true)]
    template: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start moto (unless running), provision, seed the demo hotel, serve the functions and
    /// drive their schedules and queues, until Ctrl-C.
    Up {
        #[arg(long, default_value = local::DEFAULT_STACK)]
        stack: String,
        #[arg(long, default_value_t = local::MOTO_PORT)]
        moto_port: u16,
        #[arg(long, default_value_t = local::WATCH_PORT)]
        watch_port: u16,
        #[arg(long, default_value_t = local::demo::SIM_PORT)]
        sim_port: u16,
        /// Do not create the demo hotel and token.
        #[arg(long)]
        no_seed: bool,
    },
    /// Provision a stack on an endpoint and print its outputs as JSON.
    Provision {
        #[arg(long, default_value = local::DEFAULT_STACK)]
        stack: String,
        /// moto endpoint (default: AWS_ENDPOINT_URL, then .local/stack.json, then :5055).
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Compare the live resources with the template; exits 1 on any drift.
    Verify {
        #[arg(long, default_value = local::DEFAULT_STACK)]
        stack: String,
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Invoke a scheduled function now, with the event its schedule would send.
    Fire {
        binary: String,
        /// The event's name in the template (default: the function's first schedule).
        #[arg(long)]
        event: Option<String>,
    },
    /// Poll a function's SQS source once and invoke it with what arrives.
    InvokeSqs {
        binary: String,
        #[arg(long)]
        event: Option<String>,
        /// Long-poll seconds to wait for a first message.
        #[arg(long, default_value_t = 5)]
        wait: u64,
    },
    /// Print `export` lines for the running stack (`eval "$(pms-local env)"`).
    Env,
}

fn endpoint_for(root: &std::path::Path, given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .or_else(|| StackFile::load(root).ok().map(|f| f.aws_endpoint))
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", local::MOTO_PORT))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

async fn functions_of_running_stack(
    root: &std::path::Path,
    template: &Template,
) -> LocalResult<(StackFile, Vec<driver::FunctionSpec>, aws_config::SdkConfig)> {
    let file = StackFile::load(root)?;
    let sdk = sdk_config(&file.aws_endpoint).await;
    let outputs = local::inspect(&sdk, template, &file.stack_name).await?;
    let functions = driver::functions(template, &outputs)?;
    Ok((file, functions, sdk))
}

fn find_function<'a>(
    functions: &'a [driver::FunctionSpec],
    binary: &str,
) -> LocalResult<&'a driver::FunctionSpec> {
    functions
        .iter()
        .find(|f| f.binary == binary)
        .ok_or_else(|| {
            let known: Vec<&str> = functions.iter().map(|f| f.binary.as_str()).collect();
            LocalError::Process(format!(
                "no function with binary {binary:?} in the template (known: {})",
                known.join(", ")
            ))
        })
}

async fn run(cli: Cli) -> LocalResult<ExitCode> {
    let cwd = std::env::current_dir().map_err(|source| LocalError::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let root = find_root(&cwd).ok_or_else(|| {
        LocalError::Process(
            "run this inside the repository (no template.yaml next to a Cargo.toml found)".into(),
        )
    })?;
    let template_path = cli.template.unwrap_or_else(|| root.join("template.yaml"));
    match cli.command {
        Cmd::Up {
            stack,
            moto_port,
            watch_port,
            sim_port,
            no_seed,
        } => {
            local::up::up(UpOptions {
                root,
                template: template_path,
                stack_name: stack,
                moto_port,
                watch_port,
                sim_port,
                seed: !no_seed,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Provision { stack, endpoint } => {
            let template = Template::load(&template_path)?;
            let sdk = sdk_config(&endpoint_for(&root, endpoint)).await;
            let outputs = local::provision(&sdk, &template, &stack).await?;
            let text = serde_json::to_string_pretty(&outputs)
                .map_err(|e| LocalError::Process(format!("the stack's outputs: {e}")))?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify { stack, endpoint } => {
            let template = Template::load(&template_path)?;
            let endpoint = endpoint_for(&root, endpoint);
            let sdk = sdk_config(&endpoint).await;
            let report = local::verify(&sdk, &template, &stack).await?;
            for note in &report.unverifiable {
                println!("not checked: {note}");
            }
            if report.drifts.is_empty() {
                println!(
                    "stack {stack:?} at {endpoint} matches {}",
                    template_path.display()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                for d in &report.drifts {
                    println!("drift: {d}");
                }
                println!("{} difference(s)", report.drifts.len());
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Fire { binary, event } => {
            let template = Template::load(&template_path)?;
            let (file, functions, sdk) = functions_of_running_stack(&root, &template).await?;
            let f = find_function(&functions, &binary)?;
            let src = f
                .schedules
                .iter()
                .find(|s| event.as_ref().is_none_or(|e| &s.event == e))
                .ok_or_else(|| {
                    LocalError::Process(format!("{binary} has no such schedule event"))
                })?;
            let driver =
                driver::Driver::new(&sdk, Arc::new(HttpInvoker::new(&file.lambda_endpoint)));
            match driver.fire(src, chrono::Utc::now()).await {
                Invocation::Returned(body) => {
                    println!("{body}");
                    Ok(ExitCode::SUCCESS)
                }
                other => {
                    eprintln!("{other:?}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::InvokeSqs {
            binary,
            event,
            wait,
        } => {
            let template = Template::load(&template_path)?;
            let (file, functions, sdk) = functions_of_running_stack(&root, &template).await?;
            let f = find_function(&functions, &binary)?;
            let src = f
                .queues
                .iter()
                .find(|s| event.as_ref().is_none_or(|e| &s.event == e))
                .ok_or_else(|| LocalError::Process(format!("{binary} has no such SQS event")))?;
            let driver =
                driver::Driver::new(&sdk, Arc::new(HttpInvoker::new(&file.lambda_endpoint)));
            match driver.poll_once(src, Duration::from_secs(wait)).await? {
                None => println!("no message arrived within {wait} s"),
                Some(r) => println!(
                    "batch of {}: deleted {}, left on the queue {}: {:?}",
                    r.received.len(),
                    r.deleted.len(),
                    r.retained.len(),
                    r.outcome
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Env => {
            let file = StackFile::load(&root)?;
            for (k, v) in &file.env {
                println!("export {k}={}", shell_quote(v));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pms-local: {e}");
            ExitCode::from(2)
        }
    }
}
