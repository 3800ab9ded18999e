//! RFC 9457 problem details: every error answer is `application/problem+json` with `type`,
//! `title`, `status`, `detail`, a stable `code`, the field `errors` where input was wrong, and
//! the correlation id to quote to support. Details never carry secrets or input values.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use pms_app::ingest::FieldError;
use serde_json::json;

/// Problem type URIs are tag URIs (RFC 4151), which RFC 9457 allows for types that are
/// identifiers, not documents.
const TYPE_PREFIX: &str = "tag:pms-integration,2026:problems/";

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
    bearer_challenge: bool,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            allow: None,
            bearer_challenge: false,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn allow(mut self, methods: &'static str) -> Self {
        self.allow = Some(methods);
        self
    }

    /// 401s for the partner API name the scheme (RFC 9110 `WWW-Authenticate`).
    pub fn bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }

    // Constructors for the problems every route shares.

    pub fn not_found() -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Not found",
            "there is nothing at this address",
        )
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            "Malformed JSON",
            detail,
        )
    }

    pub fn unsupported_media_type() -> Self {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "Payload too large",
            format!("the body may be at most {limit} bytes"),
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let n = errors.len();
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            "Validation failed",
            format!(
                "{n} field{} did not validate; see errors",
                if n == 1 { "" } else { "s" }
            ),
        )
        .with_errors(errors)
    }

    /// A dependency is down or slow: nothing was acknowledged, retry later.
    pub fn unavailable() -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Temporarily unavailable",
            "the request could not be completed now; nothing was acknowledged, retry later",
        )
        .retry_after(5)
    }

    pub fn internal() -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
            "the request failed on our side; quote the correlation id to support",
        )
    }

    pub fn slug(&self) -> String {
        self.code.to_ascii_lowercase().replace('_', "-")
    }

    pub fn into_response(self, correlation_id: &str) -> Response<Body> {
        let mut body = json!({
            "type": format!("{TYPE_PREFIX}{}", self.slug()),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
            "correlationId": correlation_id,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        let mut resp = crate::response::json_response(self.status, &body, correlation_id);
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(a) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(a));
        }
        if self.bearer_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pms-ingest\""),
            );
        }
        resp
    }
}
