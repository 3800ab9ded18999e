//! Partner REST ingestion, end to end in process: API Gateway v2 events (from the committed
//! fixture) into the webhook function, against the table, bus and secrets on moto.

use crate::common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use common::{Harness, Ports, TestHotel};
use pms_app::registry::{IngestKeys, PartnerSystem, Scope};
use pms_domain::ports::{
    Clock, Condition, Item, ItemKey, ItemStore, KeyCondition, ManualClock, Page, Partition,
    PortError, PortResult, PutOutcome, Query, SecretStore, Service,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

/// A stay date (see [`pms_tests::fixture_day`]), as the REST body gives it.
fn day(offset: i64) -> String {
    pms_tests::fixture_day(offset).to_string()
}

fn booking(ext: &str, status: &str, version: u64) -> Value {
    json!({
        "externalId": ext,
        "status": status,
        "checkIn": day(0),
        "checkOut": day(2),
        "guest": {"externalId": "G-1", "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"},
        "roomType": "KING",
        "adults": 2,
        "total": {"amount": "450.00", "currency": "EUR"},
        "version": version
    })
}

async fn stored_bookings(h: &Harness, hotel: &TestHotel) -> usize {
    let q = Query::primary(
        Partition::Hotel(hotel.id.clone()),
        KeyCondition::BeginsWith("BOOKING#".into()),
    );
    h.services.store.query_all(&q).await.expect("query").len()
}

#[tokio::test]
async fn every_status_code_with_its_body() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let other = h.hotel(None, false).await;
    let path = format!("/v1/hotels/{}/bookings", hotel.id);
    let body = booking("BK-1", "confirmed", 1).to_string();
    let auth = format!("Bearer {}", hotel.token);
    let other_auth = format!("Bearer {}", other.token);
    let json_ct = ("content-type", "application/json");

    // 401: no token, a wrong one, no provider key, a wrong one, another hotel's key.
    let r = h.call("POST", &path, &[json_ct], Some(&body)).await;
    r.assert_problem(401, "UNAUTHENTICATED");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    let forged = format!("Bearer pms_0123456789abcdef_{}", "A".repeat(43));
    let r = h
        .call(
            "POST",
            &path,
            &[
                json_ct,
                ("authorization", &forged),
                ("x-provider-key", &hotel.provider_key),
            ],
            Some(&body),
        )
        .await;
    r.assert_problem(401, "UNAUTHENTICATED");
    let r = h
        .call(
            "POST",
            &path,
            &[json_ct, ("authorization", &auth)],
            Some(&body),
        )
        .await;
    r.assert_problem(401, "INVALID_PROVIDER_KEY");
    let r = h
        .call(
            "POST",
            &path,
            &[
                json_ct,
                ("authorization", &auth),
                ("x-provider-key", "pk_wrong"),
            ],
            Some(&body),
        )
        .await;
    r.assert_problem(401, "INVALID_PROVIDER_KEY");
    let r = h
        .call(
            "POST",
            &path,
            &[
                json_ct,
                ("authorization", &auth),
                ("x-provider-key", &other.provider_key),
            ],
            Some(&body),
        )
        .await;
    r.assert_problem(401, "INVALID_PROVIDER_KEY");
    // 403: a valid token of another hotel, and a token without the ingest scope.
    let r = h
        .call(
            "POST",
            &path,
            &[
                json_ct,
                ("authorization", &other_auth),
                ("x-provider-key", &hotel.provider_key),
            ],
            Some(&body),
        )
        .await;
    r.assert_problem(403, "FORBIDDEN_HOTEL");
    let (read_only, _) = h
        .services
        .tokens
        .create(
            vec![hotel.id.clone()],
            vec![pms_app::registry::Scope::Read],
            "ro",
        )
        .await
        .unwrap();
    let ro = format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&read_only)
    );
    let r = h
        .call(
            "POST",
            &path,
            &[
                json_ct,
                ("authorization", &ro),
                ("x-provider-key", &hotel.provider_key),
            ],
            Some(&body),
        )
        .await;
    r.assert_problem(403, "INSUFFICIENT_SCOPE");
    assert_eq!(
        stored_bookings(&h, &hotel).await,
        0,
        "nothing written without credentials"
    );

    let creds = [
        ("authorization", auth.as_str()),
        ("x-provider-key", hotel.provider_key.as_str()),
    ];
    // 415, 413, 400.
    let r = h
        .call(
            "POST",
            &path,
            &[creds[0], creds[1], ("content-type", "text/plain")],
            Some(&body),
        )
        .await;
    r.assert_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let big = json!({"externalId": "x", "notes": ["n".repeat(300 * 1024)]}).to_string();
    let r = h
        .call("POST", &path, &[creds[0], creds[1], json_ct], Some(&big))
        .await;
    r.assert_problem(413, "PAYLOAD_TOO_LARGE");
    let r = h
        .call(
            "POST",
            &path,
            &[creds[0], creds[1], json_ct],
            Some("{\"externalId\": "),
        )
        .await;
    r.assert_problem(400, "MALFORMED_JSON");
    let r = h
        .call(
            "POST",
            &path,
            &[
                creds[0],
                creds[1],
                json_ct,
                ("idempotency-key", "has space"),
            ],
            Some(&body),
        )
        .await;
    r.assert_problem(400, "INVALID_IDEMPOTENCY_KEY");

    // 422 naming the field.
    let cases = [
        ("checkOut", json!(day(0)), "checkOut", "INVALID_DATES"),
        ("status", json!("on_hold"), "status", "UNKNOWN_STATUS"),
        (
            "total",
            json!({"amount": "-5.00", "currency": "EUR"}),
            "total.amount",
            "NEGATIVE_AMOUNT",
        ),
        (
            "total",
            json!({"amount": "5.00", "currency": "EUX"}),
            "total.currency",
            "UNKNOWN_CURRENCY",
        ),
        ("checkIn", json!(20261201), "checkIn", "INVALID_TYPE"),
    ];
    for (field, value, path_name, code) in cases {
        let mut b = booking("BK-1", "confirmed", 1);
        b[field] = value;
        let r = h.push(&hotel, "bookings", &b, &[]).await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(
            r.field_errors(),
            [(path_name.to_owned(), code.to_owned())],
            "{field}"
        );
    }
    let r = h
        .push(
            &hotel,
            "bookings",
            &json!({"items": [booking("a", "confirmed", 1), {"status": "confirmed"}]}),
            &[],
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert!(r
        .field_errors()
        .contains(&("items[1].externalId".into(), "REQUIRED".into())));
    assert_eq!(
        stored_bookings(&h, &hotel).await,
        0,
        "an invalid batch writes nothing"
    );

    // 201 then 200.
    let r = h
        .push(&hotel, "bookings", &booking("BK-1", "confirmed", 1), &[])
        .await;
    assert_eq!(r.status, 201, "{:#}", r.json);
    assert_eq!(r.json["id"], "partner:acme:BK-1");
    assert_eq!(r.json["applied"], true);
    let r = h
        .push(&hotel, "bookings", &booking("BK-1", "confirmed", 1), &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.json["applied"].clone(), r.json["reason"].clone()),
        (json!(false), json!("unchanged"))
    );

    // 404, 405.
    let r = h
        .call("POST", &format!("/v1/hotels/{}/rooms", hotel.id), &[], None)
        .await;
    r.assert_problem(404, "NOT_FOUND");
    let r = h.call("GET", &path, &[], None).await;
    r.assert_problem(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("POST"));
    // The document itself.
    let r = h.call("GET", "/openapi.json", &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_same_booking_twice_is_one_item_and_one_event() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let mut tap = h.observe_events().await;
    let b = booking("BK-7", "confirmed", 10);
    assert_eq!(h.push(&hotel, "bookings", &b, &[]).await.status, 201);
    let r = h.push(&hotel, "bookings", &b, &[]).await;
    assert_eq!(
        (r.status, r.json["reason"].clone()),
        (200, json!("unchanged"))
    );
    assert_eq!(stored_bookings(&h, &hotel).await, 1);
    assert_eq!(
        tap.count("pms.booking.synced", "partner:acme:BK-7").await,
        1
    );
    assert_eq!(tap.events().await.len(), 1);
}

#[tokio::test]
async fn an_older_version_after_a_newer_one_is_not_applied() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let mut tap = h.observe_events().await;
    assert_eq!(
        h.push(&hotel, "bookings", &booking("BK-8", "checked_in", 5), &[])
            .await
            .status,
        201
    );
    let r = h
        .push(&hotel, "bookings", &booking("BK-8", "cancelled", 4), &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["applied"], false);
    assert_eq!(r.json["reason"], "older_version");
    assert_eq!(r.json["storedVersion"], 5);
    let stored = h
        .services
        .reservations
        .get(&hotel.id, &"partner:acme:BK-8".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.as_str(), "checked_in");
    // updatedAt orders when no version is given.
    let mut newer = booking("BK-9", "confirmed", 0);
    newer.as_object_mut().unwrap().remove("version");
    newer["updatedAt"] = json!("2026-11-20T10:00:00Z");
    assert_eq!(h.push(&hotel, "bookings", &newer, &[]).await.status, 201);
    let mut older = newer.clone();
    older["updatedAt"] = json!("2026-11-20T09:00:00Z");
    older["status"] = json!("cancelled");
    let r = h.push(&hotel, "bookings", &older, &[]).await;
    assert_eq!(r.json["reason"], "older_version");
    assert_eq!(
        tap.count("pms.booking.cancelled", "partner:acme:BK-8")
            .await,
        0
    );
    assert_eq!(
        tap.count("pms.booking.cancelled", "partner:acme:BK-9")
            .await,
        0
    );
}

#[tokio::test]
async fn confirmed_checked_in_checked_in_again_is_one_checked_in_event() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let mut tap = h.observe_events().await;
    assert_eq!(
        h.push(&hotel, "bookings", &booking("BK-3", "confirmed", 1), &[])
            .await
            .status,
        201
    );
    let r = h
        .push(&hotel, "bookings", &booking("BK-3", "checked_in", 2), &[])
        .await;
    assert_eq!(r.json["outcome"], "updated");
    let r = h
        .push(&hotel, "bookings", &booking("BK-3", "checked_in", 3), &[])
        .await;
    assert_eq!(r.json["applied"], false);
    let mut changed = booking("BK-3", "checked_in", 4);
    changed["roomNumber"] = json!("204");
    assert_eq!(
        h.push(&hotel, "bookings", &changed, &[]).await.json["outcome"],
        "updated"
    );
    assert_eq!(
        tap.count("pms.booking.checked_in", "partner:acme:BK-3")
            .await,
        1
    );
    assert_eq!(
        tap.count("pms.booking.synced", "partner:acme:BK-3").await,
        3
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let key = [("idempotency-key", "order-4711")];
    let first = h
        .push(&hotel, "bookings", &booking("BK-4", "confirmed", 1), &key)
        .await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = h
        .push(&hotel, "bookings", &booking("BK-4", "confirmed", 1), &key)
        .await;
    assert_eq!(again.status, 201, "the first answer, not 'unchanged'");
    assert_eq!(again.json, first.json);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = h
        .push(&hotel, "bookings", &booking("BK-4", "cancelled", 2), &key)
        .await;
    other.assert_problem(422, "IDEMPOTENCY_KEY_REUSED");
    let stored = h
        .services
        .reservations
        .get(&hotel.id, &"partner:acme:BK-4".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status.as_str(),
        "confirmed",
        "the refused request wrote nothing"
    );
}

#[tokio::test]
async fn guests_and_availability_in_batches_with_unknown_fields() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let mut tap = h.observe_events().await;
    let guests = json!({"items": [
        {"externalId": "G-1", "firstName": "Ada", "email": "ada@example.com", "vip": true,
         "preferences": [{"category": "ROOM", "key": "HIGH_FLOOR"}], "shoeSize": 38},
        {"externalId": "G-2", "lastName": "Hopper", "version": 3}
    ]});
    let r = h.push(&hotel, "guests", &guests, &[]).await;
    assert_eq!(r.status, 200, "{:#}", r.json);
    assert_eq!(r.json["applied"], 2);
    assert_eq!(r.json["results"][0]["id"], "partner:acme:G-1");
    let avail = json!({"items": [
        {"date": day(0), "roomType": "KING", "available": 3, "total": 10, "rate": {"amount": 129, "currency": "EUR"}, "version": 1},
        {"date": day(0), "roomType": "KING", "available": 2, "total": 10, "version": 2}
    ]});
    let r = h.push(&hotel, "availability", &avail, &[]).await;
    assert_eq!(r.status, 200, "{:#}", r.json);
    assert_eq!(r.json["results"][0]["reason"], "duplicate_in_batch");
    assert_eq!(r.json["results"][1]["outcome"], "created");
    let r = h
        .push(
            &hotel,
            "availability",
            &json!({"date": day(1), "roomType": "KING", "available": 11, "total": 10}),
            &[],
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.field_errors(),
        [("available".to_owned(), "INVALID_FIELD".to_owned())]
    );
    let events = tap.events().await;
    assert_eq!(
        events
            .iter()
            .filter(|(t, _)| t == "pms.guest.synced")
            .count(),
        2
    );
    assert_eq!(
        events
            .iter()
            .filter(|(t, _)| t == "pms.availability.synced")
            .count(),
        1
    );
}

/// A harness on a clock the test moves.
async fn on_manual_clock() -> (Harness, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let h = Harness::with_ports(Ports {
        clock: clock.clone(),
        ..Ports::default()
    })
    .await;
    (h, clock)
}

/// A second partner system's provider key for the hotel.
async fn second_partner(h: &Harness, hotel: &TestHotel, name: &str) -> String {
    let secrets: Arc<dyn SecretStore> = h.services.secrets.clone();
    let keys = IngestKeys::new(secrets, h.services.names.secrets_prefix.clone());
    let mut creds = keys.get(&hotel.id).await.unwrap().unwrap();
    let key = creds.rotate_partner_key(&PartnerSystem::parse(name).unwrap());
    keys.put(&hotel.id, &creds).await.unwrap();
    key.expose_secret().to_owned()
}

async fn push_as(
    h: &Harness,
    hotel: &TestHotel,
    provider_key: &str,
    kind: &str,
    body: &Value,
) -> common::Reply {
    let auth = format!("Bearer {}", hotel.token);
    h.call(
        "POST",
        &format!("/v1/hotels/{}/{kind}", hotel.id),
        &[
            ("authorization", auth.as_str()),
            ("x-provider-key", provider_key),
            ("content-type", "application/json"),
        ],
        Some(&body.to_string()),
    )
    .await
}

#[tokio::test]
async fn a_partner_version_beyond_a_day_ahead_is_refused_naming_the_field() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let far = (Utc::now() + Duration::days(2)).timestamp_millis() as u64;
    for (kind, body, field) in [
        ("bookings", booking("BK-F", "confirmed", far), "version"),
        (
            "availability",
            json!({"items": [{"date": day(0), "roomType": "KING", "available": 1, "version": 1},
                             {"date": day(0), "roomType": "QUEEN", "available": 1, "version": i64::MAX}]}),
            "items[1].version",
        ),
    ] {
        let r = h.push(&hotel, kind, &body, &[]).await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(
            r.field_errors(),
            [(field.to_owned(), "FUTURE_VERSION".to_owned())],
            "{kind}"
        );
        assert!(r.json["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 day")));
    }
    assert_eq!(stored_bookings(&h, &hotel).await, 0);
}

#[tokio::test]
async fn one_partner_cannot_pin_another_partners_availability_forever() {
    let (h, clock) = on_manual_clock().await;
    let hotel = h.hotel(None, false).await;
    let globex = second_partner(&h, &hotel, "globex").await;
    let night =
        |available: u64| json!({"date": day(0), "roomType": "KING", "available": available});
    // acme tries to pin the night with the largest version there is: refused.
    let mut pinned = night(0);
    pinned["version"] = json!(i64::MAX);
    push_as(&h, &hotel, &hotel.provider_key, "availability", &pinned)
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    // The most it may claim is a day ahead.
    let mut ahead = night(0);
    ahead["version"] = json!((clock.now() + Duration::days(1)).timestamp_millis());
    let r = push_as(&h, &hotel, &hotel.provider_key, "availability", &ahead).await;
    assert_eq!(r.status, 201, "{:#}", r.json);
    // globex's pushes, versioned by the time they arrive, lose until that day has passed...
    let r = push_as(&h, &hotel, &globex, "availability", &night(7)).await;
    assert_eq!(r.json["reason"], "older_version", "{:#}", r.json);
    clock.advance(Duration::days(1) + Duration::seconds(1));
    // ...and win after it.
    let r = push_as(&h, &hotel, &globex, "availability", &night(7)).await;
    assert_eq!(
        (r.status, r.json["outcome"].clone()),
        (200, json!("updated")),
        "{:#}",
        r.json
    );
    let stored = h
        .services
        .store
        .query_all(&Query::primary(
            Partition::Hotel(hotel.id.clone()),
            KeyCondition::BeginsWith(format!("AVAIL#{}#", day(0))),
        ))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].data["record"]["available"], 7,
        "{:#}",
        stored[0].data
    );
}

#[tokio::test]
async fn an_expired_partner_token_is_refused_like_an_invalid_one() {
    let (h, clock) = on_manual_clock().await;
    let hotel = h.hotel(None, false).await;
    let (token, _) = h
        .services
        .tokens
        .create_expiring(
            vec![hotel.id.clone()],
            vec![Scope::Ingest],
            "expiring",
            Some(clock.now() + Duration::days(90)),
        )
        .await
        .unwrap();
    let expiring = TestHotel {
        token: token.expose_secret().to_owned(),
        ..hotel
    };
    let r = h
        .push(&expiring, "bookings", &booking("BK-E", "confirmed", 1), &[])
        .await;
    assert_eq!(r.status, 201, "{:#}", r.json);
    clock.advance(Duration::days(90));
    let r = h
        .push(&expiring, "bookings", &booking("BK-E", "confirmed", 2), &[])
        .await;
    r.assert_problem(401, "UNAUTHENTICATED");
    assert_eq!(r.json["detail"], "the partner token is not valid");
}

#[tokio::test]
async fn a_disabled_hotel_refuses_partner_ingestion() {
    let h = Harness::new().await;
    let hotel = h.hotel(None, false).await;
    let mut config = h.services.hotels.require(&hotel.id).await.unwrap();
    config.enabled = false;
    h.services.hotels.update(&config).await.unwrap();
    for (kind, body) in [
        ("bookings", booking("BK-D", "confirmed", 1)),
        ("guests", json!({"externalId": "G-D", "lastName": "Doe"})),
        (
            "availability",
            json!({"date": day(0), "roomType": "KING", "available": 1}),
        ),
    ] {
        let r = h.push(&hotel, kind, &body, &[]).await;
        r.assert_problem(403, "HOTEL_DISABLED");
    }
    assert_eq!(stored_bookings(&h, &hotel).await, 0);
    config.enabled = true;
    h.services.hotels.update(&config).await.unwrap();
    let r = h
        .push(&hotel, "bookings", &booking("BK-D", "confirmed", 1), &[])
        .await;
    assert_eq!(r.status, 201, "{:#}", r.json);
}

#[tokio::test]
async fn partner_tokens_live_in_a_partition_each() {
    let h = Harness::new().await;
    let a = h.hotel(None, false).await;
    let b = h.hotel(None, false).await;
    let ddb = aws_sdk_dynamodb::Client::new(&h.stack.sdk_config);
    let mut partitions = Vec::new();
    for hotel in [&a, &b] {
        let id = &hotel.token["pms_".len().."pms_".len() + 16];
        let item = ddb
            .get_item()
            .table_name(h.stack.table_name())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{id}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("TOKEN".into()),
            )
            .send()
            .await
            .unwrap();
        assert!(item.item().is_some(), "token {id} is not in T#{id}");
        partitions.push(id.to_owned());
    }
    assert_ne!(partitions[0], partitions[1]);
    let shared = ddb
        .query()
        .table_name(h.stack.table_name())
        .key_condition_expression("pk = :p")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("S#TOKENS".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        shared.count(),
        0,
        "no token in the shared registry partition"
    );
    // And they work.
    let r = h
        .push(&a, "bookings", &booking("BK-T", "confirmed", 1), &[])
        .await;
    assert_eq!(r.status, 201, "{:#}", r.json);
}

/// What a denied AWS call answers: account id, role and resource names.
const AWS_DENIED: &str = "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/\
pms-prod-WebhookFunctionRole-1A2B3C4D/pms-prod-WebhookFunction is not authorized to perform: \
secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:\
pms/pms-prod/hotels/h1/webhook-AbCdEf";
const MARKERS: &[&str] = &[
    "123456789012",
    "assumed-role",
    "WebhookFunctionRole",
    "AccessDenied",
    "arn:aws",
];

/// Secrets Manager refusing the ingestion secrets once `failing` is set.
struct DeniedSecrets {
    inner: Arc<dyn SecretStore>,
    failing: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl SecretStore for DeniedSecrets {
    async fn get(&self, name: &str) -> PortResult<Option<SecretString>> {
        if self.failing.load(Ordering::SeqCst) && name.ends_with("/webhook") {
            return Err(PortError::Rejected {
                service: Service::SecretsManager,
                message: AWS_DENIED.into(),
            });
        }
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &SecretString) -> PortResult<()> {
        self.inner.put(name, value).await
    }
    async fn delete(&self, name: &str) -> PortResult<()> {
        self.inner.delete(name).await
    }
}

/// The table refusing reads of hotel configurations once `failing` is set (denied, or
/// throttled when `throttled`).
struct DeniedStore {
    inner: Arc<dyn ItemStore>,
    failing: Arc<AtomicBool>,
    throttled: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl ItemStore for DeniedStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        if self.failing.load(Ordering::SeqCst) && key.sort == "CONFIG" {
            let message = AWS_DENIED.replace("secretsmanager", "dynamodb");
            return Err(if self.throttled.load(Ordering::SeqCst) {
                PortError::Throttled {
                    service: Service::DynamoDb,
                    message,
                }
            } else {
                PortError::Rejected {
                    service: Service::DynamoDb,
                    message,
                }
            });
        }
        self.inner.get(key).await
    }
    async fn get_eventual(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.inner.get_eventual(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.inner.delete(key).await
    }
    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        self.inner.batch_get(keys).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.inner.batch_put(items).await
    }
    async fn query(&self, query: &Query) -> PortResult<Page> {
        self.inner.query(query).await
    }
    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64> {
        self.inner.increment(key, field, by, expires_at).await
    }
}

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

impl Logs {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

fn assert_safe(r: &common::Reply) {
    let mut text = r.json.to_string();
    for (k, v) in &r.headers {
        text.push_str(&format!("\n{k}: {}", v.to_str().unwrap_or_default()));
    }
    for m in MARKERS {
        assert!(!text.contains(m), "{m} reached the partner: {text}");
    }
}

#[tokio::test]
async fn partner_facing_errors_carry_a_code_and_a_safe_message_and_aws_detail_goes_to_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _logging =
        tracing::subscriber::set_default(pms_app::obs::subscriber("INFO", move || writer.clone()));
    let secrets_failing = Arc::new(AtomicBool::new(false));
    let store_failing = Arc::new(AtomicBool::new(false));
    let throttled = Arc::new(AtomicBool::new(false));
    let (sf, tf, th) = (
        secrets_failing.clone(),
        store_failing.clone(),
        throttled.clone(),
    );
    let h = Harness::with_ports(Ports {
        secrets: Box::new(move |inner| Arc::new(DeniedSecrets { inner, failing: sf })),
        store: Box::new(move |inner| {
            Arc::new(DeniedStore {
                inner,
                failing: tf,
                throttled: th,
            })
        }),
        ..Ports::default()
    })
    .await;
    let hotel = h.hotel(Some("318267"), true).await;
    let body = booking("BK-13", "confirmed", 1);
    logs.take();

    // The ingestion secret cannot be read: our fault, said with a code, the detail logged.
    secrets_failing.store(true, Ordering::SeqCst);
    h.services
        .secrets
        .invalidate(&format!(
            "{}/hotels/{}/webhook",
            h.services.names.secrets_prefix, hotel.id
        ))
        .await;
    let r = h.push(&hotel, "bookings", &body, &[]).await;
    r.assert_problem(500, "INTERNAL");
    assert_safe(&r);
    let correlation = r.json["correlationId"].as_str().unwrap().to_owned();
    let logged = logs.take();
    let line = logged
        .lines()
        .find(|l| l.contains("123456789012"))
        .unwrap_or_else(|| panic!("the AWS detail is not logged: {logged}"));
    assert!(line.contains(&correlation), "{line}");
    // A vendor webhook meets the same 404 as any unknown address; the detail is logged.
    let r = h
        .webhook(
            "cloudbeds",
            &hotel,
            include_str!("../../../shared/vendors/cloudbeds/testdata/reservation-created.json"),
        )
        .await;
    r.assert_problem(404, "WEBHOOK_NOT_FOUND");
    assert_safe(&r);
    assert!(logs.take().contains("assumed-role"));
    secrets_failing.store(false, Ordering::SeqCst);

    // The hotel registry refuses: 500 with a code, and 503 to retry when throttled.
    store_failing.store(true, Ordering::SeqCst);
    let r = h.push(&hotel, "bookings", &body, &[]).await;
    r.assert_problem(500, "INTERNAL");
    assert_safe(&r);
    let r = h
        .webhook(
            "cloudbeds",
            &hotel,
            include_str!("../../../shared/vendors/cloudbeds/testdata/reservation-created.json"),
        )
        .await;
    r.assert_problem(500, "INTERNAL");
    assert_safe(&r);
    assert!(logs.take().contains("123456789012"));
    throttled.store(true, Ordering::SeqCst);
    let r = h.push(&hotel, "bookings", &body, &[]).await;
    r.assert_problem(503, "UNAVAILABLE");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_safe(&r);
    store_failing.store(false, Ordering::SeqCst);
    assert_eq!(stored_bookings(&h, &hotel).await, 0);
}

/// A provider key or webhook secret made by `pmsctl` (another process, straight to Secrets
/// Manager) works on the next request, though the function has the hotel's secret cached;
/// a wrong key right after costs no further read of the secret.
#[tokio::test]
async fn a_new_provider_key_and_webhook_secret_work_on_the_next_request() {
    let reads = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = reads.clone();
    let h = Harness::with_ports(Ports {
        secrets: Box::new(move |inner| Arc::new(CountReads(inner, counted))),
        ..Ports::default()
    })
    .await;
    let hotel = h.hotel(Some("e-1"), true).await;
    // Warm: the function has read and cached the hotel's ingestion secret.
    let b = booking("BK-N1", "confirmed", 1);
    assert_eq!(h.push(&hotel, "bookings", &b, &[]).await.status, 201);

    // pmsctl, elsewhere: a new partner's key and a rotated webhook secret.
    let outside = IngestKeys::new(
        Arc::new(pms_aws::SecretsManagerStore::from_config(
            &h.stack.sdk_config,
        )),
        h.services.names.secrets_prefix.clone(),
    );
    let mut creds = outside.get(&hotel.id).await.unwrap().unwrap();
    let globex = creds.rotate_partner_key(&PartnerSystem::parse("globex").unwrap());
    let secret = creds.rotate_webhook_secret();
    outside.put(&hotel.id, &creds).await.unwrap();

    let r = push_as(
        &h,
        &hotel,
        globex.expose_secret(),
        "bookings",
        &booking("BK-N2", "confirmed", 1),
    )
    .await;
    assert_eq!(r.status, 201, "{:#}", r.json);
    let rotated = TestHotel {
        id: hotel.id.clone(),
        token: hotel.token.clone(),
        provider_key: hotel.provider_key.clone(),
        webhook_secret: Some(secret.expose_secret().to_owned()),
        pms: hotel.pms.clone(),
    };
    let body = json!({"EnterpriseId": "e-1", "IntegrationId": "i", "Events": [
        {"Discriminator": "CustomerUpdated", "Value": {"Id": "c-1"}}
    ]});
    let r = h.webhook("mews", &rotated, &body.to_string()).await;
    assert_eq!(r.status, 202, "{:#}", r.json);

    // Wrong keys right after: refused, and at most one read of the secret per interval.
    let before = reads.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    for _ in 0..5 {
        push_as(&h, &hotel, "pk_wrong", "bookings", &b)
            .await
            .assert_problem(401, "INVALID_PROVIDER_KEY");
    }
    let reads_made = reads.load(Ordering::SeqCst) - before;
    assert!(
        reads_made <= 1 + started.elapsed().as_secs(),
        "{reads_made} reads in {:?}",
        started.elapsed()
    );
}

struct CountReads(Arc<dyn SecretStore>, Arc<std::sync::atomic::AtomicU64>);

#[async_trait::async_trait]
impl SecretStore for CountReads {
    async fn get(&self, name: &str) -> PortResult<Option<SecretString>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.get(name).await
    }
    async fn put(&self, name: &str, value: &SecretString) -> PortResult<()> {
        self.0.put(name, value).await
    }
    async fn delete(&self, name: &str) -> PortResult<()> {
        self.0.delete(name).await
    }
}
