//! The PMS adapter: every read and write a vendor serves, plus what callers plan around
//! (capabilities, a delta read, and
//! writes that return receipts). One adapter instance serves one hotel.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::PmsError;
use super::error::PmsResult;
use crate::domain::{
    BusinessDate, Capabilities, Charge, ChargeReceipt, CheckoutChange, ConfirmationNumber,
    ExternalId, Guest, GuestQuery, HealthStatus, Money, Note, PmsAvailability, Preference,
    Provider, Reservation, RoomNumber, RoomStatus, WriteReceipt,
};

/// One record a list read could not fetch or map. The rest of the list is still returned, so one
/// bad record never hides the others; callers count these and report them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    /// The vendor's id of the record.
    pub id: String,
    pub code: String,
    pub message: String,
}

/// A list read: the records, and those that failed individually.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fetched<T> {
    pub items: Vec<T>,
    pub failures: Vec<ItemFailure>,
}

impl<T> Fetched<T> {
    pub fn ok(items: Vec<T>) -> Self {
        Self {
            items,
            failures: Vec::new(),
        }
    }
}

/// A "changed since" window, both ends inclusive (vendors' own convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A list read a sync takes in pages, possibly across worker invocations
/// ([`PmsAdapter::reservations_page`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "read")]
pub enum ListRead {
    /// [`PmsAdapter::reservations_changed`].
    Changed { window: ChangeWindow },
    /// [`PmsAdapter::arrivals_between`].
    ArrivalsBetween {
        from: BusinessDate,
        to: BusinessDate,
    },
    /// [`PmsAdapter::departures`].
    Departures { date: BusinessDate },
    /// [`PmsAdapter::in_house`].
    InHouse,
}

/// Where a paged read stands: the vendor's own position (a page token, an offset, a page
/// number, which window of a split range), opaque to callers. It is stored between worker
/// invocations (in the feed's state item), so it is plain JSON and each vendor crate owns its
/// shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageCursor(pub serde_json::Value);

impl PageCursor {
    /// A vendor's position as a cursor.
    pub fn encode<T: Serialize>(position: &T) -> PmsResult<Self> {
        serde_json::to_value(position)
            .map(Self)
            .map_err(|e| super::PmsError::protocol(format!("page cursor: {e}")))
    }

    /// The vendor's position back; a cursor of another shape (written by another build or
    /// vendor) is an invalid request, never a panic.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> PmsResult<T> {
        serde_json::from_value(self.0.clone())
            .map_err(|e| super::PmsError::invalid(format!("not a page cursor of this vendor: {e}")))
    }
}

/// One page of a list read and where the next one starts (`None`: the read is complete).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub fetched: Fetched<T>,
    pub next: Option<PageCursor>,
}

impl<T> Default for Page<T> {
    /// An empty last page.
    fn default() -> Self {
        Self {
            fetched: Fetched::ok(Vec::new()),
            next: None,
        }
    }
}

/// What a thin vendor event (webhook, business event) names: an entity to fetch by its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    pub kind: EntityKind,
    pub id: ExternalId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Reservation,
    Guest,
    Room,
}

/// An entity as the vendor has it now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Refreshed {
    Reservation(Box<Reservation>),
    Guest(Box<Guest>),
    Room(Box<RoomStatus>),
    /// The vendor no longer has it (deleted, merged away).
    Gone,
}

#[async_trait]
pub trait PmsAdapter: Send + Sync {
    fn provider(&self) -> Provider;
    fn capabilities(&self) -> Capabilities;
    /// Vendor HTTP calls made by this instance so far (for sync reports and benchmarks).
    fn calls_made(&self) -> u64 {
        0
    }

    /// Establishes a session (fetches a token where the vendor needs one). Idempotent.
    async fn connect(&self) -> PmsResult<()>;
    /// Forgets sessions and cached tokens.
    async fn disconnect(&self) -> PmsResult<()>;
    /// A cheap authenticated read; never fails, reports.
    async fn health_check(&self) -> HealthStatus;

    // Guests
    async fn get_guest(&self, guest_id: &ExternalId) -> PmsResult<Option<Guest>>;
    async fn search_guests(&self, query: &GuestQuery) -> PmsResult<Vec<Guest>>;
    async fn update_guest_preferences(
        &self,
        guest_id: &ExternalId,
        preferences: &[Preference],
    ) -> PmsResult<WriteReceipt>;

    // Reservations
    async fn get_reservation(
        &self,
        confirmation: &ConfirmationNumber,
    ) -> PmsResult<Option<Reservation>>;
    /// A reservation by the vendor's own id (what webhooks and business events carry).
    async fn get_reservation_by_id(&self, id: &ExternalId) -> PmsResult<Option<Reservation>>;
    async fn arrivals(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>>;
    async fn departures(&self, date: BusinessDate) -> PmsResult<Fetched<Reservation>>;
    async fn in_house(&self) -> PmsResult<Fetched<Reservation>>;
    async fn add_reservation_note(
        &self,
        confirmation: &ConfirmationNumber,
        note: &Note,
    ) -> PmsResult<WriteReceipt>;
    async fn update_checkout(
        &self,
        confirmation: &ConfirmationNumber,
        change: &CheckoutChange,
    ) -> PmsResult<WriteReceipt>;

    // Financials
    async fn post_charge(
        &self,
        confirmation: &ConfirmationNumber,
        charge: &Charge,
    ) -> PmsResult<ChargeReceipt>;
    /// Looks on the folio for a charge we posted with `reference`: how a write whose outcome is
    /// unknown (timeout, crash) is resolved before it is sent again.
    async fn find_charge(
        &self,
        confirmation: &ConfirmationNumber,
        reference: &str,
    ) -> PmsResult<Option<ChargeReceipt>>;
    async fn get_balance(&self, confirmation: &ConfirmationNumber) -> PmsResult<Money>;

    // Rooms
    async fn room_status(&self, room: &RoomNumber) -> PmsResult<Option<RoomStatus>>;
    async fn room_statuses(&self) -> PmsResult<Vec<RoomStatus>>;
    /// A room by the vendor's id of it (Mews resource id, Cloudbeds roomID).
    async fn room_status_by_id(&self, id: &ExternalId) -> PmsResult<Option<RoomStatus>>;

    /// Fetches the entities thin events name. One result per distinct reference; a failure of
    /// one does not fail the others. Vendors that can read many ids in one call override this
    /// (Mews reads up to 1000 ids per request).
    async fn fetch_entities(&self, refs: &[EntityRef]) -> Vec<(EntityRef, PmsResult<Refreshed>)> {
        let mut unique: Vec<EntityRef> = refs.to_vec();
        unique.sort();
        unique.dedup();
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
                EntityKind::Room => self
                    .room_status_by_id(&r.id)
                    .await
                    .map(|o| o.map_or(Refreshed::Gone, |v| Refreshed::Room(Box::new(v)))),
            };
            out.push((r, result));
        }
        out
    }

    /// Reservations created or changed within `window`, by the vendor's delta mechanism.
    async fn reservations_changed(&self, window: ChangeWindow) -> PmsResult<Fetched<Reservation>>;

    /// One page of `read`, from `cursor` (`None`: the first page). Vendors whose listings page
    /// override this so a long read can stop between pages and resume in another invocation;
    /// the default answers the whole read as one page.
    async fn reservations_page(
        &self,
        read: &ListRead,
        cursor: Option<&PageCursor>,
    ) -> PmsResult<Page<Reservation>> {
        if cursor.is_some() {
            return Err(super::PmsError::invalid(format!(
                "{} answers {read:?} in one page; there is no next page to resume",
                self.provider()
            )));
        }
        let fetched = match *read {
            ListRead::Changed { window } => self.reservations_changed(window).await?,
            ListRead::ArrivalsBetween { from, to } => self.arrivals_between(from, to).await?,
            ListRead::Departures { date } => self.departures(date).await?,
            ListRead::InHouse => self.in_house().await?,
        };
        Ok(Page {
            fetched,
            next: None,
        })
    }

    /// Arrivals (as [`PmsAdapter::arrivals`] lists them) of every property-local date in
    /// `[from, to]`: what a first sync and a backfill load. The default reads date by date;
    /// vendors that can filter an arrival range in one request override it. Callers keep ranges
    /// to what the vendor allows (see `sync::backfill`).
    async fn arrivals_between(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Fetched<Reservation>> {
        let mut out = Fetched::ok(Vec::new());
        let mut date = from;
        while date <= to {
            let day = self.arrivals(date).await?;
            out.items.extend(day.items);
            out.failures.extend(day.failures);
            date = date.add_days(1);
        }
        Ok(out)
    }

    /// Rooms free per property-local night and room type, every night of `[from, to]` (the
    /// sync's `availability` feed). One request for the whole range where the vendor allows
    /// it. Vendors that do not override it answer `Unsupported` (and say so in
    /// [`Capabilities::availability`](crate::domain::Capabilities)): OPERA Cloud's availability
    /// API is not among the vendor specifications this build is made from.
    async fn availability(
        &self,
        from: BusinessDate,
        to: BusinessDate,
    ) -> PmsResult<Vec<PmsAvailability>> {
        let _ = (from, to);
        Err(PmsError::unsupported(self.provider(), "availability"))
    }
}
