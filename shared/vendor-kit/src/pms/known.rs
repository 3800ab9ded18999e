//! What this layer last stored of a hotel's reservations, for adapters whose list reads can skip
//! the lookups of a record that has not changed at the vendor: a reservation whose vendor
//! version equals the stored one is answered with the stored copy, so an unchanged re-sync asks
//! the vendor for the reservations alone and their customers and notes only where one changed.

use std::collections::HashMap;

use async_trait::async_trait;

use pms_domain::domain::{HotelId, RecordId, Reservation};
use pms_domain::ports::PortResult;

#[async_trait]
pub trait StoredReservations: Send + Sync {
    /// The stored reservation of each of `ids` that has one.
    async fn stored(
        &self,
        hotel: &HotelId,
        ids: &[RecordId],
    ) -> PortResult<HashMap<RecordId, Reservation>>;
}

/// The stored copies of `wanted` (record id and the version the vendor now reports) whose
/// version is exactly the vendor's: the records an adapter need not look up again. A failure to
/// read them is logged and means nothing is reused (the lookups run as before).
pub async fn unchanged(
    stored: Option<&dyn StoredReservations>,
    hotel: &HotelId,
    wanted: &[(RecordId, u64)],
) -> HashMap<RecordId, Reservation> {
    let Some(stored) = stored else {
        return HashMap::new();
    };
    // A record without a vendor version (0) cannot be told unchanged.
    let ids: Vec<RecordId> = wanted
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(id, _)| id.clone())
        .collect();
    if ids.is_empty() {
        return HashMap::new();
    }
    let mut found = match stored.stored(hotel, &ids).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "stored reservations unreadable; looking every record up"
            );
            return HashMap::new();
        }
    };
    let versions: HashMap<&RecordId, u64> = wanted.iter().map(|(id, v)| (id, *v)).collect();
    found.retain(|id, r| versions.get(id).is_some_and(|v| *v > 0 && *v == r.version));
    found
}
