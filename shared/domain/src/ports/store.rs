//! The store port: one hotel-scoped item store (one DynamoDB table in AWS).
//!
//! Every item lives in a [`Partition`]: a hotel's, or one of a few system partitions (the hotel
//! registry, partner tokens). There is no way to query without naming the partition, so no query
//! can forget the tenant. Three secondary indexes serve date ranges and lookups:
//! arrivals by date, departures by date (both within the item's own partition), and a lookup
//! index whose partition the item names (a confirmation number within a hotel, or the registry).

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use base64::Engine;

use super::{PortError, PortResult};
use crate::domain::HotelId;

/// Partitions that hold cross-hotel registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemPartition {
    /// One lookup entry per hotel, for listing hotels (scheduler, `pmsctl hotel list`).
    Hotels,
    /// Partner tokens by token id, as stored before each token had its own partition
    /// ([`Partition::Token`]); read only to move them (`pmsctl token migrate`).
    Tokens,
    /// DLQ items across hotels, for ops listing.
    DeadLetters,
}

impl SystemPartition {
    fn name(self) -> &'static str {
        match self {
            SystemPartition::Hotels => "HOTELS",
            SystemPartition::Tokens => "TOKENS",
            SystemPartition::DeadLetters => "DLQ",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition {
    Hotel(HotelId),
    System(SystemPartition),
    /// One partner token (by its id, lowercase hex). Every partner request reads its token:
    /// a partition each spreads those reads instead of heating one registry partition.
    Token(String),
}

impl Partition {
    /// The partition key value: `H#<hotel>` or `S#<name>`. Hotel ids cannot contain `#`.
    pub fn key(&self) -> String {
        match self {
            Partition::Hotel(h) => format!("H#{h}"),
            Partition::System(s) => format!("S#{}", s.name()),
            Partition::Token(t) => format!("T#{t}"),
        }
    }

    pub fn parse(key: &str) -> Option<Partition> {
        if let Some(h) = key.strip_prefix("H#") {
            return HotelId::parse(h).ok().map(Partition::Hotel);
        }
        if let Some(t) = key.strip_prefix("T#") {
            let hex = !t.is_empty() && t.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
            return hex.then(|| Partition::Token(t.to_owned()));
        }
        let name = key.strip_prefix("S#")?;
        [
            SystemPartition::Hotels,
            SystemPartition::Tokens,
            SystemPartition::DeadLetters,
        ]
        .into_iter()
        .find(|s| s.name() == name)
        .map(Partition::System)
    }

    pub fn hotel(&self) -> Option<&HotelId> {
        match self {
            Partition::Hotel(h) => Some(h),
            Partition::System(_) | Partition::Token(_) => None,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey {
    pub partition: Partition,
    /// Sort key, `KIND#...` by convention (`BOOKING#mews#<id>`, `CONFIG`).
    pub sort: String,
}

impl ItemKey {
    pub fn hotel(hotel: &HotelId, sort: impl Into<String>) -> Self {
        Self {
            partition: Partition::Hotel(hotel.clone()),
            sort: sort.into(),
        }
    }

    pub fn system(partition: SystemPartition, sort: impl Into<String>) -> Self {
        Self {
            partition: Partition::System(partition),
            sort: sort.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    /// `gsi1`: partition = the item's partition, sort = the arrival key.
    ByArrival,
    /// `gsi2`: partition = the item's partition, sort = the departure key.
    ByDeparture,
    /// `gsi3`: partition and sort given by the item.
    Lookup,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::ByArrival, Index::ByDeparture, Index::Lookup];

    pub fn name(self) -> &'static str {
        match self {
            Index::ByArrival => "gsi1",
            Index::ByDeparture => "gsi2",
            Index::Lookup => "gsi3",
        }
    }

    pub fn partition_attribute(self) -> &'static str {
        match self {
            Index::ByArrival => "gsi1pk",
            Index::ByDeparture => "gsi2pk",
            Index::Lookup => "gsi3pk",
        }
    }

    pub fn sort_attribute(self) -> &'static str {
        match self {
            Index::ByArrival => "gsi1sk",
            Index::ByDeparture => "gsi2sk",
            Index::Lookup => "gsi3sk",
        }
    }
}

/// Secondary index entries of an item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexKeys {
    /// Sort key in the arrivals index, e.g. `BOOKING#2026-12-01#mews#<id>`.
    pub by_arrival: Option<String>,
    pub by_departure: Option<String>,
    /// Partition and sort key in the lookup index.
    pub lookup: Option<(Partition, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: ItemKey,
    /// Source version for ordering; 0 when the item is not versioned.
    pub version: u64,
    /// Content hash, to tell an unchanged re-write from a change at the same version.
    pub hash: Option<String>,
    /// Epoch seconds after which the item is gone, whether or not the table has swept it yet.
    pub expires_at: Option<i64>,
    pub index: IndexKeys,
    pub data: serde_json::Value,
}

impl Item {
    pub fn new(key: ItemKey, data: serde_json::Value) -> Self {
        Self {
            key,
            version: 0,
            hash: None,
            expires_at: None,
            index: IndexKeys::default(),
            data,
        }
    }

    pub fn with_version(mut self, version: u64, hash: impl Into<String>) -> Self {
        self.version = version;
        self.hash = Some(hash.into());
        self
    }

    pub fn expiring_at(mut self, epoch_seconds: i64) -> Self {
        self.expires_at = Some(epoch_seconds);
        self
    }

    pub fn with_index(mut self, index: IndexKeys) -> Self {
        self.index = index;
        self
    }

    /// DynamoDB deletes expired items up to days late: every read re-checks.
    pub fn is_expired(&self, now_epoch_seconds: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_epoch_seconds)
    }

    /// An item whose `data` is `value` serialised. A value that does not serialise is a
    /// [`PortError::Encode`] (named by the sort key's kind, `BOOKING` of `BOOKING#...`), never a
    /// stored `null`.
    pub fn encode<T: serde::Serialize + ?Sized>(key: ItemKey, value: &T) -> PortResult<Self> {
        let what = key.sort.split('#').next().unwrap_or_default();
        let data = encode_value(what, value)?;
        Ok(Self::new(key, data))
    }

    /// Decodes `data` into a type.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> PortResult<T> {
        serde_json::from_value(self.data.clone()).map_err(|e| PortError::Corrupt {
            service: super::Service::Store,
            message: format!("{} {}: {e}", self.key.partition, self.key.sort),
        })
    }
}

/// `value` serialised to JSON, for stored data built outside [`Item::encode`]. A failure is a
/// [`PortError::Encode`] naming `what` (a short kind name: keep data values out of it).
pub fn encode_value<T: serde::Serialize + ?Sized>(
    what: &str,
    value: &T,
) -> PortResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| PortError::Encode {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

/// When a put may apply.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Always,
    /// Create once: fails if an item (even an expired one) exists.
    IfAbsent,
    /// Create, or replace an item whose expiry has passed (idempotency and dedupe records).
    IfAbsentOrExpired,
    /// Ordering: applies when absent, when the stored version is older, or when the version is
    /// the same and the content hash differs. An older version never replaces a newer one.
    IfNewer,
    /// Applies when the stored item has the same version and hash as the new one (rewrites of
    /// bookkeeping, such as clearing an outbox, that must not race a newer version).
    IfUnchanged,
    /// Applies when the item exists and `data.<field>` equals `value` (state transitions).
    IfDataEquals {
        field: String,
        value: serde_json::Value,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum PutOutcome {
    Applied,
    /// The condition did not hold; `existing` is the stored item when there is one.
    Rejected {
        existing: Option<Box<Item>>,
    },
}

impl PutOutcome {
    pub fn applied(&self) -> bool {
        matches!(self, PutOutcome::Applied)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyCondition {
    /// Every sort key (of the partition / index partition).
    All,
    Equals(String),
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub partition: Partition,
    /// `None` queries the table's primary key.
    pub index: Option<Index>,
    pub key: KeyCondition,
    /// Page size (1..=1000).
    pub limit: u32,
    pub cursor: Option<String>,
    pub descending: bool,
}

impl Query {
    pub fn primary(partition: Partition, key: KeyCondition) -> Self {
        Self {
            partition,
            index: None,
            key,
            limit: 100,
            cursor: None,
            descending: false,
        }
    }

    pub fn on(partition: Partition, index: Index, key: KeyCondition) -> Self {
        Self {
            index: Some(index),
            ..Self::primary(partition, key)
        }
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, 1000);
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }

    /// The attribute that holds the queried partition.
    pub fn partition_attribute(&self) -> &'static str {
        self.index.map(Index::partition_attribute).unwrap_or("pk")
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Opaque; `None` at the end.
    pub cursor: Option<String>,
}

/// Opaque cursors: base64url of the last evaluated key. Decoding checks that the cursor belongs
/// to the queried partition, so a cursor from hotel A's query cannot page through hotel B.
pub mod cursor {
    use super::*;

    pub fn encode(key: &BTreeMap<String, String>) -> String {
        let json = serde_json::to_vec(key).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(cursor: &str, query: &Query) -> PortResult<BTreeMap<String, String>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| PortError::InvalidCursor)?;
        let key: BTreeMap<String, String> =
            serde_json::from_slice(&bytes).map_err(|_| PortError::InvalidCursor)?;
        if key.get(query.partition_attribute()) != Some(&query.partition.key()) {
            return Err(PortError::InvalidCursor);
        }
        Ok(key)
    }

    /// The cursor that resumes a query on `index` (`None`: the table) right after `item`: the
    /// same key a page ending at `item` would return. Lets a reader that filters a page stop
    /// in the middle of it without skipping or repeating items. `None` when the item is not in
    /// that index.
    pub fn after_item(item: &Item, index: Option<Index>) -> Option<String> {
        let pk = item.key.partition.key();
        let mut key = BTreeMap::from([
            ("pk".to_owned(), pk.clone()),
            ("sk".to_owned(), item.key.sort.clone()),
        ]);
        if let Some(index) = index {
            let (partition, sort) = match index {
                Index::ByArrival => (pk, item.index.by_arrival.clone()?),
                Index::ByDeparture => (pk, item.index.by_departure.clone()?),
                Index::Lookup => {
                    let (p, s) = item.index.lookup.as_ref()?;
                    (p.key(), s.clone())
                }
            };
            key.insert(index.partition_attribute().to_owned(), partition);
            key.insert(index.sort_attribute().to_owned(), sort);
        }
        Some(encode(&key))
    }
}

/// The store. Reads never return expired items; writes are conditional where ordering matters.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// A strongly consistent read.
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>>;

    /// A read that may not yet see a write made within about the last second (DynamoDB's
    /// eventually consistent read: half the cost of [`ItemStore::get`], served by any replica).
    /// For callers that handle a missing or older answer; stores with one kind of read use
    /// [`ItemStore::get`].
    async fn get_eventual(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.get(key).await
    }

    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome>;

    async fn delete(&self, key: &ItemKey) -> PortResult<()>;

    /// Reads many items (any order); missing and expired ones are left out.
    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>>;

    /// Unconditional bulk upsert in batches of 25, retrying unprocessed items with backoff.
    /// For records whose order does not matter (raw events, audit, bulk loads); ordered records
    /// go through [`ItemStore::put_all`] with [`Condition::IfNewer`].
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()>;

    /// Conditional puts of many items, concurrently; one outcome per item, in order.
    async fn put_all(
        &self,
        items: Vec<Item>,
        condition: Condition,
    ) -> PortResult<Vec<PortResult<PutOutcome>>> {
        use futures::StreamExt;
        let results = futures::stream::iter(items.into_iter().map(|item| {
            let condition = condition.clone();
            async move { self.put(item, condition).await }
        }))
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
        Ok(results)
    }

    async fn query(&self, query: &Query) -> PortResult<Page>;

    /// Atomically adds `by` to the numeric field `data.<field>` (creating the item at 0), sets the
    /// expiry, and returns the new value. For counters shared by concurrent processes (rate
    /// limits across Lambda instances).
    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64>;

    /// Follows a query's cursor to the end (for bounded sets: a day's arrivals, the registry).
    async fn query_all(&self, query: &Query) -> PortResult<Vec<Item>> {
        let mut q = query.clone();
        let mut out = Vec::new();
        loop {
            let page = self.query(&q).await?;
            out.extend(page.items);
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_round_trip() {
        let h = Partition::Hotel(HotelId::parse("h1").unwrap());
        assert_eq!(h.key(), "H#h1");
        assert_eq!(Partition::parse("H#h1"), Some(h));
        assert_eq!(
            Partition::parse("S#HOTELS"),
            Some(Partition::System(SystemPartition::Hotels))
        );
        assert_eq!(Partition::parse("X#y"), None);
        let t = Partition::Token("0123456789abcdef".into());
        assert_eq!(t.key(), "T#0123456789abcdef");
        assert_eq!(Partition::parse("T#0123456789abcdef"), Some(t));
        assert_eq!(Partition::parse("T#"), None);
        assert_eq!(Partition::parse("T#ab/cd"), None);
    }

    #[test]
    fn cursors_are_bound_to_their_partition() {
        let a = Partition::Hotel(HotelId::parse("a").unwrap());
        let b = Partition::Hotel(HotelId::parse("b").unwrap());
        let mut key = BTreeMap::new();
        key.insert("pk".to_owned(), a.key());
        key.insert("sk".to_owned(), "BOOKING#1".to_owned());
        let c = cursor::encode(&key);
        let qa = Query::primary(a, KeyCondition::All);
        let qb = Query::primary(b, KeyCondition::All);
        assert!(cursor::decode(&c, &qa).is_ok());
        assert!(matches!(
            cursor::decode(&c, &qb),
            Err(PortError::InvalidCursor)
        ));
        assert!(matches!(
            cursor::decode("!!", &qa),
            Err(PortError::InvalidCursor)
        ));
    }

    #[test]
    fn encoded_items_round_trip() {
        let hotel = HotelId::parse("h1").unwrap();
        let value = BTreeMap::from([("amount".to_owned(), 1250_u64)]);
        let item = Item::encode(ItemKey::hotel(&hotel, "CHARGE#1"), &value).unwrap();
        assert_eq!(item.key.sort, "CHARGE#1");
        assert_eq!(item.data, serde_json::json!({"amount": 1250}));
        assert_eq!(item.decode::<BTreeMap<String, u64>>().unwrap(), value);
        assert_eq!(
            encode_value("charge", &value).unwrap(),
            serde_json::json!({"amount": 1250})
        );
    }

    #[test]
    fn values_that_do_not_serialise_are_encode_errors() {
        let hotel = HotelId::parse("h1").unwrap();
        // JSON object keys must be strings: a tuple key does not serialise.
        let value = std::collections::HashMap::from([((1_u8, 2_u8), 3_u8)]);
        let err = Item::encode(ItemKey::hotel(&hotel, "CHARGE#secret-id"), &value).unwrap_err();
        match &err {
            PortError::Encode { what, .. } => assert_eq!(what, "CHARGE"),
            other => panic!("expected an encode error, got {other:?}"),
        }
        assert!(!err.is_retryable());
        assert_eq!(err.code(), "ENCODE");
        assert!(!err.to_string().contains("secret-id"), "{err}");
        let err = encode_value("delivery", &value).unwrap_err();
        assert!(matches!(&err, PortError::Encode { what, .. } if what == "delivery"));
        assert!(
            err.to_string().starts_with("cannot encode delivery: "),
            "{err}"
        );
        assert!(!err.is_retryable());
    }
}
