//! Mews Connector API wire types, as `vendor-specs/mews/operations/*.md` define them. Only the
//! fields the mapping reads are declared; everything else is ignored (never
//! `deny_unknown_fields`: Mews adds properties without notice). Fields the spec calls required
//! are still `Option` or defaulted where a missing value should fail one record, not the page.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Mews datetimes: `YYYY-MM-DDThh:mm:ssZ` (guidelines/serialization.md).
pub const DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

pub fn format_utc(at: DateTime<Utc>) -> String {
    at.format(DATETIME_FORMAT).to_string()
}

/// A Mews time interval filter (`_objects.md#time-interval`): start inclusive, end exclusive
/// when they differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeInterval {
    pub start_utc: String,
    pub end_utc: String,
}

impl TimeInterval {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            start_utc: format_utc(start),
            end_utc: format_utc(end),
        }
    }
}

/// The error body of every failed call (guidelines/responses.md).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    pub message: Option<String>,
    pub request_id: Option<String>,
}

/// A page of a `getAll` operation: the items under the operation's own key, and `Cursor`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Page {
    #[serde(rename = "Cursor", default)]
    pub cursor: Option<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl Page {
    /// The items under `key` (absent or `null`: none); `None` when they are not an array.
    pub fn items(&self, key: &str) -> Option<Vec<serde_json::Value>> {
        match self.rest.get(key) {
            Some(serde_json::Value::Array(a)) => Some(a.clone()),
            Some(serde_json::Value::Null) | None => Some(Vec::new()),
            Some(_) => None,
        }
    }
}

/// `Reservation (ver 2023-06-06)`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Reservation {
    pub id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    /// `Customer` or `Company`.
    #[serde(default)]
    pub account_type: Option<String>,
    pub number: String,
    pub state: String,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub updated_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rate_id: Option<String>,
    #[serde(default)]
    pub requested_resource_category_id: Option<String>,
    #[serde(default)]
    pub assigned_resource_id: Option<String>,
    #[serde(default)]
    pub scheduled_start_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub scheduled_end_utc: Option<DateTime<Utc>>,
    /// Deprecated by Mews in favour of `ScheduledStartUtc`; read only as a fallback.
    #[serde(default)]
    pub start_utc: Option<DateTime<Utc>>,
    /// Deprecated by Mews in favour of `ScheduledEndUtc`; read only as a fallback.
    #[serde(default)]
    pub end_utc: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub person_counts: Vec<PersonCount>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersonCount {
    pub age_category_id: String,
    pub count: u32,
}

/// `Customer`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub language_code: Option<String>,
    #[serde(default)]
    pub preferred_language_code: Option<String>,
    #[serde(default)]
    pub loyalty_code: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub dietary_requirements: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub classifications: Vec<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub options: Vec<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub preferred_space_features: Vec<String>,
    #[serde(default)]
    pub updated_utc: Option<DateTime<Utc>>,
}

/// `Resource`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub updated_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data: Option<ResourceData>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceData {
    /// `Space`, `Object` or `Person`.
    pub discriminator: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl Resource {
    /// `FloorNumber` of a `Space` resource.
    pub fn floor(&self) -> Option<String> {
        let data = self.data.as_ref()?;
        if data.discriminator != "Space" {
            return None;
        }
        let floor = data.value.as_ref()?.get("FloorNumber")?;
        match floor {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// `Service order note`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceOrderNote {
    pub id: String,
    pub order_id: String,
    #[serde(default)]
    pub text: Option<String>,
    /// `General`, `ChannelManager` or `SpecialRequest`.
    #[serde(rename = "Type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub created_utc: Option<DateTime<Utc>>,
}

/// `Amount` (`_objects.md#amount`). Values arrive as JSON numbers in major units.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Amount {
    pub currency: String,
    #[serde(default)]
    pub gross_value: Option<f64>,
}

/// `Order item`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderItem {
    pub service_order_id: String,
    #[serde(default)]
    pub external_identifier: Option<String>,
    #[serde(default)]
    pub amount: Option<Amount>,
    #[serde(default)]
    pub accounting_state: Option<String>,
}

/// `Payment`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Payment {
    #[serde(default)]
    pub amount: Option<Amount>,
    #[serde(default)]
    pub accounting_state: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

/// `Product service order` (what `orders/add` creates).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductServiceOrder {
    pub id: String,
    #[serde(default)]
    pub linked_reservation_id: Option<String>,
}

/// `Rate`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rate {
    pub id: String,
    #[serde(default)]
    pub short_name: Option<String>,
    #[serde(default)]
    pub external_identifier: Option<String>,
    #[serde(default)]
    pub names: Option<BTreeMap<String, String>>,
    /// Deprecated by Mews in favour of `Names`.
    #[serde(default)]
    pub name: Option<String>,
}

/// `Resource category`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceCategory {
    pub id: String,
    #[serde(default)]
    pub short_names: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub names: Option<BTreeMap<String, String>>,
}

/// `Age category`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgeCategory {
    pub id: String,
    /// `Adult` or `Child`.
    #[serde(default)]
    pub classification: Option<String>,
}

/// `configuration/get` response.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Configuration {
    pub enterprise: Enterprise,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Enterprise {
    pub id: String,
    #[serde(default)]
    pub time_zone_identifier: Option<String>,
    /// `Gross` or `Net`.
    #[serde(default)]
    pub pricing: Option<String>,
}

/// `orders/add` response.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderAdded {
    pub order_id: String,
}

/// `serviceOrderNotes/add` response.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotesAdded {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub service_order_notes: Vec<ServiceOrderNote>,
}

/// A list Mews may send as `null`: read as empty.
fn nullable_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Picks one text of a Mews localized-text dictionary: English first, then any (the map is
/// ordered, so the choice is stable).
pub fn pick_localized(texts: &BTreeMap<String, String>) -> Option<&str> {
    ["en-US", "en-GB"]
        .iter()
        .find_map(|k| texts.get(*k))
        .or_else(|| {
            texts
                .iter()
                .find(|(k, _)| k.starts_with("en"))
                .map(|(_, v)| v)
        })
        .or_else(|| texts.values().next())
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// `services/getAvailability/2024-01-22` response: one value per time unit (`TimeUnitStartsUtc`)
/// for each metric asked for, per resource category.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceAvailability {
    pub time_unit_starts_utc: Vec<DateTime<Utc>>,
    pub resource_category_availabilities: Vec<CategoryAvailability>,
}

/// `Resource category availability (ver 2024-01-22)`: metric name -> values per time unit.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CategoryAvailability {
    pub resource_category_id: String,
    pub metrics: BTreeMap<String, Vec<i64>>,
}
