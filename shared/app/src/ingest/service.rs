//! Normalising partner bodies into canonical records, and upserting them through [`Merger`]
//! with one result per item (applied or not, and why).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::fields::Ctx;
use super::model::{self, Source};
use super::{FieldError, MAX_BATCH_ITEMS};
use crate::records::{MergeOutcome, Mergeable, Merger, NotApplied, ProvidedAvailability};
use crate::registry::PartnerSystem;
use pms_domain::domain::{Guest, HotelId, Reservation};
use pms_domain::ports::{Clock, ItemKey, PortResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IngestKind {
    Bookings,
    Guests,
    Availability,
}

impl IngestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IngestKind::Bookings => "bookings",
            IngestKind::Guests => "guests",
            IngestKind::Availability => "availability",
        }
    }
}

/// Canonical records of one request, all of one kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Records {
    Bookings(Vec<Reservation>),
    Guests(Vec<Guest>),
    Availability(Vec<ProvidedAvailability>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Bookings(v) => v.len(),
            Records::Guests(v) => v.len(),
            Records::Availability(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Normalized {
    pub records: Records,
    /// Whether the body was a batch (`{"items": [...]}`).
    pub batch: bool,
    /// Paths of fields we do not know (tolerated; worth logging for the partner's sake).
    pub unknown_fields: Vec<String>,
}

/// Reads and validates a partner body. Every problem is reported, not just the first; nothing
/// is returned unless every item is valid (a batch is accepted or refused as a whole).
pub fn normalize(
    kind: IngestKind,
    body: &Value,
    partner: &PartnerSystem,
    now: DateTime<Utc>,
) -> Result<Normalized, Vec<FieldError>> {
    let src = Source { partner, now };
    let mut ctx = Ctx::default();
    let (records, batch) = match kind {
        IngestKind::Bookings => {
            let (v, b) = model::items(body, MAX_BATCH_ITEMS, &mut ctx, |o, c| {
                model::booking(o, c, &src)
            });
            (Records::Bookings(v), b)
        }
        IngestKind::Guests => {
            let (v, b) = model::items(body, MAX_BATCH_ITEMS, &mut ctx, |o, c| {
                model::guest(o, c, &src)
            });
            (Records::Guests(v), b)
        }
        IngestKind::Availability => {
            let (v, b) = model::items(body, MAX_BATCH_ITEMS, &mut ctx, |o, c| {
                model::availability(o, c, &src)
            });
            (Records::Availability(v), b)
        }
    };
    if !ctx.errors.is_empty() || records.is_empty() {
        if ctx.errors.is_empty() {
            ctx.error("body".into(), "REQUIRED", "no item to ingest");
        }
        return Err(ctx.errors);
    }
    Ok(Normalized {
        records,
        batch,
        unknown_fields: ctx.unknown,
    })
}

/// What became of one pushed item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    /// Our id of the record (`partner:<system>:<externalId>`, or `<date>:<roomType>`).
    pub id: String,
    pub applied: bool,
    /// `created`, `updated` or `not_applied`.
    pub outcome: &'static str,
    /// Why it was not applied: `older_version`, `unchanged`, `duplicate_in_batch` or
    /// `past_retention`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_version: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    /// One per pushed item, in request order.
    pub results: Vec<ItemResult>,
    /// Domain events published for the applied changes.
    pub events: usize,
}

#[derive(Clone)]
pub struct IngestService {
    merger: Merger,
    clock: Arc<dyn Clock>,
}

impl IngestService {
    pub fn new(merger: Merger, clock: Arc<dyn Clock>) -> Self {
        Self { merger, clock }
    }

    pub async fn apply(
        &self,
        hotel: &HotelId,
        records: Records,
        correlation_id: &str,
    ) -> PortResult<IngestReport> {
        match records {
            Records::Bookings(v) => self.merge(hotel, v, correlation_id).await,
            Records::Guests(v) => self.merge(hotel, v, correlation_id).await,
            Records::Availability(v) => self.merge(hotel, v, correlation_id).await,
        }
    }

    async fn merge<T: Mergeable>(
        &self,
        hotel: &HotelId,
        records: Vec<T>,
        correlation_id: &str,
    ) -> PortResult<IngestReport> {
        let now = self.clock.now();
        let keys: Vec<ItemKey> = records.iter().map(|r| r.key(hotel)).collect();
        let versions: Vec<u64> = records.iter().map(|r| r.version(now)).collect();
        let ids: Vec<String> = records.iter().map(Mergeable::entity_id).collect();
        // The item the merge keeps for each key: the first with the highest version (the
        // merge's own rule for duplicates in one call).
        let mut kept: HashMap<&ItemKey, usize> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            match kept.get(key) {
                Some(&j) if versions[j] >= versions[i] => {}
                _ => {
                    kept.insert(key, i);
                }
            }
        }
        let report = self
            .merger
            .merge(hotel, records, Some(correlation_id))
            .await?;
        let outcomes: HashMap<&str, &MergeOutcome> = report
            .outcomes
            .iter()
            .map(|(id, o)| (id.as_str(), o))
            .collect();
        let results = (0..keys.len())
            .map(|i| {
                let base = ItemResult {
                    id: ids[i].clone(),
                    applied: false,
                    outcome: "not_applied",
                    reason: None,
                    version: versions[i],
                    stored_version: None,
                };
                if kept.get(&keys[i]) != Some(&i) {
                    return ItemResult {
                        reason: Some("duplicate_in_batch"),
                        ..base
                    };
                }
                match outcomes.get(ids[i].as_str()) {
                    Some(MergeOutcome::Created) => ItemResult {
                        applied: true,
                        outcome: "created",
                        ..base
                    },
                    Some(MergeOutcome::Updated) => ItemResult {
                        applied: true,
                        outcome: "updated",
                        ..base
                    },
                    Some(MergeOutcome::NotApplied {
                        reason,
                        stored_version,
                    }) => ItemResult {
                        reason: Some(match reason {
                            NotApplied::OlderVersion => "older_version",
                            NotApplied::Unchanged => "unchanged",
                            NotApplied::PastRetention => "past_retention",
                        }),
                        stored_version: Some(*stored_version),
                        ..base
                    },
                    None => base,
                }
            })
            .collect();
        Ok(IngestReport {
            results,
            events: report.events.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::events::EventType;
    use pms_domain::memory::{MemoryBus, MemoryStore};
    use pms_domain::ports::ManualClock;
    use serde_json::json;

    fn partner() -> PartnerSystem {
        PartnerSystem::parse("acme").unwrap()
    }

    fn booking(ext: &str, status: &str, version: u64) -> Value {
        json!({
            "externalId": ext, "status": status, "checkIn": "2026-12-01", "checkOut": "2026-12-03",
            "guest": {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"},
            "adults": 2, "total": {"amount": "450.00", "currency": "EUR"}, "version": version
        })
    }

    fn errors(kind: IngestKind, body: Value) -> Vec<(String, &'static str)> {
        normalize(kind, &body, &partner(), Utc::now())
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn bookings_map_to_partner_records() {
        let n = normalize(
            IngestKind::Bookings,
            &booking("BK-1", "confirmed", 3),
            &partner(),
            Utc::now(),
        )
        .unwrap();
        let Records::Bookings(b) = n.records else {
            panic!()
        };
        assert_eq!(b[0].id.to_string(), "partner:acme:BK-1");
        assert_eq!(b[0].confirmation_number.as_str(), "BK-1");
        assert_eq!(b[0].total.unwrap().amount_minor, 45000);
        assert_eq!(b[0].version, 3);
        assert!(!n.batch);
    }

    #[test]
    fn semantic_errors_name_their_fields() {
        let mut b = booking("BK-1", "confirmed", 1);
        b["checkOut"] = json!("2026-12-01");
        assert_eq!(
            errors(IngestKind::Bookings, b),
            [("checkOut".into(), "INVALID_DATES")]
        );
        let mut b = booking("BK-1", "on_hold", 1);
        b["total"] = json!({"amount": "-1.00", "currency": "EUR"});
        assert_eq!(
            errors(IngestKind::Bookings, b),
            [
                ("status".into(), "UNKNOWN_STATUS"),
                ("total.amount".into(), "NEGATIVE_AMOUNT")
            ]
        );
        let mut b = booking("BK-1", "confirmed", 1);
        b["total"] = json!({"amount": "1.00", "currency": "XYZ"});
        assert_eq!(
            errors(IngestKind::Bookings, b),
            [("total.currency".into(), "UNKNOWN_CURRENCY")]
        );
        let body = json!({"items": [booking("a", "confirmed", 1), {"status": "confirmed"}]});
        let e = errors(IngestKind::Bookings, body);
        assert!(
            e.contains(&("items[1].externalId".into(), "REQUIRED")),
            "{e:?}"
        );
        assert!(
            e.contains(&("items[1].checkIn".into(), "REQUIRED")),
            "{e:?}"
        );
        let too_many: Vec<Value> = (0..101)
            .map(|i| booking(&format!("b{i}"), "confirmed", 1))
            .collect();
        assert_eq!(
            errors(IngestKind::Bookings, json!({"items": too_many})),
            [("items".into(), "TOO_MANY_ITEMS")]
        );
        assert_eq!(
            errors(IngestKind::Bookings, json!([1])),
            [("body".into(), "INVALID_TYPE")]
        );
        let mut a = json!({"date": "2026-12-01", "roomType": "KING", "available": 3, "total": 2});
        assert_eq!(
            errors(IngestKind::Availability, a.clone()),
            [("available".into(), "INVALID_FIELD")]
        );
        a["total"] = json!(5);
        a["rate"] = json!({"amount": -5, "currency": "EUR"});
        assert_eq!(
            errors(IngestKind::Availability, a),
            [("rate.amount".into(), "NEGATIVE_AMOUNT")]
        );
    }

    #[test]
    fn partner_versions_beyond_a_day_ahead_are_refused_naming_the_field() {
        let now = Utc::now();
        let day_ahead = (now + chrono::Duration::days(1)).timestamp_millis() as u64;
        let avail = |version: u64| json!({"date": "2026-12-01", "roomType": "KING", "available": 3, "version": version});
        let read = |body: Value| normalize(IngestKind::Availability, &body, &partner(), now);
        // Counters, epoch milliseconds up to a day ahead (clock skew, batching) are versions.
        for ok in [1, 3, now.timestamp_millis() as u64, day_ahead] {
            assert!(read(avail(ok)).is_ok(), "{ok}");
        }
        for too_far in [day_ahead + 1, i64::MAX as u64] {
            let errors: Vec<(String, &str)> = read(avail(too_far))
                .unwrap_err()
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect();
            assert_eq!(errors, [("version".into(), "FUTURE_VERSION")], "{too_far}");
        }
        let body = json!({"items": [booking("a", "confirmed", 1), booking("b", "confirmed", day_ahead * 2)]});
        let errors: Vec<(String, &str)> = normalize(IngestKind::Bookings, &body, &partner(), now)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect();
        assert_eq!(errors, [("items[1].version".into(), "FUTURE_VERSION")]);
    }

    #[test]
    fn unknown_fields_are_tolerated_and_reported() {
        let mut b = booking("BK-1", "confirmed", 1);
        b["loyaltyProgram"] = json!("gold");
        b["guest"]["shoeSize"] = json!(42);
        let n = normalize(IngestKind::Bookings, &b, &partner(), Utc::now()).unwrap();
        assert_eq!(n.unknown_fields, ["guest.shoeSize", "loyaltyProgram"]);
    }

    #[tokio::test]
    async fn upserts_report_per_item_and_emit_events_once() {
        // The stays' own time (their dates are fixed): never past their retention.
        let clock = Arc::new(ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let bus = Arc::new(MemoryBus::new());
        let svc = IngestService::new(
            Merger::new(store, bus.clone(), clock.clone()),
            clock.clone(),
        );
        let h = HotelId::parse("h1").unwrap();
        let run = |body: Value| {
            let svc = svc.clone();
            let h = h.clone();
            async move {
                let n = normalize(IngestKind::Bookings, &body, &partner(), Utc::now()).unwrap();
                svc.apply(&h, n.records, "c").await.unwrap().results
            }
        };
        let r = run(booking("BK-1", "confirmed", 1)).await;
        assert_eq!((r[0].applied, r[0].outcome), (true, "created"));
        let r = run(booking("BK-1", "confirmed", 1)).await;
        assert_eq!(r[0].reason, Some("unchanged"));
        let r = run(booking("BK-1", "checked_in", 3)).await;
        assert_eq!(r[0].outcome, "updated");
        let r = run(booking("BK-1", "confirmed", 2)).await;
        assert_eq!(
            (r[0].reason, r[0].stored_version),
            (Some("older_version"), Some(3))
        );
        let r = run(
            json!({"items": [booking("BK-2", "confirmed", 1), booking("BK-2", "confirmed", 5)]}),
        )
        .await;
        assert_eq!(r[0].reason, Some("duplicate_in_batch"));
        assert_eq!(r[1].outcome, "created");
        let types: Vec<EventType> = bus.events().iter().map(|e| e.event_type).collect();
        assert_eq!(
            types,
            [
                EventType::BookingSynced,
                EventType::BookingSynced,
                EventType::BookingCheckedIn,
                EventType::BookingSynced
            ]
        );
    }
}
