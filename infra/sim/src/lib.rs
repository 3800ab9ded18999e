//! `pms-sim`: every registered vendor's simulator (each vendor crate's `sim` module, through
//! `pms_vendors::simulators`) on one loopback port, with an admin API for faults, counters and
//! data changes "at the PMS", and a client of that API ([`SimAdmin`]) for tests and tools.

pub mod setup;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

pub use pms_domain::domain::Provider;
pub use pms_vendor_kit::sim::data;
pub use pms_vendor_kit::sim::{
    Denied, FaultConfig, Limits, PropertySetup, ReservationPatch, RoomPatch, SimConfig, SimContext,
    SimHotel, SimHousekeeping, SimSize, SimStatus, SimVendor, VendorCounters,
};

/// Every simulated vendor.
pub fn vendors() -> Vec<SimVendor> {
    pms_vendors::simulators()
}

/// The providers the simulator serves.
pub fn providers() -> Vec<Provider> {
    vendors().iter().map(|v| v.provider).collect()
}

/// Each vendor's default property and published limit.
pub fn default_config() -> SimConfig {
    SimConfig::for_vendors(&vendors())
}

/// The simulated vendor called `name` (or an alias of it: `ohip` is OPERA's API).
fn simulated(ctx: &SimContext, name: &str) -> Option<Provider> {
    let provider = pms_vendors::all().find(name).ok()?.provider();
    ctx.vendors()
        .iter()
        .any(|v| v.provider == provider)
        .then_some(provider)
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
) -> Json<BTreeMap<Provider, VendorCounters>> {
    Json(ctx.counters())
}

async fn admin_set_faults(
    State(ctx): State<Arc<SimContext>>,
    Path(vendor): Path<String>,
    Json(cfg): Json<FaultConfig>,
) -> Response {
    let Some(vendor) = simulated(&ctx, &vendor) else {
        return not_found("vendor");
    };
    ctx.set_faults(vendor, cfg);
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_storm(
    State(ctx): State<Arc<SimContext>>,
    Path(vendor): Path<String>,
    Json(req): Json<StormRequest>,
) -> Response {
    let Some(vendor) = simulated(&ctx, &vendor) else {
        return not_found("vendor");
    };
    ctx.storm(vendor, req.seconds, req.retry_after_secs);
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_clear_faults(State(ctx): State<Arc<SimContext>>) -> StatusCode {
    ctx.clear_faults();
    StatusCode::NO_CONTENT
}

async fn admin_reset(State(ctx): State<Arc<SimContext>>) -> StatusCode {
    ctx.reset();
    StatusCode::NO_CONTENT
}

async fn admin_hotel(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property)): Path<(String, String)>,
) -> Response {
    let Some(vendor) = simulated(&ctx, &vendor) else {
        return not_found("vendor");
    };
    match ctx.with_hotel(vendor, &property, |h| h.clone()) {
        Some(h) => Json(h).into_response(),
        None => not_found("property"),
    }
}

async fn admin_patch_reservation(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property, id)): Path<(String, String, String)>,
    Json(p): Json<ReservationPatch>,
) -> Response {
    let Some(vendor) = simulated(&ctx, &vendor) else {
        return not_found("vendor");
    };
    let now = Utc::now();
    match ctx.with_hotel(vendor, &property, |h| {
        h.apply_reservation_patch(&id, &p, now)
    }) {
        Some(Some(r)) => {
            ctx.reservation_changed(vendor, &property, &r, "UPDATE RESERVATION");
            Json(r).into_response()
        }
        Some(None) => not_found("reservation or room"),
        None => not_found("property"),
    }
}

async fn admin_patch_room(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property, number)): Path<(String, String, String)>,
    Json(p): Json<RoomPatch>,
) -> Response {
    let Some(vendor) = simulated(&ctx, &vendor) else {
        return not_found("vendor");
    };
    let now = Utc::now();
    match ctx.with_hotel(vendor, &property, |h| h.apply_room_patch(&number, &p, now)) {
        Some(Some(room)) => Json(room).into_response(),
        Some(None) => not_found("room"),
        None => not_found("property"),
    }
}

async fn admin_add_reservation(
    State(ctx): State<Arc<SimContext>>,
    Path((vendor, property)): Path<(String, String)>,
    Json(r): Json<data::SimReservation>,
) -> Response {
    let Some(vendor) = simulated(&ctx, &vendor) else {
        return not_found("vendor");
    };
    match ctx.with_hotel(vendor, &property, |h| {
        h.reservations.retain(|x| x.id != r.id);
        h.reservations.push(r.clone());
    }) {
        Some(()) => {
            ctx.reservation_changed(vendor, &property, &r, "NEW RESERVATION");
            StatusCode::CREATED.into_response()
        }
        None => not_found("property"),
    }
}

/// The simulator's routes: the admin API under `/_admin` (each vendor's own admin routes under
/// `/_admin/{provider}`), and each vendor's API under its prefix.
pub fn router(ctx: Arc<SimContext>) -> Router {
    let mut admin = Router::new()
        .route("/counters", get(admin_counters))
        .route("/faults", axum::routing::delete(admin_clear_faults))
        .route("/faults/{vendor}", put(admin_set_faults))
        .route("/faults/{vendor}/storm", post(admin_storm))
        .route("/reset", post(admin_reset))
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
    let mut app = Router::new();
    for v in ctx.vendors() {
        if let Some(own) = v.admin {
            admin = admin.nest(&format!("/{}", v.provider), own());
        }
        app = app.nest(v.prefix, (v.router)());
    }
    app.nest("/_admin", admin)
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
    if !ctx.finishes_abandoned() {
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
        let context = Arc::new(SimContext::new(config, vendors()));
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
    pub fn vendor_url(&self, vendor: Provider) -> String {
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

/// The API root of a vendor on a simulator at `base` (the simulator's address when the vendor
/// is not simulated).
pub fn vendor_url(base: &str, vendor: Provider) -> String {
    let base = base.trim_end_matches('/');
    let root = vendors()
        .into_iter()
        .find(|v| v.provider == vendor)
        .map(|v| v.api_root)
        .unwrap_or_default();
    format!("{base}{root}")
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

    pub async fn counters(&self) -> Result<BTreeMap<Provider, VendorCounters>, AdminError> {
        Ok(self
            .call(self.http.get(format!("{}/_admin/counters", self.base)))
            .await?
            .unwrap_or_default())
    }

    pub async fn set_faults(
        &self,
        vendor: Provider,
        faults: &FaultConfig,
    ) -> Result<(), AdminError> {
        self.call::<()>(
            self.http
                .put(format!("{}/_admin/faults/{}", self.base, vendor))
                .json(faults),
        )
        .await
        .map(|_| ())
    }

    pub async fn storm(
        &self,
        vendor: Provider,
        seconds: u64,
        retry_after_secs: u64,
    ) -> Result<(), AdminError> {
        let body = serde_json::json!({"seconds": seconds, "retryAfterSecs": retry_after_secs});
        self.call::<()>(
            self.http
                .post(format!("{}/_admin/faults/{}/storm", self.base, vendor))
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

    /// Runs one of a vendor's own admin actions (`POST /_admin/{vendor}/{action}`), such as
    /// OPERA's `expire-tokens`.
    pub async fn vendor_action(&self, vendor: Provider, action: &str) -> Result<(), AdminError> {
        self.call::<()>(
            self.http
                .post(format!("{}/_admin/{vendor}/{action}", self.base)),
        )
        .await
        .map(|_| ())
    }

    pub async fn hotel(&self, vendor: Provider, property: &str) -> Result<SimHotel, AdminError> {
        self.call(
            self.http
                .get(format!("{}/_admin/{}/hotels/{property}", self.base, vendor)),
        )
        .await?
        .ok_or_else(|| AdminError("empty answer".into()))
    }

    pub async fn patch_reservation(
        &self,
        vendor: Provider,
        property: &str,
        id: &str,
        patch: &ReservationPatch,
    ) -> Result<data::SimReservation, AdminError> {
        self.call(
            self.http
                .patch(format!(
                    "{}/_admin/{}/hotels/{property}/reservations/{id}",
                    self.base, vendor
                ))
                .json(patch),
        )
        .await?
        .ok_or_else(|| AdminError("empty answer".into()))
    }

    pub async fn patch_room(
        &self,
        vendor: Provider,
        property: &str,
        number: &str,
        patch: &RoomPatch,
    ) -> Result<data::SimRoom, AdminError> {
        self.call(
            self.http
                .patch(format!(
                    "{}/_admin/{}/hotels/{property}/rooms/{number}",
                    self.base, vendor
                ))
                .json(patch),
        )
        .await?
        .ok_or_else(|| AdminError("empty answer".into()))
    }

    pub async fn add_reservation(
        &self,
        vendor: Provider,
        property: &str,
        r: &data::SimReservation,
    ) -> Result<(), AdminError> {
        self.call::<()>(
            self.http
                .post(format!(
                    "{}/_admin/{}/hotels/{property}/reservations",
                    self.base, vendor
                ))
                .json(r),
        )
        .await
        .map(|_| ())
    }
}
