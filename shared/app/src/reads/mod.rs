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

mod access;
mod bookings;
mod calendar;
mod error;
mod live;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use bookings::{
    BookingConnection, BookingEdge, BookingFilter, BookingRef, PageRequest, DEFAULT_PAGE_SIZE,
    MAX_EXAMINED, MAX_PAGE_SIZE,
};
pub use calendar::{IN_HOUSE_LOOKBACK_DAYS, MAX_AVAILABILITY_DAYS};
pub use error::ReadError;

use crate::cache::{Cached, ReadThrough};
use crate::config::HotelConfig;
use crate::domain::{
    BusinessDate, ConfirmationNumber, Guest, GuestQuery, HealthStatus, HotelId, Money, Provider,
    Reservation, RoomNumber, RoomStatus, RoomTypeCode,
};
use crate::pms::AdapterFactory;
use crate::ports::{Clock, ItemStore};
use crate::records::{ProvidedAvailability, ReservationQueries};
use crate::registry::{HotelRegistry, Principal, Scope};
use crate::runtime::Services;
use crate::sync_runs::{SyncRun, SyncRuns};

pub(crate) use access::HotelAccess;
use calendar::Side;
use live::Live;

/// The most sync runs one read returns.
pub const MAX_SYNC_RUNS: u32 = 100;

/// A hotel's PMS health and its latest sync.
#[derive(Clone, Debug, PartialEq)]
pub struct HotelHealth {
    pub pms: HealthStatus,
    pub last_sync: Option<SyncRun>,
}

struct Inner {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    hotels: HotelRegistry,
    reservations: ReservationQueries,
    sync_runs: SyncRuns,
    live: Live,
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
                hotels: HotelRegistry::new(store.clone()),
                reservations: ReservationQueries::new(store.clone()),
                sync_runs: SyncRuns::new(store.clone()),
                live: Live {
                    cache: ReadThrough::new(store.clone(), clock.clone()),
                    adapters,
                },
                store,
                clock,
            }),
        }
    }

    pub fn from_services(services: &Services) -> Self {
        Self::new(
            services.store.clone(),
            services.clock.clone(),
            services.adapters.clone(),
        )
    }

    /// The reads one verified caller may make.
    pub fn session(&self, principal: Principal) -> ReadSession {
        ReadSession {
            access: HotelAccess::new(principal, self.inner.hotels.clone()),
            reads: self.clone(),
        }
    }
}

/// One caller's reads. Every method authorizes the hotel it names before reading.
pub struct ReadSession {
    reads: PartnerReads,
    access: HotelAccess,
}

impl ReadSession {
    pub fn principal(&self) -> &Principal {
        self.access.principal()
    }

    fn inner(&self) -> &Inner {
        &self.reads.inner
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
        bookings::page(&*self.inner().store, hotel, filter, page).await
    }

    pub async fn booking(&self, id: &BookingRef) -> Result<Option<Reservation>, ReadError> {
        self.hotel(&id.hotel).await?;
        Ok(self.inner().reservations.get(&id.hotel, &id.id).await?)
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
            .inner()
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
        let list = calendar::day(&self.inner().reservations, &config, date, Side::Arrivals).await?;
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
        let list =
            calendar::day(&self.inner().reservations, &config, date, Side::Departures).await?;
        Ok((date, list))
    }

    /// Stays checked in today (in the hotel's zone).
    pub async fn in_house(
        &self,
        hotel: &HotelId,
    ) -> Result<(BusinessDate, Vec<Reservation>), ReadError> {
        let config = self.hotel(hotel).await?;
        let today = self.today(&config);
        let list = calendar::in_house(&self.inner().reservations, &config, today).await?;
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
        calendar::availability(&*self.inner().store, &config, from, to, room_type).await
    }

    pub async fn guest(
        &self,
        hotel: &HotelId,
        id: &crate::domain::RecordId,
    ) -> Result<Option<Cached<Guest>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.guest(&config, id).await
    }

    pub async fn search_guests(
        &self,
        hotel: &HotelId,
        query: GuestQuery,
    ) -> Result<Cached<Vec<Guest>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.search_guests(&config, query).await
    }

    pub async fn reservation(
        &self,
        hotel: &HotelId,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Reservation>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.reservation(&config, confirmation).await
    }

    pub async fn balance(
        &self,
        hotel: &HotelId,
        confirmation: &ConfirmationNumber,
    ) -> Result<Option<Cached<Money>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.balance(&config, confirmation).await
    }

    pub async fn room_status(
        &self,
        hotel: &HotelId,
        room: &RoomNumber,
    ) -> Result<Option<Cached<RoomStatus>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.room_status(&config, room).await
    }

    pub async fn room_statuses(
        &self,
        hotel: &HotelId,
    ) -> Result<Cached<Vec<RoomStatus>>, ReadError> {
        let config = self.hotel(hotel).await?;
        self.inner().live.room_statuses(&config).await
    }

    /// The hotel's latest `last` sync runs (1 to [`MAX_SYNC_RUNS`]), newest first.
    pub async fn sync_runs(&self, hotel: &HotelId, last: u32) -> Result<Vec<SyncRun>, ReadError> {
        self.hotel(hotel).await?;
        if !(1..=MAX_SYNC_RUNS).contains(&last) {
            return Err(crate::domain::ValidationError::new(
                "last",
                format!("must be between 1 and {MAX_SYNC_RUNS}"),
            )
            .into());
        }
        Ok(self.inner().sync_runs.list(hotel, last).await?)
    }

    pub async fn health(&self, hotel: &HotelId) -> Result<HotelHealth, ReadError> {
        let config = self.hotel(hotel).await?;
        let pms = self.inner().live.health(&config, self.now()).await;
        let last_sync = self.inner().sync_runs.latest(hotel).await?;
        Ok(HotelHealth { pms, last_sync })
    }
}

#[cfg(test)]
mod tests;
