//! Oracle OPERA Cloud through OHIP (Oracle Hospitality Integration Platform).
//!
//! - [`transport`]: OAuth token, required headers, request ids, error bodies, paging.
//! - [`wire`]: the specs' JSON shapes, tolerant of unknown fields and loose scalar types.
//! - [`mapping`]: wire -> canonical model, with the status tables.
//!
//! Facts this adapter relies on (specs in `testdata/`, sources in its README):
//! reservation reads by confirmation number go through `getHotelReservations`
//! (`confirmationNumberList`) to find the OPERA reservation id, then `getReservation` by id;
//! "not found" is 204; lists page with `limit` <= 200 and cannot page past 1 000 records, so
//! bigger queries are split (by date, then by surname range); the delta comes from business
//! events, a dequeue-once feed. Search results carry no comments: list reads leave `notes`
//! empty and reads by id fill them.

pub mod credentials;
#[cfg(any(test, feature = "testing"))]
pub mod decode;
pub mod mapping;
#[cfg(feature = "sim")]
pub mod sim;
pub mod transport;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::Method;
use serde_json::json;

use self::credentials::OperaCredentials;
use self::mapping::MapCtx;
use self::transport::{
    read_all, Call, NameRange, OhipCredentials, OhipTransport, Page, OFFSET_CAP, PAGE_LIMIT,
};
use self::wire::{
    id_of_type, BillingChargesDetails, BusinessEvents, FolioResponse, HousekeepingBoard, Profile,
    ProfileResponse, ProfileSummaries, ReservationResponse, ReservationsDetails,
};
use pms_domain::config::HotelConfig;
use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::{
    BusinessDate, Capabilities, Charge, ChargeReceipt, CheckoutChange, ConfirmationNumber,
    DeltaSupport, ExternalId, Guest, GuestQuery, HealthStatus, Money, Note, Preference, Provider,
    Reservation, RoomNumber, RoomStatus, WriteReceipt,
};
use pms_domain::pms::{
    ChangeWindow, EntityKind, EntityRef, Fetched, ItemFailure, ListRead, PageCursor, PmsAdapter,
    PmsError, PmsResult, Refreshed,
};
use pms_domain::ports::Clock;
use pms_vendor_kit::pms::http::VendorHttp;
use pms_vendor_kit::pms::ratelimit::{DistributedLimiter, RateLimiter};
use pms_vendor_kit::pms::{AdapterDeps, VendorBuilder};

/// getBusinessEvents: "The maximum allowable limit for this API is 20".
const EVENTS_LIMIT: usize = 20;
/// Pages of business events one delta read takes at most; the rest stays queued for the next.
const EVENT_PAGES_PER_READ: usize = 250;
/// How far around today the re-read fallback looks when no business events are configured.
const REREAD_DAYS: i64 = 1;
/// Reservation ids per `reservationIdList` search (one page; the query string stays short).
const IDS_PER_SEARCH: usize = 50;

/// OPERA Cloud (through OHIP), as records, keys and configurations name it.
pub const PROVIDER: Provider = Provider::named("opera");

/// Builds a hotel's adapter from its stored credentials.
pub fn builder() -> VendorBuilder {
    Arc::new(|config, secret, deps| {
        let credentials = OperaCredentials::parse(secret).map_err(|e| PmsError::Configuration {
            message: e.to_string(),
        })?;
        let adapter: Arc<dyn PmsAdapter> =
            Arc::new(OhipAdapter::from_config(config, credentials, deps)?);
        Ok(adapter)
    })
}

/// This vendor, as a build registers it (`pms-vendors`). OHIP's limit is set per
/// integration; 100 requests per minute per hotel is the default we start hotels with.
pub fn vendor() -> pms_vendor_kit::pms::Vendor {
    pms_vendor_kit::pms::Vendor::new(PROVIDER, credentials::schema(), builder())
        .with_aliases(&["ohip", "opera_cloud"])
        .with_rate_limit(100, 60)
}

/// OPERA sends no HTTP webhooks: its changes come from business events, which the delta
/// read follows.
pub fn webhook() -> Option<pms_vendor_kit::webhooks::WebhookVendor> {
    None
}

/// A reservation search: which `searchType`, which date parameters, and the slice of it.
#[derive(Clone, Debug)]
struct Search {
    search_type: &'static str,
    dates: Option<DateParams>,
    names: NameRange,
    /// `reservationIdList`: these reservations, whatever their status.
    ids: Vec<String>,
}

/// `arrivalStartDate`/`arrivalEndDate` or `departureStartDate`/`departureEndDate`.
#[derive(Clone, Copy, Debug)]
struct DateParams {
    start_param: &'static str,
    end_param: &'static str,
    from: NaiveDate,
    to: NaiveDate,
}

impl DateParams {
    /// The `orderBy` that sorts results by this range's date (arrivals or departures).
    fn order_by(&self) -> Option<&'static str> {
        match self.start_param {
            "arrivalStartDate" => Some("ArrivalDate"),
            "departureStartDate" => Some("DepartureDate"),
            _ => None,
        }
    }

    /// The date of a result this range filters on.
    fn date_of(&self, info: &wire::ReservationInfo) -> Option<NaiveDate> {
        let stay = info.room_stay.as_ref()?;
        let raw = match self.start_param {
            "arrivalStartDate" => stay.arrival_date.as_deref(),
            "departureStartDate" => stay.departure_date.as_deref(),
            _ => None,
        }?;
        NaiveDate::parse_from_str(raw.get(..10).unwrap_or(raw), "%Y-%m-%d").ok()
    }
}

impl Search {
    /// Where a page of this search, asked in date order, ends: the last result's date, when
    /// the search spans days (a later part can start there) and the page is in order from
    /// `floor` within the range. `None` when it cannot be read on by date (one day, no dates,
    /// or results out of order: a server that ignored `orderBy`).
    fn reached(
        &self,
        items: &[wire::ReservationInfo],
        floor: Option<(NaiveDate, usize)>,
    ) -> Option<(NaiveDate, usize)> {
        let d = self.dates?;
        d.order_by()?;
        if d.to <= d.from {
            return None;
        }
        let (mut last, mut count) = floor.unwrap_or((d.from, 0));
        for info in items {
            let date = d.date_of(info)?;
            if date < last || date > d.to {
                return None;
            }
            if date == last {
                count += 1;
            } else {
                (last, count) = (date, 1);
            }
        }
        Some((last, count))
    }

    fn new(search_type: &'static str, dates: Option<DateParams>) -> Self {
        Self {
            search_type,
            dates,
            names: NameRange::default(),
            ids: Vec::new(),
        }
    }

    fn by_ids(ids: &[String]) -> Self {
        Self {
            ids: ids.to_vec(),
            ..Self::new("Any", None)
        }
    }

    /// Narrower searches covering the same reservations: halve the date range first, then the
    /// surname range (one day can hold more than the offset cap).
    fn split(&self) -> Option<Vec<Search>> {
        if let Some(d) = self.dates {
            let days = (d.to - d.from).num_days();
            if days >= 1 {
                let mid = d.from + chrono::Duration::days(days / 2);
                let left = DateParams { to: mid, ..d };
                let right = DateParams {
                    from: mid + chrono::Duration::days(1),
                    ..d
                };
                return Some(vec![
                    Search {
                        dates: Some(left),
                        ..self.clone()
                    },
                    Search {
                        dates: Some(right),
                        ..self.clone()
                    },
                ]);
            }
        }
        self.names.split().map(|halves| {
            halves
                .into_iter()
                .map(|names| Search {
                    names,
                    ..self.clone()
                })
                .collect()
        })
    }
}

/// Where a paged list read stands, kept between worker invocations as a [`PageCursor`]: which
/// of the read's searches (e.g. `Arrival`, then `Arrived`), the slices of it still to read
/// (the search split by dates, then surnames, where it holds more than OHIP's offset cap of
/// 1000; the last one is read next), and the offset reached in that slice (pages of 200).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchCursor {
    pub search: usize,
    pub pending: Vec<SliceAt>,
    pub offset: usize,
    /// In a slice read in date order past the cap: the last date its pages reached, and how
    /// many records of that date they gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<(NaiveDate, usize)>,
}

/// One slice of a search: its date range (when the search has one) and surname range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SliceAt {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub names: NameRange,
}

impl SliceAt {
    fn of(s: &Search) -> SliceAt {
        SliceAt {
            from: s.dates.map(|d| d.from),
            to: s.dates.map(|d| d.to),
            names: s.names,
        }
    }

    /// The slice of `root` this describes.
    fn search(&self, root: &Search) -> Search {
        Search {
            dates: root.dates.map(|d| DateParams {
                from: self.from.unwrap_or(d.from),
                to: self.to.unwrap_or(d.to),
                ..d
            }),
            names: self.names,
            ..root.clone()
        }
    }
}

/// A housekeeping board query slice: status filters partition the rooms when a hotel has more
/// than the offset cap.
#[derive(Clone, Debug, Default)]
struct RoomSlice {
    housekeeping: Option<&'static str>,
    front_office: Option<&'static str>,
}

impl RoomSlice {
    fn split(&self) -> Option<Vec<RoomSlice>> {
        if self.housekeeping.is_none() {
            return Some(
                mapping::HOUSEKEEPING_STATUSES
                    .iter()
                    .map(|s| RoomSlice {
                        housekeeping: Some(s),
                        front_office: None,
                    })
                    .collect(),
            );
        }
        if self.front_office.is_none() {
            return Some(
                mapping::FRONT_OFFICE_STATUSES
                    .iter()
                    .map(|s| RoomSlice {
                        front_office: Some(s),
                        ..self.clone()
                    })
                    .collect(),
            );
        }
        None
    }
}

pub struct OhipAdapter {
    transport: OhipTransport,
    ctx: MapCtx,
    hotel_code: String,
    external_system: Option<String>,
    default_transaction_code: Option<String>,
    clock: Arc<dyn Clock>,
    /// Confirmation number -> OPERA reservation id; ids never change, so lookups are cached.
    ids: Mutex<HashMap<ConfirmationNumber, ExternalId>>,
    reread_warned: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found_on_404(e: PmsError, what: impl FnOnce() -> String) -> PmsError {
    match e {
        PmsError::InvalidRequest {
            status: Some(404),
            request_id,
            ..
        } => PmsError::NotFound {
            what: what(),
            request_id,
        },
        other => other,
    }
}

fn failure(id: &str, e: &PmsError) -> ItemFailure {
    ItemFailure {
        id: id.to_owned(),
        code: e.code().to_owned(),
        message: e.to_string(),
    }
}

/// Errors that would fail every id of a search alike: no point asking id by id.
fn is_fatal(e: &PmsError) -> bool {
    matches!(
        e,
        PmsError::Unauthorized { .. }
            | PmsError::RateLimited { .. }
            | PmsError::Configuration { .. }
            | PmsError::Unsupported { .. }
    )
}

impl OhipAdapter {
    pub fn from_config(
        config: &HotelConfig,
        credentials: OperaCredentials,
        deps: &AdapterDeps,
    ) -> PmsResult<Self> {
        let OperaCredentials {
            client_id,
            client_secret,
            app_key,
            grant,
        } = credentials;
        let base = config
            .vendor
            .base_url
            .clone()
            .ok_or_else(|| PmsError::Configuration {
                message: format!("{} has no OHIP gateway URL (baseUrl)", config.hotel_id),
            })?;
        let hotel_code = config
            .vendor
            .property_id
            .clone()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| PmsError::Configuration {
                message: format!("{} has no OHIP hotel code (propertyId)", config.hotel_id),
            })?;
        // OHIP limits per hotel; the budget is shared by every process using this client for
        // this hotel. The key holds a digest, never the credential itself.
        let limiter: Option<Arc<dyn RateLimiter>> = match (&deps.store, &config.rate_limit) {
            (Some(store), Some(limit)) => {
                let fingerprint = &sha256_hex(format!("{client_id}:{hotel_code}").as_bytes())[..16];
                Some(Arc::new(
                    DistributedLimiter::new(
                        store.clone(),
                        deps.clock.clone(),
                        config.hotel_id.clone(),
                        format!("ohip-{fingerprint}"),
                        limit,
                    )
                    .with_priority(deps.priority),
                ))
            }
            _ => None,
        };
        let http = VendorHttp::new(
            deps.http.clone(),
            deps.retry_policy(config),
            limiter,
            transport::REQUEST_ID_HEADERS,
            transport::error_message,
        );
        let external_system = config
            .vendor
            .external_system_code
            .clone()
            .filter(|c| !c.trim().is_empty());
        if external_system.is_none() {
            tracing::warn!(
                hotel = %config.hotel_id,
                "no OHIP external system code configured: the reservation delta re-reads \
                 arrivals, departures and in-house guests around today instead of following \
                 business events"
            );
        }
        Ok(Self {
            transport: OhipTransport::new(
                http,
                base,
                hotel_code.clone(),
                OhipCredentials {
                    client_id,
                    client_secret,
                    app_key,
                    grant,
                },
            ),
            ctx: MapCtx {
                tz: config.time_zone,
                currency: config.currency,
            },
            hotel_code,
            external_system,
            default_transaction_code: config
                .vendor
                .default_revenue_center
                .clone()
                .filter(|c| !c.trim().is_empty()),
            clock: deps.clock.clone(),
            ids: Mutex::new(HashMap::new()),
            reread_warned: AtomicBool::new(false),
        })
    }

    /// Token fetches this instance made.
    pub fn tokens_fetched(&self) -> u64 {
        self.transport.tokens_fetched()
    }

    fn remember(&self, r: &Reservation) {
        let mut ids = lock(&self.ids);
        if ids.len() > 50_000 {
            ids.clear();
        }
        ids.insert(r.confirmation_number.clone(), r.id.external().clone());
    }

    /// The OPERA reservation id of a confirmation number (getHotelReservations with
    /// `confirmationNumberList`).
    async fn reservation_id(
        &self,
        confirmation: &ConfirmationNumber,
    ) -> PmsResult<Option<ExternalId>> {
        if let Some(id) = lock(&self.ids).get(confirmation) {
            return Ok(Some(id.clone()));
        }
        let hotel = self.hotel_code.as_str();
        let call = Call::get(
            "ohip.getHotelReservations",
            vec!["rsv", "v1", "hotels", hotel, "reservations"],
        )
        .query("confirmationNumberList", confirmation.as_str())
        .query("limit", "20");
        let Some(found) = self
            .transport
            .get_json::<ReservationsDetails>(&call)
            .await?
        else {
            return Ok(None);
        };
        let infos = found.reservations.unwrap_or_default().reservation_info;
        let id = infos.iter().find_map(|info| {
            let conf = id_of_type(&info.reservation_id_list, "Confirmation")?;
            (conf == confirmation.as_str())
                .then(|| id_of_type(&info.reservation_id_list, "Reservation"))
                .flatten()
        });
        let Some(id) = id else {
            return Ok(None);
        };
        let id = ExternalId::parse(id)
            .map_err(|e| PmsError::protocol(format!("reservation id: {e}")))?;
        lock(&self.ids).insert(confirmation.clone(), id.clone());
        Ok(Some(id))
    }

    /// Whether a profile is this hotel's: registered with it (or created at it), else named
    /// by one of its reservations (one `getHotelReservations` by `profileIds`).
    async fn profile_is_here(&self, id: &ExternalId, profile: &Profile) -> PmsResult<bool> {
        let ours = |h: Option<&str>| h.is_some_and(|h| h.eq_ignore_ascii_case(&self.hotel_code));
        if ours(profile.registered_property.as_deref())
            || ours(
                profile
                    .profile_access_type
                    .as_ref()
                    .and_then(|a| a.hotel_id.as_deref()),
            )
        {
            return Ok(true);
        }
        let hotel = self.hotel_code.as_str();
        let call = Call::get(
            "ohip.getHotelReservations",
            vec!["rsv", "v1", "hotels", hotel, "reservations"],
        )
        .query("profileIds", id.as_str())
        .query("limit", "1");
        let found = self
            .transport
            .get_json::<ReservationsDetails>(&call)
            .await?;
        Ok(found
            .and_then(|f| f.reservations)
            .is_some_and(|r| !r.reservation_info.is_empty()))
    }

    async fn require_id(&self, confirmation: &ConfirmationNumber) -> PmsResult<ExternalId> {
        self.reservation_id(confirmation)
            .await?
            .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))
    }

    /// Every reservation of a search, split as needed; one bad record is a failure, not an
    /// error.
    async fn search(&self, search: Search, into: &mut Collected) -> PmsResult<()> {
        let infos = read_all(search, Search::split, |s, offset, limit| {
            let s = s.clone();
            async move { self.search_page(&s, offset, limit).await }
        })
        .await?;
        self.collect(infos, into);
        Ok(())
    }

    /// One `getHotelReservations` page of a search slice.
    async fn search_page(
        &self,
        s: &Search,
        offset: usize,
        limit: usize,
    ) -> PmsResult<Page<wire::ReservationInfo>> {
        let hotel = self.hotel_code.as_str();
        let mut call = Call::get(
            "ohip.getHotelReservations",
            vec!["rsv", "v1", "hotels", hotel, "reservations"],
        )
        .query("searchType", s.search_type)
        .query("limit", limit.to_string())
        .query("offset", offset.to_string());
        if let Some(d) = s.dates {
            call = call
                .query(d.start_param, d.from.format("%Y-%m-%d").to_string())
                .query(d.end_param, d.to.format("%Y-%m-%d").to_string());
            // In date order, a search past the offset cap reads on from the date it reached
            // (`list_page`) instead of probing and splitting.
            if let Some(order) = d.order_by() {
                call = call.query("orderBy", order).query("sortOrder", "Asc");
            }
        }
        for (k, v) in s.names.params() {
            call = call.query(k, v);
        }
        for id in &s.ids {
            call = call.query("reservationIdList", id.clone());
        }
        let Some(details) = self
            .transport
            .get_json::<ReservationsDetails>(&call)
            .await?
        else {
            return Ok(Page::empty());
        };
        let list = details.reservations.unwrap_or_default();
        Ok(Page::from_paging(&list.paging, list.reservation_info))
    }

    /// Maps search results into `into`; a record that cannot be mapped is a failure.
    fn collect(&self, infos: Vec<wire::ReservationInfo>, into: &mut Collected) {
        for info in infos {
            match mapping::reservation_from_info(&info, &self.ctx) {
                Ok(r) => {
                    self.remember(&r);
                    into.items.insert(r.id.external().to_string(), r);
                }
                Err(e) => {
                    let id = id_of_type(&info.reservation_id_list, "Reservation")
                        .unwrap_or("unknown")
                        .to_owned();
                    tracing::warn!(reservation = %id, error = %e, "OHIP reservation could not be mapped");
                    into.failures.insert(id.clone(), failure(&id, &e));
                }
            }
        }
    }

    /// The searches of a list read, in order (OPERA lists expected and arrived guests, or
    /// departing and departed ones, apart). `None` for the delta, which follows business
    /// events.
    fn searches(&self, read: &ListRead) -> Option<Vec<Search>> {
        Some(match *read {
            ListRead::ArrivalsBetween { from, to } => {
                // Nobody has arrived on a date still to come: no "Arrived" search there.
                let today = self.ctx.tz.business_date(self.clock.now());
                let kinds: &[&'static str] = if from > today {
                    &["Arrival"]
                } else {
                    &["Arrival", "Arrived"]
                };
                let dates = DateParams {
                    start_param: "arrivalStartDate",
                    end_param: "arrivalEndDate",
                    from: from.naive(),
                    to: to.naive(),
                };
                kinds
                    .iter()
                    .map(|&kind| Search::new(kind, Some(dates)))
                    .collect()
            }
            ListRead::Departures { date } => ["Departure", "CheckedOut"]
                .into_iter()
                .map(|kind| {
                    Search::new(
                        kind,
                        Some(Self::day(date, "departureStartDate", "departureEndDate")),
                    )
                })
                .collect(),
            ListRead::InHouse => vec![Search::new("InHouse", None)],
            ListRead::Changed { .. } => return None,
        })
    }

    /// One request of a paged list read from `at`: a page of up to [`PAGE_LIMIT`] of the
    /// current slice, or, where the slice holds [`OFFSET_CAP`] or more, the probe that splits
    /// it. Returns where the read stands after it (`None`: done).
    async fn list_page(
        &self,
        searches: &[Search],
        mut at: SearchCursor,
        into: &mut Collected,
    ) -> PmsResult<Option<SearchCursor>> {
        let Some(root) = searches.get(at.search) else {
            return Ok(None);
        };
        if at.pending.is_empty() {
            at.pending.push(SliceAt::of(root));
            at.offset = 0;
        }
        let Some(slice) = at.pending.last().map(|s| s.search(root)) else {
            return Ok(None);
        };
        let page = self.search_page(&slice, at.offset, PAGE_LIMIT).await?;
        let n = page.items.len();
        let capped = page.total.is_some_and(|t| t >= OFFSET_CAP);
        // A slice past the cap, in date order: its first 1000 are its earliest; read them, then
        // the rest of the last date reached (from the offset of the ones read) and the days
        // after it, as two slices. Only where that date is after the slice's first, or the
        // slice would not shrink: then it splits as below.
        if let Some((reached, of_reached)) = capped
            .then(|| slice.reached(&page.items, at.floor))
            .flatten()
        {
            let done = n == 0 || at.offset + n >= OFFSET_CAP || page.has_more == Some(false);
            let first = slice.dates.map(|d| d.from);
            if !done || Some(reached) > first {
                self.collect(page.items, into);
                if done {
                    let top = at.pending.pop().unwrap_or_else(|| SliceAt::of(&slice));
                    if top.to.is_some_and(|to| to > reached) {
                        at.pending.push(SliceAt {
                            from: reached.succ_opt(),
                            ..top
                        });
                    }
                    at.pending.push(SliceAt {
                        from: Some(reached),
                        to: Some(reached),
                        ..top
                    });
                    // A date with the whole 1000 cannot be paged on (an offset of 1000 gives
                    // nothing, not its total): it is read again from its start, and split.
                    at.offset = if of_reached < OFFSET_CAP {
                        of_reached
                    } else {
                        0
                    };
                    at.floor = None;
                } else {
                    at.offset += n;
                    at.floor = Some((reached, of_reached));
                }
                return Ok(Some(at));
            }
        }
        at.floor = None;
        // Past the cap and not readable by date (from the first page, or on a page out of
        // order): split, never page on to a cut-off total.
        let probe_too_big = capped;
        let more = match (page.has_more, page.total) {
            (_, Some(total)) if at.offset + n >= total => false,
            (Some(more), _) => more && n > 0,
            (None, _) => n >= PAGE_LIMIT,
        };
        // Past the cap without a total: the pages already given are read again by the
        // slice's halves (the merge finds them unchanged).
        let too_big = probe_too_big || (more && at.offset + n >= OFFSET_CAP);
        if too_big {
            let Some(children) = slice.split() else {
                return Err(PmsError::protocol(format!(
                    "more than {OFFSET_CAP} records match {slice:?} and the query cannot be narrowed further; OHIP cannot page past {OFFSET_CAP}"
                )));
            };
            at.pending.pop();
            at.pending.extend(children.iter().map(SliceAt::of));
            at.offset = 0;
            return Ok(Some(at));
        }
        self.collect(page.items, into);
        if more {
            at.offset += n;
        } else {
            at.pending.pop();
            at.offset = 0;
            if at.pending.is_empty() {
                at.search += 1;
            }
        }
        Ok((at.search < searches.len()).then_some(at))
    }

    /// Every search of a list read, whole.
    async fn read_searches(&self, read: &ListRead) -> PmsResult<Fetched<Reservation>> {
        let mut c = Collected::default();
        for search in self.searches(read).unwrap_or_default() {
            self.search(search, &mut c).await?;
        }
        Ok(c.into_fetched())
    }

    fn day(date: BusinessDate, start: &'static str, end: &'static str) -> DateParams {
        DateParams {
            start_param: start,
            end_param: end,
            from: date.naive(),
            to: date.naive(),
        }
    }

    async fn folio(
        &self,
        id: &ExternalId,
        query: &[(&'static str, String)],
    ) -> PmsResult<Option<FolioResponse>> {
        let hotel = self.hotel_code.as_str();
        let mut call = Call::get(
            "ohip.getFolio",
            vec![
                "csh",
                "v1",
                "hotels",
                hotel,
                "reservations",
                id.as_str(),
                "folios",
            ],
        );
        call.query.extend(query.iter().cloned());
        self.transport.get_json(&call).await
    }

    async fn put_reservation(
        &self,
        id: &ExternalId,
        confirmation: &ConfirmationNumber,
        reservation: serde_json::Value,
    ) -> PmsResult<WriteReceipt> {
        let hotel = self.hotel_code.as_str();
        let body = json!({ "reservations": [reservation] });
        let call = Call::send(
            "ohip.putReservation",
            Method::PUT,
            vec!["rsv", "v1", "hotels", hotel, "reservations", id.as_str()],
            body,
        );
        let response = self
            .transport
            .call(&call)
            .await
            .map_err(|e| not_found_on_404(e, || format!("reservation {confirmation}")))?;
        Ok(WriteReceipt {
            vendor_id: Some(id.to_string()),
            request_id: response.request_id,
        })
    }

    async fn events_delta(&self, code: &str) -> PmsResult<Fetched<Reservation>> {
        let hotel = self.hotel_code.as_str();
        let mut ids = BTreeSet::new();
        let mut dequeue_error = None;
        for _ in 0..EVENT_PAGES_PER_READ {
            let call = Call::get(
                "ohip.getBusinessEvents",
                vec![
                    "int",
                    "v1",
                    "externalSystem",
                    code,
                    "hotels",
                    hotel,
                    "businessEvents",
                ],
            )
            .query("limit", EVENTS_LIMIT.to_string());
            let events = match self.transport.get_json::<BusinessEvents>(&call).await {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    dequeue_error = Some(e);
                    break;
                }
            };
            if events.business_event_data.is_empty() {
                break;
            }
            for data in &events.business_event_data {
                let Some(header) = data.business_event.as_ref().and_then(|e| e.header.as_ref())
                else {
                    continue;
                };
                let module = header.module_name.as_deref().unwrap_or("");
                if module.eq_ignore_ascii_case("Cashiering") {
                    // A posting changes its reservation's balance (and stamp): re-read it.
                    let reservation = data
                        .business_event
                        .iter()
                        .flat_map(|e| &e.details)
                        .filter(|d| d.data_element.as_deref() == Some("RESERVATION ID"))
                        .find_map(|d| d.new_value.as_ref())
                        .map(|v| v.as_str().trim().to_owned())
                        .filter(|v| !v.is_empty());
                    ids.extend(reservation);
                    continue;
                }
                if !module.eq_ignore_ascii_case("Reservation") {
                    continue;
                }
                match header.primary_key.as_ref().map(|k| k.as_str().trim()) {
                    Some(k) if !k.is_empty() => {
                        ids.insert(k.to_owned());
                    }
                    _ => tracing::warn!(
                        action = header.action_type.as_deref().unwrap_or(""),
                        "OHIP reservation business event without a primary key"
                    ),
                }
            }
        }
        if ids.is_empty() {
            if let Some(e) = dequeue_error {
                return Err(e);
            }
        }
        // The events are consumed: every reservation they name is either returned or reported.
        // They are read as the feeds read reservations (the same list search, mapped the same
        // way, so a record does not change back and forth between feeds), many ids a request.
        let mut out = Fetched::ok(Vec::new());
        let mut valid = Vec::new();
        for id in ids {
            match ExternalId::parse(id.as_str()) {
                Ok(_) => valid.push(id),
                Err(e) => out.failures.push(ItemFailure {
                    id,
                    code: "PMS_PROTOCOL".into(),
                    message: e.to_string(),
                }),
            }
        }
        for chunk in valid.chunks(IDS_PER_SEARCH) {
            let mut c = Collected::default();
            let singles: Vec<&[String]> = match self.search(Search::by_ids(chunk), &mut c).await {
                Ok(()) => Vec::new(),
                // One reservation the vendor cannot serve fails the search: ask id by id, so
                // it does not take the others with it.
                Err(e) if chunk.len() > 1 && !is_fatal(&e) => chunk.chunks(1).collect(),
                Err(e) => {
                    for id in chunk {
                        tracing::warn!(reservation = %id, error = %e, "reservation from a business event could not be read");
                        out.failures.push(failure(id, &e));
                    }
                    Vec::new()
                }
            };
            for one in singles {
                if let Err(e) = self.search(Search::by_ids(one), &mut c).await {
                    tracing::warn!(reservation = %one[0], error = %e, "reservation from a business event could not be read");
                    c.failures.insert(one[0].clone(), failure(&one[0], &e));
                }
            }
            for id in chunk {
                if !c.items.contains_key(id) && !c.failures.contains_key(id) {
                    c.failures.insert(
                        id.clone(),
                        failure(
                            id,
                            &PmsError::not_found(format!(
                                "reservation {id} named by a business event"
                            )),
                        ),
                    );
                }
            }
            let got = c.into_fetched();
            out.items.extend(got.items);
            out.failures.extend(got.failures);
        }
        if let Some(e) = dequeue_error {
            // Events dequeued before the failure were processed above; the run must still know
            // the feed was not read to its end.
            out.failures.push(failure("businessEvents", &e));
        }
        Ok(out)
    }

    async fn reread_delta(&self, window: ChangeWindow) -> PmsResult<Fetched<Reservation>> {
        if !self.reread_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                hotel = %self.hotel_code,
                "OHIP delta without business events: re-reading reservations around today"
            );
        }
        let today = self.ctx.tz.business_date(self.clock.now());
        let from = today.add_days(-REREAD_DAYS).naive();
        let to = today.add_days(REREAD_DAYS).naive();
        let range = |start, end| DateParams {
            start_param: start,
            end_param: end,
            from,
            to,
        };
        let mut c = Collected::default();
        for (kind, dates) in [
            ("Arrival", Some(range("arrivalStartDate", "arrivalEndDate"))),
            ("Arrived", Some(range("arrivalStartDate", "arrivalEndDate"))),
            (
                "Departure",
                Some(range("departureStartDate", "departureEndDate")),
            ),
            (
                "CheckedOut",
                Some(range("departureStartDate", "departureEndDate")),
            ),
            ("InHouse", None),
        ] {
            self.search(Search::new(kind, dates), &mut c).await?;
        }
        c.items.retain(|_, r| {
            r.source_updated_at
                .is_none_or(|t| t >= window.from && t <= window.to)
        });
        Ok(c.into_fetched())
    }
}

/// Reservations collected from several searches, deduplicated by id.
#[derive(Default)]
struct Collected {
    items: BTreeMap<String, Reservation>,
    failures: BTreeMap<String, ItemFailure>,
}

impl Collected {
    fn into_fetched(self) -> Fetched<Reservation> {
        let items: Vec<Reservation> = self.items.into_values().collect();
        Fetched {
            failures: self
                .failures
                .into_values()
                .filter(|f| !items.iter().any(|r| r.id.external().as_str() == f.id))
                .collect(),
            items,
        }
    }
}

/// getProfiles `profileName` is the family name; a name with spaces is read as given names
/// followed by the family name.
fn name_params(name: &str) -> Vec<(&'static str, String)> {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => Vec::new(),
        [one] => vec![("profileName", (*one).to_owned())],
        [given @ .., last] => vec![
            ("profileName", (*last).to_owned()),
            ("givenName", given.join(" ")),
        ],
    }
}

#[async_trait]
impl PmsAdapter for OhipAdapter {
    fn provider(&self) -> Provider {
        crate::PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: crate::PROVIDER,
            search_by_name: true,
            search_by_email: true,
            search_by_phone: true,
            update_preferences: true,
            add_note: true,
            checkout_date: true,
            checkout_time: true,
            post_charge: true,
            native_charge_idempotency: false,
            find_charge_by_reference: true,
            balance: true,
            room_status: true,
            // OHIP serves availability from its Availability (PAR) module (`getHotelAvailability`,
            // named in the OHIP workflows), whose specification is not among the ones this build
            // is made from (crm, csh, fof, hsk, int, rsv): UNSUPPORTED until it is.
            availability: false,
            delta: if self.external_system.is_some() {
                DeltaSupport::EventFeed
            } else {
                DeltaSupport::Reread
            },
        }
    }

    fn calls_made(&self) -> u64 {
        self.transport.calls()
    }

    async fn connect(&self) -> PmsResult<()> {
        self.transport.token().await.map(|_| ())
    }

    async fn disconnect(&self) -> PmsResult<()> {
        self.transport.forget_token().await;
        Ok(())
    }

    async fn health_check(&self) -> HealthStatus {
        let started = std::time::Instant::now();
        let hotel = self.hotel_code.as_str();
        let call = Call::get(
            "ohip.getHousekeepingOverview",
            vec!["hsk", "v1", "hotels", hotel, "housekeepingOverview"],
        )
        .query("limit", "1");
        let result = self.transport.call(&call).await;
        HealthStatus {
            provider: crate::PROVIDER,
            healthy: result.is_ok(),
            latency_ms: started.elapsed().as_millis() as u64,
            message: result.err().map(|e| e.to_string()),
            checked_at: self.clock.now(),
        }
    }

    /// The profile, if it is this hotel's: registered with it, or the guest of one of its
    /// reservations. OPERA profiles are the chain's, readable by id from any of its hotels; a
    /// profile of another hotel of the chain is not found here.
    async fn get_guest(&self, guest_id: &ExternalId) -> PmsResult<Option<Guest>> {
        let call = Call::get(
            "ohip.getProfile",
            vec!["crm", "v1", "profiles", guest_id.as_str()],
        )
        .query("hotelId", self.hotel_code.clone())
        .query("fetchInstructions", "Profile")
        .query("fetchInstructions", "Communication")
        .query("fetchInstructions", "Membership")
        .query("fetchInstructions", "Preference");
        let Some(response) = self.transport.get_json::<ProfileResponse>(&call).await? else {
            return Ok(None);
        };
        if let Some(details) = &response.profile_details {
            let id = id_of_type(&response.profile_id_list, "Profile").unwrap_or(guest_id.as_str());
            if !self.profile_is_here(guest_id, details).await? {
                return Ok(None);
            }
            return mapping::guest_from_profile(id, details, &self.ctx).map(Some);
        }
        if let Some(info) = response
            .profiles
            .and_then(|p| p.profile_info.into_iter().next())
        {
            // The example's shape. Its id list may be a placeholder: the id asked for is the id.
            let profile = info.profile.unwrap_or_default();
            if !self.profile_is_here(guest_id, &profile).await? {
                return Ok(None);
            }
            return mapping::guest_from_profile(guest_id.as_str(), &profile, &self.ctx).map(Some);
        }
        Err(PmsError::protocol(format!(
            "profile {guest_id}: the answer holds no profile"
        )))
    }

    async fn search_guests(&self, query: &GuestQuery) -> PmsResult<Vec<Guest>> {
        query
            .validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        let mut criteria = Vec::new();
        if let Some(name) = query.name.as_deref().filter(|n| !n.trim().is_empty()) {
            criteria.extend(name_params(name));
        }
        if let Some(email) = query.email.as_deref().filter(|e| !e.trim().is_empty()) {
            criteria.push(("email", email.trim().to_owned()));
        }
        if let Some(phone) = query.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            criteria.push(("phone", phone.trim().to_owned()));
        }
        let infos = read_all(
            (),
            |_| None,
            |_, offset, limit| {
                let mut call = Call::get("ohip.getProfiles", vec!["crm", "v1", "profiles"])
                    .query("profileType", "Guest")
                    .query("searchType", "Any")
                    .query("hotelId", self.hotel_code.clone())
                    .query("fetchInstructions", "Communication")
                    .query("fetchInstructions", "Membership")
                    .query("limit", limit.to_string())
                    .query("offset", offset.to_string());
                call.query.extend(criteria.iter().cloned());
                async move {
                    let Some(found) = self.transport.get_json::<ProfileSummaries>(&call).await?
                    else {
                        return Ok(Page::empty());
                    };
                    let list = found.profile_summaries.unwrap_or_default();
                    Ok(Page::from_paging(&list.paging, list.profile_info))
                }
            },
        )
        .await
        .map_err(|e| match e {
            // OHIP's own advice for searches past its cap: "provide more search criteria".
            PmsError::Protocol { .. } => PmsError::invalid(
                "more than 1000 guest profiles match; narrow the search (OHIP cannot list more)",
            ),
            other => other,
        })?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for info in infos {
            match mapping::guest_from_profile_info(&info, &self.ctx) {
                Ok(g) => {
                    if seen.insert(g.id.clone()) {
                        out.push(g);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "OHIP profile in a search could not be mapped")
                }
            }
        }
        Ok(out)
    }

    async fn update_guest_preferences(
        &self,
        guest_id: &ExternalId,
        preferences: &[Preference],
    ) -> PmsResult<WriteReceipt> {
        if preferences.is_empty() {
            return Err(PmsError::invalid("no preferences given"));
        }
        for p in preferences {
            p.validate().map_err(|e| PmsError::invalid(e.to_string()))?;
        }
        // One group per preference type (OPERA's preference group code), one POST for all.
        let mut groups: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
        for p in preferences {
            let mut item = json!({
                // The workflows send the preference code as `preferenceValue`.
                "preferenceValue": p.key,
                "hotels": [self.hotel_code],
                "global": false,
            });
            if !p.value.trim().is_empty() && p.value != p.key {
                item["description"] = json!(p.value);
            }
            groups.entry(p.category.as_str()).or_default().push(item);
        }
        let collections: Vec<_> = groups
            .into_iter()
            .map(|(kind, prefs)| json!({ "preferenceType": kind, "preference": prefs }))
            .collect();
        let body = json!({
            "preferenceCollections": collections,
            "profileIdList": [{ "id": guest_id.as_str(), "type": "Profile" }],
        });
        let call = Call::send(
            "ohip.postPreference",
            Method::POST,
            vec!["crm", "v1", "profiles", guest_id.as_str(), "preferences"],
            body,
        );
        let response = self
            .transport
            .call(&call)
            .await
            .map_err(|e| not_found_on_404(e, || format!("guest {guest_id}")))?;
        Ok(WriteReceipt {
            vendor_id: response
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            request_id: response.request_id,
        })
    }

    async fn get_reservation(
        &self,
        confirmation: &ConfirmationNumber,
    ) -> PmsResult<Option<Reservation>> {
        match self.reservation_id(confirmation).await? {
            Some(id) => self.get_reservation_by_id(&id).await,
            None => Ok(None),
        }
    }

    async fn get_reservation_by_id(&self, id: &ExternalId) -> PmsResult<Option<Reservation>> {
        let hotel = self.hotel_code.as_str();
        let call = Call::get(
            "ohip.getReservation",
            vec!["rsv", "v1", "hotels", hotel, "reservations", id.as_str()],
        )
        .query("fetchInstructions", "Reservation")
        .query("fetchInstructions", "Comments");
        let Some(response) = self
            .transport
            .get_json::<ReservationResponse>(&call)
            .await?
        else {
            return Ok(None);
        };
        let Some(r) = response
            .reservations
            .and_then(|r| r.reservation.into_iter().next())
        else {
            return Ok(None);
        };
        let reservation = mapping::reservation_from_full(&r, &self.ctx)?;
        self.remember(&reservation);
        Ok(Some(reservation))
    }

    async fn arrivals(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        // Expected arrivals and those who already arrived that day, as OPERA lists them apart.
        let mut c = Collected::default();
        for kind in ["Arrival", "Arrived"] {
            let dates = Self::day(date, "arrivalStartDate", "arrivalEndDate");
            self.search(Search::new(kind, Some(dates)), &mut c).await?;
        }
        Ok(c.into_fetched())
    }

    /// One ranged search per kind instead of one per date; the search splits itself when the
    /// range holds more than OPERA returns at once.
    async fn arrivals_between(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Fetched<Reservation>> {
        self.read_searches(&ListRead::ArrivalsBetween { from, to })
            .await
    }

    async fn departures(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>> {
        self.read_searches(&ListRead::Departures { date }).await
    }

    async fn in_house(&self) -> PmsResult<Fetched<Reservation>> {
        self.read_searches(&ListRead::InHouse).await
    }

    async fn add_reservation_note(
        &self,
        confirmation: &ConfirmationNumber,
        note: &Note,
    ) -> PmsResult<WriteReceipt> {
        note.validate()
            .map_err(|e| PmsError::invalid(e.to_string()))?;
        let id = self.require_id(confirmation).await?;
        let mut comment = json!({
            "text": { "value": note.text },
            // As OPERA itself returns a reservation note (getReservation example).
            "notificationLocation": "GEN",
            "type": "RESERVATION",
            "internal": note.internal,
        });
        if let Some(title) = note.title.as_deref().filter(|t| !t.trim().is_empty()) {
            comment["commentTitle"] = json!(title);
        }
        let reservation = json!({
            "reservationIdList": [{ "id": id.as_str(), "type": "Reservation" }],
            "hotelId": self.hotel_code,
            "comments": [{ "comment": comment }],
        });
        self.put_reservation(&id, confirmation, reservation).await
    }

    async fn update_checkout(
        &self,
        confirmation: &ConfirmationNumber,
        change: &CheckoutChange,
    ) -> PmsResult<WriteReceipt> {
        let id = self.require_id(confirmation).await?;
        let current = self
            .get_reservation_by_id(&id)
            .await?
            .ok_or_else(|| PmsError::not_found(format!("reservation {confirmation}")))?;
        if change.date <= current.arrival {
            return Err(PmsError::invalid(format!(
                "departure {} must be after arrival {}",
                change.date, current.arrival
            )));
        }
        if current.status.is_final() {
            return Err(PmsError::invalid(format!(
                "reservation is {} and cannot change its departure",
                current.status
            )));
        }
        let mut room_stay = json!({
            "arrivalDate": current.arrival.to_string(),
            "departureDate": change.date.to_string(),
        });
        if let Some(time) = change.time {
            room_stay["expectedTimes"] = json!({
                "reservationExpectedDepartureTime": mapping::format_local_datetime(change.date, time),
            });
        }
        let reservation = json!({
            "reservationIdList": [{ "id": id.as_str(), "type": "Reservation" }],
            "hotelId": self.hotel_code,
            "roomStay": room_stay,
        });
        self.put_reservation(&id, confirmation, reservation).await
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
                "the folio is in {}, not {}",
                self.ctx.currency, charge.amount.currency
            )));
        }
        let code = charge
            .revenue_center
            .clone()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| self.default_transaction_code.clone())
            .ok_or_else(|| PmsError::Configuration {
                message: "a charge needs an OHIP transaction code: none given and no \
                          defaultRevenueCenter configured"
                    .into(),
            })?;
        let id = self.require_id(confirmation).await?;
        let hotel = self.hotel_code.as_str();
        let body = json!({
            "criteria": {
                "hotelId": hotel,
                "reservationId": { "id": id.as_str(), "type": "Reservation", "idContext": "OPERA" },
                "charges": [{
                    "transactionCode": code,
                    // A JSON number: Rust writes the shortest text that reads back the same,
                    // so 12.34 is sent as 12.34.
                    "price": {
                        "amount": charge.amount.to_major_f64(),
                        "currencyCode": charge.amount.currency.code(),
                    },
                    "postingQuantity": 1,
                    // Our reference, so the posting can be found again (find_charge).
                    "postingReference": charge.reference,
                    "postingRemark": charge.description,
                    "applyRoutingInstructions": false,
                    "usePackageAllowance": false,
                }],
                "postIt": false,
            }
        });
        let call = Call::send(
            "ohip.postBillingCharges",
            Method::POST,
            vec![
                "csh",
                "v1",
                "hotels",
                hotel,
                "reservations",
                id.as_str(),
                "charges",
            ],
            body,
        );
        let response = self
            .transport
            .call(&call)
            .await
            .map_err(|e| not_found_on_404(e, || format!("reservation {confirmation}")))?;
        // 201; the body (billingChargesDetails) is optional, the Location header too.
        let posted = if response.is_empty() {
            None
        } else {
            response
                .json::<BillingChargesDetails>()
                .ok()
                .and_then(|d| d.postings.into_iter().find_map(|p| p.transaction_no))
                .map(|n| n.0)
        };
        let location = response
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(posting_in_location);
        // Neither may name the posting (OHIP's Location can name the charges collection): the
        // receipt then carries our reference only, which `find_charge` looks up.
        Ok(ChargeReceipt {
            vendor_id: posted.or(location),
            reference: charge.reference.clone(),
            request_id: response.request_id,
            existed: false,
        })
    }

    async fn find_charge(
        &self,
        confirmation: &ConfirmationNumber,
        reference: &str,
    ) -> PmsResult<Option<ChargeReceipt>> {
        let id = self.require_id(confirmation).await?;
        let found = |folio: &FolioResponse, request_id: Option<String>| {
            folio
                .reservation_folio_information
                .iter()
                .flat_map(|i| &i.folio_windows)
                .flat_map(|w| &w.folios)
                .flat_map(|f| &f.postings)
                .find(|p| p.reference.as_deref().map(str::trim) == Some(reference))
                .map(|p| ChargeReceipt {
                    vendor_id: p.transaction_no.as_ref().map(|n| n.0.clone()),
                    reference: reference.to_owned(),
                    request_id,
                    existed: true,
                })
        };
        let first = self
            .folio(&id, &[("fetchInstructions", "Postings".to_owned())])
            .await?;
        let Some(first) = first else {
            // No folio yet: nothing was ever posted.
            return Ok(None);
        };
        if let Some(hit) = found(&first, None) {
            return Ok(Some(hit));
        }
        // Windows whose postings continue past the first page are paged one by one.
        let windows = first
            .reservation_folio_information
            .iter()
            .flat_map(|i| &i.folio_windows)
            .filter(|w| w.paging.has_more.is_some_and(|b| b.0))
            .filter_map(|w| {
                let n = w.folio_window_no.as_ref()?.as_u64()?;
                let seen: usize = w.folios.iter().map(|f| f.postings.len()).sum();
                Some((n, seen))
            })
            .collect::<Vec<_>>();
        for (window, mut offset) in windows {
            while offset < transport::OFFSET_CAP {
                let page = self
                    .folio(
                        &id,
                        &[
                            ("fetchInstructions", "Postings".to_owned()),
                            ("folioWindowNo", window.to_string()),
                            ("limit", transport::PAGE_LIMIT.to_string()),
                            ("offset", offset.to_string()),
                        ],
                    )
                    .await?;
                let Some(page) = page else { break };
                if let Some(hit) = found(&page, None) {
                    return Ok(Some(hit));
                }
                let w = page
                    .reservation_folio_information
                    .iter()
                    .flat_map(|i| &i.folio_windows)
                    .find(|w| w.folio_window_no.as_ref().and_then(|n| n.as_u64()) == Some(window));
                let Some(w) = w else { break };
                let n: usize = w.folios.iter().map(|f| f.postings.len()).sum();
                if n == 0 || !w.paging.has_more.is_some_and(|b| b.0) {
                    break;
                }
                offset += n;
            }
            if offset >= transport::OFFSET_CAP {
                return Err(PmsError::protocol(format!(
                    "folio window {window} of reservation {confirmation} has more postings than OHIP can page; the charge {reference} could not be looked for in all of them"
                )));
            }
        }
        Ok(None)
    }

    async fn get_balance(&self, confirmation: &ConfirmationNumber) -> PmsResult<Money> {
        let id = self.require_id(confirmation).await?;
        let folio = self
            .folio(
                &id,
                &[
                    ("reservationBalanceOnly", "true".to_owned()),
                    ("fetchInstructions", "Totalbalance".to_owned()),
                ],
            )
            .await?;
        // Folios exist only once the guest checked in (spec): no folio, nothing owed.
        let Some(folio) = folio else {
            return Ok(Money::zero(self.ctx.currency));
        };
        mapping::folio_balance(folio, &self.ctx)?.ok_or_else(|| {
            PmsError::protocol(format!(
                "the folio of reservation {confirmation} holds no balance"
            ))
        })
    }

    async fn room_status(&self, room: &RoomNumber) -> PmsResult<Option<RoomStatus>> {
        let hotel = self.hotel_code.as_str();
        let call = Call::get(
            "ohip.getHousekeepingOverview",
            vec!["hsk", "v1", "hotels", hotel, "housekeepingOverview"],
        )
        .query("fromRoomNumber", room.as_str())
        .query("toRoomNumber", room.as_str())
        .query("limit", "20");
        let Some(board) = self.transport.get_json::<HousekeepingBoard>(&call).await? else {
            return Ok(None);
        };
        let rooms = board
            .housekeeping_room_info
            .and_then(|i| i.housekeeping_rooms)
            .map(|r| r.room)
            .unwrap_or_default();
        rooms
            .iter()
            .find(|r| r.room_id.as_ref().map(|i| i.as_str()) == Some(room.as_str()))
            .map(mapping::room_from_housekeeping)
            .transpose()
    }

    async fn room_statuses(&self) -> PmsResult<Vec<RoomStatus>> {
        let hotel = self.hotel_code.as_str();
        let rooms = read_all(
            RoomSlice::default(),
            RoomSlice::split,
            |s, offset, limit| {
                let mut call = Call::get(
                    "ohip.getHousekeepingOverview",
                    vec!["hsk", "v1", "hotels", hotel, "housekeepingOverview"],
                )
                .query("limit", limit.to_string())
                .query("offset", offset.to_string());
                if let Some(h) = s.housekeeping {
                    call = call.query("housekeepingRoomStatus", h);
                }
                if let Some(f) = s.front_office {
                    call = call.query("frontOfficeRoomStatus", f);
                }
                async move {
                    let Some(board) = self.transport.get_json::<HousekeepingBoard>(&call).await?
                    else {
                        return Ok(Page::empty());
                    };
                    let info = board.housekeeping_room_info.unwrap_or_default();
                    Ok(Page::from_paging(
                        &info.paging,
                        info.housekeeping_rooms.map(|r| r.room).unwrap_or_default(),
                    ))
                }
            },
        )
        .await?;
        let mut by_number = BTreeMap::new();
        for room in &rooms {
            match mapping::room_from_housekeeping(room) {
                Ok(r) => {
                    by_number.insert(r.room_number.clone(), r);
                }
                Err(e) => tracing::warn!(error = %e, "OHIP room could not be mapped"),
            }
        }
        Ok(by_number.into_values().collect())
    }

    async fn room_status_by_id(&self, id: &ExternalId) -> PmsResult<Option<RoomStatus>> {
        // OHIP's room id is the room number.
        match RoomNumber::parse(id.as_str()) {
            Ok(number) => self.room_status(&number).await,
            Err(_) => Ok(None),
        }
    }

    /// Reservations are read as the feeds read them (the same list search by ids, mapped the
    /// same way), so a refresh and a sync store the same record: a full read carries notes and
    /// no balance, a list read the reverse, and a record read both ways would flip between them
    /// with every refresh and sync (found by the chaos suite). Guests and rooms one by one.
    async fn fetch_entities(&self, refs: &[EntityRef]) -> Vec<(EntityRef, PmsResult<Refreshed>)> {
        let mut unique = refs.to_vec();
        unique.sort();
        unique.dedup();
        let (reservations, others): (Vec<EntityRef>, Vec<EntityRef>) = unique
            .into_iter()
            .partition(|r| r.kind == EntityKind::Reservation);
        let mut out = Vec::with_capacity(reservations.len() + others.len());
        for chunk in reservations.chunks(IDS_PER_SEARCH) {
            let ids: Vec<String> = chunk.iter().map(|r| r.id.to_string()).collect();
            let mut c = Collected::default();
            match self.search(Search::by_ids(&ids), &mut c).await {
                Ok(()) => {
                    for r in chunk {
                        let id = r.id.as_str();
                        let result = match (c.items.remove(id), c.failures.get(id)) {
                            (Some(found), _) => Ok(Refreshed::Reservation(Box::new(found))),
                            (None, Some(f)) => Err(PmsError::protocol(f.message.clone())),
                            (None, None) => Ok(Refreshed::Gone),
                        };
                        out.push((r.clone(), result));
                    }
                }
                Err(e) => out.extend(chunk.iter().map(|r| (r.clone(), Err(e.clone())))),
            }
        }
        for r in others {
            let result = match r.kind {
                EntityKind::Guest => self
                    .get_guest(&r.id)
                    .await
                    .map(|o| o.map_or(Refreshed::Gone, |g| Refreshed::Guest(Box::new(g)))),
                _ => self
                    .room_status_by_id(&r.id)
                    .await
                    .map(|o| o.map_or(Refreshed::Gone, |room| Refreshed::Room(Box::new(room)))),
            };
            out.push((r, result));
        }
        out
    }

    /// Arrivals, departures and in-house one `getHotelReservations` request at a time (pages
    /// of 200, slices split under the 1000 offset cap); the cursor is a [`SearchCursor`]. The
    /// delta consumes business events and is answered whole.
    async fn reservations_page(
        &self,
        read: &ListRead,
        cursor: Option<&PageCursor>,
    ) -> PmsResult<pms_domain::pms::Page<Reservation>> {
        let Some(searches) = self.searches(read) else {
            if cursor.is_some() {
                return Err(PmsError::invalid(
                    "the OHIP delta is read whole; there is no page to resume",
                ));
            }
            let ListRead::Changed { window } = *read else {
                return Err(PmsError::invalid("not a paged read"));
            };
            return Ok(pms_domain::pms::Page {
                fetched: self.reservations_changed(window).await?,
                next: None,
            });
        };
        let at: SearchCursor = cursor
            .map(PageCursor::decode)
            .transpose()?
            .unwrap_or_default();
        let mut c = Collected::default();
        let next = self.list_page(&searches, at, &mut c).await?;
        Ok(pms_domain::pms::Page {
            fetched: c.into_fetched(),
            next: next.as_ref().map(PageCursor::encode).transpose()?,
        })
    }

    async fn reservations_changed(&self, window: ChangeWindow) -> PmsResult<Fetched<Reservation>> {
        match self.external_system.clone() {
            // Business events are a queue: what is dequeued is what changed since the last
            // read, whatever the window says.
            Some(code) => self.events_delta(&code).await,
            None => self.reread_delta(window).await,
        }
    }
}

/// The posting a `Location` names, if it names one: `.../charges/{transactionNo}`. A Location
/// that names the collection (`.../charges`, as OHIP answers `postBillingCharges`) or anything
/// else identifies no posting.
fn posting_in_location(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let last = segments.next()?;
    let parent = segments.next()?;
    (parent.eq_ignore_ascii_case("charges") && !last.is_empty()).then(|| last.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_location_identifies_a_posting_only_when_it_names_one() {
        use super::posting_in_location as p;
        assert_eq!(
            p("/csh/v1/hotels/H/reservations/1/charges/8812"),
            Some("8812".into())
        );
        assert_eq!(
            p("https://gw.example/csh/v1/hotels/H/reservations/1/charges/8812?x=1"),
            Some("8812".into())
        );
        assert_eq!(p("/csh/v1/hotels/H/reservations/1/charges"), None);
        assert_eq!(p("/csh/v1/hotels/H/reservations/1/charges/"), None);
        assert_eq!(p("/csh/v1/hotels/H/reservations/1"), None);
        assert_eq!(p(""), None);
    }

    use super::*;

    #[test]
    fn names_split_into_family_and_given() {
        assert_eq!(
            name_params("Chen"),
            vec![("profileName", "Chen".to_owned())]
        );
        assert_eq!(
            name_params(" Mary Ann  Smith "),
            vec![
                ("profileName", "Smith".to_owned()),
                ("givenName", "Mary Ann".to_owned())
            ]
        );
        assert!(name_params("   ").is_empty());
    }

    #[test]
    fn searches_split_dates_before_names() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let s = Search::new(
            "Arrival",
            Some(DateParams {
                start_param: "arrivalStartDate",
                end_param: "arrivalEndDate",
                from: d("2026-01-01"),
                to: d("2026-01-03"),
            }),
        );
        let parts = s.split().unwrap();
        let ranges: Vec<_> = parts
            .iter()
            .map(|p| (p.dates.unwrap().from, p.dates.unwrap().to))
            .collect();
        assert_eq!(
            ranges,
            [
                (d("2026-01-01"), d("2026-01-02")),
                (d("2026-01-03"), d("2026-01-03"))
            ]
        );
        // One day left: the surname range splits.
        let one = &parts[1].split().unwrap();
        assert_eq!(one.len(), 2);
        assert!(one.iter().all(|p| p.dates.unwrap().from == d("2026-01-03")));
        assert_ne!(one[0].names, one[1].names);
    }

    #[test]
    fn room_slices_partition_by_status() {
        let parts = RoomSlice::default().split().unwrap();
        assert_eq!(parts.len(), mapping::HOUSEKEEPING_STATUSES.len());
        let deeper = parts[0].split().unwrap();
        assert_eq!(deeper.len(), 2);
        assert!(deeper[0].split().is_none());
    }
}
