//! Key queries over stored bookings: by id, by confirmation number, by arrival or departure
//! date range. Never a scan.

use std::sync::Arc;

use super::keys::{booking_key, confirmation_lookup, date_range_bounds, StoredRecord};
use pms_domain::domain::{BusinessDate, ConfirmationNumber, HotelId, RecordId, Reservation};
use pms_domain::ports::{Index, ItemStore, KeyCondition, Page, Partition, PortResult, Query};

#[derive(Clone)]
pub struct ReservationQueries {
    store: Arc<dyn ItemStore>,
}

/// A page of bookings and the cursor after it.
pub struct BookingPage {
    pub bookings: Vec<Reservation>,
    pub cursor: Option<String>,
}

fn decode_page(page: Page) -> PortResult<BookingPage> {
    let bookings = page
        .items
        .iter()
        .map(|i| i.decode::<StoredRecord<Reservation>>().map(|s| s.record))
        .collect::<PortResult<Vec<_>>>()?;
    Ok(BookingPage {
        bookings,
        cursor: page.cursor,
    })
}

impl ReservationQueries {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    pub async fn get(&self, hotel: &HotelId, id: &RecordId) -> PortResult<Option<Reservation>> {
        match self.store.get(&booking_key(hotel, id)).await? {
            Some(item) => Ok(Some(item.decode::<StoredRecord<Reservation>>()?.record)),
            None => Ok(None),
        }
    }

    /// Bookings with this confirmation number (normally one; partners' and vendors' numbers can
    /// coincide across providers).
    pub async fn by_confirmation(
        &self,
        hotel: &HotelId,
        confirmation: &ConfirmationNumber,
    ) -> PortResult<Vec<Reservation>> {
        let q = Query::on(
            Partition::Hotel(hotel.clone()),
            Index::Lookup,
            KeyCondition::BeginsWith(confirmation_lookup(confirmation)),
        )
        .limit(20);
        let items = self.store.query_all(&q).await?;
        // The lookup index is eventually consistent: re-read each by key for the current copy.
        let keys: Vec<_> = items.into_iter().map(|i| i.key).collect();
        self.store
            .batch_get(&keys)
            .await?
            .iter()
            .map(|i| i.decode::<StoredRecord<Reservation>>().map(|s| s.record))
            .collect()
    }

    /// Bookings arriving in `[from, to]`, in arrival order.
    pub async fn arriving(
        &self,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
        limit: u32,
        cursor: Option<String>,
    ) -> PortResult<BookingPage> {
        self.by_date(hotel, Index::ByArrival, from, to, limit, cursor)
            .await
    }

    /// Bookings departing in `[from, to]`, in departure order.
    pub async fn departing(
        &self,
        hotel: &HotelId,
        from: BusinessDate,
        to: BusinessDate,
        limit: u32,
        cursor: Option<String>,
    ) -> PortResult<BookingPage> {
        self.by_date(hotel, Index::ByDeparture, from, to, limit, cursor)
            .await
    }

    /// Every booking of the hotel, in key order.
    pub async fn all(
        &self,
        hotel: &HotelId,
        limit: u32,
        cursor: Option<String>,
    ) -> PortResult<BookingPage> {
        let q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith("BOOKING#".into()),
        )
        .limit(limit)
        .after(cursor);
        decode_page(self.store.query(&q).await?)
    }

    async fn by_date(
        &self,
        hotel: &HotelId,
        index: Index,
        from: BusinessDate,
        to: BusinessDate,
        limit: u32,
        cursor: Option<String>,
    ) -> PortResult<BookingPage> {
        let (a, b) = date_range_bounds(from, to);
        let q = Query::on(
            Partition::Hotel(hotel.clone()),
            index,
            KeyCondition::Between(a, b),
        )
        .limit(limit)
        .after(cursor);
        decode_page(self.store.query(&q).await?)
    }
}
