//! Shared setup of the Cloudbeds integration tests: a simulator in process, a hotel configured
//! for one of its properties, and the adapter built the way the factory builds it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use chrono_tz::Tz;
use pms_cloudbeds::credentials::CloudbedsCredentials;
use pms_cloudbeds::CloudbedsAdapter;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz};
use pms_domain::memory::MemorySecrets;
use pms_domain::pms::{PmsAdapter, RetrySettings};
use pms_domain::ports::{CachedSecrets, Clock, SecretStore, SystemClock};
use pms_sim::{PropertySetup, SimConfig, Simulator};
use pms_vendor_kit::pms::AdapterDeps;
use secrecy::SecretString;

pub const PROPERTY: &str = "318267";
pub const API_KEY: &str = "cbat_simulator_key_318267";

pub async fn simulator(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// A simulator whose Cloudbeds properties are these (id, zone, api key).
pub fn config_with(properties: &[(&str, Tz, &str)]) -> SimConfig {
    let mut config = pms_sim::default_config();
    config.properties.insert(
        pms_cloudbeds::PROVIDER,
        properties
            .iter()
            .map(|(id, tz, key)| PropertySetup {
                property_id: (*id).into(),
                time_zone: *tz,
                currency: "USD".into(),
                currency_exponent: 2,
                credentials: BTreeMap::from([("apiKey".to_owned(), (*key).to_owned())]),
            })
            .collect(),
    );
    config
}

/// Short retry delays so fault tests stay fast.
pub fn fast_retry() -> RetrySettings {
    RetrySettings {
        initial_delay: 20,
        max_delay: 200,
        ..RetrySettings::default()
    }
}

pub fn hotel_config(sim: &Simulator, property: &str, tz: &str) -> HotelConfig {
    let mut c = HotelConfig::new(
        HotelId::parse(format!("cb-{property}")).unwrap(),
        "Cloudbeds test hotel",
        pms_cloudbeds::PROVIDER,
        PropertyTz::parse(tz).unwrap(),
        Currency::usd(),
        Utc::now(),
    );
    c.rate_limit = pms_cloudbeds::vendor().default_rate_limit();
    c.vendor.base_url = Some(sim.vendor_url(pms_cloudbeds::PROVIDER).parse().unwrap());
    c.vendor.property_id = Some(property.into());
    c.vendor.default_revenue_center = Some("Guest services".into());
    c.retry = fast_retry();
    c.validate().unwrap();
    c
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// What the factory would give a Cloudbeds adapter: no shared table (the rate limit is then
/// this process's), in-memory secrets holding the key under `secret_name`.
pub async fn deps(api_key: &str) -> (AdapterDeps, Arc<MemorySecrets>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let inner = Arc::new(MemorySecrets::new());
    let name = "pms/test/hotels/cb/pms".to_owned();
    let creds = CloudbedsCredentials {
        api_key: SecretString::from(api_key.to_owned()),
    };
    inner.put(&name, &creds.to_secret()).await.unwrap();
    let secrets = Arc::new(CachedSecrets::new(
        inner.clone(),
        clock.clone(),
        chrono::Duration::minutes(5),
    ));
    (
        AdapterDeps {
            clock,
            store: None,
            http: http(),
            secrets,
            credentials_secret: name,
            retry_override: None,
            priority: Default::default(),
            stored: None,
        },
        inner,
    )
}

pub async fn adapter_for(config: &HotelConfig, api_key: &str) -> Arc<dyn PmsAdapter> {
    let (deps, _) = deps(api_key).await;
    let creds = CloudbedsCredentials {
        api_key: SecretString::from(api_key.to_owned()),
    };
    Arc::new(CloudbedsAdapter::new(config, creds, &deps).unwrap())
}

/// The default simulator's Cloudbeds hotel (New York) and its adapter.
pub async fn default_hotel() -> (Simulator, HotelConfig, Arc<dyn PmsAdapter>) {
    let sim = simulator(pms_sim::default_config()).await;
    let config = hotel_config(&sim, PROPERTY, "America/New_York");
    let adapter = adapter_for(&config, API_KEY).await;
    (sim, config, adapter)
}

/// Calls the simulator counted for one Cloudbeds endpoint.
pub async fn calls(sim: &Simulator, endpoint: &str) -> u64 {
    let c = sim.admin().counters().await.unwrap();
    c[&pms_cloudbeds::PROVIDER]
        .calls
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

pub async fn counters(sim: &Simulator) -> pms_sim::VendorCounters {
    sim.admin().counters().await.unwrap()[&pms_cloudbeds::PROVIDER].clone()
}
