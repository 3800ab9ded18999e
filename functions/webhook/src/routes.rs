//! The routes, matched on method and path segments. Paths are matched exactly (no trailing
//! slash, no percent-decoding: every parameter we accept is a plain token).

use lambda_http::http::Method;
use pms_app::ingest::IngestKind;
use pms_vendor_kit::webhooks::WebhookVendor;

#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    OpenApi,
    Ingest {
        hotel: &'a str,
        kind: IngestKind,
    },
    Webhook {
        vendor: WebhookVendor,
        hotel: &'a str,
        secret: &'a str,
    },
}

impl Route<'_> {
    /// The route's template, for logs and metrics (never the raw path: it holds secrets).
    pub fn template(&self) -> &'static str {
        match self {
            Route::OpenApi => "GET /openapi.json",
            Route::Ingest { kind, .. } => match kind {
                IngestKind::Bookings => "POST /v1/hotels/{hotelId}/bookings",
                IngestKind::Guests => "POST /v1/hotels/{hotelId}/guests",
                IngestKind::Availability => "POST /v1/hotels/{hotelId}/availability",
            },
            // The vendor is a property of the log line and metric (`provider`), not of the
            // route: one route serves every vendor.
            Route::Webhook { .. } => "POST /v1/webhooks/{provider}/{hotelId}/{secret}",
        }
    }
}

/// Every route as (method, path), as the OpenAPI document must list them: the fixed ones and
/// one webhook path per vendor that pushes webhooks.
pub fn routes() -> Vec<(String, String)> {
    let fixed = [
        ("GET", "/openapi.json"),
        ("POST", "/v1/hotels/{hotelId}/bookings"),
        ("POST", "/v1/hotels/{hotelId}/guests"),
        ("POST", "/v1/hotels/{hotelId}/availability"),
    ];
    let mut out: Vec<(String, String)> = fixed
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    for v in pms_vendors::webhooks() {
        out.push(("POST".into(), webhook_path(&v)));
    }
    out
}

/// The documented path of a vendor's webhooks.
pub fn webhook_path(vendor: &WebhookVendor) -> String {
    format!("/v1/webhooks/{}/{{hotelId}}/{{secret}}", vendor.provider)
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    /// The path exists with other methods (the `Allow` header value).
    MethodNotAllowed(&'static str),
}

pub fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, RouteError> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let (route, allow) = match segments.as_slice() {
        ["openapi.json"] => (Route::OpenApi, "GET, HEAD"),
        ["v1", "hotels", hotel, kind] if !hotel.is_empty() => {
            let kind = match *kind {
                "bookings" => IngestKind::Bookings,
                "guests" => IngestKind::Guests,
                "availability" => IngestKind::Availability,
                _ => return Err(RouteError::NotFound),
            };
            (Route::Ingest { hotel, kind }, "POST")
        }
        ["v1", "webhooks", vendor, hotel, secret] if !hotel.is_empty() && !secret.is_empty() => {
            let Some(vendor) = pms_vendors::webhook(vendor) else {
                return Err(RouteError::NotFound);
            };
            (
                Route::Webhook {
                    vendor,
                    hotel,
                    secret,
                },
                "POST",
            )
        }
        _ => return Err(RouteError::NotFound),
    };
    let allowed = match route {
        Route::OpenApi => *method == Method::GET || *method == Method::HEAD,
        _ => *method == Method::POST,
    };
    if allowed {
        Ok(route)
    } else {
        Err(RouteError::MethodNotAllowed(allow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_routes_and_methods() {
        assert_eq!(
            route(&Method::POST, "/v1/hotels/h1/bookings"),
            Ok(Route::Ingest {
                hotel: "h1",
                kind: IngestKind::Bookings
            })
        );
        assert_eq!(
            route(&Method::POST, "/v1/webhooks/cloudbeds/h1/s3cret"),
            Ok(Route::Webhook {
                vendor: pms_vendors::webhook("cloudbeds").unwrap(),
                hotel: "h1",
                secret: "s3cret"
            })
        );
        assert_eq!(route(&Method::GET, "/openapi.json"), Ok(Route::OpenApi));
        assert_eq!(
            route(&Method::GET, "/v1/hotels/h1/guests"),
            Err(RouteError::MethodNotAllowed("POST"))
        );
        for p in [
            "/",
            "/v1/hotels/h1/rooms",
            "/v1/hotels//bookings",
            "/v1/webhooks/opera/h1/s",
            "/v1/webhooks/mews/h1",
            "/v1/webhooks/mews/h1/s/extra",
            "/v1/hotels/h1/bookings/",
        ] {
            assert_eq!(route(&Method::POST, p), Err(RouteError::NotFound), "{p}");
        }
    }
}
