//! The tenancy matrix: hotel A's credentials against every hotel-B surface — each REST route of
//! the OpenAPI document, each GraphQL query and mutation of the committed schema — are refused,
//! reveal none of B's data and write or queue nothing. A token without the write (or
//! subscribe) scope cannot mutate.
//!
//! The lists of surfaces are checked against the OpenAPI document and `schema.graphql`, so a
//! new route or field without a row here fails the test instead of going unchecked.

use crate::common;

use std::collections::BTreeSet;

use common::Harness;
use pms_app::registry::Scope;
use pms_domain::ports::{KeyCondition, Partition, Query};
use pms_graphql::GraphqlApp;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("../../../functions/graphql/schema.graphql");

/// B's booking: its external id must never appear in an answer to A.
const B_BOOKING: &str = "B-SECRET-BOOKING-77";

/// One GraphQL operation per root field that takes a hotel, for hotel `$h`.
const GRAPHQL_OPS: &[(&str, &str)] = &[
    ("bookings", "query($h: ID!) { bookings(hotelId: $h) { edges { node { id recordId } } } }"),
    ("bookingByConfirmation", "query($h: ID!) { bookingByConfirmation(hotelId: $h, confirmationNumber: \"B-SECRET-BOOKING-77\") { id } }"),
    ("availability", "query($h: ID!) { availability(hotelId: $h, from: \"2026-12-01\", to: \"2026-12-02\") { date } }"),
    ("arrivals", "query($h: ID!) { arrivals(hotelId: $h, date: \"2026-12-01\") { bookings { id } } }"),
    ("departures", "query($h: ID!) { departures(hotelId: $h, date: \"2026-12-03\") { bookings { id } } }"),
    ("inHouse", "query($h: ID!) { inHouse(hotelId: $h) { bookings { id } } }"),
    ("guest", "query($h: ID!) { guest(hotelId: $h, id: \"mock:g-00001\") { value { email } } }"),
    ("searchGuests", "query($h: ID!) { searchGuests(hotelId: $h, name: \"a\") { value { guests { email } } } }"),
    ("reservation", "query($h: ID!) { reservation(hotelId: $h, confirmationNumber: \"700003\") { value { id } } }"),
    ("roomStatus", "query($h: ID!) { roomStatus(hotelId: $h, room: \"101\") { value { roomNumber } } }"),
    ("roomStatuses", "query($h: ID!) { roomStatuses(hotelId: $h) { value { rooms { roomNumber } } } }"),
    ("balance", "query($h: ID!) { balance(hotelId: $h, confirmationNumber: \"700003\") { value { amount } } }"),
    ("syncRuns", "query($h: ID!) { syncRuns(hotelId: $h) { runId } }"),
    ("health", "query($h: ID!) { health(hotelId: $h) { pms { healthy } } }"),
    ("subscriptions", "query($h: ID!) { subscriptions(hotelId: $h) { id url } }"),
    ("subscription", "query($h: ID!) { subscription(hotelId: $h, id: \"sub_0123456789abcdef\") { id url } }"),
];

/// One GraphQL mutation per root field, for hotel `$h`.
const GRAPHQL_MUTATIONS: &[(&str, &str)] = &[
    ("addReservationNote", "mutation($h: ID!) { addReservationNote(hotelId: $h, confirmationNumber: \"700003\", note: {text: \"late arrival\"}) { id status } }"),
    ("updateGuestPreferences", "mutation($h: ID!) { updateGuestPreferences(hotelId: $h, guestId: \"mock:g-00001\", preferences: [{category: \"room\", key: \"floor\", value: \"high\"}]) { id status } }"),
    ("postCharge", "mutation($h: ID!) { postCharge(hotelId: $h, confirmationNumber: \"700003\", charge: {amountMinor: 1250, currency: \"EUR\", description: \"Minibar\"}) { id status } }"),
    ("updateCheckoutTime", "mutation($h: ID!) { updateCheckoutTime(hotelId: $h, confirmationNumber: \"700003\", departureDate: \"2026-12-03\", time: \"12:00\") { id status } }"),
    ("createSubscription", "mutation($h: ID!) { createSubscription(hotelId: $h, url: \"https://127.0.0.1/hook\", events: [\"pms.booking.synced\"]) { secret } }"),
    ("disableSubscription", "mutation($h: ID!) { disableSubscription(hotelId: $h, id: \"sub_0123456789abcdef\") { id } }"),
    ("enableSubscription", "mutation($h: ID!) { enableSubscription(hotelId: $h, id: \"sub_0123456789abcdef\") { id } }"),
    ("rotateSubscriptionSecret", "mutation($h: ID!) { rotateSubscriptionSecret(hotelId: $h, id: \"sub_0123456789abcdef\") { secret } }"),
    ("deleteSubscription", "mutation($h: ID!) { deleteSubscription(hotelId: $h, id: \"sub_0123456789abcdef\") { id } }"),
];

/// Root fields of `type <name> { ... }` in the SDL that take a `hotelId` argument.
fn hotel_fields(sdl: &str, type_name: &str) -> BTreeSet<String> {
    let Some(start) = sdl.find(&format!("type {type_name} {{")) else {
        return BTreeSet::new();
    };
    let body = &sdl[start..];
    let body = &body[..body.find("\n}").unwrap_or(body.len())];
    body.lines()
        .map(str::trim)
        .filter(|l| l.contains("hotelId:"))
        .filter_map(|l| l.split('(').next())
        .map(str::to_owned)
        .collect()
}

/// Every item of a hotel's partition (records, idempotency, audit, deliveries...).
async fn hotel_items(h: &Harness, hotel: &pms_domain::domain::HotelId) -> usize {
    let q = Query::primary(
        Partition::Hotel(hotel.clone()),
        KeyCondition::BeginsWith(String::new()),
    );
    h.services.store.query_all(&q).await.expect("query").len()
}

async fn graphql(app: &GraphqlApp, token: &str, query: &str, vars: Value) -> Value {
    use lambda_http::http::{header, Method};
    let body = serde_json::to_vec(&json!({"query": query, "variables": vars})).unwrap();
    let mut req = lambda_http::Request::new(lambda_http::Body::Binary(body));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = "/graphql".parse().unwrap();
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let resp = app.handle(req).await;
    serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null)
}

fn codes(reply: &Value) -> Vec<String> {
    reply["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn hotel_a_credentials_never_reach_hotel_b() {
    let h = Harness::new().await;
    let a = h.hotel(None, true).await;
    let b = h.hotel(None, true).await;
    let gql = GraphqlApp::from_services(&h.services);

    // B has data to leak: a booking pushed with B's own credentials.
    let booking = json!({
        "externalId": B_BOOKING,
        "status": "confirmed",
        "checkIn": pms_tests::fixture_day(0).to_string(),
        "checkOut": pms_tests::fixture_day(2).to_string(),
        "guest": {"externalId": "B-GUEST", "firstName": "Bea", "lastName": "Hidden", "email": "bea@b.example"},
        "roomType": "KING",
        "adults": 1,
        "version": 1
    });
    let r = h.push(&b, "bookings", &booking, &[]).await;
    assert_eq!(r.status, 201, "{:#}", r.json);
    let b_items = hotel_items(&h, &b.id).await;
    assert!(b_items > 0);

    // REST: every route of the OpenAPI document that names a hotel.
    let doc: &Value = webhook_fn::openapi::document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{hotelId}") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            let concrete = path.replace("{hotelId}", b.id.as_str());
            let reply = if path.starts_with("/v1/webhooks/") {
                // A's webhook secret in B's URL: the same 404 as an unknown hotel, so the URL
                // reveals nothing (webhook routes authenticate by the secret alone).
                let concrete = concrete.replace("{secret}", a.webhook_secret.as_deref().unwrap());
                let r = h
                    .call(
                        &method,
                        &concrete,
                        &[("content-type", "application/json")],
                        Some(r#"{"Events":[],"propertyID":"1","event":"reservation/created"}"#),
                    )
                    .await;
                r.assert_problem(404, "WEBHOOK_NOT_FOUND");
                r
            } else {
                let auth = format!("Bearer {}", a.token);
                let r = h
                    .call(
                        &method,
                        &concrete,
                        &[
                            ("authorization", &auth),
                            ("x-provider-key", &a.provider_key),
                            ("content-type", "application/json"),
                        ],
                        Some(&booking.to_string()),
                    )
                    .await;
                r.assert_problem(403, "FORBIDDEN_HOTEL");
                r
            };
            assert!(
                !reply.json.to_string().contains(B_BOOKING),
                "{method} {path} leaks B's data"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} hotel routes in the OpenAPI document"
    );

    // GraphQL: every root field that takes a hotel has a row above.
    let wanted = hotel_fields(SCHEMA, "QueryRoot");
    let have: BTreeSet<String> = GRAPHQL_OPS.iter().map(|(f, _)| f.to_string()).collect();
    let missing: Vec<_> = wanted.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "queries without a tenancy row: {missing:?}"
    );
    let (token_a, _) = h
        .services
        .tokens
        .create(
            vec![a.id.clone()],
            vec![Scope::Read, Scope::Write, Scope::Subscribe],
            "a",
        )
        .await
        .unwrap();
    let token_a = token_a.expose_secret().to_owned();
    for (field, q) in GRAPHQL_OPS {
        let r = graphql(&gql, &token_a, q, json!({"h": b.id.as_str()})).await;
        assert_eq!(codes(&r), ["FORBIDDEN"], "{field}: {r}");
        assert_eq!(r["data"], Value::Null, "{field}: {r}");
        assert!(!r.to_string().contains(B_BOOKING), "{field} leaks B's data");
    }
    // Mutations: A's token (with the write scope) on B, and B's own token without it.
    let wanted = hotel_fields(SCHEMA, "MutationRoot");
    let have: BTreeSet<String> = GRAPHQL_MUTATIONS
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    let missing: Vec<_> = wanted.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "mutations without a tenancy row: {missing:?}"
    );
    assert!(!wanted.is_empty(), "no mutation found in the schema");
    let (read_only_b, _) = h
        .services
        .tokens
        .create(vec![b.id.clone()], vec![Scope::Read, Scope::Ingest], "b-ro")
        .await
        .unwrap();
    for (field, m) in GRAPHQL_MUTATIONS {
        for (who, token) in [
            ("A", token_a.as_str()),
            ("B read-only", read_only_b.expose_secret()),
        ] {
            let r = graphql(&gql, token, m, json!({"h": b.id.as_str()})).await;
            assert_eq!(codes(&r), ["FORBIDDEN"], "{field} by {who}: {r}");
            assert_eq!(r["data"], Value::Null, "{field} by {who}: {r}");
        }
    }
    assert!(
        h.queue_bodies("WriteOpsQueue").await.is_empty(),
        "a refused mutation was queued"
    );

    // B's booking by its global id: B's own token finds it, A's is refused.
    let by_id = "query($id: ID!) { booking(id: $id) { id guest { lastName } } }";
    let id = json!({"id": format!("{}/partner:acme:{B_BOOKING}", b.id)});
    let (token_b, _) = h
        .services
        .tokens
        .create(vec![b.id.clone()], vec![Scope::Read], "b")
        .await
        .unwrap();
    let r = graphql(&gql, token_b.expose_secret(), by_id, id.clone()).await;
    assert_eq!(r["data"]["booking"]["guest"]["lastName"], "Hidden", "{r}");
    let r = graphql(&gql, &token_a, by_id, id).await;
    assert_eq!(codes(&r), ["FORBIDDEN"], "{r}");
    assert!(!r.to_string().contains("Hidden"), "booking(id) leaks: {r}");

    // Nothing was written for B by any of it.
    assert_eq!(hotel_items(&h, &b.id).await, b_items);
}
