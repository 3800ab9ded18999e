//! Values of the write operations and of the adapter's self-description.

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BusinessDate, Money, Provider, ValidationError};

/// A charge to post to a reservation's folio.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    pub amount: Money,
    pub description: String,
    /// Where the revenue belongs (OHIP transaction code, Mews accounting category, Cloudbeds
    /// item category). Vendors default it from the hotel configuration when absent.
    pub revenue_center: Option<String>,
    /// Our reference for this charge. It is the idempotency handle at the vendor: Cloudbeds
    /// `referenceID`, and what we look for on the folio before re-posting elsewhere. A partner's
    /// reference (at most [`Charge::PARTNER_REFERENCE_MAX`]) is scoped by the partner before it
    /// is sent (see `writes::WriteOperation::scope_charge_reference`).
    pub reference: String,
}

impl Charge {
    /// The longest reference a partner may give.
    pub const PARTNER_REFERENCE_MAX: usize = 64;
    /// The longest reference sent to a vendor: a partner's, with its scope.
    pub const REFERENCE_MAX: usize = 80;
    /// The longest description (what the guest reads on the folio).
    pub const DESCRIPTION_MAX: usize = 200;

    /// Checks a charge as a partner sent it: the reference may be absent (one is derived), and
    /// is at most [`Charge::PARTNER_REFERENCE_MAX`] long.
    pub fn validate_input(&self) -> Result<(), ValidationError> {
        if self.reference.trim().is_empty() {
            return self.validate_fields();
        }
        if self.reference.chars().count() > Self::PARTNER_REFERENCE_MAX {
            return Err(ValidationError::new(
                "reference",
                format!("must be 1 to {} characters", Self::PARTNER_REFERENCE_MAX),
            ));
        }
        self.validate()
    }

    /// Checks a charge as it is sent to a vendor.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.validate_fields()?;
        if self.reference.trim().is_empty() || self.reference.chars().count() > Self::REFERENCE_MAX
        {
            return Err(ValidationError::new(
                "reference",
                format!("must be 1 to {} characters", Self::REFERENCE_MAX),
            ));
        }
        if !self
            .reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(ValidationError::new(
                "reference",
                "may contain only letters, digits and - _ . :",
            ));
        }
        Ok(())
    }

    fn validate_fields(&self) -> Result<(), ValidationError> {
        if self.amount.amount_minor <= 0 {
            return Err(ValidationError::new("amount", "must be greater than zero")
                .with_code("NEGATIVE_AMOUNT"));
        }
        if self.description.trim().is_empty() {
            return Err(ValidationError::new("description", "must not be empty"));
        }
        if self.description.chars().count() > Self::DESCRIPTION_MAX {
            return Err(ValidationError::new(
                "description",
                format!("must be at most {} characters", Self::DESCRIPTION_MAX),
            ));
        }
        if let Some(rc) = &self.revenue_center {
            if rc.trim().is_empty() || rc.chars().count() > 64 {
                return Err(ValidationError::new(
                    "revenueCenter",
                    "must be 1 to 64 characters when given",
                ));
            }
        }
        Ok(())
    }
}

/// What the vendor said when it accepted a charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeReceipt {
    /// The vendor's id of the posting (OHIP transaction no., Mews order id, Cloudbeds transaction).
    pub vendor_id: Option<String>,
    pub reference: String,
    pub request_id: Option<String>,
    /// The vendor already had a charge with this reference and created nothing (Cloudbeds'
    /// `referenceID` notice). Ours only if an earlier attempt of ours may have posted it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub existed: bool,
}

/// What the vendor said when it accepted another write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteReceipt {
    pub vendor_id: Option<String>,
    pub request_id: Option<String>,
}

/// A note on a reservation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub text: String,
    pub title: Option<String>,
    /// Internal notes are for staff only (OHIP `internal`); vendors without the notion ignore it.
    #[serde(default)]
    pub internal: bool,
}

impl Note {
    /// The longest note text (characters).
    pub const TEXT_MAX: usize = 2000;
    /// The longest note title (characters).
    pub const TITLE_MAX: usize = 200;

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.text.trim().is_empty() {
            return Err(ValidationError::new("text", "must not be empty"));
        }
        if self.text.chars().count() > Self::TEXT_MAX {
            return Err(ValidationError::new(
                "text",
                format!("must be at most {} characters", Self::TEXT_MAX),
            ));
        }
        if let Some(title) = &self.title {
            if title.chars().count() > Self::TITLE_MAX {
                return Err(ValidationError::new(
                    "title",
                    format!("must be at most {} characters", Self::TITLE_MAX),
                ));
            }
        }
        Ok(())
    }
}

/// A new departure: the date, and the time when the vendor can record one (late checkout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutChange {
    pub date: BusinessDate,
    pub time: Option<NaiveTime>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    pub provider: Provider,
    pub healthy: bool,
    pub latency_ms: u64,
    pub message: Option<String>,
    pub checked_at: DateTime<Utc>,
}

/// How a vendor reports what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaSupport {
    /// A "modified since" filter on reservations (Mews `UpdatedUtc`, Cloudbeds `modifiedFrom`).
    ModifiedSince,
    /// A feed of change events to follow (OHIP business events).
    EventFeed,
    /// No delta: re-read a bounded window.
    Reread,
}

/// What a vendor can do. Operations it cannot do answer `PmsError::Unsupported`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub provider: Provider,
    pub search_by_name: bool,
    pub search_by_email: bool,
    pub search_by_phone: bool,
    pub update_preferences: bool,
    pub add_note: bool,
    pub checkout_date: bool,
    /// Whether a late-checkout *time* can be set (Cloudbeds cannot).
    pub checkout_time: bool,
    pub post_charge: bool,
    /// The vendor itself refuses a duplicate charge with the same reference (Cloudbeds).
    pub native_charge_idempotency: bool,
    /// We can find a posted charge by our reference on the folio (to resolve unknown outcomes).
    pub find_charge_by_reference: bool,
    pub balance: bool,
    pub room_status: bool,
    /// Rooms free per night and room type ([`crate::pms::PmsAdapter::availability`]).
    #[serde(default)]
    pub availability: bool,
    pub delta: DeltaSupport,
}
