//! The Cloudbeds adapter against the simulator with faults injected: 5xx then success, 429
//! waits honouring Retry-After, failure after the retry budget, non-retryable errors failing at
//! once with Cloudbeds' message, a rotated key picked up after a 401, and the vendor's request
//! id on every error.

use crate::cloudbeds_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudbeds_support::*;
use pms_cloudbeds::credentials::CloudbedsCredentials;
use pms_cloudbeds::CloudbedsAdapter;
use pms_domain::pms::{PmsAdapter, PmsError, UnavailableCause};
use pms_domain::ports::SecretStore;
use pms_sim::FaultConfig;
use secrecy::SecretString;

fn errors(rate: f64, status: u16) -> FaultConfig {
    FaultConfig {
        error_rate: rate,
        error_status: Some(status),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_5xx_is_retried_until_it_succeeds() {
    let sim = simulator(pms_sim::default_config()).await;
    let mut config = hotel_config(&sim, PROPERTY, "America/New_York");
    // Long enough a pause to clear the fault after the first failure, short enough for a test.
    config.retry.initial_delay = 400;
    config.retry.jitter = false;
    config.retry.max_attempts = 4;
    let adapter = adapter_for(&config, API_KEY).await;
    let admin = sim.admin();
    admin
        .set_faults(pms_cloudbeds::PROVIDER, &errors(1.0, 503))
        .await
        .unwrap();
    let call = {
        let adapter = adapter.clone();
        tokio::spawn(async move { adapter.in_house().await })
    };
    // Clear the fault once the first attempt has failed: the retry then succeeds.
    let started = Instant::now();
    while counters(&sim).await.injected_errors == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no attempt seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    admin.clear_faults().await.unwrap();
    let fetched = call.await.unwrap().expect("the retry succeeds");
    assert!(!fetched.items.is_empty());
    let c = counters(&sim).await;
    assert!(c.injected_errors >= 1);
    assert_eq!(
        c.calls["getReservationsWithRateDetails"],
        c.injected_errors + 1,
        "one attempt per failure, then the success"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, API_KEY).await;
    // Every request is refused with Retry-After: 1 for the next second.
    sim.admin()
        .storm(pms_cloudbeds::PROVIDER, 1, 1)
        .await
        .unwrap();
    let started = Instant::now();
    let rooms = adapter
        .room_statuses()
        .await
        .expect("succeeds after the wait");
    assert!(!rooms.is_empty());
    // The fast retry policy alone would have given up after ~60 ms; it waited the header.
    assert!(started.elapsed() >= Duration::from_millis(900));
    let c = counters(&sim).await;
    assert!(c.storm_rejections >= 1);
    assert_eq!(c.rate_limit_violations, 0);
    sim.stop().await;
}

#[tokio::test]
async fn failures_past_the_retry_budget_are_returned_with_the_request_id() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, API_KEY).await;
    sim.admin()
        .set_faults(pms_cloudbeds::PROVIDER, &errors(1.0, 503))
        .await
        .unwrap();
    let err = adapter
        .get_reservation(&pms_domain::domain::ConfirmationNumber::parse("1").unwrap())
        .await
        .unwrap_err();
    match &err {
        PmsError::Unavailable { cause, .. } => assert_eq!(*cause, UnavailableCause::Http(503)),
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
    assert!(err.request_id().is_some(), "{err}");
    assert_eq!(counters(&sim).await.injected_errors, 3, "maxAttempts 3");
    sim.stop().await;
}

#[tokio::test]
async fn a_refused_key_fails_at_once_with_the_vendors_message() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, "cbat_wrong_key").await;
    let err = adapter.in_house().await.unwrap_err();
    match &err {
        PmsError::Unauthorized {
            message,
            request_id,
        } => {
            assert_eq!(message, "Invalid or missing API key (x-api-key)");
            assert!(request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("cbat_wrong_key"));
    let c = counters(&sim).await;
    // One attempt; the stored secret holds the same key, so it is not sent again.
    assert_eq!(c.unauthorized, 1);
    assert_eq!(c.total_calls, 1);

    let health = adapter.health_check().await;
    assert!(!health.healthy);
    sim.stop().await;
}

#[tokio::test]
async fn a_rotated_key_is_read_again_after_a_401() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    // The adapter was built with an old key; the secret has been rotated since.
    let (deps, store) = deps("cbat_old_key").await;
    let adapter: Arc<dyn PmsAdapter> = Arc::new(
        CloudbedsAdapter::new(
            &config,
            CloudbedsCredentials {
                api_key: SecretString::from("cbat_old_key".to_owned()),
            },
            &deps,
        )
        .unwrap(),
    );
    store
        .put(
            &deps.credentials_secret,
            &CloudbedsCredentials {
                api_key: SecretString::from(API_KEY.to_owned()),
            }
            .to_secret(),
        )
        .await
        .unwrap();
    let fetched = adapter.in_house().await.expect("the rotated key works");
    assert!(!fetched.items.is_empty());
    let c = counters(&sim).await;
    assert_eq!(c.unauthorized, 1);
    // The key is kept: the next call goes through at once.
    adapter.in_house().await.unwrap();
    assert_eq!(counters(&sim).await.unauthorized, 1);
    sim.stop().await;
}

#[tokio::test]
async fn business_errors_are_not_retried_and_writes_that_may_duplicate_are_not_replayed() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, API_KEY).await;
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let id = pms_domain::domain::ConfirmationNumber::parse(&hotel.reservations[0].id).unwrap();

    // A note after a 503 might already be on the reservation: it is not sent again.
    sim.admin()
        .set_faults(pms_cloudbeds::PROVIDER, &errors(1.0, 503))
        .await
        .unwrap();
    let err = adapter
        .add_reservation_note(
            &id,
            &pms_domain::domain::Note {
                text: "Late arrival".into(),
                title: None,
                internal: false,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        PmsError::Unavailable {
            cause: UnavailableCause::Http(503),
            ..
        }
    ));
    assert_eq!(counters(&sim).await.calls["postReservationNote"], 1);

    // A charge carries its referenceID: replaying it is safe, and it is retried.
    let err = adapter
        .post_charge(
            &id,
            &pms_domain::domain::Charge {
                amount: pms_domain::domain::Money::new(1000, config.currency),
                description: "Parking".into(),
                revenue_center: None,
                reference: "op-park-1".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.request_id().is_some());
    assert_eq!(counters(&sim).await.calls["postCustomItem"], 3);
    sim.admin().clear_faults().await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn the_writers_retry_override_replaces_the_hotels_policy() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let (mut deps, _) = deps(API_KEY).await;
    // The writer retries through the queue: one attempt per delivery.
    deps.retry_override = Some(pms_domain::pms::RetryPolicy::none());
    let adapter = CloudbedsAdapter::new(
        &config,
        CloudbedsCredentials {
            api_key: SecretString::from(API_KEY.to_owned()),
        },
        &deps,
    )
    .unwrap();
    sim.admin()
        .set_faults(pms_cloudbeds::PROVIDER, &errors(1.0, 502))
        .await
        .unwrap();
    let hotel = sim
        .admin()
        .hotel(pms_cloudbeds::PROVIDER, PROPERTY)
        .await
        .unwrap();
    let err = adapter
        .post_charge(
            &pms_domain::domain::ConfirmationNumber::parse(&hotel.reservations[0].id).unwrap(),
            &pms_domain::domain::Charge {
                amount: pms_domain::domain::Money::new(500, config.currency),
                description: "Laundry".into(),
                revenue_center: None,
                reference: "op-laundry".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.outcome_unknown(),
        "a 502 may have been applied: {err:?}"
    );
    assert_eq!(counters(&sim).await.injected_errors, 1);
    sim.stop().await;
}
