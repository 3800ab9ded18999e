//! `POST /v1/hotels/{hotelId}/{bookings|guests|availability}`: partner pushes.
//!
//! Two credentials, both required, checked before anything is read: a partner token
//! (`Authorization: Bearer pms_…`, scope `ingest`, for this hotel) says who calls; a provider
//! key (`X-Provider-Key`, from this hotel's ingestion secret) says which partner system the
//! data comes from. The hotel is the path's, and only if both credentials agree with it.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use pms_app::ingest::idempotency::{request_hash, Claim, IdempotencyStore, StoredResponse};
use pms_app::ingest::{normalize, IngestKind, IngestReport};
use pms_app::registry::{AuthError, PartnerSystem, Principal, Scope};
use pms_domain::domain::HotelId;
use serde_json::json;

use crate::http::{body_bytes, check_json_media_type, header, parse_json};
use crate::problem::Problem;
use crate::response::json_response;
use crate::App;

pub const PROVIDER_KEY_HEADER: &str = "x-provider-key";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

fn unauthenticated(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "Unauthenticated",
        detail,
    )
    .bearer_challenge()
}

fn forbidden(code: &'static str, detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, code, "Forbidden", detail)
}

async fn principal(app: &App, req: &Request) -> Result<Principal, Problem> {
    let Some(auth) = header(req, "authorization") else {
        return Err(unauthenticated(
            "a partner token is required (Authorization: Bearer …)",
        ));
    };
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(unauthenticated("use the Bearer scheme")),
    };
    app.tokens.verify(token).await.map_err(|e| match e {
        AuthError::Unavailable(err) => {
            tracing::error!(error = %err, "partner tokens cannot be checked");
            Problem::unavailable()
        }
        // Missing, invalid, revoked and expired look the same to the caller.
        _ => unauthenticated("the partner token is not valid"),
    })
}

async fn partner(app: &App, req: &Request, hotel: &HotelId) -> Result<PartnerSystem, Problem> {
    let missing = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_PROVIDER_KEY",
            "Unauthenticated",
            "a provider key for this hotel is required (X-Provider-Key)",
        )
    };
    let presented = header(req, PROVIDER_KEY_HEADER).ok_or_else(missing)?;
    // A key that matches nothing in the cached copy is looked for again in the stored one
    // (rate-limited): a key just made works on the partner's next request. No ingestion
    // secret: no partner may push (fail closed).
    match app.keys.find(hotel, |c| c.partner_for_key(presented)).await {
        Ok(Some(partner)) => Ok(partner),
        Ok(None) => Err(missing()),
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, "ingestion secrets unavailable");
            Err(Problem::unavailable())
        }
        Err(e) => {
            // Our fault, not the partner's key: the AWS detail (account, role, secret) is for
            // the logs, under the correlation id the partner is given.
            tracing::error!(error = %e, "the hotel's ingestion secret is unreadable");
            Err(Problem::internal())
        }
    }
}

fn idempotency_key(req: &Request) -> Result<Option<&str>, Problem> {
    // Present but empty is an error, not "no key": the client meant to send one.
    let present = req.headers().contains_key(IDEMPOTENCY_HEADER);
    match header(req, IDEMPOTENCY_HEADER) {
        None if !present => Ok(None),
        None => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            "Invalid Idempotency-Key",
            "the Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
        Some(k) if k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()) => Ok(Some(k)),
        Some(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            "Invalid Idempotency-Key",
            "the Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// The answer for a report: a single item answers with its result (201 when it created the
/// record), a batch with every result.
fn answer(report: &IngestReport, batch: bool) -> (StatusCode, serde_json::Value) {
    if !batch {
        if let Some(r) = report.results.first() {
            let status = if r.outcome == "created" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            return (status, serde_json::to_value(r).unwrap_or_default());
        }
    }
    let applied = report.results.iter().filter(|r| r.applied).count();
    (
        StatusCode::OK,
        json!({
            "results": report.results,
            "applied": applied,
            "notApplied": report.results.len() - applied,
        }),
    )
}

pub async fn ingest(
    app: &App,
    req: &Request,
    hotel: &str,
    kind: IngestKind,
    correlation_id: &str,
) -> Result<Response<Body>, Problem> {
    let principal = principal(app, req).await?;
    // An id that does not parse cannot be one of the token's hotels.
    let hotel = HotelId::parse(hotel)
        .ok()
        .filter(|h| principal.can_see(h))
        .ok_or_else(|| {
            forbidden(
                "FORBIDDEN_HOTEL",
                "the partner token is not valid for this hotel",
            )
        })?;
    tracing::Span::current().record("hotel", hotel.as_str());
    if !principal.has(Scope::Ingest) {
        return Err(forbidden(
            "INSUFFICIENT_SCOPE",
            "the partner token lacks the ingest scope",
        ));
    }
    match app.hotels.get(&hotel).await {
        Ok(Some(config)) if !principal.grants(&config) => {
            return Err(forbidden(
                "FORBIDDEN_HOTEL",
                "the partner token is not valid for this hotel",
            ))
        }
        Ok(Some(config)) if config.enabled => {}
        Ok(Some(_)) => {
            return Err(forbidden(
                "HOTEL_DISABLED",
                "this hotel is disabled: partner access is refused",
            ))
        }
        Ok(None) => {
            return Err(forbidden(
                "FORBIDDEN_HOTEL",
                "the partner token is not valid for this hotel",
            ))
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, "hotel registry unavailable");
            return Err(Problem::unavailable());
        }
        Err(e) => {
            tracing::error!(error = %e, "hotel registry unreadable");
            return Err(Problem::internal());
        }
    }
    let partner = partner(app, req, &hotel).await?;

    check_json_media_type(req, true)?;
    let bytes = body_bytes(req, app.limits.max_body_bytes)?;
    let body = parse_json(bytes)?;
    let idem = idempotency_key(req)?;
    let normalized =
        normalize(kind, &body, &partner, app.clock.now()).map_err(Problem::validation)?;
    if !normalized.unknown_fields.is_empty() {
        // Names only (never values), bounded: partners' extra fields can hold personal data.
        let fields: Vec<&str> = normalized
            .unknown_fields
            .iter()
            .take(20)
            .map(|f| &f[..f.len().min(80)])
            .collect();
        tracing::info!(partner = %partner, ?fields, "unknown fields ignored");
    }

    let route = format!("{}:{}", kind.as_str(), partner);
    let claim = match idem {
        None => None,
        Some(key) => {
            let store_key = IdempotencyStore::key(&hotel, &principal.token_id, key);
            match app
                .idempotency
                .claim(store_key, &request_hash(&route, &body))
                .await
            {
                Ok(Claim::Claimed(item)) => Some(*item),
                Ok(Claim::Replay(stored)) => return Ok(replay(stored, correlation_id)),
                Ok(Claim::InProgress) => {
                    return Err(Problem::new(
                        StatusCode::CONFLICT,
                        "IDEMPOTENCY_IN_PROGRESS",
                        "Request in progress",
                        "a request with this Idempotency-Key is being processed; retry shortly",
                    )
                    .retry_after(1))
                }
                Ok(Claim::Mismatch) => {
                    return Err(Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "IDEMPOTENCY_KEY_REUSED",
                        "Idempotency-Key reused",
                        "this Idempotency-Key was used for a different request",
                    ))
                }
                Err(e) => {
                    tracing::error!(error = %e, "idempotency record unavailable");
                    return Err(Problem::unavailable());
                }
            }
        }
    };

    let report = match app
        .ingest
        .apply(&hotel, normalized.records, correlation_id)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, retryable = e.is_retryable(), "ingestion failed");
            if let Some(item) = claim {
                // Not remembered: the partner's retry with the same key must run again.
                if let Err(e) = app.idempotency.release(item).await {
                    tracing::warn!(code = e.code(), "could not release the idempotency claim");
                }
            }
            return Err(if e.is_retryable() {
                Problem::unavailable()
            } else {
                Problem::internal()
            });
        }
    };
    let (status, body) = answer(&report, normalized.batch);
    tracing::info!(
        partner = %partner,
        items = report.results.len(),
        applied = report.results.iter().filter(|r| r.applied).count(),
        events = report.events,
        "ingested"
    );
    if let Some(item) = claim {
        let stored = StoredResponse {
            status: status.as_u16(),
            body: body.clone(),
        };
        if let Err(e) = app.idempotency.complete(item, stored).await {
            // The answer is right; a retry would re-run the merge, which changes nothing.
            tracing::warn!(code = e.code(), "could not store the idempotent answer");
        }
    }
    Ok(json_response(status, &body, correlation_id))
}

fn replay(stored: StoredResponse, correlation_id: &str) -> Response<Body> {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = json_response(status, &stored.body, correlation_id);
    resp.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    resp
}
