use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use pms_domain::domain::{Currency, ExternalId, Guest, PropertyTz};
use pms_domain::memory::MemoryStore;
use pms_domain::pms::PmsAdapter;
use pms_domain::ports::{Clock, ItemStore, ManualClock};
use pms_mock::{MockAdapter, MockFault, MockPms, MockSize};

struct Fixture {
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    pms: Arc<MockPms>,
    adapter: Arc<MockAdapter>,
    cache: ReadThrough,
    hotel: HotelId,
}

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
    ));
    let hotel = HotelId::parse("cache-h1").unwrap();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let pms = Arc::new(MockPms::seeded(
        hotel.clone(),
        PropertyTz::parse("Europe/Prague").unwrap(),
        Currency::eur(),
        clock.clone(),
        MockSize::default(),
    ));
    let adapter = Arc::new(MockAdapter::new(pms.clone()));
    let cache = ReadThrough::new(store.clone(), clock.clone());
    Fixture {
        clock,
        store,
        pms,
        adapter,
        cache,
        hotel,
    }
}

fn guest_freshness() -> Freshness {
    Freshness::of(CacheClass::Guest, &CacheSettings::default())
}

impl Fixture {
    async fn guest(&self, id: &str) -> Result<Option<Cached<Guest>>, CacheError> {
        let adapter = self.adapter.clone();
        let ext = ExternalId::parse(id).unwrap();
        self.cache
            .read(
                &CacheKey::new(&self.hotel, "guest", id),
                guest_freshness(),
                move || async move { adapter.get_guest(&ext).await },
            )
            .await
    }
}

#[test]
fn freshness_follows_the_hotel_settings() {
    let s = CacheSettings::default();
    let g = Freshness::of(CacheClass::Guest, &s);
    assert_eq!(
        (g.ttl.num_seconds(), g.tolerance.num_seconds()),
        (3600, 7200)
    );
    let r = Freshness::of(CacheClass::Reservation, &s);
    assert_eq!((r.ttl.num_seconds(), r.tolerance.num_seconds()), (300, 600));
    let room = Freshness::of(CacheClass::RoomStatus, &s);
    assert_eq!(room.ttl.num_seconds(), 60);
}

#[tokio::test]
async fn fresh_entries_are_served_without_a_pms_call() {
    let f = fixture();
    let first = f.guest("g-00001").await.unwrap().unwrap();
    assert!(!first.stale);
    assert_eq!(f.pms.calls("get_guest"), 1);
    f.clock.advance(Duration::minutes(59));
    let again = f.guest("g-00001").await.unwrap().unwrap();
    assert_eq!(again.value, first.value);
    assert_eq!(again.fetched_at, first.fetched_at);
    assert_eq!(f.pms.calls("get_guest"), 1);
    // The entry carries a TTL: fetched + tolerance (2 h), rounded up.
    let item = f
        .store
        .get(&CacheKey::new(&f.hotel, "guest", "g-00001").item_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item.expires_at,
        Some((first.fetched_at + Duration::hours(2)).timestamp() + 1)
    );
}

#[tokio::test]
async fn expired_entries_are_refetched_once_for_concurrent_readers() {
    let f = Arc::new(fixture());
    f.guest("g-00002").await.unwrap();
    f.clock.advance(Duration::minutes(61));
    let reads = (0..20).map(|_| {
        let f = f.clone();
        async move { f.guest("g-00002").await }
    });
    let results = futures::future::join_all(reads).await;
    for r in results {
        let cached = r.unwrap().unwrap();
        assert!(!cached.stale);
        assert_eq!(cached.fetched_at, f.clock.now());
    }
    assert_eq!(f.pms.calls("get_guest"), 2);
}

#[tokio::test]
async fn stale_copies_bridge_an_outage_until_the_tolerance() {
    let f = fixture();
    let first = f.guest("g-00003").await.unwrap().unwrap();
    f.pms.set_fault(Some(MockFault::Unavailable));
    f.clock.advance(Duration::minutes(90));
    let stale = f.guest("g-00003").await.unwrap().unwrap();
    assert!(stale.stale);
    assert_eq!(stale.fetched_at, first.fetched_at);
    assert_eq!(stale.value, first.value);
    f.clock.advance(Duration::minutes(31)); // 2 h 1 min old: past 2 × TTL
    match f.guest("g-00003").await {
        Err(e @ CacheError::Unavailable { .. }) => assert!(e.is_retryable()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Back up: fresh again.
    f.pms.set_fault(None);
    assert!(!f.guest("g-00003").await.unwrap().unwrap().stale);
}

#[tokio::test]
async fn nothing_cached_and_pms_down_is_unavailable() {
    let f = fixture();
    f.pms.set_fault(Some(MockFault::Timeout));
    assert!(matches!(
        f.guest("g-00004").await,
        Err(CacheError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn gone_at_the_pms_replaces_the_copy_and_is_remembered_briefly() {
    let f = fixture();
    assert!(f.guest("g-99999").await.unwrap().is_none());
    f.guest("g-00005").await.unwrap().unwrap();
    let key = CacheKey::new(&f.hotel, "guest", "g-00005");
    assert!(f.store.get(&key.item_key()).await.unwrap().is_some());
    // The PMS now says not found (here: the entry is read through a fetch that finds nothing).
    f.clock.advance(Duration::hours(2));
    let none = f
        .cache
        .read::<Guest, _, _>(&key, guest_freshness(), || async { Ok(None) })
        .await
        .unwrap();
    assert!(none.is_none());
    // The old copy is gone for good: not even an outage brings it back.
    let item = f.store.get(&key.item_key()).await.unwrap().unwrap();
    assert_eq!(item.data["notFound"], true);
    assert_eq!(
        item.expires_at,
        Some((f.clock.now() + Duration::seconds(NOT_FOUND_TTL_SECONDS)).timestamp() + 1)
    );
    f.clock.advance(Duration::seconds(NOT_FOUND_TTL_SECONDS));
    let down = f
        .cache
        .read::<Guest, _, _>(&key, guest_freshness(), || async {
            Err(PmsError::unavailable(
                pms_domain::pms::UnavailableCause::Timeout,
                "down",
            ))
        })
        .await;
    assert!(
        matches!(down, Err(CacheError::Unavailable { .. })),
        "{down:?}"
    );
}

#[tokio::test]
async fn not_found_answers_are_served_from_the_cache_for_a_short_while() {
    let f = fixture();
    for _ in 0..5 {
        assert!(f.guest("g-99999").await.unwrap().is_none());
    }
    assert_eq!(f.pms.calls("get_guest"), 1);
    f.clock
        .advance(Duration::seconds(NOT_FOUND_TTL_SECONDS - 1));
    assert!(f.guest("g-99999").await.unwrap().is_none());
    assert_eq!(f.pms.calls("get_guest"), 1);
    f.clock.advance(Duration::seconds(1));
    assert!(f.guest("g-99999").await.unwrap().is_none());
    assert_eq!(f.pms.calls("get_guest"), 2);
    // Short TTLs stay short: room statuses (60 s) remember "not found" 30 s, a 10 s TTL 10 s.
    let s = CacheSettings {
        room_status_ttl: 10,
        ..CacheSettings::default()
    };
    assert_eq!(
        Freshness::of(CacheClass::RoomStatus, &s)
            .not_found_ttl
            .num_seconds(),
        10
    );
}

#[tokio::test]
async fn definitive_pms_errors_are_not_hidden_by_a_stale_copy() {
    let f = fixture();
    let key = CacheKey::new(&f.hotel, "guest", "x");
    let r = f
        .cache
        .read::<Guest, _, _>(&key, guest_freshness(), || async {
            Err(PmsError::invalid("bad id"))
        })
        .await;
    assert!(matches!(r, Err(CacheError::Pms(_))));
}

#[tokio::test]
async fn entries_are_per_hotel() {
    let f = fixture();
    f.guest("g-00001").await.unwrap();
    let other = CacheKey::new(&HotelId::parse("cache-h2").unwrap(), "guest", "g-00001");
    assert!(f.store.get(&other.item_key()).await.unwrap().is_none());
}
