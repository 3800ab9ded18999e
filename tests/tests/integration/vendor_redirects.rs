//! Vendor calls and redirects: each vendor's adapter, built by the factory the functions use,
//! against a loopback "PMS" that answers every request with a redirect to a second loopback
//! server, which records what reaches it. Credentials travel in headers (OHIP, Cloudbeds) and
//! in bodies (Mews); none may reach the second server.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::Utc;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider};
use pms_domain::memory::MemorySecrets;
use pms_domain::pms::PmsError;
use pms_domain::ports::{CachedSecrets, Clock, SecretStore, SystemClock};
use pms_tests::default_factory;
use pms_vendor_kit::pms::credentials_secret_name;
use secrecy::SecretString;

/// What reached the redirect's target: each request's path, headers and body, as text.
type Seen = Arc<Mutex<Vec<String>>>;

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// The target of the redirects: records everything and answers 200.
async fn recorder() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let router = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        async move {
            let headers: Vec<String> = headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
                .collect();
            log.lock().unwrap().push(format!(
                "{uri}\n{}\n{}",
                headers.join("\n"),
                String::from_utf8_lossy(&body)
            ));
            (StatusCode::OK, "{}")
        }
    });
    (serve(router).await, seen)
}

/// The hotel's "PMS": every request is redirected to `target`, path and query kept. 307 keeps
/// the method and the body, the worst case for credentials in bodies.
async fn redirector(target: String) -> String {
    let router = axum::Router::new().fallback(move |uri: Uri| {
        let target = target.clone();
        async move {
            let path = uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", format!("{target}{path}"))],
            )
                .into_response()
        }
    });
    serve(router).await
}

fn credentials(provider: Provider) -> SecretString {
    let pairs: Vec<(String, SecretString)> = match provider.as_str() {
        "opera" => vec![
            ("clientId", "client-id-CRED"),
            ("clientSecret", "client-secret-CRED"),
            ("appKey", "app-key-CRED"),
        ],
        "mews" => vec![
            ("clientToken", "client-token-CRED"),
            ("accessToken", "access-token-CRED"),
        ],
        _ => vec![("apiKey", "cbat_api-key-CRED")],
    }
    .into_iter()
    .map(|(k, v)| (k.to_owned(), SecretString::from(v.to_owned())))
    .collect();
    pms_vendors::all()
        .get(provider)
        .expect("a registered vendor")
        .credentials_from_pairs(&pairs)
        .expect("credentials")
        .expect("a vendor with credentials")
}

#[tokio::test]
async fn vendor_calls_never_follow_a_redirect_with_credentials() {
    let (target, seen) = recorder().await;
    let pms = redirector(target).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let inner: Arc<dyn SecretStore> = Arc::new(MemorySecrets::new());
    let secrets = Arc::new(CachedSecrets::new(
        inner.clone(),
        clock.clone(),
        chrono::Duration::minutes(5),
    ));
    let factory = default_factory(secrets, clock, "pms/t");
    for provider in [
        Provider::named("opera"),
        Provider::named("mews"),
        Provider::named("cloudbeds"),
    ] {
        let hotel = HotelId::parse(format!("redirect-{provider}")).expect("hotel");
        let mut config = HotelConfig::new(
            hotel.clone(),
            "Redirects",
            provider,
            PropertyTz::parse("Europe/Prague").expect("tz"),
            Currency::eur(),
            Utc::now(),
        );
        config.rate_limit = pms_vendors::all()
            .get(provider)
            .and_then(|v| v.default_rate_limit());
        config.vendor.base_url = Some(pms.parse().expect("url"));
        config.vendor.property_id = Some("P1".into());
        config.vendor.service_id = Some("S1".into());
        config.validate().expect("a valid configuration");
        inner
            .put(
                &credentials_secret_name("pms/t", &hotel),
                &credentials(provider),
            )
            .await
            .expect("credentials stored");
        let adapter = factory.adapter_for(&config).await.expect("adapter");
        let err = adapter
            .room_statuses()
            .await
            .expect_err("a redirect is not an answer");
        assert!(
            matches!(
                err,
                PmsError::InvalidRequest {
                    status: Some(307),
                    ..
                }
            ),
            "{provider}: {err:?}"
        );
        assert!(err.to_string().contains("redirect"), "{provider}: {err}");
        assert!(!err.is_retryable(), "{provider}: a redirect is not retried");
    }
    let leaked = seen.lock().unwrap().clone();
    assert!(
        leaked.is_empty(),
        "requests reached the redirect's target:\n{}",
        leaked.join("\n---\n")
    );
}
