//! Stored webhook deliveries: the raw body as received (so a delivery is durable before we
//! answer, and can be inspected or replayed) and the dedupe state of its refresh.
//!
//! One item per delivery, `H#<hotel>` / `WEBHOOK#<provider>#<delivery id>`, created with a
//! conditional put and expiring after [`DELIVERY_RETENTION`]. Its status moves
//! `received -> enqueued -> refreshed`; with [`DedupePolicy::WhilePending`] a repeat of a
//! `refreshed` delivery moves it back to `received` (it needs a new refresh).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{DedupePolicy, ThinEvent, VendorDelivery};
use pms_domain::domain::{HotelId, Provider};
use pms_domain::ports::store::encode_value;
use pms_domain::ports::{Clock, Condition, Item, ItemKey, ItemStore, PortResult, PutOutcome};

/// How long deliveries (and so their dedupe) are kept.
pub const DELIVERY_RETENTION: Duration = Duration::days(7);
/// DynamoDB refuses an item over 400 KB (attribute names and values). A delivery item is its
/// keys, a few small attributes and `data`, whose JSON text is at least as long as its stored
/// form but for a byte or two per empty list or map; the margin covers those and the keys.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
const ITEM_MARGIN_BYTES: usize = 8 * 1024;

/// An upper bound of the item's stored size.
fn stored_bytes(item: &Item) -> usize {
    serde_json::to_vec(&item.data).map_or(usize::MAX, |v| v.len())
        + item.key.partition.key().len()
        + item.key.sort.len()
        + ITEM_MARGIN_BYTES
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Stored; its refresh jobs may not be on the queue yet.
    Received,
    /// Its refresh jobs are on the queue.
    Enqueued,
    /// A worker has started refreshing its entities.
    Refreshed,
}

impl DeliveryStatus {
    fn json(self) -> PortResult<serde_json::Value> {
        encode_value("delivery status", &self)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub provider: Provider,
    pub delivery_id: String,
    pub property_id: String,
    pub status: DeliveryStatus,
    pub received_at: DateTime<Utc>,
    /// How many times the vendor sent it (repeats included).
    pub received_count: u32,
    pub correlation_id: String,
    pub events: Vec<ThinEvent>,
    #[serde(default)]
    pub jobs: usize,
    /// The body exactly as received.
    pub raw: String,
}

/// What [`WebhookDeliveries::begin`] found.
#[derive(Debug)]
pub enum Begin {
    /// First sight: stored as `received`.
    New(Item),
    /// Seen before but its jobs were never confirmed on the queue (a crash or a failed send):
    /// enqueue again.
    Resume(Item),
    /// A repeat after its refresh started (content-hash dedupe only): refresh again.
    Reopened(Item),
    /// A repeat whose refresh is pending or, for exact event ids, done: nothing to do.
    Duplicate(DeliveryRecord),
    /// Too large to be stored as one item (about this many bytes): nothing was written.
    TooLarge(usize),
}

#[derive(Clone)]
pub struct WebhookDeliveries {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl WebhookDeliveries {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn key(hotel: &HotelId, provider: Provider, delivery_id: &str) -> ItemKey {
        ItemKey::hotel(hotel, format!("WEBHOOK#{provider}#{delivery_id}"))
    }

    pub async fn get(
        &self,
        hotel: &HotelId,
        provider: Provider,
        delivery_id: &str,
    ) -> PortResult<Option<DeliveryRecord>> {
        match self
            .store
            .get(&Self::key(hotel, provider, delivery_id))
            .await?
        {
            Some(item) => Ok(Some(item.decode()?)),
            None => Ok(None),
        }
    }

    /// Stores a delivery, or tells what an earlier copy of it says to do.
    pub async fn begin(
        &self,
        hotel: &HotelId,
        delivery: &VendorDelivery,
        raw: &[u8],
        correlation_id: &str,
    ) -> PortResult<Begin> {
        let now = self.clock.now();
        let record = DeliveryRecord {
            provider: delivery.provider,
            delivery_id: delivery.delivery_id.clone(),
            property_id: delivery.property_id.clone(),
            status: DeliveryStatus::Received,
            received_at: now,
            received_count: 1,
            correlation_id: correlation_id.to_owned(),
            events: delivery.events.clone(),
            jobs: 0,
            raw: String::from_utf8_lossy(raw).into_owned(),
        };
        let item = Item::encode(
            Self::key(hotel, delivery.provider, &delivery.delivery_id),
            &record,
        )?
        .expiring_at((now + DELIVERY_RETENTION).timestamp());
        let bytes = stored_bytes(&item);
        if bytes > MAX_ITEM_BYTES {
            return Ok(Begin::TooLarge(bytes));
        }
        // Two rounds: a rejected create whose existing copy was not returned is read back.
        for _ in 0..2 {
            let existing = match self
                .store
                .put(item.clone(), Condition::IfAbsentOrExpired)
                .await?
            {
                PutOutcome::Applied => return Ok(Begin::New(item)),
                PutOutcome::Rejected { existing: Some(e) } => *e,
                PutOutcome::Rejected { existing: None } => match self.store.get(&item.key).await? {
                    Some(e) => e,
                    None => continue,
                },
            };
            return self.repeat(existing, delivery.dedupe).await;
        }
        // Created and expired between our two reads: treat as new work (a refresh is harmless).
        Ok(Begin::Resume(item))
    }

    async fn repeat(&self, existing: Item, policy: DedupePolicy) -> PortResult<Begin> {
        let mut record: DeliveryRecord = existing.decode()?;
        record.received_count = record.received_count.saturating_add(1);
        match (record.status, policy) {
            (DeliveryStatus::Received, _) => Ok(Begin::Resume(existing)),
            (DeliveryStatus::Refreshed, DedupePolicy::WhilePending) => {
                record.status = DeliveryStatus::Received;
                let reopened = Item {
                    data: encode_value("delivery", &record)?,
                    ..existing
                };
                let put = self
                    .store
                    .put(
                        reopened.clone(),
                        Condition::IfDataEquals {
                            field: "status".into(),
                            value: DeliveryStatus::Refreshed.json()?,
                        },
                    )
                    .await?;
                if put.applied() {
                    Ok(Begin::Reopened(reopened))
                } else {
                    // A concurrent repeat reopened it first and enqueues the refresh.
                    Ok(Begin::Duplicate(record))
                }
            }
            _ => Ok(Begin::Duplicate(record)),
        }
    }

    /// Records that the delivery's refresh jobs are on the queue. Losing this write only means
    /// a repeat is enqueued again, so callers may ignore a failure.
    pub async fn mark_enqueued(&self, item: Item, jobs: usize) -> PortResult<()> {
        let mut record: DeliveryRecord = item.decode()?;
        record.status = DeliveryStatus::Enqueued;
        record.jobs = jobs;
        let updated = Item {
            data: encode_value("delivery", &record)?,
            ..item
        };
        self.store
            .put(
                updated,
                Condition::IfDataEquals {
                    field: "status".into(),
                    value: DeliveryStatus::Received.json()?,
                },
            )
            .await?;
        Ok(())
    }

    /// Called by the worker before it fetches a delivery's entities. Only content-hash
    /// deliveries need it (see [`DedupePolicy::WhilePending`]); a job that does not say which
    /// policy its delivery has (sent before jobs carried it) is marked too, which is harmless
    /// for an exact event (a repeat of it is dropped whatever its status).
    ///
    /// The delivery may still read `received`: the worker can take a job off the queue before
    /// the intake that sent it has marked the delivery `enqueued`. It is marked `refreshed` all
    /// the same (the intake's mark then finds it moved on and leaves it); left `enqueued`, every
    /// later copy of it would be dropped as pending while no refresh is (found by the chaos
    /// suite: a Mews reservation's changes were lost for the delivery's whole retention).
    pub async fn refresh_started(
        &self,
        hotel: &HotelId,
        provider: Provider,
        delivery_id: &str,
        dedupe: Option<DedupePolicy>,
    ) -> PortResult<()> {
        if dedupe == Some(DedupePolicy::ExactEvent) {
            return Ok(());
        }
        let key = Self::key(hotel, provider, delivery_id);
        // Two rounds: the intake may mark it `enqueued` between our read and our write.
        for _ in 0..2 {
            let Some(item) = self.store.get(&key).await? else {
                return Ok(());
            };
            let mut record: DeliveryRecord = item.decode()?;
            let seen = record.status;
            if seen == DeliveryStatus::Refreshed {
                return Ok(());
            }
            record.status = DeliveryStatus::Refreshed;
            let updated = Item {
                data: encode_value("delivery", &record)?,
                ..item
            };
            let put = self
                .store
                .put(
                    updated,
                    Condition::IfDataEquals {
                        field: "status".into(),
                        value: seen.json()?,
                    },
                )
                .await?;
            if put.applied() {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;
    use pms_domain::pms::{EntityKind, EntityRef};
    use pms_domain::ports::SystemClock;

    fn delivery() -> VendorDelivery {
        VendorDelivery {
            provider: Provider::named("mews"),
            property_id: "e".into(),
            delivery_id: "d1".into(),
            dedupe: DedupePolicy::WhilePending,
            events: vec![ThinEvent {
                name: "ServiceOrderUpdated".into(),
                entities: vec![EntityRef {
                    kind: EntityKind::Reservation,
                    id: pms_domain::domain::ExternalId::parse("r1").unwrap(),
                }],
            }],
        }
    }

    #[tokio::test]
    async fn a_refresh_that_starts_before_the_intake_marks_the_delivery_still_counts() {
        let clock = Arc::new(SystemClock);
        let deliveries = WebhookDeliveries::new(Arc::new(MemoryStore::new(clock.clone())), clock);
        let hotel = HotelId::parse("h1").unwrap();
        let d = delivery();
        let Begin::New(item) = deliveries.begin(&hotel, &d, b"{}", "c").await.unwrap() else {
            panic!("a new delivery")
        };
        // The worker takes the job as soon as it is sent, before the intake marks it enqueued.
        deliveries
            .refresh_started(
                &hotel,
                Provider::named("mews"),
                "d1",
                Some(DedupePolicy::WhilePending),
            )
            .await
            .unwrap();
        deliveries.mark_enqueued(item, 1).await.unwrap();
        let stored = deliveries
            .get(&hotel, Provider::named("mews"), "d1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, DeliveryStatus::Refreshed);
        // The same notice for a later change gets its own refresh.
        assert!(matches!(
            deliveries.begin(&hotel, &d, b"{}", "c").await.unwrap(),
            Begin::Reopened(_)
        ));
    }

    #[tokio::test]
    async fn a_delivery_too_large_for_one_item_is_not_stored() {
        let clock = Arc::new(SystemClock);
        let deliveries = WebhookDeliveries::new(Arc::new(MemoryStore::new(clock.clone())), clock);
        let hotel = HotelId::parse("h1").unwrap();
        let raw = vec![b' '; MAX_ITEM_BYTES];
        assert!(matches!(
            deliveries.begin(&hotel, &delivery(), &raw, "c").await.unwrap(),
            Begin::TooLarge(n) if n > MAX_ITEM_BYTES
        ));
        assert!(deliveries
            .get(&hotel, Provider::named("mews"), "d1")
            .await
            .unwrap()
            .is_none());
    }
}
