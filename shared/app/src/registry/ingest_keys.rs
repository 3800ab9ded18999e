//! A hotel's ingestion credentials, one Secrets Manager secret per hotel
//! (`<prefix>/hotels/<hotel>/webhook`, JSON):
//!
//! ```json
//! {"webhookSecret": "<url secret for vendor webhooks>",
//!  "partnerKeys": {"<partner system>": "pk_<key>"}}
//! ```
//!
//! The webhook secret is the path segment vendors put in our URL (Mews and Cloudbeds do not
//! sign). A partner key says which partner system pushes data (`X-Provider-Key`) and namespaces
//! its records. Both are compared in constant time, as SHA-256 digests so that not even the
//! length of a stored value leaks. No secret, or no entry, means no access.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use pms_domain::domain::{HotelId, ValidationError};
use pms_domain::ports::{PortError, PortResult, Reread, SecretStore, Service};

/// A partner system that pushes data for a hotel ("acme-booking"): letters, digits, `-`, `_`,
/// at most 32.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartnerSystem(String);

impl PartnerSystem {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let v = value.trim();
        if v.is_empty() || v.len() > 32 {
            return Err(ValidationError::new(
                "partner",
                "must be 1 to 32 characters",
            ));
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ValidationError::new(
                "partner",
                "may contain only letters, digits, - and _",
            ));
        }
        Ok(Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PartnerSystem {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PartnerSystem> for String {
    fn from(value: PartnerSystem) -> String {
        value.0
    }
}

impl fmt::Display for PartnerSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PartnerSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartnerSystem({})", self.0)
    }
}

/// The decoded secret. `Debug` shows which entries exist, never their values.
#[derive(Clone, Default)]
pub struct IngestCredentials {
    webhook_secret: Option<SecretString>,
    partner_keys: BTreeMap<PartnerSystem, SecretString>,
}

impl fmt::Debug for IngestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestCredentials")
            .field("webhook_secret", &self.webhook_secret.is_some())
            .field(
                "partner_keys",
                &self.partner_keys.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(
        rename = "webhookSecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    webhook_secret: Option<String>,
    #[serde(rename = "partnerKeys", default)]
    partner_keys: BTreeMap<String, String>,
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

fn matches(stored: &SecretString, presented: &str) -> bool {
    bool::from(
        digest(stored.expose_secret())
            .as_slice()
            .ct_eq(digest(presented).as_slice()),
    )
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(buf.as_mut_slice());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

impl IngestCredentials {
    /// Parses the stored JSON. The error never echoes the input.
    pub fn parse(secret: &SecretString) -> Result<Self, ValidationError> {
        let stored: Stored = serde_json::from_str(secret.expose_secret()).map_err(|e| {
            ValidationError::new(
                "ingestSecret",
                format!(
                    "not valid ingestion credentials JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let mut partner_keys = BTreeMap::new();
        for (k, v) in stored.partner_keys {
            partner_keys.insert(PartnerSystem::parse(&k)?, SecretString::from(v));
        }
        Ok(Self {
            webhook_secret: stored
                .webhook_secret
                .filter(|s| !s.is_empty())
                .map(SecretString::from),
            partner_keys,
        })
    }

    /// The secret's text. Credentials that do not encode (a bug) are a [`PortError::Encode`],
    /// never an empty secret written over the hotel's keys.
    pub fn to_secret(&self) -> PortResult<SecretString> {
        let stored = Stored {
            webhook_secret: self
                .webhook_secret
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            partner_keys: self
                .partner_keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.expose_secret().to_owned()))
                .collect(),
        };
        let text = serde_json::to_string(&stored).map_err(|e| PortError::Encode {
            what: "ingestion credentials".into(),
            message: e.to_string(),
        })?;
        Ok(SecretString::from(text))
    }

    pub fn has_webhook_secret(&self) -> bool {
        self.webhook_secret.is_some()
    }

    /// Whether a presented webhook URL secret is this hotel's. False when none is configured.
    pub fn webhook_secret_matches(&self, presented: &str) -> bool {
        match &self.webhook_secret {
            Some(s) => matches(s, presented),
            // Still hash the input, so "not configured" costs the same as "wrong".
            None => {
                let _ = digest(presented);
                false
            }
        }
    }

    /// The partner system a presented key belongs to. Every configured key is compared, so the
    /// time taken does not depend on which (if any) matched.
    pub fn partner_for_key(&self, presented: &str) -> Option<PartnerSystem> {
        let mut found = None;
        for (system, key) in &self.partner_keys {
            if matches(key, presented) && found.is_none() {
                found = Some(system.clone());
            }
        }
        found
    }

    pub fn partners(&self) -> impl Iterator<Item = &PartnerSystem> {
        self.partner_keys.keys()
    }

    /// Replaces the webhook secret with a fresh one (URL-safe, 256 bits) and returns it.
    pub fn rotate_webhook_secret(&mut self) -> SecretString {
        let s = SecretString::from(random_token(32));
        self.webhook_secret = Some(s.clone());
        s
    }

    /// Replaces (or creates) a partner's key and returns it.
    pub fn rotate_partner_key(&mut self, partner: &PartnerSystem) -> SecretString {
        let k = SecretString::from(format!("pk_{}", random_token(32)));
        self.partner_keys.insert(partner.clone(), k.clone());
        k
    }
}

/// Reads and writes hotels' ingestion credentials.
#[derive(Clone)]
pub struct IngestKeys {
    secrets: Arc<dyn SecretStore>,
    prefix: String,
}

impl IngestKeys {
    pub fn new(secrets: Arc<dyn SecretStore>, secrets_prefix: impl Into<String>) -> Self {
        Self {
            secrets,
            prefix: secrets_prefix.into(),
        }
    }

    pub fn secret_name(&self, hotel: &HotelId) -> String {
        format!("{}/hotels/{hotel}/webhook", self.prefix)
    }

    /// The hotel's credentials; `None` when it has none. A secret that does not decode is an
    /// error (callers fail closed and say it is a configuration problem).
    pub async fn get(&self, hotel: &HotelId) -> PortResult<Option<IngestCredentials>> {
        let Some(secret) = self.secrets.get(&self.secret_name(hotel)).await? else {
            return Ok(None);
        };
        self.decode(hotel, &secret).map(Some)
    }

    /// What `check` finds in the hotel's credentials: a value it accepts, else `None`. A
    /// presented value that matches nothing in the cached copy may be new (a key or secret
    /// just made with `pmsctl`), so the secret is read again past the cache, at most once per
    /// [`pms_domain::ports::REREAD_INTERVAL`] per hotel: a new value works on the next request, and only an old
    /// one lingers, for the cache's lifetime.
    pub async fn find<T>(
        &self,
        hotel: &HotelId,
        check: impl Fn(&IngestCredentials) -> Option<T>,
    ) -> PortResult<Option<T>> {
        if let Some(found) = self.get(hotel).await?.as_ref().and_then(&check) {
            return Ok(Some(found));
        }
        let secret = match self.secrets.reread(&self.secret_name(hotel)).await? {
            Reread::Read(Some(secret)) => secret,
            Reread::Read(None) | Reread::TooSoon => return Ok(None),
        };
        Ok(check(&self.decode(hotel, &secret)?))
    }

    fn decode(&self, hotel: &HotelId, secret: &SecretString) -> PortResult<IngestCredentials> {
        IngestCredentials::parse(secret).map_err(|e| PortError::Corrupt {
            service: Service::SecretsManager,
            message: format!("ingestion credentials of {hotel}: {}", e.message),
        })
    }

    pub async fn put(&self, hotel: &HotelId, credentials: &IngestCredentials) -> PortResult<()> {
        self.secrets
            .put(&self.secret_name(hotel), &credentials.to_secret()?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemorySecrets;

    #[test]
    fn secrets_match_only_exactly_and_never_print() {
        let mut c = IngestCredentials::default();
        assert!(!c.webhook_secret_matches(""));
        let s = c.rotate_webhook_secret();
        assert_eq!(s.expose_secret().len(), 43);
        assert!(s
            .expose_secret()
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
        assert!(c.webhook_secret_matches(s.expose_secret()));
        assert!(!c.webhook_secret_matches(&s.expose_secret()[1..]));
        let acme = PartnerSystem::parse("acme").unwrap();
        let other = PartnerSystem::parse("other").unwrap();
        let k1 = c.rotate_partner_key(&acme);
        let k2 = c.rotate_partner_key(&other);
        assert_eq!(c.partner_for_key(k1.expose_secret()), Some(acme.clone()));
        assert_eq!(c.partner_for_key(k2.expose_secret()), Some(other));
        assert_eq!(c.partner_for_key("pk_nope"), None);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(k1.expose_secret()) && !dbg.contains(s.expose_secret()));
        // Rotation invalidates the old key.
        let k3 = c.rotate_partner_key(&acme);
        assert_eq!(c.partner_for_key(k1.expose_secret()), None);
        assert_eq!(c.partner_for_key(k3.expose_secret()), Some(acme));
    }

    #[tokio::test]
    async fn stored_round_trip_and_corrupt_secrets_fail_closed() {
        let secrets = Arc::new(MemorySecrets::new());
        let keys = IngestKeys::new(secrets.clone(), "pms/t");
        let h = HotelId::parse("h1").unwrap();
        assert!(keys.get(&h).await.unwrap().is_none());
        let mut c = IngestCredentials::default();
        let s = c.rotate_webhook_secret();
        keys.put(&h, &c).await.unwrap();
        let back = keys.get(&h).await.unwrap().unwrap();
        assert!(back.webhook_secret_matches(s.expose_secret()));
        assert_eq!(keys.secret_name(&h), "pms/t/hotels/h1/webhook");
        secrets
            .put(
                "pms/t/hotels/h1/webhook",
                &SecretString::from("{\"webhookSecret\":\"TOPSECRET\"".to_string()),
            )
            .await
            .unwrap();
        let err = keys.get(&h).await.unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"));
    }

    #[tokio::test]
    async fn a_new_key_is_found_through_a_warm_cache_and_an_old_one_lingers() {
        use pms_domain::ports::{CachedSecrets, ManualClock, REREAD_INTERVAL};
        let inner = Arc::new(MemorySecrets::new());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let cached = Arc::new(CachedSecrets::new(
            inner.clone(),
            clock.clone(),
            chrono::Duration::minutes(5),
        ));
        let h = HotelId::parse("h1").unwrap();
        // pmsctl writes straight to the store; the function reads through its own cache.
        let admin = IngestKeys::new(inner.clone(), "pms/t");
        let keys = IngestKeys::new(cached.clone(), "pms/t");
        let acme = PartnerSystem::parse("acme").unwrap();
        let mut c = IngestCredentials::default();
        let old = c.rotate_partner_key(&acme);
        admin.put(&h, &c).await.unwrap();
        let by_key = |k: &SecretString| {
            let k = k.expose_secret().to_owned();
            move |c: &IngestCredentials| c.partner_for_key(&k)
        };
        assert_eq!(
            keys.find(&h, by_key(&old)).await.unwrap(),
            Some(acme.clone())
        );
        let new = c.rotate_partner_key(&acme);
        admin.put(&h, &c).await.unwrap();
        // The next request with the new key works, though the cache is warm.
        assert_eq!(
            keys.find(&h, by_key(&new)).await.unwrap(),
            Some(acme.clone())
        );
        // A wrong key right after costs no read of the secret.
        let reads = inner.reads();
        assert_eq!(
            keys.find(&h, |c| c.partner_for_key("pk_wrong"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(inner.reads(), reads);
        clock.advance(REREAD_INTERVAL);
        assert_eq!(
            keys.find(&h, |c| c.partner_for_key("pk_wrong"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(inner.reads(), reads + 1, "one re-read per interval");
        // The old key is no longer in the (re-read) copy: it does not linger past a re-read.
        assert_eq!(keys.find(&h, by_key(&old)).await.unwrap(), None);
    }

    #[test]
    fn partner_systems_are_slugs() {
        assert!(PartnerSystem::parse("acme-booking_1").is_ok());
        assert!(PartnerSystem::parse("a:b").is_err());
        assert!(PartnerSystem::parse("").is_err());
        assert!(PartnerSystem::parse(&"x".repeat(33)).is_err());
    }
}
