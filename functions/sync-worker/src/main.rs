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
        .with_vendor(pms_opera::vendor())
        .with_vendor(pms_mews::vendor())
        .with_vendor(pms_cloudbeds::vendor())
        // The local stack's demo hotel.
        .with_vendor(pms_mock::vendor());
    let worker = Worker::new(&services);
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        worker.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
