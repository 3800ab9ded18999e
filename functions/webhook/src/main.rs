//! Lambda entry point: wire once per instance, then answer requests.

use lambda_http::{service_fn, Error, Request};
use pms_core::obs::init_logging;
use pms_core::runtime::AwsServices;
use pms_core::runtime::Services;
use webhook_fn::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Services::from_env().await?;
    let app = App::new(&services);
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
