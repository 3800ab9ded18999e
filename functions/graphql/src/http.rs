//! The HTTP edge: API Gateway (HTTP API) requests in, responses out. `GET` serves GraphiQL,
//! `POST` runs one GraphQL request. Status codes: 401 without a valid bearer token, 400 for a
//! request that fails before execution (malformed, over the limits), 413 for a body over the
//! limit, 503 when tokens cannot be checked, else 200 (field errors are in `errors`).
//!
//! A `POST` is checked in order of cost, each step only after the previous passed: body size,
//! bearer token (format, then its record), JSON, the pre-parse limits on the query text, the
//! parse, the limits on the parsed document (fragments expanded once), and only then the
//! engine's validation (depth, complexity, rules) and execution.

use std::time::Instant;

use async_graphql::{Response as GqlResponse, ServerError};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use pms_app::obs::{correlation_id_from, invocation_span, Metrics};
use pms_app::reads::PartnerReads;
use pms_app::registry::TokenService;
use pms_app::runtime::Services;
use pms_app::subscriptions::{policy_from_env, PartnerSubscriptions};
use pms_app::writes::PartnerWrites;
use tracing::Instrument;

use crate::auth::{authenticate, bearer, Refusal};
use crate::errors::{code_of, tag_engine_errors, Code, CorrelationId};
use crate::graphiql;
use crate::limits;
use crate::schema::{self, ApiSchema};

/// Largest request body accepted (a GraphQL document with variables; no uploads).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const CORRELATION_HEADER: &str = "x-correlation-id";

/// The function: its schema, built once per process (Lambda init).
#[derive(Clone)]
pub struct GraphqlApp {
    schema: ApiSchema,
    tokens: TokenService,
    reads: PartnerReads,
    writes: PartnerWrites,
    subscriptions: PartnerSubscriptions,
    metrics_namespace: Option<String>,
}

impl GraphqlApp {
    pub fn new(
        reads: PartnerReads,
        writes: PartnerWrites,
        subscriptions: PartnerSubscriptions,
        tokens: TokenService,
    ) -> Self {
        Self {
            schema: schema::build(),
            tokens,
            reads,
            writes,
            subscriptions,
            metrics_namespace: None,
        }
    }

    /// Subscription URLs are checked as this environment delivers (loopback receivers only
    /// on a local stack).
    pub fn from_services(services: &Services) -> Self {
        Self::new(
            PartnerReads::from_services(services),
            PartnerWrites::from_services(services),
            PartnerSubscriptions::from_services(services, policy_from_env()),
            services.tokens.clone(),
        )
    }

    /// Writes one EMF metrics line per request under `namespace`.
    pub fn with_metrics(mut self, namespace: impl Into<String>) -> Self {
        self.metrics_namespace = Some(namespace.into());
        self
    }

    pub fn schema(&self) -> &ApiSchema {
        &self.schema
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let correlation = correlation_id_from(
            req.headers()
                .get(CORRELATION_HEADER)
                .and_then(|v| v.to_str().ok()),
        );
        let span = invocation_span("graphql", &correlation);
        let started = Instant::now();
        // Mutations queue the id with the write; reads send it with their vendor requests.
        let (mut response, outcome) = pms_domain::pms::trace::scope(
            correlation.clone(),
            self.route(req, &correlation).instrument(span.clone()),
        )
        .await;
        span.in_scope(|| {
            tracing::info!(
                status = response.status().as_u16(),
                operation = outcome.operation.as_deref().unwrap_or(""),
                error_codes = ?outcome.codes,
                duration_ms = started.elapsed().as_millis() as u64,
                "request"
            );
        });
        if let Some(ns) = &self.metrics_namespace {
            let m = Metrics::new(ns, "graphql");
            m.count("Requests", 1);
            if !outcome.codes.is_empty() {
                m.count("RequestsWithErrors", 1);
            }
            m.count(&format!("Status{}", response.status().as_u16()), 1);
            m.duration("Latency", started.elapsed());
            m.flush();
        }
        if let Ok(v) = correlation.parse() {
            response.headers_mut().insert(CORRELATION_HEADER, v);
        }
        response
    }

    async fn route(&self, req: Request, correlation: &str) -> (Response<Body>, Outcome) {
        match *req.method() {
            Method::GET => {
                let asset = query_param(req.uri().query(), "asset");
                (graphiql::respond(asset.as_deref()), Outcome::default())
            }
            Method::POST => self.graphql(req, correlation).await,
            _ => {
                let mut r = error_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    Code::BadUserInput,
                    "use POST for GraphQL requests, GET for GraphiQL",
                );
                r.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
                (r, Outcome::default())
            }
        }
    }

    async fn graphql(&self, req: Request, correlation: &str) -> (Response<Body>, Outcome) {
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            let msg = format!("the request body is larger than {MAX_BODY_BYTES} bytes");
            return rejected(StatusCode::PAYLOAD_TOO_LARGE, Code::BadUserInput, &msg);
        }
        let token = bearer(
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        );
        let Some(token) = token else {
            return rejected(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "a bearer token is required",
            );
        };
        let principal = match authenticate(&self.tokens, &token).await {
            Ok(p) => p,
            Err(Refusal::Unauthenticated) => {
                return rejected(
                    StatusCode::UNAUTHORIZED,
                    Code::Unauthenticated,
                    "the bearer token is not valid",
                )
            }
            Err(Refusal::Unavailable) => {
                return retryable(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::Internal,
                    "credentials cannot be checked right now; retry later",
                )
            }
        };
        let mut request: async_graphql::Request = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(_) if body.first() == Some(&b'[') => {
                return rejected(
                    StatusCode::BAD_REQUEST,
                    Code::BadUserInput,
                    "batched requests are not supported: send one operation per request",
                )
            }
            Err(_) => {
                return rejected(
                    StatusCode::BAD_REQUEST,
                    Code::BadUserInput,
                    "the body must be a JSON GraphQL request: {\"query\": \"...\", \"variables\": {...}}",
                )
            }
        };
        if let Err(e) = limits::check_text(&request.query) {
            return rejected(StatusCode::BAD_REQUEST, Code::BadUserInput, &e.to_string());
        }
        let document = match async_graphql::parser::parse_query(&request.query) {
            Ok(d) => d,
            Err(e) => {
                let mut response = GqlResponse::from_errors(vec![ServerError::from(e)]);
                tag_engine_errors(&mut response);
                return (
                    json_response(StatusCode::BAD_REQUEST, &response),
                    outcome_of(None, &response),
                );
            }
        };
        if let Err(e) = limits::check_document(&document) {
            return rejected(StatusCode::BAD_REQUEST, Code::BadUserInput, &e.to_string());
        }
        request.set_parsed_query(document);
        let outcome_operation = request.operation_name.clone();
        let request = request
            .data(self.writes.session(principal.clone()))
            .data(self.subscriptions.session(principal.clone()))
            .data(self.reads.session(principal))
            .data(CorrelationId(correlation.to_owned()));
        let mut response = self.schema.execute(request).await;
        tag_engine_errors(&mut response);
        let status = status_of(&response);
        let outcome = outcome_of(outcome_operation, &response);
        (json_response(status, &response), outcome)
    }
}

fn outcome_of(operation: Option<String>, response: &GqlResponse) -> Outcome {
    Outcome {
        operation,
        codes: response
            .errors
            .iter()
            .filter_map(|e| code_of(e).map(str::to_owned))
            .collect(),
    }
}

/// What the request log line and metrics report.
#[derive(Default)]
struct Outcome {
    operation: Option<String>,
    codes: Vec<String>,
}

fn status_of(response: &GqlResponse) -> StatusCode {
    let codes: Vec<&str> = response.errors.iter().filter_map(code_of).collect();
    let executed = response.data != async_graphql::Value::Null;
    if codes.contains(&Code::Unauthenticated.as_str()) {
        StatusCode::UNAUTHORIZED
    } else if executed || codes.is_empty() {
        StatusCode::OK
    } else if codes.contains(&Code::Internal.as_str()) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    }
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store");
    if status == StatusCode::UNAUTHORIZED {
        builder = builder.header(header::WWW_AUTHENTICATE, "Bearer");
    }
    builder
        .body(Body::Text(serde_json::to_string(body).unwrap_or_default()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

fn error_response(status: StatusCode, code: Code, message: &str) -> Response<Body> {
    let mut e = ServerError::new(message, None);
    e.extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    json_response(status, &GqlResponse::from_errors(vec![e]))
}

/// A refusal the caller may retry as is (`extensions.retryable`).
fn retryable(status: StatusCode, code: Code, message: &str) -> (Response<Body>, Outcome) {
    let mut e = ServerError::new(message, None);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", code.as_str());
    ext.set("retryable", true);
    (
        json_response(status, &GqlResponse::from_errors(vec![e])),
        Outcome {
            operation: None,
            codes: vec![code.as_str().to_owned()],
        },
    )
}

fn rejected(status: StatusCode, code: Code, message: &str) -> (Response<Body>, Outcome) {
    (
        error_response(status, code, message),
        Outcome {
            operation: None,
            codes: vec![code.as_str().to_owned()],
        },
    )
}

/// One query-string parameter, percent-decoded only as far as asset names need (they are
/// plain ASCII names; anything else simply matches no asset).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(
            query_param(Some("asset=react.js&v=1"), "asset").as_deref(),
            Some("react.js")
        );
        assert_eq!(query_param(Some("v=1"), "asset"), None);
        assert_eq!(query_param(None, "asset"), None);
    }
}
