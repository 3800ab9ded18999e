//! `POST /v1/webhooks/{provider}/{hotelId}/{secret}`: vendor change notices, for each vendor
//! that pushes them (`pms_vendors::webhooks`).
//!
//! The secret path segment is the authentication (neither vendor signs): it is compared in
//! constant time with the hotel's webhook secret, and any failure (no secret configured, wrong
//! secret, unknown hotel) answers the same 404, so the URL reveals nothing. The hotel registry
//! is read before the secret, and hotel ids found unknown are remembered: an unknown hotel costs
//! one table read and, repeated, nothing; never a Secrets Manager call (metered, and limited per
//! account, where the writer reads PMS credentials too). The delivery is answered 2xx only once
//! it is durable: stored, and its refresh jobs on the sync queue.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use pms_app::webhooks::{IntakeError, IntakeOutcome};
use pms_domain::config::HotelConfig;
use pms_domain::domain::HotelId;
use pms_vendor_kit::webhooks::{PayloadError, VendorDelivery, WebhookVendor};

use crate::http::{body_bytes, check_json_media_type};
use crate::problem::Problem;
use crate::response::json_response;
use crate::App;

fn unknown_webhook() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "WEBHOOK_NOT_FOUND",
        "Not found",
        "no webhook is configured at this address",
    )
}

async fn authenticate(
    app: &App,
    hotel: &str,
    secret: &str,
) -> Result<(HotelId, HotelConfig), Problem> {
    let Ok(hotel) = HotelId::parse(hotel) else {
        return Err(unknown_webhook());
    };
    let now = app.clock.now();
    if app.unknown_hotels.contains(&hotel, now) {
        return Err(unknown_webhook());
    }
    let config = match app.hotels.get(&hotel).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            app.unknown_hotels.insert(hotel, now);
            return Err(unknown_webhook());
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, "hotel registry unavailable");
            return Err(Problem::unavailable());
        }
        Err(e) => {
            tracing::error!(error = %e, "hotel registry unreadable");
            return Err(Problem::internal());
        }
    };
    // A secret that matches nothing in the cached copy is looked for again in the stored one
    // (rate-limited): a secret just rotated works on the vendor's next delivery.
    let matched = app
        .keys
        .find(&hotel, |c| c.webhook_secret_matches(secret).then_some(()))
        .await;
    match matched {
        Ok(Some(())) => Ok((hotel, config)),
        Ok(None) => {
            tracing::warn!(hotel = %hotel, "webhook with a wrong secret refused");
            Err(unknown_webhook())
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, "webhook secrets unavailable");
            Err(Problem::unavailable())
        }
        Err(e) => {
            // The vendor sees the same 404 as for any other address (it retries); the detail
            // is for operators.
            tracing::error!(hotel = %hotel, error = %e, "the hotel's webhook secret is unreadable");
            Err(unknown_webhook())
        }
    }
}

fn parse(vendor: &WebhookVendor, bytes: &[u8]) -> Result<VendorDelivery, Problem> {
    (vendor.parse)(bytes).map_err(|e| match e {
        PayloadError::Malformed(m) => Problem::malformed_json(m),
        PayloadError::Invalid {
            field,
            code,
            message,
        } => Problem::validation(vec![pms_app::ingest::FieldError {
            field: field.to_owned(),
            code,
            message,
        }]),
    })
}

pub async fn webhook(
    app: &App,
    req: &Request,
    vendor: WebhookVendor,
    hotel: &str,
    secret: &str,
    correlation_id: &str,
) -> Result<Response<Body>, Problem> {
    let provider = vendor.provider;
    let (hotel, config) = authenticate(app, hotel, secret).await?;
    let span = tracing::Span::current();
    span.record("hotel", hotel.as_str());
    span.record("provider", provider.as_str());

    check_json_media_type(req, false)?;
    // Before anything is parsed or stored.
    let bytes = body_bytes(req, app.limits.max_webhook_body_bytes)?;
    let delivery = parse(&vendor, bytes)?;
    // The mock PMS stands in for any vendor locally and in tests.
    if config.provider != provider && config.provider != pms_vendors::STAND_IN {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "PROVIDER_MISMATCH",
            "Forbidden",
            format!("this hotel does not run {provider}"),
        ));
    }
    if config.vendor.property_id.as_deref() != Some(delivery.property_id.as_str()) {
        tracing::warn!(
            property = %delivery.property_id,
            configured = ?config.vendor.property_id,
            "webhook for a property this hotel is not configured with"
        );
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "PROPERTY_NOT_CONFIGURED",
            "Forbidden",
            "the delivery names a property that is not configured for this hotel",
        ));
    }

    let accepted = tokio::time::timeout(
        app.limits.webhook_budget,
        app.intake.accept(&hotel, &delivery, bytes, correlation_id),
    )
    .await;
    match accepted {
        Ok(Ok(outcome)) => {
            let status = match outcome {
                IntakeOutcome::Accepted { .. } => StatusCode::ACCEPTED,
                IntakeOutcome::Duplicate { .. } => StatusCode::OK,
            };
            tracing::info!(outcome = ?outcome, "webhook delivery handled");
            Ok(json_response(status, &outcome, correlation_id))
        }
        Ok(Err(e @ IntakeError::TooLarge { .. })) => {
            tracing::warn!(error = %e, "webhook delivery too large to store");
            Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Payload too large",
                "the delivery is too large to be stored at once; nothing was stored",
            ))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "webhook delivery not made durable");
            Err(Problem::unavailable())
        }
        Err(_) => {
            // Whatever was written is safe to repeat: the vendor's retry resumes it.
            tracing::error!("webhook delivery exceeded its time budget");
            Err(Problem::unavailable())
        }
    }
}
