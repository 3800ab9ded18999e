//! Shared setup for the OHIP tests: a simulator, a hotel configured against it, the adapter.

#![allow(dead_code)]

pub mod contract;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz};
use pms_domain::memory::MemorySecrets;
use pms_domain::pms::RetrySettings;
use pms_domain::ports::{CachedSecrets, Clock, ItemStore, SystemClock};
use pms_opera::credentials::{OperaCredentials, OperaGrant};
use pms_opera::OhipAdapter;
use pms_sim::{PropertySetup, SimConfig, Simulator};
use pms_vendor_kit::pms::AdapterDeps;
use secrecy::SecretString;

pub const HOTEL: &str = "SIMOHIP";

pub async fn start(config: SimConfig) -> Simulator {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Simulator::start(config, addr).await.unwrap()
}

/// The default config with rate limits high enough for load tests.
pub fn roomy() -> SimConfig {
    let mut c = pms_sim::default_config();
    c.limits.set(pms_opera::PROVIDER, 1_000_000, 60_000);
    c
}

pub fn property(sim: &Simulator, id: &str) -> PropertySetup {
    sim.context
        .property(pms_opera::PROVIDER, id)
        .cloned()
        .expect("simulated property")
}

/// A hotel configured against the simulator, with short retry delays.
pub fn hotel_config(sim: &Simulator, p: &PropertySetup) -> HotelConfig {
    let mut c = HotelConfig::new(
        HotelId::parse(format!("h-{}", p.property_id.to_lowercase())).unwrap(),
        "Simulated OPERA hotel",
        pms_opera::PROVIDER,
        PropertyTz::parse(p.time_zone.name()).unwrap(),
        Currency::parse(&p.currency).unwrap(),
        Utc::now(),
    );
    c.rate_limit = pms_opera::vendor().default_rate_limit();
    c.vendor.base_url = Some(url::Url::parse(&sim.vendor_url(pms_opera::PROVIDER)).unwrap());
    c.vendor.property_id = Some(p.property_id.clone());
    c.vendor.external_system_code = p.credentials.get("externalSystemCode").cloned();
    c.vendor.default_revenue_center = Some("5016".into());
    c.retry = RetrySettings {
        initial_delay: 20,
        max_delay: 200,
        jitter: false,
        ..RetrySettings::default()
    };
    c
}

pub fn client_credentials(p: &PropertySetup) -> OperaCredentials {
    OperaCredentials {
        client_id: p.credentials["clientId"].clone(),
        client_secret: SecretString::from(p.credentials["clientSecret"].clone()),
        app_key: SecretString::from(p.credentials["appKey"].clone()),
        grant: OperaGrant::ClientCredentials {
            scope: "urn:opc:hgbu:ws:__myscopes__".into(),
            enterprise_id: None,
        },
    }
}

pub fn password_credentials(p: &PropertySetup) -> OperaCredentials {
    OperaCredentials {
        client_id: p.credentials["clientId"].clone(),
        client_secret: SecretString::from(p.credentials["clientSecret"].clone()),
        app_key: SecretString::from(p.credentials["appKey"].clone()),
        grant: OperaGrant::Password {
            username: p.credentials["username"].clone(),
            password: SecretString::from(p.credentials["password"].clone()),
        },
    }
}

pub fn deps(store: Option<Arc<dyn ItemStore>>) -> AdapterDeps {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    AdapterDeps {
        clock: clock.clone(),
        store,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap(),
        secrets: Arc::new(CachedSecrets::new(
            Arc::new(MemorySecrets::new()),
            clock,
            chrono::Duration::minutes(5),
        )),
        credentials_secret: "unused".into(),
        retry_override: None,
        priority: Default::default(),
        stored: None,
    }
}

pub fn adapter(config: &HotelConfig, credentials: OperaCredentials) -> OhipAdapter {
    OhipAdapter::from_config(config, credentials, &deps(None)).unwrap()
}

/// A simulator with the default OHIP property and an adapter for it.
pub async fn setup(config: SimConfig) -> (Simulator, HotelConfig, OhipAdapter) {
    let sim = start(config).await;
    let p = property(&sim, HOTEL);
    let config = hotel_config(&sim, &p);
    let adapter = adapter(&config, client_credentials(&p));
    (sim, config, adapter)
}

pub fn counters(sim: &Simulator) -> pms_sim::VendorCounters {
    sim.context.counters()[&pms_opera::PROVIDER].clone()
}
