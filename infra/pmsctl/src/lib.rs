//! `pmsctl`: the operator's CLI. Each command group lives in its own module; this one holds
//! what they share: where the stack is, how errors become exit codes.

/// `println!` that ignores a closed stdout (`pmsctl ... | head`) instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod audit;
pub mod dlq;
pub mod hotel;
pub mod pms;
pub mod subscription;
pub mod sync;
pub mod token;
pub mod webhook;

use std::path::Path;
use std::sync::Arc;

use pms_app::names::ResourceNames;
use pms_app::runtime::Services;
use pms_domain::ports::SystemClock;
use pms_runtime::AwsServices as _;

/// Exit code for bad input: nothing was written.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for failures of the stack or the PMS.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for "no such hotel/token" on reads.
pub const EXIT_NOT_FOUND: i32 = 3;

/// A command's failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The operator's input is wrong; nothing was written.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failure(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl CtlError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Usage(_) => EXIT_USAGE,
            CtlError::Failure(_) => EXIT_FAILURE,
            CtlError::NotFound(_) => EXIT_NOT_FOUND,
        }
    }
}

impl From<pms_domain::domain::ValidationError> for CtlError {
    fn from(e: pms_domain::domain::ValidationError) -> Self {
        CtlError::Usage(format!("invalid {}: {}", e.field, e.message))
    }
}

pub type CtlResult<T> = Result<T, CtlError>;

/// Who is acting, for the audit log: `PMSCTL_STAFF`, else the login name.
pub fn operator() -> String {
    ["PMSCTL_STAFF", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned())
}

/// Records what staff did. An action that was done but could not be audited is reported,
/// not undone: the operator must know the audit log lacks it.
pub async fn audited(
    svc: &Services,
    entries: impl IntoIterator<Item = pms_app::audit::OpsEntry>,
) -> CtlResult<()> {
    let log = pms_app::audit::AuditLog::new(svc.store.clone(), svc.clock.clone());
    for e in entries {
        log.record(&e).await.map_err(|err| {
            CtlError::Failure(format!(
                "{} on {} was done, but could not be audited: {err}",
                e.action.as_str(),
                e.hotel_id
            ))
        })?;
    }
    Ok(())
}

pub fn failure(e: impl std::fmt::Display) -> CtlError {
    CtlError::Failure(e.to_string())
}

/// Where the commands act: resource names, and the endpoint when it is a local stack.
pub struct Target {
    pub names: ResourceNames,
    /// moto's address from `.local/stack.json`, when the environment does not configure AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// Resource names from the environment contract, else from a running local stack's
/// `.local/stack.json` (so `pmsctl` works against `make dev` without exporting anything).
pub fn target(stack_file: &Path) -> CtlResult<Target> {
    if let Ok(names) = ResourceNames::from_env() {
        return Ok(Target {
            names,
            endpoint: None,
            region: None,
        });
    }
    let text = std::fs::read_to_string(stack_file).map_err(|_| {
        CtlError::Usage(format!(
            "no stack configured: set TABLE_NAME etc. (docs/ARCHITECTURE.md) or run `make dev`, which writes {}",
            stack_file.display()
        ))
    })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CtlError::Usage(format!("{} is not valid JSON: {e}", stack_file.display())))?;
    let env = json.get("env").cloned().unwrap_or_default();
    let names =
        ResourceNames::from_lookup(|k| env.get(k).and_then(|v| v.as_str()).map(str::to_owned))
            .map_err(|e| CtlError::Usage(format!("{}: {e}", stack_file.display())))?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok().or_else(|| {
        json.get("awsEndpoint")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    let region = json
        .get("region")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(Target {
        names,
        endpoint,
        region,
    })
}

pub async fn services(target: Target) -> Services {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = &target.endpoint {
        // A local stack: moto accepts any credentials.
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "local-stack",
            ));
        }
        let region = std::env::var("AWS_REGION")
            .ok()
            .or(target.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        loader = loader.region(aws_config::Region::new(region));
    }
    let config = loader.load().await;
    Services::from_aws(target.names, &config, Arc::new(SystemClock))
        .with_vendors(pms_vendors::all())
}
