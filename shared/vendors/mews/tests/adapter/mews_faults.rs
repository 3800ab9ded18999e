//! The Mews adapter under injected faults: 5xx then success, 429 storms honouring Retry-After,
//! failures after the retry budget, non-retryable 4xx failing at once with Mews' message, 401
//! followed by rotated credentials, 408 answered by smaller windows, records Mews cannot serve,
//! and the shared client-side rate limiter keeping under Mews' limit. Every error carries the
//! `Request-Id` Mews gave.

use crate::mews_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use mews_support::{MewsEnv, HONOLULU};
use pms_domain::domain::{Charge, ConfirmationNumber, Currency, Money};
use pms_domain::memory::MemoryStore;
use pms_domain::pms::{
    ChangeWindow, EntityKind, EntityRef, Fetched, PmsAdapter, PmsError, Refreshed,
};
use pms_domain::ports::ItemStore;
use pms_sim::{FaultConfig, SimStatus};

fn conf(s: &str) -> ConfirmationNumber {
    ConfirmationNumber::parse(s).unwrap()
}

fn counters(env: &MewsEnv) -> pms_sim::VendorCounters {
    env.sim.context.counters()[&pms_mews::PROVIDER].clone()
}

#[tokio::test]
async fn a_5xx_is_retried_until_it_succeeds() {
    let env = MewsEnv::default().await;
    let adapter = Arc::new(env.adapter(HONOLULU).await);
    let admin = env.sim.admin();
    admin
        .set_faults(
            pms_mews::PROVIDER,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(503),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let task = {
        let adapter = adapter.clone();
        tokio::spawn(async move { adapter.in_house().await })
    };
    // Let the first attempt fail, then heal the vendor before the retry budget is spent.
    let started = Instant::now();
    while counters(&env).injected_errors == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    admin.clear_faults().await.unwrap();
    let fetched = task.await.unwrap().unwrap();
    assert!(!fetched.items.is_empty());
    assert!(counters(&env).injected_errors >= 1);
}

#[tokio::test]
async fn failures_after_the_retry_budget_carry_the_request_id() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    env.sim
        .admin()
        .set_faults(
            pms_mews::PROVIDER,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(502),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let err = adapter.in_house().await.unwrap_err();
    assert!(matches!(err, PmsError::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
    let rid = err.request_id().expect("Mews' Request-Id").to_owned();
    assert_eq!(rid.len(), 36, "{rid}");
    // maxAttempts 3: three calls reached the vendor.
    assert_eq!(counters(&env).injected_errors, 3);
    assert_eq!(env.calls("reservations/getAll/2023-06-06"), 3);
}

#[tokio::test]
async fn a_429_storm_is_waited_out_as_retry_after_says() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    env.sim
        .admin()
        .storm(pms_mews::PROVIDER, 1, 1)
        .await
        .unwrap();
    let started = Instant::now();
    adapter.connect().await.unwrap();
    let waited = started.elapsed();
    let c = counters(&env);
    assert!(c.storm_rejections >= 1);
    // Retry-After: 1 s, far longer than the 20 ms backoff the hotel is configured with.
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
}

#[tokio::test]
async fn a_rejected_request_fails_at_once_with_the_mews_message() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let sim = env
        .hotel(HONOLULU)
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    // The simulated enterprise bills in USD; Mews answers 400 "Invalid Currency."
    let err = adapter
        .post_charge(
            &conf(&sim.confirmation),
            &Charge {
                amount: Money::new(1000, Currency::eur()),
                description: "Spa".into(),
                revenue_center: None,
                reference: "op-eur".into(),
            },
        )
        .await
        .unwrap_err();
    match &err {
        PmsError::InvalidRequest {
            message, status, ..
        } => {
            assert_eq!(*status, Some(400));
            assert!(message.contains("Invalid Currency"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert!(err.request_id().is_some());
    assert!(!err.is_retryable());
    assert_eq!(env.calls("orders/add"), 1, "not retried");
    assert_eq!(counters(&env).charges_posted, 0);
}

#[tokio::test]
async fn a_charge_whose_outcome_is_unknown_is_not_resent() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let sim = env
        .hotel(HONOLULU)
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let c = conf(&sim.confirmation);
    let charge = |reference: &str| Charge {
        amount: Money::new(500, Currency::usd()),
        description: "Water".into(),
        revenue_center: None,
        reference: reference.into(),
    };
    let only_orders = |status: u16| FaultConfig {
        error_rate: 1.0,
        error_status: Some(status),
        only_endpoints: vec!["orders/add".into()],
        ..FaultConfig::default()
    };
    let admin = env.sim.admin();
    // 504: Mews may have created the order. Sent once; the caller must look before resending.
    admin
        .set_faults(pms_mews::PROVIDER, &only_orders(504))
        .await
        .unwrap();
    let err = adapter
        .post_charge(&c, &charge("op-504"))
        .await
        .unwrap_err();
    assert!(err.outcome_unknown(), "{err}");
    assert!(err.request_id().is_some());
    assert_eq!(env.calls("orders/add"), 1);
    // 503: Mews did not act, so the hotel's retry policy applies (3 attempts).
    admin
        .set_faults(pms_mews::PROVIDER, &only_orders(503))
        .await
        .unwrap();
    let err = adapter
        .post_charge(&c, &charge("op-503"))
        .await
        .unwrap_err();
    assert!(!err.outcome_unknown(), "{err}");
    assert_eq!(env.calls("orders/add"), 4);
    admin.clear_faults().await.unwrap();
    assert!(adapter.find_charge(&c, "op-504").await.unwrap().is_none());
    assert_eq!(counters(&env).charges_posted, 0);
}

#[tokio::test]
async fn unauthorized_rereads_the_secret_once() {
    let env = MewsEnv::default().await;
    env.store_credentials(HONOLULU, "sim-mews-client-token", "revoked-token")
        .await;
    let adapter = env.adapter_with(&env.config(HONOLULU), None).await;
    let err = adapter.connect().await.unwrap_err();
    match &err {
        PmsError::Unauthorized { message, .. } => {
            assert!(
                message.contains("Invalid ClientToken or AccessToken"),
                "{message}"
            )
        }
        other => panic!("{other}"),
    }
    assert!(err.request_id().is_some());
    // The secret was re-read, found unchanged, and the call not repeated.
    assert_eq!(counters(&env).unauthorized, 1);
    let debug = format!("{err:?} {err}");
    assert!(!debug.contains("revoked-token"), "{debug}");
    // The hotel rotates its token; the adapter picks it up on the next 401.
    env.store_own_credentials(HONOLULU).await;
    adapter.connect().await.unwrap();
    assert_eq!(counters(&env).unauthorized, 2);
}

#[tokio::test]
async fn a_408_is_answered_by_smaller_pages_then_smaller_windows() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    env.sim
        .admin()
        .set_faults(
            pms_mews::PROVIDER,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(408),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let to = Utc::now();
    let err = adapter
        .reservations_changed(ChangeWindow {
            from: to - chrono::Duration::hours(2),
            to,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PmsError::InvalidRequest {
                status: Some(408),
                ..
            }
        ),
        "{err}"
    );
    let asked: Vec<(i64, u64)> = env
        .captured("reservations/getAll/2023-06-06")
        .iter()
        .map(|b| {
            let s = mews_support::utc(b["UpdatedUtc"]["StartUtc"].as_str().unwrap());
            let e = mews_support::utc(b["UpdatedUtc"]["EndUtc"].as_str().unwrap());
            (
                (e - s).num_minutes(),
                b["Limitation"]["Count"].as_u64().unwrap(),
            )
        })
        .collect();
    // Each window is first asked in smaller pages (1000 down to 50), then halved: two hours,
    // its first hour, its first half hour, where splitting stops and the 408 is returned.
    let pages = [1000, 500, 250, 125, 62, 50];
    assert_eq!(asked.len(), 3 * pages.len(), "{asked:?}");
    for (i, chunk) in asked.chunks(pages.len()).enumerate() {
        let counts: Vec<u64> = chunk.iter().map(|(_, c)| *c).collect();
        assert_eq!(counts, pages, "{asked:?}");
        let minutes = chunk[0].0;
        let want = 120 >> i;
        assert!(minutes >= want && minutes <= want + 1, "{asked:?}");
    }
}

#[tokio::test]
async fn a_record_mews_cannot_serve_fails_alone() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let hotel = env.hotel(HONOLULU);
    let in_house: Vec<_> = hotel
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::InHouse)
        .collect();
    let bad = in_house[0].id.clone();
    env.sim
        .admin()
        .set_faults(
            pms_mews::PROVIDER,
            &FaultConfig {
                failing_entities: vec![bad.clone()],
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let fetched = adapter.in_house().await.unwrap();
    assert_eq!(fetched.items.len(), in_house.len() - 1);
    assert_eq!(fetched.failures.len(), 1);
    assert_eq!(fetched.failures[0].id, bad);
    // By id, the batch fails and is asked id by id: the others still arrive.
    let refs: Vec<EntityRef> = in_house
        .iter()
        .take(3)
        .map(|r| EntityRef {
            kind: EntityKind::Reservation,
            id: pms_domain::domain::ExternalId::parse(r.id.as_str()).unwrap(),
        })
        .collect();
    let results = adapter.fetch_entities(&refs).await;
    assert_eq!(results.len(), 3);
    for (r, result) in results {
        if r.id.as_str() == bad {
            assert!(result.is_err());
        } else {
            assert!(matches!(result.unwrap(), Refreshed::Reservation(_)));
        }
    }
}

#[tokio::test]
async fn the_shared_rate_limiter_keeps_under_the_mews_limit() {
    let mut config = mews_support::sim_config();
    // A small limit so the test is quick: 10 requests per second per access token.
    config.limits.set(pms_mews::PROVIDER, 10, 1000);
    let env = MewsEnv::start(config).await;
    env.store_own_credentials(HONOLULU).await;
    let mut hotel = env.config(HONOLULU);
    hotel.rate_limit = Some(pms_domain::config::RateLimitSettings {
        requests: 10,
        per_seconds: 1,
    });
    let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(env.clock.clone()));
    // Two adapters (two Lambda instances) share the budget through the store.
    let a = Arc::new(env.adapter_with(&hotel, Some(store.clone())).await);
    let b = Arc::new(env.adapter_with(&hotel, Some(store.clone())).await);
    let started = Instant::now();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let adapter = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { adapter.connect().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let c = counters(&env);
    assert_eq!(c.rate_limit_violations, 0);
    assert_eq!(c.total_calls, 24);
    // 24 calls at under 10 per second take more than two seconds.
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn a_token_without_the_optional_lookups_still_reads_reservations() {
    let env = MewsEnv::default().await;
    let adapter = env.adapter(HONOLULU).await;
    let whole = adapter.in_house().await.unwrap();
    assert!(!whole.items.is_empty());
    assert!(
        whole.items.iter().any(|r| r.rate_code.is_some()),
        "the fixture has rate codes"
    );
    // A token scoped without rates and notes: Mews refuses those operations.
    for status in [403, 404] {
        env.sim
            .admin()
            .set_faults(
                pms_mews::PROVIDER,
                &FaultConfig {
                    error_rate: 1.0,
                    error_status: Some(status),
                    only_endpoints: vec!["rates/getAll".into(), "serviceOrderNotes/getAll".into()],
                    ..FaultConfig::default()
                },
            )
            .await
            .unwrap();
        // A fresh adapter: no rates cached.
        let fresh = env.adapter(HONOLULU).await;
        let degraded = fresh.in_house().await.expect("the primary read answers");
        assert_eq!(degraded.items.len(), whole.items.len(), "{status}");
        assert!(
            degraded.items.iter().all(|r| r.rate_code.is_none()),
            "{status}"
        );
        assert!(
            degraded
                .items
                .iter()
                .all(|r| r.notes.is_empty() && r.special_requests.is_empty()),
            "{status}"
        );
        // The rest of the enrichment is there: guests and rooms.
        let named = |f: &Fetched<pms_domain::domain::Reservation>| {
            f.items
                .iter()
                .filter(|r| r.guest.as_ref().is_some_and(|g| g.last_name.is_some()))
                .count()
        };
        assert_eq!(named(&degraded), named(&whole), "{status}");
    }
    // A transient failure of a lookup still fails the read (its retry gets a whole answer).
    env.sim
        .admin()
        .set_faults(
            pms_mews::PROVIDER,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(503),
                only_endpoints: vec!["customers/getAll".into()],
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let err = env.adapter(HONOLULU).await.in_house().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
