//! Shared set-up of the Mews integration tests: an in-process simulator, hotel configurations
//! pointing at it, credentials in an in-memory secret store, and helpers to shape its data.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pms_domain::config::HotelConfig;
use pms_domain::domain::HotelId;
use pms_domain::memory::MemorySecrets;
use pms_domain::ports::{CachedSecrets, Clock, ItemStore, SecretStore, SystemClock};
use pms_mews::credentials::MewsCredentials;
use pms_mews::MewsAdapter;
use pms_sim::data::SimReservation;
use pms_sim::{PropertySetup, SimConfig, SimHotel, SimStatus, Simulator};
use pms_vendor_kit::pms::{credentials_secret_name, AdapterDeps};
use secrecy::SecretString;
use serde_json::json;

pub const PREFIX: &str = "pms/test";
pub const HONOLULU: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
pub const AUCKLAND: &str = "4d0201db-36f5-428b-8d11-4f0a65e960cc";
pub const NEW_YORK: &str = "851df8c8-90f2-4c4a-8e01-a4fc46b25178";

fn creds(client: &str, access: &str, service: &str) -> BTreeMap<String, String> {
    [
        ("clientToken", client),
        ("accessToken", access),
        ("serviceId", service),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The default simulator plus an Auckland and a New York enterprise (each with its own token).
pub fn sim_config() -> SimConfig {
    let mut config = pms_sim::default_config();
    let mews = config.properties.entry(pms_mews::PROVIDER).or_default();
    mews.push(PropertySetup {
        property_id: AUCKLAND.into(),
        time_zone: chrono_tz::Pacific::Auckland,
        currency: "NZD".into(),
        currency_exponent: 2,
        credentials: creds(
            "sim-mews-client-token",
            "sim-mews-access-token-akl",
            "8c1bd738-a505-4b29-aa71-9ecc2982b843",
        ),
    });
    mews.push(PropertySetup {
        property_id: NEW_YORK.into(),
        time_zone: chrono_tz::America::New_York,
        currency: "USD".into(),
        currency_exponent: 2,
        credentials: creds(
            "sim-mews-client-token",
            "sim-mews-access-token-nyc",
            "2b9b0143-3135-485b-8064-76c90d1be69e",
        ),
    });
    config
}

pub struct MewsEnv {
    pub sim: Simulator,
    pub secrets: Arc<MemorySecrets>,
    pub cached: Arc<CachedSecrets>,
    pub clock: Arc<dyn Clock>,
}

impl MewsEnv {
    pub async fn start(config: SimConfig) -> MewsEnv {
        let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator");
        let secrets = Arc::new(MemorySecrets::new());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cached = Arc::new(CachedSecrets::new(
            secrets.clone(),
            clock.clone(),
            chrono::Duration::minutes(5),
        ));
        MewsEnv {
            sim,
            secrets,
            cached,
            clock,
        }
    }

    pub async fn default() -> MewsEnv {
        Self::start(sim_config()).await
    }

    pub fn property(&self, id: &str) -> PropertySetup {
        self.sim
            .context
            .property(pms_mews::PROVIDER, id)
            .cloned()
            .expect("property")
    }

    pub fn hotel_id(property: &str) -> HotelId {
        HotelId::parse(format!("mews-{}", &property[..8])).unwrap()
    }

    /// A hotel configured for `property` on this simulator, with fast retries.
    pub fn config(&self, property: &str) -> HotelConfig {
        let p = self.property(property);
        let now = Utc::now();
        serde_json::from_value(json!({
            "hotelId": Self::hotel_id(property).as_str(),
            "name": "Mews test hotel",
            "provider": "mews",
            "timeZone": p.time_zone.name(),
            "currency": p.currency,
            "enabled": true,
            "vendor": {
                "baseUrl": self.sim.vendor_url(pms_mews::PROVIDER),
                "propertyId": p.property_id,
                "serviceId": p.credentials["serviceId"],
                "defaultRevenueCenter": "90eff5aa-36b4-4689-80c0-ab3a00bb412e",
                "taxCode": "US-HI-G",
            },
            "retry": {"maxAttempts": 3, "initialDelay": 20, "maxDelay": 100, "jitter": false},
            "rateLimit": null,
            "createdAt": now,
            "updatedAt": now,
        }))
        .expect("hotel config")
    }

    pub fn secret_name(&self, property: &str) -> String {
        credentials_secret_name(PREFIX, &Self::hotel_id(property))
    }

    /// Stores the property's credentials (or others) as the hotel's secret.
    pub async fn store_credentials(&self, property: &str, client: &str, access: &str) {
        let pairs = vec![
            (
                "clientToken".to_owned(),
                SecretString::from(client.to_owned()),
            ),
            (
                "accessToken".to_owned(),
                SecretString::from(access.to_owned()),
            ),
            (
                "client".to_owned(),
                SecretString::from("pms-integration tests".to_owned()),
            ),
        ];
        let c = pms_mews::vendor()
            .credentials_from_pairs(&pairs)
            .unwrap()
            .unwrap();
        self.secrets
            .put(&self.secret_name(property), &c)
            .await
            .unwrap();
        self.cached.invalidate(&self.secret_name(property)).await;
    }

    pub async fn store_own_credentials(&self, property: &str) {
        let p = self.property(property);
        self.store_credentials(
            property,
            &p.credentials["clientToken"],
            &p.credentials["accessToken"],
        )
        .await;
    }

    pub fn deps(&self, property: &str, store: Option<Arc<dyn ItemStore>>) -> AdapterDeps {
        AdapterDeps {
            clock: self.clock.clone(),
            store,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap(),
            secrets: self.cached.clone(),
            credentials_secret: self.secret_name(property),
            retry_override: None,
            priority: Default::default(),
            stored: None,
        }
    }

    /// An adapter for `property` built directly (for page-size and limiter variants).
    pub async fn adapter_with(
        &self,
        config: &HotelConfig,
        store: Option<Arc<dyn ItemStore>>,
    ) -> MewsAdapter {
        let property = config.vendor.property_id.clone().unwrap();
        let secret = self
            .cached
            .get(&self.secret_name(&property))
            .await
            .unwrap()
            .expect("credentials stored");
        let credentials = MewsCredentials::parse(&secret).unwrap();
        MewsAdapter::new(config, credentials, &self.deps(&property, store)).unwrap()
    }

    pub async fn adapter(&self, property: &str) -> MewsAdapter {
        self.store_own_credentials(property).await;
        self.adapter_with(&self.config(property), None).await
    }

    pub fn hotel(&self, property: &str) -> SimHotel {
        self.sim
            .context
            .with_hotel(pms_mews::PROVIDER, property, |h| h.clone())
            .unwrap()
    }

    pub fn with_hotel<R>(&self, property: &str, f: impl FnOnce(&mut SimHotel) -> R) -> R {
        self.sim
            .context
            .with_hotel(pms_mews::PROVIDER, property, f)
            .unwrap()
    }

    pub fn calls(&self, operation: &str) -> u64 {
        self.sim.context.counters()[&pms_mews::PROVIDER]
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn captured(&self, operation: &str) -> Vec<serde_json::Value> {
        self.sim
            .context
            .state::<pms_mews::sim::State>()
            .captured()
            .into_iter()
            .filter(|r| r.operation() == operation)
            .map(|r| r.json())
            .collect()
    }
}

/// A reservation for the simulated hotel, `created` minutes ago.
#[allow(clippy::too_many_arguments)]
pub fn reservation(
    h: &SimHotel,
    confirmation: &str,
    guest: usize,
    room: Option<usize>,
    arrival: NaiveDate,
    departure: NaiveDate,
    status: SimStatus,
    updated_at: DateTime<Utc>,
) -> SimReservation {
    SimReservation {
        id: uuid::Uuid::new_v4().to_string(),
        confirmation: confirmation.into(),
        guest_id: h.guests[guest].id.clone(),
        room_id: room.map(|r| h.rooms[r].id.clone()),
        room_type: room
            .map(|r| h.rooms[r].room_type.clone())
            .unwrap_or_else(|| "KING".into()),
        arrival,
        departure,
        arrival_time: NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
        departure_time: NaiveTime::from_hms_opt(11, 0, 0).unwrap(),
        status,
        raw_status: None,
        adults: 2,
        children: 1,
        rate_code: "BAR".into(),
        nightly_rate_minor: 20_000,
        payments_minor: 0,
        notes: vec![],
        special_requests: vec![],
        created_at: updated_at - chrono::Duration::days(10),
        updated_at,
    }
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
