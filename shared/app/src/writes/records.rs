//! The write path's records in the table, all in the hotel's partition:
//!
//! | sort key | what |
//! |---|---|
//! | `OP#<id>` | the operation (`operation(id)`), kept 30 days after its last change |
//! | `KEY#<key>` | idempotency key -> operation id and payload hash (submission side) |
//! | `IDEMP#<key>` | the writer's idempotency state: in progress (a lease) or completed (result) |
//! | `INTENT#<key>` | written before a PMS call: a later attempt knows a call may have happened |
//! | `AUDIT#<ms>#<id>#<n>` | append-only audit of PMS write attempts |
//! | `DLQ#<id>` | dead-letter record; also listed across hotels through the lookup index `S#DLQ` |
//! | `COPY#<id>` | which copy of the operation's message is the live one (see `live_copy`) |

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::model::{
    IdempotencyKey, OperationId, OperationRecord, OperationStatus, RecordedError, WriteMessage,
};
use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Clock, Condition, Index, IndexKeys, Item, ItemKey, ItemStore, KeyCondition, Partition,
    PortError, PortResult, PutOutcome, Query, Service, SystemPartition,
};

/// How long completed idempotency records and key registrations are kept: a duplicate within
/// this window returns the first answer.
pub const IDEMPOTENCY_RETENTION_DAYS: i64 = 30;
/// Audit entries are kept for a year.
pub const AUDIT_RETENTION_DAYS: i64 = 365;

fn op_key(hotel: &HotelId, id: &OperationId) -> ItemKey {
    ItemKey::hotel(hotel, format!("OP#{id}"))
}

fn copy_key(hotel: &HotelId, id: &OperationId) -> ItemKey {
    ItemKey::hotel(hotel, format!("COPY#{id}"))
}

/// Submission-side registration of an idempotency key, and whether the operation's message was
/// sent: a repeated request sends it only when the first send provably did not happen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRegistration {
    pub operation_id: OperationId,
    pub payload_hash: String,
    /// Who is sending the operation's message (a random token); compared on every update, so
    /// two submissions never both send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_claim: Option<String>,
    /// Since when the claim holder has been sending; `None` once it gave up (its send failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<DateTime<Utc>>,
    /// When the message went to the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
}

impl KeyRegistration {
    /// A new registration whose submission is about to send the message.
    pub fn claimed(operation_id: OperationId, payload_hash: String, now: DateTime<Utc>) -> Self {
        Self {
            operation_id,
            payload_hash,
            send_claim: Some(uuid::Uuid::new_v4().to_string()),
            claimed_at: Some(now),
            sent_at: None,
        }
    }
}

/// The writer's idempotency state for a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "status",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum IdempotencyState {
    /// Held by one writer until `lease_until` (the item expires then, so a crashed holder's
    /// lease lapses by itself).
    InProgress {
        lease_token: String,
        lease_until: DateTime<Utc>,
        payload_hash: String,
    },
    Completed {
        payload_hash: String,
        result: serde_json::Value,
        completed_at: DateTime<Utc>,
    },
}

/// What acquiring the idempotency record found.
#[derive(Clone, Debug, PartialEq)]
pub enum Acquired {
    /// We hold the lease.
    Lease { token: String },
    /// Already done: the stored result.
    Completed {
        payload_hash: String,
        result: serde_json::Value,
    },
    /// Another writer holds a live lease.
    Busy { until: DateTime<Utc> },
}

/// A PMS call that may have happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub operation_id: OperationId,
    pub attempted_at: DateTime<Utc>,
    pub attempt: u32,
    /// When the attempt ended without an answer from the PMS (a timeout, a gateway's 502/504):
    /// the PMS may still be working on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_since: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    Succeeded,
    /// Found already applied at the PMS (after an unknown outcome); not sent again.
    AlreadyApplied,
    Failed,
    /// Ops redrove a dead letter whose protecting records were gone (restored first).
    RedriveForced,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub hotel_id: HotelId,
    pub operation_id: OperationId,
    pub operation: String,
    pub idempotency_key: IdempotencyKey,
    pub actor: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub result: AuditResult,
    pub vendor_request_id: Option<String>,
    pub error: Option<RecordedError>,
    /// What ops said (a forced redrive's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The correlation id of the partner's request that queued the write, so a partner's
    /// complaint leads to the PMS call (absent on entries written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlqStatus {
    Pending,
    Retrying,
    Resolved,
    Abandoned,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqItem {
    pub id: OperationId,
    pub hotel_id: HotelId,
    pub operation: String,
    pub message: WriteMessage,
    pub error: RecordedError,
    pub attempts: u32,
    pub first_attempt_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    pub status: DlqStatus,
    /// Whether SQS also holds the message in the dead-letter queue (retryable failures that
    /// used up `maxReceiveCount`); non-retryable ones only have this record.
    pub in_queue_dlq: bool,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    /// When it first became a dead letter (what "how long has it waited" counts from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// The intent when it was dead-lettered: a PMS call of it may have happened. A redrive
    /// whose intent record is gone (expired) must not post blind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
}

impl DlqItem {
    /// Open: waiting for ops (pending) or back with the writer (retrying).
    pub fn is_open(&self) -> bool {
        matches!(self.status, DlqStatus::Pending | DlqStatus::Retrying)
    }

    /// Since when it has waited.
    pub fn waiting_since(&self) -> DateTime<Utc> {
        self.dead_lettered_at.unwrap_or(self.last_attempt_at)
    }
}

/// The write path's records.
#[derive(Clone)]
pub struct WriteRecords {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl WriteRecords {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ---- operations ----

    /// Operations are kept as long as their key: 30 days after their last change, and for as
    /// long as they are dead letters.
    fn operation_item(&self, op: &OperationRecord) -> PortResult<Item> {
        let item = Item::encode(op_key(&op.hotel_id, &op.id), op)?;
        if op.status == OperationStatus::DeadLettered {
            return Ok(item);
        }
        Ok(item.expiring_at((self.now() + Duration::days(IDEMPOTENCY_RETENTION_DAYS)).timestamp()))
    }

    pub async fn create_operation(&self, op: &OperationRecord) -> PortResult<bool> {
        let item = self.operation_item(op)?;
        Ok(self.store.put(item, Condition::IfAbsent).await?.applied())
    }

    pub async fn operation(
        &self,
        hotel: &HotelId,
        id: &OperationId,
    ) -> PortResult<Option<OperationRecord>> {
        match self.store.get(&op_key(hotel, id)).await? {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    /// The token of the operation's live message copy, once a delivery replaced its message by
    /// a copy (a wait, or a delivery not started): a message with another token is a stray
    /// (a duplicate delivery's copy, or the original delivered again after its copy was made).
    /// Its own item, so recording it never races the operation's updates.
    pub async fn live_copy(&self, hotel: &HotelId, id: &OperationId) -> PortResult<Option<String>> {
        Ok(self.store.get(&copy_key(hotel, id)).await?.and_then(|i| {
            i.data
                .get("copy")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        }))
    }

    /// Records the live copy (the last one recorded wins: one copy is live), or forgets it
    /// (`None`: any message of the operation is accepted again, as after a redrive).
    pub async fn set_live_copy(
        &self,
        hotel: &HotelId,
        id: &OperationId,
        copy: Option<&str>,
    ) -> PortResult<()> {
        match copy {
            Some(copy) => {
                let item = Item::new(copy_key(hotel, id), serde_json::json!({ "copy": copy }))
                    .expiring_at(
                        (self.now() + Duration::days(IDEMPOTENCY_RETENTION_DAYS)).timestamp(),
                    );
                self.store.put(item, Condition::Always).await?;
            }
            None => self.store.delete(&copy_key(hotel, id)).await?,
        }
        Ok(())
    }

    /// Read-modify-write of an operation. Only the writer holding the key's lease updates an
    /// operation, so the last write wins safely.
    pub async fn update_operation(
        &self,
        hotel: &HotelId,
        id: &OperationId,
        change: impl FnOnce(&mut OperationRecord),
    ) -> PortResult<Option<OperationRecord>> {
        let Some(mut op) = self.operation(hotel, id).await? else {
            return Ok(None);
        };
        change(&mut op);
        op.updated_at = self.now();
        let item = self.operation_item(&op)?;
        self.store.put(item, Condition::Always).await?;
        Ok(Some(op))
    }

    // ---- submission-side key registry ----

    /// Registers a key for an operation; returns the existing registration when the key is taken.
    pub async fn register_key(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        registration: &KeyRegistration,
    ) -> PortResult<Option<KeyRegistration>> {
        let item = self.key_item(hotel, key, registration)?;
        match self.store.put(item, Condition::IfAbsentOrExpired).await? {
            PutOutcome::Applied => Ok(None),
            PutOutcome::Rejected { existing: Some(e) } => Ok(Some(e.decode()?)),
            // Refused without the item that refused it (a store that does not return it): the
            // key is someone's, never this submission's; read whose.
            PutOutcome::Rejected { existing: None } => {
                match self.key_registration(hotel, key).await? {
                    Some(r) => Ok(Some(r)),
                    None => Err(PortError::Unavailable {
                        service: Service::Store,
                        message: "an idempotency key was refused but cannot be read".into(),
                    }),
                }
            }
        }
    }

    fn key_item(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        r: &KeyRegistration,
    ) -> PortResult<Item> {
        let expires = (self.now() + Duration::days(IDEMPOTENCY_RETENTION_DAYS)).timestamp();
        Ok(Item::encode(ItemKey::hotel(hotel, format!("KEY#{key}")), r)?.expiring_at(expires))
    }

    pub async fn key_registration(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
    ) -> PortResult<Option<KeyRegistration>> {
        match self
            .store
            .get(&ItemKey::hotel(hotel, format!("KEY#{key}")))
            .await?
        {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    /// Replaces a registration if it still is `current` (same send claim): how a submission
    /// takes over, completes or gives up the send.
    pub async fn update_key(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        current: &KeyRegistration,
        next: &KeyRegistration,
    ) -> PortResult<bool> {
        let condition = match &current.send_claim {
            Some(claim) => Condition::IfDataEquals {
                field: "sendClaim".into(),
                value: serde_json::json!(claim),
            },
            // Registered before sends were claimed: the operation id is all there is to match.
            None => Condition::IfDataEquals {
                field: "operationId".into(),
                value: serde_json::json!(current.operation_id),
            },
        };
        Ok(self
            .store
            .put(self.key_item(hotel, key, next)?, condition)
            .await?
            .applied())
    }

    // ---- writer idempotency state machine ----

    fn idem_key(hotel: &HotelId, key: &IdempotencyKey) -> ItemKey {
        ItemKey::hotel(hotel, format!("IDEMP#{key}"))
    }

    /// Takes the lease on `key`, or reports what holds it.
    pub async fn acquire(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        payload_hash: &str,
        lease: Duration,
    ) -> PortResult<Acquired> {
        let now = self.now();
        let token = uuid::Uuid::new_v4().to_string();
        let state = IdempotencyState::InProgress {
            lease_token: token.clone(),
            lease_until: now + lease,
            payload_hash: payload_hash.to_owned(),
        };
        let item = Item::encode(Self::idem_key(hotel, key), &state)?
            .expiring_at((now + lease).timestamp());
        match self.store.put(item, Condition::IfAbsentOrExpired).await? {
            PutOutcome::Applied => Ok(Acquired::Lease { token }),
            PutOutcome::Rejected { existing } => {
                let current = match existing {
                    Some(e) => *e,
                    // Not returned by the store: read it.
                    None => match self.store.get(&Self::idem_key(hotel, key)).await? {
                        Some(e) => e,
                        None => return Ok(Acquired::Busy { until: now }),
                    },
                };
                match current.decode::<IdempotencyState>()? {
                    IdempotencyState::Completed {
                        payload_hash,
                        result,
                        ..
                    } => Ok(Acquired::Completed {
                        payload_hash,
                        result,
                    }),
                    IdempotencyState::InProgress { lease_until, .. } => {
                        Ok(Acquired::Busy { until: lease_until })
                    }
                }
            }
        }
    }

    /// Completes the key with its result, if we still hold the lease.
    pub async fn complete(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        token: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> PortResult<bool> {
        let now = self.now();
        let state = IdempotencyState::Completed {
            payload_hash: payload_hash.to_owned(),
            result: result.clone(),
            completed_at: now,
        };
        let item = Item::encode(Self::idem_key(hotel, key), &state)?
            .expiring_at((now + Duration::days(IDEMPOTENCY_RETENTION_DAYS)).timestamp());
        let held = Condition::IfDataEquals {
            field: "leaseToken".into(),
            value: serde_json::json!(token),
        };
        Ok(self.store.put(item, held).await?.applied())
    }

    /// Gives the lease up (after a failure), so the next delivery can take it at once.
    pub async fn release(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        token: &str,
        payload_hash: &str,
    ) -> PortResult<()> {
        let now = self.now();
        // An already-lapsed lease: the item is expired (invisible) and may be taken by anyone.
        let state = IdempotencyState::InProgress {
            lease_token: token.to_owned(),
            lease_until: now,
            payload_hash: payload_hash.to_owned(),
        };
        let item =
            Item::encode(Self::idem_key(hotel, key), &state)?.expiring_at(now.timestamp() - 1);
        let held = Condition::IfDataEquals {
            field: "leaseToken".into(),
            value: serde_json::json!(token),
        };
        self.store.put(item, held).await?;
        Ok(())
    }

    // ---- intents ----

    fn intent_key(hotel: &HotelId, key: &IdempotencyKey) -> ItemKey {
        ItemKey::hotel(hotel, format!("INTENT#{key}"))
    }

    pub async fn intent(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
    ) -> PortResult<Option<Intent>> {
        match self.store.get(&Self::intent_key(hotel, key)).await? {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    /// Written before the PMS call; kept as long as the idempotency record.
    pub async fn record_intent(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        intent: &Intent,
    ) -> PortResult<()> {
        let expires = (self.now() + Duration::days(IDEMPOTENCY_RETENTION_DAYS)).timestamp();
        let item = Item::encode(Self::intent_key(hotel, key), intent)?.expiring_at(expires);
        self.store.put(item, Condition::Always).await?;
        Ok(())
    }

    /// Records that the intent's attempt ended with its outcome unknown.
    pub async fn mark_intent_unknown(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
    ) -> PortResult<()> {
        if let Some(mut intent) = self.intent(hotel, key).await? {
            intent.unknown_since = Some(self.now());
            self.record_intent(hotel, key, &intent).await?;
        }
        Ok(())
    }

    /// After a definitive refusal (nothing was applied) the intent is void.
    pub async fn clear_intent(&self, hotel: &HotelId, key: &IdempotencyKey) -> PortResult<()> {
        self.store.delete(&Self::intent_key(hotel, key)).await
    }

    // ---- what protects a dead letter ----

    fn protecting_keys(hotel: &HotelId, key: &IdempotencyKey) -> [ItemKey; 2] {
        [
            ItemKey::hotel(hotel, format!("KEY#{key}")),
            Self::intent_key(hotel, key),
        ]
    }

    /// Keeps a dead letter's key registration and intent for as long as it is open: they no
    /// longer expire (a dead letter must never outlive what stops its redrive from posting a
    /// charge twice).
    pub async fn pin_protection(&self, hotel: &HotelId, key: &IdempotencyKey) -> PortResult<()> {
        self.set_protection_expiry(hotel, key, None).await
    }

    /// Gives a closed dead letter's records their usual retention again, from now.
    pub async fn unpin_protection(&self, hotel: &HotelId, key: &IdempotencyKey) -> PortResult<()> {
        let expires = (self.now() + Duration::days(IDEMPOTENCY_RETENTION_DAYS)).timestamp();
        self.set_protection_expiry(hotel, key, Some(expires)).await
    }

    async fn set_protection_expiry(
        &self,
        hotel: &HotelId,
        key: &IdempotencyKey,
        expires_at: Option<i64>,
    ) -> PortResult<()> {
        for k in Self::protecting_keys(hotel, key) {
            if let Some(mut item) = self.store.get(&k).await? {
                if item.expires_at != expires_at {
                    item.expires_at = expires_at;
                    self.store.put(item, Condition::Always).await?;
                }
            }
        }
        Ok(())
    }

    // ---- audit ----

    pub async fn audit(&self, entry: &AuditEntry) -> PortResult<()> {
        let sort = format!(
            "AUDIT#{:013}#{}#{}",
            entry.at.timestamp_millis().max(0),
            entry.operation_id,
            entry.attempt
        );
        let expires = (entry.at + Duration::days(AUDIT_RETENTION_DAYS)).timestamp();
        let mut item =
            Item::encode(ItemKey::hotel(&entry.hotel_id, sort), entry)?.expiring_at(expires);
        // Append-only: an entry is never replaced; a clash (same ms, op, attempt) gets a suffix.
        for n in 0..5 {
            if self
                .store
                .put(item.clone(), Condition::IfAbsent)
                .await?
                .applied()
            {
                return Ok(());
            }
            item.key.sort = format!("{}#{n}", item.key.sort);
        }
        Ok(())
    }

    /// Audit entries of a hotel, newest first.
    pub async fn audit_log(&self, hotel: &HotelId, limit: u32) -> PortResult<Vec<AuditEntry>> {
        let q = Query::primary(
            Partition::Hotel(hotel.clone()),
            KeyCondition::BeginsWith("AUDIT#".into()),
        )
        .limit(limit);
        let q = Query {
            descending: true,
            ..q
        };
        self.store
            .query(&q)
            .await?
            .items
            .iter()
            .map(|i| i.decode())
            .collect()
    }

    // ---- dead letters ----

    fn dlq_key(hotel: &HotelId, id: &OperationId) -> ItemKey {
        ItemKey::hotel(hotel, format!("DLQ#{id}"))
    }

    fn dlq_item(d: &DlqItem) -> PortResult<Item> {
        Ok(
            Item::encode(Self::dlq_key(&d.hotel_id, &d.id), d)?.with_index(IndexKeys {
                lookup: Some((
                    Partition::System(SystemPartition::DeadLetters),
                    format!(
                        "{}#{}#{}",
                        d.first_attempt_at.to_rfc3339(),
                        d.hotel_id,
                        d.id
                    ),
                )),
                ..IndexKeys::default()
            }),
        )
    }

    pub async fn put_dlq(&self, d: &DlqItem) -> PortResult<()> {
        self.store
            .put(Self::dlq_item(d)?, Condition::Always)
            .await?;
        Ok(())
    }

    /// Records a dead letter unless one is recorded already.
    pub async fn create_dlq(&self, d: &DlqItem) -> PortResult<bool> {
        Ok(self
            .store
            .put(Self::dlq_item(d)?, Condition::IfAbsent)
            .await?
            .applied())
    }

    pub async fn dlq(&self, hotel: &HotelId, id: &OperationId) -> PortResult<Option<DlqItem>> {
        match self.store.get(&Self::dlq_key(hotel, id)).await? {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    /// DLQ items of one hotel, or of every hotel (through the `S#DLQ` lookup partition).
    pub async fn list_dlq(&self, hotel: Option<&HotelId>) -> PortResult<Vec<DlqItem>> {
        let items = match hotel {
            Some(h) => {
                let q = Query::primary(
                    Partition::Hotel(h.clone()),
                    KeyCondition::BeginsWith("DLQ#".into()),
                )
                .limit(500);
                self.store.query_all(&q).await?
            }
            None => {
                let q = Query::on(
                    Partition::System(SystemPartition::DeadLetters),
                    Index::Lookup,
                    KeyCondition::All,
                )
                .limit(500);
                let keys: Vec<ItemKey> = self
                    .store
                    .query_all(&q)
                    .await?
                    .into_iter()
                    .map(|i| i.key)
                    .collect();
                self.store.batch_get(&keys).await?
            }
        };
        let mut out: Vec<DlqItem> = items
            .iter()
            .map(|i| i.decode())
            .collect::<PortResult<_>>()?;
        out.sort_by_key(|d| d.first_attempt_at);
        Ok(out)
    }

    /// Finds a DLQ item by operation id across hotels.
    pub async fn find_dlq(&self, id: &OperationId) -> PortResult<Option<DlqItem>> {
        Ok(self.list_dlq(None).await?.into_iter().find(|d| &d.id == id))
    }
}
