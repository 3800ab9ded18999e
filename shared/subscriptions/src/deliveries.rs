//! The record of one event's delivery to one subscription (`H#<hotel>` /
//! `DLV#<subscription>#<event id>`): its state, attempts, the last answer's status (never its
//! body), when it is next tried, and the event itself, so a retry or an operator's redelivery
//! sends the same signed body without reading anything else. A record is the delivery's dead
//! letter once the retry schedule is spent (`failed`), listed and redelivered from the table.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::SubscriptionId;
use pms_domain::domain::events::DomainEvent;
use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Condition, Item, ItemKey, ItemStore, KeyCondition, Partition, PortError, PutOutcome, Query,
};

/// How long a delivered record is kept (for `deliveries` listings).
pub const KEEP_DELIVERED: Duration = Duration::days(7);
/// How long a failed one is kept: time for the partner to come back and an operator to
/// redeliver.
pub const KEEP_FAILED: Duration = Duration::days(14);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Made, not yet answered (a retry is due at `nextAttemptAt`).
    Retrying,
    /// A 2xx answer.
    Delivered,
    /// The retry schedule is spent, or the subscription was disabled or deleted meanwhile: the
    /// dead letter, which `redeliver` sends again.
    Failed,
    /// The receiver answered 410: the subscription was disabled.
    Gone,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Gone => "gone",
        }
    }

    /// Whether nothing more happens to it without an operator.
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryStatus::Retrying)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub hotel_id: HotelId,
    pub subscription_id: SubscriptionId,
    pub event_id: String,
    pub status: DeliveryStatus,
    /// Attempts made (redelivery starts a new schedule: `attempts` counts from there).
    pub attempts: u32,
    /// Every attempt ever made, across redeliveries.
    #[serde(default)]
    pub total_attempts: u32,
    /// The last answer's HTTP status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed, without the URL's query (it may carry a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change, so two processes never both move a record on.
    #[serde(default)]
    pub revision: u64,
    pub event: DomainEvent,
}

impl DeliveryRecord {
    pub fn new(subscription: &SubscriptionId, event: &DomainEvent, now: DateTime<Utc>) -> Self {
        Self {
            hotel_id: event.hotel_id.clone(),
            subscription_id: subscription.clone(),
            event_id: event.id.clone(),
            status: DeliveryStatus::Retrying,
            attempts: 0,
            total_attempts: 0,
            last_status: None,
            last_error: None,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
            revision: 0,
            event: event.clone(),
        }
    }

    /// How operators and partners name it: `hotel/sub_…/<event id>`.
    pub fn reference(&self) -> String {
        format!(
            "{}/{}/{}",
            self.hotel_id, self.subscription_id, self.event_id
        )
    }

    fn expires_at(&self) -> i64 {
        let keep = match self.status {
            DeliveryStatus::Delivered => KEEP_DELIVERED,
            _ => KEEP_FAILED,
        };
        (self.updated_at + keep).timestamp()
    }
}

/// A delivery named as `hotel/sub_…/<event id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRef {
    pub hotel: HotelId,
    pub subscription: SubscriptionId,
    pub event_id: String,
}

impl DeliveryRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, '/');
        let (Some(h), Some(s), Some(e)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{text:?}: name a delivery as hotel/sub_…/<event id>"
            ));
        };
        if e.is_empty() || e.len() > 200 || e.contains('#') {
            return Err(format!("{text:?}: the event id is not valid"));
        }
        Ok(Self {
            hotel: HotelId::parse(h).map_err(|e| e.to_string())?,
            subscription: SubscriptionId::parse(s)?,
            event_id: e.to_owned(),
        })
    }
}

pub fn key(hotel: &HotelId, subscription: &SubscriptionId, event_id: &str) -> ItemKey {
    ItemKey::hotel(hotel, format!("DLV#{subscription}#{event_id}"))
}

/// Delivery records in the table.
#[derive(Clone)]
pub struct DeliveryLog {
    store: Arc<dyn ItemStore>,
}

impl DeliveryLog {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    fn item(record: &DeliveryRecord) -> Result<Item, PortError> {
        Ok(Item::encode(
            key(&record.hotel_id, &record.subscription_id, &record.event_id),
            record,
        )?
        .expiring_at(record.expires_at()))
    }

    pub async fn get(
        &self,
        hotel: &HotelId,
        subscription: &SubscriptionId,
        event_id: &str,
    ) -> Result<Option<DeliveryRecord>, PortError> {
        match self.store.get(&key(hotel, subscription, event_id)).await? {
            Some(item) => Ok(Some(item.decode()?)),
            None => Ok(None),
        }
    }

    /// Stores a new record; `false` when one exists already (the event was fanned out before).
    pub async fn create(&self, record: &DeliveryRecord) -> Result<bool, PortError> {
        Ok(self
            .store
            .put(Self::item(record)?, Condition::IfAbsentOrExpired)
            .await?
            .applied())
    }

    /// Stores `next` (its revision bumped) unless another process moved the record on since
    /// `seen` was read: `false` then, and the caller drops its result (the other one stands).
    pub async fn advance(
        &self,
        seen: &DeliveryRecord,
        mut next: DeliveryRecord,
    ) -> Result<Option<DeliveryRecord>, PortError> {
        next.revision = seen.revision + 1;
        let outcome = self
            .store
            .put(
                Self::item(&next)?,
                Condition::IfDataEquals {
                    field: "revision".into(),
                    value: serde_json::json!(seen.revision),
                },
            )
            .await?;
        Ok(matches!(outcome, PutOutcome::Applied).then_some(next))
    }

    /// A hotel's delivery records, of one subscription or all, newest first.
    pub async fn list(
        &self,
        hotel: &HotelId,
        subscription: Option<&SubscriptionId>,
    ) -> Result<Vec<DeliveryRecord>, PortError> {
        let prefix = match subscription {
            Some(s) => format!("DLV#{s}#"),
            None => "DLV#".to_owned(),
        };
        let q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith(prefix),
        );
        let mut out = self
            .store
            .query_all(&q)
            .await?
            .iter()
            .map(Item::decode)
            .collect::<Result<Vec<DeliveryRecord>, _>>()?;
        out.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_bad_ones_are_refused() {
        let sub = SubscriptionId::generate();
        let r = DeliveryRef::parse(&format!("h1/{sub}/evt-1")).unwrap();
        assert_eq!(r.hotel.as_str(), "h1");
        assert_eq!(r.subscription, sub);
        assert_eq!(r.event_id, "evt-1");
        for bad in ["h1", &format!("h1/{sub}"), &format!("h1/{sub}/"), "h1/x/e"] {
            assert!(DeliveryRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_retrying_is_not_final() {
        assert!(!DeliveryStatus::Retrying.is_final());
        for s in [
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Gone,
        ] {
            assert!(s.is_final());
        }
    }
}
