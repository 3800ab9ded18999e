//! Contract tests: every request the Cloudbeds adapter sends is checked against the official
//! v1.3 operation definitions (`testdata/pms-v1.3-excerpt.json`): method, path,
//! auth and property headers, parameter names and value types, form body encoding. The server
//! here captures requests and answers with the schema-built fixtures, which must map.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use pms_cloudbeds::credentials::CloudbedsCredentials;
use pms_cloudbeds::CloudbedsAdapter;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{
    BusinessDate, Charge, CheckoutChange, ConfirmationNumber, Currency, ExternalId, GuestQuery,
    HotelId, Housekeeping, Money, Note, PropertyTz, ReservationStatus,
};
use pms_domain::memory::MemorySecrets;
use pms_domain::pms::{ChangeWindow, PmsAdapter, RetrySettings};
use pms_domain::ports::{CachedSecrets, SystemClock};
use pms_testkit::oas::{check_form, check_query};
use pms_vendor_kit::pms::AdapterDeps;
use secrecy::SecretString;
use serde_json::Value;

const EXCERPT: &str = include_str!("../../testdata/pms-v1.3-excerpt.json");
const KEY: &str = "cbat_contract_key";
const PROPERTY: &str = "318267";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../testdata/responses/", $name))
    };
}

#[derive(Clone, Debug)]
struct Captured {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
    headers: HeaderMap,
}

/// A scripted answer: status, Retry-After, body.
type Scripted = (StatusCode, Option<&'static str>, &'static str);

#[derive(Default)]
struct Server {
    captured: Mutex<Vec<Captured>>,
    /// Canned answers by endpoint name.
    answers: HashMap<&'static str, &'static str>,
    /// Answers to give first, by endpoint: status, Retry-After, body.
    script: Mutex<HashMap<&'static str, VecDeque<Scripted>>>,
}

fn pairs(text: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{text}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn capture(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = String::from_utf8_lossy(&body).into_owned();
    let endpoint = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    server.captured.lock().unwrap().push(Captured {
        method,
        path: uri.path().to_owned(),
        query: pairs(uri.query().unwrap_or("")),
        content_type,
        form: if body.is_empty() {
            vec![]
        } else {
            pairs(&body)
        },
        headers,
    });
    let scripted = server
        .script
        .lock()
        .unwrap()
        .get_mut(endpoint.as_str())
        .and_then(VecDeque::pop_front);
    let (status, retry_after, body) = match scripted {
        Some(s) => s,
        None => match server.answers.get(endpoint.as_str()) {
            Some(b) => (StatusCode::OK, None, *b),
            None => (StatusCode::NOT_FOUND, None, "{}"),
        },
    };
    let mut response = (
        status,
        [("content-type", "application/json")],
        body.to_owned(),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-request-id", "contract-req-1".parse().unwrap());
    if let Some(r) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", r.parse().unwrap());
    }
    response
}

async fn start(server: Server) -> (SocketAddr, Arc<Server>) {
    let server = Arc::new(server);
    let app = Router::new().fallback(capture).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, server)
}

fn answers() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        (
            "getReservation",
            fixture!("getReservation.from-schema.json"),
        ),
        (
            "getReservations",
            fixture!("getReservations.from-schema.json"),
        ),
        (
            "getReservationsWithRateDetails",
            fixture!("getReservationsWithRateDetails.from-schema.json"),
        ),
        ("getGuest", fixture!("getGuest.from-schema.json")),
        ("getGuestList", fixture!("getGuestList.from-schema.json")),
        (
            "getHousekeepingStatus",
            fixture!("getHousekeepingStatus.from-schema.json"),
        ),
        (
            "postReservationNote",
            fixture!("postReservationNote.from-schema.json"),
        ),
        (
            "postCustomItem",
            fixture!("postCustomItem.from-schema.json"),
        ),
        (
            "putReservation",
            fixture!("putReservation.from-schema.json"),
        ),
        ("getRatePlans", fixture!("getRatePlans.from-schema.json")),
    ])
}

async fn adapter(addr: SocketAddr, retry: RetrySettings) -> Arc<dyn PmsAdapter> {
    adapter_paced(addr, retry, true).await
}

/// `paced: false`: without the property's rate limit (5/s, of which reads get about two slots
/// a second), for tests that time the retry policy alone.
async fn adapter_paced(addr: SocketAddr, retry: RetrySettings, paced: bool) -> Arc<dyn PmsAdapter> {
    let mut config = HotelConfig::new(
        HotelId::parse("contract").unwrap(),
        "Contract hotel",
        pms_cloudbeds::PROVIDER,
        PropertyTz::parse("America/New_York").unwrap(),
        Currency::usd(),
        Utc::now(),
    );
    config.rate_limit = pms_cloudbeds::vendor().default_rate_limit();
    // The API root as configured for production, minus the host: a path without a trailing /.
    config.vendor.base_url = Some(format!("http://{addr}/api/v1.3").parse().unwrap());
    config.vendor.property_id = Some(PROPERTY.into());
    config.vendor.default_revenue_center = Some("F&B".into());
    config.retry = retry;
    if !paced {
        config.rate_limit = None;
    }
    let clock = Arc::new(SystemClock);
    let deps = AdapterDeps {
        clock: clock.clone(),
        store: None,
        http: reqwest::Client::new(),
        secrets: Arc::new(CachedSecrets::new(
            Arc::new(MemorySecrets::new()),
            clock,
            chrono::Duration::minutes(5),
        )),
        credentials_secret: String::new(),
        retry_override: None,
        priority: Default::default(),
        stored: None,
    };
    let creds = CloudbedsCredentials {
        api_key: SecretString::from(KEY.to_owned()),
    };
    Arc::new(CloudbedsAdapter::new(&config, creds, &deps).unwrap())
}

fn fast() -> RetrySettings {
    RetrySettings {
        initial_delay: 20,
        max_delay: 100,
        ..RetrySettings::default()
    }
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks one captured request against its operation in the spec excerpt.
fn check(spec: &Value, c: &Captured) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(name) = c.path.strip_prefix("/api/v1.3/") else {
        return vec![format!("{}: not under the API root", c.path)];
    };
    let Some(op) = spec["operations"].get(format!("/{name}")) else {
        return vec![format!("{name}: not an operation of the spec excerpt")];
    };
    let at = |p: String| format!("{name}: {p}");
    if op["method"] != c.method.as_str() {
        problems.push(at(format!(
            "sent as {}, the spec says {}",
            c.method, op["method"]
        )));
    }
    // Auth as the spec's security scheme says, and the property header the tech specs recommend.
    let key_header = spec["securitySchemes"]["api_key"]["name"].as_str().unwrap();
    assert_eq!(spec["securitySchemes"]["api_key"]["in"], "header");
    if c.headers.get(key_header).and_then(|v| v.to_str().ok()) != Some(KEY) {
        problems.push(at(format!("{key_header} header missing or wrong")));
    }
    if c.headers.get("x-property-id").and_then(|v| v.to_str().ok()) != Some(PROPERTY) {
        problems.push(at("X-PROPERTY-ID header missing or wrong".into()));
    }
    if c.headers.get("authorization").is_some() {
        problems.push(at("an Authorization header is sent with an API key".into()));
    }
    let security = op["security"].to_string();
    assert!(security.contains("api_key"), "{name} accepts API keys");
    let mut out = Vec::new();
    if c.method == Method::GET {
        check_query(op, &c.query, &mut out);
        if !c.form.is_empty() {
            out.push("a GET with a body".into());
        }
    } else {
        check_form(
            op,
            c.content_type.as_deref().unwrap_or(""),
            &c.form,
            &mut out,
        );
        if !c.query.is_empty() {
            out.push(format!("a {} with a query string", c.method));
        }
    }
    problems.extend(out.into_iter().map(at));
    problems
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn every_request_matches_the_spec_and_every_fixture_maps() {
    let (addr, server) = start(Server {
        answers: answers(),
        ..Default::default()
    })
    .await;
    let a = adapter(addr, fast()).await;
    let conf = ConfirmationNumber::parse("9837261524").unwrap();

    // Reads, each answered by its schema-built fixture, mapped.
    let r = a.get_reservation(&conf).await.unwrap().unwrap();
    assert_eq!(r.status, ReservationStatus::CheckedIn);
    assert_eq!(r.room_number.unwrap().as_str(), "204");
    assert_eq!(a.get_balance(&conf).await.unwrap().amount_minor, 21240);
    let day = BusinessDate::parse("2026-03-07").unwrap();
    let arrivals = a.arrivals(day).await.unwrap();
    assert_eq!(arrivals.items.len(), 1, "the other row arrives in November");
    assert!(arrivals.failures.is_empty());
    // The row lacks them; nothing is stored, so they are read from the rate-details list.
    assert_eq!(arrivals.items[0].total.unwrap().amount_minor, 61240);
    assert!(arrivals.items[0].expected_arrival_time.is_some());
    assert!(arrivals.items[0].not_carried.0.is_empty());
    a.departures(BusinessDate::parse("2026-03-10").unwrap())
        .await
        .unwrap();
    let in_house = a.in_house().await.unwrap();
    assert_eq!(in_house.items.len(), 1);
    let changed = a
        .reservations_changed(ChangeWindow {
            from: utc("2026-03-08T06:30:00Z"),
            to: utc("2026-03-08T07:30:00Z"),
        })
        .await
        .unwrap();
    assert_eq!(changed.items.len(), 2);
    let g = a
        .get_guest(&ExternalId::parse("52014").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.full_name(), "Aiko Tanaka");
    let found = a
        .search_guests(&GuestQuery {
            name: Some("Tanaka".into()),
            email: None,
            phone: Some("+1 646 555 0177".into()),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.to_string(), "cloudbeds:52015");
    let nights = a
        .availability(
            BusinessDate::parse("2026-03-07").unwrap(),
            BusinessDate::parse("2026-03-09").unwrap(),
        )
        .await
        .unwrap();
    let free: Vec<u32> = nights.iter().map(|n| n.available).collect();
    assert_eq!(free, [4, 1, 3, 0, 5, 2], "by date, then room type");
    let rooms = a.room_statuses().await.unwrap();
    assert_eq!(rooms.len(), 4);
    assert_eq!(rooms[2].housekeeping, Housekeeping::OutOfOrder);
    assert!(a.health_check().await.healthy);

    // Writes.
    let note = a
        .add_reservation_note(
            &conf,
            &Note {
                text: "Late arrival".into(),
                title: None,
                internal: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(note.vendor_id.as_deref(), Some("551902"));
    assert_eq!(note.request_id.as_deref(), Some("contract-req-1"));
    let receipt = a
        .post_charge(
            &conf,
            &Charge {
                amount: Money::new(2450, Currency::usd()),
                description: "Minibar".into(),
                revenue_center: None,
                reference: "op-7f3a".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(receipt.vendor_id.as_deref(), Some("90312277"));
    assert_eq!(receipt.reference, "op-7f3a");
    a.update_checkout(
        &conf,
        &CheckoutChange {
            date: BusinessDate::parse("2026-03-11").unwrap(),
            time: None,
        },
    )
    .await
    .unwrap();

    let spec: Value = serde_json::from_str(EXCERPT).unwrap();
    let captured = server.captured.lock().unwrap().clone();
    let mut seen: Vec<&str> = captured
        .iter()
        .map(|c| c.path.rsplit('/').next().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "getGuest",
            "getGuestList",
            "getHousekeepingStatus",
            "getRatePlans",
            "getReservation",
            "getReservations",
            "getReservationsWithRateDetails",
            "postCustomItem",
            "postReservationNote",
            "putReservation"
        ],
        "every operation the adapter uses was exercised"
    );
    let problems: Vec<String> = captured.iter().flat_map(|c| check(&spec, c)).collect();
    assert!(problems.is_empty(), "{problems:#?}");

    // Values the spec cannot check by type alone.
    let of = |endpoint: &str| -> Vec<&Captured> {
        captured
            .iter()
            .filter(|c| c.path.ends_with(&format!("/{endpoint}")))
            .collect()
    };
    for c in of("getReservations")
        .into_iter()
        .chain(of("getReservationsWithRateDetails"))
    {
        let size: u32 = value(&c.query, "pageSize").unwrap().parse().unwrap();
        assert!(size <= 100, "pageSize {size}");
        assert_eq!(value(&c.query, "propertyID"), Some(PROPERTY));
    }
    let lists = of("getReservations");
    let arrivals_q = &lists[0].query;
    assert_eq!(value(arrivals_q, "checkInFrom"), Some("2026-03-07"));
    assert_eq!(value(arrivals_q, "checkInTo"), Some("2026-03-07"));
    assert_eq!(value(arrivals_q, "includeAllRooms"), Some("true"));
    assert_eq!(value(arrivals_q, "includeGuestsDetails"), Some("true"));
    assert_eq!(value(arrivals_q, "pageNumber"), Some("1"));
    // The other reads are of the rate-details list, whose rows carry every field: the arrival
    // row's details by id, departures by check-out date, in-house by the statuses it excludes.
    let rated = of("getReservationsWithRateDetails");
    assert_eq!(value(&rated[0].query, "reservationID"), Some("9837261524"));
    assert_eq!(
        value(&rated[1].query, "reservationCheckOutFrom"),
        Some("2026-03-10")
    );
    assert_eq!(
        value(&rated[1].query, "reservationCheckOutTo"),
        Some("2026-03-10")
    );
    assert_eq!(
        value(&rated[2].query, "excludeStatuses"),
        Some("not_confirmed,confirmed,canceled,checked_out,no_show")
    );
    for c in &rated {
        assert_eq!(value(&c.query, "includeGuestsDetails"), Some("true"));
    }
    // The delta window in the hotel's local time: 06:30Z is 01:30 EST, 07:30Z is 03:30 EDT, and
    // the clocks moved an hour in between, so both ends are widened by it.
    let delta = rated
        .iter()
        .find(|c| value(&c.query, "modifiedFrom").is_some())
        .unwrap();
    assert_eq!(
        value(&delta.query, "modifiedFrom"),
        Some("2026-03-08 00:30:00")
    );
    assert_eq!(
        value(&delta.query, "modifiedTo"),
        Some("2026-03-08 04:30:00")
    );
    for c in of("getGuestList") {
        assert_eq!(value(&c.query, "propertyIDs"), Some(PROPERTY));
        assert_eq!(value(&c.query, "propertyID"), None);
    }
    assert_eq!(
        of("getGuestList").len(),
        4,
        "last/first name x phone/cell phone"
    );
    let rates = &of("getRatePlans")[0].query;
    assert_eq!(value(rates, "propertyIDs"), Some(PROPERTY));
    assert_eq!(value(rates, "startDate"), Some("2026-03-07"));
    // Check-out: the day after the last night.
    assert_eq!(value(rates, "endDate"), Some("2026-03-10"));
    assert_eq!(value(rates, "detailedRates"), Some("true"));
    let hk = of("getHousekeepingStatus");
    assert_eq!(value(&hk[0].query, "pageSize"), Some("5000"));
    let charge = &of("postCustomItem")[0].form;
    assert_eq!(value(charge, "reservationID"), Some("9837261524"));
    assert_eq!(value(charge, "referenceID"), Some("op-7f3a"));
    assert_eq!(value(charge, "items[0][itemName]"), Some("Minibar"));
    assert_eq!(value(charge, "items[0][itemPrice]"), Some("24.50"));
    assert_eq!(value(charge, "items[0][itemQuantity]"), Some("1"));
    assert_eq!(value(charge, "items[0][itemCategoryName]"), Some("F&B"));
    assert_eq!(value(charge, "itemPaid"), Some("false"));
    assert!(value(charge, "items[0][appItemID]").is_some_and(|v| v.starts_with("pms-")));
    let put = &of("putReservation")[0].form;
    assert_eq!(value(put, "checkoutDate"), Some("2026-03-11"));
    let note = &of("postReservationNote")[0].form;
    assert_eq!(value(note, "reservationNote"), Some("Late arrival"));
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_retries() {
    let mut script = HashMap::new();
    script.insert(
        "getGuest",
        VecDeque::from([(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            r#"{"success":false,"message":"Too many requests"}"#,
        )]),
    );
    script.insert(
        "getReservation",
        VecDeque::from([(
            StatusCode::TOO_MANY_REQUESTS,
            Some("1"),
            r#"{"success":false,"message":"Too many requests"}"#,
        )]),
    );
    let (addr, server) = start(Server {
        answers: answers(),
        script: Mutex::new(script),
        ..Default::default()
    })
    .await;
    // Unpaced: the property's rate limit alone spaces two reads by up to a second.
    let a = adapter_paced(addr, fast(), false).await;
    let started = std::time::Instant::now();
    let g = a
        .get_guest(&ExternalId::parse("52014").unwrap())
        .await
        .unwrap();
    assert!(g.is_some());
    // Without the header the policy's own backoff applies (20 ms here), not a guess of 1 s.
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    let started = std::time::Instant::now();
    a.get_reservation(&ConfirmationNumber::parse("9837261524").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(server.captured.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn the_official_http_200_error_is_a_typed_error_with_the_request_id() {
    let mut script = HashMap::new();
    script.insert(
        "getReservationsWithRateDetails",
        VecDeque::from([(
            StatusCode::OK,
            None,
            fixture!("error.http200.official.json"),
        )]),
    );
    let (addr, server) = start(Server {
        answers: answers(),
        script: Mutex::new(script),
        ..Default::default()
    })
    .await;
    let a = adapter(addr, fast()).await;
    let err = a.in_house().await.unwrap_err();
    match &err {
        pms_domain::pms::PmsError::Unauthorized {
            message,
            request_id,
        } => {
            assert_eq!(
                message,
                "User who approved this connection is not active anymore"
            );
            assert_eq!(request_id.as_deref(), Some("contract-req-1"));
        }
        other => panic!("{other:?}"),
    }
    // Not retried: a credentials problem is not transient.
    assert_eq!(server.captured.lock().unwrap().len(), 1);
}
