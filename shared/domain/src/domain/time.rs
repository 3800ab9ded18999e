//! Business dates live in the property's IANA time zone. A Mews arrival at 15:00 in Honolulu
//! (01:00 UTC the next day) is an arrival on the Honolulu date, so every UTC instant becomes a
//! business date through [`PropertyTz`], and every "day" query becomes a UTC interval through it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ValidationError;

/// A property's IANA time zone ("Pacific/Honolulu"). Fixed offsets and abbreviations are refused:
/// they do not know about daylight saving.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PropertyTz(Tz);

impl PropertyTz {
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        let name = name.trim();
        // chrono-tz also knows legacy aliases such as "EST" or "Etc/GMT+5"; a hotel is in a place.
        if !name.contains('/') || name.starts_with("Etc/") {
            return Err(ValidationError::new(
                "timeZone",
                format!("{name:?} is not an IANA location time zone such as Europe/Prague"),
            ));
        }
        name.parse::<Tz>().map(PropertyTz).map_err(|_| {
            ValidationError::new("timeZone", format!("{name:?} is not an IANA time zone"))
        })
    }

    pub fn utc() -> Self {
        PropertyTz(Tz::UTC)
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    /// The property-local date of an instant.
    pub fn business_date(&self, at: DateTime<Utc>) -> BusinessDate {
        BusinessDate(at.with_timezone(&self.0).date_naive())
    }

    /// The UTC interval `[start, end)` of a local day. Days are 23 or 25 hours on DST changes, and
    /// where midnight does not exist (a spring-forward at 00:00) the day starts at the first valid
    /// local instant.
    pub fn day_bounds(&self, date: BusinessDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.start_of_day(date.0);
        let end = self.start_of_day(date.0 + Duration::days(1));
        (start, end)
    }

    fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.local_to_utc(date.and_time(NaiveTime::MIN))
    }

    /// Interprets a local wall-clock time with no offset (Cloudbeds, OHIP timestamps) in this
    /// zone. Ambiguous times (fall-back hour) take the earlier instant; times skipped by a
    /// spring-forward move forward to the first valid instant after the gap.
    pub fn local_to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.0.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
            LocalResult::None => {
                // Walk forward minute by minute; DST gaps are at most a few hours.
                let mut probe = local;
                for _ in 0..(24 * 60) {
                    probe += Duration::minutes(1);
                    if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) =
                        self.0.from_local_datetime(&probe)
                    {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&local)
            }
        }
    }

    /// The local wall-clock time of an instant.
    pub fn to_local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.0).naive_local()
    }
}

impl fmt::Display for PropertyTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for PropertyTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PropertyTz({})", self.name())
    }
}

impl FromStr for PropertyTz {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PropertyTz {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PropertyTz> for String {
    fn from(value: PropertyTz) -> String {
        value.name().to_owned()
    }
}

/// A calendar date in the property's time zone (`YYYY-MM-DD`). It carries no zone itself: the
/// hotel's [`PropertyTz`] gives it meaning, and only that zone converts it to instants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BusinessDate(NaiveDate);

impl BusinessDate {
    pub fn new(date: NaiveDate) -> Self {
        BusinessDate(date)
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
            .map(BusinessDate)
            .map_err(|_| {
                ValidationError::new("date", format!("{value:?} is not a YYYY-MM-DD date"))
            })
    }

    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(y, m, d).map(BusinessDate)
    }

    pub fn naive(&self) -> NaiveDate {
        self.0
    }

    pub fn add_days(&self, days: i64) -> Self {
        BusinessDate(self.0 + Duration::days(days))
    }

    /// Whole days from `self` to `other` (negative when `other` is earlier).
    pub fn days_until(&self, other: BusinessDate) -> i64 {
        (other.0 - self.0).num_days()
    }

    /// Inclusive range of dates, ascending.
    pub fn range_inclusive(
        from: BusinessDate,
        to: BusinessDate,
    ) -> impl Iterator<Item = BusinessDate> {
        let days = from.days_until(to).max(-1);
        (0..=days).map(move |d| from.add_days(d))
    }
}

impl fmt::Display for BusinessDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl fmt::Debug for BusinessDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BusinessDate({self})")
    }
}

impl FromStr for BusinessDate {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for BusinessDate {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<BusinessDate> for String {
    fn from(value: BusinessDate) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rejects_non_location_zones() {
        assert!(PropertyTz::parse("Europe/Prague").is_ok());
        assert!(PropertyTz::parse("EST").is_err());
        assert!(PropertyTz::parse("Etc/GMT+5").is_err());
        assert!(PropertyTz::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn honolulu_afternoon_arrival_is_the_local_date() {
        let tz = PropertyTz::parse("Pacific/Honolulu").unwrap();
        // 15:00 HST on 1 Dec = 01:00 UTC on 2 Dec.
        let at = utc("2026-12-02T01:00:00Z");
        assert_eq!(tz.business_date(at).to_string(), "2026-12-01");
    }

    #[test]
    fn auckland_morning_is_the_previous_utc_day() {
        let tz = PropertyTz::parse("Pacific/Auckland").unwrap();
        // 09:00 NZDT on 2 Dec = 20:00 UTC on 1 Dec.
        let at = utc("2026-12-01T20:00:00Z");
        assert_eq!(tz.business_date(at).to_string(), "2026-12-02");
        let (start, end) = tz.day_bounds(BusinessDate::parse("2026-12-02").unwrap());
        assert_eq!(start, utc("2026-12-01T11:00:00Z"));
        assert_eq!(end, utc("2026-12-02T11:00:00Z"));
    }

    #[test]
    fn dst_change_days_are_23_and_25_hours() {
        let tz = PropertyTz::parse("America/New_York").unwrap();
        let (s, e) = tz.day_bounds(BusinessDate::parse("2026-03-08").unwrap());
        assert_eq!((e - s).num_hours(), 23);
        let (s, e) = tz.day_bounds(BusinessDate::parse("2026-11-01").unwrap());
        assert_eq!((e - s).num_hours(), 25);
    }

    #[test]
    fn local_times_in_gaps_and_overlaps() {
        let tz = PropertyTz::parse("America/New_York").unwrap();
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(tz.local_to_utc(gap), utc("2026-03-08T07:00:00Z"));
        let overlap = NaiveDate::from_ymd_opt(2026, 11, 1)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        assert_eq!(tz.local_to_utc(overlap), utc("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn date_ranges() {
        let a = BusinessDate::parse("2026-12-30").unwrap();
        let b = BusinessDate::parse("2027-01-02").unwrap();
        let days: Vec<String> = BusinessDate::range_inclusive(a, b)
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            days,
            ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]
        );
        assert_eq!(BusinessDate::range_inclusive(b, a).count(), 0);
        assert!(BusinessDate::parse("2026-02-30").is_err());
    }
}
