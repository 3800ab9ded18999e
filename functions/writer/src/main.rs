use fn_writer::Writer;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pms_runtime::AwsServices;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pms_app::obs::init_logging();
    let services = pms_app::runtime::Services::from_env()
        .await?
        // Every vendor this build serves (the local stack's demo hotel runs the mock).
        .with_vendors(pms_vendors::all())
        .without_in_process_retries();
    let max_receives = std::env::var("WRITE_MAX_RECEIVE_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let writer = Writer::new(services, max_receives);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| writer.handle(event))).await
}
