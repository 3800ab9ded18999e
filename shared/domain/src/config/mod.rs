//! Hotel configuration: which PMS, where, in which time zone, and how to sync and cache it.
//! Field names are the stored configuration's camelCase names (`lookAheadDays`, `guestTTL`,
//! `maxAttempts`...): stored hotel configurations use them, so they must not change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::{Currency, HotelId, PropertyTz, Provider, ValidationError};
use crate::pms::RetrySettings;

/// One feed's sync settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FeedSettings {
    pub enabled: bool,
    /// Five-field cron (`*/5 * * * *`) in the hotel's time zone; the deployed schedule is the
    /// EventBridge rule, and a feed
    /// whose schedule is slower than the tick is skipped on ticks that do not match it.
    pub schedule: String,
    pub look_ahead_days: u32,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            schedule: "*/5 * * * *".into(),
            look_ahead_days: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestProfileMode {
    /// Fetch profiles when asked (the default: no vendor reads for profiles nobody asks for).
    OnDemand,
    /// Refresh the profiles of synced reservations' guests during syncs.
    WithReservations,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GuestProfileSettings {
    pub mode: GuestProfileMode,
}

impl Default for GuestProfileSettings {
    fn default() -> Self {
        Self {
            mode: GuestProfileMode::OnDemand,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncSettings {
    pub arrivals: FeedSettings,
    pub departures: FeedSettings,
    pub in_house: FeedSettings,
    pub room_status: FeedSettings,
    /// The reservations delta since the watermark.
    pub reservations: FeedSettings,
    /// Rooms free per night and room type, from the PMS: today through `lookAheadDays`
    /// (default 30) in one vendor request per run.
    pub availability: FeedSettings,
    pub guest_profiles: GuestProfileSettings,
    /// How far the delta window reaches back before the watermark, in seconds.
    pub overlap_seconds: u32,
    /// Sync run records expire after this many days.
    pub run_retention_days: u32,
    /// How far back the first reservations delta reaches (no watermark yet), in days: every
    /// booking created or changed in that time is read, so the store starts with what is live
    /// (stays in progress, recent and upcoming bookings) rather than with "the last 24 hours".
    pub initial_lookback_days: u32,
    /// How far ahead the first reservations run loads arrivals, in days, where the vendor has
    /// no modified-since filter (OHIP): see `sync::feeds::steps`.
    pub initial_look_ahead_days: u32,
}

/// Nights ahead of today the availability feed reads by default: a month of what can still be
/// sold, one vendor request (Mews allows 367 days, Cloudbeds has no stated limit).
pub const DEFAULT_AVAILABILITY_DAYS: u32 = 30;

impl SyncSettings {
    /// One feed's settings.
    pub fn feed(&self, feed: crate::domain::Feed) -> &FeedSettings {
        use crate::domain::Feed;
        match feed {
            Feed::Arrivals => &self.arrivals,
            Feed::Departures => &self.departures,
            Feed::InHouse => &self.in_house,
            Feed::RoomStatus => &self.room_status,
            Feed::Reservations => &self.reservations,
            Feed::Availability => &self.availability,
        }
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            arrivals: FeedSettings::default(),
            departures: FeedSettings::default(),
            in_house: FeedSettings::default(),
            room_status: FeedSettings::default(),
            reservations: FeedSettings::default(),
            availability: FeedSettings {
                look_ahead_days: DEFAULT_AVAILABILITY_DAYS,
                ..FeedSettings::default()
            },
            guest_profiles: GuestProfileSettings::default(),
            overlap_seconds: 120,
            run_retention_days: 30,
            initial_lookback_days: 30,
            initial_look_ahead_days: 90,
        }
    }
}

/// Read-through cache TTLs in seconds (the hotel configuration's `cache` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheSettings {
    #[serde(rename = "guestTTL")]
    pub guest_ttl: u32,
    #[serde(rename = "reservationTTL")]
    pub reservation_ttl: u32,
    #[serde(rename = "roomStatusTTL")]
    pub room_status_ttl: u32,
    /// A value older than `ttl × staleFactor` is not served even when the PMS is down.
    #[serde(rename = "staleFactor")]
    pub stale_factor: u32,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            guest_ttl: 3600,
            reservation_ttl: 300,
            room_status_ttl: 60,
            stale_factor: 2,
        }
    }
}

/// Client-side rate limit for the vendor API, shared by every Lambda instance of the hotel.
/// How long the canonical records of a hotel are kept (the table's TTL sweeps them): guests'
/// personal data must not outlive its purpose. Departed stays are kept a while for the questions
/// that follow a stay (folio disputes, chargebacks, lost property, a returning guest's
/// preferences) and then go; the PMS stays the system of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetentionSettings {
    /// Days after a stay's departure date its booking is kept; guest records live as long as a
    /// stored booking references them, room records this long after their last change.
    pub departed_days: u32,
}

impl RetentionSettings {
    /// The longest retention a hotel may set (ten years: beyond any tax or dispute horizon).
    pub const MAX_DAYS: u32 = 3650;

    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.departed_days))
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { departed_days: 90 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSettings {
    pub requests: u32,
    pub per_seconds: u32,
}

/// Vendor-specific, non-secret settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VendorSettings {
    /// OHIP gateway, Mews platform address, Cloudbeds API root; the simulator's URL locally.
    pub base_url: Option<Url>,
    /// The hotel's id at the vendor: OHIP hotel code (`x-hotelid`), Cloudbeds `propertyID`,
    /// Mews enterprise id.
    pub property_id: Option<String>,
    /// Mews service (stay) that reservations and orders belong to.
    pub service_id: Option<String>,
    /// Default revenue center / transaction code / accounting category for charges.
    pub default_revenue_center: Option<String>,
    /// OHIP external system code for business events.
    pub external_system_code: Option<String>,
    /// Mews tax rate code applied to posted charges (`UnitAmount.TaxCodes`, e.g. `US-DC-G`);
    /// Mews requires tax codes from the enterprise's tax environment.
    pub tax_code: Option<String>,
}

/// A PMS base URL must be `https`: every call carries the hotel's vendor credentials. Plain
/// `http` is allowed only to a loopback host (the simulators, a local stack).
pub fn check_base_url(url: &Url) -> Result<(), ValidationError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(ValidationError::new(
            "baseUrl",
            "must be an https URL (plain http is allowed only to a loopback host)",
        )
        .with_code("INSECURE_URL")),
        _ => Err(ValidationError::new("baseUrl", "must be an https URL")),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HotelConfig {
    pub hotel_id: HotelId,
    pub name: String,
    pub provider: Provider,
    pub time_zone: PropertyTz,
    pub currency: Currency,
    pub enabled: bool,
    #[serde(default)]
    pub vendor: VendorSettings,
    #[serde(default)]
    pub sync: SyncSettings,
    #[serde(default)]
    pub cache: CacheSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub retry: RetrySettings,
    #[serde(default)]
    pub rate_limit: Option<RateLimitSettings>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl HotelConfig {
    pub fn new(
        hotel_id: HotelId,
        name: impl Into<String>,
        provider: Provider,
        time_zone: PropertyTz,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            hotel_id,
            name: name.into(),
            provider,
            time_zone,
            currency,
            enabled: true,
            vendor: VendorSettings::default(),
            sync: SyncSettings::default(),
            cache: CacheSettings::default(),
            retention: RetentionSettings::default(),
            retry: RetrySettings::default(),
            // The vendor's published limit is set by whoever creates the hotel (its registration
            // knows it).
            rate_limit: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        if !self.provider.is_pms() {
            return Err(ValidationError::new(
                "provider",
                format!("{} is a record source, not a PMS", self.provider),
            ));
        }
        if let Some(url) = &self.vendor.base_url {
            check_base_url(url)?;
        }
        if self.cache.stale_factor < 1 {
            return Err(ValidationError::new("staleFactor", "must be at least 1"));
        }
        if !(1..=RetentionSettings::MAX_DAYS).contains(&self.retention.departed_days) {
            return Err(ValidationError::new(
                "retention.departedDays",
                format!("must be 1 to {} days", RetentionSettings::MAX_DAYS),
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(ValidationError::new("maxAttempts", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_and_defaults() {
        let json = serde_json::to_value(SyncSettings::default()).unwrap();
        assert_eq!(json["arrivals"]["lookAheadDays"], 1);
        assert_eq!(json["arrivals"]["schedule"], "*/5 * * * *");
        let cache = serde_json::to_value(CacheSettings::default()).unwrap();
        assert_eq!(cache["guestTTL"], 3600);
        assert_eq!(cache["reservationTTL"], 300);
        assert_eq!(cache["roomStatusTTL"], 60);
        let retry = serde_json::to_value(RetrySettings::default()).unwrap();
        assert_eq!(retry["maxAttempts"], 3);
        assert_eq!(retry["initialDelay"], 1000);
        assert_eq!(retry["maxDelay"], 30000);
    }

    #[test]
    fn a_pms_base_url_must_be_https_except_loopback() {
        let config = |url: &str| {
            let mut c = HotelConfig::new(
                HotelId::parse("h1").unwrap(),
                "H",
                Provider::named("cloudbeds"),
                PropertyTz::parse("Europe/Prague").unwrap(),
                Currency::eur(),
                Utc::now(),
            );
            c.vendor.property_id = Some("1".into());
            c.vendor.base_url = Some(Url::parse(url).unwrap());
            c.validate()
        };
        for ok in [
            "https://api.cloudbeds.com/api/v1.3",
            "http://127.0.0.1:7070/cloudbeds",
            "http://127.8.9.10:1",
            "http://localhost:7070",
            "http://[::1]:7070",
        ] {
            assert!(config(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.cloudbeds.com/api/v1.3",
            "http://10.0.0.5:8080",
            "http://localhost.evil.example",
            "ftp://api.cloudbeds.com",
            "file:///etc/passwd",
        ] {
            let err = config(bad).unwrap_err();
            assert_eq!(err.field, "baseUrl", "{bad}");
        }
        assert_eq!(
            config("http://api.cloudbeds.com").unwrap_err().code,
            "INSECURE_URL"
        );
    }

    #[test]
    fn partial_config_fills_defaults() {
        let s: SyncSettings =
            serde_json::from_value(serde_json::json!({"arrivals": {"lookAheadDays": 3}})).unwrap();
        assert_eq!(s.arrivals.look_ahead_days, 3);
        assert!(s.arrivals.enabled);
        assert!(s.room_status.enabled);
    }
}
