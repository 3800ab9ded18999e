use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RecordId, ValidationError};

/// Where a preference came from. Vendors' own preference objects are `Pms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferenceSource {
    Pms,
    Guest,
    Staff,
    Partner,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preference {
    /// Vendor preference group, e.g. OHIP `preferenceType` ("ROOM FEATURES"), Mews "Options".
    pub category: String,
    /// Code within the category, e.g. "HIGH FLOOR", "NOSMOKING".
    pub key: String,
    /// Free-text value or description.
    pub value: String,
    pub source: PreferenceSource,
}

impl Preference {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = |field: &'static str, v: &str, max: usize| {
            if v.trim().is_empty() {
                Err(ValidationError::new(field, "must not be empty"))
            } else if v.len() > max {
                Err(ValidationError::new(
                    field,
                    format!("must be at most {max} characters"),
                ))
            } else {
                Ok(())
            }
        };
        check("category", &self.category, 64)?;
        check("key", &self.key, 64)?;
        if self.value.len() > 2000 {
            return Err(ValidationError::new(
                "value",
                "must be at most 2000 characters",
            ));
        }
        Ok(())
    }
}

/// A guest profile, holding only what hotel operations need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guest {
    pub id: RecordId,
    /// Other identifiers the vendor knows the guest by (loyalty number, profile id types...).
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// BCP 47 / ISO 639 language code as the vendor gives it ("en", "en-US").
    pub language: Option<String>,
    pub loyalty_tier: Option<String>,
    #[serde(default)]
    pub vip: bool,
    #[serde(default)]
    pub preferences: Vec<Preference>,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Ordering version: later source versions win; see `Reservation::version`.
    #[serde(default)]
    pub version: u64,
}

impl Guest {
    pub fn full_name(&self) -> String {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(n), None) | (None, Some(n)) => n.clone(),
            (None, None) => String::new(),
        }
    }
}

/// A guest search. At least one criterion; name matches first or last name, case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestQuery {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl GuestQuery {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !(present(&self.name) || present(&self.email) || present(&self.phone)) {
            return Err(ValidationError::new(
                "query",
                "give at least one of name, email or phone",
            ));
        }
        if let Some(e) = &self.email {
            if !e.contains('@') {
                return Err(ValidationError::new("email", "is not an email address"));
            }
        }
        Ok(())
    }

    /// Digits only, for comparing phone numbers written differently.
    pub fn normalize_phone(phone: &str) -> String {
        phone.chars().filter(|c| c.is_ascii_digit()).collect()
    }

    /// Whether a guest matches every criterion given (used by the mock PMS and by filters).
    pub fn matches(&self, guest: &Guest) -> bool {
        let name_ok = self.name.as_deref().is_none_or(|n| {
            let n = n.trim().to_lowercase();
            guest.full_name().to_lowercase().contains(&n)
        });
        let email_ok = self.email.as_deref().is_none_or(|e| {
            guest
                .email
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(e.trim()))
        });
        let phone_ok = self.phone.as_deref().is_none_or(|p| {
            let want = Self::normalize_phone(p);
            guest.phone.as_deref().is_some_and(|g| {
                let have = Self::normalize_phone(g);
                !want.is_empty() && (have.ends_with(&want) || want.ends_with(&have))
            })
        });
        name_ok && email_ok && phone_ok
    }
}
