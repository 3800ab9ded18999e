//! The partner read API's logic, behind one facade: [`PartnerReads`] (one per process: the store,
//! the adapters, the read-through cache and its single-flight state) opens a [`ReadSession`] per
//! request for a verified [`Principal`]. Every read of a session names a hotel and is authorized
//! for it first (scope `read`, the token's hotel list), so no read can reach a hotel's data
//! without the check. Transports (GraphQL) only map arguments and results.
//!
//! - Stored data (bookings, arrivals, departures, in-house, availability, sync runs) is read by
//!   key queries on the table and its indexes, never a scan.
//! - PMS entities (guests, reservations, room statuses, balances) go through the read-through
//!   cache ([`crate::cache`]), with TTLs from the hotel's configuration.
//!
//! Every session (one request) has two budgets, whatever its number of fields: at most
//! [`MAX_ITEMS_READ`] stored items read ([`budget`]), and one deadline, [`READ_DEADLINE`] after
//! it opened, for everything asked of the PMS: retries and rate-limit waits included. A PMS that
//! does not answer by then is answered for by the cache's stale copy, or `PMS_UNAVAILABLE`.

mod access;
mod bookings;
mod budget;
mod calendar;
mod error;
mod live;
mod pms_availability;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use bookings::{
    BookingConnection, BookingEdge, BookingFilter, BookingRef, PageRequest, DEFAULT_PAGE_SIZE,
    MAX_EXAMINED, MAX_PAGE_SIZE,
};
pub use budget::MAX_ITEMS_READ;
pub use calendar::{IN_HOUSE_LOOKBACK_DAYS, MAX_AVAILABILITY_DAYS};
pub use error::{public_error_message, ReadError};

use crate::cache::{Cached, ReadThrough};
use crate::records::{ProvidedAvailability, ReservationQueries};
use crate::registry::{HotelRegistry, Principal, Scope};
use crate::runtime::Services;
use crate::sync_runs::{SyncRun, SyncRuns};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{
    BusinessDate, ConfirmationNumber, Guest, GuestQuery, HealthStatus, HotelId, Money,
    PmsAvailability, Provider, Reservation, RoomNumber, RoomStatus, RoomTypeCode,
};
use pms_domain::ports::{Clock, ItemStore};
use pms_vendor_kit::pms::AdapterFactory;

pub(crate) use access::HotelAccess;
use budget::{BudgetedStore, ReadBudget};
use calendar::Side;
pub(crate) use live::by_deadline;
use live::Live;

/// The most sync runs one read returns.
pub const MAX_SYNC_RUNS: u32 = 100;

/// How long one request's reads may wait for the hotel's PMS, in all: well inside the 5 s a
/// partner waits at most, and far inside the function's timeout.
pub const READ_DEADLINE: Duration = Duration::from_secs(4);

/// A hotel's PMS health and its latest sync.
#[derive(Clone, Debug, PartialEq)]
pub struct HotelHealth {
    pub pms: HealthStatus,
    /// The hotel's PMS circuit breaker (`crate::health`).
    pub circuit: crate::health::CircuitView,
    pub last_sync: Option<SyncRun>,
}

struct Inner {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    live: Live,
    deadline: Duration,
}

/// The read side, built once per process so the cache's single-flight state is shared by every
/// request the process serves.
#[derive(Clone)]
pub struct PartnerReads {
    inner: Arc<Inner>,
}

impl PartnerReads {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        adapters: Arc<AdapterFactory>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                live: Live {
                    cache: ReadThrough::new(store.clone(), clock.clone()),
                    adapters,
                    breakers: crate::health::Breakers::new(store.clone(), clock.clone()),
                },
                store,
                clock,
                deadline: READ_DEADLINE,
            }),
        }
    }

    /// Sessions opened from now on give the PMS `deadline` in all (tests shorten it).
    pub fn with_deadline(self, deadline: Duration) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                store: inner.store.clone(),
                clock: inner.clock.clone(),
                live: inner.live.clone(),
                deadline,
            }),
        }
    }

    pub fn from_services(services: &Services) -> Self {
        Self::new(
            services.store.clone(),
            services.clock.clone(),
            services.adapters.clone(),
        )
        .with_breakers(services.breakers.clone())
    }

    /// Reads consult (and report to) these circuit breakers (the process's, with metrics).
    pub fn with_breakers(self, breakers: crate::health::Breakers) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                store: inner.store.clone(),
                clock: inner.clock.clone(),
                live: Live {
                    breakers,
                    ..inner.live.clone()
                },
                deadline: inner.deadline,
            }),
        }
    }

    /// The reads one verified caller may make in one request: its budgets start now.
    pub fn session(&self, principal: Principal) -> ReadSession {
        let budget = ReadBudget::new(MAX_ITEMS_READ);
        let store: Arc<dyn ItemStore> =
            Arc::new(BudgetedStore::new(self.inner.store.clone(), budget.clone()));
        ReadSession {
            access: HotelAccess::new(principal, HotelRegistry::new(store.clone())),
            reservations: ReservationQueries::new(store.clone()),
            sync_runs: SyncRuns::new(store.clone()),
            store,
            budget,
            deadline: tokio::time::Instant::now() + self.inner.deadline,
            reads: self.clone(),
        }
    }
}

/// One caller's reads. Every method authorizes the hotel it names before reading, and reads the
/// store through the session's budget.
pub struct ReadSession {
    reads: PartnerReads,
    access: HotelAccess,
    store: Arc<dyn ItemStore>,
    reservations: ReservationQueries,
    sync_runs: SyncRuns,
    budget: Arc<ReadBudget>,
    deadline: tokio::time::Instant,
}

impl ReadSession {
    pub fn principal(&self) -> &Principal {
        self.access.principal()
    }

    fn inner(&self) -> &Inner {
        &self.reads.inner
    }

    /// Stored items this session may still read.
    pub fn items_left(&self) -> u64 {
        self.budget.left()
    }

    /// When this session's PMS reads give up.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    async fn hotel(&self, hotel: &HotelId) -> Result<Arc<HotelConfig>, ReadError> {
        self.access.authorize(hotel, Scope::Read).await
    }

    /// Today in the hotel's time zone.
    fn today(&self, config: &HotelConfig) -> BusinessDate {
        config.time_zone.business_date(self.inner().clock.now())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner().clock.now()
    }

    /// The hotel's configuration (for its name, provider and time zone).
    pub async fn hotel_config(&self, hotel: &HotelId) -> Result<Arc<HotelConfig>, ReadError> {
        self.hotel(hotel).await
    }

    pub async fn bookings(
        &self,
        hotel: &HotelId,
        filter: &BookingFilter,
        page: &PageRequest,
    ) -> Result<BookingConnection, ReadError> {
        self.hotel(hotel).await?;
        bookings::page(&*self.store, hotel, filter, page).await
    }

    pub async fn booking(&self, id: &BookingRef) -> Result<Option<Reservation>, ReadError> {
        self.hotel(&id.hotel).await?;
        Ok(self.reservations.get(&id.hotel, &id.id).await?)
    }

    /// The booking with this confirmation number. Numbers can coincide across providers: then
    /// the one of `provider`, else of the hotel's current provider, else the newest.
    pub async fn booking_by_confirmation(
        &self,
        hotel: &HotelId,
        confirmation: &ConfirmationNumber,
        provider: Option<Provider>,
    ) -> Result<Option<Reservation>, ReadError> {
        let config = self.hotel(hotel).await?;
        let mut found = self
            .reservations
            .by_confirmation(hotel, confirmation)
            .await?;
        if let Some(p) = provider {
            found.retain(|r| r.id.provider() == p);
        }
        found.sort_by_key(|r| (r.id.provider() == config.provider, r.version));
        Ok(found.pop())
    }

    /// Expected arrivals on `date` (default: today in the hotel's zone).
    pub async fn arrivals(
        &self,
        hotel: &HotelId,
        date: Option<BusinessDate>,
    ) -> Result<(BusinessDate, Vec<Reservation>), ReadError> {
        let config = self.hotel(hotel).await?;
        let date = date.unwrap_or_else(|| self.today(&config));
        let list = calendar::day(&self.reservations, &config, date, Side::Arrivals).await?;
        Ok((date, list))
    }

    /// Expected departures on `date` (default: today in the hotel's zone).
    pub async fn departures(
        &self,
        hotel: &HotelId,
        date: Option<BusinessDate>,
    ) -> Result<(BusinessDate, Vec<Reservation>), ReadError> {
        let config = self.hotel(hotel).await?;
        let date = date.unwrap_or_else(|| self.today(&config));
        let list = calendar::day(&self.reservations, &config, date, Side::Departures).await?;
        Ok((date, list))
    }

    /// Stays checked in today (in the hotel's zone).
    pub async fn in_house(
        &self,
        hotel: &HotelId,
    ) -> Result<(BusinessDate, Vec<Reservation>), ReadError> {
        let config = self.hotel(hotel).await?;
        let today = self.today(&config);
        let list = calendar::in_house(&self.reservations, &config, today).await?;
        Ok((today, list))
    }

    pub async fn availability(
        &self,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
        room_type: Option<&RoomTypeCode>,
    ) -> Result<Vec<ProvidedAvailability>, ReadError> {
        let config = self.hotel(hotel).await?;
        calendar::availability(&*self.store, &config, from, to, room_type).await
    }

    /// Rooms free per night and room type as the hotel's PMS counts them (stored by the sync's
    /// `availability` feed), `[from, to]`, by date then room type. `Unsupported` when the
    /// hotel's PMS has no availability read (OPERA), before anything is read.
    pub async fn pms_availability(
        &self,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
        room_type: Option<&RoomTypeCode>,
    ) -> Result<Vec<PmsAvailability>, ReadError> {
        let config = self.hotel(hotel).await?;
        calendar::check_range(from, to)?;
        let adapters = &self.inner().live.adapters;
        match by_deadline(self.deadline, adapters.adapter_for(&config)).await {
            Ok(adapter) if !adapter.capabilities().availability => {
                return Err(ReadError::Unsupported {
                    provider: config.provider,
                    operation: "availability from the PMS",
                });
            }
            Ok(_) => {}
            // The figures are stored: an adapter that cannot be built now (credentials being
            // rotated) does not hide them.
            Err(e) => tracing::warn!(
                code = e.code(),
                "the hotel's adapter could not be built; answering stored PMS availability"
            ),
        }
        pms_availability::nights(&*self.store, &config, from, to, room_type).await
    }

    pub async fn guest(
        &self,
        hotel: &HotelId,
        id: &pms_domain::domain::RecordId,
    ) -> Result<Option<Cached<Guest>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.guest(&config, self.deadline, id).await
    }

    pub async fn search_guests(
        &self,
        hotel: &HotelId,
        query: GuestQuery,
    ) -> Result<Cached<Vec<Guest>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner()
            .live
            .search_guests(&config, self.deadline, query)
            .await
    }

    pub async fn reservation(
        &self,
        hotel: &HotelId,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Reservation>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner()
            .live
            .reservation(&config, self.deadline, confirmation)
            .await
    }

    pub async fn balance(
        &self,
        hotel: &HotelId,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Money>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner()
            .live
            .balance(&config, self.deadline, confirmation)
            .await
    }

    pub async fn room_status(
        &self,
        hotel: &HotelId,
        room: &RoomNumber,
    ) -> Result<Option<Cached<RoomStatus>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner()
            .live
            .room_status(&config, self.deadline, room)
            .await
    }

    pub async fn room_statuses(
        &self,
        hotel: &HotelId,
    ) -> Result<Cached<Vec<RoomStatus>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner()
            .live
            .room_statuses(&config, self.deadline)
            .await
    }

    /// The hotel's latest `last` sync runs (1 to [`MAX_SYNC_RUNS`]), newest first.
    pub async fn sync_runs(&self, hotel: &HotelId, last: u32) -> Result<Vec<SyncRun>, ReadError> {
        self.hotel(hotel).await?;
        if !(1..=MAX_SYNC_RUNS).contains(&last) {
            return Err(pms_domain::domain::ValidationError::new(
                "last",
                format!("must be between 1 and {MAX_SYNC_RUNS}"),
            )
            .into());
        }
        let runs = self.sync_runs.list(hotel, last).await?;
        Ok(runs.into_iter().map(public_run).collect())
    }

    pub async fn health(&self, hotel: &HotelId) -> Result<HotelHealth, ReadError> {
        let config = self.hotel(hotel).await?;
        let live = &self.inner().live;
        let circuit = live.circuit(&config, self.now()).await;
        let pms = live
            .health(&config, self.deadline, self.now(), &circuit)
            .await;
        let last_sync = self.sync_runs.latest(hotel).await?.map(public_run);
        Ok(HotelHealth {
            pms,
            circuit,
            last_sync,
        })
    }
}

/// A sync run as partners see it: its errors' codes with their public texts. What the vendor
/// or AWS said stays in the stored run (and the logs) for ops.
fn public_run(mut run: SyncRun) -> SyncRun {
    for e in &mut run.errors {
        e.message = public_error_message(&e.code).to_owned();
    }
    run
}

#[cfg(test)]
mod tests;
