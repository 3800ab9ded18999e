//! A Cloudbeds hotel built by the factory: credentials come from Secrets Manager (moto's server
//! when `PMS_TEST_AWS_ENDPOINT` is set, the in-memory twin otherwise), the adapter talks to the
//! simulator, and the API key never reaches a log line, an error or a Debug string.

use crate::cloudbeds_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::vendor_factory;
use cloudbeds_support::*;
use pms_cloudbeds::credentials::CloudbedsCredentials;
use pms_domain::memory::MemorySecrets;
use pms_domain::pms::PmsError;
use pms_domain::ports::{CachedSecrets, SecretStore, SystemClock};
use secrecy::SecretString;

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn secret_store() -> Arc<dyn SecretStore> {
    match std::env::var("PMS_TEST_AWS_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(aws_config::Region::new("us-east-1"))
                .test_credentials()
                .load()
                .await;
            Arc::new(pms_aws::SecretsManagerStore::from_config(&config))
        }
        _ => {
            eprintln!("PMS_TEST_AWS_ENDPOINT is not set: using the in-memory secret store");
            Arc::new(MemorySecrets::new())
        }
    }
}

#[tokio::test]
async fn the_factory_builds_cloudbeds_from_the_secret_and_never_logs_the_key() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = simulator(pms_sim::default_config()).await;
    let mut config = hotel_config(&sim, PROPERTY, "America/New_York");
    let prefix = format!("pms/cbtest-{}", uuid::Uuid::new_v4().simple());
    let store = secret_store().await;
    let name = format!("{prefix}/hotels/{}/pms", config.hotel_id);
    // First a wrong key, so a refused call and its handling are logged too.
    let wrong = "cbat_WRONG_SECRET_0001";
    store
        .put(
            &name,
            &CloudbedsCredentials {
                api_key: SecretString::from(wrong.to_owned()),
            }
            .to_secret(),
        )
        .await
        .unwrap();
    let clock = Arc::new(SystemClock);
    let secrets = Arc::new(CachedSecrets::new(
        store.clone(),
        clock.clone(),
        chrono::Duration::minutes(5),
    ));
    let factory = vendor_factory(secrets, clock, &prefix).with_http(http());

    let adapter = factory
        .adapter_for(&config)
        .await
        .expect("registered builder");
    assert_eq!(adapter.provider(), pms_cloudbeds::PROVIDER);
    let err = adapter.in_house().await.unwrap_err();
    assert!(matches!(err, PmsError::Unauthorized { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(wrong));

    // Rotate the secret; the adapter re-reads it after the next 401 and goes on.
    store
        .put(
            &name,
            &CloudbedsCredentials {
                api_key: SecretString::from(API_KEY.to_owned()),
            }
            .to_secret(),
        )
        .await
        .unwrap();
    let in_house = adapter.in_house().await.expect("the rotated key is used");
    assert!(!in_house.items.is_empty());

    // A configuration change rebuilds the adapter from the secret.
    config.updated_at = chrono::Utc::now();
    let rebuilt = factory.adapter_for(&config).await.unwrap();
    assert!(rebuilt.health_check().await.healthy);

    let creds = CloudbedsCredentials::parse(&store.get(&name).await.unwrap().unwrap()).unwrap();
    assert!(!format!("{creds:?}").contains(API_KEY));
    drop(_guard);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text.is_empty(), "the calls were logged at some level");
    assert!(!text.contains(API_KEY), "the key is in the logs");
    assert!(!text.contains(wrong), "the old key is in the logs");
    sim.stop().await;
}

#[tokio::test]
async fn missing_or_foreign_credentials_are_configuration_errors() {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let store: Arc<dyn SecretStore> = Arc::new(MemorySecrets::new());
    let clock = Arc::new(SystemClock);
    let secrets = Arc::new(CachedSecrets::new(
        store.clone(),
        clock.clone(),
        chrono::Duration::minutes(5),
    ));
    let factory = vendor_factory(secrets.clone(), clock, "pms/t").with_http(http());
    let err = factory.adapter_for(&config).await.err().unwrap();
    assert!(matches!(err, PmsError::Configuration { .. }), "{err:?}");

    let name = format!("pms/t/hotels/{}/pms", config.hotel_id);
    store
        .put(
            &name,
            &SecretString::from(
                r#"{"provider":"mews","clientToken":"a","accessToken":"b"}"#.to_owned(),
            ),
        )
        .await
        .unwrap();
    secrets.invalidate(&name).await;
    let err = factory.adapter_for(&config).await.err().unwrap();
    assert!(
        err.to_string().contains("credentials are for mews"),
        "{err}"
    );

    // No property id: refused at build, not at the first call.
    store
        .put(
            &name,
            &CloudbedsCredentials {
                api_key: SecretString::from(API_KEY.to_owned()),
            }
            .to_secret(),
        )
        .await
        .unwrap();
    secrets.invalidate(&name).await;
    let mut no_property = config.clone();
    no_property.vendor.property_id = None;
    let err = factory.adapter_for(&no_property).await.err().unwrap();
    assert!(err.to_string().contains("propertyId"), "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn the_rate_budget_is_the_propertys_in_the_shared_table() {
    use pms_cloudbeds::CloudbedsAdapter;
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::{ItemStore, KeyCondition, Partition, Query};

    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let (mut deps, _) = deps(API_KEY).await;
    let store = Arc::new(MemoryStore::new(deps.clock.clone()));
    deps.store = Some(store.clone());
    let adapter = CloudbedsAdapter::new(
        &config,
        CloudbedsCredentials {
            api_key: SecretString::from(API_KEY.to_owned()),
        },
        &deps,
    )
    .unwrap();
    use pms_domain::pms::PmsAdapter;
    for _ in 0..3 {
        adapter.room_statuses().await.unwrap();
    }
    let slots = store
        .query_all(&Query::primary(
            Partition::Hotel(config.hotel_id.clone()),
            KeyCondition::BeginsWith(format!("RATE#cloudbeds-{PROPERTY}#")),
        ))
        .await
        .unwrap();
    // One lease item for the property, its read cursor past the three permits spent.
    assert_eq!(slots.len(), 1, "{slots:?}");
    assert!(slots[0].key.sort.ends_with("#LEASE"), "{slots:?}");
    assert!(slots[0].data["r"].as_u64().unwrap() >= 3, "{slots:?}");
    assert!(slots.iter().all(|i| !i.key.sort.contains(API_KEY)));
    assert_eq!(counters(&sim).await.rate_limit_violations, 0);
    sim.stop().await;
}
