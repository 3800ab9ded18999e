//! A hotel's life after `hotel add`: its configuration changed, disabled and enabled, its
//! credentials replaced, removed (keeping its data) or purged (its items and secrets deleted).
//! Every change is audited ([`AuditLog`]): who, when and which fields, never a secret value.
//!
//! Functions read a hotel's configuration from the table on every request and job, and
//! rebuild a hotel's adapter (reading its credentials again) when the configuration's
//! `updatedAt` moved, so a change here takes effect in every function from its next request.
//! Replacing credentials therefore also touches the configuration.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde_json::Value;

use crate::audit::{diff, AuditLog, FieldChange, OpsAction, OpsEntry, OPS_PREFIX, WRITE_PREFIX};
use crate::registry::{HotelRegistry, IngestKeys, RegistryError};
use crate::runtime::Services;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{HotelId, ValidationError};
use pms_domain::ports::{ItemStore, KeyCondition, Partition, PortError, Query, SecretStore};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("hotel {0} is not configured")]
    NotConfigured(HotelId),
    #[error("hotel {0} already exists")]
    AlreadyExists(HotelId),
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(ValidationError),
    /// Someone else changed the hotel between our read and our write: nothing was written.
    #[error("hotel {0} was changed meanwhile by someone else; nothing was written, run the command again")]
    Conflict(HotelId),
    #[error(transparent)]
    Store(#[from] PortError),
}

impl LifecycleError {
    pub fn is_retryable(&self) -> bool {
        match self {
            LifecycleError::Conflict(_) => true,
            LifecycleError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<ValidationError> for LifecycleError {
    fn from(e: ValidationError) -> Self {
        LifecycleError::Invalid(e)
    }
}

impl From<RegistryError> for LifecycleError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::AlreadyExists(h) => LifecycleError::AlreadyExists(h),
            RegistryError::NotConfigured(h) => LifecycleError::NotConfigured(h),
            RegistryError::Store(p) => LifecycleError::Store(p),
        }
    }
}

/// What `remove` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    /// Items of the hotel's partition deleted (purge only; audit entries are kept).
    pub items_deleted: usize,
    /// Secrets deleted (purge only): the credentials and the ingestion secret.
    pub secrets_deleted: usize,
}

/// Fields `update` never changes: what the hotel is, and bookkeeping.
const FIXED_FIELDS: [&str; 3] = ["hotelId", "createdAt", "updatedAt"];

#[derive(Clone)]
pub struct HotelLifecycle {
    hotels: HotelRegistry,
    store: Arc<dyn ItemStore>,
    secrets: Arc<dyn SecretStore>,
    keys: IngestKeys,
    credentials_secret: Arc<dyn Fn(&HotelId) -> String + Send + Sync>,
    audit: AuditLog,
}

impl HotelLifecycle {
    pub fn new(services: &Services) -> Self {
        let secrets: Arc<dyn SecretStore> = services.secrets.clone();
        let adapters = services.adapters.clone();
        Self {
            hotels: services.hotels.clone(),
            store: services.store.clone(),
            keys: IngestKeys::new(secrets.clone(), services.names.secrets_prefix.clone()),
            secrets,
            credentials_secret: Arc::new(move |h| adapters.credentials_secret(h)),
            audit: AuditLog::new(services.store.clone(), services.clock.clone()),
        }
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// A configuration's `updatedAt` for a change now: strictly later than the last one, so
    /// every process sees that it changed.
    fn touched(&self, previous: DateTime<Utc>) -> DateTime<Utc> {
        let now = self.audit.now();
        if now > previous {
            now
        } else {
            previous + Duration::milliseconds(1)
        }
    }

    /// Adds a hotel with its credentials (none for the mock PMS), audited.
    pub async fn add(
        &self,
        config: &HotelConfig,
        credentials: Option<&SecretString>,
        actor: &str,
    ) -> Result<(), LifecycleError> {
        config.validate()?;
        let id = &config.hotel_id;
        if self.hotels.get(id).await?.is_some() {
            return Err(LifecycleError::AlreadyExists(id.clone()));
        }
        if let Some(c) = credentials {
            self.secrets.put(&(self.credentials_secret)(id), c).await?;
        }
        self.hotels.create(config).await?;
        let entry = OpsEntry::new(id, actor, OpsAction::HotelAdded, self.audit.now())
            .note(format!("{} hotel in {}", config.provider, config.time_zone));
        self.audit.record(&entry).await?;
        Ok(())
    }

    /// Applies `edit` to the hotel's configuration, validated as `add` validates, and stores it
    /// unless someone changed it meanwhile. Returns the fields that changed (none: nothing was
    /// written or audited).
    pub async fn update(
        &self,
        hotel: &HotelId,
        actor: &str,
        action: OpsAction,
        note: Option<&str>,
        edit: impl FnOnce(&mut HotelConfig) -> Result<(), ValidationError>,
    ) -> Result<Vec<FieldChange>, LifecycleError> {
        let before = self.hotels.require(hotel).await?;
        let mut after = before.clone();
        edit(&mut after)?;
        after.hotel_id = before.hotel_id.clone();
        after.created_at = before.created_at;
        after.updated_at = before.updated_at;
        after.validate()?;
        let changes = config_changes(&before, &after)?;
        if changes.is_empty() {
            return Ok(changes);
        }
        after.updated_at = self.touched(before.updated_at);
        if !self.hotels.replace(&after, before.updated_at).await? {
            return Err(LifecycleError::Conflict(hotel.clone()));
        }
        let mut entry =
            OpsEntry::new(hotel, actor, action, self.audit.now()).changes(changes.clone());
        if let Some(n) = note {
            entry = entry.note(n);
        }
        self.audit.record(&entry).await?;
        Ok(changes)
    }

    /// Replaces the hotel's vendor credentials (`fields`: the names of what was given, for the
    /// audit) and touches its configuration so every process rebuilds its adapter with them.
    pub async fn set_credentials(
        &self,
        hotel: &HotelId,
        credentials: &SecretString,
        fields: &[String],
        actor: &str,
    ) -> Result<(), LifecycleError> {
        let before = self.hotels.require(hotel).await?;
        self.secrets
            .put(&(self.credentials_secret)(hotel), credentials)
            .await?;
        let mut after = before.clone();
        after.updated_at = self.touched(before.updated_at);
        // A concurrent change also moved `updatedAt`: either way processes rebuild.
        self.hotels.replace(&after, before.updated_at).await?;
        let entry = OpsEntry::new(hotel, actor, OpsAction::CredentialsSet, self.audit.now())
            .note(format!("replaced: {}", fields.join(", ")));
        self.audit.record(&entry).await?;
        Ok(())
    }

    /// Removes the hotel: no function serves it from the next request. Its data stays unless
    /// `purge`, which also deletes every item of its partition (audit entries excepted, which
    /// expire after a year) and its secrets.
    pub async fn remove(
        &self,
        hotel: &HotelId,
        purge: bool,
        actor: &str,
    ) -> Result<Removal, LifecycleError> {
        let config = self.hotels.get(hotel).await?;
        if config.is_none() && !purge {
            return Err(LifecycleError::NotConfigured(hotel.clone()));
        }
        self.hotels.remove(hotel).await?;
        let mut removal = Removal::default();
        if purge {
            let q = Query::primary(Partition::Hotel(hotel.clone()), KeyCondition::All).limit(1000);
            for item in self.store.query_all(&q).await? {
                if item.key.sort.starts_with(WRITE_PREFIX) || item.key.sort.starts_with(OPS_PREFIX)
                {
                    continue;
                }
                self.store.delete(&item.key).await?;
                removal.items_deleted += 1;
            }
            for name in [
                (self.credentials_secret)(hotel),
                self.keys.secret_name(hotel),
            ] {
                if self.secrets.get(&name).await?.is_some() {
                    self.secrets.delete(&name).await?;
                    removal.secrets_deleted += 1;
                }
            }
        }
        let (action, note) = if purge {
            (
                OpsAction::HotelPurged,
                format!(
                    "{} item(s) and {} secret(s) deleted",
                    removal.items_deleted, removal.secrets_deleted
                ),
            )
        } else {
            (
                OpsAction::HotelRemoved,
                "configuration removed; data and secrets kept".to_owned(),
            )
        };
        let mut entry = OpsEntry::new(hotel, actor, action, self.audit.now()).note(note);
        if let Some(c) = config {
            // What was removed, so the audit log alone can tell how to add it back.
            entry = entry.changes(config_changes_from_nothing(&c)?);
        }
        self.audit.record(&entry).await?;
        Ok(removal)
    }
}

fn config_json(config: &HotelConfig) -> Result<Value, PortError> {
    serde_json::to_value(config).map_err(|e| PortError::Encode {
        what: "hotel configuration".into(),
        message: e.to_string(),
    })
}

fn config_changes(
    before: &HotelConfig,
    after: &HotelConfig,
) -> Result<Vec<FieldChange>, PortError> {
    Ok(diff(&config_json(before)?, &config_json(after)?)
        .into_iter()
        .filter(|c| !FIXED_FIELDS.contains(&c.field.as_str()))
        .collect())
}

fn config_changes_from_nothing(config: &HotelConfig) -> Result<Vec<FieldChange>, PortError> {
    Ok(vec![FieldChange {
        field: "config".into(),
        from: Some(config_json(config)?),
        to: None,
    }])
}

/// Sets one field of a configuration by its dotted path in the stored form
/// (`cache.reservationTTL`, `sync.arrivals.enabled`, `vendor.baseUrl`) to a JSON value
/// (a bare word is taken as a string). The result must still be a valid configuration.
pub fn set_path(config: &mut HotelConfig, path: &str, value: &str) -> Result<(), ValidationError> {
    let invalid = |m: String| ValidationError::new("set", m);
    let field = path.trim();
    if field.is_empty() || FIXED_FIELDS.contains(&field) {
        return Err(invalid(format!("{field:?} cannot be set")));
    }
    let parsed: Value =
        serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    let mut doc = serde_json::to_value(&*config).map_err(|e| invalid(e.to_string()))?;
    let mut node = &mut doc;
    let parts: Vec<&str> = field.split('.').collect();
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| invalid("an empty path".into()))?;
    for p in parents {
        let obj = node
            .as_object_mut()
            .ok_or_else(|| invalid(format!("{field}: {p} is not inside an object")))?;
        node = obj
            .entry((*p).to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    let obj = node
        .as_object_mut()
        .ok_or_else(|| invalid(format!("{field} is not inside an object")))?;
    if !obj.contains_key(*last) && parents.is_empty() {
        return Err(invalid(format!(
            "{field} is not a field of the configuration"
        )));
    }
    obj.insert((*last).to_owned(), parsed);
    let updated: HotelConfig =
        serde_json::from_value(doc).map_err(|e| invalid(format!("{field}: {e}")))?;
    // Unknown fields are dropped by the decoder: setting one would silently do nothing.
    let round = serde_json::to_value(&updated).map_err(|e| invalid(e.to_string()))?;
    let mut probe = &round;
    for p in &parts {
        probe = probe
            .get(p)
            .ok_or_else(|| invalid(format!("{field} is not a field of the configuration")))?;
    }
    *config = updated;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::{Currency, PropertyTz, Provider};

    fn config() -> HotelConfig {
        HotelConfig::new(
            HotelId::parse("h1").unwrap(),
            "H1",
            Provider::named("mock"),
            PropertyTz::parse("Europe/Prague").unwrap(),
            Currency::eur(),
            Utc::now(),
        )
    }

    #[test]
    fn set_path_changes_any_field_and_refuses_unknown_or_fixed_ones() {
        let mut c = config();
        set_path(&mut c, "cache.reservationTTL", "600").unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap()["cache"]["reservationTTL"],
            600
        );
        set_path(&mut c, "name", "Grand").unwrap();
        assert_eq!(c.name, "Grand");
        set_path(&mut c, "enabled", "false").unwrap();
        assert!(!c.enabled);
        for (path, value) in [
            ("hotelId", "x"),
            ("createdAt", "\"2020-01-01T00:00:00Z\""),
            ("nonsense", "1"),
            ("cache.nonsense", "1"),
            ("cache.reservationTTL", "\"soon\""),
            ("timeZone", "Mars/Olympus"),
        ] {
            let mut c = config();
            assert!(set_path(&mut c, path, value).is_err(), "{path}={value}");
        }
    }
}
