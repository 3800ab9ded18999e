//! The item store contract. Each check uses fresh hotel ids, so suites can share one table.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;

use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Clock, Condition, Index, IndexKeys, Item, ItemKey, ItemStore, KeyCondition, ManualClock,
    Partition, PortError, PutOutcome, Query,
};

/// Makes a store over the same backing table with the given clock.
pub type StoreFactory = dyn Fn(Arc<dyn Clock>) -> Arc<dyn ItemStore> + Send + Sync;

fn hotel(tag: &str) -> HotelId {
    HotelId::parse(format!(
        "{tag}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    ))
    .unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc::now()))
}

pub async fn conditional_create(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("cc");
    let key = ItemKey::hotel(&h, "THING#1");
    let first = store
        .put(Item::new(key.clone(), json!({"n": 1})), Condition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(first, PutOutcome::Applied);
    let second = store
        .put(Item::new(key.clone(), json!({"n": 2})), Condition::IfAbsent)
        .await
        .unwrap();
    match second {
        PutOutcome::Rejected { existing: Some(e) } => assert_eq!(e.data, json!({"n": 1})),
        other => panic!("second create must be rejected with the stored item, got {other:?}"),
    }
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().data,
        json!({"n": 1})
    );
}

pub async fn version_ordering(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("vo");
    let key = ItemKey::hotel(&h, "BOOKING#x#1");
    let put = |v: u64, hash: &str, n: i32| {
        let store = store.clone();
        let item = Item::new(key.clone(), json!({"n": n})).with_version(v, hash);
        async move { store.put(item, Condition::IfNewer).await.unwrap() }
    };
    assert!(put(2, "a", 2).await.applied(), "first write applies");
    assert!(
        !put(1, "b", 1).await.applied(),
        "an older version is rejected"
    );
    assert!(
        !put(2, "a", 2).await.applied(),
        "same version and content is a no-op"
    );
    assert!(
        put(2, "c", 3).await.applied(),
        "same version, new content applies"
    );
    assert!(put(5, "d", 5).await.applied(), "a newer version applies");
    assert!(!put(4, "e", 4).await.applied(), "and is never moved back");
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.data), (5, json!({"n": 5})));
    // IfUnchanged: only against the same version and hash.
    let same = Item::new(key.clone(), json!({"n": 5, "cleared": true})).with_version(5, "d");
    assert!(store
        .put(same, Condition::IfUnchanged)
        .await
        .unwrap()
        .applied());
    let stale = Item::new(key.clone(), json!({"n": 0})).with_version(4, "e");
    assert!(!store
        .put(stale, Condition::IfUnchanged)
        .await
        .unwrap()
        .applied());
}

pub async fn state_transitions(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("st");
    let key = ItemKey::hotel(&h, "IDEMP#k");
    let absent = Condition::IfDataEquals {
        field: "status".into(),
        value: json!("in_progress"),
    };
    assert!(!store
        .put(
            Item::new(key.clone(), json!({"status": "completed"})),
            absent.clone()
        )
        .await
        .unwrap()
        .applied());
    store
        .put(
            Item::new(key.clone(), json!({"status": "in_progress"})),
            Condition::IfAbsent,
        )
        .await
        .unwrap();
    assert!(store
        .put(
            Item::new(key.clone(), json!({"status": "completed"})),
            absent.clone()
        )
        .await
        .unwrap()
        .applied());
    assert!(!store
        .put(
            Item::new(key.clone(), json!({"status": "completed", "again": 1})),
            absent
        )
        .await
        .unwrap()
        .applied());
}

pub async fn ttl_expiry(make: &StoreFactory) {
    let c = clock();
    let store = make(c.clone());
    let h = hotel("ttl");
    let now = c.now().timestamp();
    let key = ItemKey::hotel(&h, "CACHE#r1");
    let item = Item::new(key.clone(), json!({"v": 1}))
        .expiring_at(now + 60)
        .with_index(IndexKeys {
            by_arrival: Some("CACHE#2026-12-01".into()),
            ..Default::default()
        });
    store.put(item, Condition::Always).await.unwrap();
    assert!(store.get(&key).await.unwrap().is_some());
    c.advance(Duration::seconds(61));
    assert!(
        store.get(&key).await.unwrap().is_none(),
        "expired item is invisible to get"
    );
    assert!(
        store
            .batch_get(std::slice::from_ref(&key))
            .await
            .unwrap()
            .is_empty(),
        "and to batch_get"
    );
    let q = Query::primary(
        Partition::Hotel(h.clone()),
        KeyCondition::BeginsWith("CACHE#".into()),
    );
    assert!(
        store.query(&q).await.unwrap().items.is_empty(),
        "and to queries"
    );
    let qi = Query::on(
        Partition::Hotel(h.clone()),
        Index::ByArrival,
        KeyCondition::All,
    );
    assert!(
        store.query(&qi).await.unwrap().items.is_empty(),
        "and to index queries"
    );
    // It is still in the table (nothing swept it): a reader with an earlier clock sees it.
    let earlier = make(Arc::new(ManualClock::new(c.now() - Duration::seconds(120))));
    assert!(
        earlier.get(&key).await.unwrap().is_some(),
        "the item is still stored"
    );
    // An expired record may be replaced by IfAbsentOrExpired, a live one may not.
    assert!(store
        .put(
            Item::new(key.clone(), json!({"v": 2})).expiring_at(now + 600),
            Condition::IfAbsentOrExpired
        )
        .await
        .unwrap()
        .applied());
    assert!(!store
        .put(
            Item::new(key.clone(), json!({"v": 3})),
            Condition::IfAbsentOrExpired
        )
        .await
        .unwrap()
        .applied());
}

fn dated(h: &HotelId, i: u32, day: u32) -> Item {
    let date = format!("2026-12-{day:02}");
    Item::new(
        ItemKey::hotel(h, format!("BOOKING#mock#{i:04}")),
        json!({"i": i, "date": date}),
    )
    .with_version(1, "h")
    .with_index(IndexKeys {
        by_arrival: Some(format!("BOOKING#{date}#mock#{i:04}")),
        by_departure: Some(format!("BOOKING#2026-12-{:02}#mock#{i:04}", day + 2)),
        lookup: None,
    })
}

pub async fn date_range_query(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("gsi");
    let items: Vec<Item> = (0..40).map(|i| dated(&h, i, 1 + i % 10)).collect();
    store.batch_put(items).await.unwrap();
    let q = Query::on(
        Partition::Hotel(h.clone()),
        Index::ByArrival,
        KeyCondition::Between(
            "BOOKING#2026-12-03#".into(),
            "BOOKING#2026-12-06#\u{10FFFF}".into(),
        ),
    )
    .limit(3);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.query(&q.clone().after(cursor)).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(
            page.items.iter().map(|i| {
                i.data["date"].as_str().unwrap().to_owned() + "/" + &i.data["i"].to_string()
            }),
        );
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        16,
        "4 days x 4 bookings, each exactly once: {seen:?}"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 16, "no duplicates");
    assert!(
        seen.windows(2).all(|w| w[0][..10] <= w[1][..10]),
        "in date order"
    );
    let dep = Query::on(
        Partition::Hotel(h.clone()),
        Index::ByDeparture,
        KeyCondition::Between(
            "BOOKING#2026-12-12#".into(),
            "BOOKING#2026-12-12#\u{10FFFF}".into(),
        ),
    );
    assert_eq!(store.query_all(&dep).await.unwrap().len(), 4);
}

pub async fn batch_upsert_1000(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("bulk");
    let items: Vec<Item> = (0..1000).map(|i| dated(&h, i, 1 + i % 28)).collect();
    store.batch_put(items.clone()).await.unwrap();
    // Upsert again with changed data: still 1000 items.
    let changed: Vec<Item> = items
        .into_iter()
        .map(|mut i| {
            i.data["changed"] = json!(true);
            i
        })
        .collect();
    store.batch_put(changed).await.unwrap();
    let all = store
        .query_all(
            &Query::primary(
                Partition::Hotel(h.clone()),
                KeyCondition::BeginsWith("BOOKING#".into()),
            )
            .limit(250),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    assert!(all.iter().all(|i| i.data["changed"] == json!(true)));
    let keys: Vec<ItemKey> = all.iter().map(|i| i.key.clone()).collect();
    assert_eq!(store.batch_get(&keys).await.unwrap().len(), 1000);
}

pub async fn hotel_isolation(make: &StoreFactory) {
    let store = make(clock());
    let a = hotel("iso-a");
    let b = hotel("iso-b");
    store
        .batch_put((0..5).map(|i| dated(&a, i, 1)).collect())
        .await
        .unwrap();
    store
        .batch_put((0..5).map(|i| dated(&b, i, 1)).collect())
        .await
        .unwrap();
    let qa = Query::on(
        Partition::Hotel(a.clone()),
        Index::ByArrival,
        KeyCondition::All,
    )
    .limit(2);
    let page = store.query(&qa).await.unwrap();
    let all_a = store.query_all(&qa).await.unwrap();
    assert_eq!(all_a.len(), 5);
    assert!(all_a
        .iter()
        .all(|i| i.key.partition == Partition::Hotel(a.clone())));
    for q in [
        Query::primary(Partition::Hotel(a.clone()), KeyCondition::All),
        Query::on(
            Partition::Hotel(a.clone()),
            Index::ByDeparture,
            KeyCondition::All,
        ),
    ] {
        let items = store.query_all(&q).await.unwrap();
        assert!(
            items
                .iter()
                .all(|i| i.key.partition == Partition::Hotel(a.clone())),
            "{q:?}"
        );
    }
    // A's cursor cannot page through B.
    let qb = Query::on(
        Partition::Hotel(b.clone()),
        Index::ByArrival,
        KeyCondition::All,
    )
    .limit(2);
    let err = store
        .query(&qb.after(page.cursor.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::InvalidCursor), "{err:?}");
    // Same sort key, different hotel: different items.
    let ka = ItemKey::hotel(&a, "BOOKING#mock#0000");
    let kb = ItemKey::hotel(&b, "BOOKING#mock#0000");
    store.delete(&ka).await.unwrap();
    assert!(store.get(&ka).await.unwrap().is_none());
    assert!(store.get(&kb).await.unwrap().is_some());
}

pub async fn atomic_increment(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("inc");
    let key = ItemKey::hotel(&h, "RATE#slot-1");
    let exp = Utc::now().timestamp() + 60;
    // Concurrent increments all count.
    let results = futures::future::join_all((0..20).map(|_| {
        let store = store.clone();
        let key = key.clone();
        async move { store.increment(&key, "n", 1, Some(exp)).await.unwrap() }
    }))
    .await;
    let mut sorted = results.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=20).collect::<Vec<i64>>(),
        "each caller sees a distinct count"
    );
    assert_eq!(store.increment(&key, "n", 5, None).await.unwrap(), 25);
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.expires_at, Some(exp));
}

/// A cursor made from any item of a page (`cursor::after_item`) resumes right after it, on the
/// table and on an index.
pub async fn resume_after_item(make: &StoreFactory) {
    let store = make(clock());
    let h = hotel("resume");
    let items: Vec<Item> = (0..40).map(|i| dated(&h, i, 1 + i % 10)).collect();
    store.batch_put(items).await.unwrap();
    let queries = [
        Query::on(
            Partition::Hotel(h.clone()),
            Index::ByArrival,
            KeyCondition::Between(
                "BOOKING#2026-12-03#".into(),
                "BOOKING#2026-12-06#\u{10FFFF}".into(),
            ),
        ),
        Query::primary(
            Partition::Hotel(h.clone()),
            KeyCondition::BeginsWith("BOOKING#".into()),
        ),
        // An empty prefix is the whole partition (DynamoDB itself refuses an empty value).
        Query::primary(
            Partition::Hotel(h.clone()),
            KeyCondition::BeginsWith(String::new()),
        ),
    ];
    for q in queries {
        let all = store.query_all(&q.clone().limit(1000)).await.unwrap();
        assert!(all.len() > 5);
        let first = store.query(&q.clone().limit(5)).await.unwrap();
        let cut = &first.items[2];
        let resume = pms_domain::ports::store::cursor::after_item(cut, q.index).unwrap();
        let rest = store
            .query_all(&q.clone().limit(7).after(Some(resume)))
            .await
            .unwrap();
        let keys = |v: &[Item]| v.iter().map(|i| i.key.sort.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&rest), keys(&all[3..]), "{:?}", q.index);
    }
}

/// Every check, in sequence.
pub async fn run_all(make: &StoreFactory) {
    conditional_create(make).await;
    version_ordering(make).await;
    state_transitions(make).await;
    ttl_expiry(make).await;
    date_range_query(make).await;
    batch_upsert_1000(make).await;
    hotel_isolation(make).await;
    atomic_increment(make).await;
    resume_after_item(make).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::memory::MemoryStore;

    #[tokio::test]
    async fn memory_store_passes_the_contract() {
        // One backing map shared by stores with different clocks, like one table.
        let base = MemoryStore::new(Arc::new(pms_domain::ports::SystemClock));
        run_all(&move |c| Arc::new(base.with_clock(c)) as Arc<dyn ItemStore>).await;
    }
}
