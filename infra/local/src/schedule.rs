//! EventBridge schedule expressions: `rate(...)`, `cron(...)` and (Scheduler) `at(...)`, with
//! AWS's rules, including the ones linters miss (`rate(5 minute)` is invalid in AWS).
//!
//! cron is AWS's six-field form `minutes hours day-of-month month day-of-week year`, with
//! `*`, `?`, lists, ranges, steps and month/day names. `L`, `W` and `#` are rejected with a
//! clear message rather than approximated.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{LocalError, LocalResult};

#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleKind {
    Rate(Duration),
    Cron(Box<Cron>),
    /// A one-time schedule (EventBridge Scheduler), in local time of the schedule's zone.
    At(NaiveDateTime),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub expression: String,
    pub kind: ScheduleKind,
    pub tz: Tz,
}

fn invalid(expr: &str, reason: impl Into<String>) -> LocalError {
    LocalError::Schedule {
        expression: expr.to_string(),
        reason: reason.into(),
    }
}

impl Schedule {
    /// `tz` is `ScheduleExpressionTimezone` (Scheduler); classic rules are UTC.
    pub fn parse(expression: &str, tz: Option<&str>) -> LocalResult<Schedule> {
        let tz: Tz = match tz {
            None => Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| invalid(expression, format!("unknown time zone {name:?}")))?,
        };
        let e = expression.trim();
        let kind = if let Some(inner) = e.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
            ScheduleKind::Rate(parse_rate(expression, inner)?)
        } else if let Some(inner) = e.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
            ScheduleKind::Cron(Box::new(Cron::parse(expression, inner)?))
        } else if let Some(inner) = e.strip_prefix("at(").and_then(|s| s.strip_suffix(')')) {
            ScheduleKind::At(
                NaiveDateTime::parse_from_str(inner.trim(), "%Y-%m-%dT%H:%M:%S")
                    .map_err(|_| invalid(expression, "at(...) takes yyyy-mm-ddThh:mm:ss"))?,
            )
        } else {
            return Err(invalid(
                expression,
                "expected rate(...), cron(...) or at(...)",
            ));
        };
        Ok(Schedule {
            expression: expression.to_string(),
            kind,
            tz,
        })
    }

    /// The first firing strictly after `after`. A rate schedule counts its periods from
    /// `start` (when the schedule was created, as in AWS). `None`: it never fires again.
    pub fn next_after(&self, after: DateTime<Utc>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            ScheduleKind::Rate(period) => {
                let period = chrono::Duration::from_std(*period).ok()?;
                if after < start {
                    return Some(start + period);
                }
                let elapsed = (after - start).num_milliseconds();
                let n = elapsed / period.num_milliseconds() + 1;
                Some(start + period * i32::try_from(n).ok()?)
            }
            ScheduleKind::At(local) => {
                let at = to_utc(&self.tz, *local)?;
                (at > after).then_some(at)
            }
            ScheduleKind::Cron(cron) => cron.next_after(&self.tz, after),
        }
    }
}

fn parse_rate(expr: &str, inner: &str) -> LocalResult<Duration> {
    let mut parts = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(
            expr,
            "rate(...) takes a value and a unit, e.g. rate(5 minutes)",
        ));
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| invalid(expr, "the rate value must be a positive whole number"))?;
    let (seconds, singular) = match unit {
        "minute" => (60, true),
        "minutes" => (60, false),
        "hour" => (3600, true),
        "hours" => (3600, false),
        "day" => (86400, true),
        "days" => (86400, false),
        _ => {
            return Err(invalid(
                expr,
                "the unit must be minute(s), hour(s) or day(s)",
            ))
        }
    };
    // AWS rejects `rate(1 minutes)` and `rate(5 minute)`.
    if (value == 1) != singular {
        return Err(invalid(
            expr,
            if value == 1 {
                "a value of 1 takes a singular unit (minute, hour, day)"
            } else {
                "a value above 1 takes a plural unit (minutes, hours, days)"
            },
        ));
    }
    Ok(Duration::from_secs(value * seconds))
}

fn to_utc(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // A local time in a DST gap does not exist and is skipped; an ambiguous one fires once,
    // at its first occurrence.
    tz.from_local_datetime(&local)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// One cron field: `None` = any (`*` or `?`).
type Field = Option<BTreeSet<u32>>;

#[derive(Clone, Debug, PartialEq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days_of_month: Field,
    months: Field,
    /// 1 = Sunday ... 7 = Saturday, as in AWS.
    days_of_week: Field,
    years: Field,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(expr: &str, inner: &str) -> LocalResult<Cron> {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(invalid(
                expr,
                "cron(...) has six fields: minutes hours day-of-month month day-of-week year",
            ));
        }
        let (dom, dow) = (fields[2], fields[4]);
        if (dom == "?") == (dow == "?") {
            return Err(invalid(
                expr,
                "exactly one of day-of-month and day-of-week must be ?",
            ));
        }
        let all = |f: Field, lo: u32, hi: u32| f.unwrap_or_else(|| (lo..=hi).collect());
        Ok(Cron {
            minutes: all(field(expr, fields[0], "minutes", 0, 59, &[], false)?, 0, 59),
            hours: all(field(expr, fields[1], "hours", 0, 23, &[], false)?, 0, 23),
            days_of_month: field(expr, dom, "day-of-month", 1, 31, &[], true)?,
            months: field(expr, fields[3], "month", 1, 12, &MONTHS, false)?,
            days_of_week: field(expr, dow, "day-of-week", 1, 7, &DAYS, true)?,
            years: field(expr, fields[5], "year", 1970, 2199, &[], false)?,
        })
    }

    fn date_matches(&self, d: NaiveDate) -> bool {
        let has = |f: &Field, v: u32| f.as_ref().is_none_or(|s| s.contains(&v));
        has(&self.years, d.year() as u32)
            && has(&self.months, d.month())
            && has(&self.days_of_month, d.day())
            && has(&self.days_of_week, d.weekday().num_days_from_sunday() + 1)
    }

    fn next_after(&self, tz: &Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = after.with_timezone(tz).date_naive();
        // Six years covers every expression that can fire at all (leap days included),
        // unless its years field ends earlier.
        for offset in 0..(366 * 6) {
            let date = first.checked_add_days(chrono::Days::new(offset))?;
            if !self.date_matches(date) {
                continue;
            }
            for h in &self.hours {
                for m in &self.minutes {
                    let local = date.and_hms_opt(*h, *m, 0)?;
                    if let Some(t) = to_utc(tz, local) {
                        if t > after {
                            return Some(t);
                        }
                    }
                }
            }
        }
        None
    }
}

fn field(
    expr: &str,
    text: &str,
    what: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    question_allowed: bool,
) -> LocalResult<Field> {
    if text == "*" {
        return Ok(None);
    }
    if text == "?" {
        return if question_allowed {
            Ok(None)
        } else {
            Err(invalid(
                expr,
                format!("? is only allowed in the day fields, not {what}"),
            ))
        };
    }
    let value = |s: &str| -> LocalResult<u32> {
        let up = s.to_uppercase();
        let v = match names.iter().position(|n| *n == up) {
            Some(i) => i as u32 + lo,
            None => s.parse().map_err(|_| {
                if s.contains(['L', 'W', '#']) {
                    invalid(
                        expr,
                        format!("{what}: L, W and # are not supported by the local driver"),
                    )
                } else {
                    invalid(expr, format!("{what}: {s:?} is not a number"))
                }
            })?,
        };
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(invalid(expr, format!("{what}: {v} is outside {lo}-{hi}")))
        }
    };
    let mut out = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| invalid(expr, format!("{what}: bad step in {part:?}")))?,
            ),
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else if step > 1 {
            // `5/15`: from 5 to the end in steps of 15.
            (value(range)?, hi)
        } else {
            let v = value(range)?;
            (v, v)
        };
        if from > to {
            return Err(invalid(
                expr,
                format!("{what}: range {part:?} runs backwards"),
            ));
        }
        out.extend((from..=to).step_by(step as usize));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rates_follow_aws_grammar() {
        let s = Schedule::parse("rate(5 minutes)", None).unwrap();
        assert_eq!(s.kind, ScheduleKind::Rate(Duration::from_secs(300)));
        assert_eq!(
            Schedule::parse("rate(1 hour)", None).unwrap().kind,
            ScheduleKind::Rate(Duration::from_secs(3600))
        );
        assert_eq!(
            Schedule::parse("rate(2 days)", None).unwrap().kind,
            ScheduleKind::Rate(Duration::from_secs(172_800))
        );
        for bad in [
            "rate(5 minute)",
            "rate(1 minutes)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(5 seconds)",
            "rate(5)",
            "rate(five minutes)",
            "every 5 minutes",
        ] {
            let e = Schedule::parse(bad, None).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn rate_counts_periods_from_start() {
        let s = Schedule::parse("rate(5 minutes)", None).unwrap();
        let start = t("2026-01-01T00:00:00Z");
        assert_eq!(s.next_after(start, start), Some(t("2026-01-01T00:05:00Z")));
        assert_eq!(
            s.next_after(t("2026-01-01T00:05:00Z"), start),
            Some(t("2026-01-01T00:10:00Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-01T00:07:30Z"), start),
            Some(t("2026-01-01T00:10:00Z"))
        );
    }

    #[test]
    fn cron_next_firings() {
        let s = Schedule::parse("cron(0/15 * * * ? *)", None).unwrap();
        assert_eq!(
            s.next_after(t("2026-03-04T10:07:00Z"), t("2026-01-01T00:00:00Z")),
            Some(t("2026-03-04T10:15:00Z"))
        );
        // 03:00 UTC on weekdays; 2026-03-07 is a Saturday.
        let s = Schedule::parse("cron(0 3 ? * MON-FRI *)", None).unwrap();
        assert_eq!(
            s.next_after(t("2026-03-06T04:00:00Z"), t("2026-01-01T00:00:00Z")),
            Some(t("2026-03-09T03:00:00Z"))
        );
        // The 1st of each month at 12:30 Prague time (UTC+1 in winter).
        let s = Schedule::parse("cron(30 12 1 * ? *)", Some("Europe/Prague")).unwrap();
        assert_eq!(
            s.next_after(t("2026-01-15T00:00:00Z"), t("2026-01-01T00:00:00Z")),
            Some(t("2026-02-01T11:30:00Z"))
        );
        // Leap day only.
        let s = Schedule::parse("cron(0 0 29 FEB ? *)", None).unwrap();
        assert_eq!(
            s.next_after(t("2026-03-01T00:00:00Z"), t("2026-01-01T00:00:00Z")),
            Some(t("2028-02-29T00:00:00Z"))
        );
        // A year field that has passed never fires.
        let s = Schedule::parse("cron(0 0 1 1 ? 2020)", None).unwrap();
        assert_eq!(
            s.next_after(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn cron_rejections_are_clear() {
        for (bad, says) in [
            ("cron(0 3 * * * *)", "exactly one"),
            ("cron(0 3 ? * ? *)", "exactly one"),
            ("cron(0 3 * *)", "six fields"),
            ("cron(0 3 L * ? *)", "not supported"),
            ("cron(0 3 ? * 6#3 *)", "not supported"),
            ("cron(61 3 * * ? *)", "outside"),
            ("cron(? 3 * * ? *)", "only allowed"),
            ("cron(0 5-3 * * ? *)", "backwards"),
        ] {
            let e = Schedule::parse(bad, None).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn at_fires_once_in_its_zone() {
        let s = Schedule::parse("at(2026-06-01T09:00:00)", Some("Europe/Prague")).unwrap();
        let start = t("2026-01-01T00:00:00Z");
        assert_eq!(s.next_after(start, start), Some(t("2026-06-01T07:00:00Z")));
        assert_eq!(s.next_after(t("2026-06-01T07:00:00Z"), start), None);
        assert!(Schedule::parse("rate(5 minutes)", Some("Mars/Olympus")).is_err());
    }
}
