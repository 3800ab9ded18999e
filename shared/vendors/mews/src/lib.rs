//! The Mews Connector API adapter.
//!
//! - [`transport`]: auth in the body, `Request-Id`, errors, cursor pagination, interval windows,
//!   rate limiting (through [`pms_vendor_kit::pms::http::VendorHttp`]).
//! - [`wire`]: the Mews JSON records.
//! - [`mapping`]: Mews records -> canonical model (status tables, business dates).
//!
//! What Mews can and cannot do, as this adapter reports it in [`PmsAdapter::capabilities`]:
//! - Guest search by name (exact first/last names, `FirstNames`/`LastNames`) and email
//!   (`Emails`); Mews has **no phone filter**, so a phone-only search is `Unsupported` (a phone
//!   given with a name or email narrows the results here).
//! - Preferences: `Classifications` and `Options` (Mews enums) and `DietaryRequirements` are
//!   Mews fields and round-trip as such; every other preference is kept as a line in a block of
//!   the customer's `Notes` that staff can read, and reads back from it. `PreferredSpaceFeatures`
//!   is read-only in Mews (`customers/update` has no such field): it is read, and a written
//!   room-feature wish goes to the notes block.
//! - Balance: Mews has no balance endpoint. See [`MewsAdapter::get_balance`] for the formula.
//! - Charges: `orders/add` has no idempotency key; our reference goes in the item's
//!   `ExternalIdentifier`, which is what [`PmsAdapter::find_charge`] matches (the order's
//!   `Notes` repeat it for people, but notes are free text a partner's description is part of,
//!   so they are never matched).

mod availability;
pub mod credentials;
#[cfg(any(test, feature = "testing"))]
pub mod decode;
mod mapping;
#[cfg(feature = "sim")]
pub mod sim;
mod transport;
pub mod webhook;
mod wire;

pub use mapping::{housekeeping, reservation_status, RESERVATION_STATES, RESOURCE_STATES};
pub use transport::{split_windows, token_fingerprint, MAX_WINDOW};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use self::credentials::MewsCredentials;
use self::mapping::{Lookups, PreferenceTarget};
use self::transport::{MewsTransport, Retry};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{
    BusinessDate, Capabilities, Charge, ChargeReceipt, CheckoutChange, ConfirmationNumber,
    Currency, DeltaSupport, ExternalId, Guest, GuestQuery, HealthStatus, HotelId, Money, Note,
    PmsAvailability, Preference, PropertyTz, Provider, RecordId, Reservation, RoomNumber,
    RoomStatus, WriteReceipt,
};
use pms_domain::pms::{
    ChangeWindow, EntityKind, EntityRef, Fetched, ItemFailure, ListRead, Page, PageCursor,
    PmsAdapter, PmsError, PmsResult, Refreshed,
};
use pms_domain::ports::Clock;
use pms_vendor_kit::pms::degraded::optional;
use pms_vendor_kit::pms::factory::AdapterDeps;
use pms_vendor_kit::pms::known::{self, StoredReservations};
use pms_vendor_kit::pms::ratelimit::{DistributedLimiter, RateLimiter};
use pms_vendor_kit::pms::refcache::TableRefCache;
use pms_vendor_kit::pms::VendorBuilder;

/// Customers asked per `customers/getAll` call when enriching reservations: the most Mews takes
/// (`CustomerIds`, max 1000 items, operations/customers.md). A response Mews finds too heavy
/// (408) is asked again in smaller pages by the transport, so the batch need not be smaller.
pub const CUSTOMER_BATCH: usize = 1000;
/// The reservations listing every sync read goes through.
const RESERVATIONS_GET_ALL: &str = "reservations/getAll/2023-06-06";

/// Where a paged Mews listing stands, kept between worker invocations as a [`PageCursor`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListingCursor {
    /// Which window of the read's interval (split at [`MAX_WINDOW`]) is being read.
    pub window: usize,
    /// Mews' `Limitation.Cursor` within that window (`None`: the window's first page).
    pub cursor: Option<String>,
}
/// Ids per call for the light lookups (resources, notes, reservations, order items).
pub const ID_BATCH: usize = 1000;
/// Default `Limitation.Count` of listings: the most Mews serves, so a sync reads as few pages
/// as it can.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// How long rates, resource categories, age categories and resource names are reused, by every
/// invocation through the table (Mews' best practices ask to cache such rarely changing data).
pub const REFERENCE_TTL: chrono::Duration = chrono::Duration::hours(1);

/// Reference data cached in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RefKind {
    Rate,
    Category,
    AgeCategory,
}

impl RefKind {
    fn name(self) -> &'static str {
        match self {
            RefKind::Rate => "rates",
            RefKind::Category => "resourceCategories",
            RefKind::AgeCategory => "ageCategories",
        }
    }
}

pub struct MewsAdapter {
    t: MewsTransport,
    tz: PropertyTz,
    currency: Currency,
    enterprise_id: Option<String>,
    service_id: String,
    accounting_category: Option<String>,
    tax_code: Option<String>,
    page_size: u32,
    clock: Arc<dyn Clock>,
    hotel: HotelId,
    refs: TableRefCache,
    /// What the sync last stored, so unchanged reservations are not looked up again.
    stored: Option<Arc<dyn StoredReservations>>,
    /// `Gross` or `Net`, from `configuration/get`, once known.
    pricing: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Mews, as records, keys and configurations name it.
pub const PROVIDER: Provider = Provider::named("mews");

/// Builds a hotel's adapter from its stored credentials.
pub fn builder() -> VendorBuilder {
    Arc::new(|config, secret, deps| {
        let credentials = MewsCredentials::parse(secret).map_err(|e| PmsError::Configuration {
            message: e.to_string(),
        })?;
        Ok(Arc::new(MewsAdapter::new(config, credentials, deps)?) as Arc<dyn PmsAdapter>)
    })
}

/// This vendor, as a build registers it (`pms-vendors`). Mews limits each access token to 200
/// requests per 30 seconds (Connector API, "Request limits").
pub fn vendor() -> pms_vendor_kit::pms::Vendor {
    pms_vendor_kit::pms::Vendor::new(PROVIDER, credentials::schema(), builder())
        .with_rate_limit(200, 30)
}

/// Mews pushes general webhooks (thin events; no id of their own, so a repeat is recognised
/// only while its refresh is pending).
pub fn webhook() -> Option<pms_vendor_kit::webhooks::WebhookVendor> {
    Some(pms_vendor_kit::webhooks::WebhookVendor {
        provider: PROVIDER,
        parse: webhook::parse,
        openapi: include_str!("../webhook.openapi.json"),
    })
}

fn chunks<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
    items.chunks(size.max(1)).map(<[T]>::to_vec).collect()
}

/// Decodes raw items; undecodable ones become failures named by their `Id` when it is there.
fn decode_items<T: serde::de::DeserializeOwned>(
    raw: Vec<Value>,
    what: &str,
) -> (Vec<T>, Vec<ItemFailure>) {
    let mut ok = Vec::with_capacity(raw.len());
    let mut failures = Vec::new();
    for v in raw {
        let id = v
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        match serde_json::from_value::<T>(v) {
            Ok(item) => ok.push(item),
            Err(e) => {
                tracing::warn!(id = %id, error = %classify(&e), "{what} could not be read");
                failures.push(ItemFailure {
                    id,
                    code: "PMS_PROTOCOL".into(),
                    message: format!("{what} does not match the Mews schema ({})", classify(&e)),
                })
            }
        }
    }
    (ok, failures)
}

/// serde's category and position only (its message can quote values).
fn classify(e: &serde_json::Error) -> String {
    format!(
        "{:?} at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

impl MewsAdapter {
    pub fn new(
        config: &HotelConfig,
        credentials: MewsCredentials,
        deps: &AdapterDeps,
    ) -> PmsResult<Self> {
        let base = config
            .vendor
            .base_url
            .as_ref()
            .ok_or_else(|| PmsError::Configuration {
                message: format!("{} has no Mews platform address (baseUrl)", config.hotel_id),
            })?;
        let service_id = config
            .vendor
            .service_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| PmsError::Configuration {
                message: format!(
                    "{} has no Mews serviceId (the stay service reservations and charges belong to)",
                    config.hotel_id
                ),
            })?;
        let fingerprint = token_fingerprint(&credentials.access_token);
        // Mews limits per access token; the budget is shared by every Lambda of the hotel.
        let limiter: Option<Arc<dyn RateLimiter>> = match (&deps.store, &config.rate_limit) {
            (Some(store), Some(limit)) => Some(Arc::new(
                DistributedLimiter::new(
                    store.clone(),
                    deps.clock.clone(),
                    config.hotel_id.clone(),
                    format!("mews#{fingerprint}"),
                    limit,
                )
                .with_priority(deps.priority),
            )),
            _ => None,
        };
        let t = MewsTransport::new(
            base.as_str(),
            credentials,
            deps.http.clone(),
            deps.retry_policy(config),
            limiter,
            Some((deps.secrets.clone(), deps.credentials_secret.clone())),
        )?;
        Ok(Self {
            t,
            tz: config.time_zone,
            currency: config.currency,
            // Every request is scoped to the enterprise: a portfolio token never reads another
            // property's data through this hotel.
            enterprise_id: Some(
                config
                    .vendor
                    .property_id
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| PmsError::Configuration {
                        message: format!(
                            "{} has no Mews enterprise id (propertyId)",
                            config.hotel_id
                        ),
                    })?,
            ),
            service_id,
            accounting_category: config
                .vendor
                .default_revenue_center
                .clone()
                .filter(|s| !s.trim().is_empty()),
            tax_code: config
                .vendor
                .tax_code
                .clone()
                .filter(|s| !s.trim().is_empty()),
            page_size: DEFAULT_PAGE_SIZE,
            clock: deps.clock.clone(),
            hotel: config.hotel_id.clone(),
            refs: TableRefCache::new(
                deps.store.clone(),
                deps.clock.clone(),
                config.hotel_id.clone(),
                PROVIDER.as_str(),
                REFERENCE_TTL,
            ),
            stored: deps.stored.clone(),
            pricing: Mutex::new(None),
        })
    }

    /// Pages of `count` items (1 to 1000) for listings; tests use small pages.
    pub fn with_page_size(mut self, count: u32) -> Self {
        self.page_size = count.clamp(1, 1000);
        self
    }

    /// Adds `EnterpriseIds` so a portfolio access token reads only this hotel (harmless for a
    /// single-enterprise token, whose data is that enterprise's).
    fn scoped(&self, mut body: Value) -> Value {
        if let (Some(e), Some(obj)) = (&self.enterprise_id, body.as_object_mut()) {
            obj.insert("EnterpriseIds".into(), json!([e]));
        }
        body
    }

    fn with_enterprise(&self, mut body: Value) -> Value {
        if let (Some(e), Some(obj)) = (&self.enterprise_id, body.as_object_mut()) {
            obj.insert("EnterpriseId".into(), json!(e));
        }
        body
    }

    // ---- configuration ---------------------------------------------------------------------

    async fn configuration(&self) -> PmsResult<wire::Configuration> {
        let (cfg, _) = self
            .t
            .call_json::<wire::Configuration>(
                "configuration/get",
                self.with_enterprise(json!({})),
                Retry::Policy,
            )
            .await?;
        if let Some(expected) = &self.enterprise_id {
            if !cfg.enterprise.id.eq_ignore_ascii_case(expected) {
                return Err(PmsError::Configuration {
                    message: format!(
                        "the Mews access token is for enterprise {}, not the configured {}",
                        cfg.enterprise.id, expected
                    ),
                });
            }
        }
        if let Some(zone) = &cfg.enterprise.time_zone_identifier {
            if zone != self.tz.name() {
                tracing::warn!(
                    mews_zone = %zone,
                    configured_zone = %self.tz,
                    "the Mews enterprise time zone differs from the hotel configuration"
                );
            }
        }
        *lock(&self.pricing) = cfg.enterprise.pricing.clone();
        Ok(cfg)
    }

    /// `Gross` or `Net`: which value of an amount Mews requires for this enterprise
    /// (`_objects.md#amount-parameters`).
    async fn pricing(&self) -> PmsResult<String> {
        if let Some(p) = lock(&self.pricing).clone() {
            return Ok(p);
        }
        let cfg = self.configuration().await?;
        Ok(cfg.enterprise.pricing.unwrap_or_else(|| "Gross".into()))
    }

    // ---- reference data ------------------------------------------------------------------

    async fn references(
        &self,
        kind: RefKind,
        ids: &BTreeSet<String>,
    ) -> PmsResult<HashMap<String, String>> {
        self.refs
            .lookup(kind.name(), ids, |missing| async move {
                let mut found = HashMap::new();
                for batch in chunks(&missing, ID_BATCH) {
                    found.extend(self.fetch_references(kind, batch).await?);
                }
                Ok(found)
            })
            .await
    }

    async fn fetch_references(
        &self,
        kind: RefKind,
        batch: Vec<String>,
    ) -> PmsResult<HashMap<String, Option<String>>> {
        let (op, key, body): (&'static str, &str, Value) = match kind {
            RefKind::Rate => (
                "rates/getAll",
                "Rates",
                json!({
                    "ServiceIds": [self.service_id],
                    "RateIds": batch,
                    "Extent": {"Rates": true, "AvailabilityBlockAssignments": false},
                }),
            ),
            RefKind::Category => (
                "resourceCategories/getAll",
                "ResourceCategories",
                json!({"ServiceIds": [self.service_id], "ResourceCategoryIds": batch}),
            ),
            RefKind::AgeCategory => (
                "ageCategories/getAll",
                "AgeCategories",
                json!({"ServiceIds": [self.service_id], "AgeCategoryIds": batch}),
            ),
        };
        let raw = self
            .t
            .get_all(
                op,
                self.scoped(body),
                key,
                self.page_size,
                Some(batch.len()),
            )
            .await?;
        Ok(match kind {
            RefKind::Rate => decode_items::<wire::Rate>(raw, "rate")
                .0
                .iter()
                .map(|r| (r.id.clone(), mapping::rate_code(r)))
                .collect(),
            RefKind::Category => decode_items::<wire::ResourceCategory>(raw, "resource category")
                .0
                .iter()
                .map(|c| (c.id.clone(), mapping::category_code(c)))
                .collect(),
            RefKind::AgeCategory => decode_items::<wire::AgeCategory>(raw, "age category")
                .0
                .into_iter()
                .map(|a| (a.id, a.classification))
                .collect(),
        })
    }

    /// Resource id -> name (room number), through the table's reference cache.
    async fn resource_names(&self, ids: &BTreeSet<String>) -> PmsResult<HashMap<String, String>> {
        self.refs
            .lookup("resources", ids, |missing| async move {
                Ok(self
                    .resources_by_id(&missing)
                    .await?
                    .into_iter()
                    .map(|r| (r.id, Some(r.name)))
                    .collect())
            })
            .await
    }

    // ---- lookups --------------------------------------------------------------------------

    async fn customers_by_id(&self, ids: &[String]) -> PmsResult<Vec<wire::Customer>> {
        let mut out = Vec::new();
        for batch in chunks(ids, CUSTOMER_BATCH) {
            let raw = self
                .t
                .get_all(
                    "customers/getAll",
                    json!({
                        "CustomerIds": batch,
                        "Extent": {"Customers": true, "Addresses": false},
                    }),
                    "Customers",
                    self.page_size,
                    Some(batch.len()),
                )
                .await?;
            out.extend(decode_items::<wire::Customer>(raw, "customer").0);
        }
        Ok(out)
    }

    async fn resources_by_id(&self, ids: &[String]) -> PmsResult<Vec<wire::Resource>> {
        let mut out = Vec::new();
        for batch in chunks(ids, ID_BATCH) {
            let raw = self
                .t
                .get_all(
                    "resources/getAll",
                    self.scoped(json!({
                        "ResourceIds": batch,
                        "Extent": {"Resources": true, "Inactive": true},
                    })),
                    "Resources",
                    self.page_size,
                    Some(batch.len()),
                )
                .await?;
            out.extend(decode_items::<wire::Resource>(raw, "resource").0);
        }
        Ok(out)
    }

    async fn notes_of(
        &self,
        ids: &[String],
    ) -> PmsResult<HashMap<String, Vec<wire::ServiceOrderNote>>> {
        let mut out: HashMap<String, Vec<wire::ServiceOrderNote>> = HashMap::new();
        for batch in chunks(ids, ID_BATCH) {
            let raw = self
                .t
                .get_all(
                    "serviceOrderNotes/getAll",
                    self.scoped(json!({
                        "ServiceOrderIds": batch,
                        "Types": ["General", "ChannelManager", "SpecialRequest"],
                    })),
                    "ServiceOrderNotes",
                    self.page_size,
                    None,
                )
                .await?;
            for n in decode_items::<wire::ServiceOrderNote>(raw, "service order note").0 {
                out.entry(n.order_id.clone()).or_default().push(n);
            }
        }
        Ok(out)
    }

    /// Everything reservations need beyond themselves, in as few calls as Mews allows: one
    /// `customers/getAll` per [`CUSTOMER_BATCH`] guests, one `resources/getAll` and one
    /// `serviceOrderNotes/getAll` per 1000 reservations, and reference data from the cache.
    async fn enrich(&self, rs: &[wire::Reservation]) -> PmsResult<Lookups> {
        let mut customers = BTreeSet::new();
        let mut resources = BTreeSet::new();
        let mut rates = BTreeSet::new();
        let mut categories = BTreeSet::new();
        let mut ages = BTreeSet::new();
        for r in rs {
            if let Some(a) = &r.account_id {
                if r.account_type.as_deref().unwrap_or("Customer") == "Customer" {
                    customers.insert(a.clone());
                }
            }
            if let Some(x) = &r.assigned_resource_id {
                resources.insert(x.clone());
            }
            if let Some(x) = &r.rate_id {
                rates.insert(x.clone());
            }
            if let Some(x) = &r.requested_resource_category_id {
                categories.insert(x.clone());
            }
            for pc in &r.person_counts {
                ages.insert(pc.age_category_id.clone());
            }
        }
        let ids: Vec<String> = rs.iter().map(|r| r.id.clone()).collect();
        let customers: Vec<String> = customers.into_iter().collect();
        // Each lookup is optional: a token scoped without one of these operations still reads
        // reservations (see `degraded`).
        let (cs, res, notes, rates, categories, ages) = futures::try_join!(
            optional(PROVIDER, "customers", self.customers_by_id(&customers)),
            optional(PROVIDER, "resources", self.resource_names(&resources)),
            optional(PROVIDER, "serviceOrderNotes", self.notes_of(&ids)),
            optional(PROVIDER, "rates", self.references(RefKind::Rate, &rates)),
            optional(
                PROVIDER,
                "resourceCategories",
                self.references(RefKind::Category, &categories)
            ),
            optional(
                PROVIDER,
                "ageCategories",
                self.references(RefKind::AgeCategory, &ages)
            ),
        )?;
        Ok(Lookups {
            customers: cs.into_iter().map(|c| (c.id.clone(), c)).collect(),
            resources: res,
            notes,
            rates,
            categories,
            age_categories: ages,
        })
    }

    // ---- reservations ---------------------------------------------------------------------

    fn reservation_body(&self, filter: Value) -> Value {
        let mut body = self.scoped(filter);
        if let Some(obj) = body.as_object_mut() {
            obj.insert("ServiceIds".into(), json!([self.service_id]));
        }
        body
    }

    /// Raw reservations for a filter, decoded, deduplicated.
    async fn wire_reservations(
        &self,
        filter: Value,
        window: Option<(&str, DateTime<Utc>, DateTime<Utc>)>,
        expect: Option<usize>,
    ) -> PmsResult<(Vec<wire::Reservation>, Vec<ItemFailure>)> {
        const OP: &str = RESERVATIONS_GET_ALL;
        let body = self.reservation_body(filter);
        let raw = match window {
            Some((field, from, to)) => {
                self.t
                    .get_all_windows(OP, body, field, from, to, "Reservations", self.page_size)
                    .await?
            }
            None => {
                self.t
                    .get_all(OP, body, "Reservations", self.page_size, expect)
                    .await?
            }
        };
        let (items, failures) = decode_items::<wire::Reservation>(raw, "reservation");
        let mut seen = HashSet::new();
        let items = items
            .into_iter()
            .filter(|r| seen.insert(r.id.clone()))
            .collect();
        Ok((items, failures))
    }

    /// Reservations for a filter, enriched and mapped; records that cannot be mapped are
    /// reported as failures, never hidden.
    async fn reservations(
        &self,
        filter: Value,
        window: Option<(&str, DateTime<Utc>, DateTime<Utc>)>,
        expect: Option<usize>,
    ) -> PmsResult<Fetched<Reservation>> {
        self.read_reservations(filter, window, expect, false).await
    }

    /// A list read of the sync's: a reservation whose `UpdatedUtc` is the version already
    /// stored is answered with the stored copy, so only changed ones cost customer, note and
    /// resource lookups. (A customer edited without its reservation is picked up when the
    /// reservation next changes, or by a refresh.)
    async fn listing(
        &self,
        filter: Value,
        window: Option<(&str, DateTime<Utc>, DateTime<Utc>)>,
    ) -> PmsResult<Fetched<Reservation>> {
        self.read_reservations(filter, window, None, true).await
    }

    async fn read_reservations(
        &self,
        filter: Value,
        window: Option<(&str, DateTime<Utc>, DateTime<Utc>)>,
        expect: Option<usize>,
        reuse: bool,
    ) -> PmsResult<Fetched<Reservation>> {
        let (raw, failures) = self.wire_reservations(filter, window, expect).await?;
        self.complete(raw, failures, reuse).await
    }

    /// One page of a sync listing (see [`PmsAdapter::reservations_page`]): one
    /// `reservations/getAll` request from `cursor`, then the page's lookups, as
    /// [`Self::listing`] does for a whole listing.
    async fn listing_page(
        &self,
        filter: Value,
        window: Option<(&str, DateTime<Utc>, DateTime<Utc>)>,
        cursor: Option<&PageCursor>,
    ) -> PmsResult<Page<Reservation>> {
        let at: ListingCursor = cursor
            .map(PageCursor::decode)
            .transpose()?
            .unwrap_or_default();
        let mut body = self.reservation_body(filter);
        let windows = window.map(|(field, from, to)| (field, split_windows(from, to, MAX_WINDOW)));
        if let Some((field, windows)) = &windows {
            let Some((start, end)) = windows.get(at.window) else {
                return Ok(Page::default());
            };
            if let Some(obj) = body.as_object_mut() {
                obj.insert(
                    (*field).to_owned(),
                    json!(wire::TimeInterval::new(*start, *end)),
                );
            }
        }
        let (raw, next) = self
            .t
            .get_page(
                RESERVATIONS_GET_ALL,
                body,
                "Reservations",
                self.page_size,
                at.cursor.as_deref(),
            )
            .await?;
        let (items, failures) = decode_items::<wire::Reservation>(raw, "reservation");
        let mut seen = HashSet::new();
        let items = items
            .into_iter()
            .filter(|r| seen.insert(r.id.clone()))
            .collect();
        let fetched = self.complete(items, failures, true).await?;
        let windows = windows.map_or(1, |(_, w)| w.len());
        let next = match next {
            Some(c) => Some(ListingCursor {
                window: at.window,
                cursor: Some(c),
            }),
            None if at.window + 1 < windows => Some(ListingCursor {
                window: at.window + 1,
                cursor: None,
            }),
            None => None,
        };
        Ok(Page {
            fetched,
            next: next.as_ref().map(PageCursor::encode).transpose()?,
        })
    }

    /// Maps raw reservations: stored copies for unchanged ones when `reuse`, lookups for the
    /// rest; records that cannot be mapped are reported as failures, never hidden.
    async fn complete(
        &self,
        raw: Vec<wire::Reservation>,
        mut failures: Vec<ItemFailure>,
        reuse: bool,
    ) -> PmsResult<Fetched<Reservation>> {
        let mut items = Vec::with_capacity(raw.len());
        let mut known = if reuse {
            let wanted: Vec<(RecordId, u64)> = raw
                .iter()
                .filter_map(|r| {
                    let id = ExternalId::parse(r.id.as_str()).ok()?;
                    Some((
                        RecordId::new(PROVIDER, id),
                        Reservation::version_from(r.updated_utc),
                    ))
                })
                .collect();
            known::unchanged(self.stored.as_deref(), &self.hotel, &wanted).await
        } else {
            HashMap::new()
        };
        let raw: Vec<wire::Reservation> = raw
            .into_iter()
            .filter(|r| {
                let stored = ExternalId::parse(r.id.as_str())
                    .ok()
                    .and_then(|id| known.remove(&RecordId::new(PROVIDER, id)));
                match stored {
                    Some(stored) => {
                        items.push(stored);
                        false
                    }
                    None => true,
                }
            })
            .collect();
        let lookups = self.enrich(&raw).await?;
        for r in &raw {
            match mapping::reservation(r, self.tz, &lookups) {
                Ok(m) => items.push(m),
                Err(e) => failures.push(ItemFailure {
                    id: r.id.clone(),
                    code: e.code().into(),
                    message: e.to_string(),
                }),
            }
        }
        Ok(Fetched { items, failures })
    }

    async fn one_reservation(&self, filter: Value) -> PmsResult<Option<Reservation>> {
        let fetched = self.reservations(filter, None, Some(1)).await?;
        if let Some(r) = fetched.items.into_iter().next() {
            return Ok(Some(r));
        }
        match fetched.failures.into_iter().next() {
            Some(f) => Err(PmsError::protocol(f.message)),
            None => Ok(None),
        }
    }

    /// The Mews reservation behind a confirmation number (for writes; not enriched).
    async fn find_wire(&self, confirmation: &ConfirmationNumber) -> PmsResult<wire::Reservation> {
        let (mut items, failures) = self
            .wire_reservations(json!({"Numbers": [confirmation.as_str()]}), None, Some(1))
            .await?;
        if let Some(r) = items.pop() {
            return Ok(r);
        }
        match failures.into_iter().next() {
            Some(f) => Err(PmsError::protocol(f.message)),
            None => Err(PmsError::not_found(format!("reservation {confirmation}"))),
        }
    }

    /// Ids of resources with a started (checked-in) reservation, among `resource_ids` or all.
    async fn occupied(&self, resource_ids: Option<&[String]>) -> PmsResult<HashSet<String>> {
        let mut out = HashSet::new();
        let batches = match resource_ids {
            Some(ids) => chunks(ids, ID_BATCH).into_iter().map(Some).collect(),
            None => vec![None],
        };
        for batch in batches {
            let mut filter = json!({"States": ["Started"]});
            if let Some(ids) = &batch {
                filter["AssignedResourceIds"] = json!(ids);
            }
            let (rs, _) = self.wire_reservations(filter, None, None).await?;
            out.extend(rs.into_iter().filter_map(|r| r.assigned_resource_id));
        }
        Ok(out)
    }

    async fn rooms(&self, filter: Value, expect: Option<usize>) -> PmsResult<Vec<wire::Resource>> {
        let inactive = filter.get("ResourceIds").is_some();
        let mut body = self.scoped(filter);
        body["Extent"] = json!({"Resources": true, "Inactive": inactive});
        let raw = self
            .t
            .get_all(
                "resources/getAll",
                body,
                "Resources",
                self.page_size,
                expect,
            )
            .await?;
        Ok(decode_items::<wire::Resource>(raw, "resource").0)
    }

    /// Product service orders (what `orders/add` created) linked to a reservation.
    async fn linked_orders(&self, reservation_id: &str) -> PmsResult<Vec<String>> {
        let raw = self
            .t
            .get_all(
                "productServiceOrders/getAll",
                self.scoped(json!({
                    "ServiceIds": [self.service_id],
                    "LinkedReservationIds": [reservation_id],
                })),
                "ProductServiceOrders",
                self.page_size,
                None,
            )
            .await?;
        Ok(
            decode_items::<wire::ProductServiceOrder>(raw, "product service order")
                .0
                .into_iter()
                .filter(|o| {
                    o.linked_reservation_id
                        .as_deref()
                        .is_none_or(|l| l == reservation_id)
                })
                .map(|o| o.id)
                .collect(),
        )
    }

    async fn order_items(
        &self,
        service_order_ids: &[String],
        open_only: bool,
    ) -> PmsResult<Vec<wire::OrderItem>> {
        let mut out = Vec::new();
        for batch in chunks(service_order_ids, ID_BATCH) {
            let mut body = json!({
                "ServiceOrderIds": batch,
                // Amounts converted to the hotel's currency, so they can be summed.
                "Currency": self.currency.code(),
            });
            if open_only {
                body["AccountingStates"] = json!(["Open"]);
            }
            let raw = self
                .t
                .get_all(
                    "orderItems/getAll",
                    self.scoped(body),
                    "OrderItems",
                    self.page_size,
                    None,
                )
                .await?;
            let (items, failures) = decode_items::<wire::OrderItem>(raw, "order item");
            if let Some(f) = failures.first() {
                // A folio with an unreadable item has no trustworthy balance.
                return Err(PmsError::protocol(f.message.clone()));
            }
            out.extend(items);
        }
        Ok(out)
    }

    fn charge_marker(reference: &str) -> String {
        format!("[ref {reference}]")
    }

    // ---- guests -------------------------------------------------------------------------

    async fn customer_search(&self, filter: Value) -> PmsResult<Vec<wire::Customer>> {
        let mut body = filter;
        body["Extent"] = json!({"Customers": true, "Addresses": false});
        let raw = self
            .t
            .get_all("customers/getAll", body, "Customers", self.page_size, None)
            .await?;
        Ok(decode_items::<wire::Customer>(raw, "customer").0)
    }

    /// Whether the customer has a reservation (of the hotel's service) at this enterprise.
    /// Customers belong to the chain, not to one property: a customer id is this hotel's guest
    /// only through a stay here.
    async fn stays_here(&self, customer_id: &str) -> PmsResult<bool> {
        let mut body = self.reservation_body(json!({ "AccountIds": [customer_id] }));
        body["Limitation"] = json!({ "Count": 1 });
        let (page, _) = self
            .t
            .call_json::<Value>("reservations/getAll/2023-06-06", body, Retry::Policy)
            .await?;
        Ok(page["Reservations"]
            .as_array()
            .is_some_and(|list| !list.is_empty()))
    }

    /// Of these customers, those who own a reservation at this enterprise.
    async fn owning_stays_here(&self, customer_ids: Vec<String>) -> PmsResult<HashSet<String>> {
        let mut out = HashSet::new();
        for batch in chunks(&customer_ids, ID_BATCH) {
            let (rs, _) = self
                .wire_reservations(json!({ "AccountIds": batch }), None, None)
                .await?;
            out.extend(rs.into_iter().filter_map(|r| r.account_id));
        }
        Ok(out)
    }

    async fn wire_customer(&self, id: &ExternalId) -> PmsResult<Option<wire::Customer>> {
        Ok(self
            .customers_by_id(&[id.to_string()])
            .await?
            .into_iter()
            .find(|c| c.id.eq_ignore_ascii_case(id.as_str())))
    }

    fn map_rooms(
        &self,
        resources: Vec<wire::Resource>,
        occupied: &HashSet<String>,
    ) -> Vec<RoomStatus> {
        resources
            .iter()
            .filter_map(
                |r| match mapping::room_status(r, occupied.contains(&r.id)) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(resource = %r.id, error = %e, "Mews resource skipped");
                        None
                    }
                },
            )
            .collect()
    }
}

#[async_trait]
impl PmsAdapter for MewsAdapter {
    fn provider(&self) -> Provider {
        crate::PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: crate::PROVIDER,
            search_by_name: true,
            search_by_email: true,
            // customers/getAll has no phone filter.
            search_by_phone: false,
            update_preferences: true,
            add_note: true,
            checkout_date: true,
            checkout_time: true,
            post_charge: true,
            native_charge_idempotency: false,
            find_charge_by_reference: true,
            balance: true,
            room_status: true,
            // services/getAvailability/2024-01-22: metrics per time unit and resource category.
            availability: true,
            delta: DeltaSupport::ModifiedSince,
        }
    }

    fn calls_made(&self) -> u64 {
        self.t.calls()
    }

    /// Reads the enterprise configuration: proves the tokens work, that they are for the
    /// configured enterprise, and learns its pricing mode.
    async fn connect(&self) -> PmsResult<()> {
        self.configuration().await.map(|_| ())
    }

    async fn disconnect(&self) -> PmsResult<()> {
        self.refs.forget();
        *lock(&self.pricing) = None;
        Ok(())
    }

    async fn health_check(&self) -> HealthStatus {
        let started = std::time::Instant::now();
        let result = self.configuration().await;
        HealthStatus {
            provider: crate::PROVIDER,
            healthy: result.is_ok(),
            latency_ms: started.elapsed().as_millis() as u64,
            message: result.err().map(|e| e.to_string()),
            checked_at: self.clock.now(),
        }
    }

    /// The customer, if they stay (or stayed, or will) at this enterprise; a customer of
    /// another property of the chain is not found here.
    async fn get_guest(&self, guest_id: &ExternalId) -> PmsResult<Option<Guest>> {
        let Some(customer) = self.wire_customer(guest_id).await? else {
            return Ok(None);
        };
        if !self.stays_here(&customer.id).await? {
            return Ok(None);
        }
        mapping::guest(&customer).map(Some)
    }

    /// Mews filters customers by exact email, first names and last names. A name is asked for
    /// as a first name, as a last name, and (when it has several words) as every split of it
    /// into first and last name; the results are then matched against the whole query here.
    async fn search_guests(&self, query: &GuestQuery) -> PmsResult<Vec<Guest>> {
        query
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        let present = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut found: Vec<wire::Customer> = Vec::new();
        if let Some(email) = present(&query.email) {
            found = self.customer_search(json!({"Emails": [email]})).await?;
        } else if let Some(name) = present(&query.name) {
            let words: Vec<&str> = name.split_whitespace().collect();
            let mut filters = vec![json!({"FirstNames": [name]}), json!({"LastNames": [name]})];
            if words.len() > 1 {
                let mut firsts = Vec::new();
                let mut lasts = Vec::new();
                for i in 1..words.len() {
                    firsts.push(words[..i].join(" "));
                    lasts.push(words[i..].join(" "));
                }
                filters.push(json!({"FirstNames": firsts, "LastNames": lasts}));
            }
            for f in filters {
                found.extend(self.customer_search(f).await?);
            }
        } else {
            return Err(PmsError::unsupported(
                crate::PROVIDER,
                "search_guests_by_phone",
            ));
        }
        // The chain's customers: only those with a reservation at this enterprise are its guests.
        let ids: Vec<String> = found.iter().map(|c| c.id.clone()).collect();
        let here = if ids.is_empty() {
            HashSet::new()
        } else {
            self.owning_stays_here(ids).await?
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for c in found {
            if !here.contains(&c.id) || !seen.insert(c.id.clone()) {
                continue;
            }
            match mapping::guest(&c) {
                Ok(g) if query.matches(&g) => out.push(g),
                Ok(_) => {}
                Err(e) => tracing::warn!(customer = %c.id, error = %e, "Mews customer skipped"),
            }
        }
        Ok(out)
    }

    /// Reads the customer, merges the preferences into what Mews has (classifications and
    /// options are sent as whole lists, which `customers/update` replaces; the notes block is
    /// rewritten and staff text kept), and updates the customer.
    async fn update_guest_preferences(
        &self,
        guest_id: &ExternalId,
        preferences: &[Preference],
    ) -> PmsResult<WriteReceipt> {
        for p in preferences {
            p.validate().map_err(|e| PmsError::invalid(e.to_string()))?;
        }
        let targets = preferences
            .iter()
            .map(mapping::preference_target)
            .collect::<PmsResult<Vec<_>>>()?;
        let customer = self
            .wire_customer(guest_id)
            .await?
            .ok_or_else(|| PmsError::not_found(format!("guest {guest_id}")))?;
        let mut classifications = customer.classifications.clone();
        let mut options: Vec<String> = customer
            .options
            .iter()
            .filter(|o| o.as_str() != "None")
            .cloned()
            .collect();
        let mut dietary: Option<String> = None;
        let (staff, mut lines) = mapping::split_notes(customer.notes.as_deref().unwrap_or(""));
        let lines_before = lines.clone();
        for t in targets {
            match t {
                PreferenceTarget::Classification(c) => {
                    if !classifications.iter().any(|x| x == c) {
                        classifications.push(c.to_owned());
                    }
                }
                PreferenceTarget::Option(o) => {
                    if !options.iter().any(|x| x == o) {
                        options.push(o.to_owned());
                    }
                }
                PreferenceTarget::Dietary(d) => dietary = Some(d),
                PreferenceTarget::Note {
                    category,
                    key,
                    value,
                } => {
                    lines.retain(|(c, k, _)| !(c == &category && k == &key));
                    lines.push((category, key, value));
                }
            }
        }
        let mut body = json!({"CustomerId": customer.id});
        if classifications != customer.classifications {
            body["Classifications"] = json!(classifications);
        }
        let old_options: Vec<&String> = customer
            .options
            .iter()
            .filter(|o| o.as_str() != "None")
            .collect();
        if options.iter().collect::<Vec<_>>() != old_options {
            body["Options"] = json!(options);
        }
        if let Some(d) = dietary.filter(|d| customer.dietary_requirements.as_deref() != Some(d)) {
            body["DietaryRequirements"] = json!(d);
        }
        if lines != lines_before {
            // `Notes` overwrites the old value (customers.md), so staff text is sent back too.
            body["Notes"] = json!(mapping::join_notes(&staff, &lines));
        }
        if body.as_object().is_some_and(|o| o.len() == 1) {
            // Mews already holds every preference: nothing to send.
            return Ok(WriteReceipt {
                vendor_id: Some(customer.id),
                request_id: None,
            });
        }
        let resp = self.t.call("customers/update", body, Retry::Policy).await?;
        Ok(WriteReceipt {
            vendor_id: Some(customer.id),
            request_id: resp.request_id,
        })
    }

    async fn get_reservation(
        &self,
        confirmation: &ConfirmationNumber,
    ) -> PmsResult<Option<Reservation>> {
        self.one_reservation(json!({"Numbers": [confirmation.as_str()]}))
            .await
    }

    async fn get_reservation_by_id(&self, id: &ExternalId) -> PmsResult<Option<Reservation>> {
        self.one_reservation(json!({"ReservationIds": [id.as_str()]}))
            .await
    }

    /// Reservations scheduled to start on the hotel's local `date` (the local day as a UTC
    /// interval on `ScheduledStartUtc`), confirmed, optional or already checked in.
    async fn arrivals(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        let (from, to) = self.tz.day_bounds(date);
        let mut fetched = self
            .listing(
                json!({"States": ["Confirmed", "Optional", "Started"]}),
                Some(("ScheduledStartUtc", from, to)),
            )
            .await?;
        // The docs disagree on whether an interval's end is inclusive; the local date decides.
        fetched.items.retain(|r| r.arrival == date);
        Ok(fetched)
    }

    /// One `ScheduledStartUtc` interval (split by the transport where Mews caps its length).
    async fn arrivals_between(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Fetched<Reservation>> {
        let (start, _) = self.tz.day_bounds(from);
        let (_, end) = self.tz.day_bounds(to);
        let mut fetched = self
            .listing(
                json!({"States": ["Confirmed", "Optional", "Started"]}),
                Some(("ScheduledStartUtc", start, end)),
            )
            .await?;
        fetched
            .items
            .retain(|r| r.arrival >= from && r.arrival <= to);
        Ok(fetched)
    }

    /// Reservations scheduled to end on the hotel's local `date`, checked in or out.
    async fn departures(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        let (from, to) = self.tz.day_bounds(date);
        let mut fetched = self
            .listing(
                json!({"States": ["Started", "Processed"]}),
                Some(("ScheduledEndUtc", from, to)),
            )
            .await?;
        fetched.items.retain(|r| r.departure == date);
        Ok(fetched)
    }

    async fn in_house(&self) -> PmsResult<Fetched<Reservation>> {
        self.listing(json!({"States": ["Started"]}), None).await
    }

    async fn add_reservation_note(
        &self,
        confirmation: &ConfirmationNumber,
        note: &Note,
    ) -> PmsResult<WriteReceipt> {
        note.validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        let r = self.find_wire(confirmation).await?;
        let text = match note
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(title) => format!("{title}: {}", note.text.trim()),
            None => note.text.trim().to_owned(),
        };
        let (added, request_id) = self
            .t
            .call_json::<wire::NotesAdded>(
                "serviceOrderNotes/add",
                json!({"ServiceOrderNotes": [{"ServiceOrderId": r.id, "Text": text}]}),
                Retry::NotApplied,
            )
            .await?;
        Ok(WriteReceipt {
            vendor_id: added.service_order_notes.into_iter().next().map(|n| n.id),
            request_id,
        })
    }

    /// Moves the reservation's end to the new local departure date (and time: the given one,
    /// else the current local departure time), converted to UTC in the hotel's zone, with
    /// `reservations/updateInterval`.
    async fn update_checkout(
        &self,
        confirmation: &ConfirmationNumber,
        change: &CheckoutChange,
    ) -> PmsResult<WriteReceipt> {
        let r = self.find_wire(confirmation).await?;
        if matches!(r.state.as_str(), "Processed" | "Canceled") {
            return Err(PmsError::invalid(format!(
                "reservation {confirmation} is {} and its departure cannot change",
                r.state
            )));
        }
        let start = mapping::scheduled_start(&r)
            .ok_or_else(|| PmsError::protocol("reservation has no ScheduledStartUtc"))?;
        let time = match change.time {
            Some(t) => t,
            None => mapping::scheduled_end(&r)
                .map(|end| self.tz.to_local(end).time())
                .ok_or_else(|| PmsError::protocol("reservation has no ScheduledEndUtc"))?,
        };
        let end = self.tz.local_to_utc(change.date.naive().and_time(time));
        if end <= start {
            return Err(PmsError::invalid(format!(
                "departure {} {} must be after the arrival",
                change.date, time
            )));
        }
        let body = self.with_enterprise(json!({
            "ReservationId": r.id,
            "EndUtc": wire::format_utc(end),
            "ChargeCancellationFee": false,
        }));
        let resp = self
            .t
            .call("reservations/updateInterval", body, Retry::Policy)
            .await?;
        Ok(WriteReceipt {
            vendor_id: Some(r.id),
            request_id: resp.request_id,
        })
    }

    /// `orders/add` to the stay service, charged to the reservation's owner and linked to the
    /// reservation, as one custom item: `UnitAmount` in the enterprise's pricing mode (gross or
    /// net value, as Mews requires), the configured tax code, the accounting category, and our
    /// reference as the item's `ExternalIdentifier` and in the order's `Notes`.
    async fn post_charge(
        &self,
        confirmation: &ConfirmationNumber,
        charge: &Charge,
    ) -> PmsResult<ChargeReceipt> {
        charge
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        let r = self.find_wire(confirmation).await?;
        let account = r.account_id.clone().ok_or_else(|| {
            PmsError::protocol(format!("reservation {confirmation} has no AccountId"))
        })?;
        let pricing = self.pricing().await?;
        let value_key = if pricing == "Net" {
            "NetValue"
        } else {
            "GrossValue"
        };
        let mut unit = json!({
            "Currency": charge.amount.currency.code(),
            "TaxCodes": self.tax_code.iter().collect::<Vec<_>>(),
        });
        unit[value_key] = mapping::decimal_value(charge.amount);
        let mut item = json!({
            "Name": charge.description.trim(),
            "UnitCount": 1,
            "UnitAmount": unit,
            "ExternalIdentifier": charge.reference,
        });
        if let Some(category) = charge
            .revenue_center
            .clone()
            .or_else(|| self.accounting_category.clone())
        {
            item["AccountingCategoryId"] = json!(category);
        }
        let body = self.with_enterprise(json!({
            "ServiceId": self.service_id,
            "AccountId": account,
            "LinkedReservationId": r.id,
            "Items": [item],
            "Notes": format!("{} {}", charge.description.trim(), Self::charge_marker(&charge.reference)),
        }));
        let (added, request_id) = self
            .t
            .call_json::<wire::OrderAdded>("orders/add", body, Retry::NotApplied)
            .await?;
        Ok(ChargeReceipt {
            vendor_id: Some(added.order_id),
            reference: charge.reference.clone(),
            request_id,
            existed: false,
        })
    }

    /// Looks through the items of the orders linked to the reservation for one whose
    /// `ExternalIdentifier` is our reference. Only that field: notes and names are free text
    /// (a partner's description is in them) and could name any reference.
    async fn find_charge(
        &self,
        confirmation: &ConfirmationNumber,
        reference: &str,
    ) -> PmsResult<Option<ChargeReceipt>> {
        let r = self.find_wire(confirmation).await?;
        let orders = self.linked_orders(&r.id).await?;
        if orders.is_empty() {
            return Ok(None);
        }
        let items = self.order_items(&orders, false).await?;
        Ok(items
            .into_iter()
            .find(|i| i.external_identifier.as_deref() == Some(reference))
            .map(|i| ChargeReceipt {
                vendor_id: Some(i.service_order_id),
                reference: reference.to_owned(),
                request_id: None,
                existed: true,
            }))
    }

    /// Mews has no balance endpoint; the balance is computed (research vendors.md §2.2):
    ///
    /// `balance = Σ Amount.GrossValue of the Open order items of the reservation and of the
    /// orders linked to it + Σ Amount.GrossValue of the reservation's Open, Charged payments`
    ///
    /// Payments carry negative amounts, so they reduce the sum. Items and payments already
    /// closed on a bill are settled and left out; amounts are asked for converted to the
    /// hotel's currency. Payments made to the guest's account but not to this reservation are
    /// not counted (Mews does not tie them to a stay).
    async fn get_balance(&self, confirmation: &ConfirmationNumber) -> PmsResult<Money> {
        let r = self.find_wire(confirmation).await?;
        let mut orders = vec![r.id.clone()];
        orders.extend(self.linked_orders(&r.id).await?);
        let items = self.order_items(&orders, true).await?;
        let raw = self
            .t
            .get_all(
                "payments/getAll",
                self.scoped(json!({
                    "ReservationIds": [r.id],
                    "AccountingStates": ["Open"],
                    "States": ["Charged"],
                    "Currency": self.currency.code(),
                })),
                "Payments",
                self.page_size,
                None,
            )
            .await?;
        let (payments, failures) = decode_items::<wire::Payment>(raw, "payment");
        if let Some(f) = failures.first() {
            return Err(PmsError::protocol(f.message.clone()));
        }
        mapping::folio_balance(&items, &payments, self.currency)
    }

    async fn room_status(&self, room: &RoomNumber) -> PmsResult<Option<RoomStatus>> {
        let resources = self
            .rooms(json!({"Names": [room.as_str()]}), Some(1))
            .await?;
        let Some(res) = resources.into_iter().find(|r| r.name == room.as_str()) else {
            return Ok(None);
        };
        let occupied = self.occupied(Some(std::slice::from_ref(&res.id))).await?;
        mapping::room_status(&res, occupied.contains(&res.id)).map(Some)
    }

    async fn room_statuses(&self) -> PmsResult<Vec<RoomStatus>> {
        let resources: Vec<wire::Resource> = self
            .rooms(json!({}), None)
            .await?
            .into_iter()
            .filter(|r| r.is_active != Some(false))
            .collect();
        let occupied = self.occupied(None).await?;
        Ok(self.map_rooms(resources, &occupied))
    }

    async fn room_status_by_id(&self, id: &ExternalId) -> PmsResult<Option<RoomStatus>> {
        let resources = self
            .rooms(json!({"ResourceIds": [id.as_str()]}), Some(1))
            .await?;
        let Some(res) = resources.into_iter().next() else {
            return Ok(None);
        };
        let occupied = self.occupied(Some(std::slice::from_ref(&res.id))).await?;
        mapping::room_status(&res, occupied.contains(&res.id)).map(Some)
    }

    /// One `services/getAvailability/2024-01-22` request for the whole range (up to 367
    /// nights): time units of the stay service start at the property's local midnight, given
    /// in UTC; the categories' codes come from the reference cache (one
    /// `resourceCategories/getAll` at most, and none while cached). See [`availability`] for
    /// the metrics and how rooms free are counted.
    async fn availability(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Vec<PmsAvailability>> {
        if to < from {
            return Err(PmsError::invalid(format!("{to} is before {from}")));
        }
        if from.days_until(to) >= availability::MAX_NIGHTS {
            return Err(PmsError::invalid(format!(
                "Mews answers at most {} nights per request",
                availability::MAX_NIGHTS
            )));
        }
        let body = json!({
            "ServiceId": self.service_id,
            "FirstTimeUnitStartUtc": wire::format_utc(self.tz.day_bounds(from).0),
            "LastTimeUnitStartUtc": wire::format_utc(self.tz.day_bounds(to).0),
            "Metrics": availability::METRICS,
        });
        let (answer, _) = self
            .t
            .call_json::<wire::ServiceAvailability>(
                "services/getAvailability/2024-01-22",
                body,
                Retry::Policy,
            )
            .await?;
        let ids: BTreeSet<String> = answer
            .resource_category_availabilities
            .iter()
            .map(|c| c.resource_category_id.clone())
            .collect();
        // The codes are an enrichment: without them the figures still stand, under the
        // categories' ids.
        let codes = match self.references(RefKind::Category, &ids).await {
            Ok(codes) => codes,
            Err(e) => {
                tracing::warn!(
                    code = e.code(),
                    "Mews resource categories could not be read; availability keeps category ids"
                );
                HashMap::new()
            }
        };
        availability::availability(&answer, self.tz, from, to, &codes)
    }

    /// Reads the named entities in batches: reservations 1000 ids per call (enriched together),
    /// customers [`CUSTOMER_BATCH`] per call, resources 1000 per call. A batch that fails is
    /// retried id by id, so one entity Mews cannot serve does not fail the others.
    async fn fetch_entities(&self, refs: &[EntityRef]) -> Vec<(EntityRef, PmsResult<Refreshed>)> {
        let mut unique: Vec<EntityRef> = refs.to_vec();
        unique.sort();
        unique.dedup();
        let ids_of = |kind: EntityKind| -> Vec<String> {
            unique
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| r.id.to_string())
                .collect()
        };
        let mut results: HashMap<EntityRef, PmsResult<Refreshed>> = HashMap::new();
        let mut put = |kind: EntityKind, id: &str, result: PmsResult<Refreshed>| {
            if let Ok(id) = ExternalId::parse(id) {
                results.insert(EntityRef { kind, id }, result);
            }
        };

        for batch in chunks(&ids_of(EntityKind::Reservation), ID_BATCH) {
            match self
                .reservations(json!({"ReservationIds": batch}), None, Some(batch.len()))
                .await
            {
                Ok(fetched) => {
                    for r in fetched.items {
                        let id = r.id.external().to_string();
                        put(
                            EntityKind::Reservation,
                            &id,
                            Ok(Refreshed::Reservation(Box::new(r))),
                        );
                    }
                    for f in fetched.failures {
                        put(
                            EntityKind::Reservation,
                            &f.id,
                            Err(PmsError::protocol(f.message)),
                        );
                    }
                }
                Err(e) if batch.len() > 1 && !is_fatal(&e) => {
                    for id in &batch {
                        let result = match ExternalId::parse(id.as_str()) {
                            Ok(eid) => self.get_reservation_by_id(&eid).await.map(|o| {
                                o.map_or(Refreshed::Gone, |v| Refreshed::Reservation(Box::new(v)))
                            }),
                            Err(e) => Err(PmsError::invalid(e.to_string())),
                        };
                        put(EntityKind::Reservation, id, result);
                    }
                }
                Err(e) => {
                    for id in &batch {
                        put(EntityKind::Reservation, id, Err(e.clone()));
                    }
                }
            }
        }

        for batch in chunks(&ids_of(EntityKind::Guest), CUSTOMER_BATCH) {
            match self.customers_by_id(&batch).await {
                Ok(customers) => {
                    for c in customers {
                        let result = mapping::guest(&c).map(|g| Refreshed::Guest(Box::new(g)));
                        put(EntityKind::Guest, &c.id, result);
                    }
                }
                Err(e) if batch.len() > 1 && !is_fatal(&e) => {
                    for id in &batch {
                        let result = match ExternalId::parse(id.as_str()) {
                            Ok(eid) => self.get_guest(&eid).await.map(|o| {
                                o.map_or(Refreshed::Gone, |v| Refreshed::Guest(Box::new(v)))
                            }),
                            Err(e) => Err(PmsError::invalid(e.to_string())),
                        };
                        put(EntityKind::Guest, id, result);
                    }
                }
                Err(e) => {
                    for id in &batch {
                        put(EntityKind::Guest, id, Err(e.clone()));
                    }
                }
            }
        }

        for batch in chunks(&ids_of(EntityKind::Room), ID_BATCH) {
            let read = async {
                let resources = self.resources_by_id(&batch).await?;
                let ids: Vec<String> = resources.iter().map(|r| r.id.clone()).collect();
                let occupied = if ids.is_empty() {
                    HashSet::new()
                } else {
                    self.occupied(Some(&ids)).await?
                };
                Ok::<_, PmsError>((resources, occupied))
            };
            match read.await {
                Ok((resources, occupied)) => {
                    for r in resources {
                        let result = mapping::room_status(&r, occupied.contains(&r.id))
                            .map(|s| Refreshed::Room(Box::new(s)));
                        put(EntityKind::Room, &r.id, result);
                    }
                }
                Err(e) if batch.len() > 1 && !is_fatal(&e) => {
                    for id in &batch {
                        let result = match ExternalId::parse(id.as_str()) {
                            Ok(eid) => self.room_status_by_id(&eid).await.map(|o| {
                                o.map_or(Refreshed::Gone, |v| Refreshed::Room(Box::new(v)))
                            }),
                            Err(e) => Err(PmsError::invalid(e.to_string())),
                        };
                        put(EntityKind::Room, id, result);
                    }
                }
                Err(e) => {
                    for id in &batch {
                        put(EntityKind::Room, id, Err(e.clone()));
                    }
                }
            }
        }

        unique
            .into_iter()
            .map(|r| {
                // Asked for and not returned: Mews no longer has it.
                let result = results.remove(&r).unwrap_or(Ok(Refreshed::Gone));
                (r, result)
            })
            .collect()
    }

    /// The listings of [`Self::reservations_changed`], [`Self::arrivals_between`],
    /// [`Self::departures`] and [`Self::in_house`], one Mews page (`Limitation.Count`, 1000 by
    /// default) at a time; the cursor is a [`ListingCursor`].
    async fn reservations_page(
        &self,
        read: &ListRead,
        cursor: Option<&PageCursor>,
    ) -> PmsResult<Page<Reservation>> {
        let (filter, field, from, to) = match *read {
            ListRead::Changed { window } => {
                if window.to < window.from {
                    return Err(PmsError::invalid("the change window ends before it starts"));
                }
                let to = window.to + chrono::Duration::nanoseconds(1);
                (json!({}), "UpdatedUtc", window.from, to)
            }
            ListRead::ArrivalsBetween { from, to } => (
                json!({"States": ["Confirmed", "Optional", "Started"]}),
                "ScheduledStartUtc",
                self.tz.day_bounds(from).0,
                self.tz.day_bounds(to).1,
            ),
            ListRead::Departures { date } => {
                let (from, to) = self.tz.day_bounds(date);
                (
                    json!({"States": ["Started", "Processed"]}),
                    "ScheduledEndUtc",
                    from,
                    to,
                )
            }
            ListRead::InHouse => {
                return self
                    .listing_page(json!({"States": ["Started"]}), None, cursor)
                    .await
            }
        };
        let mut page = self
            .listing_page(filter, Some((field, from, to)), cursor)
            .await?;
        // As the whole reads do: the local dates decide at the interval's ends.
        match *read {
            ListRead::ArrivalsBetween { from, to } => page
                .fetched
                .items
                .retain(|r| r.arrival >= from && r.arrival <= to),
            ListRead::Departures { date } => page.fetched.items.retain(|r| r.departure == date),
            ListRead::Changed { .. } | ListRead::InHouse => {}
        }
        Ok(page)
    }

    /// Reservations whose `UpdatedUtc` is within the window (both ends inclusive), asked in
    /// windows of at most three months, each followed to its last page.
    async fn reservations_changed(&self, window: ChangeWindow) -> PmsResult<Fetched<Reservation>> {
        if window.to < window.from {
            return Err(PmsError::invalid("the change window ends before it starts"));
        }
        // Inclusive end: the half-open Mews interval must reach past `to`.
        let to = window.to + chrono::Duration::nanoseconds(1);
        self.listing(json!({}), Some(("UpdatedUtc", window.from, to)))
            .await
    }
}

/// Errors that would fail every id of a batch alike: no point asking id by id.
fn is_fatal(e: &PmsError) -> bool {
    matches!(
        e,
        PmsError::Unauthorized { .. }
            | PmsError::RateLimited { .. }
            | PmsError::Configuration { .. }
            | PmsError::Unsupported { .. }
    )
}
