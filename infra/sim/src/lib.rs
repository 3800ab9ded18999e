//! Vendor simulators: one HTTP server speaking OHIP (`/ohip`), Mews (`/mews`) and Cloudbeds
//! (`/cloudbeds`) over in-memory, deterministically seeded hotels, closely enough that the
//! adapters cannot tell. It enforces each vendor's auth and rate limits, injects faults on
//! demand, and counts what it saw, through an admin API under `/_admin` (see [`SimAdmin`]).
//! Runs as the `pms-sim` binary (local stack) or in-process in tests ([`Simulator::start`]).

pub mod cloudbeds;
pub mod data;
pub mod guard;
pub mod mews;
pub mod ohip;
pub mod setup;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use chrono::Utc;
use chrono_tz::Tz;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

pub use data::{ReservationPatch, RoomPatch, SimHotel, SimHousekeeping, SimSize, SimStatus};
pub use guard::{Denied, FaultConfig, Limits, Vendor, VendorCounters};

use data::IdStyle;
use guard::Guard;

/// One simulated property of a vendor and the credentials the simulator accepts for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertySetup {
    pub property_id: String,
    pub time_zone: Tz,
    pub currency: String,
    pub currency_exponent: u32,
    /// Vendor-specific: OHIP `clientId`, `clientSecret`, `appKey` (and optionally `username`,
    /// `password`, `externalSystemCode`); Mews `clientToken`,
    /// `accessToken`, `serviceId`; Cloudbeds `apiKey`.
    pub credentials: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimConfig {
    pub seed: u64,
    pub size: SimSize,
    pub limits: Limits,
    /// OHIP token lifetime (the real one is 3600 s).
    pub ohip_token_ttl_secs: u64,
    pub properties: BTreeMap<Vendor, Vec<PropertySetup>>,
    /// Properties of a vendor (by property id) that form one chain: their guest profiles (OPERA
    /// profiles, Mews customers) are the chain's, readable by id through any member's
    /// credentials, as at the real vendors. Properties in no chain keep their guests to
    /// themselves.
    #[serde(default)]
    pub chains: BTreeMap<Vendor, Vec<String>>,
}

fn creds(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for SimConfig {
    fn default() -> Self {
        let mut properties = BTreeMap::new();
        properties.insert(
            Vendor::Ohip,
            vec![PropertySetup {
                property_id: "SIMOHIP".into(),
                time_zone: chrono_tz::Europe::London,
                currency: "GBP".into(),
                currency_exponent: 2,
                credentials: creds(&[
                    ("clientId", "sim-ohip-client"),
                    ("clientSecret", "sim-ohip-secret"),
                    ("appKey", "6f1c5c5e-4a8a-4a55-9d2d-8d0f0f2b9a01"),
                    // Password grant (Resource Owner environments).
                    ("username", "SIM_INTEGRATION"),
                    ("password", "sim-ohip-password"),
                    // The business events consumer (OPERA Cloud > External Database).
                    ("externalSystemCode", "SIMEXT"),
                ]),
            }],
        );
        properties.insert(
            Vendor::Mews,
            vec![PropertySetup {
                property_id: "3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
                time_zone: chrono_tz::Pacific::Honolulu,
                currency: "USD".into(),
                currency_exponent: 2,
                credentials: creds(&[
                    ("clientToken", "sim-mews-client-token"),
                    ("accessToken", "sim-mews-access-token"),
                    ("serviceId", "bd26d8db-86da-4f96-9efc-e5a4654a4a94"),
                ]),
            }],
        );
        properties.insert(
            Vendor::Cloudbeds,
            vec![PropertySetup {
                property_id: "318267".into(),
                time_zone: chrono_tz::America::New_York,
                currency: "USD".into(),
                currency_exponent: 2,
                credentials: creds(&[("apiKey", "cbat_simulator_key_318267")]),
            }],
        );
        Self {
            seed: 42,
            size: SimSize::default(),
            limits: Limits::default(),
            ohip_token_ttl_secs: 3600,
            properties,
            chains: BTreeMap::new(),
        }
    }
}

/// Shared state of the running simulator.
pub struct SimContext {
    pub config: SimConfig,
    guard: Mutex<Guard>,
    hotels: Mutex<HashMap<(Vendor, String), SimHotel>>,
    rng: Mutex<Xoshiro256PlusPlus>,
    pub ohip: ohip::State,
    pub mews: mews::State,
    pub cloudbeds: cloudbeds::State,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn seed_hotels(config: &SimConfig) -> HashMap<(Vendor, String), SimHotel> {
    let now = Utc::now();
    let mut out = HashMap::new();
    for (vendor, props) in &config.properties {
        for (i, p) in props.iter().enumerate() {
            let style = if *vendor == Vendor::Mews {
                IdStyle::Guid
            } else {
                IdStyle::Numeric
            };
            let seed = config.seed ^ ((*vendor as u64 + 1) << 32) ^ i as u64;
            let hotel = SimHotel::seeded(
                &p.property_id,
                p.time_zone,
                &p.currency,
                p.currency_exponent,
                config.size,
                seed,
                style,
                now,
            );
            out.insert((*vendor, p.property_id.clone()), hotel);
        }
    }
    // Numeric ids are per property; a chain's profiles share one id space.
    for (vendor, chain) in &config.chains {
        for (k, property) in chain.iter().enumerate().skip(1) {
            if *vendor == Vendor::Mews {
                // GUIDs: unique already.
                continue;
            }
            if let Some(h) = out.get_mut(&(*vendor, property.clone())) {
                h.renumber_guests(&format!("{}", k + 1));
            }
        }
    }
    out
}

impl SimContext {
    pub fn new(config: SimConfig) -> Self {
        Self {
            guard: Mutex::new(Guard::new(config.limits.clone())),
            hotels: Mutex::new(seed_hotels(&config)),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(config.seed)),
            ohip: ohip::State::default(),
            mews: mews::State::default(),
            cloudbeds: cloudbeds::State::default(),
            config,
        }
    }

    /// Runs the guard for a request: counts it, waits any injected latency, and says whether it
    /// is refused (rate limit, storm, injected error or timeout). Call first in every handler.
    pub async fn admit(
        &self,
        vendor: Vendor,
        endpoint: &str,
        rate_key: &str,
    ) -> Result<(), Denied> {
        let roll: f64 = lock(&self.rng).random();
        let (delay, denied) =
            lock(&self.guard).check(vendor, endpoint, rate_key, Instant::now(), roll);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match denied {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// Whether reads of this entity are set to fail.
    pub fn entity_fails(&self, vendor: Vendor, id: &str) -> bool {
        lock(&self.guard).entity_fails(vendor, id)
    }

    pub fn count(&self, vendor: Vendor, f: impl FnOnce(&mut VendorCounters)) {
        f(lock(&self.guard).counters_mut(vendor));
    }

    pub fn property(&self, vendor: Vendor, property_id: &str) -> Option<&PropertySetup> {
        self.config
            .properties
            .get(&vendor)?
            .iter()
            .find(|p| p.property_id == property_id)
    }

    /// The property whose credential `key` has `value` (e.g. the Mews access token).
    pub fn property_by_credential(
        &self,
        vendor: Vendor,
        key: &str,
        value: &str,
    ) -> Option<&PropertySetup> {
        self.config
            .properties
            .get(&vendor)?
            .iter()
            .find(|p| p.credentials.get(key).is_some_and(|v| v == value))
    }

    /// Runs `f` on a property's data.
    /// The properties whose guest profiles `property`'s credentials read: itself first, then
    /// the other members of its chain.
    pub fn chain_of(&self, vendor: Vendor, property: &str) -> Vec<String> {
        let mut out = vec![property.to_owned()];
        if let Some(chain) = self.config.chains.get(&vendor) {
            if chain.iter().any(|p| p == property) {
                out.extend(chain.iter().filter(|p| *p != property).cloned());
            }
        }
        out
    }

    pub fn with_hotel<R>(
        &self,
        vendor: Vendor,
        property_id: &str,
        f: impl FnOnce(&mut SimHotel) -> R,
    ) -> Option<R> {
        lock(&self.hotels)
            .get_mut(&(vendor, property_id.to_owned()))
            .map(f)
    }

    pub fn counters(&self) -> BTreeMap<Vendor, VendorCounters> {
        let mut c = lock(&self.guard).counters.clone();
        for v in Vendor::ALL {
            c.entry(v).or_default();
        }
        c
    }

    pub fn reset(&self) {
        *lock(&self.hotels) = seed_hotels(&self.config);
        let limits = self.config.limits.clone();
        *lock(&self.guard) = Guard::new(limits);
        self.ohip.reset();
        self.mews.reset();
    }
}

// ---- admin API ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StormRequest {
    seconds: u64,
    #[serde(default = "one")]
    retry_after_secs: u64,
}

fn one() -> u64 {
    1
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"error": format!("{what} not found")})),
    )
        .into_response()
}

async fn admin_counters(
    State(ctx): State<Arc<SimContext>>,
) -> Json<BTreeMap<Vendor, VendorCounters>> {
    Json(ctx.counters())
}

async fn admin_set_faults(
    State(ctx): State<Arc<SimContext>>,
    Path(vendor): Path<Vendor>,
    Json(cfg): Json<FaultConfig>,
) -> StatusCode {
    let mut g = lock(&ctx.guard);
    let storm = g.faults.get(&vendor).and_then(|f| f.storm_until);
    let mut cfg = cfg;
    cfg.storm_until = storm;
    g.faults.insert(vendor, cfg);
    StatusCode::NO_CONTENT
}

async fn admin_storm(
    State(ctx): State<Arc<SimContext>>,
    Path(vendor): Path<Vendor>,
    Json(req): Json<StormRequest>,
) -> StatusCode {
    let mut g = lock(&ctx.guard);
    let f = g.faults.entry(vendor).or_default();
    f.storm_until = Some(Instant::now() + Duration::from_secs(req.seconds));
    f.storm_retry_after_secs = req.retry_after_secs;
    StatusCode::NO_CONTENT
}

async fn admin_clear_faults(State(ctx): State<Arc<SimContext>>) -> StatusCode {
    lock(&ctx.guard).faults.clear();
    StatusCode::NO_CONTENT
}

async fn admin_reset(State(ctx): State<Arc<SimContext>>) -> StatusCode {
    ctx.reset();
    StatusCode::NO_CONTENT
}

async fn admin_hotel(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property)): Path<(Vendor, String)>,
) -> Response {
    match ctx.with_hotel(vendor, &property, |h| h.clone()) {
        Some(h) => Json(h).into_response(),
        None => not_found("property"),
    }
}

async fn admin_patch_reservation(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property, id)): Path<(Vendor, String, String)>,
    Json(p): Json<ReservationPatch>,
) -> Response {
    let now = Utc::now();
    match ctx.with_hotel(vendor, &property, |h| {
        h.apply_reservation_patch(&id, &p, now)
    }) {
        Some(Some(r)) => {
            // OHIP publishes a business event for every change made at the PMS.
            if vendor == Vendor::Ohip {
                ctx.ohip
                    .reservation_changed(&property, &r, "UPDATE RESERVATION");
            }
            Json(r).into_response()
        }
        Some(None) => not_found("reservation or room"),
        None => not_found("property"),
    }
}

async fn admin_patch_room(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property, number)): Path<(Vendor, String, String)>,
    Json(p): Json<RoomPatch>,
) -> Response {
    let now = Utc::now();
    match ctx.with_hotel(vendor, &property, |h| h.apply_room_patch(&number, &p, now)) {
        Some(Some(room)) => Json(room).into_response(),
        Some(None) => not_found("room"),
        None => not_found("property"),
    }
}

async fn admin_add_reservation(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property)): Path<(Vendor, String)>,
    Json(r): Json<data::SimReservation>,
) -> Response {
    match ctx.with_hotel(vendor, &property, |h| {
        h.reservations.retain(|x| x.id != r.id);
        h.reservations.push(r.clone());
    }) {
        Some(()) => {
            if vendor == Vendor::Ohip {
                ctx.ohip
                    .reservation_changed(&property, &r, "NEW RESERVATION");
            }
            StatusCode::CREATED.into_response()
        }
        None => not_found("property"),
    }
}

async fn admin_expire_tokens(State(ctx): State<Arc<SimContext>>) -> StatusCode {
    ctx.ohip.expire_all();
    StatusCode::NO_CONTENT
}

pub fn router(ctx: Arc<SimContext>) -> Router {
    let admin = Router::new()
        .route("/counters", get(admin_counters))
        .route("/faults", axum::routing::delete(admin_clear_faults))
        .route("/faults/{vendor}", put(admin_set_faults))
        .route("/faults/{vendor}/storm", post(admin_storm))
        .route("/reset", post(admin_reset))
        .route("/ohip/expire-tokens", post(admin_expire_tokens))
        .route("/{vendor}/hotels/{property}", get(admin_hotel))
        .route(
            "/{vendor}/hotels/{property}/reservations",
            post(admin_add_reservation),
        )
        .route(
            "/{vendor}/hotels/{property}/reservations/{id}",
            patch(admin_patch_reservation),
        )
        .route(
            "/{vendor}/hotels/{property}/rooms/{number}",
            patch(admin_patch_room),
        );
    Router::new()
        .nest("/_admin", admin)
        .nest(ohip::PREFIX, ohip::router())
        .nest(mews::PREFIX, mews::router())
        .nest(cloudbeds::PREFIX, cloudbeds::router())
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            finish_abandoned,
        ))
        .with_state(ctx)
}

/// Runs a request detached from its connection while any vendor's faults ask for it
/// ([`FaultConfig::finish_abandoned`]), so a client's timeout does not stop it.
async fn finish_abandoned(
    State(ctx): State<Arc<SimContext>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let detached = lock(&ctx.guard).faults.values().any(|f| f.finish_abandoned);
    if !detached {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A running simulator.
pub struct Simulator {
    pub addr: SocketAddr,
    pub context: Arc<SimContext>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Starts on `addr` (use port 0 for a free one) in the current runtime.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let context = Arc::new(SimContext::new(config));
        let app = router(context.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Simulator {
            addr,
            context,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API root an adapter is configured with for `vendor`.
    pub fn vendor_url(&self, vendor: Vendor) -> String {
        vendor_url(&self.base_url(), vendor)
    }

    pub fn admin(&self) -> SimAdmin {
        SimAdmin::new(&self.base_url())
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The API root of a vendor on a simulator at `base`.
pub fn vendor_url(base: &str, vendor: Vendor) -> String {
    let base = base.trim_end_matches('/');
    match vendor {
        Vendor::Ohip => format!("{base}{}", ohip::PREFIX),
        Vendor::Mews => format!("{base}{}", mews::PREFIX),
        Vendor::Cloudbeds => format!("{base}{}", cloudbeds::API_ROOT),
    }
}

/// A client of the admin API, for tests and the chaos suite (works across processes).
#[derive(Clone)]
pub struct SimAdmin {
    http: reqwest::Client,
    base: String,
}

#[derive(Debug, thiserror::Error)]
#[error("simulator admin call failed: {0}")]
pub struct AdminError(String);

impl SimAdmin {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Option<T>, AdminError> {
        let resp = req.send().await.map_err(|e| AdminError(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(AdminError(format!(
                "HTTP {status}: {}",
                resp.text().await.unwrap_or_default()
            )));
        }
        if status == reqwest::StatusCode::NO_CONTENT || status == reqwest::StatusCode::CREATED {
            return Ok(None);
        }
        resp.json()
            .await
            .map(Some)
            .map_err(|e| AdminError(e.to_string()))
    }

    pub async fn counters(&self) -> Result<BTreeMap<Vendor, VendorCounters>, AdminError> {
        Ok(self
            .call(self.http.get(format!("{}/_admin/counters", self.base)))
            .await?
            .unwrap_or_default())
    }

    pub async fn set_faults(&self, vendor: Vendor, faults: &FaultConfig) -> Result<(), AdminError> {
        self.call::<()>(
            self.http
                .put(format!(
                    "{}/_admin/faults/{}",
                    self.base,
                    vendor_name(vendor)
                ))
                .json(faults),
        )
        .await
        .map(|_| ())
    }

    pub async fn storm(
        &self,
        vendor: Vendor,
        seconds: u64,
        retry_after_secs: u64,
    ) -> Result<(), AdminError> {
        let body = serde_json::json!({"seconds": seconds, "retryAfterSecs": retry_after_secs});
        self.call::<()>(
            self.http
                .post(format!(
                    "{}/_admin/faults/{}/storm",
                    self.base,
                    vendor_name(vendor)
                ))
                .json(&body),
        )
        .await
        .map(|_| ())
    }

    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        self.call::<()>(self.http.delete(format!("{}/_admin/faults", self.base)))
            .await
            .map(|_| ())
    }

    pub async fn reset(&self) -> Result<(), AdminError> {
        self.call::<()>(self.http.post(format!("{}/_admin/reset", self.base)))
            .await
            .map(|_| ())
    }

    pub async fn expire_ohip_tokens(&self) -> Result<(), AdminError> {
        self.call::<()>(
            self.http
                .post(format!("{}/_admin/ohip/expire-tokens", self.base)),
        )
        .await
        .map(|_| ())
    }

    pub async fn hotel(&self, vendor: Vendor, property: &str) -> Result<SimHotel, AdminError> {
        self.call(self.http.get(format!(
            "{}/_admin/{}/hotels/{property}",
            self.base,
            vendor_name(vendor)
        )))
        .await?
        .ok_or_else(|| AdminError("empty answer".into()))
    }

    pub async fn patch_reservation(
        &self,
        vendor: Vendor,
        property: &str,
        id: &str,
        patch: &ReservationPatch,
    ) -> Result<data::SimReservation, AdminError> {
        self.call(
            self.http
                .patch(format!(
                    "{}/_admin/{}/hotels/{property}/reservations/{id}",
                    self.base,
                    vendor_name(vendor)
                ))
                .json(patch),
        )
        .await?
        .ok_or_else(|| AdminError("empty answer".into()))
    }

    pub async fn patch_room(
        &self,
        vendor: Vendor,
        property: &str,
        number: &str,
        patch: &RoomPatch,
    ) -> Result<data::SimRoom, AdminError> {
        self.call(
            self.http
                .patch(format!(
                    "{}/_admin/{}/hotels/{property}/rooms/{number}",
                    self.base,
                    vendor_name(vendor)
                ))
                .json(patch),
        )
        .await?
        .ok_or_else(|| AdminError("empty answer".into()))
    }

    pub async fn add_reservation(
        &self,
        vendor: Vendor,
        property: &str,
        r: &data::SimReservation,
    ) -> Result<(), AdminError> {
        self.call::<()>(
            self.http
                .post(format!(
                    "{}/_admin/{}/hotels/{property}/reservations",
                    self.base,
                    vendor_name(vendor)
                ))
                .json(r),
        )
        .await
        .map(|_| ())
    }
}

fn vendor_name(v: Vendor) -> &'static str {
    match v {
        Vendor::Ohip => "ohip",
        Vendor::Mews => "mews",
        Vendor::Cloudbeds => "cloudbeds",
    }
}
