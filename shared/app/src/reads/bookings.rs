//! Bookings as a paginated connection over key queries: a date filter becomes a key range on
//! the arrivals or departures index, a provider filter a key prefix on the table, and only what
//! no key can express (status, the other date range) is filtered in the page. Never a scan.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::ReadError;
use crate::records::StoredRecord;
use pms_domain::domain::hash::sha256_hex;
use pms_domain::domain::{
    BusinessDate, HotelId, Provider, RecordId, Reservation, ReservationStatus, ValidationError,
};
use pms_domain::ports::store::cursor;
use pms_domain::ports::{Index, Item, ItemStore, KeyCondition, Partition, Query};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// Items one request may examine when filters drop items from pages. A page that reaches it
/// ends early, with `has_next_page` and a cursor that resumes after the last item examined.
pub const MAX_EXAMINED: usize = 2000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingFilter {
    /// Any of these statuses (empty: every status).
    pub statuses: Vec<ReservationStatus>,
    pub arrival_from: Option<BusinessDate>,
    pub arrival_to: Option<BusinessDate>,
    pub departure_from: Option<BusinessDate>,
    pub departure_to: Option<BusinessDate>,
    pub provider: Option<Provider>,
}

impl BookingFilter {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = |field, from: Option<BusinessDate>, to: Option<BusinessDate>| match (from, to) {
            (Some(f), Some(t)) if f > t => Err(ValidationError::new(
                field,
                format!("the range ends ({t}) before it starts ({f})"),
            )),
            _ => Ok(()),
        };
        check("arrivalTo", self.arrival_from, self.arrival_to)?;
        check("departureTo", self.departure_from, self.departure_to)
    }

    pub fn matches(&self, r: &Reservation) -> bool {
        let within = |d: BusinessDate, from: Option<BusinessDate>, to: Option<BusinessDate>| {
            from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
        };
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && within(r.arrival, self.arrival_from, self.arrival_to)
            && within(r.departure, self.departure_from, self.departure_to)
            && self.provider.is_none_or(|p| r.id.provider() == p)
    }

    /// Sorted and deduplicated, so equal filters fingerprint the same.
    fn canonical(&self) -> Self {
        let mut c = self.clone();
        c.statuses.sort();
        c.statuses.dedup();
        c
    }
}

/// The key query a filter runs as, and whether the page still needs filtering.
#[derive(Debug, PartialEq)]
struct Plan {
    index: Option<Index>,
    key: KeyCondition,
    /// Whether the key range alone selects exactly the matching items.
    exact: bool,
}

fn days(from: Option<BusinessDate>, to: Option<BusinessDate>) -> Option<i64> {
    Some(from?.days_until(to?))
}

fn date_range(from: Option<BusinessDate>, to: Option<BusinessDate>) -> KeyCondition {
    let lo = from.map_or_else(|| "BOOKING#".to_owned(), |d| format!("BOOKING#{d}#"));
    let hi = to.map_or_else(
        || "BOOKING#\u{10FFFF}".to_owned(),
        |d| format!("BOOKING#{d}#\u{10FFFF}"),
    );
    KeyCondition::Between(lo, hi)
}

fn plan(f: &BookingFilter) -> Plan {
    let arrival = f.arrival_from.is_some() || f.arrival_to.is_some();
    let departure = f.departure_from.is_some() || f.departure_to.is_some();
    // With both ranges, key on the narrower (an open end counts as unbounded).
    let use_arrival = match (arrival, departure) {
        (true, true) => {
            let a = days(f.arrival_from, f.arrival_to).unwrap_or(i64::MAX);
            let d = days(f.departure_from, f.departure_to).unwrap_or(i64::MAX);
            a <= d
        }
        (a, _) => a,
    };
    if arrival && use_arrival {
        Plan {
            index: Some(Index::ByArrival),
            key: date_range(f.arrival_from, f.arrival_to),
            exact: f.statuses.is_empty() && !departure && f.provider.is_none(),
        }
    } else if departure {
        Plan {
            index: Some(Index::ByDeparture),
            key: date_range(f.departure_from, f.departure_to),
            exact: f.statuses.is_empty() && f.provider.is_none(),
        }
    } else {
        let prefix = match f.provider {
            Some(p) => format!("BOOKING#{p}#"),
            None => "BOOKING#".to_owned(),
        };
        Plan {
            index: None,
            key: KeyCondition::BeginsWith(prefix),
            exact: f.statuses.is_empty(),
        }
    }
}

/// A connection cursor: the store position, bound to the hotel and filter it was issued for.
#[derive(Serialize, Deserialize)]
struct ConnectionCursor {
    /// Fingerprint of hotel + filter.
    q: String,
    /// The store's cursor.
    k: String,
}

fn fingerprint(hotel: &HotelId, filter: &BookingFilter) -> String {
    let json = serde_json::json!({"hotel": hotel, "filter": filter.canonical()});
    sha256_hex(json.to_string().as_bytes())[..16].to_owned()
}

fn wrap(fp: &str, store_cursor: String) -> String {
    let json = serde_json::to_vec(&ConnectionCursor {
        q: fp.to_owned(),
        k: store_cursor,
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn unwrap(fp: &str, cursor: &str) -> Result<String, ReadError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| ReadError::InvalidCursor)?;
    let c: ConnectionCursor =
        serde_json::from_slice(&bytes).map_err(|_| ReadError::InvalidCursor)?;
    if c.q != fp {
        return Err(ReadError::InvalidCursor);
    }
    Ok(c.k)
}

/// `first` and `after` of a forward page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub first: Option<u32>,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn size(&self) -> Result<u32, ValidationError> {
        match self.first {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(_) => Err(ValidationError::new(
                "first",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BookingEdge {
    pub booking: Reservation,
    pub cursor: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BookingConnection {
    pub edges: Vec<BookingEdge>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// Where the next page starts: the last edge's cursor, or, when the examination budget ran
    /// out first, the position after the last item examined.
    pub end_cursor: Option<String>,
}

fn decode(item: &Item) -> Result<Reservation, ReadError> {
    Ok(item.decode::<StoredRecord<Reservation>>()?.record)
}

/// One page of a hotel's bookings matching `filter`, in key order (arrival date, departure date,
/// or provider and id, depending on the filter).
pub(crate) async fn page(
    store: &dyn ItemStore,
    hotel: &HotelId,
    filter: &BookingFilter,
    request: &PageRequest,
) -> Result<BookingConnection, ReadError> {
    filter.validate()?;
    let first = request.size()? as usize;
    let fp = fingerprint(hotel, filter);
    let plan = plan(filter);
    // An exact key range needs one look past the page to know whether more follow; a filtered
    // one reads more per round trip, since some items will be dropped.
    let batch = if plan.exact {
        first + 1
    } else {
        (first * 4).clamp(100, 1000)
    };
    let mut query = Query {
        partition: Partition::Hotel(hotel.clone()),
        index: plan.index,
        key: plan.key,
        limit: 1,
        cursor: request
            .after
            .as_deref()
            .map(|c| unwrap(&fp, c))
            .transpose()?,
        descending: false,
    }
    .limit(batch as u32);

    let mut edges: Vec<BookingEdge> = Vec::with_capacity(first);
    let mut examined = 0usize;
    let mut resume: Option<String> = None;
    let mut has_next = false;
    'pages: loop {
        let page = store.query(&query).await?;
        for item in &page.items {
            examined += 1;
            let position = cursor::after_item(item, plan.index);
            let booking = match decode(item) {
                Ok(b) => b,
                Err(e) => {
                    // One unreadable record must not hide the others; it is logged for ops.
                    tracing::error!(hotel = %hotel, sort_key = %item.key.sort, error = %e, "unreadable booking skipped");
                    resume = position;
                    continue;
                }
            };
            if !filter.matches(&booking) {
                resume = position;
                continue;
            }
            if edges.len() == first {
                has_next = true;
                break 'pages;
            }
            let position = position.ok_or_else(|| {
                ReadError::Internal(format!("booking {} is not in its index", item.key.sort))
            })?;
            resume = Some(position.clone());
            edges.push(BookingEdge {
                booking,
                cursor: wrap(&fp, position),
            });
        }
        match page.cursor {
            None => break,
            Some(c) if examined >= MAX_EXAMINED => {
                has_next = true;
                resume = Some(c);
                break;
            }
            Some(c) => query.cursor = Some(c),
        }
    }
    let end_cursor = if has_next && edges.len() < first {
        resume.map(|c| wrap(&fp, c))
    } else {
        edges.last().map(|e| e.cursor.clone())
    };
    Ok(BookingConnection {
        edges,
        has_next_page: has_next,
        has_previous_page: request.after.is_some(),
        end_cursor,
    })
}

/// A booking's global id: `<hotel>/<provider>:<external id>`. It names the hotel so a lookup by
/// id alone can be authorized.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BookingRef {
    pub hotel: HotelId,
    pub id: RecordId,
}

impl BookingRef {
    pub fn new(hotel: HotelId, id: RecordId) -> Self {
        Self { hotel, id }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let (hotel, id) = value
            .trim()
            .split_once('/')
            .ok_or_else(|| ValidationError::new("id", "expected `<hotel>/<provider>:<id>`"))?;
        Ok(Self {
            hotel: HotelId::parse(hotel)?,
            id: id.parse()?,
        })
    }
}

impl std::fmt::Display for BookingRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.hotel, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<BusinessDate> {
        Some(BusinessDate::parse(s).unwrap())
    }

    #[test]
    fn plans_pick_a_key_range() {
        let f = BookingFilter::default();
        assert_eq!(
            plan(&f),
            Plan {
                index: None,
                key: KeyCondition::BeginsWith("BOOKING#".into()),
                exact: true
            }
        );
        let f = BookingFilter {
            provider: Some(Provider::named("mews")),
            ..Default::default()
        };
        assert_eq!(
            plan(&f).key,
            KeyCondition::BeginsWith("BOOKING#mews#".into())
        );
        assert!(plan(&f).exact);
        let f = BookingFilter {
            arrival_from: d("2026-12-01"),
            arrival_to: d("2026-12-03"),
            ..Default::default()
        };
        let p = plan(&f);
        assert_eq!(p.index, Some(Index::ByArrival));
        assert_eq!(
            p.key,
            KeyCondition::Between(
                "BOOKING#2026-12-01#".into(),
                "BOOKING#2026-12-03#\u{10FFFF}".into()
            )
        );
        assert!(p.exact);
        // Both ranges: the narrower one is the key, the other a filter.
        let f = BookingFilter {
            arrival_from: d("2026-12-01"),
            departure_from: d("2026-12-02"),
            departure_to: d("2026-12-02"),
            statuses: vec![ReservationStatus::Confirmed],
            ..Default::default()
        };
        let p = plan(&f);
        assert_eq!(p.index, Some(Index::ByDeparture));
        assert!(!p.exact);
    }

    #[test]
    fn cursors_are_bound_to_hotel_and_filter() {
        let h1 = HotelId::parse("h1").unwrap();
        let h2 = HotelId::parse("h2").unwrap();
        let f = BookingFilter {
            statuses: vec![ReservationStatus::CheckedIn, ReservationStatus::Confirmed],
            ..Default::default()
        };
        let same = BookingFilter {
            statuses: vec![ReservationStatus::Confirmed, ReservationStatus::CheckedIn],
            ..Default::default()
        };
        let c = wrap(&fingerprint(&h1, &f), "store".into());
        assert_eq!(unwrap(&fingerprint(&h1, &same), &c).unwrap(), "store");
        assert!(unwrap(&fingerprint(&h2, &f), &c).is_err());
        assert!(unwrap(&fingerprint(&h1, &BookingFilter::default()), &c).is_err());
        assert!(unwrap(&fingerprint(&h1, &f), "not a cursor").is_err());
    }

    #[test]
    fn page_sizes_and_ranges_are_checked() {
        assert_eq!(PageRequest::default().size().unwrap(), DEFAULT_PAGE_SIZE);
        assert!(PageRequest {
            first: Some(MAX_PAGE_SIZE + 1),
            after: None
        }
        .size()
        .is_err());
        assert!(PageRequest {
            first: Some(0),
            after: None
        }
        .size()
        .is_err());
        let f = BookingFilter {
            arrival_from: d("2026-12-05"),
            arrival_to: d("2026-12-01"),
            ..Default::default()
        };
        assert_eq!(f.validate().unwrap_err().field, "arrivalTo");
    }

    #[test]
    fn booking_refs_round_trip() {
        let r = BookingRef::parse("h-1/mews:abc-1").unwrap();
        assert_eq!(r.hotel.as_str(), "h-1");
        assert_eq!(r.to_string(), "h-1/mews:abc-1");
        assert!(BookingRef::parse("mews:abc").is_err());
        assert!(BookingRef::parse("h#1/mews:abc").is_err());
    }
}
