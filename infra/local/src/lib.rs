//! The local stack: `template.yaml` provisioned on moto server, functions served by
//! `cargo lambda watch`, and an event driver that does what AWS would do with the functions'
//! schedules and SQS event sources (neither emulator does that part).
//!
//! The template is the one source of truth: the resources, their names and attributes and the
//! environment contract are read from it, never listed a second time here. SAM is AWS's to
//! interpret: `sam` runs its transform (`Template::plain`), and plain CloudFormation is all the
//! rest reads.

pub mod demo;
pub mod driver;
pub mod resolve;
pub mod sam;
pub mod schedule;
pub mod spec;
pub mod stack;
pub mod template;
pub mod up;

use std::path::{Path, PathBuf};

pub use driver::{BatchReport, Driver, FunctionSpec, HttpInvoker, Invocation, Invoker, SqsSource};
pub use resolve::{Physical, Resolver};
pub use stack::{
    inspect, plan, provision, provision_with, verify, Drift, StackOutputs, VerifyReport,
};
pub use template::{Resource, Template};

/// moto's region and account; the template's pseudo parameters resolve to these locally.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";
pub const PARTITION: &str = "aws";
/// Stack name of `pms-local up`; tests use their own unique names.
pub const DEFAULT_STACK: &str = "pms-local";
pub const MOTO_PORT: u16 = 5055;
pub const WATCH_PORT: u16 = 9000;
/// moto accepts any credentials; these are the conventional ones.
pub const TEST_ACCESS_KEY: &str = "testing";
pub const TEST_SECRET_KEY: &str = "testing";

/// Errors of the local stack tooling. Messages are one line and never carry secret values.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template: {0}")]
    Template(String),
    #[error("cannot resolve {context}: {reason}")]
    Resolve { context: String, reason: String },
    #[error("{resource}: {operation} failed: {message}")]
    Aws {
        resource: String,
        operation: &'static str,
        message: String,
    },
    #[error("refusing to provision without an explicit local endpoint (AWS_ENDPOINT_URL); this tool never targets real AWS")]
    NoEndpoint,
    #[error("invalid schedule expression {expression:?}: {reason}")]
    Schedule { expression: String, reason: String },
    #[error("{0}")]
    Process(String),
}

impl LocalError {
    pub(crate) fn aws<E>(resource: &str, operation: &'static str, err: E) -> Self
    where
        E: std::error::Error + 'static,
    {
        LocalError::Aws {
            resource: resource.to_string(),
            operation,
            // DisplayErrorContext walks the source chain: the service's message, not "service error".
            message: aws_sdk_sqs::error::DisplayErrorContext(&err).to_string(),
        }
    }

    pub(crate) fn template(msg: impl Into<String>) -> Self {
        LocalError::Template(msg.into())
    }
}

pub type LocalResult<T> = Result<T, LocalError>;

/// An SDK config for the local endpoint: fixed test credentials and region, so nothing from
/// the user's environment (profiles, real keys) can send a request to real AWS.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            None,
            None,
            "pms-local",
        ))
        .load()
        .await
}

/// The AWS variables a process needs to talk to the local endpoint.
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The repository root: the nearest ancestor of `start` holding `template.yaml` and `Cargo.toml`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join("template.yaml").is_file() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}
