//! The stored bookings as adapters see them ([`StoredReservations`]): the record each id has,
//! read in batches, for list reads that skip the lookups of unchanged reservations.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::keys::{booking_key, StoredRecord};
use pms_domain::domain::{HotelId, RecordId, Reservation};
use pms_domain::ports::{ItemKey, ItemStore, PortResult};
use pms_vendor_kit::pms::known::StoredReservations;

pub struct StoredBookings {
    store: Arc<dyn ItemStore>,
}

impl StoredBookings {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl StoredReservations for StoredBookings {
    async fn stored(
        &self,
        hotel: &HotelId,
        ids: &[RecordId],
    ) -> PortResult<HashMap<RecordId, Reservation>> {
        let keys: Vec<ItemKey> = ids.iter().map(|id| booking_key(hotel, id)).collect();
        let mut out = HashMap::with_capacity(keys.len());
        for item in self.store.batch_get(&keys).await? {
            let stored: StoredRecord<Reservation> = item.decode()?;
            out.insert(stored.record.id.clone(), stored.record);
        }
        Ok(out)
    }
}
