//! Retention of canonical records: when each stored record may go, under its hotel's
//! [`RetentionSettings`], written as the item's `expires_at` so the table's TTL sweeps it.
//!
//! - a booking goes `departedDays` after its departure date (a fact of the record: rewriting
//!   it never moves the date, so an unchanged booking costs no write);
//! - a guest goes `departedDays` after its last write, and never before a stored booking that
//!   references it: each booking written extends its guest's expiry to the booking's own;
//! - a room state goes `departedDays` after its last change; rooms the PMS keeps reporting are
//!   re-stamped when half of that has passed (one write per room per half window);
//! - an expiry is never shortened by a rewrite, so a booking's extension of its guest survives
//!   the guest's next change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Utc};

use pms_domain::config::RetentionSettings;
use pms_domain::domain::{BusinessDate, HotelId};
use pms_domain::ports::PortResult;

/// Where a hotel's retention setting comes from (its configuration).
#[async_trait]
pub trait RetentionSource: Send + Sync {
    async fn retention(&self, hotel: &HotelId) -> PortResult<RetentionSettings>;
}

/// How long a hotel's setting is reused before it is read again: a change of the setting takes
/// effect within this (README, "Hotel lifecycle").
const REUSE: Duration = Duration::from_secs(60);

/// Hotels' retention settings, read from a [`RetentionSource`] and reused for [`REUSE`]. Without
/// a source every hotel has the default.
#[derive(Clone, Default)]
pub struct Retention {
    source: Option<Arc<dyn RetentionSource>>,
    known: Arc<Mutex<HashMap<HotelId, (RetentionSettings, Instant)>>>,
}

impl Retention {
    pub fn from_source(source: Arc<dyn RetentionSource>) -> Self {
        Self {
            source: Some(source),
            known: Arc::default(),
        }
    }

    pub async fn for_hotel(&self, hotel: &HotelId) -> PortResult<RetentionSettings> {
        let Some(source) = &self.source else {
            return Ok(RetentionSettings::default());
        };
        if let Some((settings, at)) = self.lock().get(hotel) {
            if at.elapsed() < REUSE {
                return Ok(*settings);
            }
        }
        let settings = source.retention(hotel).await?;
        self.lock()
            .insert(hotel.clone(), (settings, Instant::now()));
        Ok(settings)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HotelId, (RetentionSettings, Instant)>> {
        // A poisoned map only ever holds complete entries: keep using it.
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The end of the retention of something dated `date` (a departure, a night): the start of the
/// day after `date + departedDays`, in UTC. A property's day ends at most 14 hours from UTC's,
/// so a whole extra day never cuts a record short.
pub fn after_date(date: BusinessDate, retention: &RetentionSettings) -> i64 {
    let day = date
        .add_days(i64::from(retention.departed_days) + 1)
        .naive();
    day.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// The end of the retention of something last written at `now`.
pub fn after_write(now: DateTime<Utc>, retention: &RetentionSettings) -> i64 {
    (now + retention.window()).timestamp()
}

/// The expiry a rewrite stores: the later of the record's and the stored one (never shortened).
pub fn kept(target: Option<i64>, stored: Option<i64>) -> Option<i64> {
    match (target, stored) {
        (Some(t), Some(s)) => Some(t.max(s)),
        (t, s) => t.or(s),
    }
}

/// Whether an unchanged record's stored expiry is worth a write: it has none yet (stored before
/// retention existed), or more than half the window would be gained.
pub fn needs_restamp(
    target: Option<i64>,
    stored: Option<i64>,
    retention: &RetentionSettings,
) -> bool {
    match (target, stored) {
        (Some(_), None) => true,
        (Some(t), Some(s)) => t - s > retention.window().num_seconds() / 2,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u32) -> RetentionSettings {
        RetentionSettings { departed_days: n }
    }

    #[test]
    fn a_departure_is_kept_whole_days_past_the_window() {
        let d = BusinessDate::parse("2026-12-10").unwrap();
        let at = after_date(d, &days(90));
        // 2026-12-10 + 91 days = 2027-03-11, 00:00 UTC.
        assert_eq!(
            DateTime::from_timestamp(at, 0).unwrap().to_rfc3339(),
            "2027-03-11T00:00:00+00:00"
        );
    }

    #[test]
    fn an_expiry_is_never_shortened() {
        assert_eq!(kept(Some(10), Some(20)), Some(20));
        assert_eq!(kept(Some(30), Some(20)), Some(30));
        assert_eq!(kept(None, Some(20)), Some(20));
        assert_eq!(kept(Some(10), None), Some(10));
    }

    #[test]
    fn restamps_only_items_without_expiry_or_past_half_their_window() {
        let r = days(90);
        let half = r.window().num_seconds() / 2;
        assert!(needs_restamp(Some(100), None, &r));
        assert!(!needs_restamp(Some(100), Some(100), &r));
        assert!(!needs_restamp(Some(100 + half), Some(100), &r));
        assert!(needs_restamp(Some(101 + half), Some(100), &r));
        assert!(!needs_restamp(None, None, &r));
    }
}
