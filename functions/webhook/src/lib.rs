//! The ingestion function behind API Gateway (HTTP API, payload v2): partner REST ingestion and
//! vendor webhooks. `main.rs` wires [`App`] from the environment; tests and the benchmark call
//! [`App::handle`] in process with real API Gateway events.
//!
//! Layers: [`routes`] (which route), [`partner`] and [`vendor`] (credentials and HTTP for each
//! route family), [`problem`] (RFC 9457 errors); everything they decide with lives in
//! `pms_app` (`ingest`, `webhooks`, `registry`) and the vendors' webhook parsers.

pub mod http;
pub mod openapi;
pub mod partner;
pub mod problem;
pub mod response;
pub mod routes;
pub mod vendor;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use pms_app::ingest::idempotency::IdempotencyStore;
use pms_app::ingest::IngestService;
use pms_app::obs::{correlation_id_from, invocation_span, Metrics};
use pms_app::registry::{HotelRegistry, IngestKeys, NegativeCache, TokenService};
use pms_app::runtime::Services;
use pms_app::webhooks::{WebhookDeliveries, WebhookIntake};
use pms_domain::domain::HotelId;
use pms_domain::ports::{Clock, SecretStore};
use tracing::Instrument;

use crate::problem::Problem;
use crate::response::CORRELATION_HEADER;
use crate::routes::{route, Route, RouteError};

/// Hotel ids on webhook URLs found unknown, remembered so repeats cost no read; a hotel added
/// later is seen once its entry expires (vendors retry a refused delivery for hours).
const UNKNOWN_HOTELS: usize = 10_000;
const UNKNOWN_HOTEL_TTL: chrono::Duration = chrono::Duration::minutes(1);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest partner body accepted (413 above). API Gateway allows 10 MB; nothing we take
    /// needs more than a 100-item batch.
    pub max_body_bytes: usize,
    /// Largest vendor webhook body accepted (413 above): a delivery is stored as one item.
    pub max_webhook_body_bytes: usize,
    /// Time a webhook may take to become durable before we answer 503 (Mews gives up at 5 s).
    pub webhook_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_webhook_body_bytes: pms_vendor_kit::webhooks::MAX_BODY_BYTES,
            webhook_budget: Duration::from_millis(1800),
        }
    }
}

/// Everything a request needs, built once per Lambda instance.
#[derive(Clone)]
pub struct App {
    pub(crate) tokens: TokenService,
    pub(crate) keys: IngestKeys,
    pub(crate) hotels: HotelRegistry,
    pub(crate) ingest: IngestService,
    pub(crate) idempotency: IdempotencyStore,
    pub(crate) intake: WebhookIntake,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Limits,
    pub(crate) unknown_hotels: Arc<NegativeCache<HotelId>>,
    metrics_namespace: String,
}

impl App {
    pub fn new(services: &Services) -> Self {
        let secrets: Arc<dyn SecretStore> = services.secrets.clone();
        Self {
            tokens: services.tokens.clone(),
            keys: IngestKeys::new(secrets, services.names.secrets_prefix.clone()),
            hotels: services.hotels.clone(),
            ingest: IngestService::new(services.merger.clone(), services.clock.clone()),
            idempotency: IdempotencyStore::new(services.store.clone(), services.clock.clone()),
            intake: WebhookIntake::new(
                WebhookDeliveries::new(services.store.clone(), services.clock.clone()),
                services.queue.clone(),
                services.names.refresh_queue_url.clone(),
                services.clock.clone(),
            ),
            clock: services.clock.clone(),
            limits: Limits::default(),
            unknown_hotels: Arc::new(NegativeCache::new(UNKNOWN_HOTELS, UNKNOWN_HOTEL_TTL)),
            metrics_namespace: services.names.metrics_namespace.clone(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers one request. Never fails: every error is a problem-details response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let correlation_id = correlation_id_from(http::header(&req, CORRELATION_HEADER));
        let span = invocation_span("webhook", &correlation_id);
        let started = Instant::now();
        let metrics = Metrics::new(&self.metrics_namespace, "webhook");
        async {
            let path = req.uri().path().to_owned();
            let (template, result) = match route(req.method(), &path) {
                Ok(r) => (r.template(), self.dispatch(&req, r, &correlation_id).await),
                Err(RouteError::NotFound) => ("unmatched", Err(Problem::not_found())),
                Err(RouteError::MethodNotAllowed(allow)) => (
                    "unmatched",
                    Err(Problem::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "METHOD_NOT_ALLOWED",
                        "Method not allowed",
                        format!("this address accepts {allow}"),
                    )
                    .allow(allow)),
                ),
            };
            let response = match result {
                Ok(r) => r,
                Err(p) => {
                    metrics.count(&format!("Problem.{}", p.code), 1);
                    p.into_response(&correlation_id)
                }
            };
            let status = response.status().as_u16();
            metrics.count(&format!("Http{}xx", status / 100), 1);
            metrics.duration("Latency", started.elapsed());
            metrics.property("route", template);
            // The route template, never the path: webhook paths carry secrets.
            tracing::info!(
                route = template,
                status,
                duration_ms = started.elapsed().as_millis() as u64,
                "request"
            );
            metrics.flush();
            response
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        req: &Request,
        route: Route<'_>,
        correlation_id: &str,
    ) -> Result<Response<Body>, Problem> {
        match route {
            Route::OpenApi => {
                let mut resp =
                    response::json_response(StatusCode::OK, &openapi::document(), correlation_id);
                if *req.method() == Method::HEAD {
                    *resp.body_mut() = Body::Empty;
                }
                resp.headers_mut().insert(
                    "cache-control",
                    HeaderValue::from_static("public, max-age=300"),
                );
                Ok(resp)
            }
            Route::Ingest { hotel, kind } => {
                partner::ingest(self, req, hotel, kind, correlation_id).await
            }
            Route::Webhook {
                vendor,
                hotel,
                secret,
            } => vendor::webhook(self, req, vendor, hotel, secret, correlation_id).await,
        }
    }
}
