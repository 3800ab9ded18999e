//! Cloudbeds transport: `x-api-key` and `X-PROPERTY-ID` on every call, GET with a query string,
//! POST/PUT with a form-urlencoded body, the `{success, message}` envelope (an error can arrive as
//! HTTP 200 with `success:false`), `pageNumber`/`pageSize` pagination until `total`, and one
//! re-read of the credentials secret when Cloudbeds refuses the key. Rate limiting, retries,
//! status classification and request ids come from [`VendorHttp`].

use std::sync::{Arc, RwLock};

use reqwest::header::{HeaderValue, ACCEPT};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use super::wire;
use crate::credentials::CloudbedsCredentials;
use pms_domain::pms::{PmsError, PmsResult, RetryPolicy};
use pms_domain::ports::{CachedSecrets, SecretStore};
use pms_vendor_kit::pms::http::VendorHttp;

/// Cloudbeds puts its request id here on every response (spec `info.description`).
pub const REQUEST_ID_HEADERS: &[&str] = &["x-request-id"];

/// Page sizes the spec allows: 100 for lists, 5000 for housekeeping.
pub const MAX_PAGE: u32 = 100;
pub const MAX_HOUSEKEEPING_PAGE: u32 = 5000;
/// A list longer than this many pages is a vendor bug, not a hotel.
const MAX_PAGES: u32 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
}

/// Whether a request may be sent again after an attempt whose outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Reads, and writes that are idempotent (a `checkoutDate`, a charge with `referenceID`).
    Safe,
    /// A write that would be applied twice (a note): retried only when it cannot have arrived.
    Unsafe,
}

/// A `success:true` answer.
#[derive(Debug)]
pub struct Envelope {
    pub body: Map<String, Value>,
    pub request_id: Option<String>,
}

impl Envelope {
    pub fn data(&self) -> &Value {
        self.body.get("data").unwrap_or(&Value::Null)
    }

    /// `data` decoded; a shape we cannot read is a protocol error carrying the request id.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, endpoint: &str) -> PmsResult<T> {
        decode_value(self.data().clone(), endpoint, self.request_id.clone())
    }

    /// `total` of a list answer.
    pub fn total(&self) -> Option<u64> {
        number(self.body.get("total")?)
    }

    /// Entries in `data`: an array's elements or an object's values (`[]` is an empty map).
    pub fn data_len(&self) -> usize {
        match self.data() {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        }
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Decodes without echoing values: serde's messages can quote guest data.
pub fn decode_value<T: serde::de::DeserializeOwned>(
    value: Value,
    endpoint: &str,
    request_id: Option<String>,
) -> PmsResult<T> {
    serde_json::from_value(value).map_err(|e| PmsError::Protocol {
        message: format!(
            "Cloudbeds {endpoint} answered a shape we cannot read ({:?})",
            e.classify()
        ),
        request_id,
    })
}

/// The message of a Cloudbeds error body (`message`, or OAuth's `error_description`).
pub fn error_message(_status: u16, body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    ["message", "error_description", "error"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

const NOT_FOUND: &[&str] = &[
    "not found",
    "does not exist",
    "doesn't exist",
    "could not be found",
    "no reservation found",
    "no guest found",
];
const AUTH: &[&str] = &[
    "not active anymore",
    "access token",
    "api key",
    "apikey",
    "unauthorized",
    "not authorized",
    "don't have access",
    "do not have access",
    "no access",
    "permission",
];
const RATE: &[&str] = &["rate limit", "too many requests"];

/// What a `success:false` answer means. The API has no error codes, only messages; they are
/// classified by wording (unverified against a catalogue: Cloudbeds publishes none). Anything not
/// recognised is the vendor rejecting the request, with its message.
pub fn business_error(message: Option<&str>, request_id: Option<String>) -> PmsError {
    let message = message
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("Cloudbeds answered success:false without a message");
    let mut message = message.to_owned();
    if message.len() > 300 {
        let mut cut = 300;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    let lower = message.to_lowercase();
    let has = |list: &[&str]| list.iter().any(|p| lower.contains(p));
    if has(NOT_FOUND) {
        PmsError::NotFound {
            what: format!("the record (Cloudbeds: {message})"),
            request_id,
        }
    } else if has(AUTH) {
        PmsError::Unauthorized {
            message,
            request_id,
        }
    } else if has(RATE) {
        PmsError::RateLimited {
            retry_after: None,
            request_id,
        }
    } else {
        PmsError::InvalidRequest {
            message,
            status: Some(200),
            request_id,
        }
    }
}

/// Where to re-read the API key after Cloudbeds refuses it (the secret may have been rotated).
pub struct KeySource {
    pub secrets: Arc<CachedSecrets>,
    pub name: String,
}

pub struct Transport {
    http: VendorHttp,
    base: Url,
    property_id: String,
    key: RwLock<SecretString>,
    key_source: Option<KeySource>,
    /// The hotel's policy narrowed to failures that prove the request was not processed.
    unsafe_policy: RetryPolicy,
}

impl Transport {
    pub fn new(
        http: VendorHttp,
        base: Url,
        property_id: String,
        key: SecretString,
        key_source: Option<KeySource>,
    ) -> Self {
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let policy = http.policy().clone();
        let unsafe_policy = RetryPolicy {
            retryable: policy
                .retryable
                .iter()
                .filter(|t| matches!(t.as_str(), "429" | "ECONNREFUSED"))
                .cloned()
                .collect(),
            ..policy
        };
        Self {
            http,
            base,
            property_id,
            key: RwLock::new(key),
            key_source,
            unsafe_policy,
        }
    }

    pub fn property_id(&self) -> &str {
        &self.property_id
    }

    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    fn request(
        &self,
        endpoint: &str,
        verb: Verb,
        params: &[(String, String)],
    ) -> PmsResult<reqwest::RequestBuilder> {
        let url = self
            .base
            .join(endpoint)
            .map_err(|_| PmsError::Configuration {
                message: format!("cannot build the Cloudbeds URL for {endpoint}"),
            })?;
        let mut key = {
            let guard = self.key.read().unwrap_or_else(|p| p.into_inner());
            HeaderValue::from_str(guard.expose_secret()).map_err(|_| PmsError::Configuration {
                message: "the Cloudbeds API key is not a valid header value".into(),
            })?
        };
        // Keeps the key out of reqwest's and hyper's Debug output.
        key.set_sensitive(true);
        let client = self.http.client();
        let rb = match verb {
            Verb::Get => client.get(url).query(params),
            Verb::Post => client.post(url).form(params),
            Verb::Put => client.put(url).form(params),
        };
        Ok(rb
            .header("x-api-key", key)
            .header("X-PROPERTY-ID", self.property_id.as_str())
            .header(ACCEPT, "application/json"))
    }

    /// Reads the body as the Cloudbeds envelope; `success:false` becomes a typed error.
    pub(super) fn envelope(
        endpoint: &str,
        body: &[u8],
        request_id: Option<String>,
    ) -> PmsResult<Envelope> {
        let value: Value = serde_json::from_slice(body).map_err(|e| PmsError::Protocol {
            message: format!(
                "Cloudbeds {endpoint} answered something that is not JSON ({:?})",
                e.classify()
            ),
            request_id: request_id.clone(),
        })?;
        let Value::Object(body) = value else {
            return Err(PmsError::Protocol {
                message: format!("Cloudbeds {endpoint} answered JSON that is not an object"),
                request_id,
            });
        };
        let success = body
            .get("success")
            .and_then(wire::flag)
            .unwrap_or_else(|| body.contains_key("data"));
        if !success {
            return Err(business_error(
                body.get("message").and_then(Value::as_str),
                request_id,
            ));
        }
        Ok(Envelope { body, request_id })
    }

    async fn attempt_all(
        &self,
        endpoint: &'static str,
        verb: Verb,
        params: &[(String, String)],
        replay: Replay,
    ) -> PmsResult<Envelope> {
        let policy = match replay {
            Replay::Safe => self.http.policy(),
            Replay::Unsafe => &self.unsafe_policy,
        };
        policy
            .run(endpoint, move |_| async move {
                let request = self.request(endpoint, verb, params)?;
                let response = self.http.send_once(request).await?;
                Self::envelope(endpoint, &response.body, response.request_id)
            })
            .await
    }

    /// One logical call: retried per policy, and sent once more with a re-read key if Cloudbeds
    /// refused the key and the stored secret has changed since.
    pub async fn call(
        &self,
        endpoint: &'static str,
        verb: Verb,
        params: &[(String, String)],
        replay: Replay,
    ) -> PmsResult<Envelope> {
        match self.attempt_all(endpoint, verb, params, replay).await {
            Err(PmsError::Unauthorized { .. }) if self.reload_key().await => {
                self.attempt_all(endpoint, verb, params, replay).await
            }
            other => other,
        }
    }

    async fn reload_key(&self) -> bool {
        let Some(source) = &self.key_source else {
            return false;
        };
        source.secrets.invalidate(&source.name).await;
        let Ok(Some(secret)) = source.secrets.get(&source.name).await else {
            return false;
        };
        let Ok(CloudbedsCredentials { api_key }) = CloudbedsCredentials::parse(&secret) else {
            return false;
        };
        let mut key = self.key.write().unwrap_or_else(|p| p.into_inner());
        if key.expose_secret() == api_key.expose_secret() {
            return false;
        }
        *key = api_key;
        tracing::info!(
            provider = "cloudbeds",
            "Cloudbeds refused the API key; using the rotated key from the secret"
        );
        true
    }

    /// Page `page` (from 1) of a list in pages of `page_size`, and whether another follows:
    /// while the entries up to this page are fewer than `total` (without `total`, while pages
    /// come back full). What a sync that stops between pages resumes from.
    pub async fn get_page(
        &self,
        endpoint: &'static str,
        params: &[(String, String)],
        page_size: u32,
        page: u32,
    ) -> PmsResult<(Envelope, bool)> {
        let mut p = params.to_vec();
        p.push(("pageNumber".into(), page.to_string()));
        p.push(("pageSize".into(), page_size.to_string()));
        let env = self.call(endpoint, Verb::Get, &p, Replay::Safe).await?;
        let n = env.data_len() as u64;
        let through = u64::from(page.saturating_sub(1)) * u64::from(page_size) + n;
        let more = match env.total() {
            Some(t) => n > 0 && through < t,
            None => n >= u64::from(page_size),
        };
        Ok((env, more))
    }

    /// Every page of a list (`pageNumber` from 1, `pageSize` = `page_size`) until `total`
    /// entries have been read; never truncated. Without `total`, a short page ends the list.
    pub async fn get_all(
        &self,
        endpoint: &'static str,
        params: &[(String, String)],
        page_size: u32,
    ) -> PmsResult<Vec<Envelope>> {
        let mut pages = Vec::new();
        let mut seen = 0u64;
        let mut first_total = None;
        for page in 1..=MAX_PAGES {
            let mut p = params.to_vec();
            p.push(("pageNumber".into(), page.to_string()));
            p.push(("pageSize".into(), page_size.to_string()));
            let env = self.call(endpoint, Verb::Get, &p, Replay::Safe).await?;
            let n = env.data_len() as u64;
            let total = env.total();
            if let Some(count) = env.body.get("count").and_then(number) {
                if count != n {
                    tracing::warn!(
                        provider = "cloudbeds",
                        endpoint,
                        page,
                        count,
                        entries = n,
                        "Cloudbeds page count differs from its entries"
                    );
                }
            }
            if page == 1 {
                first_total = total;
            } else if total != first_total {
                // Offset pages shift when records change meanwhile; the delta overlap of the
                // next sync reads what moved.
                tracing::warn!(
                    provider = "cloudbeds",
                    endpoint,
                    page,
                    "Cloudbeds list total changed while paging"
                );
            }
            seen += n;
            let request_id = env.request_id.clone();
            pages.push(env);
            match total {
                Some(t) if seen >= t => return Ok(pages),
                Some(t) if n == 0 => {
                    return Err(PmsError::Protocol {
                        message: format!(
                            "Cloudbeds {endpoint} reported {t} results but page {page} is empty after {seen}"
                        ),
                        request_id,
                    })
                }
                Some(_) => {}
                None if n < u64::from(page_size) => return Ok(pages),
                None => {}
            }
        }
        Err(PmsError::Protocol {
            message: format!("Cloudbeds {endpoint} did not end after {MAX_PAGES} pages"),
            request_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_errors_are_classified_by_message() {
        let rid = Some("req-1".to_owned());
        let e = business_error(Some("Reservation not found"), rid.clone());
        assert!(matches!(e, PmsError::NotFound { .. }), "{e:?}");
        assert_eq!(e.request_id(), Some("req-1"));
        // The official example of an HTTP 200 error (Cloudbeds help centre).
        let e = business_error(
            Some("User who approved this connection is not active anymore"),
            rid.clone(),
        );
        assert!(matches!(e, PmsError::Unauthorized { .. }), "{e:?}");
        let e = business_error(Some("checkoutDate must be after the check-in date"), rid);
        match e {
            PmsError::InvalidRequest {
                message,
                status,
                request_id,
            } => {
                assert_eq!(message, "checkoutDate must be after the check-in date");
                assert_eq!(status, Some(200));
                assert_eq!(request_id.as_deref(), Some("req-1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            business_error(Some("API rate limit exceeded"), None),
            PmsError::RateLimited { .. }
        ));
        assert!(matches!(
            business_error(None, None),
            PmsError::InvalidRequest { .. }
        ));
    }

    #[test]
    fn envelopes_check_success_even_on_200() {
        let ok = Transport::envelope("getGuest", br#"{"success":true,"data":{}}"#, None).unwrap();
        assert!(ok.data().is_object());
        let err = Transport::envelope(
            "getGuest",
            br#"{"success":false,"message":"Guest not found"}"#,
            Some("r".into()),
        )
        .unwrap_err();
        assert!(matches!(err, PmsError::NotFound { .. }));
        // PHP truthiness.
        assert!(Transport::envelope("x", br#"{"success":"1","data":[]}"#, None).is_ok());
        assert!(Transport::envelope("x", br#"{"success":0,"message":"no"}"#, None).is_err());
        assert!(matches!(
            Transport::envelope("x", b"<html>maintenance</html>", None),
            Err(PmsError::Protocol { .. })
        ));
        assert!(matches!(
            Transport::envelope("x", b"[1]", None),
            Err(PmsError::Protocol { .. })
        ));
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(401, br#"{"success":false,"message":"Invalid API key"}"#).as_deref(),
            Some("Invalid API key")
        );
        assert_eq!(
            error_message(
                401,
                br#"{"error":"server_error","error_description":"The authorization code is invalid or has expired."}"#
            )
            .as_deref(),
            Some("The authorization code is invalid or has expired.")
        );
        assert_eq!(error_message(502, b"Bad gateway"), None);
    }
}
