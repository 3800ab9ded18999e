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
        // The invocation's deadline (epoch milliseconds): feed runs keep within a share of it.
        let remaining = pms_domain::pms::deadline::CallBudget::from_epoch_ms(
            event.context.deadline,
            std::time::Duration::ZERO,
        )
        .map(|b| b.remaining());
        worker
            .handle_within(event.payload, remaining)
            .await
            .map_err(Error::from)
    }))
    .await
}
