use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::records::Merger;
use pms_domain::domain::{
    Currency, ExternalId, PropertyTz, RecordId, ReservationStatus, RoomNumber,
};
use pms_domain::memory::{MemorySecrets, MemoryStore};
use pms_domain::ports::{CachedSecrets, ManualClock};
use pms_mock::{MockFault, MockPms};

struct World {
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    reads: PartnerReads,
    a: HotelId,
    b: HotelId,
}

fn unique(tag: &str) -> HotelId {
    HotelId::parse(format!(
        "{tag}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .unwrap()
}

fn booking(n: u32, arrival: BusinessDate, nights: i64, status: ReservationStatus) -> Reservation {
    Reservation {
        id: RecordId::new(
            Provider::named("mock"),
            ExternalId::parse(format!("r{n:04}")).unwrap(),
        ),
        confirmation_number: ConfirmationNumber::parse(format!("C{n:04}")).unwrap(),
        guest: None,
        room_number: None,
        room_type: None,
        arrival,
        departure: arrival.add_days(nights),
        expected_arrival_time: None,
        expected_departure_time: None,
        status,
        raw_status: status.as_str().to_owned(),
        adults: 1,
        children: 0,
        rate_code: None,
        total: None,
        balance: None,
        special_requests: vec![],
        notes: vec![],
        source_updated_at: None,
        version: 1,
        not_carried: Default::default(),
    }
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
    ));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let secrets = Arc::new(CachedSecrets::new(
        Arc::new(MemorySecrets::new()),
        clock.clone(),
        Duration::minutes(5),
    ));
    let adapters = Arc::new(
        pms_vendor_kit::pms::AdapterFactory::new(secrets, clock.clone(), "pms/test")
            .with_vendor(pms_mock::vendor()),
    );
    let reads = PartnerReads::new(store.clone(), clock.clone(), adapters);
    let (a, b) = (unique("ra"), unique("rb"));
    let registry = HotelRegistry::new(store.clone());
    for h in [&a, &b] {
        registry
            .create(&HotelConfig::new(
                h.clone(),
                "Test hotel",
                Provider::named("mock"),
                PropertyTz::parse("Pacific/Honolulu").unwrap(),
                Currency::usd(),
                clock.now(),
            ))
            .await
            .unwrap();
    }
    World {
        clock,
        store,
        reads,
        a,
        b,
    }
}

impl World {
    fn session(&self, hotels: &[&HotelId]) -> ReadSession {
        self.reads.session(Principal {
            token_id: "t".into(),
            hotels: hotels.iter().map(|h| (*h).clone()).collect(),
            scopes: vec![Scope::Read],
            issued_at: chrono::Utc::now(),
        })
    }

    async fn seed(&self, hotel: &HotelId, bookings: Vec<Reservation>) {
        let merger = Merger::new(
            self.store.clone(),
            Arc::new(pms_domain::memory::MemoryBus::new()),
            self.clock.clone(),
        );
        merger.merge(hotel, bookings, None).await.unwrap();
    }
}

fn date(s: &str) -> BusinessDate {
    BusinessDate::parse(s).unwrap()
}

#[tokio::test]
async fn hotels_outside_the_token_are_forbidden_before_any_read() {
    let w = world().await;
    let s = w.session(&[&w.a]);
    let err = s
        .bookings(&w.b, &BookingFilter::default(), &PageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FORBIDDEN");
    // Unknown hotels look the same as other tenants' hotels.
    let ghost = HotelId::parse("no-such-hotel").unwrap();
    assert_eq!(s.health(&ghost).await.unwrap_err().code(), "FORBIDDEN");
    // A token without the read scope sees nothing.
    let write_only = w.reads.session(Principal {
        token_id: "t".into(),
        hotels: vec![w.a.clone()],
        scopes: vec![Scope::Write],
        issued_at: chrono::Utc::now(),
    });
    assert_eq!(
        write_only.in_house(&w.a).await.unwrap_err().code(),
        "FORBIDDEN"
    );
    // In scope but not configured: not found.
    let s = w.session(&[&ghost]);
    assert_eq!(s.in_house(&ghost).await.unwrap_err().code(), "NOT_FOUND");
}

#[tokio::test]
async fn pages_follow_filters_to_the_end_without_gaps() {
    let w = world().await;
    let start = date("2026-12-01");
    let statuses = [
        ReservationStatus::Confirmed,
        ReservationStatus::CheckedIn,
        ReservationStatus::Cancelled,
    ];
    let all: Vec<Reservation> = (0..57)
        .map(|n| {
            booking(
                n,
                start.add_days(i64::from(n % 9)),
                1 + i64::from(n % 3),
                statuses[(n % 3) as usize],
            )
        })
        .collect();
    w.seed(&w.a, all.clone()).await;
    w.seed(
        &w.b,
        vec![booking(999, start, 2, ReservationStatus::Confirmed)],
    )
    .await;
    let s = w.session(&[&w.a]);
    let filters = [
        BookingFilter::default(),
        BookingFilter {
            arrival_from: Some(date("2026-12-02")),
            arrival_to: Some(date("2026-12-05")),
            ..Default::default()
        },
        BookingFilter {
            departure_from: Some(date("2026-12-04")),
            statuses: vec![ReservationStatus::Confirmed, ReservationStatus::CheckedIn],
            ..Default::default()
        },
        BookingFilter {
            statuses: vec![ReservationStatus::Cancelled],
            provider: Some(Provider::named("mock")),
            ..Default::default()
        },
        BookingFilter {
            provider: Some(Provider::named("mews")),
            ..Default::default()
        },
    ];
    for filter in filters {
        let mut want: Vec<String> = all
            .iter()
            .filter(|r| filter.matches(r))
            .map(|r| r.id.to_string())
            .collect();
        want.sort();
        for first in [1, 7, 100] {
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = s
                    .bookings(
                        &w.a,
                        &filter,
                        &PageRequest {
                            first: Some(first),
                            after,
                        },
                    )
                    .await
                    .unwrap();
                assert!(page.edges.len() <= first as usize);
                got.extend(page.edges.iter().map(|e| e.booking.id.to_string()));
                if !page.has_next_page {
                    break;
                }
                after = page.end_cursor;
            }
            let n = got.len();
            got.sort();
            got.dedup();
            assert_eq!(got.len(), n, "duplicates with {filter:?}, first {first}");
            assert_eq!(got, want, "{filter:?}, first {first}");
        }
    }
    // A cursor of one filter or hotel is refused by another.
    let page = s
        .bookings(
            &w.a,
            &BookingFilter::default(),
            &PageRequest {
                first: Some(2),
                after: None,
            },
        )
        .await
        .unwrap();
    let other = BookingFilter {
        statuses: vec![ReservationStatus::Confirmed],
        ..Default::default()
    };
    let err = s
        .bookings(
            &w.a,
            &other,
            &PageRequest {
                first: Some(2),
                after: page.end_cursor.clone(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
    let both = w.session(&[&w.a, &w.b]);
    let err = both
        .bookings(
            &w.b,
            &BookingFilter::default(),
            &PageRequest {
                first: Some(2),
                after: page.end_cursor,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn day_views_use_the_hotel_time_zone() {
    let w = world().await;
    // 09:00 UTC on 1 Dec is 23:00 on 30 Nov in Honolulu.
    let today = date("2026-11-30");
    w.seed(
        &w.a,
        vec![
            booking(1, today, 2, ReservationStatus::Confirmed),
            booking(2, today, 1, ReservationStatus::Cancelled),
            booking(3, today.add_days(-3), 3, ReservationStatus::CheckedIn),
            booking(4, today.add_days(-2), 5, ReservationStatus::CheckedIn),
            booking(5, today.add_days(-5), 2, ReservationStatus::CheckedOut),
        ],
    )
    .await;
    let s = w.session(&[&w.a]);
    let (d, arrivals) = s.arrivals(&w.a, None).await.unwrap();
    assert_eq!(d, today);
    let ids: Vec<_> = arrivals
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert_eq!(ids, ["r0001"]);
    let (_, departures) = s.departures(&w.a, None).await.unwrap();
    let ids: Vec<_> = departures
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    assert_eq!(ids, ["r0003"]);
    let (_, in_house) = s.in_house(&w.a).await.unwrap();
    let mut ids: Vec<_> = in_house
        .iter()
        .map(|r| r.id.external().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["r0003", "r0004"]);
    // Hotel B's token sees none of it.
    let sb = w.session(&[&w.b]);
    assert!(sb.arrivals(&w.b, Some(today)).await.unwrap().1.is_empty());
}

#[tokio::test]
async fn bookings_by_id_and_confirmation() {
    let w = world().await;
    let r = booking(7, date("2026-12-03"), 2, ReservationStatus::Confirmed);
    w.seed(&w.a, vec![r.clone()]).await;
    let s = w.session(&[&w.a]);
    let got = s
        .booking(&BookingRef::new(w.a.clone(), r.id.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, r.id);
    let by_conf = s
        .booking_by_confirmation(&w.a, &r.confirmation_number, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_conf.id, r.id);
    // B's id space is B's: the same record id under hotel B is another tenant's, and forbidden.
    let err = s
        .booking(&BookingRef::new(w.b.clone(), r.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FORBIDDEN");
}

#[tokio::test]
async fn availability_reads_a_key_range() {
    let w = world().await;
    let merger = Merger::new(
        w.store.clone(),
        Arc::new(pms_domain::memory::MemoryBus::new()),
        w.clock.clone(),
    );
    let mut records = Vec::new();
    for day in 0..5 {
        for t in ["KING", "TWIN"] {
            records.push(ProvidedAvailability {
                provider: Provider::named("mock"),
                availability: pms_domain::domain::Availability {
                    date: date("2026-12-01").add_days(day),
                    room_type: RoomTypeCode::parse(t).unwrap(),
                    available: 3,
                    total: Some(10),
                    rate: None,
                    source_updated_at: None,
                    version: 1,
                },
            });
        }
    }
    merger.merge(&w.a, records, None).await.unwrap();
    let s = w.session(&[&w.a]);
    let all = s
        .availability(&w.a, date("2026-12-02"), date("2026-12-03"), None)
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let king = RoomTypeCode::parse("KING").unwrap();
    let kings = s
        .availability(&w.a, date("2026-12-01"), date("2026-12-31"), Some(&king))
        .await
        .unwrap();
    assert_eq!(kings.len(), 5);
    assert!(kings.iter().all(|a| a.availability.room_type == king));
    assert_eq!(
        s.availability(&w.a, date("2026-12-03"), date("2026-12-01"), None)
            .await
            .unwrap_err()
            .code(),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn pms_entities_go_through_the_cache() {
    let w = world().await;
    let s = w.session(&[&w.a]);
    let pms = MockPms::shared(
        &w.a,
        PropertyTz::parse("Pacific/Honolulu").unwrap(),
        Currency::usd(),
        w.clock.clone(),
    );
    let room = RoomNumber::parse("101").unwrap();
    let first = s.room_status(&w.a, &room).await.unwrap().unwrap();
    assert!(!first.stale);
    s.room_status(&w.a, &room).await.unwrap().unwrap();
    assert_eq!(pms.calls("room_status"), 1);
    pms.set_fault(Some(MockFault::Unavailable));
    w.clock.advance(Duration::seconds(90));
    let stale = s.room_status(&w.a, &room).await.unwrap().unwrap();
    assert!(stale.stale);
    w.clock.advance(Duration::seconds(31));
    assert_eq!(
        s.room_status(&w.a, &room).await.unwrap_err().code(),
        "PMS_UNAVAILABLE"
    );
    let health = s.health(&w.a).await.unwrap();
    assert!(!health.pms.healthy);
    pms.set_fault(None);
    assert!(s.health(&w.a).await.unwrap().pms.healthy);
    // A guest id of another provider is not at this PMS.
    let mews = RecordId::new(
        Provider::named("mews"),
        ExternalId::parse("g-00001").unwrap(),
    );
    assert!(s.guest(&w.a, &mews).await.unwrap().is_none());
    let guest = pms.guests().remove(0);
    let found = s.guest(&w.a, &guest.id).await.unwrap().unwrap();
    assert_eq!(found.value, guest);
    let err = s
        .search_guests(&w.a, GuestQuery::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
}
