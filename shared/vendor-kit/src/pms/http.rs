//! The vendor HTTP transport shared by the OHIP, Mews and Cloudbeds adapters: every call goes
//! through the hotel's rate limiter, is retried per the retry policy, is counted, and its
//! failures are classified into `PmsError` with the vendor's request id. Authentication and
//! vendor error bodies are the adapters' business (they pass a closure that builds each attempt,
//! so a refreshed token is used on the next attempt).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::ratelimit::RateLimiter;
use pms_domain::pms::RetryPolicy;
use pms_domain::pms::{classify_transport, PmsError, PmsResult, UnavailableCause};

/// Extracts a human message from a vendor error body (Mews `Message`, OHIP `detail`/`title`,
/// Cloudbeds `message`). Must not return request data.
pub type ErrorMessage = fn(status: u16, body: &[u8]) -> Option<String>;

pub struct VendorHttp {
    client: reqwest::Client,
    policy: RetryPolicy,
    limiter: Option<Arc<dyn RateLimiter>>,
    /// Response headers that carry the vendor's request id, in order of preference.
    request_id_headers: &'static [&'static str],
    error_message: ErrorMessage,
    calls: AtomicU64,
}

/// A successful (2xx) response, read whole.
#[derive(Debug)]
pub struct VendorResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub request_id: Option<String>,
}

impl VendorResponse {
    /// Decodes the body; a body we cannot read is a protocol error carrying the request id.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> PmsResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| PmsError::Protocol {
            // The position only: serde's message can quote values from the body.
            message: format!(
                "response body does not match the expected shape (line {}, column {}: {})",
                e.line(),
                e.column(),
                classify_serde(&e)
            ),
            request_id: self.request_id.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.status == StatusCode::NO_CONTENT || self.body.iter().all(|b| b.is_ascii_whitespace())
    }
}

fn classify_serde(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "truncated",
    }
}

/// Parses `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite())
            .then(|| Duration::from_millis((secs * 1000.0) as u64));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The HTTP client vendor adapters are built with. It never follows a redirect: credentials
/// travel in headers (OHIP's bearer token and application key, Cloudbeds' API key) and in
/// bodies (Mews' tokens), and a 307 or 308 would resend them, body included, wherever the
/// answer points. A 3xx is an error instead ([`VendorHttp::send_once`]).
#[allow(
    clippy::expect_used,
    reason = "only a TLS backend that cannot initialise fails, at start-up, on every request alike"
)]
pub fn vendor_client(timeout: Duration, connect_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("pms-integration/", env!("CARGO_PKG_VERSION")))
        .build()
        // Only a TLS backend that cannot initialise fails here; a client with other settings
        // (a default one follows redirects) must not stand in for it.
        .expect("the vendor HTTP client builds")
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl VendorHttp {
    pub fn new(
        client: reqwest::Client,
        policy: RetryPolicy,
        limiter: Option<Arc<dyn RateLimiter>>,
        request_id_headers: &'static [&'static str],
        error_message: ErrorMessage,
    ) -> Self {
        Self {
            client,
            policy,
            limiter,
            request_id_headers,
            error_message,
            calls: AtomicU64::new(0),
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        self.request_id_headers
            .iter()
            .find_map(|h| headers.get(*h))
            .and_then(|v| v.to_str().ok())
            .map(|s| truncate(s.to_owned(), 128))
    }

    /// Sends one attempt: rate limit, send, classify. No retries. A request that could not
    /// finish before the caller's deadline is not sent (see [`pms_domain::pms::deadline`]).
    pub async fn send_once(&self, request: reqwest::RequestBuilder) -> PmsResult<VendorResponse> {
        pms_domain::pms::deadline::admit()?;
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await?;
            // The wait for a permit may have used up the time.
            pms_domain::pms::deadline::admit()?;
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        // The partner's (or the job's) correlation id goes to the vendor too: one id from the
        // partner's request to the PMS call, and to a vendor's support when a call is in doubt.
        let request = match pms_domain::pms::trace::current() {
            Some(id) => request.header(pms_domain::pms::trace::CORRELATION_HEADER, id),
            None => request,
        };
        let response = request.send().await.map_err(|e| classify_transport(&e))?;
        if response.status().as_u16() == 429 {
            // The vendor refuses this credential for a while: every caller of it waits, not
            // only this request's retry.
            if let (Some(limiter), Some(after)) =
                (&self.limiter, parse_retry_after(response.headers()))
            {
                limiter.pause(after).await;
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = self.request_id(&headers);
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport(&e).with_request_id(request_id.clone()))?;
        if status.is_success() {
            return Ok(VendorResponse {
                status,
                headers,
                body,
                request_id,
            });
        }
        let code = status.as_u16();
        let message = (self.error_message)(code, &body)
            .map(|m| truncate(m, 300))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        Err(match code {
            300..=399 => PmsError::InvalidRequest {
                message: format!(
                    "the PMS answered with a redirect ({code}), which is not followed: check the hotel's base URL"
                ),
                status: Some(code),
                request_id,
            },
            401 => PmsError::Unauthorized {
                message,
                request_id,
            },
            429 => PmsError::RateLimited {
                retry_after: parse_retry_after(&headers),
                request_id,
            },
            500..=599 => PmsError::Unavailable {
                cause: UnavailableCause::Http(code),
                message,
                request_id,
            },
            _ => PmsError::InvalidRequest {
                message,
                status: Some(code),
                request_id,
            },
        })
    }

    /// Sends with the retry policy; `build` is called once per attempt.
    pub async fn execute<F>(&self, operation: &str, build: F) -> PmsResult<VendorResponse>
    where
        F: Fn() -> PmsResult<reqwest::RequestBuilder>,
    {
        self.policy
            .run(operation, |_| async {
                let request = build()?;
                self.send_once(request).await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after", "0.5".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(500)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert("retry-after", later.parse().unwrap());
        let d = parse_retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("ééé".into(), 3), "é…");
    }
}
