//! GraphQL types of event subscriptions: one-to-one mappings of the core's; no rules live here.

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use pms_app::subscriptions::{previous_secret_until, Created, Rotated, Subscription};

/// A URL of yours that hears about one hotel's events of the types it chose: each delivery is
/// a signed POST (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
#[derive(SimpleObject)]
pub struct EventSubscription {
    /// Global id, `<hotel>/<subscription id>`; the subscription arguments take it or the
    /// subscription id alone.
    pub id: ID,
    pub hotel_id: ID,
    /// The subscription id alone, `sub_` and 16 hex digits.
    pub subscription_id: String,
    pub url: String,
    /// Event type names, e.g. `pms.booking.checked_in`.
    pub events: Vec<String>,
    /// Whether deliveries are made. Events while it is disabled are not delivered later.
    pub enabled: bool,
    /// Why it is disabled: who disabled it and why, `gone (410)` when your receiver answered
    /// 410, or failing deliveries.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When its signing secret was last rotated.
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs deliveries (each delivery
    /// carries both signatures until then); null when never rotated.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

impl From<Subscription> for EventSubscription {
    fn from(s: Subscription) -> Self {
        Self {
            id: ID(s.reference()),
            hotel_id: ID(s.hotel_id.to_string()),
            subscription_id: s.id.to_string(),
            events: s.events.iter().map(|e| e.as_str().to_owned()).collect(),
            previous_secret_valid_until: previous_secret_until(&s),
            url: s.url,
            enabled: s.enabled,
            disabled_reason: s.disabled_reason,
            created_at: s.created_at,
            updated_at: s.updated_at,
            secret_rotated_at: s.secret_rotated_at,
        }
    }
}

/// A subscription with its signing secret: answered only when the subscription is made and when
/// its secret is rotated, never again.
#[derive(SimpleObject)]
pub struct SubscriptionSecret {
    pub subscription: EventSubscription,
    /// The signing secret, `whsec_` and base64: keep it (it is not shown again) and verify
    /// every delivery with it (the Standard Webhooks libraries take it as it is).
    pub secret: String,
}

impl From<Created> for SubscriptionSecret {
    fn from(c: Created) -> Self {
        Self {
            secret: c.secret.expose().to_owned(),
            subscription: c.subscription.into(),
        }
    }
}

impl From<Rotated> for SubscriptionSecret {
    fn from(r: Rotated) -> Self {
        Self {
            secret: r.secret.expose().to_owned(),
            subscription: r.subscription.into(),
        }
    }
}
