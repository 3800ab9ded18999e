//! Lambda entry point: wire once per instance, then answer requests.

use lambda_http::{service_fn, Error, Request};
use pms_app::obs::init_logging;
use pms_app::runtime::Services;
use pms_runtime::AwsServices;
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
