//! Mews transport: every operation is `POST {platform}/api/connector/v1/{resource}/{action}`
//! with `ClientToken`, `AccessToken` and `Client` in the JSON body (guidelines/requests.md,
//! authentication.md). This module adds them to each body, runs calls through [`VendorHttp`]
//! (rate limiter, retries, status classification, `Request-Id`), follows cursor pagination to
//! exhaustion, splits time-interval filters into windows Mews accepts, and re-reads the
//! credentials secret once when Mews answers 401 (the access token may have been rotated).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::wire::{self, TimeInterval};
use crate::credentials::MewsCredentials;
use pms_domain::pms::{PmsError, PmsResult, RetryPolicy};
use pms_domain::ports::{CachedSecrets, SecretStore};
use pms_vendor_kit::pms::http::{VendorHttp, VendorResponse};
use pms_vendor_kit::pms::ratelimit::RateLimiter;

/// Mews answers every response with this header (guidelines/responses.md).
const REQUEST_ID_HEADERS: &[&str] = &["request-id"];

/// Longest window of one interval filter. Mews allows "max length 3 months"; 89 days is within
/// three months however they are counted (the shortest three calendar months, Feb-Apr, have 89
/// days), so a window is never refused for its length.
pub const MAX_WINDOW: chrono::Duration = chrono::Duration::days(89);

/// Smallest window a 408 ("too heavy") is answered by splitting further; below it the 408 is
/// returned.
const MIN_SPLIT_WINDOW: chrono::Duration = chrono::Duration::minutes(30);

/// A 408 halves the page size down to this many items.
const MIN_PAGE_ON_408: u32 = 50;

/// Ceiling on pages of one listing: a server that keeps answering full pages with new cursors
/// is a protocol fault, not a reason to loop forever.
const MAX_PAGES: usize = 10_000;

/// The tokens a call is made with.
struct Tokens {
    client_token: SecretString,
    access_token: SecretString,
    client: String,
}

impl Tokens {
    fn from_credentials(c: MewsCredentials) -> Tokens {
        Tokens {
            client_token: c.client_token,
            access_token: c.access_token,
            client: c.client,
        }
    }

    fn same_as(&self, other: &Tokens) -> bool {
        self.client_token.expose_secret() == other.client_token.expose_secret()
            && self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.client == other.client
    }
}

/// A short, non-reversible fingerprint of an access token, for rate-limit keys and logs.
pub fn token_fingerprint(access_token: &SecretString) -> String {
    pms_domain::domain::hash::sha256_hex(access_token.expose_secret().as_bytes())[..16].to_owned()
}

/// Extracts `Message` from a Mews error body (never request data).
pub(super) fn error_message(_status: u16, body: &[u8]) -> Option<String> {
    serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
}

/// How a call may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Reads and idempotent writes: the hotel's retry policy.
    Policy,
    /// Writes that would be duplicated if sent twice (orders, notes): retried only after answers
    /// that prove Mews did not act (429, 503, connection refused). A timeout or other 5xx is
    /// returned at once, its outcome unknown, for the caller to check before sending again.
    NotApplied,
}

pub struct MewsTransport {
    base: String,
    tokens: RwLock<Arc<Tokens>>,
    http: VendorHttp,
    /// Same client and limiter, narrower retry list (see [`Retry::NotApplied`]).
    http_once: VendorHttp,
    secrets: Option<(Arc<CachedSecrets>, String)>,
}

pub fn not_applied_policy(policy: &RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        retryable: policy
            .retryable
            .iter()
            .filter(|t| matches!(t.as_str(), "429" | "503" | "ECONNREFUSED"))
            .cloned()
            .collect(),
        ..policy.clone()
    }
}

impl MewsTransport {
    pub fn new(
        base: &str,
        credentials: MewsCredentials,
        client: reqwest::Client,
        policy: RetryPolicy,
        limiter: Option<Arc<dyn RateLimiter>>,
        secrets: Option<(Arc<CachedSecrets>, String)>,
    ) -> PmsResult<Self> {
        let tokens = Tokens::from_credentials(credentials);
        let once = not_applied_policy(&policy);
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            tokens: RwLock::new(Arc::new(tokens)),
            http: VendorHttp::new(
                client.clone(),
                policy,
                limiter.clone(),
                REQUEST_ID_HEADERS,
                error_message,
            ),
            http_once: VendorHttp::new(client, once, limiter, REQUEST_ID_HEADERS, error_message),
            secrets,
        })
    }

    pub fn calls(&self) -> u64 {
        self.http.calls() + self.http_once.calls()
    }

    fn tokens(&self) -> Arc<Tokens> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The URL of an operation, e.g. `reservations/getAll/2023-06-06`. Exact: Mews answers 404
    /// to any other casing or a trailing slash.
    pub fn url(&self, operation: &str) -> String {
        format!("{}/api/connector/v1/{}", self.base, operation)
    }

    async fn send(
        &self,
        operation: &'static str,
        body: &Value,
        retry: Retry,
    ) -> PmsResult<VendorResponse> {
        let tokens = self.tokens();
        let url = self.url(operation);
        let http = match retry {
            Retry::Policy => &self.http,
            Retry::NotApplied => &self.http_once,
        };
        let client = http.client().clone();
        http.execute(operation, || {
            let mut full = body.clone();
            let obj = full
                .as_object_mut()
                .ok_or_else(|| PmsError::invalid("a Mews request body must be an object"))?;
            obj.insert(
                "ClientToken".into(),
                Value::String(tokens.client_token.expose_secret().to_owned()),
            );
            obj.insert(
                "AccessToken".into(),
                Value::String(tokens.access_token.expose_secret().to_owned()),
            );
            obj.insert("Client".into(), Value::String(tokens.client.clone()));
            Ok(client.post(&url).json(&full))
        })
        .await
    }

    /// Re-reads the credentials secret; true when it now holds different Mews tokens.
    async fn refresh_tokens(&self) -> bool {
        let Some((secrets, name)) = &self.secrets else {
            return false;
        };
        secrets.invalidate(name).await;
        let Ok(Some(secret)) = secrets.get(name).await else {
            return false;
        };
        let Ok(parsed) = MewsCredentials::parse(&secret) else {
            return false;
        };
        let fresh = Tokens::from_credentials(parsed);
        let mut current = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        if current.same_as(&fresh) {
            return false;
        }
        *current = Arc::new(fresh);
        true
    }

    /// One call; the body gets the tokens added. A 401 re-reads the credentials once.
    pub async fn call(
        &self,
        operation: &'static str,
        body: Value,
        retry: Retry,
    ) -> PmsResult<VendorResponse> {
        let result = match self.send(operation, &body, retry).await {
            Err(PmsError::Unauthorized { .. }) if self.refresh_tokens().await => {
                tracing::info!(operation, "Mews credentials changed; retrying once");
                self.send(operation, &body, retry).await
            }
            other => other,
        };
        result.map_err(|e| redact(e, &self.tokens()))
    }

    /// One call, decoded.
    pub async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        body: Value,
        retry: Retry,
    ) -> PmsResult<(T, Option<String>)> {
        let resp = self.call(operation, body, retry).await?;
        let value = resp.json::<T>()?;
        Ok((value, resp.request_id))
    }

    /// A `getAll` listing followed to its end: pages of `page_size` (`Limitation.Count`, 1 to
    /// 1000), each next page asked with the previous page's `Cursor`, until a page comes back
    /// short or without a cursor (guidelines/pagination.md), or `expect` items have arrived
    /// (lists by id cannot hold more items than ids asked for, so a full last page needs no
    /// empty follow-up). Items are returned raw, to be decoded one by one.
    pub async fn get_all(
        &self,
        operation: &'static str,
        body: Value,
        items_key: &str,
        page_size: u32,
        expect: Option<usize>,
    ) -> PmsResult<Vec<Value>> {
        let count = page_size.clamp(1, 1000);
        let mut count = match expect {
            Some(n) if n > 0 => count.min(n.min(1000) as u32),
            _ => count,
        };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page_body = limited(&body, count, cursor.as_deref());
            let resp = match self.call(operation, page_body, Retry::Policy).await {
                Ok(r) => r,
                // Too heavy: ask the same page again in a smaller size (guidelines/requests.md
                // "use pagination to fetch data in smaller batches"); below the floor, the
                // caller narrows the filter instead.
                Err(PmsError::InvalidRequest {
                    status: Some(408), ..
                }) if count > MIN_PAGE_ON_408 => {
                    count = (count / 2).max(MIN_PAGE_ON_408);
                    tracing::warn!(operation, count, "Mews answered 408; asking smaller pages");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if resp.is_empty() {
                // `Prefer: return=minimal` answers an empty page with 204; treated alike.
                break;
            }
            let page: wire::Page = resp.json()?;
            let Some(items) = page.items(items_key) else {
                return Err(PmsError::Protocol {
                    message: format!("{operation}: {items_key} is not an array"),
                    request_id: resp.request_id,
                });
            };
            let n = items.len();
            out.extend(items);
            let done = n == 0
                || n < count as usize
                || page.cursor.is_none()
                || expect.is_some_and(|e| out.len() >= e);
            if done {
                return Ok(out);
            }
            if page.cursor == cursor {
                return Err(PmsError::Protocol {
                    message: format!("{operation}: the cursor did not advance"),
                    request_id: resp.request_id,
                });
            }
            cursor = page.cursor;
        }
        Err(PmsError::protocol(format!(
            "{operation}: more than {MAX_PAGES} pages"
        )))
    }

    /// One page of a `getAll` listing: `count` items (1 to 1000) after `cursor` (`None`: the
    /// first page). Returns the raw items and the cursor of the next page, `None` when this page
    /// was the last (short, or without a cursor): what a sync that stops between pages stores.
    /// A 408 asks the same page again smaller, as [`Self::get_all`] does.
    pub async fn get_page(
        &self,
        operation: &'static str,
        body: Value,
        items_key: &str,
        count: u32,
        cursor: Option<&str>,
    ) -> PmsResult<(Vec<Value>, Option<String>)> {
        let mut count = count.clamp(1, 1000);
        loop {
            let page_body = limited(&body, count, cursor);
            let resp = match self.call(operation, page_body, Retry::Policy).await {
                Ok(r) => r,
                Err(PmsError::InvalidRequest {
                    status: Some(408), ..
                }) if count > MIN_PAGE_ON_408 => {
                    count = (count / 2).max(MIN_PAGE_ON_408);
                    tracing::warn!(operation, count, "Mews answered 408; asking smaller pages");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if resp.is_empty() {
                return Ok((Vec::new(), None));
            }
            let page: wire::Page = resp.json()?;
            let Some(items) = page.items(items_key) else {
                return Err(PmsError::Protocol {
                    message: format!("{operation}: {items_key} is not an array"),
                    request_id: resp.request_id,
                });
            };
            let last = items.is_empty() || items.len() < count as usize;
            let next = if last { None } else { page.cursor };
            if next.is_some() && next.as_deref() == cursor {
                return Err(PmsError::Protocol {
                    message: format!("{operation}: the cursor did not advance"),
                    request_id: resp.request_id,
                });
            }
            return Ok((items, next));
        }
    }

    /// A listing filtered by a time interval `[from, to)` on `field` (e.g. `UpdatedUtc`), split
    /// into windows of at most [`MAX_WINDOW`], each followed to exhaustion. A window Mews still
    /// refuses as too heavy (408) with small pages is halved and asked again
    /// (guidelines/requests.md).
    #[allow(clippy::too_many_arguments)]
    pub async fn get_all_windows(
        &self,
        operation: &'static str,
        body: Value,
        field: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        items_key: &str,
        page_size: u32,
    ) -> PmsResult<Vec<Value>> {
        let mut pending: Vec<(DateTime<Utc>, DateTime<Utc>)> = split_windows(from, to, MAX_WINDOW);
        pending.reverse();
        let mut out = Vec::new();
        while let Some((start, end)) = pending.pop() {
            let mut window_body = body.clone();
            if let Some(obj) = window_body.as_object_mut() {
                obj.insert(field.to_owned(), json!(TimeInterval::new(start, end)));
            }
            match self
                .get_all(operation, window_body, items_key, page_size, None)
                .await
            {
                Ok(items) => out.extend(items),
                Err(PmsError::InvalidRequest {
                    status: Some(408), ..
                }) if end - start > MIN_SPLIT_WINDOW => {
                    let mid = start + (end - start) / 2;
                    let mid =
                        mid - chrono::Duration::nanoseconds(mid.timestamp_subsec_nanos() as i64);
                    tracing::warn!(operation, "Mews answered 408; splitting the window");
                    pending.push((mid, end));
                    pending.push((start, mid));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Removes the tokens from an error's message, should Mews ever echo a request value back
/// (errors are logged and stored; credentials must never be).
fn redact(e: PmsError, tokens: &Tokens) -> PmsError {
    let clean = |m: String| {
        let mut m = m;
        for secret in [
            tokens.client_token.expose_secret(),
            tokens.access_token.expose_secret(),
        ] {
            if !secret.is_empty() && m.contains(secret) {
                m = m.replace(secret, "[redacted]");
            }
        }
        m
    };
    match e {
        PmsError::Unauthorized {
            message,
            request_id,
        } => PmsError::Unauthorized {
            message: clean(message),
            request_id,
        },
        PmsError::InvalidRequest {
            message,
            status,
            request_id,
        } => PmsError::InvalidRequest {
            message: clean(message),
            status,
            request_id,
        },
        PmsError::Unavailable {
            cause,
            message,
            request_id,
        } => PmsError::Unavailable {
            cause,
            message: clean(message),
            request_id,
        },
        PmsError::Protocol {
            message,
            request_id,
        } => PmsError::Protocol {
            message: clean(message),
            request_id,
        },
        other => other,
    }
}

/// Splits `[from, to)` into consecutive windows of at most `max`, on whole seconds (Mews
/// datetimes have no fractions): `from` is rounded down and `to` up, so the windows cover at
/// least the asked interval and never overlap.
pub fn split_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: chrono::Duration,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let floor = |t: DateTime<Utc>| DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or(t);
    let start = floor(from);
    let mut end = floor(to);
    if end < to {
        end += chrono::Duration::seconds(1);
    }
    let mut out = Vec::new();
    let mut cursor = start;
    while cursor < end {
        let next = (cursor + max).min(end);
        out.push((cursor, next));
        cursor = next;
    }
    out
}

/// `body` with its `Limitation`: a page of `count`, from `cursor` (the first page without one).
fn limited(body: &Value, count: u32, cursor: Option<&str>) -> Value {
    let mut page_body = body.clone();
    let mut limitation = Map::new();
    limitation.insert("Count".into(), json!(count));
    if let Some(c) = cursor {
        limitation.insert("Cursor".into(), json!(c));
    }
    if let Some(obj) = page_body.as_object_mut() {
        obj.insert("Limitation".into(), Value::Object(limitation));
    }
    page_body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_split_and_never_exceed_three_months() {
        let w = split_windows(
            t("2026-01-01T00:00:00Z"),
            t("2026-08-01T00:00:00Z"),
            MAX_WINDOW,
        );
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].0, t("2026-01-01T00:00:00Z"));
        assert_eq!(w.last().unwrap().1, t("2026-08-01T00:00:00Z"));
        for pair in w.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "contiguous");
        }
        for (s, e) in &w {
            // Within three calendar months of the start, whatever the month lengths.
            let limit = s.checked_add_months(chrono::Months::new(3)).unwrap();
            assert!(*e <= limit, "{s} -> {e}");
        }
        // Fractions are widened to whole seconds.
        let w = split_windows(
            t("2026-01-01T00:00:00.600Z"),
            t("2026-01-01T01:00:00.200Z"),
            MAX_WINDOW,
        );
        assert_eq!(
            w,
            vec![(t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:01Z"))]
        );
        assert!(split_windows(
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
            MAX_WINDOW
        )
        .is_empty());
    }

    #[test]
    fn write_policy_keeps_only_not_applied_answers() {
        let p = not_applied_policy(&RetryPolicy::default());
        assert_eq!(p.retryable, ["ECONNREFUSED", "429", "503"]);
    }

    #[test]
    fn tokens_are_redacted_from_vendor_messages() {
        let tokens = Tokens {
            client_token: SecretString::from("CT-123".to_owned()),
            access_token: SecretString::from("AT-456".to_owned()),
            client: "c".into(),
        };
        let e = redact(
            PmsError::InvalidRequest {
                message: "Invalid AccessToken AT-456 for client CT-123.".into(),
                status: Some(400),
                request_id: Some("r".into()),
            },
            &tokens,
        );
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("AT-456") && !shown.contains("CT-123"),
            "{shown}"
        );
        assert_eq!(e.request_id(), Some("r"));
    }

    #[test]
    fn error_messages_come_from_the_body() {
        let body = br#"{"Message":"Invalid AccessToken.","RequestId":"r-1","Details":null}"#;
        assert_eq!(
            error_message(401, body).as_deref(),
            Some("Invalid AccessToken.")
        );
        assert_eq!(error_message(500, b"<html>"), None);
    }
}
