//! Vendor webhooks: the thin change notices each vendor crate's parser reads (Mews general
//! webhooks, Cloudbeds webhooks) into the entities they name, and how a repeat is recognised.
//! The application makes them durable and turns them into refresh jobs.
//!
//! Authentication (the secret in the URL) and HTTP are the webhook function's concern; this
//! module starts from an authenticated body.

use serde::{Deserialize, Serialize};

use pms_domain::domain::Provider;
use pms_domain::pms::EntityRef;

/// Largest webhook body taken (HTTP 413 above). A delivery is stored as one DynamoDB item
/// (at most 400 KB of names and values) holding the body and the events parsed from it, which
/// repeat its names and ids: 128 KiB of body stays well inside with every event counted.
/// Vendor webhooks are thin (Mews' official example is under 1 KB).
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// Most events one delivery may carry. Mews rolls over to a new message after "hundreds" of
/// events (its webhooks FAQ); Cloudbeds sends one per request.
pub const MAX_EVENTS: usize = 1000;
/// Most distinct entities one delivery may name: each is one vendor read when it is refreshed,
/// out of the hotel's shared rate limit.
pub const MAX_ENTITIES: usize = 500;

/// One vendor event and the entities it names (none for event types we do not act on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinEvent {
    pub name: String,
    pub entities: Vec<EntityRef>,
}

/// One authenticated webhook request, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorDelivery {
    pub provider: Provider,
    /// The vendor's id of the property (Mews `EnterpriseId`, Cloudbeds `propertyID`).
    pub property_id: String,
    /// Identity of the delivery for deduplication (hex): the event's own identity where the
    /// vendor gives one, else a hash of the content.
    pub delivery_id: String,
    /// How a repeat of it is recognised (the vendor's parser knows what its ids mean).
    pub dedupe: DedupePolicy,
    pub events: Vec<ThinEvent>,
}

impl VendorDelivery {
    /// Distinct entities to refresh, in first-seen order: a customer named by both
    /// `CustomerAdded` and `CustomerUpdated` is fetched once.
    pub fn entities(&self) -> Vec<EntityRef> {
        let mut out: Vec<EntityRef> = Vec::new();
        for e in self.events.iter().flat_map(|e| &e.entities) {
            if !out.contains(e) {
                out.push(e.clone());
            }
        }
        out
    }

    /// Names of the events acknowledged without action (types we do not refresh, or unknown).
    pub fn ignored(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.entities.is_empty())
            .map(|e| e.name.as_str())
            .collect()
    }

    /// The delivery, if it names at most [`MAX_ENTITIES`] entities.
    pub fn within_limits(self, field: &'static str) -> Result<Self, PayloadError> {
        let entities = self.entities().len();
        if entities > MAX_ENTITIES {
            return Err(PayloadError::Invalid {
                field,
                code: "TOO_MANY_ENTITIES",
                message: format!(
                    "names {entities} entities; at most {MAX_ENTITIES} are taken per delivery"
                ),
            });
        }
        Ok(self)
    }
}

/// How a repeated delivery is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupePolicy {
    /// The delivery id is the event's own identity (Cloudbeds: event, entity and timestamp): a
    /// repeat is always the same event and is dropped.
    ExactEvent,
    /// The delivery id is only a content hash (Mews events carry no id and no time), so an
    /// identical body may be a new change. A repeat is dropped only while the refresh it would
    /// cause is still pending (that refresh will read the newer state anyway); once the refresh
    /// has started, a repeat is refreshed again.
    WhilePending,
}

/// A vendor that pushes change notices, as its crate declares it (`pub fn webhook()`): the
/// webhook function serves `POST /v1/webhooks/{provider}/{hotelId}/{secret}` for each one
/// registered.
#[derive(Clone, Copy, Debug)]
pub struct WebhookVendor {
    pub provider: Provider,
    /// Reads an authenticated body into the entities it names.
    pub parse: fn(&[u8]) -> Result<VendorDelivery, PayloadError>,
    /// Its route's OpenAPI description: `{"pathItem": {..}, "schemas": {..}}`, merged into the
    /// webhook function's document (the vendor documents its own body).
    pub openapi: &'static str,
}

/// One registration per vendor: two are the same vendor's when they name the same provider.
impl PartialEq for WebhookVendor {
    fn eq(&self, other: &Self) -> bool {
        self.provider == other.provider
    }
}

impl Eq for WebhookVendor {}

/// Why a webhook body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON at all (HTTP 400).
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// JSON, but not a delivery we can act on (HTTP 422).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        code: &'static str,
        message: String,
    },
}

impl PayloadError {
    pub fn required(field: &'static str) -> Self {
        PayloadError::Invalid {
            field,
            code: "REQUIRED",
            message: "is required".into(),
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        PayloadError::Invalid {
            field,
            code: "INVALID_FIELD",
            message: message.into(),
        }
    }
}

/// A JSON string or integer as text (vendors send ids both ways).
pub fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}
