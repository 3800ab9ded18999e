//! The audit log as ops read it: what staff did (hotel and credential changes, redrives and
//! abandons, partner tokens, key rotations), beside the writer's record of every PMS write
//! attempt (`AUDIT#...`, see [`crate::writes::WriteRecords::audit`]).
//!
//! An ops entry lives in the hotel's partition (`OPSAUDIT#<ms>#<id>`), so it is scoped like the
//! hotel's other data and read newest first with one query; an action on several hotels (a
//! token for three) writes one entry in each. Entries say who, when and what changed, and
//! never a secret value: a credential change names the fields it replaced, not their content.
//! Entries are kept a year and survive `hotel remove --purge`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::writes::{AuditEntry, AUDIT_RETENTION_DAYS};
use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Clock, Condition, Item, ItemKey, ItemStore, KeyCondition, Partition, PortResult, Query,
};

/// Sort-key prefix of ops entries.
pub const OPS_PREFIX: &str = "OPSAUDIT#";
/// Sort-key prefix of the writer's entries.
pub const WRITE_PREFIX: &str = "AUDIT#";

/// What staff did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpsAction {
    HotelAdded,
    HotelUpdated,
    HotelDisabled,
    HotelEnabled,
    HotelRemoved,
    HotelPurged,
    CredentialsSet,
    WebhookSecretRotated,
    PartnerKeyRotated,
    TokenCreated,
    TokenRevoked,
    DeadLetterRedriven,
    DeadLetterAbandoned,
    SyncDeadLettersRedriven,
    SyncDeadLettersPurged,
    SubscriptionCreated,
    SubscriptionEnabled,
    SubscriptionDisabled,
    SubscriptionSecretRotated,
    SubscriptionDeleted,
    SubscriptionRedelivered,
}

impl OpsAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OpsAction::HotelAdded => "hotel_added",
            OpsAction::HotelUpdated => "hotel_updated",
            OpsAction::HotelDisabled => "hotel_disabled",
            OpsAction::HotelEnabled => "hotel_enabled",
            OpsAction::HotelRemoved => "hotel_removed",
            OpsAction::HotelPurged => "hotel_purged",
            OpsAction::CredentialsSet => "credentials_set",
            OpsAction::WebhookSecretRotated => "webhook_secret_rotated",
            OpsAction::PartnerKeyRotated => "partner_key_rotated",
            OpsAction::TokenCreated => "token_created",
            OpsAction::TokenRevoked => "token_revoked",
            OpsAction::DeadLetterRedriven => "dead_letter_redriven",
            OpsAction::DeadLetterAbandoned => "dead_letter_abandoned",
            OpsAction::SyncDeadLettersRedriven => "sync_dead_letters_redriven",
            OpsAction::SyncDeadLettersPurged => "sync_dead_letters_purged",
            OpsAction::SubscriptionCreated => "subscription_created",
            OpsAction::SubscriptionEnabled => "subscription_enabled",
            OpsAction::SubscriptionDisabled => "subscription_disabled",
            OpsAction::SubscriptionSecretRotated => "subscription_secret_rotated",
            OpsAction::SubscriptionDeleted => "subscription_deleted",
            OpsAction::SubscriptionRedelivered => "subscription_redelivered",
        }
    }
}

/// One changed configuration field, as dotted path and JSON values (absent: `None`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// One thing staff did to one hotel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpsEntry {
    pub hotel_id: HotelId,
    pub at: DateTime<Utc>,
    /// Who: the operator's name as given (`--staff`, else the login name).
    pub actor: String,
    pub action: OpsAction,
    /// What it acted on beyond the hotel: an operation id, a token id, a partner system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl OpsEntry {
    pub fn new(hotel: &HotelId, actor: &str, action: OpsAction, at: DateTime<Utc>) -> Self {
        Self {
            hotel_id: hotel.clone(),
            at,
            actor: actor.to_owned(),
            action,
            target: None,
            changes: Vec::new(),
            note: None,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.changes = changes;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Which entries a listing wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KindFilter {
    #[default]
    All,
    Write,
    Ops,
}

/// One entry of either kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditRecord {
    Write(Box<AuditEntry>),
    Ops(Box<OpsEntry>),
}

impl AuditRecord {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            AuditRecord::Write(e) => e.at,
            AuditRecord::Ops(e) => e.at,
        }
    }

    pub fn hotel(&self) -> &HotelId {
        match self {
            AuditRecord::Write(e) => &e.hotel_id,
            AuditRecord::Ops(e) => &e.hotel_id,
        }
    }
}

/// A page of a listing, newest first; `next_before` continues it (entries strictly older).
#[derive(Clone, Debug, Default)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub next_before: Option<DateTime<Utc>>,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().max(0)
}

/// Ops entries: written by `pmsctl`, read with the writer's by `pmsctl audit list`.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl AuditLog {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Appends an entry (never replacing one).
    pub async fn record(&self, entry: &OpsEntry) -> PortResult<()> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let sort = format!("{OPS_PREFIX}{:013}#{}", millis(entry.at), &id[..12]);
        let expires = (entry.at + Duration::days(AUDIT_RETENTION_DAYS)).timestamp();
        let item = Item::encode(ItemKey::hotel(&entry.hotel_id, sort), entry)?.expiring_at(expires);
        self.store.put(item, Condition::IfAbsent).await?;
        Ok(())
    }

    /// Entries of these hotels, newest first: at most `limit`, older than `before` and not
    /// older than `since`. A page ends between two instants, never inside one, so paging on
    /// `next_before` loses nothing.
    pub async fn list(
        &self,
        hotels: &[HotelId],
        kind: KindFilter,
        since: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> PortResult<AuditPage> {
        let limit = limit.max(1);
        let mut records = Vec::new();
        let prefixes: &[&str] = match kind {
            KindFilter::All => &[WRITE_PREFIX, OPS_PREFIX],
            KindFilter::Write => &[WRITE_PREFIX],
            KindFilter::Ops => &[OPS_PREFIX],
        };
        let low = since.map_or(0, millis);
        // Exclusive upper bound: the last millisecond before `before`.
        let high = before.map_or(9_999_999_999_999, |b| millis(b) - 1);
        if high < low {
            return Ok(AuditPage::default());
        }
        for hotel in hotels {
            for prefix in prefixes {
                let mut q = Query::primary(
                    Partition::Hotel(hotel.clone()),
                    KeyCondition::Between(
                        format!("{prefix}{low:013}"),
                        // `~` sorts after every character of the rest of the key.
                        format!("{prefix}{high:013}~"),
                    ),
                )
                .limit(u32::try_from(limit + 1).unwrap_or(1000).min(1000));
                q.descending = true;
                // One page of each partition is enough: no more than `limit + 1` of any can
                // be among the newest `limit + 1` overall.
                for item in self.store.query(&q).await?.items {
                    records.push(if *prefix == OPS_PREFIX {
                        AuditRecord::Ops(Box::new(item.decode()?))
                    } else {
                        AuditRecord::Write(Box::new(item.decode()?))
                    });
                }
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.at()));
        if records.len() <= limit {
            return Ok(AuditPage {
                records,
                next_before: None,
            });
        }
        // Cut before the instant the page would split, unless one instant fills the page.
        let mut cut = limit;
        let boundary = millis(records[limit].at());
        while cut > 0 && millis(records[cut - 1].at()) == boundary {
            cut -= 1;
        }
        if cut == 0 {
            cut = limit;
        }
        records.truncate(cut);
        let next_before = records.last().map(AuditRecord::at);
        Ok(AuditPage {
            records,
            next_before,
        })
    }
}

/// The fields that differ between two JSON documents, as dotted paths (objects are compared
/// member by member; anything else as a whole).
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_into("", before, after, &mut out);
    out
}

fn diff_into(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_into(&sub, x, y, out),
                    (x, y) => out.push(FieldChange {
                        field: sub,
                        from: x.cloned(),
                        to: y.cloned(),
                    }),
                }
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            field: path.to_owned(),
            from: Some(a.clone()),
            to: Some(b.clone()),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::ManualClock;
    use serde_json::json;

    #[test]
    fn diff_names_changed_fields_by_path() {
        let a = json!({"name": "A", "vendor": {"baseUrl": "https://a", "propertyId": "1"}, "enabled": true});
        let b = json!({"name": "A", "vendor": {"baseUrl": "https://b"}, "enabled": false});
        let d = diff(&a, &b);
        let fields: Vec<&str> = d.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["enabled", "vendor.baseUrl", "vendor.propertyId"]);
        assert_eq!(d[2].to, None);
    }

    #[tokio::test]
    async fn pages_newest_first_never_splitting_an_instant() {
        let start = Utc::now();
        let clock = Arc::new(ManualClock::new(start));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let log = AuditLog::new(store, clock);
        let h = HotelId::parse("h1").unwrap();
        let other = HotelId::parse("h2").unwrap();
        for (i, at) in [0, 1, 1, 2, 3].iter().enumerate() {
            let e = OpsEntry::new(
                &h,
                "ops",
                OpsAction::HotelUpdated,
                start + Duration::seconds(*at),
            )
            .note(i.to_string());
            log.record(&e).await.unwrap();
        }
        log.record(&OpsEntry::new(&other, "ops", OpsAction::HotelAdded, start))
            .await
            .unwrap();
        let page = log
            .list(std::slice::from_ref(&h), KindFilter::All, None, None, 3)
            .await
            .unwrap();
        let notes: Vec<String> = page
            .records
            .iter()
            .map(|r| match r {
                AuditRecord::Ops(e) => e.note.clone().unwrap(),
                AuditRecord::Write(_) => unreachable!(),
            })
            .collect();
        // 3 and 2, then the two entries of second 1 together on the next page.
        assert_eq!(notes, ["4", "3"]);
        let next = log
            .list(
                std::slice::from_ref(&h),
                KindFilter::Ops,
                None,
                page.next_before,
                3,
            )
            .await
            .unwrap();
        assert_eq!(next.records.len(), 3);
        assert!(next.next_before.is_none());
        assert!(next.records.iter().all(|r| r.hotel() == &h));
        let recent = log
            .list(
                &[h.clone(), other],
                KindFilter::All,
                Some(start + Duration::seconds(2)),
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(recent.records.len(), 2);
        let writes = log
            .list(&[h], KindFilter::Write, None, None, 10)
            .await
            .unwrap();
        assert!(writes.records.is_empty());
    }
}
