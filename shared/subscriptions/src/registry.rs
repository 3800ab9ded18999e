//! Subscriptions of a hotel in the table (`H#<hotel>` / `SUB#<id>`), their signing secrets in
//! Secrets Manager (`<prefix>/subscriptions/<hotel>/<id>`: the current secret and, for 24 hours
//! after a rotation, the one before). Callers audit each change (they know who made it).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::model::{Subscription, SubscriptionId};
use crate::signing::SigningSecret;
use crate::target::{Target, TargetError, TargetPolicy};
use pms_domain::domain::events::EventType;
use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Clock, Condition, Item, ItemKey, ItemStore, KeyCondition, Partition, PortError, PutOutcome,
    Query, SecretStore,
};

/// How long the secret before a rotation still signs deliveries.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);
/// Subscriptions one hotel may have (each matching event is one delivery per subscription).
pub const MAX_PER_HOTEL: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("url: {0}")]
    Url(#[from] TargetError),
    #[error("events: name at least one event type")]
    NoEvents,
    #[error("events: {0:?} is not an event type (one of {known})", known = known_events())]
    UnknownEvent(String),
    #[error("hotel {0} already has {MAX_PER_HOTEL} subscriptions")]
    TooMany(HotelId),
    #[error("subscription {0} not found")]
    NotFound(String),
    #[error("the signing secret of {0} is missing or unreadable")]
    SecretMissing(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl SubscriptionError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SubscriptionError::Url(e) => e.is_retryable(),
            SubscriptionError::Port(e) => e.is_retryable(),
            _ => false,
        }
    }
}

fn known_events() -> String {
    EventType::ALL.map(|t| t.as_str()).join(", ")
}

/// Event types from their names (`pms.booking.checked_in`), deduplicated, in the given order.
pub fn parse_events<S: AsRef<str>>(names: &[S]) -> Result<Vec<EventType>, SubscriptionError> {
    let mut out = Vec::new();
    for n in names {
        let t = EventType::parse(n.as_ref())
            .ok_or_else(|| SubscriptionError::UnknownEvent(n.as_ref().to_owned()))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(SubscriptionError::NoEvents);
    }
    Ok(out)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSecrets {
    current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_until: Option<DateTime<Utc>>,
}

/// A subscription just made, with its secret (shown once).
pub struct Created {
    pub subscription: Subscription,
    pub secret: SigningSecret,
}

#[derive(Clone)]
pub struct Subscriptions {
    store: Arc<dyn ItemStore>,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    secrets_prefix: String,
    policy: TargetPolicy,
}

fn key(hotel: &HotelId, id: &SubscriptionId) -> ItemKey {
    ItemKey::hotel(hotel, format!("SUB#{id}"))
}

impl Subscriptions {
    pub fn new(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
        secrets_prefix: impl Into<String>,
        policy: TargetPolicy,
    ) -> Self {
        Self {
            store,
            secrets,
            clock,
            secrets_prefix: secrets_prefix.into(),
            policy,
        }
    }

    pub fn policy(&self) -> TargetPolicy {
        self.policy
    }

    fn secret_name(&self, hotel: &HotelId, id: &SubscriptionId) -> String {
        format!("{}/subscriptions/{hotel}/{id}", self.secrets_prefix)
    }

    /// Makes a subscription: the URL checked (form, and where its host resolves now), the
    /// secret stored before the subscription exists, so no delivery is ever unsigned.
    pub async fn create(
        &self,
        hotel: &HotelId,
        url: &str,
        events: Vec<EventType>,
        created_by: &str,
    ) -> Result<Created, SubscriptionError> {
        if events.is_empty() {
            return Err(SubscriptionError::NoEvents);
        }
        let target = Target::parse(url, self.policy)?;
        target.resolve(self.policy).await?;
        if self.list(hotel).await?.len() >= MAX_PER_HOTEL {
            return Err(SubscriptionError::TooMany(hotel.clone()));
        }
        let now = self.clock.now();
        let subscription = Subscription {
            id: SubscriptionId::generate(),
            hotel_id: hotel.clone(),
            url: target.to_string(),
            events,
            enabled: true,
            disabled_reason: None,
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
            secret_rotated_at: None,
            failing_since: None,
        };
        let secret = SigningSecret::generate();
        self.write_secrets(
            &subscription,
            &StoredSecrets {
                current: secret.expose().to_owned(),
                previous: None,
                previous_until: None,
            },
        )
        .await?;
        let item = Item::encode(key(hotel, &subscription.id), &subscription)?;
        match self.store.put(item, Condition::IfAbsent).await? {
            PutOutcome::Applied => Ok(Created {
                subscription,
                secret,
            }),
            // 64 random bits collided: nothing of the other one was touched but its secret,
            // which this one's overwrote; refuse loudly rather than guess.
            PutOutcome::Rejected { .. } => Err(SubscriptionError::Port(PortError::Rejected {
                service: pms_domain::ports::Service::Store,
                message: "subscription id collision; try again".into(),
            })),
        }
    }

    pub async fn list(&self, hotel: &HotelId) -> Result<Vec<Subscription>, SubscriptionError> {
        let q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith("SUB#".into()),
        );
        let items = self.store.query_all(&q).await?;
        Ok(items
            .iter()
            .map(Item::decode)
            .collect::<Result<Vec<Subscription>, _>>()?)
    }

    pub async fn get(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
    ) -> Result<Subscription, SubscriptionError> {
        match self.store.get(&key(hotel, id)).await? {
            Some(item) => Ok(item.decode()?),
            None => Err(SubscriptionError::NotFound(format!("{hotel}/{id}"))),
        }
    }

    /// The enabled subscriptions of `hotel` that want `event`.
    pub async fn matching(
        &self,
        hotel: &HotelId,
        event: EventType,
    ) -> Result<Vec<Subscription>, SubscriptionError> {
        let mut all = self.list(hotel).await?;
        all.retain(|s| s.wants(event));
        Ok(all)
    }

    /// Enables or disables it (`reason` says why it was disabled).
    pub async fn set_enabled(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
        enabled: bool,
        reason: Option<String>,
    ) -> Result<Subscription, SubscriptionError> {
        let mut s = self.get(hotel, id).await?;
        s.enabled = enabled;
        s.disabled_reason = if enabled { None } else { reason };
        s.updated_at = self.clock.now();
        self.store
            .put(Item::encode(key(hotel, id), &s)?, Condition::Always)
            .await?;
        Ok(s)
    }

    /// Records that a delivery attempt failed at `at`: the subscription is failing since then
    /// unless it already was. Returns since when it has been failing. A change racing this
    /// one wins (the next failure records it again).
    pub async fn note_failure(
        &self,
        s: &Subscription,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, SubscriptionError> {
        if let Some(since) = s.failing_since {
            return Ok(since);
        }
        let mut next = s.clone();
        next.failing_since = Some(at);
        self.put_if_unchanged(s, &next).await?;
        Ok(at)
    }

    /// Records that a delivery succeeded: the subscription is no longer failing.
    pub async fn note_success(&self, s: &Subscription) -> Result<(), SubscriptionError> {
        if s.failing_since.is_none() {
            return Ok(());
        }
        let mut next = s.clone();
        next.failing_since = None;
        self.put_if_unchanged(s, &next).await
    }

    /// Writes `next` only while the stored subscription is still `seen` (same `updatedAt` and
    /// `failingSince`), so bookkeeping never undoes an operator's change.
    async fn put_if_unchanged(
        &self,
        seen: &Subscription,
        next: &Subscription,
    ) -> Result<(), SubscriptionError> {
        let current = self.get(&seen.hotel_id, &seen.id).await?;
        if current.updated_at != seen.updated_at || current.failing_since != seen.failing_since {
            return Ok(());
        }
        let condition = Condition::IfDataEquals {
            field: "updatedAt".into(),
            value: serde_json::to_value(seen.updated_at).map_err(|e| PortError::Encode {
                what: "SUB".into(),
                message: e.to_string(),
            })?,
        };
        self.store
            .put(
                Item::encode(key(&seen.hotel_id, &seen.id), next)?,
                condition,
            )
            .await?;
        Ok(())
    }

    /// A new secret; the one before keeps signing for [`ROTATION_OVERLAP`].
    pub async fn rotate_secret(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
    ) -> Result<SigningSecret, SubscriptionError> {
        let mut s = self.get(hotel, id).await?;
        let stored = self.read_secrets(&s).await?;
        let now = self.clock.now();
        let secret = SigningSecret::generate();
        self.write_secrets(
            &s,
            &StoredSecrets {
                current: secret.expose().to_owned(),
                previous: Some(stored.current),
                previous_until: Some(now + ROTATION_OVERLAP),
            },
        )
        .await?;
        s.secret_rotated_at = Some(now);
        s.updated_at = now;
        self.store
            .put(Item::encode(key(hotel, id), &s)?, Condition::Always)
            .await?;
        Ok(secret)
    }

    /// Deletes it and its secret.
    pub async fn delete(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
    ) -> Result<Subscription, SubscriptionError> {
        let s = self.get(hotel, id).await?;
        self.store.delete(&key(hotel, id)).await?;
        self.secrets.delete(&self.secret_name(hotel, id)).await?;
        Ok(s)
    }

    /// The secrets a delivery is signed with now: the current one, and the one before while
    /// its overlap lasts.
    pub async fn signing_secrets(
        &self,
        s: &Subscription,
    ) -> Result<Vec<SigningSecret>, SubscriptionError> {
        let stored = self.read_secrets(s).await?;
        let missing = || SubscriptionError::SecretMissing(s.reference());
        let mut out = vec![SigningSecret::parse(&stored.current).map_err(|_| missing())?];
        if let (Some(prev), Some(until)) = (&stored.previous, stored.previous_until) {
            if self.clock.now() < until {
                out.push(SigningSecret::parse(prev).map_err(|_| missing())?);
            }
        }
        Ok(out)
    }

    async fn read_secrets(&self, s: &Subscription) -> Result<StoredSecrets, SubscriptionError> {
        let missing = || SubscriptionError::SecretMissing(s.reference());
        let value = self
            .secrets
            .get(&self.secret_name(&s.hotel_id, &s.id))
            .await?
            .ok_or_else(missing)?;
        serde_json::from_str(value.expose_secret()).map_err(|_| missing())
    }

    async fn write_secrets(
        &self,
        s: &Subscription,
        secrets: &StoredSecrets,
    ) -> Result<(), SubscriptionError> {
        let text = serde_json::to_string(secrets).map_err(|e| PortError::Encode {
            what: "subscription secrets".into(),
            message: e.to_string(),
        })?;
        self.secrets
            .put(
                &self.secret_name(&s.hotel_id, &s.id),
                &SecretString::from(text),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::{MemorySecrets, MemoryStore};
    use pms_domain::ports::ManualClock;

    fn registry() -> (Subscriptions, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let secrets = Arc::new(MemorySecrets::default());
        (
            Subscriptions::new(
                store,
                secrets,
                clock.clone(),
                "pms/test",
                TargetPolicy::AllowLoopback,
            ),
            clock,
        )
    }

    #[tokio::test]
    async fn a_subscription_is_made_listed_disabled_rotated_and_deleted() {
        let (r, clock) = registry();
        let h = HotelId::parse("h1").unwrap();
        let events = parse_events(&["pms.booking.checked_in", "pms.room.status_changed"]).unwrap();
        let made = r
            .create(&h, "http://127.0.0.1:9/hook", events, "staff:ana")
            .await
            .unwrap();
        let s = made.subscription;
        assert!(s.wants(EventType::BookingCheckedIn));
        assert!(!s.wants(EventType::GuestSynced));
        assert_eq!(r.list(&h).await.unwrap(), std::slice::from_ref(&s));
        assert_eq!(
            r.matching(&h, EventType::RoomStatusChanged)
                .await
                .unwrap()
                .len(),
            1
        );
        let signing = r.signing_secrets(&s).await.unwrap();
        assert_eq!(signing.len(), 1);
        assert_eq!(signing[0].expose(), made.secret.expose());

        let off = r
            .set_enabled(&h, &s.id, false, Some("staff:ana: receiver moved".into()))
            .await
            .unwrap();
        assert!(!off.wants(EventType::BookingCheckedIn));
        assert!(r
            .matching(&h, EventType::BookingCheckedIn)
            .await
            .unwrap()
            .is_empty());
        r.set_enabled(&h, &s.id, true, None).await.unwrap();

        // Rotation: both secrets sign for 24 hours, then only the new one.
        let new = r.rotate_secret(&h, &s.id).await.unwrap();
        let both = r.signing_secrets(&s).await.unwrap();
        assert_eq!(
            both.iter().map(|x| x.expose()).collect::<Vec<_>>(),
            [new.expose(), made.secret.expose()]
        );
        clock.advance(ROTATION_OVERLAP + Duration::seconds(1));
        assert_eq!(r.signing_secrets(&s).await.unwrap().len(), 1);

        r.delete(&h, &s.id).await.unwrap();
        assert!(r.list(&h).await.unwrap().is_empty());
        assert!(matches!(
            r.signing_secrets(&s).await,
            Err(SubscriptionError::SecretMissing(_))
        ));
    }

    #[tokio::test]
    async fn bad_urls_and_events_are_refused_naming_the_problem() {
        let (r, _) = registry();
        let h = HotelId::parse("h1").unwrap();
        let ev = vec![EventType::BookingSynced];
        for (url, want) in [
            ("http://hooks.example.com/x", "url: the URL must be https"),
            (
                "https://10.0.0.8/x",
                "url: the URL's host 10.0.0.8 resolves to 10.0.0.8, an address that is not public",
            ),
        ] {
            let e = r.create(&h, url, ev.clone(), "t").await.err().unwrap();
            assert_eq!(e.to_string(), want);
        }
        assert!(matches!(
            parse_events(&["pms.booking.moved"]),
            Err(SubscriptionError::UnknownEvent(_))
        ));
        assert!(matches!(
            parse_events::<&str>(&[]),
            Err(SubscriptionError::NoEvents)
        ));
        assert!(r.list(&h).await.unwrap().is_empty());
    }
}
