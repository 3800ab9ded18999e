//! `Idempotency-Key` for partner requests: the first request with a key is processed and its
//! answer stored; a retry with the same key and the same request gets that answer again; the
//! same key with a different request is refused. Records are scoped by hotel and by the calling
//! token, expire after [`IDEMPOTENCY_TTL`], and a claim left by a crashed request can be taken
//! over once its lock has passed.

use std::sync::Arc;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::HotelId;
use pms_domain::ports::store::encode_value;
use pms_domain::ports::{Clock, Condition, Item, ItemKey, ItemStore, PortResult, PutOutcome};

/// How long an answer is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);
/// How long a claim blocks concurrent requests with the same key.
pub const IDEMPOTENCY_LOCK: Duration = Duration::seconds(30);

/// An answer as stored for replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    InProgress,
    Completed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    state: State,
    request_hash: String,
    locked_until: i64,
    response: Option<StoredResponse>,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// Ours to process; pass it to [`IdempotencyStore::complete`] or
    /// [`IdempotencyStore::release`].
    Claimed(Box<Item>),
    /// Processed before: answer this.
    Replay(StoredResponse),
    /// Another request with this key is being processed.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

#[derive(Clone)]
pub struct IdempotencyStore {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

/// A hash identifying a request: its route and its canonical JSON body (so whitespace and key
/// order do not make a retry look different). A `Value`'s `Display` is its compact JSON, the
/// same text as `serde_json::to_string` (which cannot fail for a `Value`).
pub fn request_hash(route: &str, body: &serde_json::Value) -> String {
    sha256_hex(format!("{route}|{body}").as_bytes())
}

impl IdempotencyStore {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The record's key: the hotel's partition, the caller, and a hash of the key (partners'
    /// keys are free text and must not reach a store key unescaped).
    pub fn key(hotel: &HotelId, caller: &str, idempotency_key: &str) -> ItemKey {
        ItemKey::hotel(
            hotel,
            format!(
                "IDEM#{caller}#{}",
                &sha256_hex(idempotency_key.as_bytes())[..40]
            ),
        )
    }

    pub async fn claim(&self, key: ItemKey, request_hash: &str) -> PortResult<Claim> {
        let now = self.clock.now();
        let record = Record {
            state: State::InProgress,
            request_hash: request_hash.to_owned(),
            locked_until: (now + IDEMPOTENCY_LOCK).timestamp(),
            response: None,
        };
        let item = Item::encode(key, &record)?.expiring_at((now + IDEMPOTENCY_TTL).timestamp());
        let existing = match self
            .store
            .put(item.clone(), Condition::IfAbsentOrExpired)
            .await?
        {
            PutOutcome::Applied => return Ok(Claim::Claimed(Box::new(item))),
            PutOutcome::Rejected { existing: Some(e) } => *e,
            PutOutcome::Rejected { existing: None } => match self.store.get(&item.key).await? {
                Some(e) => e,
                // Expired between the put and the read: a later retry claims it.
                None => return Ok(Claim::InProgress),
            },
        };
        let stored: Record = existing.decode()?;
        if stored.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        match (stored.state, stored.response) {
            (State::Completed, Some(response)) => Ok(Claim::Replay(response)),
            _ if stored.locked_until > now.timestamp() => Ok(Claim::InProgress),
            _ => {
                // The claimant died without finishing: take over, unless someone else just did.
                let took = self
                    .store
                    .put(
                        item.clone(),
                        Condition::IfDataEquals {
                            field: "lockedUntil".into(),
                            value: stored.locked_until.into(),
                        },
                    )
                    .await?;
                Ok(if took.applied() {
                    Claim::Claimed(Box::new(item))
                } else {
                    Claim::InProgress
                })
            }
        }
    }

    /// Stores the answer of a claimed request.
    pub async fn complete(&self, claimed: Item, response: StoredResponse) -> PortResult<()> {
        let mut record: Record = claimed.decode()?;
        record.state = State::Completed;
        record.response = Some(response);
        let item = Item {
            data: encode_value("idempotency record", &record)?,
            ..claimed
        };
        self.store.put(item, Condition::Always).await?;
        Ok(())
    }

    /// Forgets a claim whose request failed in a way worth retrying with the same key.
    pub async fn release(&self, claimed: Item) -> PortResult<()> {
        self.store.delete(&claimed.key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::ManualClock;
    use serde_json::json;

    fn setup() -> (IdempotencyStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        (IdempotencyStore::new(store, clock.clone()), clock)
    }

    #[tokio::test]
    async fn claim_replay_mismatch_and_takeover() {
        let (s, clock) = setup();
        let h = HotelId::parse("h1").unwrap();
        let key = IdempotencyStore::key(&h, "tok", "k-1");
        let hash = request_hash("/b", &json!({"a": 1}));
        let Claim::Claimed(item) = s.claim(key.clone(), &hash).await.unwrap() else {
            panic!("first claim")
        };
        assert!(matches!(
            s.claim(key.clone(), &hash).await.unwrap(),
            Claim::InProgress
        ));
        let other = request_hash("/b", &json!({"a": 2}));
        assert!(matches!(
            s.claim(key.clone(), &other).await.unwrap(),
            Claim::Mismatch
        ));
        s.complete(
            *item,
            StoredResponse {
                status: 201,
                body: json!({"ok": true}),
            },
        )
        .await
        .unwrap();
        match s.claim(key.clone(), &hash).await.unwrap() {
            Claim::Replay(r) => assert_eq!(r.status, 201),
            other => panic!("{other:?}"),
        }
        // A crashed claim is taken over after its lock; an expired record is new again.
        let k2 = IdempotencyStore::key(&h, "tok", "k-2");
        assert!(matches!(
            s.claim(k2.clone(), &hash).await.unwrap(),
            Claim::Claimed(_)
        ));
        clock.advance(IDEMPOTENCY_LOCK + Duration::seconds(1));
        assert!(matches!(
            s.claim(k2.clone(), &hash).await.unwrap(),
            Claim::Claimed(_)
        ));
        clock.advance(IDEMPOTENCY_TTL);
        assert!(matches!(
            s.claim(key, &other).await.unwrap(),
            Claim::Claimed(_)
        ));
    }

    #[test]
    fn request_hash_is_canonical() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "b": [1, 2], "a": 1 }"#).unwrap();
        assert_eq!(request_hash("/x", &a), request_hash("/x", &b));
        assert_ne!(request_hash("/x", &a), request_hash("/y", &a));
        // Stored claims hold hashes of the compact JSON text: the hash must not change.
        let compact = serde_json::to_string(&a).unwrap();
        assert_eq!(compact, r#"{"a":1,"b":[1,2]}"#);
        assert_eq!(
            request_hash("/x", &a),
            sha256_hex(format!("/x|{compact}").as_bytes())
        );
    }
}
