//! Lambda entry point: wire once per instance, then run SQS batches.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pms_app::obs::init_logging;
use pms_app::runtime::Services;
use pms_runtime::AwsServices;
use sync_worker_fn::Worker;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Services::from_env()
        .await?
        // Every vendor this build serves (the local stack's demo hotel runs the mock).
        .with_vendors(pms_vendors::all());
    let worker = Worker::new(&services);
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        worker.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
