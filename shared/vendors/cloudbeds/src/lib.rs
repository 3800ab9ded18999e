//! The Cloudbeds API v1.3 adapter (`pms-v1.3-openapi.yaml`).
//!
//! - [`transport`]: `x-api-key`, `X-PROPERTY-ID`, query strings and form bodies, the
//!   `success:false`-on-200 envelope, pagination until `total`, rate limit and retries.
//! - [`wire`]: the response shapes, read tolerantly (ids and amounts as strings or numbers).
//! - [`mapping`]: the status table, local date-times in the hotel's zone, and every record.
//!
//! What Cloudbeds cannot do, it says: no late-checkout *time* (`putReservation` takes a
//! `checkoutDate` only), no guest preference object, and no v1.3 read of posted items, so a
//! charge cannot be looked up by our reference; `postCustomItem.referenceID` makes re-posting
//! the same charge safe instead (a duplicate creates nothing).

mod availability;
pub mod credentials;
#[cfg(any(test, feature = "testing"))]
pub mod decode;
pub mod mapping;
#[cfg(feature = "sim")]
pub mod sim;
pub mod transport;
pub mod webhook;
pub mod wire;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use self::credentials::CloudbedsCredentials;
use self::mapping::Ctx;
use self::transport::{KeySource, Replay, Transport, Verb};
use pms_domain::config::HotelConfig;
use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::{
    BusinessDate, Capabilities, Charge, ChargeReceipt, CheckoutChange, ConfirmationNumber,
    DeltaSupport, ExternalId, Guest, GuestQuery, HealthStatus, HotelId, Money, Note,
    PmsAvailability, Preference, Provider, RecordId, Reservation, ReservationStatus, RoomNumber,
    RoomStatus, WriteReceipt,
};
use pms_domain::memory::MemoryStore;
use pms_domain::pms::{
    ChangeWindow, EntityKind, EntityRef, Fetched, ItemFailure, ListRead, Page, PageCursor,
    PmsAdapter, PmsError, PmsResult, Refreshed,
};
use pms_domain::ports::{Clock, ItemStore};
use pms_vendor_kit::pms::http::VendorHttp;
use pms_vendor_kit::pms::known::{self, StoredReservations};
use pms_vendor_kit::pms::ratelimit::{DistributedLimiter, RateLimiter};
use pms_vendor_kit::pms::{AdapterDeps, VendorBuilder};

/// Where a paged `getReservations` list stands, kept between worker invocations as a
/// [`PageCursor`]: the next `pageNumber` (from 1). Offset pages shift when records leave the
/// filter between two pages; a record that moved is read by the next delta (its modification
/// time is after the window), and the overlap of windows covers the vendor's clock.
/// Which rows of a list a read keeps.
type RowFilter = Box<dyn Fn(&Reservation) -> bool + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListCursor {
    pub page: u32,
}

/// Cloudbeds, as records, keys and configurations name it.
pub const PROVIDER: Provider = Provider::named("cloudbeds");

/// Builds a hotel's adapter from its stored credentials.
pub fn builder() -> VendorBuilder {
    Arc::new(|config, secret, deps| {
        let credentials =
            CloudbedsCredentials::parse(secret).map_err(|e| config_error(e.to_string()))?;
        let adapter: Arc<dyn PmsAdapter> =
            Arc::new(CloudbedsAdapter::new(config, credentials, deps)?);
        Ok(adapter)
    })
}

/// This vendor, as a build registers it (`pms-vendors`). Cloudbeds allows 5 requests per second
/// per property (API v1.3, "Rate limits").
pub fn vendor() -> pms_vendor_kit::pms::Vendor {
    pms_vendor_kit::pms::Vendor::new(PROVIDER, credentials::schema(), builder())
        .with_rate_limit(5, 1)
}

/// Cloudbeds pushes webhooks, one event each.
pub fn webhook() -> Option<pms_vendor_kit::webhooks::WebhookVendor> {
    Some(pms_vendor_kit::webhooks::WebhookVendor {
        provider: PROVIDER,
        parse: webhook::parse,
        openapi: include_str!("../webhook.openapi.json"),
    })
}

pub struct CloudbedsAdapter {
    transport: Transport,
    ctx: Ctx,
    clock: Arc<dyn Clock>,
    /// `vendor.defaultRevenueCenter`: the item category of charges that name none.
    default_category: Option<String>,
    hotel: HotelId,
    /// What the sync last stored, so rows of unchanged reservations are not read again.
    stored: Option<Arc<dyn StoredReservations>>,
}

/// The two reservation lists of v1.3. `getReservationsWithRateDetails` carries every field a
/// record has (`total`, `estimatedArrivalTime` too) but filters by modification, booking and
/// check-out dates and by ids only; `getReservations` filters by check-in date and status but
/// its rows lack those two fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listing {
    Rows,
    RateDetails,
}

impl Listing {
    fn endpoint(self) -> &'static str {
        match self {
            Listing::Rows => "getReservations",
            Listing::RateDetails => "getReservationsWithRateDetails",
        }
    }

    /// The parameters every read of the list sends besides its filters.
    fn includes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Listing::Rows => &[
                ("includeGuestsDetails", "true"),
                ("includeAllRooms", "true"),
            ],
            Listing::RateDetails => &[("includeGuestsDetails", "true")],
        }
    }
}

/// Statuses that are not `checked_in`: the in-house read of the rate-details list, which has
/// `excludeStatuses` and no `status` filter.
const NOT_IN_HOUSE: &str = "not_confirmed,confirmed,canceled,checked_out,no_show";

fn config_error(message: impl Into<String>) -> PmsError {
    PmsError::Configuration {
        message: message.into(),
    }
}

impl CloudbedsAdapter {
    pub fn new(
        config: &HotelConfig,
        credentials: CloudbedsCredentials,
        deps: &AdapterDeps,
    ) -> PmsResult<Self> {
        let api_key = credentials.api_key;
        let base = config
            .vendor
            .base_url
            .clone()
            .ok_or_else(|| config_error("a Cloudbeds hotel needs vendor.baseUrl"))?;
        let property_id = config
            .vendor
            .property_id
            .clone()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| config_error("a Cloudbeds hotel needs vendor.propertyId"))?;
        // Cloudbeds limits each property (5/s), whatever key calls it: the budget is named by
        // the property, so a rotated key and the old one (still in other instances) share it.
        // Without the shared table the budget is this process's own.
        let limiter: Option<Arc<dyn RateLimiter>> = config.rate_limit.as_ref().map(|limit| {
            let store: Arc<dyn ItemStore> = match &deps.store {
                Some(s) => s.clone(),
                None => Arc::new(MemoryStore::new(deps.clock.clone())),
            };
            Arc::new(
                DistributedLimiter::new(
                    store,
                    deps.clock.clone(),
                    config.hotel_id.clone(),
                    budget_name(&property_id),
                    limit,
                )
                .with_priority(deps.priority),
            ) as Arc<dyn RateLimiter>
        });
        let http = VendorHttp::new(
            deps.http.clone(),
            deps.retry_policy(config),
            limiter,
            transport::REQUEST_ID_HEADERS,
            transport::error_message,
        );
        let key_source = (!deps.credentials_secret.is_empty()).then(|| KeySource {
            secrets: deps.secrets.clone(),
            name: deps.credentials_secret.clone(),
        });
        Ok(Self {
            transport: Transport::new(http, base, property_id, api_key, key_source),
            ctx: Ctx {
                tz: config.time_zone,
                currency: config.currency,
            },
            clock: deps.clock.clone(),
            default_category: config
                .vendor
                .default_revenue_center
                .clone()
                .filter(|c| !c.trim().is_empty()),
            hotel: config.hotel_id.clone(),
            stored: deps.stored.clone(),
        })
    }

    fn params(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut p = vec![(
            "propertyID".to_owned(),
            self.transport.property_id().to_owned(),
        )];
        p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        p
    }

    /// `getReservation`; `None` when Cloudbeds has no such reservation.
    async fn reservation_detail(
        &self,
        id: &str,
    ) -> PmsResult<Option<(wire::ReservationDetail, Option<String>)>> {
        let params = self.params(&[("reservationID", id.to_owned())]);
        let env = match self
            .transport
            .call("getReservation", Verb::Get, &params, Replay::Safe)
            .await
        {
            Ok(env) => env,
            Err(PmsError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // "Not found" can also be an empty `data`.
        if env.data().as_object().is_none_or(|o| o.is_empty()) {
            return Ok(None);
        }
        let detail: wire::ReservationDetail = env.decode("getReservation")?;
        if detail.reservation_id.is_none() {
            return Ok(None);
        }
        Ok(Some((detail, env.request_id)))
    }

    async fn reservation(&self, id: &str) -> PmsResult<Option<Reservation>> {
        let Some((detail, request_id)) = self.reservation_detail(id).await? else {
            return Ok(None);
        };
        mapping::reservation_from_detail(&detail, &self.ctx)
            .map(Some)
            .map_err(|e| PmsError::Protocol {
                message: format!("Cloudbeds reservation {id}: {e}"),
                request_id,
            })
    }

    /// A list with `filters`, every page, rooms and guests included. A row that cannot be read
    /// is reported as a failure; the others are returned, complete (see [`Self::complete`]).
    async fn reservation_list(
        &self,
        listing: Listing,
        filters: &[(&str, String)],
        keep: impl Fn(&Reservation) -> bool,
    ) -> PmsResult<Fetched<Reservation>> {
        let pages = self
            .transport
            .get_all(
                listing.endpoint(),
                &self.params(&with_includes(listing, filters)),
                transport::MAX_PAGE,
            )
            .await?;
        self.complete(self.rows(listing, &pages, keep)).await
    }

    /// The list and filters of a list read, and which of its rows the read keeps (the vendor's
    /// ranges are coarser than ours: dates at both ends, statuses). Every read but arrivals
    /// has a filter on the rate-details list, whose rows carry every field; arrivals need
    /// `checkInFrom`/`checkInTo`, which only `getReservations` has.
    fn list_filters(&self, read: &ListRead) -> (Listing, Vec<(&'static str, String)>, RowFilter) {
        match *read {
            ListRead::Changed { window } => {
                let (from, to) = mapping::window_params(&window, self.ctx.tz);
                (
                    Listing::RateDetails,
                    vec![("modifiedFrom", from), ("modifiedTo", to)],
                    Box::new(|_| true),
                )
            }
            ListRead::ArrivalsBetween { from, to } => (
                Listing::Rows,
                vec![
                    ("checkInFrom", from.to_string()),
                    ("checkInTo", to.to_string()),
                ],
                Box::new(move |r| {
                    r.arrival >= from
                        && r.arrival <= to
                        && matches!(
                            r.status,
                            ReservationStatus::Confirmed | ReservationStatus::CheckedIn
                        )
                }),
            ),
            ListRead::Departures { date } => (
                Listing::RateDetails,
                vec![
                    ("reservationCheckOutFrom", date.to_string()),
                    ("reservationCheckOutTo", date.to_string()),
                ],
                Box::new(move |r| {
                    r.departure == date
                        && matches!(
                            r.status,
                            ReservationStatus::CheckedIn | ReservationStatus::CheckedOut
                        )
                }),
            ),
            ListRead::InHouse => (
                Listing::RateDetails,
                vec![("excludeStatuses", NOT_IN_HOUSE.into())],
                Box::new(|r| r.status == ReservationStatus::CheckedIn),
            ),
        }
    }

    /// One page of [`Self::reservation_list`] from `cursor` (a [`ListCursor`]), and the cursor
    /// of the next page, if any.
    async fn reservation_page(
        &self,
        listing: Listing,
        filters: &[(&str, String)],
        keep: impl Fn(&Reservation) -> bool,
        cursor: Option<&PageCursor>,
    ) -> PmsResult<Page<Reservation>> {
        let at = match cursor {
            Some(c) => c.decode::<ListCursor>()?,
            None => ListCursor { page: 1 },
        };
        if at.page == 0 {
            return Err(PmsError::invalid("Cloudbeds pages are numbered from 1"));
        }
        let (env, more) = self
            .transport
            .get_page(
                listing.endpoint(),
                &self.params(&with_includes(listing, filters)),
                transport::MAX_PAGE,
                at.page,
            )
            .await?;
        let next = more
            .then(|| PageCursor::encode(&ListCursor { page: at.page + 1 }))
            .transpose()?;
        Ok(Page {
            fetched: self
                .complete(self.rows(listing, std::slice::from_ref(&env), keep))
                .await?,
            next,
        })
    }

    /// Fills in what `getReservations` rows lack (`Reservation::not_carried`) for the rows that
    /// changed: a row whose version is the stored one keeps the stored values in the merge, the
    /// others are read again, all at once, from `getReservationsWithRateDetails` by
    /// `reservationID` (up to a page of 100 ids per request). A row the second read does not
    /// return stays as it is (the merge keeps what is stored). Rows of the rate-details list
    /// carry everything and are returned as they are.
    async fn complete(&self, mut fetched: Fetched<Reservation>) -> PmsResult<Fetched<Reservation>> {
        let partial: Vec<(RecordId, u64)> = fetched
            .items
            .iter()
            .filter(|r| !r.not_carried.0.is_empty())
            .map(|r| (r.id.clone(), r.version))
            .collect();
        if partial.is_empty() {
            return Ok(fetched);
        }
        let known = known::unchanged(self.stored.as_deref(), &self.hotel, &partial).await;
        let ids: Vec<&str> = partial
            .iter()
            .filter(|(id, _)| !known.contains_key(id))
            .map(|(id, _)| id.external().as_str())
            .collect();
        for chunk in ids.chunks(transport::MAX_PAGE as usize) {
            let filters = [("reservationID", chunk.join(","))];
            let pages = self
                .transport
                .get_all(
                    Listing::RateDetails.endpoint(),
                    &self.params(&with_includes(Listing::RateDetails, &filters)),
                    transport::MAX_PAGE,
                )
                .await?;
            let full = self.rows(Listing::RateDetails, &pages, |_| true);
            let mut by_id: HashMap<RecordId, Reservation> =
                full.items.into_iter().map(|r| (r.id.clone(), r)).collect();
            for item in &mut fetched.items {
                // Not older than the row: a later change is read by the next delta.
                if let Some(r) = by_id.remove(&item.id).filter(|r| r.version >= item.version) {
                    *item = r;
                }
            }
        }
        Ok(fetched)
    }

    /// The reservations of list pages; rows that cannot be read are failures beside them.
    fn rows(
        &self,
        listing: Listing,
        pages: &[transport::Envelope],
        keep: impl Fn(&Reservation) -> bool,
    ) -> Fetched<Reservation> {
        let mut out = Fetched::ok(Vec::new());
        let mut seen = BTreeSet::new();
        for page in pages {
            for (_, row) in entries(page.data()) {
                let id = row.get("reservationID").map(scalar).unwrap_or_default();
                // Offset pages can repeat a record that moved while we paged.
                if !id.is_empty() && !seen.insert(id.clone()) {
                    continue;
                }
                let mapped = self.map_row(listing, row, page.request_id.as_deref());
                match mapped {
                    Ok(r) if keep(&r) => out.items.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(
                            provider = "cloudbeds",
                            reservation_id = %id,
                            error = %e,
                            "Cloudbeds reservation row could not be mapped"
                        );
                        out.failures.push(ItemFailure {
                            id,
                            code: e.code().into(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        out
    }

    /// One list row, as its list shapes it, mapped.
    fn map_row(
        &self,
        listing: Listing,
        row: &Value,
        request_id: Option<&str>,
    ) -> PmsResult<Reservation> {
        let mapped = match listing {
            Listing::Rows => transport::decode_value::<wire::ReservationRow>(
                row.clone(),
                listing.endpoint(),
                request_id.map(str::to_owned),
            )
            .map(|r| mapping::reservation_from_row(&r, &self.ctx)),
            Listing::RateDetails => transport::decode_value::<wire::RateDetailsRow>(
                row.clone(),
                listing.endpoint(),
                request_id.map(str::to_owned),
            )
            .map(|r| mapping::reservation_from_rate_row(&r, &self.ctx)),
        }?;
        mapped.map_err(|e| PmsError::Protocol {
            message: e.to_string(),
            request_id: request_id.map(str::to_owned),
        })
    }

    /// Every room of `getHousekeepingStatus` (pages of up to 5000), as wire records.
    async fn housekeeping(&self) -> PmsResult<Vec<wire::HousekeepingRoom>> {
        let pages = self
            .transport
            .get_all(
                "getHousekeepingStatus",
                &self.params(&[]),
                transport::MAX_HOUSEKEEPING_PAGE,
            )
            .await?;
        let mut rooms = Vec::new();
        let mut seen = BTreeSet::new();
        for page in &pages {
            for (_, v) in entries(page.data()) {
                let room: wire::HousekeepingRoom = transport::decode_value(
                    v.clone(),
                    "getHousekeepingStatus",
                    page.request_id.clone(),
                )?;
                let key = room
                    .room_id
                    .clone()
                    .or_else(|| room.room_name.clone())
                    .unwrap_or_default();
                if seen.insert(key) {
                    rooms.push(room);
                }
            }
        }
        Ok(rooms)
    }

    fn map_room(room: &wire::HousekeepingRoom) -> Option<RoomStatus> {
        mapping::room_from_housekeeping(room)
            .map_err(|e| {
                tracing::warn!(
                    provider = "cloudbeds",
                    room_id = room.room_id.as_deref().unwrap_or(""),
                    error = %e,
                    "Cloudbeds room could not be mapped"
                );
            })
            .ok()
    }

    /// `getGuestList` searches for one combination of filters, every page.
    async fn guest_list(
        &self,
        filters: &[(&'static str, String)],
    ) -> PmsResult<Vec<(Option<String>, wire::GuestListEntry)>> {
        // getGuestList names the property parameter `propertyIDs` (plural).
        let mut params = vec![(
            "propertyIDs".to_owned(),
            self.transport.property_id().to_owned(),
        )];
        params.extend(filters.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        params.push(("includeGuestInfo".into(), "true".into()));
        let pages = self
            .transport
            .get_all("getGuestList", &params, transport::MAX_PAGE)
            .await?;
        let mut out = Vec::new();
        for page in &pages {
            for (key, v) in entries(page.data()) {
                let entry: wire::GuestListEntry =
                    transport::decode_value(v.clone(), "getGuestList", page.request_id.clone())?;
                out.push((key, entry));
            }
        }
        Ok(out)
    }
}

/// The rate budget of a property: its id when it is a plain token (Cloudbeds ids are digits),
/// else a digest of it, so no store key separator can get in.
/// `filters` and the parameters `listing` always sends.
fn with_includes<'a>(listing: Listing, filters: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut out = filters.to_vec();
    out.extend(
        listing
            .includes()
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned())),
    );
    out
}

fn budget_name(property_id: &str) -> String {
    if property_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        format!("cloudbeds-{property_id}")
    } else {
        format!("cloudbeds-{}", &sha256_hex(property_id.as_bytes())[..16])
    }
}

/// Entries of a `data` that is an array, or an object keyed by id (PHP sends `[]` for empty).
fn entries(data: &Value) -> Vec<(Option<String>, &Value)> {
    match data {
        Value::Array(a) => a.iter().map(|v| (None, v)).collect(),
        Value::Object(o) => o.iter().map(|(k, v)| (Some(k.clone()), v)).collect(),
        _ => Vec::new(),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Names the record a Cloudbeds "not found" was about.
fn about(err: PmsError, subject: &str) -> PmsError {
    match err {
        PmsError::NotFound { what, request_id } => PmsError::NotFound {
            what: what.replacen("the record", subject, 1),
            request_id,
        },
        other => other,
    }
}

/// Whether a `getGuestList` entry matches the query as our model defines it (name within the
/// full name, email equal, phone digits matching either of the guest's numbers).
fn entry_matches(q: &GuestQuery, e: &wire::GuestListEntry) -> bool {
    let full = match (&e.first_name, &e.last_name) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(n), None) | (None, Some(n)) => n.clone(),
        (None, None) => e.guest_name.clone().unwrap_or_default(),
    }
    .to_lowercase();
    let name_ok = q
        .name
        .as_deref()
        .is_none_or(|n| full.contains(&n.trim().to_lowercase()));
    let email_ok = q.email.as_deref().is_none_or(|m| {
        e.email
            .as_deref()
            .is_some_and(|g| g.eq_ignore_ascii_case(m.trim()))
    });
    let phone_ok = q.phone.as_deref().is_none_or(|p| {
        let want = GuestQuery::normalize_phone(p);
        [&e.phone, &e.cell_phone].iter().any(|n| {
            n.as_deref().is_some_and(|g| {
                let have = GuestQuery::normalize_phone(g);
                !want.is_empty()
                    && !have.is_empty()
                    && (have.ends_with(&want) || want.ends_with(&have))
            })
        })
    });
    name_ok && email_ok && phone_ok
}

/// The `getGuestList` filter combinations that together find every guest the query can match:
/// a one-word name is tried as a first and as a last name, a phone as phone and cell phone.
fn guest_searches(q: &GuestQuery) -> Vec<Vec<(&'static str, String)>> {
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let names: Vec<Vec<(&'static str, String)>> = match present(&q.name) {
        None => vec![vec![]],
        Some(name) => match name.split_once(char::is_whitespace) {
            Some((first, last)) => vec![vec![
                ("guestFirstName", first.to_owned()),
                ("guestLastName", last.trim().to_owned()),
            ]],
            None => vec![
                vec![("guestLastName", name.clone())],
                vec![("guestFirstName", name)],
            ],
        },
    };
    let phones: Vec<Vec<(&'static str, String)>> = match present(&q.phone) {
        None => vec![vec![]],
        Some(p) => vec![vec![("guestPhone", p.clone())], vec![("guestCellPhone", p)]],
    };
    let email = present(&q.email);
    let mut out = Vec::new();
    for n in &names {
        for p in &phones {
            let mut f = n.clone();
            f.extend(p.iter().cloned());
            if let Some(e) = &email {
                f.push(("guestEmail", e.clone()));
            }
            out.push(f);
        }
    }
    out
}

#[async_trait]
impl PmsAdapter for CloudbedsAdapter {
    fn provider(&self) -> Provider {
        crate::PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: crate::PROVIDER,
            search_by_name: true,
            search_by_email: true,
            search_by_phone: true,
            // No preference object in v1.3; guest notes and custom fields do not round-trip one.
            update_preferences: false,
            add_note: true,
            checkout_date: true,
            // putReservation takes a checkoutDate only.
            checkout_time: false,
            post_charge: true,
            // postCustomItem.referenceID: "Cloudbeds will prevent adding of duplicates".
            native_charge_idempotency: true,
            // No v1.3 read lists posted items; re-posting with the same referenceID is the safe
            // way to resolve an unknown outcome.
            find_charge_by_reference: false,
            balance: true,
            room_status: true,
            // getRatePlans with detailedRates: roomsAvailable per night and room type.
            availability: true,
            delta: DeltaSupport::ModifiedSince,
        }
    }

    fn calls_made(&self) -> u64 {
        self.transport.calls()
    }

    /// API keys need no session.
    async fn connect(&self) -> PmsResult<()> {
        Ok(())
    }

    async fn disconnect(&self) -> PmsResult<()> {
        Ok(())
    }

    async fn health_check(&self) -> HealthStatus {
        let started = std::time::Instant::now();
        let params = self.params(&[("pageNumber", "1".into()), ("pageSize", "1".into())]);
        let result = self
            .transport
            .call("getReservations", Verb::Get, &params, Replay::Safe)
            .await;
        HealthStatus {
            provider: crate::PROVIDER,
            healthy: result.is_ok(),
            latency_ms: started.elapsed().as_millis() as u64,
            message: result.err().map(|e| e.to_string()),
            checked_at: self.clock.now(),
        }
    }

    async fn get_guest(&self, guest_id: &ExternalId) -> PmsResult<Option<Guest>> {
        let params = self.params(&[("guestID", guest_id.to_string())]);
        let env = match self
            .transport
            .call("getGuest", Verb::Get, &params, Replay::Safe)
            .await
        {
            Ok(env) => env,
            Err(PmsError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if env.data().as_object().is_none_or(|o| o.is_empty()) {
            return Ok(None);
        }
        let detail: wire::GuestDetail = env.decode("getGuest")?;
        mapping::guest_from_detail(guest_id.as_str(), &detail, self.clock.now()).map_err(|e| {
            PmsError::Protocol {
                message: format!("Cloudbeds guest {guest_id}: {e}"),
                request_id: env.request_id.clone(),
            }
        })
    }

    async fn search_guests(&self, query: &GuestQuery) -> PmsResult<Vec<Guest>> {
        query
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        let read_at = self.clock.now();
        let mut found: Vec<Guest> = Vec::new();
        for filters in guest_searches(query) {
            for (key, entry) in self.guest_list(&filters).await? {
                if !entry_matches(query, &entry) {
                    continue;
                }
                match mapping::guest_from_list(key.as_deref(), &entry, read_at) {
                    Ok(Some(g)) if !found.iter().any(|f| f.id == g.id) => found.push(g),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        provider = "cloudbeds",
                        error = %e,
                        "Cloudbeds guest list entry could not be mapped"
                    ),
                }
            }
        }
        Ok(found)
    }

    async fn update_guest_preferences(
        &self,
        _guest_id: &ExternalId,
        _preferences: &[Preference],
    ) -> PmsResult<WriteReceipt> {
        Err(PmsError::unsupported(
            crate::PROVIDER,
            "update_guest_preferences",
        ))
    }

    async fn get_reservation(
        &self,
        confirmation: &ConfirmationNumber,
    ) -> PmsResult<Option<Reservation>> {
        // The confirmation number of a Cloudbeds booking is its reservationID (see `mapping`).
        self.reservation(confirmation.as_str()).await
    }

    async fn get_reservation_by_id(&self, id: &ExternalId) -> PmsResult<Option<Reservation>> {
        self.reservation(id.as_str()).await
    }

    async fn arrivals(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        let d = date.to_string();
        self.reservation_list(
            Listing::Rows,
            &[("checkInFrom", d.clone()), ("checkInTo", d)],
            |r| {
                r.arrival == date
                    && matches!(
                        r.status,
                        ReservationStatus::Confirmed | ReservationStatus::CheckedIn
                    )
            },
        )
        .await
    }

    /// One `checkInFrom`/`checkInTo` list (paged) instead of one per date.
    async fn arrivals_between(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Fetched<Reservation>> {
        let (listing, filters, keep) = self.list_filters(&ListRead::ArrivalsBetween { from, to });
        self.reservation_list(listing, &filters, keep).await
    }

    async fn departures(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        let (listing, filters, keep) = self.list_filters(&ListRead::Departures { date });
        self.reservation_list(listing, &filters, keep).await
    }

    /// One `getRatePlans` request with `detailedRates=true` for the whole range (its dates are a
    /// check-in and a check-out: the last night is the day before `endDate`). See
    /// [`availability`] for why this call and how rates of one room type are reconciled.
    async fn availability(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Vec<PmsAvailability>> {
        if to < from {
            return Err(PmsError::invalid(format!("{to} is before {from}")));
        }
        let params: Vec<(String, String)> = [
            ("propertyIDs", self.transport.property_id().to_owned()),
            ("startDate", from.to_string()),
            ("endDate", to.add_days(1).to_string()),
            ("detailedRates", "true".to_owned()),
            // Promo-code plans repeat the room types' inventory; they only add rows.
            ("includePromoCode", "false".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let env = self
            .transport
            .call("getRatePlans", Verb::Get, &params, Replay::Safe)
            .await?;
        let plans: Vec<wire::RatePlan> = match env.data() {
            Value::Null => Vec::new(),
            _ => env.decode("getRatePlans")?,
        };
        availability::availability(&plans, from, to)
    }

    async fn in_house(&self) -> PmsResult<Fetched<Reservation>> {
        let (listing, filters, keep) = self.list_filters(&ListRead::InHouse);
        self.reservation_list(listing, &filters, keep).await
    }

    async fn add_reservation_note(
        &self,
        confirmation: &ConfirmationNumber,
        note: &Note,
    ) -> PmsResult<WriteReceipt> {
        note.validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        // Cloudbeds notes are plain text: a title leads the text; `internal` has no equivalent.
        let text = match note
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(title) => format!("{title}: {}", note.text),
            None => note.text.clone(),
        };
        let params = self.params(&[
            ("reservationID", confirmation.to_string()),
            ("reservationNote", text),
        ]);
        let env = self
            .transport
            .call("postReservationNote", Verb::Post, &params, Replay::Unsafe)
            .await
            .map_err(|e| about(e, &format!("reservation {confirmation}")))?;
        Ok(WriteReceipt {
            vendor_id: env.body.get("reservationNoteID").map(scalar),
            request_id: env.request_id,
        })
    }

    async fn update_checkout(
        &self,
        confirmation: &ConfirmationNumber,
        change: &CheckoutChange,
    ) -> PmsResult<WriteReceipt> {
        if change.time.is_some() {
            // Cloudbeds has no departure time on a reservation; never drop the time silently.
            return Err(PmsError::unsupported(
                crate::PROVIDER,
                "update_checkout_time",
            ));
        }
        let params = self.params(&[
            ("reservationID", confirmation.to_string()),
            ("checkoutDate", change.date.to_string()),
        ]);
        let env = self
            .transport
            .call("putReservation", Verb::Put, &params, Replay::Safe)
            .await
            .map_err(|e| about(e, &format!("reservation {confirmation}")))?;
        Ok(WriteReceipt {
            vendor_id: Some(confirmation.to_string()),
            request_id: env.request_id,
        })
    }

    async fn post_charge(
        &self,
        confirmation: &ConfirmationNumber,
        charge: &Charge,
    ) -> PmsResult<ChargeReceipt> {
        charge
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        if charge.amount.currency != self.ctx.currency {
            return Err(PmsError::invalid(format!(
                "the hotel's folios are in {}, not {}",
                self.ctx.currency, charge.amount.currency
            )));
        }
        let category = charge
            .revenue_center
            .clone()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| self.default_category.clone());
        // Cloudbeds keeps the first name sent for an appItemID, so the id names the item
        // (category and description), not the posting.
        let app_item_id = format!(
            "pms-{}",
            &sha256_hex(
                format!(
                    "{}\u{1f}{}",
                    category.as_deref().unwrap_or(""),
                    charge.description
                )
                .as_bytes()
            )[..20]
        );
        let form = wire::custom_item_form(
            self.transport.property_id(),
            confirmation.as_str(),
            &charge.reference,
            &[wire::CustomItem {
                app_item_id,
                name: charge.description.clone(),
                price: charge.amount.to_decimal_string(),
                quantity: 1,
                category,
                note: Some(format!("ref {}", charge.reference)),
            }],
        );
        // Safe to replay: the referenceID makes a repeat a no-op at Cloudbeds.
        let env = self
            .transport
            .call("postCustomItem", Verb::Post, &form, Replay::Safe)
            .await
            .map_err(|e| about(e, &format!("reservation {confirmation}")))?;
        let posted: wire::CustomItemPosted = if env.data().is_object() {
            env.decode("postCustomItem")?
        } else {
            wire::CustomItemPosted::default()
        };
        if let Some(notice) = &posted.notice {
            tracing::info!(
                provider = "cloudbeds",
                reference = %charge.reference,
                notice = %notice,
                "Cloudbeds already had this referenceID; nothing new was posted"
            );
        }
        Ok(ChargeReceipt {
            vendor_id: posted.transaction_id.or(posted.sold_product_id),
            reference: charge.reference.clone(),
            request_id: env.request_id,
            // Whether it was ours is for the caller to say (was there an earlier attempt?).
            existed: posted.notice.is_some(),
        })
    }

    async fn find_charge(
        &self,
        _confirmation: &ConfirmationNumber,
        _reference: &str,
    ) -> PmsResult<Option<ChargeReceipt>> {
        Err(PmsError::unsupported(crate::PROVIDER, "find_charge"))
    }

    async fn get_balance(&self, confirmation: &ConfirmationNumber) -> PmsResult<Money> {
        let (detail, request_id) = self
            .reservation_detail(confirmation.as_str())
            .await?
            .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))?;
        mapping::detail_balance(&detail, self.ctx.currency).map_err(|e| PmsError::Protocol {
            message: format!("Cloudbeds reservation {confirmation}: {e}"),
            request_id,
        })
    }

    async fn room_status(&self, room: &RoomNumber) -> PmsResult<Option<RoomStatus>> {
        // getHousekeepingStatus has no room filter: read all, pick one.
        Ok(self
            .housekeeping()
            .await?
            .iter()
            .filter(|r| r.room_name.as_deref() == Some(room.as_str()))
            .find_map(Self::map_room))
    }

    async fn room_statuses(&self) -> PmsResult<Vec<RoomStatus>> {
        Ok(self
            .housekeeping()
            .await?
            .iter()
            .filter_map(Self::map_room)
            .collect())
    }

    async fn room_status_by_id(&self, id: &ExternalId) -> PmsResult<Option<RoomStatus>> {
        Ok(self
            .housekeeping()
            .await?
            .iter()
            .filter(|r| r.room_id.as_deref() == Some(id.as_str()))
            .find_map(Self::map_room))
    }

    /// Rooms have no by-id read (getHousekeepingStatus lists all): one read serves every room
    /// the events name. Reservations and guests are read one by one (no multi-id filter).
    async fn fetch_entities(&self, refs: &[EntityRef]) -> Vec<(EntityRef, PmsResult<Refreshed>)> {
        let mut unique: Vec<EntityRef> = refs.to_vec();
        unique.sort();
        unique.dedup();
        let rooms = if unique.iter().any(|r| r.kind == EntityKind::Room) {
            Some(self.housekeeping().await)
        } else {
            None
        };
        let mut out = Vec::with_capacity(unique.len());
        for r in unique {
            let result = match r.kind {
                EntityKind::Reservation => self
                    .get_reservation_by_id(&r.id)
                    .await
                    .map(|o| o.map_or(Refreshed::Gone, |v| Refreshed::Reservation(Box::new(v)))),
                EntityKind::Guest => self
                    .get_guest(&r.id)
                    .await
                    .map(|o| o.map_or(Refreshed::Gone, |v| Refreshed::Guest(Box::new(v)))),
                EntityKind::Room => match &rooms {
                    Some(Ok(list)) => Ok(list
                        .iter()
                        .filter(|h| h.room_id.as_deref() == Some(r.id.as_str()))
                        .find_map(Self::map_room)
                        .map_or(Refreshed::Gone, |v| Refreshed::Room(Box::new(v)))),
                    Some(Err(e)) => Err(e.clone()),
                    None => Ok(Refreshed::Gone),
                },
            };
            out.push((r, result));
        }
        out
    }

    /// The lists of the feeds' reads, one `getReservations` page (100 rows) at a time; the
    /// cursor is a [`ListCursor`].
    async fn reservations_page(
        &self,
        read: &ListRead,
        cursor: Option<&PageCursor>,
    ) -> PmsResult<Page<Reservation>> {
        let (listing, filters, keep) = self.list_filters(read);
        self.reservation_page(listing, &filters, keep, cursor).await
    }

    async fn reservations_changed(&self, window: ChangeWindow) -> PmsResult<Fetched<Reservation>> {
        // The local range may be a little wider than the window (DST); more is harmless.
        let (listing, filters, keep) = self.list_filters(&ListRead::Changed { window });
        self.reservation_list(listing, &filters, keep).await
    }
}

#[cfg(test)]
mod tests;
