//! Per-feed schedules. The EventBridge rule ticks every few minutes; a feed's own schedule (a
//! five-field cron, in the hotel's time zone) says on which ticks it runs. A tick stands
//! for the minutes since the previous one, so a feed is due when its cron fires in
//! `(tick - period, tick]`: rate() schedules are not aligned to the minute, and an aligned
//! minute must still fall in exactly one tick.

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};

use pms_domain::domain::PropertyTz;

/// A parsed five-field cron: minute, hour, day of month, month, day of week (0 or 7 = Sunday).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Cron's rule: when both day fields are restricted, either may match.
    days_restricted: bool,
    weekdays_restricted: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid schedule {expr:?}: {reason}")]
pub struct CronError {
    pub expr: String,
    pub reason: String,
}

fn field(spec: &str, min: u32, max: u32) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = a.parse().map_err(|_| format!("bad value {a:?}"))?;
            let b = b.parse().map_err(|_| format!("bad value {b:?}"))?;
            (a, b)
        } else {
            let v = range.parse().map_err(|_| format!("bad value {range:?}"))?;
            // `5/15` means from 5 to the end, every 15.
            if step > 1 {
                (v, max)
            } else {
                (v, v)
            }
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let err = |reason: String| CronError {
            expr: expr.to_owned(),
            reason,
        };
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(err(format!("{} fields, not 5", parts.len())));
        }
        let mut weekdays = field(parts[4], 0, 7).map_err(err)?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Cron {
            minutes: field(parts[0], 0, 59).map_err(err)?,
            hours: field(parts[1], 0, 23).map_err(err)?,
            days: field(parts[2], 1, 31).map_err(err)?,
            months: field(parts[3], 1, 12).map_err(err)?,
            weekdays,
            days_restricted: parts[2] != "*",
            weekdays_restricted: parts[4] != "*",
        })
    }

    /// Whether the cron fires in the local minute of `at`.
    pub fn matches(&self, at: DateTime<Utc>, tz: PropertyTz) -> bool {
        let local = at.with_timezone(&tz.tz());
        let day = self.days[local.day() as usize];
        let weekday = self.weekdays[local.weekday().num_days_from_sunday() as usize];
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            _ => day && weekday,
        };
        self.minutes[local.minute() as usize]
            && self.hours[local.hour() as usize]
            && self.months[local.month() as usize]
            && day_ok
    }

    /// Whether the cron fires in a minute of `(tick - period, tick]`.
    pub fn due(&self, tick: DateTime<Utc>, period: Duration, tz: PropertyTz) -> bool {
        let Ok(mut minute) = tick.duration_trunc(Duration::minutes(1)) else {
            return true;
        };
        let start = tick - period;
        while minute > start {
            if self.matches(minute, tz) {
                return true;
            }
            minute -= Duration::minutes(1);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_five_minutes_is_due_on_every_five_minute_tick_aligned_or_not() {
        let c = Cron::parse("*/5 * * * *").unwrap();
        let tz = PropertyTz::utc();
        let p = Duration::minutes(5);
        for tick in [
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:02:37Z",
            "2026-12-01T10:04:59Z",
        ] {
            assert!(c.due(at(tick), p, tz), "{tick}");
        }
        // Every minute falls in exactly one tick of a 5-minute rate.
        let mut hits = 0;
        let mut t = at("2026-12-01T10:01:13Z");
        for _ in 0..12 {
            hits += usize::from(Cron::parse("0 * * * *").unwrap().due(t, p, tz));
            t += p;
        }
        assert_eq!(hits, 1);
    }

    #[test]
    fn hours_are_the_hotels() {
        // 06:00 in Honolulu is 16:00 UTC.
        let c = Cron::parse("0 6 * * *").unwrap();
        let hnl = PropertyTz::parse("Pacific/Honolulu").unwrap();
        let p = Duration::minutes(5);
        assert!(c.due(at("2026-12-01T16:03:00Z"), p, hnl));
        assert!(!c.due(at("2026-12-01T06:03:00Z"), p, hnl));
    }

    #[test]
    fn fields_lists_ranges_and_weekdays() {
        let c = Cron::parse("15,45 8-17/3 * * 1-5").unwrap();
        let tz = PropertyTz::utc();
        // 2026-12-01 is a Tuesday.
        assert!(c.matches(at("2026-12-01T08:15:00Z"), tz));
        assert!(c.matches(at("2026-12-01T11:45:00Z"), tz));
        assert!(!c.matches(at("2026-12-01T09:15:00Z"), tz));
        assert!(!c.matches(at("2026-12-06T08:15:00Z"), tz));
        assert!(Cron::parse("0 0 * * 7")
            .unwrap()
            .matches(at("2026-12-06T00:00:00Z"), tz));
        for bad in [
            "* * * *",
            "61 * * * *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }
}
