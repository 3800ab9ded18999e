//! OHIP transport: the OAuth token (one fetch shared by concurrent callers, reused until about
//! 50 minutes, refreshed once on a 401), the headers every property API call must send
//! (`authorization`, `x-app-key`, `x-hotelid`, plus our `x-request-id`), 204-as-not-found, the
//! vendor's error body, and limit/offset paging that never asks past OHIP's offset cap.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use url::Url;

use super::wire::{ExceptionDetail, TokenResponse};
use crate::credentials::OperaGrant;
use pms_domain::pms::{PmsError, PmsResult};
use pms_vendor_kit::pms::http::{VendorHttp, VendorResponse};

/// Response headers that may carry the gateway's id of a request, in order of preference.
/// The specs declare `x-request-id` only as a request header; gateways commonly echo it, and
/// Oracle's cloud gateways use `opc-request-id`. Neither is documented for OHIP responses, so
/// when neither is present the id we sent is used (errors always carry one).
pub const REQUEST_ID_HEADERS: &[&str] = &["x-request-id", "opc-request-id"];

/// Records per page: the specs' documented maximum (`getProfiles`, `getHotelReservations`).
pub const PAGE_LIMIT: usize = 200;
/// Records past this index cannot be paged to (oracle/hospitality-api-docs#103: "pagination is
/// cut off after 1000 records"; getProfiles: "TotalResults=1000 ... returns maximum 1000").
pub const OFFSET_CAP: usize = 1000;
/// Oracle recommends a new token about every 50 minutes (tokens live 60).
pub const TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);

/// The OHIP error body as a message: `title: detail [o:errorCode]` and the first details.
pub fn error_message(_status: u16, body: &[u8]) -> Option<String> {
    let e: ExceptionDetail = serde_json::from_slice(body).ok()?;
    let mut parts = Vec::new();
    match (e.title.as_deref(), e.detail.as_deref()) {
        (Some(t), Some(d)) if !d.trim().is_empty() && d != t => parts.push(format!("{t}: {d}")),
        (Some(t), _) => parts.push(t.to_owned()),
        (None, Some(d)) => parts.push(d.to_owned()),
        (None, None) => {}
    }
    if let Some(code) = e.error_code.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("[{code}]"));
    }
    for d in e.error_details.iter().take(3) {
        let text = d.detail.as_deref().or(d.title.as_deref()).unwrap_or("");
        let mut item = text.to_owned();
        if let Some(path) = d.error_path.as_deref().filter(|p| !p.is_empty()) {
            item = format!("{path}: {item}");
        }
        if let Some(code) = d.error_code.as_deref().filter(|c| !c.is_empty()) {
            item = format!("{item} [{code}]");
        }
        if !item.trim().is_empty() {
            parts.push(item);
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// OAuth client credentials, as the hotel's secret holds them.
pub struct OhipCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
    pub app_key: SecretString,
    pub grant: OperaGrant,
}

impl std::fmt::Debug for OhipCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OhipCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct Token {
    secret: SecretString,
    refresh_at: Instant,
    generation: u64,
}

/// The last failed token fetch: callers that queued behind it get its error instead of
/// hammering a token endpoint that just refused.
struct TokenFailure {
    at: Instant,
    error: PmsError,
}

#[derive(Default)]
struct TokenSlot {
    token: Option<Token>,
    failure: Option<TokenFailure>,
}

/// When a token fetched now should be replaced: at ~50 minutes, or earlier when the token
/// lives shorter (its lifetime minus a tenth, at most a minute, of margin).
pub fn token_reuse_for(expires_in: Option<Duration>) -> Duration {
    let lifetime = expires_in.unwrap_or(Duration::from_secs(3600));
    let margin = (lifetime / 10).min(Duration::from_secs(60));
    TOKEN_REUSE.min(lifetime.saturating_sub(margin))
}

fn clone_error(e: &PmsError) -> PmsError {
    match e {
        PmsError::NotFound { what, request_id } => PmsError::NotFound {
            what: what.clone(),
            request_id: request_id.clone(),
        },
        PmsError::Unauthorized {
            message,
            request_id,
        } => PmsError::Unauthorized {
            message: message.clone(),
            request_id: request_id.clone(),
        },
        PmsError::RateLimited {
            retry_after,
            request_id,
        } => PmsError::RateLimited {
            retry_after: *retry_after,
            request_id: request_id.clone(),
        },
        PmsError::Unsupported {
            provider,
            operation,
        } => PmsError::Unsupported {
            provider: *provider,
            operation,
        },
        PmsError::InvalidRequest {
            message,
            status,
            request_id,
        } => PmsError::InvalidRequest {
            message: message.clone(),
            status: *status,
            request_id: request_id.clone(),
        },
        PmsError::Unavailable {
            cause,
            message,
            request_id,
        } => PmsError::Unavailable {
            cause: *cause,
            message: message.clone(),
            request_id: request_id.clone(),
        },
        PmsError::Protocol {
            message,
            request_id,
        } => PmsError::Protocol {
            message: message.clone(),
            request_id: request_id.clone(),
        },
        PmsError::Configuration { message } => PmsError::Configuration {
            message: message.clone(),
        },
    }
}

pub struct OhipTransport {
    http: VendorHttp,
    base: Url,
    hotel: String,
    credentials: OhipCredentials,
    slot: tokio::sync::Mutex<TokenSlot>,
    generation: AtomicU64,
    tokens_fetched: AtomicU64,
}

/// What an API call sends besides the headers.
pub struct Call<'a> {
    pub operation: &'static str,
    pub method: Method,
    pub path: Vec<&'a str>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
}

impl<'a> Call<'a> {
    pub fn get(operation: &'static str, path: Vec<&'a str>) -> Self {
        Self {
            operation,
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    pub fn send(
        operation: &'static str,
        method: Method,
        path: Vec<&'a str>,
        body: serde_json::Value,
    ) -> Self {
        Self {
            operation,
            method,
            path,
            query: Vec::new(),
            body: Some(body),
        }
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }
}

impl OhipTransport {
    pub fn new(http: VendorHttp, base: Url, hotel: String, credentials: OhipCredentials) -> Self {
        Self {
            http,
            base,
            hotel,
            credentials,
            slot: tokio::sync::Mutex::new(TokenSlot::default()),
            generation: AtomicU64::new(0),
            tokens_fetched: AtomicU64::new(0),
        }
    }

    pub fn hotel(&self) -> &str {
        &self.hotel
    }

    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// Token fetches made by this instance (for tests and reports).
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens_fetched.load(Ordering::SeqCst)
    }

    fn url(&self, segments: &[&str]) -> PmsResult<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| PmsError::Configuration {
                message: "the OHIP base URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A valid token and its generation. One fetch at a time: callers arriving while a fetch
    /// runs wait for it and share its result.
    pub async fn token(&self) -> PmsResult<(SecretString, u64)> {
        let asked_at = Instant::now();
        let mut slot = self.slot.lock().await;
        if let Some(t) = &slot.token {
            if Instant::now() < t.refresh_at {
                return Ok((t.secret.clone(), t.generation));
            }
        }
        if let Some(f) = &slot.failure {
            // The fetch we queued behind failed: share its answer.
            if f.at >= asked_at {
                return Err(clone_error(&f.error));
            }
        }
        match self.fetch_token().await {
            Ok((secret, reuse)) => {
                let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                slot.token = Some(Token {
                    secret: secret.clone(),
                    refresh_at: Instant::now() + reuse,
                    generation,
                });
                slot.failure = None;
                Ok((secret, generation))
            }
            Err(error) => {
                slot.token = None;
                slot.failure = Some(TokenFailure {
                    at: Instant::now(),
                    error: clone_error(&error),
                });
                Err(error)
            }
        }
    }

    /// Drops the token of `generation` (the one a 401 refused); a newer one is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            slot.token = None;
        }
    }

    /// Forgets the token entirely (disconnect).
    pub async fn forget_token(&self) {
        let mut slot = self.slot.lock().await;
        slot.token = None;
        slot.failure = None;
    }

    async fn fetch_token(&self) -> PmsResult<(SecretString, Duration)> {
        self.tokens_fetched.fetch_add(1, Ordering::SeqCst);
        let url = self.url(&["oauth", "v1", "tokens"])?;
        let c = &self.credentials;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.client_id,
            c.client_secret.expose_secret()
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
            PmsError::Configuration {
                message: "the OHIP client id or secret has characters a header cannot carry".into(),
            }
        })?;
        authorization.set_sensitive(true);
        let mut app_key = HeaderValue::from_str(c.app_key.expose_secret()).map_err(|_| {
            PmsError::Configuration {
                message: "the OHIP application key has characters a header cannot carry".into(),
            }
        })?;
        app_key.set_sensitive(true);
        let (form, enterprise): (Vec<(&str, String)>, Option<&str>) = match &c.grant {
            OperaGrant::ClientCredentials {
                scope,
                enterprise_id,
            } => (
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("scope", scope.clone()),
                ],
                enterprise_id.as_deref(),
            ),
            OperaGrant::Password { username, password } => (
                vec![
                    ("grant_type", "password".into()),
                    ("username", username.clone()),
                    ("password", password.expose_secret().to_owned()),
                ],
                None,
            ),
        };
        let result = self
            .http
            .execute("ohip.getToken", || {
                let mut rb = self
                    .http
                    .client()
                    .post(url.clone())
                    .header(AUTHORIZATION, authorization.clone())
                    .header("x-app-key", app_key.clone())
                    .header(ACCEPT, "application/json")
                    .form(&form);
                if let Some(e) = enterprise {
                    rb = rb.header("enterpriseId", e);
                }
                Ok(rb)
            })
            .await;
        let response = match result {
            Ok(r) => r,
            // The token endpoint answers 400/401/403 for credentials it does not accept.
            Err(PmsError::InvalidRequest {
                message,
                status: Some(400 | 403),
                request_id,
            }) => {
                return Err(PmsError::Unauthorized {
                    message,
                    request_id,
                })
            }
            Err(e) => return Err(e),
        };
        let token: TokenResponse = response.json()?;
        if token.access_token.trim().is_empty() {
            return Err(PmsError::Protocol {
                message: "the token endpoint answered an empty access_token".into(),
                request_id: response.request_id.clone(),
            });
        }
        let expires_in = token
            .expires_in
            .as_ref()
            .and_then(|e| e.as_u64())
            .map(Duration::from_secs);
        Ok((
            SecretString::from(token.access_token),
            token_reuse_for(expires_in),
        ))
    }

    /// Sends a property API call with the token, retrying per policy; a 401 refreshes the token
    /// once and replays the call once.
    pub async fn call(&self, call: &Call<'_>) -> PmsResult<VendorResponse> {
        let url = self.url(&call.path)?;
        let mut app_key =
            HeaderValue::from_str(self.credentials.app_key.expose_secret()).map_err(|_| {
                PmsError::Configuration {
                    message: "the OHIP application key has characters a header cannot carry".into(),
                }
            })?;
        app_key.set_sensitive(true);
        let hotel = HeaderValue::from_str(&self.hotel).map_err(|_| PmsError::Configuration {
            message: "the OHIP hotel code has characters a header cannot carry".into(),
        })?;
        let mut replayed = false;
        loop {
            let (token, generation) = self.token().await?;
            let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| PmsError::Protocol {
                    message: "the token endpoint answered a token a header cannot carry".into(),
                    request_id: None,
                })?;
            bearer.set_sensitive(true);
            let request_id = uuid::Uuid::new_v4().to_string();
            let result = self
                .http
                .execute(call.operation, || {
                    let mut rb = self
                        .http
                        .client()
                        .request(call.method.clone(), url.clone())
                        .header(AUTHORIZATION, bearer.clone())
                        .header("x-app-key", app_key.clone())
                        .header("x-hotelid", hotel.clone())
                        .header("x-request-id", request_id.as_str())
                        .header(ACCEPT, "application/json");
                    if !call.query.is_empty() {
                        rb = rb.query(&call.query);
                    }
                    if let Some(body) = &call.body {
                        rb = rb.json(body);
                    }
                    Ok(rb)
                })
                .await;
            match result {
                Err(PmsError::Unauthorized { .. }) if !replayed => {
                    tracing::info!(
                        operation = call.operation,
                        "OHIP refused the token; fetching a new one and replaying once"
                    );
                    self.invalidate(generation).await;
                    replayed = true;
                }
                Err(e) => return Err(e.with_request_id(Some(request_id))),
                Ok(mut r) => {
                    if r.request_id.is_none() {
                        r.request_id = Some(request_id);
                    }
                    return Ok(r);
                }
            }
        }
    }

    /// `call` and decode the body; `Ok(None)` on OHIP's 204 (not found / nothing).
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> PmsResult<Option<T>> {
        let r = self.call(call).await?;
        if r.is_empty() {
            return Ok(None);
        }
        r.json().map(Some)
    }
}

/// One page of a list read.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: Option<bool>,
    pub total: Option<usize>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_more: Some(false),
            total: Some(0),
        }
    }

    /// A page of `items` with what OHIP's `paging` says of the rest.
    pub fn from_paging(paging: &super::wire::Paging, items: Vec<T>) -> Self {
        Self {
            has_more: paging.has_more.as_ref().map(|b| b.0),
            total: paging
                .total_results
                .as_ref()
                .and_then(|t| t.as_u64())
                .map(|t| t as usize),
            items,
        }
    }
}

/// Reads every record of a paged query. Pages ask for at most [`PAGE_LIMIT`] records and never
/// start at or past [`OFFSET_CAP`]: a query that holds more (or says it may: OHIP reports a
/// capped `totalResults`) is split into narrower queries with `split`, which must cover the
/// same records (overlaps are fine: callers dedupe). A query that cannot be split further is
/// an error, never a silent truncation.
pub async fn read_all<S, T, F, Fut>(
    root: S,
    split: impl Fn(&S) -> Option<Vec<S>>,
    fetch: F,
) -> PmsResult<Vec<T>>
where
    S: std::fmt::Debug,
    F: Fn(&S, usize, usize) -> Fut,
    Fut: Future<Output = PmsResult<Page<T>>>,
{
    let mut pending = vec![root];
    let mut out = Vec::new();
    while let Some(slice) = pending.pop() {
        let mut offset = 0usize;
        let mut items = Vec::new();
        let too_big = loop {
            let page = fetch(&slice, offset, PAGE_LIMIT).await?;
            if offset == 0 && page.total.is_some_and(|t| t >= OFFSET_CAP) {
                break true;
            }
            let n = page.items.len();
            items.extend(page.items);
            offset += n;
            let more = match (page.has_more, page.total) {
                (_, Some(total)) if offset >= total => false,
                (Some(more), _) => more && n > 0,
                (None, _) => n >= PAGE_LIMIT,
            };
            if !more {
                break false;
            }
            if offset >= OFFSET_CAP {
                break true;
            }
        };
        if !too_big {
            out.extend(items);
            continue;
        }
        match split(&slice) {
            Some(children) => {
                tracing::debug!(?slice, parts = children.len(), "splitting an OHIP query past the offset cap");
                pending.extend(children);
            }
            None => {
                return Err(PmsError::protocol(format!(
                    "more than {OFFSET_CAP} records match {slice:?} and the query cannot be narrowed further; OHIP cannot page past {OFFSET_CAP}"
                )))
            }
        }
    }
    Ok(out)
}

/// Bisects the surname space for `fromName`/`toName`: names are bounded by strings of up to
/// [`NAME_DEPTH`] letters. Both halves include their shared bound, so whichever way OHIP treats
/// the bounds (inclusive, prefix), every name falls in at least one half.
pub const NAME_DEPTH: u32 = 6;
const NAME_SPACE: u64 = 26u64.pow(NAME_DEPTH);

/// A surname range: `None` is open-ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NameRange {
    pub from: Option<u64>,
    pub to: Option<u64>,
}

impl NameRange {
    pub fn split(&self) -> Option<[NameRange; 2]> {
        let lo = self.from.unwrap_or(0);
        let hi = self.to.unwrap_or(NAME_SPACE);
        if hi.saturating_sub(lo) < 2 {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        Some([
            NameRange {
                from: self.from,
                to: Some(mid),
            },
            NameRange {
                from: Some(mid),
                to: self.to,
            },
        ])
    }

    pub fn bound(v: u64) -> String {
        let mut digits = vec![b'A'; NAME_DEPTH as usize];
        let mut n = v.min(NAME_SPACE - 1);
        for d in digits.iter_mut().rev() {
            *d = b'A' + (n % 26) as u8;
            n /= 26;
        }
        let mut s = String::from_utf8(digits).unwrap_or_default();
        while s.len() > 1 && s.ends_with('A') {
            s.pop();
        }
        s
    }

    /// `fromName` / `toName` query parameters.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(f) = self.from {
            out.push(("fromName", Self::bound(f)));
        }
        if let Some(t) = self.to {
            out.push(("toName", Self::bound(t)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn token_reuse_is_fifty_minutes_or_less() {
        assert_eq!(
            token_reuse_for(Some(Duration::from_secs(3600))),
            Duration::from_secs(3000)
        );
        assert_eq!(token_reuse_for(None), Duration::from_secs(3000));
        // A 20-minute token is replaced a minute early.
        assert_eq!(
            token_reuse_for(Some(Duration::from_secs(1200))),
            Duration::from_secs(1140)
        );
        // Short test tokens keep a tenth as margin.
        assert_eq!(
            token_reuse_for(Some(Duration::from_secs(2))),
            Duration::from_millis(1800)
        );
        assert_eq!(token_reuse_for(Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn error_body_becomes_the_message() {
        let body = br#"{"type":"https://example.com/400","title":"Bad Request","status":400,
            "detail":"Invalid transaction code","o:errorCode":"OPICS-BAD_REQUEST",
            "o:errorDetails":[{"o:errorCode":"OPICS-0300","o:errorPath":"transactionCode","title":"not configured"}]}"#;
        let m = error_message(400, body).unwrap();
        assert_eq!(
            m,
            "Bad Request: Invalid transaction code; [OPICS-BAD_REQUEST]; transactionCode: not configured [OPICS-0300]"
        );
        assert_eq!(error_message(503, b"<html>down</html>"), None);
        assert_eq!(
            error_message(400, br#"{"title":"Bad Request"}"#).unwrap(),
            "Bad Request"
        );
    }

    #[test]
    fn name_ranges_bisect_and_cover() {
        let root = NameRange::default();
        assert!(root.params().is_empty());
        let [a, b] = root.split().unwrap();
        assert_eq!(a.params(), vec![("toName", "N".to_owned())]);
        assert_eq!(b.params(), vec![("fromName", "N".to_owned())]);
        // Deep splits end: a range of one bound value cannot be split.
        let mut r = root;
        let mut depth = 0;
        while let Some([left, _]) = r.split() {
            r = left;
            depth += 1;
        }
        assert!(depth > 20 && depth < 40, "{depth}");
        assert_eq!(NameRange::bound(0), "A");
        assert_eq!(NameRange::bound(NAME_SPACE - 1), "ZZZZZZ");
    }

    /// A fake OHIP list: `n` records with surnames, paged and capped like OHIP.
    fn fake_page(
        names: &[String],
        range: &NameRange,
        offset: usize,
        limit: usize,
        asked: &Mutex<Vec<(usize, usize)>>,
    ) -> PmsResult<Page<String>> {
        asked.lock().unwrap().push((offset, limit));
        assert!(limit <= PAGE_LIMIT, "limit {limit}");
        assert!(offset < OFFSET_CAP, "offset {offset}");
        let from = range.from.map(NameRange::bound);
        let to = range.to.map(NameRange::bound);
        let matching: Vec<&String> = names
            .iter()
            .filter(|n| from.as_deref().is_none_or(|f| n.as_str() >= f))
            .filter(|n| to.as_deref().is_none_or(|t| n.as_str() <= t))
            .collect();
        let visible = matching.len().min(OFFSET_CAP);
        let items: Vec<String> = matching
            .iter()
            .skip(offset)
            .take(limit.min(visible.saturating_sub(offset)))
            .map(|s| s.to_string())
            .collect();
        Ok(Page {
            has_more: Some(offset + items.len() < visible),
            total: Some(visible),
            items,
        })
    }

    #[tokio::test]
    async fn big_lists_are_split_until_every_record_is_read() {
        // 3 000 records over a few dozen surnames, with many duplicates per name.
        let surnames = [
            "ADAMS", "BROWN", "CHEN", "MULLER", "NOVAK", "SMITH", "TANAKA", "ZHANG",
        ];
        let names: Vec<String> = (0..3000)
            .map(|i| format!("{}{:04}", surnames[i % surnames.len()], i))
            .collect();
        let asked = Mutex::new(Vec::new());
        let got = read_all(
            NameRange::default(),
            |r| r.split().map(Vec::from),
            |r, o, l| {
                let page = fake_page(&names, r, o, l, &asked);
                async move { page }
            },
        )
        .await
        .unwrap();
        let unique: BTreeSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), 3000, "every record read");
        let asked = asked.into_inner().unwrap();
        assert!(asked
            .iter()
            .all(|(o, l)| *o < OFFSET_CAP && *l <= PAGE_LIMIT));
    }

    #[tokio::test]
    async fn a_query_that_cannot_split_is_an_error_not_a_truncation() {
        let names: Vec<String> = (0..1500).map(|_| "SMITH".to_owned()).collect();
        let asked = Mutex::new(Vec::new());
        let err = read_all(
            NameRange::default(),
            |r| r.split().map(Vec::from),
            |r, o, l| {
                let page = fake_page(&names, r, o, l, &asked);
                async move { page }
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, PmsError::Protocol { .. }), "{err}");
    }

    #[tokio::test]
    async fn pages_stop_on_has_more_or_short_pages() {
        // No totals, no hasMore: a short page ends the list.
        let calls = Mutex::new(0);
        let got: Vec<u32> = read_all(
            (),
            |_| None,
            |_, offset, _| {
                *calls.lock().unwrap() += 1;
                let n = if offset == 0 { PAGE_LIMIT } else { 3 };
                let items = (0..n as u32).collect();
                async move {
                    Ok(Page {
                        items,
                        has_more: None,
                        total: None,
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(got.len(), PAGE_LIMIT + 3);
        assert_eq!(*calls.lock().unwrap(), 2);
        // hasMore that lies (the housekeeping example) ends on an empty page.
        let got: Vec<u32> = read_all(
            (),
            |_| None,
            |_, offset, _| {
                let items = if offset == 0 { vec![1, 2, 3] } else { vec![] };
                async move {
                    Ok(Page {
                        items,
                        has_more: Some(true),
                        total: None,
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(got, [1, 2, 3]);
    }
}
