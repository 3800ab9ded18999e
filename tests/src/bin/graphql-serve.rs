//! Serves the graphql function's real handler over HTTP on 127.0.0.1, against a fresh stack on
//! the moto server at `PMS_TEST_AWS_ENDPOINT`, with one demo hotel (mock PMS), a few stored
//! bookings and a read token. Prints one JSON line (`url`, `token`, `hotelId`) on stdout, then
//! serves until killed. Used by `scripts/graphiql-check.mjs`; handy for trying GraphiQL too.
//!
//! usage: scripts/with-moto.sh cargo run -p pms-tests --bin graphql-serve

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use axum::body::Body as AxumBody;
use axum::extract::Request as AxumRequest;
use axum::response::Response as AxumResponse;
use chrono::Utc;
use lambda_http::Body;
use pms_app::registry::Scope;
use pms_domain::domain::{
    ConfirmationNumber, Currency, ExternalId, GuestSummary, Money, Provider, RecordId, Reservation,
    ReservationStatus,
};
use pms_domain::ports::Clock;
use pms_tests::graphql::GraphqlStack;

/// The same limit API Gateway's payload cap would enforce upstream; the handler checks its own.
const MAX_FORWARDED_BODY: usize = 1024 * 1024;

#[tokio::main]
async fn main() {
    let g = GraphqlStack::starting_at(Utc::now()).await;
    let hotel = g.add_hotel("demo", "Europe/Prague").await;
    let config = g.services.hotels.require(&hotel).await.expect("hotel");
    let today = config.time_zone.business_date(g.clock.now());
    let bookings: Vec<Reservation> = (0..6u32)
        .map(|n| Reservation {
            id: RecordId::new(
                Provider::named("mock"),
                ExternalId::parse(format!("demo-{n}")).unwrap(),
            ),
            confirmation_number: ConfirmationNumber::parse(format!("D{n:04}")).unwrap(),
            guest: Some(GuestSummary {
                id: None,
                first_name: Some(["Ada", "Grace", "Alan"][n as usize % 3].into()),
                last_name: Some(["Lovelace", "Hopper", "Turing"][n as usize % 3].into()),
                email: None,
                phone: None,
            }),
            room_number: None,
            room_type: None,
            arrival: today,
            departure: today.add_days(1 + i64::from(n)),
            expected_arrival_time: None,
            expected_departure_time: None,
            status: ReservationStatus::Confirmed,
            raw_status: "RESERVED".into(),
            adults: 2,
            children: 0,
            rate_code: None,
            total: Some(Money::new(25_000, Currency::eur())),
            balance: None,
            special_requests: vec![],
            notes: vec![],
            source_updated_at: None,
            version: 1,
            not_carried: Default::default(),
        })
        .collect();
    g.services
        .merger
        .merge(&hotel, bookings, None)
        .await
        .expect("seeded");
    let token = g.token(&[&hotel], &[Scope::Read]).await;

    let app = g.app.clone();
    let router = axum::Router::new().fallback(move |req: AxumRequest| {
        let app = app.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_FORWARDED_BODY)
                .await
                .unwrap_or_default();
            let req = lambda_http::Request::from_parts(parts, Body::Binary(bytes.to_vec()));
            let (parts, body) = app.handle(req).await.into_parts();
            let body = match body {
                Body::Empty => AxumBody::empty(),
                Body::Text(t) => AxumBody::from(t),
                Body::Binary(b) => AxumBody::from(b),
                _ => AxumBody::empty(),
            };
            AxumResponse::from_parts(parts, body)
        }
    });
    let port: u16 = std::env::var("GRAPHQL_SERVE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    println!(
        "{}",
        serde_json::json!({
            "url": format!("http://{addr}/graphql"),
            "token": token,
            "hotelId": hotel.as_str(),
        })
    );
    axum::serve(listener, router).await.expect("serve");
}
