//! The graphql function over a [`TestStack`]: its real handler, in-process, on moto, with a
//! manual clock (cache TTLs without sleeping) and a store that counts what reaches moto.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request};
use pms_app::names::ResourceNames;
use pms_app::reads::PartnerReads;
use pms_app::registry::{HotelRegistry, Scope};
use pms_app::runtime::Services;
use pms_app::subscriptions::{PartnerSubscriptions, TargetPolicy};
use pms_app::writes::PartnerWrites;
use pms_aws::{DynamoStore, EventBridgeBus, SecretsManagerStore, SqsQueue};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider};
use pms_domain::ports::{Clock, ItemStore, ManualClock};
use pms_graphql::GraphqlApp;
use pms_testkit::counting::CountingStore;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::TestStack;

/// The read deadline of the harness's GraphQL app (production: `reads::READ_DEADLINE`).
pub const HARNESS_READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

pub struct GraphqlStack {
    pub stack: TestStack,
    pub clock: Arc<ManualClock>,
    /// Every store operation of the function and of the seeding helpers goes through it.
    pub store: Arc<CountingStore>,
    pub services: Services,
    pub app: GraphqlApp,
}

/// A response: status and JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// `extensions.code` of every error, in order.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errs| {
                errs.iter()
                    .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
}

impl GraphqlStack {
    pub async fn new() -> Self {
        Self::starting_at(Utc::now()).await
    }

    pub async fn starting_at(now: DateTime<Utc>) -> Self {
        let stack = TestStack::new().await;
        let env = stack.outputs.env.clone();
        let names = ResourceNames::from_lookup(|k| env.get(k).cloned()).expect("env contract");
        let clock = Arc::new(ManualClock::new(now));
        let cfg = &stack.sdk_config;
        let store = Arc::new(CountingStore::new(Arc::new(DynamoStore::from_config(
            cfg,
            &names.table,
            clock.clone(),
        ))));
        let services = Services::from_parts(
            names.clone(),
            clock.clone(),
            store.clone(),
            Arc::new(SqsQueue::from_config(cfg)),
            Arc::new(SecretsManagerStore::from_config(cfg)),
            Arc::new(EventBridgeBus::from_config(cfg, &names.event_bus)),
        )
        .with_vendors(pms_vendors::all());
        // These tests are about the API's semantics under a manual clock; the 4 s read deadline
        // is tested in graphql_pms. On a loaded 2-core CI machine the stack's own moto reads
        // can eat 4 s, which would turn a fresh read into a silent PMS_UNAVAILABLE.
        // Subscription URLs as this stack's functions would check them (moto on loopback:
        // loopback receivers allowed).
        let policy = TargetPolicy::for_endpoint(Some(&stack.endpoint));
        let app = GraphqlApp::new(
            PartnerReads::from_services(&services).with_deadline(HARNESS_READ_DEADLINE),
            PartnerWrites::from_services(&services),
            PartnerSubscriptions::from_services(&services, policy),
            services.tokens.clone(),
        );
        Self {
            stack,
            clock,
            store,
            services,
            app,
        }
    }

    pub fn item_store(&self) -> Arc<dyn ItemStore> {
        self.store.clone()
    }

    /// A mock-provider hotel with a unique id (the mock PMS is shared per hotel id within a
    /// process).
    pub async fn add_hotel(&self, tag: &str, time_zone: &str) -> HotelId {
        let id = HotelId::parse(format!(
            "{tag}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))
        .expect("hotel id");
        let config = HotelConfig::new(
            id.clone(),
            format!("Hotel {tag}"),
            Provider::named("mock"),
            PropertyTz::parse(time_zone).expect("zone"),
            Currency::eur(),
            self.clock.now(),
        );
        HotelRegistry::new(self.item_store())
            .create(&config)
            .await
            .expect("hotel created");
        id
    }

    /// A partner token (plain text) for these hotels.
    pub async fn token(&self, hotels: &[&HotelId], scopes: &[Scope]) -> String {
        let (plain, _) = self
            .services
            .tokens
            .create(
                hotels.iter().map(|h| (*h).clone()).collect(),
                scopes.to_vec(),
                "integration test",
            )
            .await
            .expect("token created");
        plain.expose_secret().to_owned()
    }

    pub async fn post_raw(&self, token: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = Request::new(Body::Binary(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = "/graphql".parse().expect("uri");
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().expect("h"));
        if let Some(t) = token {
            req.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {t}").parse().expect("h"),
            );
        }
        let resp = self.app.handle(req).await;
        let status = resp.status();
        let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
        Reply { status, body }
    }

    pub async fn query(&self, token: &str, query: &str, variables: Value) -> Reply {
        let body = json!({"query": query, "variables": variables});
        self.post_raw(Some(token), serde_json::to_vec(&body).expect("json"))
            .await
    }
}
