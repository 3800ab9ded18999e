//! Lambda entry point: wire once per instance, then run ticks.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pms_app::obs::init_logging;
use pms_app::runtime::Services;
use pms_runtime::AwsServices;
use sync_scheduler_fn::{Scheduler, DEFAULT_TICK_SECONDS};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Services::from_env().await?;
    let tick_seconds = std::env::var("SYNC_TICK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TICK_SECONDS);
    let scheduler = Scheduler::new(&services, tick_seconds);
    let scheduler = &scheduler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            scheduler.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
