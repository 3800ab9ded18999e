//! Partner tokens: `pms_<id>_<secret>`. Only an HMAC-SHA256 of the token (keyed by a secret in
//! Secrets Manager) is stored, so a copy of the table cannot be used to call us, and comparison
//! is constant-time.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::{HotelId, ValidationError};
use crate::ports::{
    Clock, Condition, Item, ItemKey, ItemStore, PortError, PutOutcome, SecretStore, SystemPartition,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GraphQL queries.
    Read,
    /// GraphQL mutations (writes to the PMS).
    Write,
    /// Partner REST ingestion.
    Ingest,
}

impl std::str::FromStr for Scope {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "ingest" => Ok(Scope::Ingest),
            other => Err(ValidationError::new(
                "scope",
                format!("unknown scope {other:?} (expected read, write or ingest)"),
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
}

/// Who is calling: the verified token's id and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub hotels: Vec<HotelId>,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn can_see(&self, hotel: &HotelId) -> bool {
        self.hotels.contains(hotel)
    }
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
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
    /// The signing key could not be read: fail closed, and let the caller retry.
    #[error("credentials cannot be checked right now")]
    Unavailable(#[source] PortError),
}

impl AuthError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuthError::Unavailable(_))
    }
}

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct TokenService {
    store: Arc<dyn ItemStore>,
    secrets: Arc<dyn SecretStore>,
    key_secret: String,
    clock: Arc<dyn Clock>,
}

fn key(token_id: &str) -> ItemKey {
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
                    service: crate::ports::Service::SecretsManager,
                    what: "partner token key".into(),
                })
            })?;
        let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
            .map_err(|_| AuthError::Invalid)?;
        mac.update(token.as_bytes());
        Ok(mac)
    }

    /// Creates a token for `hotels`. The plain token is returned once and never stored.
    pub async fn create(
        &self,
        hotels: Vec<HotelId>,
        scopes: Vec<Scope>,
        label: &str,
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
        };
        let item = Item::new(
            key(&token_id),
            serde_json::to_value(&record).unwrap_or_default(),
        );
        match self
            .store
            .put(item, Condition::IfAbsent)
            .await
            .map_err(AuthError::Unavailable)?
        {
            PutOutcome::Applied => Ok((SecretString::from(plain), record)),
            PutOutcome::Rejected { .. } => Err(AuthError::Invalid),
        }
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
        let item = self
            .store
            .get(&key(token_id))
            .await
            .map_err(AuthError::Unavailable)?
            .ok_or(AuthError::Invalid)?;
        let record: PartnerToken = item.decode().map_err(AuthError::Unavailable)?;
        let expected = hex::decode(&record.hash).map_err(|_| AuthError::Invalid)?;
        let actual = self.mac(presented).await?.finalize().into_bytes();
        if !bool::from(actual.as_slice().ct_eq(expected.as_slice())) {
            return Err(AuthError::Invalid);
        }
        if record.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        Ok(Principal {
            token_id: record.token_id,
            hotels: record.hotels,
            scopes: record.scopes,
        })
    }

    pub async fn revoke(&self, token_id: &str) -> Result<bool, AuthError> {
        let Some(item) = self
            .store
            .get(&key(token_id))
            .await
            .map_err(AuthError::Unavailable)?
        else {
            return Ok(false);
        };
        let mut record: PartnerToken = item.decode().map_err(AuthError::Unavailable)?;
        record.revoked_at = Some(self.clock.now());
        let item = Item::new(
            key(token_id),
            serde_json::to_value(&record).unwrap_or_default(),
        );
        self.store
            .put(item, Condition::Always)
            .await
            .map_err(AuthError::Unavailable)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemorySecrets, MemoryStore};
    use crate::ports::ManualClock;

    async fn service() -> TokenService {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let secrets = Arc::new(MemorySecrets::new());
        secrets
            .put("k", &SecretString::from("key-material".to_string()))
            .await
            .unwrap();
        TokenService::new(
            Arc::new(MemoryStore::new(clock.clone())),
            secrets,
            "k",
            clock,
        )
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
}
