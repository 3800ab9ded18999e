//! A subscription: a partner URL that hears about one hotel's events of the types it chose.

use chrono::{DateTime, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use pms_domain::domain::events::EventType;
use pms_domain::domain::HotelId;

/// `sub_` + 16 lowercase hex digits (64 random bits). Shown to partners as `hotel/sub_…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubscriptionId(String);

impl SubscriptionId {
    pub fn generate() -> Self {
        let bytes: [u8; 8] = rand::rng().random();
        Self(format!("sub_{}", hex::encode(bytes)))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let hex = text
            .strip_prefix("sub_")
            .filter(|h| h.len() == 16 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        match hex {
            Some(_) => Ok(Self(text.to_owned())),
            None => Err(format!(
                "{text:?} is not a subscription id (sub_ and 16 hex digits)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SubscriptionId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<SubscriptionId> for String {
    fn from(id: SubscriptionId) -> String {
        id.0
    }
}

impl std::fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: SubscriptionId,
    pub hotel_id: HotelId,
    /// The checked target URL (`target::Target`).
    pub url: String,
    pub events: Vec<EventType>,
    pub enabled: bool,
    /// Why it was disabled (by whom, or `gone (410)`, or failing for 3 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Who made it: a partner token id, or `staff:<name>`.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the signing secret was last rotated (the one before stays valid 24 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Since when every delivery attempt has failed (cleared by a success): after
    /// `FAILING_LIMIT` of that the subscription is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether it hears about `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.enabled && self.events.contains(&event)
    }

    /// The id partners see and quote: `hotel/sub_…`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.hotel_id, self.id)
    }
}

/// A subscription named as partners see it (`hotel/sub_…`) or by its id alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRef {
    pub hotel: Option<HotelId>,
    pub id: SubscriptionId,
}

impl SubscriptionRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once('/') {
            Some((h, id)) => Ok(Self {
                hotel: Some(HotelId::parse(h).map_err(|e| e.to_string())?),
                id: SubscriptionId::parse(id)?,
            }),
            None => Ok(Self {
                hotel: None,
                id: SubscriptionId::parse(text)?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_references_name_the_hotel() {
        let id = SubscriptionId::generate();
        assert_eq!(SubscriptionId::parse(id.as_str()).unwrap(), id);
        for bad in [
            "",
            "sub_",
            "sub_XYZ",
            "op_0123456789abcdef",
            "sub_0123456789abcdef0",
        ] {
            assert!(SubscriptionId::parse(bad).is_err(), "{bad}");
        }
        let r = SubscriptionRef::parse(&format!("h1/{id}")).unwrap();
        assert_eq!(r.hotel.unwrap().as_str(), "h1");
        assert_eq!(SubscriptionRef::parse(id.as_str()).unwrap().hotel, None);
    }
}
