//! What a feed reads from the PMS: the steps of a run (one vendor read each) and the read
//! itself. Dates are business dates in the hotel's time zone; the reservations delta reads the
//! window since the watermark through the vendor's own mechanism (`reservations_changed`).

use chrono::{DateTime, Duration, Utc};

use crate::jobs::Feed;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{BusinessDate, DeltaSupport, PmsAvailability, Reservation, RoomStatus};
use pms_domain::pms::{ChangeWindow, Fetched, ListRead, PageCursor, PmsAdapter, PmsResult};

/// One vendor read of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Departures(BusinessDate),
    InHouse,
    RoomStatuses,
    /// Reservations created or changed in the window.
    Changed(ChangeWindow),
    /// Arrivals of every date in the range, both ends included (the arrivals feed, first
    /// syncs, backfills).
    ArrivalsBetween(BusinessDate, BusinessDate),
    /// Rooms free per night and room type, both ends included (see `sync::availability`).
    Availability(BusinessDate, BusinessDate),
}

impl Step {
    /// For progress lines and errors.
    pub fn label(&self) -> String {
        match self {
            Step::Departures(d) => format!("departures {d}"),
            Step::InHouse => "in-house".into(),
            Step::RoomStatuses => "room statuses".into(),
            Step::Changed(w) => format!(
                "changed {} .. {}",
                w.from.format("%Y-%m-%dT%H:%M:%SZ"),
                w.to.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            Step::ArrivalsBetween(from, to) => format!("arrivals {from} .. {to}"),
            Step::Availability(from, to) => format!("availability {from} .. {to}"),
        }
    }
}

impl Step {
    /// The step as a paged list read, where it is one (room statuses and availability are read
    /// whole: one request each).
    pub fn list_read(&self) -> Option<ListRead> {
        match *self {
            Step::Departures(date) => Some(ListRead::Departures { date }),
            Step::InHouse => Some(ListRead::InHouse),
            Step::RoomStatuses | Step::Availability(..) => None,
            Step::Changed(window) => Some(ListRead::Changed { window }),
            Step::ArrivalsBetween(from, to) => Some(ListRead::ArrivalsBetween { from, to }),
        }
    }
}

/// What one step read.
pub enum Read {
    Reservations(Fetched<Reservation>),
    Rooms(Vec<RoomStatus>),
    /// Nights read from the PMS.
    Availability(Vec<PmsAvailability>),
}

/// The reservations delta window of a run starting at `start`: from the watermark less the
/// overlap (changes stamped just before the last run started, or by a vendor clock a little
/// behind ours, are read twice rather than never), or, on the very first run, from
/// `initialLookbackDays` back. It ends at the run's start: what changes during the run is
/// after it, and the next run (whose window starts at this run's start) reads it.
pub fn delta_window(
    config: &HotelConfig,
    watermark: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
) -> ChangeWindow {
    let overlap = Duration::seconds(i64::from(config.sync.overlap_seconds));
    let from = match watermark {
        Some(w) => w - overlap,
        None => start - Duration::days(i64::from(config.sync.initial_lookback_days.max(1))),
    };
    ChangeWindow {
        // A watermark ahead of our clock (a clock step back) must not make an empty window.
        from: from.min(start - overlap),
        to: start,
    }
}

/// Days per arrivals window of a first sync's initial load (one request or a few pages each,
/// well inside every vendor's range limit: Mews caps intervals at three months).
pub const INITIAL_WINDOW_DAYS: i64 = 31;

/// Arrival windows of at most `days` days covering `[from, to]`, in order.
pub fn arrival_windows(from: BusinessDate, to: BusinessDate, days: i64) -> Vec<Step> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = start.add_days(days.max(1) - 1).min(to);
        out.push(Step::ArrivalsBetween(start, end));
        start = end.add_days(1);
    }
    out
}

/// The steps of one run of `feed`: dates from the hotel's today through `lookAheadDays`.
///
/// The first reservations run (no watermark yet) reads every booking changed in the last
/// `initialLookbackDays` where the vendor has a modified-since filter. Where it has not (OHIP's
/// business events report changes from now on; a bounded re-read sees a few days), that run
/// also loads every arrival from `initialLookbackDays` ago to `initialLookAheadDays` ahead, in
/// windows, so the store does not start empty. (A booking made long ago and unchanged since
/// comes with the arrivals feed as its stay nears, or with `pmsctl sync backfill`.)
pub fn steps(
    feed: Feed,
    config: &HotelConfig,
    delta: DeltaSupport,
    watermark: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
) -> Vec<Step> {
    let today = config.time_zone.business_date(start);
    let days = |n: u32| (0..=i64::from(n)).map(move |d| today.add_days(d));
    match feed {
        // One ranged read (one request on every vendor) rather than one per date.
        Feed::Arrivals => vec![Step::ArrivalsBetween(
            today,
            today.add_days(i64::from(config.sync.arrivals.look_ahead_days)),
        )],
        Feed::Departures => days(config.sync.departures.look_ahead_days)
            .map(Step::Departures)
            .collect(),
        Feed::InHouse => vec![Step::InHouse],
        Feed::RoomStatus => vec![Step::RoomStatuses],
        Feed::Availability => {
            let (from, to) = super::availability::range(config, today);
            vec![Step::Availability(from, to)]
        }
        Feed::Reservations => {
            let mut steps = vec![Step::Changed(delta_window(config, watermark, start))];
            if watermark.is_none() && delta != DeltaSupport::ModifiedSince {
                let back = i64::from(config.sync.initial_lookback_days);
                let ahead = i64::from(config.sync.initial_look_ahead_days);
                steps.extend(arrival_windows(
                    today.add_days(-back),
                    today.add_days(ahead),
                    INITIAL_WINDOW_DAYS,
                ));
            }
            steps
        }
    }
}

/// Runs one step against the PMS. A page that cannot be fetched is an error (the run fails);
/// records that cannot be read or mapped come back as failures beside the others.
pub async fn read(adapter: &dyn PmsAdapter, step: &Step) -> PmsResult<Read> {
    Ok(match step {
        Step::Departures(d) => Read::Reservations(adapter.departures(*d).await?),
        Step::InHouse => Read::Reservations(adapter.in_house().await?),
        Step::RoomStatuses => Read::Rooms(adapter.room_statuses().await?),
        Step::Changed(w) => Read::Reservations(adapter.reservations_changed(*w).await?),
        Step::ArrivalsBetween(from, to) => {
            Read::Reservations(adapter.arrivals_between(*from, *to).await?)
        }
        Step::Availability(from, to) => {
            Read::Availability(super::availability::read(adapter, *from, *to).await?)
        }
    })
}

/// One page of a step from `cursor`, and where the next page starts (`None`: the step is
/// done). A run that stops between pages stores that cursor for its continuation.
pub async fn read_page(
    adapter: &dyn PmsAdapter,
    step: &Step,
    cursor: Option<&PageCursor>,
) -> PmsResult<(Read, Option<PageCursor>)> {
    match step.list_read() {
        Some(list) => {
            let page = adapter.reservations_page(&list, cursor).await?;
            Ok((Read::Reservations(page.fetched), page.next))
        }
        None => Ok((read(adapter, step).await?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider};

    fn config() -> HotelConfig {
        HotelConfig::new(
            HotelId::parse("h1").unwrap(),
            "H",
            Provider::named("mock"),
            PropertyTz::parse("Pacific/Honolulu").unwrap(),
            Currency::eur(),
            Utc::now(),
        )
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_are_the_hotels_and_reach_look_ahead() {
        let mut c = config();
        c.sync.arrivals.look_ahead_days = 2;
        // 05:00 UTC on Dec 2 is still Dec 1 in Honolulu.
        c.sync.departures.look_ahead_days = 2;
        let s = steps(
            Feed::Departures,
            &c,
            DeltaSupport::ModifiedSince,
            None,
            at("2026-12-02T05:00:00Z"),
        );
        let want: Vec<Step> = ["2026-12-01", "2026-12-02", "2026-12-03"]
            .iter()
            .map(|d| Step::Departures(BusinessDate::parse(d).unwrap()))
            .collect();
        assert_eq!(s, want);
        assert_eq!(
            steps(
                Feed::Arrivals,
                &c,
                DeltaSupport::ModifiedSince,
                None,
                at("2026-12-02T05:00:00Z")
            ),
            [Step::ArrivalsBetween(
                BusinessDate::parse("2026-12-01").unwrap(),
                BusinessDate::parse("2026-12-03").unwrap()
            )]
        );
        assert_eq!(
            steps(
                Feed::InHouse,
                &c,
                DeltaSupport::ModifiedSince,
                None,
                at("2026-12-02T05:00:00Z")
            ),
            [Step::InHouse]
        );
    }

    #[test]
    fn the_first_reservations_run_also_loads_arrivals_in_bounded_windows() {
        let mut c = config();
        c.sync.initial_lookback_days = 10;
        c.sync.initial_look_ahead_days = 40;
        let start = at("2026-12-02T05:00:00Z");
        let d = |s: &str| BusinessDate::parse(s).unwrap();
        let first = steps(Feed::Reservations, &c, DeltaSupport::EventFeed, None, start);
        assert!(matches!(first[0], Step::Changed(_)));
        assert_eq!(
            first[1..],
            [
                Step::ArrivalsBetween(d("2026-11-21"), d("2026-12-21")),
                Step::ArrivalsBetween(d("2026-12-22"), d("2027-01-10")),
            ]
        );
        // Later runs read the delta alone, and so does a first run with a modified-since
        // filter (its lookback is the initial load).
        let later = steps(
            Feed::Reservations,
            &c,
            DeltaSupport::EventFeed,
            Some(start),
            start,
        );
        assert_eq!(later.len(), 1);
        let windowed = steps(
            Feed::Reservations,
            &c,
            DeltaSupport::ModifiedSince,
            None,
            start,
        );
        assert_eq!(windowed.len(), 1);
        assert_eq!(
            arrival_windows(d("2026-12-01"), d("2026-12-01"), 7).len(),
            1
        );
    }

    #[test]
    fn delta_starts_at_the_watermark_less_the_overlap_or_the_first_run_lookback() {
        let c = config();
        let start = at("2026-12-02T05:00:00Z");
        let w = delta_window(&c, Some(at("2026-12-02T04:55:00Z")), start);
        assert_eq!(w.from, at("2026-12-02T04:53:00Z"));
        assert_eq!(w.to, start);
        let first = delta_window(&c, None, start);
        assert_eq!(first.from, at("2026-11-02T05:00:00Z"));
        // A watermark from the future still reads the overlap.
        let ahead = delta_window(&c, Some(at("2026-12-02T06:00:00Z")), start);
        assert_eq!(ahead.from, at("2026-12-02T04:58:00Z"));
    }
}
