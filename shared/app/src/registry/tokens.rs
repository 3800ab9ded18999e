//! Partner tokens: `pms_<id>_<secret>`. Only an HMAC-SHA256 of the token (keyed by a secret in
//! Secrets Manager) is stored, so a copy of the table cannot be used to call us, and comparison
//! is constant-time.
//!
//! Every partner request reads its token, so the lookup is made cheap: each token is its own
//! partition (`T#<token id>` / `TOKEN`), read eventually consistently (half the cost, any
//! replica); a miss is read again consistently, so a token created a moment ago is accepted,
//! and an id found in neither read is remembered for a while ([`NegativeCache`]), so a caller
//! repeating a made-up token costs no read at all. A revocation takes effect once replicas
//! have it (about a second).

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::NegativeCache;
use pms_domain::domain::{HotelId, ValidationError};
use pms_domain::ports::{
    Clock, Condition, Item, ItemKey, ItemStore, KeyCondition, Partition, PortError, PutOutcome,
    Query, SecretStore, SystemPartition,
};

/// Token ids remembered as unknown, and for how long. Ids are 64 random bits chosen at
/// creation, so an id nobody had is never created later (but for a 2^-64 chance).
const UNKNOWN_TOKENS: usize = 10_000;
const UNKNOWN_TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GraphQL queries.
    Read,
    /// GraphQL mutations (writes to the PMS).
    Write,
    /// Partner REST ingestion.
    Ingest,
    /// Event subscriptions of its hotels (GraphQL `createSubscription` and the rest).
    Subscribe,
}

impl std::str::FromStr for Scope {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "ingest" => Ok(Scope::Ingest),
            "subscribe" => Ok(Scope::Subscribe),
            other => Err(ValidationError::new(
                "scope",
                format!("unknown scope {other:?} (expected read, write, ingest or subscribe)"),
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerToken {
    pub token_id: String,
    pub hotels: Vec<HotelId>,
    pub scopes: Vec<Scope>,
    pub label: String,
    /// Hex HMAC-SHA256 of the whole token.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it stops being accepted; `None`: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who is calling: the verified token's id and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub hotels: Vec<HotelId>,
    pub scopes: Vec<Scope>,
    /// When the token was created: it grants only hotels configured before then, so a removed
    /// hotel added again under the same id is not opened to the tokens of its earlier life.
    pub issued_at: DateTime<Utc>,
}

impl Principal {
    pub fn can_see(&self, hotel: &HotelId) -> bool {
        self.hotels.contains(hotel)
    }
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
    /// Whether the token grants this configured hotel: named by it, and configured before the
    /// token was issued (a hotel removed and added again under its id is a new hotel).
    pub fn grants(&self, config: &pms_domain::config::HotelConfig) -> bool {
        // Tokens and hotels are made from operators' machines, whose clocks may differ a little.
        const SKEW: chrono::Duration = chrono::Duration::minutes(5);
        self.can_see(&config.hotel_id) && config.created_at <= self.issued_at + SKEW
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credential was presented")]
    Missing,
    #[error("the credential is not valid")]
    Invalid,
    #[error("the credential has been revoked")]
    Revoked,
    #[error("the credential has expired")]
    Expired,
    /// The signing key could not be read: fail closed, and let the caller retry. (Also a token
    /// record that does not encode, a bug that no retry mends.)
    #[error("credentials cannot be checked right now")]
    Unavailable(#[source] PortError),
}

impl AuthError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuthError::Unavailable(e) if !matches!(e, PortError::Encode { .. }))
    }
}

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct TokenService {
    store: Arc<dyn ItemStore>,
    secrets: Arc<dyn SecretStore>,
    key_secret: String,
    clock: Arc<dyn Clock>,
    unknown: Arc<NegativeCache<String>>,
}

fn key(token_id: &str) -> ItemKey {
    ItemKey {
        partition: Partition::Token(token_id.to_owned()),
        sort: "TOKEN".into(),
    }
}

/// Where tokens were kept before each had its own partition.
fn legacy_key(token_id: &str) -> ItemKey {
    ItemKey::system(SystemPartition::Tokens, format!("TOKEN#{token_id}"))
}

impl TokenService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        key_secret: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            secrets,
            key_secret: key_secret.into(),
            clock,
            unknown: Arc::new(NegativeCache::new(UNKNOWN_TOKENS, UNKNOWN_TOKEN_TTL)),
        }
    }

    async fn mac(&self, token: &str) -> Result<HmacSha256, AuthError> {
        let key = self
            .secrets
            .get(&self.key_secret)
            .await
            .map_err(AuthError::Unavailable)?
            .ok_or_else(|| {
                AuthError::Unavailable(PortError::Missing {
                    service: pms_domain::ports::Service::SecretsManager,
                    what: "partner token key".into(),
                })
            })?;
        let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
            .map_err(|_| AuthError::Invalid)?;
        mac.update(token.as_bytes());
        Ok(mac)
    }

    /// Creates a token for `hotels`, valid until revoked. The plain token is returned once and
    /// never stored.
    pub async fn create(
        &self,
        hotels: Vec<HotelId>,
        scopes: Vec<Scope>,
        label: &str,
    ) -> Result<(SecretString, PartnerToken), AuthError> {
        self.create_expiring(hotels, scopes, label, None).await
    }

    /// Creates a token that is refused from `expires_at` on (`None`: valid until revoked).
    pub async fn create_expiring(
        &self,
        hotels: Vec<HotelId>,
        scopes: Vec<Scope>,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(SecretString, PartnerToken), AuthError> {
        let mut rng = rand::rng();
        let id_bytes: [u8; 8] = rng.random();
        let secret_bytes: [u8; 32] = rng.random();
        let token_id = hex::encode(id_bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
        // `_` separates the parts, so the secret part uses base64url without `_`-ambiguity by
        // splitting on the first two separators only.
        let plain = format!("pms_{token_id}_{secret}");
        let hash = hex::encode(self.mac(&plain).await?.finalize().into_bytes());
        let record = PartnerToken {
            token_id: token_id.clone(),
            hotels,
            scopes,
            label: label.to_owned(),
            hash,
            created_at: self.clock.now(),
            revoked_at: None,
            expires_at,
        };
        let item = Item::encode(key(&token_id), &record).map_err(AuthError::Unavailable)?;
        match self
            .store
            .put(item, Condition::IfAbsent)
            .await
            .map_err(AuthError::Unavailable)?
        {
            PutOutcome::Applied => {
                self.unknown.remove(&token_id);
                Ok((SecretString::from(plain), record))
            }
            PutOutcome::Rejected { .. } => Err(AuthError::Invalid),
        }
    }

    /// The stored token: an eventually consistent read, then, when that finds nothing, a
    /// consistent one (the token may have been created a moment ago). An id neither finds is
    /// remembered as unknown.
    async fn lookup(&self, token_id: &str) -> Result<Option<Item>, AuthError> {
        if self
            .unknown
            .contains(&token_id.to_owned(), self.clock.now())
        {
            return Ok(None);
        }
        let k = key(token_id);
        if let Some(item) = self
            .store
            .get_eventual(&k)
            .await
            .map_err(AuthError::Unavailable)?
        {
            return Ok(Some(item));
        }
        let mut item = self.store.get(&k).await.map_err(AuthError::Unavailable)?;
        if item.is_none() {
            // A token created before tokens had a partition each still works until
            // `pmsctl token migrate` has moved it: an upgrade must not lock partners out.
            item = self
                .store
                .get(&legacy_key(token_id))
                .await
                .map_err(AuthError::Unavailable)?;
        }
        if item.is_none() {
            self.unknown.insert(token_id.to_owned(), self.clock.now());
        }
        Ok(item)
    }

    /// Checks a presented token. Every failure looks the same to the caller.
    pub async fn verify(&self, presented: &str) -> Result<Principal, AuthError> {
        let presented = presented.trim();
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        let rest = presented.strip_prefix("pms_").ok_or(AuthError::Invalid)?;
        let (token_id, _) = rest.split_once('_').ok_or(AuthError::Invalid)?;
        if token_id.len() != 16 || !token_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AuthError::Invalid);
        }
        let item = self.lookup(token_id).await?.ok_or(AuthError::Invalid)?;
        let record: PartnerToken = item.decode().map_err(AuthError::Unavailable)?;
        let expected = hex::decode(&record.hash).map_err(|_| AuthError::Invalid)?;
        let actual = self.mac(presented).await?.finalize().into_bytes();
        if !bool::from(actual.as_slice().ct_eq(expected.as_slice())) {
            return Err(AuthError::Invalid);
        }
        if record.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if record.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return Err(AuthError::Expired);
        }
        Ok(Principal {
            token_id: record.token_id,
            hotels: record.hotels,
            scopes: record.scopes,
            issued_at: record.created_at,
        })
    }

    /// Revokes a token. A token still in the pre-upgrade location is revoked in its own
    /// partition, which every lookup reads first.
    pub async fn revoke(&self, token_id: &str) -> Result<bool, AuthError> {
        Ok(self.revoke_returning(token_id).await?.is_some())
    }

    /// Revokes a token and returns it as revoked (`None`: no such token), so the caller can
    /// audit the hotels it was for.
    pub async fn revoke_returning(
        &self,
        token_id: &str,
    ) -> Result<Option<PartnerToken>, AuthError> {
        let mut found = None;
        for k in [key(token_id), legacy_key(token_id)] {
            found = self.store.get(&k).await.map_err(AuthError::Unavailable)?;
            if found.is_some() {
                break;
            }
        }
        let Some(item) = found else {
            return Ok(None);
        };
        let mut record: PartnerToken = item.decode().map_err(AuthError::Unavailable)?;
        record.revoked_at = Some(self.clock.now());
        let item = Item::encode(key(token_id), &record).map_err(AuthError::Unavailable)?;
        self.store
            .put(item, Condition::Always)
            .await
            .map_err(AuthError::Unavailable)?;
        Ok(Some(record))
    }

    /// Moves tokens stored in the registry partition of earlier versions to a partition each
    /// (a token already moved is kept as it is). Returns how many were moved.
    pub async fn migrate_legacy(&self) -> Result<usize, AuthError> {
        let q = Query::primary(
            Partition::System(SystemPartition::Tokens),
            KeyCondition::BeginsWith("TOKEN#".into()),
        )
        .limit(1000);
        let legacy = self
            .store
            .query_all(&q)
            .await
            .map_err(AuthError::Unavailable)?;
        let mut moved = 0;
        for old in legacy {
            let record: PartnerToken = old.decode().map_err(AuthError::Unavailable)?;
            let item = Item {
                key: key(&record.token_id),
                ..old.clone()
            };
            let put = self
                .store
                .put(item, Condition::IfAbsent)
                .await
                .map_err(AuthError::Unavailable)?;
            moved += usize::from(put.applied());
            self.unknown.remove(&record.token_id);
            self.store
                .delete(&legacy_key(&record.token_id))
                .await
                .map_err(AuthError::Unavailable)?;
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use pms_domain::memory::{MemorySecrets, MemoryStore};
    use pms_domain::ports::{ManualClock, Page, PortResult};

    /// The in-memory store, recording each read as (kind, partition key); with `lagging`, an
    /// eventually consistent read does not see anything yet (a replica behind the write).
    struct Reads {
        inner: MemoryStore,
        lagging: bool,
        seen: Mutex<Vec<(&'static str, String)>>,
    }

    impl Reads {
        fn take(&self) -> Vec<(&'static str, String)> {
            std::mem::take(&mut *self.seen.lock().unwrap())
        }
    }

    #[async_trait]
    impl ItemStore for Reads {
        async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
            self.seen
                .lock()
                .unwrap()
                .push(("consistent", key.partition.key()));
            self.inner.get(key).await
        }
        async fn get_eventual(&self, key: &ItemKey) -> PortResult<Option<Item>> {
            self.seen
                .lock()
                .unwrap()
                .push(("eventual", key.partition.key()));
            if self.lagging {
                return Ok(None);
            }
            self.inner.get(key).await
        }
        async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
            self.inner.put(item, condition).await
        }
        async fn delete(&self, key: &ItemKey) -> PortResult<()> {
            self.inner.delete(key).await
        }
        async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
            self.inner.batch_get(keys).await
        }
        async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
            self.inner.batch_put(items).await
        }
        async fn query(&self, query: &Query) -> PortResult<Page> {
            self.inner.query(query).await
        }
        async fn increment(
            &self,
            key: &ItemKey,
            field: &str,
            by: i64,
            expires_at: Option<i64>,
        ) -> PortResult<i64> {
            self.inner.increment(key, field, by, expires_at).await
        }
    }

    async fn with_store(store: Arc<dyn ItemStore>, clock: Arc<ManualClock>) -> TokenService {
        let secrets = Arc::new(MemorySecrets::new());
        secrets
            .put("k", &SecretString::from("key-material".to_string()))
            .await
            .unwrap();
        TokenService::new(store, secrets, "k", clock)
    }

    async fn service() -> TokenService {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        with_store(Arc::new(MemoryStore::new(clock.clone())), clock).await
    }

    fn reads(lagging: bool) -> (Arc<Reads>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let store = Arc::new(Reads {
            inner: MemoryStore::new(clock.clone()),
            lagging,
            seen: Mutex::new(Vec::new()),
        });
        (store, clock)
    }

    #[tokio::test]
    async fn token_lookups_use_a_partition_per_token_and_eventually_consistent_reads() {
        let (store, clock) = reads(false);
        let s = with_store(store.clone(), clock).await;
        let h = HotelId::parse("h1").unwrap();
        let (a, ra) = s
            .create(vec![h.clone()], vec![Scope::Read], "a")
            .await
            .unwrap();
        let (b, rb) = s.create(vec![h], vec![Scope::Read], "b").await.unwrap();
        s.verify(a.expose_secret()).await.unwrap();
        s.verify(b.expose_secret()).await.unwrap();
        assert_eq!(
            store.take(),
            [
                ("eventual", format!("T#{}", ra.token_id)),
                ("eventual", format!("T#{}", rb.token_id)),
            ]
        );
    }

    #[tokio::test]
    async fn a_just_created_token_is_accepted_even_when_the_eventual_read_misses_it() {
        let (store, clock) = reads(true);
        let s = with_store(store.clone(), clock).await;
        let (plain, record) = s
            .create(vec![HotelId::parse("h1").unwrap()], vec![Scope::Read], "a")
            .await
            .unwrap();
        assert_eq!(
            s.verify(plain.expose_secret()).await.unwrap().token_id,
            record.token_id
        );
        let key = format!("T#{}", record.token_id);
        assert_eq!(
            store.take(),
            [("eventual", key.clone()), ("consistent", key)]
        );
    }

    #[tokio::test]
    async fn a_made_up_token_costs_one_lookup_however_often_it_is_presented() {
        let (store, clock) = reads(false);
        let s = with_store(store.clone(), clock.clone()).await;
        let forged = format!("pms_0123456789abcdef_{}", "A".repeat(43));
        for _ in 0..5 {
            assert!(matches!(s.verify(&forged).await, Err(AuthError::Invalid)));
        }
        assert_eq!(
            store.take().len(),
            3,
            "one eventual and one consistent read, and one of the pre-upgrade location"
        );
        // Remembered for a while only.
        clock.advance(UNKNOWN_TOKEN_TTL + chrono::Duration::seconds(1));
        assert!(matches!(s.verify(&forged).await, Err(AuthError::Invalid)));
        assert_eq!(store.take().len(), 3);
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_like_an_invalid_one() {
        let (store, clock) = reads(false);
        let s = with_store(store, clock.clone()).await;
        let h = HotelId::parse("h1").unwrap();
        let expires = clock.now() + chrono::Duration::days(90);
        let (plain, record) = s
            .create_expiring(vec![h.clone()], vec![Scope::Read], "p", Some(expires))
            .await
            .unwrap();
        assert_eq!(record.expires_at, Some(expires));
        assert!(s.verify(plain.expose_secret()).await.is_ok());
        clock.advance(chrono::Duration::days(90) - chrono::Duration::seconds(1));
        assert!(s.verify(plain.expose_secret()).await.is_ok());
        clock.advance(chrono::Duration::seconds(1));
        let err = s.verify(plain.expose_secret()).await.unwrap_err();
        assert!(matches!(err, AuthError::Expired));
        assert!(!err.is_retryable());
        // Tokens without an expiry (and records stored before expiries existed) do not expire.
        let (forever, _) = s.create(vec![h], vec![Scope::Read], "f").await.unwrap();
        clock.advance(chrono::Duration::days(3650));
        assert!(s.verify(forever.expose_secret()).await.is_ok());
    }

    /// A token where versions before the per-token partitions stored it (`S#TOKENS`).
    async fn legacy_token(s: &TokenService, store: &Reads) -> (SecretString, PartnerToken) {
        let (plain, record) = s
            .create(
                vec![HotelId::parse("h1").unwrap()],
                vec![Scope::Read],
                "old",
            )
            .await
            .unwrap();
        let item = store
            .inner
            .get(&key(&record.token_id))
            .await
            .unwrap()
            .unwrap();
        store.inner.delete(&item.key).await.unwrap();
        let moved = Item {
            key: legacy_key(&record.token_id),
            ..item
        };
        store.inner.put(moved, Condition::Always).await.unwrap();
        (plain, record)
    }

    #[tokio::test]
    async fn tokens_of_the_shared_partition_work_until_moved_to_their_own() {
        let (store, clock) = reads(false);
        let s = with_store(store.clone(), clock).await;
        // As an earlier version stored it.
        let (plain, record) = legacy_token(&s, &store).await;
        // An upgrade locks nobody out: the token works before the migration too.
        let s = with_store(store.clone(), Arc::new(ManualClock::new(Utc::now()))).await;
        assert!(s.verify(plain.expose_secret()).await.is_ok());
        let s = with_store(store.clone(), Arc::new(ManualClock::new(Utc::now()))).await;
        assert_eq!(s.migrate_legacy().await.unwrap(), 1);
        assert_eq!(s.migrate_legacy().await.unwrap(), 0);
        assert!(s.verify(plain.expose_secret()).await.is_ok());
        assert!(store
            .inner
            .get(&legacy_key(&record.token_id))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_token_of_the_shared_partition_can_be_revoked_before_it_is_moved() {
        let (store, clock) = reads(false);
        let s = with_store(store.clone(), clock.clone()).await;
        let (plain, record) = legacy_token(&s, &store).await;
        assert!(s.revoke(&record.token_id).await.unwrap());
        let s = with_store(store.clone(), clock).await;
        assert!(matches!(
            s.verify(plain.expose_secret()).await,
            Err(AuthError::Revoked)
        ));
    }

    #[tokio::test]
    async fn create_verify_revoke() {
        let s = service().await;
        let h = HotelId::parse("h1").unwrap();
        let (plain, record) = s
            .create(vec![h.clone()], vec![Scope::Read], "test")
            .await
            .unwrap();
        assert!(!record.hash.contains(plain.expose_secret()));
        let p = s.verify(plain.expose_secret()).await.unwrap();
        assert!(p.can_see(&h));
        assert!(p.has(Scope::Read) && !p.has(Scope::Write));
        // A tampered token with the right id fails.
        let mut tampered = plain.expose_secret().to_owned();
        // A different last character (the random token may already end in 'A').
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(s.verify(&tampered).await, Err(AuthError::Invalid)));
        assert!(matches!(s.verify("").await, Err(AuthError::Missing)));
        assert!(matches!(
            s.verify("Bearer x").await,
            Err(AuthError::Invalid)
        ));
        s.revoke(&record.token_id).await.unwrap();
        assert!(matches!(
            s.verify(plain.expose_secret()).await,
            Err(AuthError::Revoked)
        ));
    }

    #[test]
    fn scopes_parse_by_name_and_are_stored_lowercase() {
        for (text, scope) in [
            ("read", Scope::Read),
            ("write", Scope::Write),
            ("ingest", Scope::Ingest),
            ("subscribe", Scope::Subscribe),
            (" Subscribe ", Scope::Subscribe),
        ] {
            assert_eq!(text.parse::<Scope>().unwrap(), scope, "{text}");
        }
        assert_eq!(
            serde_json::to_string(&Scope::Subscribe).unwrap(),
            "\"subscribe\""
        );
        let e = "admin".parse::<Scope>().unwrap_err();
        assert_eq!(e.field, "scope");
        assert!(e.to_string().contains("subscribe"), "{e}");
    }
}
