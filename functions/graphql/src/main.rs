//! Lambda entry point: wire the ports from the environment once, then serve requests.

use lambda_http::{service_fn, Error, Request};
use pms_app::obs::init_logging;
use pms_app::runtime::Services;
use pms_graphql::GraphqlApp;
use pms_runtime::AwsServices;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Services::from_env()
        .await?
        // Every vendor this build serves (the local stack's demo hotel runs the mock).
        .with_vendors(pms_vendors::all());
    let app = GraphqlApp::from_services(&services).with_metrics(&services.names.metrics_namespace);
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(app.handle(req).await)
    }))
    .await
}
