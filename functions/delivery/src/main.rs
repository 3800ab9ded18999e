use fn_delivery::Delivery;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pms_runtime::AwsServices;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pms_app::obs::init_logging();
    // No vendor: delivery reads only the table, the signing secrets and the queue.
    let services = pms_app::runtime::Services::from_env().await?;
    let delivery = Delivery::from_env(&services);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| delivery.handle(event))).await
}
