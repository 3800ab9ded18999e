//! The merge rule. Partner ingestion, vendor webhooks and the scheduled sync all store records
//! through [`Merger`], so there is one answer to "is this newer?" and one place events come from:
//!
//! - a record older than the stored one (lower version) is never written (`Stale`);
//! - a record whose mapped fields hash the same as the stored one is not written (`Unchanged`),
//!   except that a newer version is recorded (without events): otherwise a slower read of an
//!   older state that differs could still be written over it later (a lost update);
//! - otherwise it is written with a conditional put (`IfNewer`), which also loses any race
//!   against a concurrent newer write;
//! - each applied change carries its domain events in the same put (an outbox inside the
//!   record); they are published after the writes and then cleared. If publishing fails the
//!   merge fails, and a retry finds the records unchanged but with events pending, and publishes
//!   them: no change is ever left without its events, and event ids are deterministic so
//!   consumers can drop a repeat.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::{
    availability_item, availability_key, booking_item, booking_key, guest_item, guest_key,
    room_item, room_key, StoredRecord,
};
use super::retention::{self, Retention};
use pms_domain::config::RetentionSettings;
use pms_domain::domain::events::{field_changes, DomainEvent, EventType};
use pms_domain::domain::hash::content_hash;
use pms_domain::domain::{Availability, Guest, HotelId, Provider, Reservation, RoomStatus};
use pms_domain::ports::store::encode_value;
use pms_domain::ports::{
    Clock, Condition, EventBus, Item, ItemKey, ItemStore, PortResult, PutOutcome,
};

/// A canonical record the merge rule applies to.
pub trait Mergeable: Serialize + DeserializeOwned + Clone + Send + Sync {
    fn key(&self, hotel: &HotelId) -> ItemKey;
    fn entity_id(&self) -> String;
    fn provider(&self) -> Provider;
    fn version(&self, now: DateTime<Utc>) -> u64;
    /// The stored item. A record that does not encode is a `PortError::Encode`, never a stored
    /// `null`.
    fn to_item(
        &self,
        hotel: &HotelId,
        now: DateTime<Utc>,
        pending: Vec<DomainEvent>,
    ) -> PortResult<Item>;
    /// Event types a change from `previous` to `self` produces.
    fn event_types(&self, previous: Option<&Self>) -> Vec<EventType>;
    /// Whether an unchanged record at a newer version still moves the stored version forward,
    /// so that a slower read of an older, different state cannot be written over it later.
    /// Room states read without a vendor stamp opt out: every room is re-read every few
    /// minutes, their version is only the time of the read, and each would cost a write.
    fn keeps_newer_version(&self) -> bool {
        true
    }
    /// Takes what this read did not carry from the stored record it is about to replace, so
    /// a source that lacks a field never empties it (field-level merge).
    fn keep_uncarried(&mut self, _stored: &Self) {}
    /// When the stored record may go (epoch seconds) under the hotel's retention
    /// ([`super::retention`]); `None` keeps it until it is deleted.
    fn expires_at(&self, _retention: &RetentionSettings, _now: DateTime<Utc>) -> Option<i64> {
        None
    }
    /// Stored records this one keeps alive: their expiry is extended to at least this one's.
    fn keeps_alive(&self, _hotel: &HotelId) -> Vec<ItemKey> {
        Vec::new()
    }
}

impl Mergeable for Reservation {
    fn key(&self, hotel: &HotelId) -> ItemKey {
        booking_key(hotel, &self.id)
    }
    fn entity_id(&self) -> String {
        self.id.to_string()
    }
    fn provider(&self) -> Provider {
        self.id.provider()
    }
    fn version(&self, _now: DateTime<Utc>) -> u64 {
        self.version
    }
    fn to_item(
        &self,
        hotel: &HotelId,
        now: DateTime<Utc>,
        pending: Vec<DomainEvent>,
    ) -> PortResult<Item> {
        booking_item(hotel, self, now, pending)
    }
    fn keep_uncarried(&mut self, stored: &Self) {
        Reservation::keep_uncarried(self, stored);
    }
    fn expires_at(&self, retention: &RetentionSettings, _now: DateTime<Utc>) -> Option<i64> {
        Some(retention::after_date(self.departure, retention))
    }
    fn keeps_alive(&self, hotel: &HotelId) -> Vec<ItemKey> {
        let guest = self.guest.as_ref().and_then(|g| g.id.as_ref());
        guest.map(|id| guest_key(hotel, id)).into_iter().collect()
    }
    fn event_types(&self, previous: Option<&Self>) -> Vec<EventType> {
        let mut out = vec![EventType::BookingSynced];
        // Transitions only for records we knew: the first sight of a historic stay is not news.
        if let Some(prev) = previous {
            if let Some(t) = EventType::for_transition(Some(prev.status), self.status) {
                out.push(t);
            }
        }
        out
    }
}

impl Mergeable for Guest {
    fn key(&self, hotel: &HotelId) -> ItemKey {
        guest_key(hotel, &self.id)
    }
    fn entity_id(&self) -> String {
        self.id.to_string()
    }
    fn provider(&self) -> Provider {
        self.id.provider()
    }
    fn version(&self, _now: DateTime<Utc>) -> u64 {
        self.version
    }
    fn to_item(
        &self,
        hotel: &HotelId,
        now: DateTime<Utc>,
        pending: Vec<DomainEvent>,
    ) -> PortResult<Item> {
        guest_item(hotel, self, now, pending)
    }
    fn event_types(&self, _previous: Option<&Self>) -> Vec<EventType> {
        vec![EventType::GuestSynced]
    }
    fn expires_at(&self, retention: &RetentionSettings, now: DateTime<Utc>) -> Option<i64> {
        Some(retention::after_write(now, retention))
    }
}

/// Room statuses carry the provider they were read from beside them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvidedRoom {
    pub provider: Provider,
    #[serde(flatten)]
    pub room: RoomStatus,
}

impl Mergeable for ProvidedRoom {
    fn key(&self, hotel: &HotelId) -> ItemKey {
        room_key(hotel, &self.room.room_number)
    }
    fn entity_id(&self) -> String {
        self.room.room_number.to_string()
    }
    fn provider(&self) -> Provider {
        self.provider
    }
    fn version(&self, now: DateTime<Utc>) -> u64 {
        // Vendors rarely stamp room states; a later read is the newer one.
        Reservation::version_from(Some(self.room.source_updated_at.unwrap_or(now)))
    }
    fn to_item(
        &self,
        hotel: &HotelId,
        now: DateTime<Utc>,
        pending: Vec<DomainEvent>,
    ) -> PortResult<Item> {
        let mut item = room_item(hotel, &self.room, self.version(now), now, pending)?;
        stamp_provider(&mut item, self.provider);
        // The merge compares this hash with `content_hash(self)`: hash the same value, or every
        // repeat of an unchanged room would count as a change.
        item.hash = Some(content_hash(self));
        Ok(item)
    }
    fn keeps_newer_version(&self) -> bool {
        self.room.source_updated_at.is_some()
    }
    fn expires_at(&self, retention: &RetentionSettings, now: DateTime<Utc>) -> Option<i64> {
        Some(retention::after_write(now, retention))
    }
    fn event_types(&self, previous: Option<&Self>) -> Vec<EventType> {
        match previous {
            Some(p)
                if p.room.housekeeping != self.room.housekeeping
                    || p.room.occupancy != self.room.occupancy =>
            {
                vec![EventType::RoomStatusChanged]
            }
            _ => vec![],
        }
    }
}

/// Records the provider of a room or availability item twice: beside the record, where
/// readers look for it, and inside it, so the stored item decodes as the provided record the
/// merge compares with (without it the previous state is unreadable and no transition, such as
/// `pms.room.status_changed`, is ever seen).
fn stamp_provider(item: &mut Item, provider: Provider) {
    if let serde_json::Value::Object(m) = &mut item.data {
        if let Some(serde_json::Value::Object(record)) = m.get_mut("record") {
            record.insert("provider".into(), serde_json::json!(provider));
        }
        m.insert("provider".into(), serde_json::json!(provider));
    }
}

/// Availability carries the provider it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvidedAvailability {
    pub provider: Provider,
    #[serde(flatten)]
    pub availability: Availability,
}

impl Mergeable for ProvidedAvailability {
    fn key(&self, hotel: &HotelId) -> ItemKey {
        availability_key(hotel, &self.availability)
    }
    fn entity_id(&self) -> String {
        format!("{}:{}", self.availability.date, self.availability.room_type)
    }
    fn provider(&self) -> Provider {
        self.provider
    }
    fn version(&self, _now: DateTime<Utc>) -> u64 {
        self.availability.version
    }
    fn to_item(
        &self,
        hotel: &HotelId,
        now: DateTime<Utc>,
        pending: Vec<DomainEvent>,
    ) -> PortResult<Item> {
        let mut item = availability_item(hotel, &self.availability, now, pending)?;
        stamp_provider(&mut item, self.provider);
        // See `ProvidedRoom::to_item`.
        item.hash = Some(content_hash(self));
        Ok(item)
    }
    fn event_types(&self, _previous: Option<&Self>) -> Vec<EventType> {
        vec![EventType::AvailabilitySynced]
    }
    fn expires_at(&self, retention: &RetentionSettings, _now: DateTime<Utc>) -> Option<i64> {
        Some(retention::after_date(self.availability.date, retention))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotApplied {
    /// The stored record has a newer version.
    OlderVersion,
    /// Nothing a partner can see changed.
    Unchanged,
    /// The record is past its hotel's retention (a stay departed long ago): not stored.
    PastRetention,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum MergeOutcome {
    Created,
    Updated,
    NotApplied {
        reason: NotApplied,
        stored_version: u64,
    },
}

impl MergeOutcome {
    pub fn applied(&self) -> bool {
        matches!(self, MergeOutcome::Created | MergeOutcome::Updated)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeReport {
    /// One outcome per distinct input record (entity id, outcome), in input order.
    pub outcomes: Vec<(String, MergeOutcome)>,
    pub events: Vec<DomainEvent>,
    /// Table writes made (puts of changed records and outbox clears).
    pub writes: u64,
}

impl MergeReport {
    pub fn count(&self, f: impl Fn(&MergeOutcome) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, o)| f(o)).count()
    }
    pub fn created(&self) -> usize {
        self.count(|o| *o == MergeOutcome::Created)
    }
    pub fn updated(&self) -> usize {
        self.count(|o| *o == MergeOutcome::Updated)
    }
    pub fn unchanged(&self) -> usize {
        self.count(|o| !o.applied())
    }
}

#[derive(Clone)]
pub struct Merger {
    store: Arc<dyn ItemStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    retention: Retention,
}

impl Merger {
    pub fn new(store: Arc<dyn ItemStore>, bus: Arc<dyn EventBus>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            bus,
            clock,
            retention: Retention::default(),
        }
    }

    /// Expiries follow each hotel's retention setting (without this, the default's).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    /// Merges records of one hotel. Duplicates in the input keep the highest version.
    pub async fn merge<T: Mergeable>(
        &self,
        hotel: &HotelId,
        records: Vec<T>,
        correlation_id: Option<&str>,
    ) -> PortResult<MergeReport> {
        let now = self.clock.now();
        let retention = self.retention.for_hotel(hotel).await?;
        // Highest version per key, in first-seen order.
        let mut order: Vec<ItemKey> = Vec::new();
        let mut latest: HashMap<ItemKey, T> = HashMap::new();
        for r in records {
            let key = r.key(hotel);
            match latest.get(&key) {
                Some(prev) if prev.version(now) >= r.version(now) => {}
                Some(_) => {
                    latest.insert(key, r);
                }
                None => {
                    order.push(key.clone());
                    latest.insert(key, r);
                }
            }
        }
        let stored: HashMap<ItemKey, Item> = self
            .store
            .batch_get(&order)
            .await?
            .into_iter()
            .map(|i| (i.key.clone(), i))
            .collect();

        let mut report = MergeReport::default();
        let mut writes: Vec<(usize, Item, Vec<DomainEvent>)> = Vec::new();
        let mut republish: Vec<(Item, Vec<DomainEvent>)> = Vec::new();
        // (the item at the newer version, the stored one, its pending events)
        let mut bumps: Vec<(Item, Item, Vec<DomainEvent>)> = Vec::new();
        // Unchanged records whose stored expiry is re-stamped (no events).
        let mut restamps: Vec<Item> = Vec::new();
        // Records kept alive by those written here, and until when.
        let mut alive: HashMap<ItemKey, i64> = HashMap::new();
        for key in &order {
            let Some(record) = latest.get_mut(key) else {
                continue;
            };
            let existing = stored.get(key);
            let expiry = record.expires_at(&retention, now);
            if expiry.is_some_and(|t| t <= now.timestamp()) {
                report.outcomes.push((
                    record.entity_id(),
                    MergeOutcome::NotApplied {
                        reason: NotApplied::PastRetention,
                        stored_version: existing.map(|e| e.version).unwrap_or(0),
                    },
                ));
                continue;
            }
            let stored_expiry = existing.and_then(|e| e.expires_at);
            if let Some(t) = expiry {
                for k in record.keeps_alive(hotel) {
                    let at = alive.entry(k).or_insert(t);
                    *at = (*at).max(t);
                }
            }
            let previous: Option<StoredRecord<T>> = existing.and_then(|i| i.decode().ok());
            let version = record.version(now);
            if let Some(p) = previous
                .as_ref()
                .filter(|p| p.record.version(now) <= version)
            {
                record.keep_uncarried(&p.record);
            }
            let record = &*record;
            if let Some(e) = existing {
                let same = e.hash.as_deref() == Some(content_hash(record).as_str());
                if e.version > version || same {
                    let reason = if same {
                        NotApplied::Unchanged
                    } else {
                        NotApplied::OlderVersion
                    };
                    let pending = previous
                        .as_ref()
                        .map(|p| p.pending_events.clone())
                        .unwrap_or_default();
                    if same && version > e.version && record.keeps_newer_version() {
                        // Nothing a partner sees changed, but the source has moved on: store the
                        // version (no new events; any still pending go along), or a slower read
                        // of an older state that does differ could later be written over it.
                        let mut item = record.to_item(hotel, now, pending.clone())?;
                        item.expires_at =
                            retention::kept(expiry.or(item.expires_at), stored_expiry);
                        bumps.push((item, e.clone(), pending));
                    } else if !pending.is_empty() {
                        republish.push((e.clone(), pending));
                    } else if same && retention::needs_restamp(expiry, stored_expiry, &retention) {
                        let mut item = e.clone();
                        item.expires_at = retention::kept(expiry, stored_expiry);
                        restamps.push(item);
                    }
                    report.outcomes.push((
                        record.entity_id(),
                        MergeOutcome::NotApplied {
                            reason,
                            stored_version: e.version,
                        },
                    ));
                    continue;
                }
            }
            let payload = encode_value("event payload", record)?;
            let before = previous
                .as_ref()
                .map(|p| encode_value("event payload", &p.record))
                .transpose()?;
            let changes = field_changes(before.as_ref(), &payload);
            let events: Vec<DomainEvent> = record
                .event_types(previous.as_ref().map(|p| &p.record))
                .into_iter()
                .map(|t| {
                    DomainEvent::new(
                        t,
                        hotel.clone(),
                        record.provider(),
                        record.entity_id(),
                        version,
                        now,
                        correlation_id.map(str::to_owned),
                        payload.clone(),
                    )
                    .with_changes(changes.clone())
                })
                .collect();
            let outcome = if existing.is_some() {
                MergeOutcome::Updated
            } else {
                MergeOutcome::Created
            };
            report.outcomes.push((record.entity_id(), outcome));
            let idx = report.outcomes.len() - 1;
            let mut item = record.to_item(hotel, now, events.clone())?;
            // A record without a retention rule keeps the expiry its item carries.
            item.expires_at = retention::kept(expiry.or(item.expires_at), stored_expiry);
            writes.push((idx, item, events));
        }

        let items: Vec<Item> = writes.iter().map(|(_, i, _)| i.clone()).collect();
        let results = self.store.put_all(items, Condition::IfNewer).await?;
        let mut to_publish: Vec<(Item, Vec<DomainEvent>)> = republish;
        let bump_items: Vec<Item> = bumps.iter().map(|(i, _, _)| i.clone()).collect();
        let bumped = self.store.put_all(bump_items, Condition::IfNewer).await?;
        for ((item, stored, pending), result) in bumps.into_iter().zip(bumped) {
            if result?.applied() {
                report.writes += 1;
                to_publish.push((item, pending));
            } else if !pending.is_empty() {
                // A newer write won, which is what the bump was for; the events still go out.
                to_publish.push((stored, pending));
            }
        }
        for ((idx, item, events), result) in writes.into_iter().zip(results) {
            match result? {
                PutOutcome::Applied => {
                    report.writes += 1;
                    to_publish.push((item, events));
                }
                PutOutcome::Rejected { existing } => {
                    // Lost a race against a newer write: that write has its own events.
                    report.outcomes[idx].1 = MergeOutcome::NotApplied {
                        reason: NotApplied::OlderVersion,
                        stored_version: existing.map(|e| e.version).unwrap_or(0),
                    };
                }
            }
        }

        let events: Vec<DomainEvent> = to_publish.iter().flat_map(|(_, e)| e.clone()).collect();
        if !events.is_empty() {
            self.bus.publish(&events).await?;
        }
        // Clear the outboxes, unless a newer version has replaced the item meanwhile.
        let cleared: Vec<Item> = to_publish
            .into_iter()
            .filter(|(_, e)| !e.is_empty())
            .map(|(mut item, _)| {
                if let Some(obj) = item.data.as_object_mut() {
                    obj.remove("pendingEvents");
                }
                item
            })
            .collect();
        for r in self.store.put_all(cleared, Condition::IfUnchanged).await? {
            if r?.applied() {
                report.writes += 1;
            }
        }
        report.writes += self.put_unchanged(restamps).await?;
        report.writes += self.keep_alive(alive).await?;
        report.events = events;
        Ok(report)
    }

    /// Extends the expiry of the stored records in `alive` that would go sooner. A record not
    /// stored (yet) is left alone: its own write sets its expiry.
    async fn keep_alive(&self, alive: HashMap<ItemKey, i64>) -> PortResult<u64> {
        if alive.is_empty() {
            return Ok(0);
        }
        let keys: Vec<ItemKey> = alive.keys().cloned().collect();
        let extended = self
            .store
            .batch_get(&keys)
            .await?
            .into_iter()
            .filter_map(|mut item| {
                let until = *alive.get(&item.key)?;
                if item.expires_at.is_some_and(|s| s >= until) {
                    return None;
                }
                item.expires_at = Some(until);
                Some(item)
            })
            .collect();
        self.put_unchanged(extended).await
    }

    /// Rewrites items as read, but for their expiry; one that changed meanwhile is left (its
    /// writer stamped it). Returns the writes applied.
    async fn put_unchanged(&self, items: Vec<Item>) -> PortResult<u64> {
        let mut applied = 0;
        for r in self.store.put_all(items, Condition::IfUnchanged).await? {
            if r?.applied() {
                applied += 1;
            }
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::{
        BusinessDate, ConfirmationNumber, ExternalId, RecordId, ReservationStatus,
    };
    use pms_domain::memory::{MemoryBus, MemoryStore};
    use pms_domain::ports::ManualClock;
    use serde_json::json;

    fn reservation(version: u64, status: ReservationStatus) -> Reservation {
        Reservation {
            id: RecordId::new(Provider::named("mews"), ExternalId::parse("r1").unwrap()),
            confirmation_number: ConfirmationNumber::parse("1001").unwrap(),
            guest: None,
            room_number: None,
            room_type: None,
            arrival: BusinessDate::parse("2026-12-01").unwrap(),
            departure: BusinessDate::parse("2026-12-03").unwrap(),
            expected_arrival_time: None,
            expected_departure_time: None,
            status,
            raw_status: format!("{status}"),
            adults: 2,
            children: 0,
            rate_code: None,
            total: None,
            balance: None,
            special_requests: vec![],
            notes: vec![],
            source_updated_at: None,
            version,
            not_carried: Default::default(),
        }
    }

    /// A fixed "now", two days after [`reservation`]'s departure: expiries depend on it.
    fn today() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn merger() -> (Merger, Arc<MemoryStore>, Arc<MemoryBus>) {
        let (m, store, bus, _) = merger_with_clock();
        (m, store, bus)
    }

    fn merger_with_clock() -> (Merger, Arc<MemoryStore>, Arc<MemoryBus>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(today()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let bus = Arc::new(MemoryBus::new());
        (
            Merger::new(store.clone(), bus.clone(), clock.clone()),
            store,
            bus,
            clock,
        )
    }

    fn guest(version: u64, email: &str) -> Guest {
        Guest {
            id: RecordId::new(Provider::named("mews"), ExternalId::parse("g1").unwrap()),
            external_ids: Default::default(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: Some(email.into()),
            phone: None,
            language: None,
            loyalty_tier: None,
            vip: false,
            preferences: vec![],
            source_updated_at: None,
            version,
        }
    }

    fn stay(departure: &str, version: u64) -> Reservation {
        let mut r = reservation(version, ReservationStatus::Confirmed);
        r.departure = BusinessDate::parse(departure).unwrap();
        r.guest = Some(pms_domain::domain::GuestSummary {
            id: Some(guest(1, "a@example.com").id),
            first_name: Some("Ada".into()),
            last_name: None,
            email: None,
            phone: None,
        });
        r
    }

    fn at(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp()
    }

    async fn expiry(store: &MemoryStore, key: &ItemKey) -> Option<i64> {
        store.get(key).await.unwrap().unwrap().expires_at
    }

    #[tokio::test]
    async fn bookings_expire_after_departure_and_keep_their_guest_alive_as_long() {
        let (m, store, _, _) = merger_with_clock();
        let h = HotelId::parse("h1").unwrap();
        // Written on 2026-12-05: the guest alone would go 90 days later, on 2027-03-05.
        m.merge(&h, vec![guest(1, "a@example.com")], None)
            .await
            .unwrap();
        let gk = guest_key(&h, &guest(1, "a@example.com").id);
        assert_eq!(expiry(&store, &gk).await, Some(at("2027-03-05T12:00:00Z")));

        // A stay departing 2027-06-01 keeps booking and guest until 91 days past it.
        let r = m
            .merge(&h, vec![stay("2027-06-01", 1)], None)
            .await
            .unwrap();
        assert_eq!(r.created(), 1);
        let until = at("2027-08-31T00:00:00Z");
        let bk = booking_key(&h, &stay("2027-06-01", 1).id);
        assert_eq!(expiry(&store, &bk).await, Some(until));
        assert_eq!(expiry(&store, &gk).await, Some(until));

        // The guest's own later change does not cut that short.
        m.merge(&h, vec![guest(2, "new@example.com")], None)
            .await
            .unwrap();
        assert_eq!(expiry(&store, &gk).await, Some(until));
    }

    #[tokio::test]
    async fn events_say_what_changed_from_the_stored_record() {
        let (m, _, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        let mut r = reservation(1, ReservationStatus::CheckedIn);
        r.room_number = Some(pms_domain::domain::RoomNumber::parse("101").unwrap());
        m.merge(&h, vec![r.clone()], None).await.unwrap();
        let created = bus.events();
        // New: every field from null (the booking's own fields, not its version).
        let room = created[0]
            .changes
            .iter()
            .find(|c| c.field == "roomNumber")
            .unwrap();
        assert_eq!((&room.before, &room.after), (&json!(null), &json!("101")));
        assert!(created[0].changes.iter().all(|c| c.field != "version"));

        r.version = 2;
        r.room_number = Some(pms_domain::domain::RoomNumber::parse("204").unwrap());
        r.status = ReservationStatus::CheckedOut;
        m.merge(&h, vec![r], None).await.unwrap();
        let events = bus.events();
        let moved: Vec<_> = events[created.len()..].to_vec();
        assert_eq!(moved.len(), 2, "synced and checked_out");
        for e in &moved {
            let fields: Vec<(&str, &serde_json::Value, &serde_json::Value)> = e
                .changes
                .iter()
                .map(|c| (c.field.as_str(), &c.before, &c.after))
                .filter(|(f, _, _)| *f != "rawStatus")
                .collect();
            assert_eq!(
                fields,
                [
                    ("roomNumber", &json!("101"), &json!("204")),
                    ("status", &json!("checked_in"), &json!("checked_out")),
                ],
                "{e:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_stay_past_its_retention_is_not_stored() {
        let (m, store, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        // Departed 2026-09-05: 91 days before "today", past the default 90.
        let old = stay("2026-09-05", 1);
        let r = m.merge(&h, vec![old.clone()], None).await.unwrap();
        assert_eq!(
            r.outcomes[0].1,
            MergeOutcome::NotApplied {
                reason: NotApplied::PastRetention,
                stored_version: 0
            }
        );
        assert!(store
            .get(&booking_key(&h, &old.id))
            .await
            .unwrap()
            .is_none());
        assert!(bus.events().is_empty());
        // Departed a day later, 90 days ago: still kept (until the end of the day).
        let r = m
            .merge(&h, vec![stay("2026-09-06", 1)], None)
            .await
            .unwrap();
        assert_eq!(r.created(), 1);
    }

    #[tokio::test]
    async fn an_unchanged_room_is_restamped_once_half_its_window_has_passed() {
        let (m, store, bus, clock) = merger_with_clock();
        let h = HotelId::parse("h1").unwrap();
        let room = ProvidedRoom {
            provider: Provider::named("mews"),
            room: RoomStatus {
                room_number: pms_domain::domain::RoomNumber::parse("101").unwrap(),
                room_type: None,
                occupancy: pms_domain::domain::Occupancy::Vacant,
                housekeeping: pms_domain::domain::Housekeeping::Clean,
                raw_status: None,
                floor: None,
                do_not_disturb: false,
                source_updated_at: None,
            },
        };
        let key = room_key(&h, &room.room.room_number);
        m.merge(&h, vec![room.clone()], None).await.unwrap();
        let first = expiry(&store, &key).await.unwrap();

        // 40 days on: unchanged, nothing written.
        clock.advance(chrono::Duration::days(40));
        let r = m.merge(&h, vec![room.clone()], None).await.unwrap();
        assert_eq!((r.unchanged(), r.writes), (1, 0));
        assert_eq!(expiry(&store, &key).await, Some(first));

        // 50 days on (past half of 90): re-stamped, still without an event.
        clock.advance(chrono::Duration::days(10));
        let events_before = bus.events().len();
        let r = m.merge(&h, vec![room], None).await.unwrap();
        assert_eq!((r.unchanged(), r.writes), (1, 1));
        assert_eq!(
            expiry(&store, &key).await,
            Some(first + chrono::Duration::days(50).num_seconds())
        );
        assert_eq!(bus.events().len(), events_before);
    }

    #[tokio::test]
    async fn a_record_stored_before_retention_gets_its_expiry_from_an_unchanged_read() {
        let (m, store, _) = merger();
        let h = HotelId::parse("h1").unwrap();
        let r = stay("2026-12-20", 1);
        m.merge(&h, vec![r.clone()], None).await.unwrap();
        let key = booking_key(&h, &r.id);
        let mut legacy = store.get(&key).await.unwrap().unwrap();
        legacy.expires_at = None;
        store.put(legacy, Condition::Always).await.unwrap();

        let report = m.merge(&h, vec![r], None).await.unwrap();
        assert_eq!((report.unchanged(), report.writes), (1, 1));
        assert_eq!(expiry(&store, &key).await, Some(at("2027-03-21T00:00:00Z")));
    }

    #[tokio::test]
    async fn a_read_that_does_not_carry_a_field_keeps_the_stored_value() {
        use pms_domain::domain::{Currency, Money, NotCarried, ReservationField};
        let (m, _, _) = merger();
        let h = HotelId::parse("h1").unwrap();
        // A detail read: total and arrival time.
        let mut detail = reservation(1, ReservationStatus::Confirmed);
        detail.total = Some(Money::new(61240, Currency::usd()));
        detail.expected_arrival_time = chrono::NaiveTime::from_hms_opt(15, 30, 0);
        m.merge(&h, vec![detail.clone()], None).await.unwrap();
        // A newer list row that lacks both (and says so) and changes the status.
        let mut row = reservation(2, ReservationStatus::CheckedIn);
        row.not_carried = NotCarried(vec![
            ReservationField::Total,
            ReservationField::ExpectedArrivalTime,
        ]);
        let r = m.merge(&h, vec![row.clone()], None).await.unwrap();
        assert_eq!(r.updated(), 1);
        let stored = crate::records::ReservationQueries::new(m.store().clone())
            .get(&h, &row.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.total, detail.total);
        assert_eq!(stored.expected_arrival_time, detail.expected_arrival_time);
        assert_eq!(stored.status, ReservationStatus::CheckedIn);
        // The same row again: nothing changed.
        let r = m.merge(&h, vec![row], None).await.unwrap();
        assert_eq!(r.unchanged(), 1);
        // A read that carries the field and has it empty clears it.
        let cleared = reservation(3, ReservationStatus::CheckedIn);
        m.merge(&h, vec![cleared.clone()], None).await.unwrap();
        let stored = crate::records::ReservationQueries::new(m.store().clone())
            .get(&h, &cleared.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.total, None);
    }

    #[tokio::test]
    async fn create_update_stale_unchanged_and_one_transition() {
        let (m, store, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        let r = m
            .merge(&h, vec![reservation(1, ReservationStatus::Confirmed)], None)
            .await
            .unwrap();
        assert_eq!(r.created(), 1);
        let r = m
            .merge(&h, vec![reservation(1, ReservationStatus::Confirmed)], None)
            .await
            .unwrap();
        assert_eq!(
            r.outcomes[0].1,
            MergeOutcome::NotApplied {
                reason: NotApplied::Unchanged,
                stored_version: 1
            }
        );
        let r = m
            .merge(&h, vec![reservation(2, ReservationStatus::CheckedIn)], None)
            .await
            .unwrap();
        assert_eq!(r.updated(), 1);
        let r = m
            .merge(&h, vec![reservation(3, ReservationStatus::CheckedIn)], None)
            .await
            .unwrap();
        assert_eq!(
            (r.unchanged(), r.events.len()),
            (1, 0),
            "same content, newer version: unchanged, nothing announced (the version is kept)"
        );
        let r = m
            .merge(&h, vec![reservation(1, ReservationStatus::Cancelled)], None)
            .await
            .unwrap();
        assert_eq!(
            r.outcomes[0].1,
            MergeOutcome::NotApplied {
                reason: NotApplied::OlderVersion,
                stored_version: 3
            }
        );
        let types: Vec<EventType> = bus.events().iter().map(|e| e.event_type).collect();
        assert_eq!(
            types,
            [
                EventType::BookingSynced,
                EventType::BookingSynced,
                EventType::BookingCheckedIn
            ]
        );
        // Outboxes are cleared after publishing.
        let item = store.raw_items().pop().unwrap();
        assert!(item.data.get("pendingEvents").is_none());
    }

    #[tokio::test]
    async fn an_unchanged_record_at_a_newer_source_version_keeps_an_older_read_out() {
        // Found by the chaos suite: the PMS changes a stay (v2) and back (v3); the refresh that
        // read v3 finds it unchanged and used to write nothing, so the slower refresh that read
        // v2 was then written over it, and the store kept a state the PMS had left.
        use chrono::TimeZone;
        let (m, store, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        let stamped = |ms: i64, status| {
            let mut r = reservation(ms as u64, status);
            r.source_updated_at = Utc.timestamp_millis_opt(ms).single();
            r
        };
        let r = m
            .merge(&h, vec![stamped(1_000, ReservationStatus::Confirmed)], None)
            .await
            .unwrap();
        assert_eq!(r.created(), 1);
        let r = m
            .merge(&h, vec![stamped(3_000, ReservationStatus::Confirmed)], None)
            .await
            .unwrap();
        assert_eq!(r.unchanged(), 1);
        assert_eq!(r.writes, 1, "the newer version is recorded");
        let r = m
            .merge(&h, vec![stamped(2_000, ReservationStatus::CheckedIn)], None)
            .await
            .unwrap();
        assert_eq!(
            r.outcomes[0].1,
            MergeOutcome::NotApplied {
                reason: NotApplied::OlderVersion,
                stored_version: 3_000
            }
        );
        let item = store.raw_items().pop().unwrap();
        let stored: StoredRecord<Reservation> = item.decode().unwrap();
        assert_eq!(stored.record.status, ReservationStatus::Confirmed);
        assert_eq!(item.version, 3_000);
        assert_eq!(bus.events().len(), 1, "a version bump announces nothing");
        // The same version again writes nothing.
        let r = m
            .merge(&h, vec![stamped(3_000, ReservationStatus::Confirmed)], None)
            .await
            .unwrap();
        assert_eq!((r.unchanged(), r.writes), (1, 0));
    }

    #[tokio::test]
    async fn pending_events_are_republished_on_retry() {
        let (m, store, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        // Simulate a crash after the write but before publishing: the item holds its events.
        let r = reservation(5, ReservationStatus::Confirmed);
        let pending = vec![DomainEvent::new(
            EventType::BookingSynced,
            h.clone(),
            Provider::named("mews"),
            r.id.to_string(),
            5,
            Utc::now(),
            None,
            serde_json::json!({}),
        )];
        store
            .put(
                r.to_item(&h, Utc::now(), pending.clone()).unwrap(),
                Condition::Always,
            )
            .await
            .unwrap();
        let report = m.merge(&h, vec![r], None).await.unwrap();
        assert_eq!(report.unchanged(), 1);
        assert_eq!(bus.events(), pending);
        let item = store.raw_items().pop().unwrap();
        assert!(item.data.get("pendingEvents").is_none());
    }

    #[tokio::test]
    async fn a_version_bump_takes_events_still_pending_along() {
        // A concurrent merge wrote the record with its events and has not published them yet;
        // the same content at a newer version arrives: the version moves, the events go out once
        // and the outbox is cleared on the newer item.
        use chrono::TimeZone;
        let (m, store, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        let mut r = reservation(5_000, ReservationStatus::Confirmed);
        r.source_updated_at = Utc.timestamp_millis_opt(5_000).single();
        let pending = vec![DomainEvent::new(
            EventType::BookingSynced,
            h.clone(),
            Provider::named("mews"),
            r.id.to_string(),
            5_000,
            Utc::now(),
            None,
            serde_json::json!({}),
        )];
        store
            .put(
                r.to_item(&h, Utc::now(), pending.clone()).unwrap(),
                Condition::Always,
            )
            .await
            .unwrap();
        let mut newer = r.clone();
        newer.version = 6_000;
        newer.source_updated_at = Utc.timestamp_millis_opt(6_000).single();
        let report = m.merge(&h, vec![newer], None).await.unwrap();
        assert_eq!(report.unchanged(), 1);
        assert_eq!(bus.events(), pending);
        let item = store.raw_items().pop().unwrap();
        assert_eq!(item.version, 6_000);
        assert!(item.data.get("pendingEvents").is_none());
    }

    #[tokio::test]
    async fn an_unchanged_room_or_availability_is_not_rewritten() {
        let (m, store, _) = merger();
        let h = HotelId::parse("h1").unwrap();
        let room = ProvidedRoom {
            provider: Provider::named("mock"),
            room: RoomStatus {
                room_number: pms_domain::domain::RoomNumber::parse("101").unwrap(),
                room_type: None,
                occupancy: pms_domain::domain::Occupancy::Vacant,
                housekeeping: pms_domain::domain::Housekeeping::Clean,
                raw_status: None,
                floor: None,
                do_not_disturb: false,
                source_updated_at: None,
            },
        };
        let avail = ProvidedAvailability {
            provider: Provider::PARTNER,
            availability: Availability {
                date: BusinessDate::parse("2026-12-01").unwrap(),
                room_type: pms_domain::domain::RoomTypeCode::parse("KING").unwrap(),
                available: 3,
                total: Some(5),
                rate: None,
                source_updated_at: None,
                version: 1,
            },
        };
        m.merge(&h, vec![room.clone()], None).await.unwrap();
        m.merge(&h, vec![avail.clone()], None).await.unwrap();
        let writes = store.writes();
        assert_eq!(m.merge(&h, vec![room], None).await.unwrap().unchanged(), 1);
        assert_eq!(m.merge(&h, vec![avail], None).await.unwrap().unchanged(), 1);
        assert_eq!(store.writes(), writes);
    }

    #[tokio::test]
    async fn a_room_status_change_is_one_transition_event() {
        let (m, _, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        let room = |hk| ProvidedRoom {
            provider: Provider::named("mews"),
            room: RoomStatus {
                room_number: pms_domain::domain::RoomNumber::parse("101").unwrap(),
                room_type: None,
                occupancy: pms_domain::domain::Occupancy::Vacant,
                housekeeping: hk,
                raw_status: None,
                floor: None,
                do_not_disturb: false,
                source_updated_at: None,
            },
        };
        m.merge(
            &h,
            vec![room(pms_domain::domain::Housekeeping::Clean)],
            None,
        )
        .await
        .unwrap();
        assert!(
            bus.events().is_empty(),
            "the first sight is not a transition"
        );
        let r = m
            .merge(
                &h,
                vec![room(pms_domain::domain::Housekeeping::Dirty)],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.updated(), 1);
        let types: Vec<EventType> = bus.events().iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::RoomStatusChanged]);
        m.merge(
            &h,
            vec![room(pms_domain::domain::Housekeeping::Dirty)],
            None,
        )
        .await
        .unwrap();
        assert_eq!(bus.events().len(), 1);
    }

    #[tokio::test]
    async fn duplicates_in_one_batch_keep_the_newest() {
        let (m, _, bus) = merger();
        let h = HotelId::parse("h1").unwrap();
        let r = m
            .merge(
                &h,
                vec![
                    reservation(2, ReservationStatus::CheckedIn),
                    reservation(1, ReservationStatus::Confirmed),
                ],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.outcomes.len(), 1);
        assert_eq!(bus.events().len(), 1);
    }
}
