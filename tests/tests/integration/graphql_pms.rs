//! The graphql function in front of real vendor protocols (moto and the vendor simulators in
//! process, the writer's real handler): reads when the PMS hangs, a flood of reads against the
//! charge that follows it, guests of another property of the chain, and what vendors and AWS
//! say about failures, which partners never read.

use std::time::{Duration, Instant};

use pms_app::registry::Scope;
use pms_app::sync_runs::{SyncRun, SyncRuns};
use pms_domain::domain::HotelId;
use pms_domain::ports::SecretStore;
use pms_runtime::AwsServices as _;
use pms_sim::data::SimStatus;
use pms_sim::setup::hotel_for;
use pms_sim::{FaultConfig, PropertySetup, Provider, SimConfig};
use pms_tests::graphql::Reply;
use pms_tests::writes::{confirmation_of, guest_record_id, SimHotelRef, WritesStack};
use serde_json::{json, Value};

const GUEST: &str = "query($h: ID!, $id: ID!) {
  guest(hotelId: $h, id: $id) { stale fetchedAt value { id email } } }";
const CHARGE: &str = "mutation($h: ID!, $c: String!, $charge: ChargeInput!, $k: String) {
  postCharge(hotelId: $h, confirmationNumber: $c, charge: $charge, idempotencyKey: $k) {
    id status } }";
const PREFS: &str = "mutation($h: ID!, $g: ID!) {
  updateGuestPreferences(hotelId: $h, guestId: $g,
    preferences: [{category: \"ROOM\", key: \"HIGH\", value: \"High floor\"}]) { id status } }";
const OPERATION: &str = "query($id: ID!) {
  operation(id: $id) { status attempts error { code message retryable } } }";

fn unique(tag: &str) -> HotelId {
    HotelId::parse(format!(
        "{tag}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .expect("hotel id")
}

/// A hotel on the vendor's `index`-th simulated property (what `WritesStack::sim_hotel` does
/// for the first).
async fn hotel_on(w: &WritesStack, vendor: Provider, index: usize) -> SimHotelRef {
    let property = w.sim.context.config.properties[&vendor][index].clone();
    let id = unique(&format!("g{index}"));
    let (config, credentials) =
        hotel_for(vendor, &property, &w.sim.vendor_url(vendor), id.clone()).expect("config");
    w.services
        .secrets
        .put(&w.services.adapters.credentials_secret(&id), &credentials)
        .await
        .expect("credentials");
    w.services.hotels.create(&config).await.expect("hotel");
    SimHotelRef {
        vendor,
        id,
        config,
        property: property.property_id,
    }
}

fn error_code(r: &Reply, field: &str) -> Option<String> {
    r.body["errors"]
        .as_array()?
        .iter()
        .find(|e| e["path"][0] == field)
        .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
}

// ---- 16: reads under a hanging PMS ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_under_a_hanging_pms_answers_stale_or_pms_unavailable_before_any_timeout() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    // Guests expire after 1 s here and may be served stale for an hour.
    let mut config = w.services.hotels.require(&h.id).await.unwrap();
    config.cache.guest_ttl = 1;
    config.cache.stale_factor = 3600;
    config.updated_at = chrono::Utc::now();
    w.services.hotels.update(&config).await.unwrap();
    let (token, _) = w.token(&[&h.id], &[Scope::Read]).await;
    let data = w.sim_data(&h);
    let mut stays = data.reservations.iter().map(|r| r.guest_id.clone());
    let cached = guest_record_id(pms_mews::PROVIDER, &stays.next().unwrap());
    let never_read = stays
        .find(|g| guest_record_id(pms_mews::PROVIDER, g) != cached)
        .map(|g| guest_record_id(pms_mews::PROVIDER, &g))
        .unwrap();

    let first = w
        .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": cached}))
        .await;
    assert!(first.codes().is_empty(), "{}", first.body);
    assert_eq!(first.data()["guest"]["stale"], false);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The PMS hangs: every answer 60 s late (the client gives up after 20 s).
    w.sim
        .admin()
        .set_faults(
            pms_mews::PROVIDER,
            &FaultConfig {
                latency_ms: 60_000,
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    let stale = w
        .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": cached}))
        .await;
    let stale_after = started.elapsed();
    assert!(stale.codes().is_empty(), "{}", stale.body);
    assert_eq!(stale.data()["guest"]["stale"], true, "{}", stale.body);
    assert_eq!(
        stale.data()["guest"]["value"],
        first.data()["guest"]["value"]
    );

    let started = Instant::now();
    let missing = w
        .graphql(&token, GUEST, json!({"h": h.id.as_str(), "id": never_read}))
        .await;
    let missing_after = started.elapsed();
    assert_eq!(missing.codes(), ["PMS_UNAVAILABLE"], "{}", missing.body);
    assert_eq!(missing.body["errors"][0]["extensions"]["retryable"], true);
    assert_eq!(missing.data()["guest"], Value::Null);

    // The live health check answers too, unhealthy, instead of waiting for the PMS.
    let started = Instant::now();
    let health = w
        .graphql(
            &token,
            "query($h: ID!) { health(hotelId: $h) { pms { healthy message } } }",
            json!({"h": h.id.as_str()}),
        )
        .await;
    let health_after = started.elapsed();
    assert!(health.codes().is_empty(), "{}", health.body);
    assert_eq!(health.data()["health"]["pms"]["healthy"], false);
    println!(
        "hanging PMS: stale copy in {} ms, PMS_UNAVAILABLE in {} ms, health in {} ms \
         (read deadline {} ms)",
        stale_after.as_millis(),
        missing_after.as_millis(),
        health_after.as_millis(),
        pms_app::reads::READ_DEADLINE.as_millis()
    );
    // Behaviour, not speed: answered by the function, never cut by its 25 s timeout.
    for took in [stale_after, missing_after, health_after] {
        assert!(took < Duration::from_secs(20), "{took:?}");
    }
    w.sim.admin().clear_faults().await.unwrap();
}

// ---- 9: reads cannot take the writes' share of the PMS budget -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_reads_cannot_take_the_pms_budget_share_kept_for_writes() {
    let w = std::sync::Arc::new(WritesStack::new().await);
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);

    // 200 reads of reservations the PMS does not have, all at once: each costs a PMS call.
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let (w, token, hotel) = (w.clone(), token.clone(), h.id.clone());
            tokio::spawn(async move {
                w.graphql(
                    &token,
                    "query($h: ID!, $c: String!) {
                       reservation(hotelId: $h, confirmationNumber: $c) { stale } }",
                    json!({"h": hotel.as_str(), "c": format!("FLOOD{i:04}")}),
                )
                .await
            })
        })
        .collect();
    // The flood holds the hotel's budget once the PMS has seen its first calls.
    let calls = |w: &WritesStack| w.counters(pms_mews::PROVIDER).total_calls;
    let before = calls(&w);
    let waited = Instant::now();
    while calls(&w) < before + 8 && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A charge now: queued, then processed by the writer.
    let reply = w
        .graphql(
            &token,
            CHARGE,
            json!({"h": h.id.as_str(), "c": conf, "k": "flood-charge-1",
                   "charge": {"amountMinor": 1200, "currency": h.config.currency.code(),
                              "description": "Minibar"}}),
        )
        .await;
    assert!(reply.codes().is_empty(), "{}", reply.body);
    let op_id = reply.data()["postCharge"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let charges_before = w.counters(pms_mews::PROVIDER).charges_posted;
    w.drain().await;
    let op = w.graphql(&token, OPERATION, json!({"id": op_id})).await;
    assert_eq!(op.data()["operation"]["status"], "SUCCEEDED", "{}", op.body);
    assert_eq!(
        w.counters(pms_mews::PROVIDER).charges_posted,
        charges_before + 1
    );

    let mut answered = 0;
    for t in flood {
        let r = t.await.unwrap();
        // Each read is answered: not found, or the PMS unavailable (the read's share is spent).
        let code = error_code(&r, "reservation").unwrap_or_default();
        assert!(
            ["NOT_FOUND", "PMS_UNAVAILABLE"].contains(&code.as_str()),
            "{}",
            r.body
        );
        answered += 1;
    }
    assert_eq!(answered, 200);
    assert_eq!(
        w.counters(pms_mews::PROVIDER).rate_limit_violations,
        0,
        "the vendor's limit held"
    );
}

// ---- 11: guests are the hotel's ------------------------------------------------------------

/// The default simulator plus a second OHIP and a second Mews property, each pair one chain
/// (profiles and customers are the chain's, as at the vendors).
fn chains() -> SimConfig {
    let mut config = pms_sim::default_config();
    let ohip = config.properties[&pms_opera::PROVIDER][0].clone();
    let mut ohip2 = ohip.clone();
    ohip2.property_id = "SIMOHIP2".into();
    ohip2
        .credentials
        .insert("clientId".into(), "sim-ohip-client-2".into());
    ohip2
        .credentials
        .insert("clientSecret".into(), "sim-ohip-secret-2".into());
    let mews = config.properties[&pms_mews::PROVIDER][0].clone();
    let mut mews2: PropertySetup = mews.clone();
    mews2.property_id = "7a1c3e58-2d4b-4f0e-9c61-5b8e2f9d0a37".into();
    mews2
        .credentials
        .insert("accessToken".into(), "sim-mews-access-token-2".into());
    mews2.credentials.insert(
        "serviceId".into(),
        "c2b7f0a4-8d3e-4a51-9f6b-0e4d7c1a2b39".into(),
    );
    config.chains.insert(
        pms_opera::PROVIDER,
        vec![ohip.property_id.clone(), ohip2.property_id.clone()],
    );
    config.chains.insert(
        pms_mews::PROVIDER,
        vec![mews.property_id.clone(), mews2.property_id.clone()],
    );
    config
        .properties
        .get_mut(&pms_opera::PROVIDER)
        .unwrap()
        .push(ohip2);
    config
        .properties
        .get_mut(&pms_mews::PROVIDER)
        .unwrap()
        .push(mews2);
    config
}

async fn guests_are_the_hotels(w: &WritesStack, vendor: Provider) {
    let here = hotel_on(w, vendor, 0).await;
    let elsewhere = hotel_on(w, vendor, 1).await;
    let (token, _) = w.token(&[&here.id], &[Scope::Read, Scope::Write]).await;
    let h = here.id.as_str();
    let own = guest_record_id(vendor, &w.sim_data(&here).reservations[0].guest_id);
    // Guests of the other property who never stayed here.
    let theirs = w.sim_data(&elsewhere);
    let ours = w.sim_data(&here);
    let mut foreigners = theirs
        .reservations
        .iter()
        .map(|r| r.guest_id.clone())
        .filter(|g| !ours.reservations.iter().any(|r| &r.guest_id == g));
    let foreign = foreigners.next().unwrap();
    let foreign_id = guest_record_id(vendor, &foreign);
    let visitor = foreigners.find(|g| *g != foreign).unwrap();
    let visitor_id = guest_record_id(vendor, &visitor);

    let r = w.graphql(&token, GUEST, json!({"h": h, "id": own})).await;
    assert!(r.codes().is_empty(), "{vendor:?} own guest: {}", r.body);
    // The chain's PMS would hand it over; the hotel's API does not.
    let r = w
        .graphql(&token, GUEST, json!({"h": h, "id": foreign_id}))
        .await;
    assert_eq!(
        r.codes(),
        ["NOT_FOUND"],
        "{vendor:?} foreign guest: {}",
        r.body
    );
    assert!(!r.body.to_string().contains('@'), "no guest data");
    let r = w
        .graphql(&token, PREFS, json!({"h": h, "g": foreign_id}))
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{vendor:?}: {}", r.body);
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "guestId");
    assert_eq!(r.data()["updateGuestPreferences"], Value::Null);

    // A guest of the other property with a reservation here is this hotel's guest too.
    let stay = ours.reservations[1].id.clone();
    w.sim.context.with_hotel(vendor, &here.property, |d| {
        d.reservations
            .iter_mut()
            .find(|r| r.id == stay)
            .unwrap()
            .guest_id = visitor.clone();
    });
    let r = w
        .graphql(&token, GUEST, json!({"h": h, "id": visitor_id}))
        .await;
    assert!(
        r.codes().is_empty(),
        "{vendor:?} guest with a stay: {}",
        r.body
    );
    let r = w
        .graphql(&token, PREFS, json!({"h": h, "g": visitor_id}))
        .await;
    assert!(r.codes().is_empty(), "{vendor:?}: {}", r.body);
    assert_eq!(r.data()["updateGuestPreferences"]["status"], "QUEUED");

    // Ids that would be path steps or carry URL syntax never reach the PMS.
    let before = w.counters(vendor).total_calls;
    for bad in ["..", ".", "../../rsv", "1?hotelId=X", "a%2F..", "a&b=c"] {
        let provider = vendor;
        for q in [GUEST, PREFS] {
            let r = w
                .graphql(
                    &token,
                    q,
                    json!({"h": h, "id": format!("{provider}:{bad}"), "g": format!("{provider}:{bad}")}),
                )
                .await;
            assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{bad}: {}", r.body);
        }
    }
    assert_eq!(
        w.counters(vendor).total_calls,
        before,
        "nothing reached the PMS"
    );
}

#[tokio::test]
async fn guest_reads_and_preference_writes_are_tied_to_the_hotels_property_or_its_reservations() {
    let w = WritesStack::with_sim(chains()).await;
    guests_are_the_hotels(&w, pms_mews::PROVIDER).await;
    guests_are_the_hotels(&w, pms_opera::PROVIDER).await;
}

// ---- 13: partners read codes and safe messages -----------------------------------------------

const VENDOR_MARKER: &str = "VENDOR-BODY-7f3a";
const ACCOUNT: &str = "123456789012";
const ROLE: &str = "pms-prod-SyncWorkerRole-MARKER";

fn assert_clean(what: &str, r: &Reply) {
    let text = r.body.to_string();
    for marker in [VENDOR_MARKER, ACCOUNT, ROLE, "arn:aws", "AccessDenied"] {
        assert!(!text.contains(marker), "{what} leaks {marker}: {text}");
    }
}

#[tokio::test]
async fn partner_facing_errors_carry_a_code_and_a_safe_message_never_vendor_or_aws_text() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let vendor_says = |endpoints: &[&str]| FaultConfig {
        error_rate: 1.0,
        error_status: Some(400),
        error_message: Some(format!(
            "{VENDOR_MARKER}: request 42 of account {ACCOUNT} refused"
        )),
        only_endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
        ..FaultConfig::default()
    };

    // A write the PMS refuses with a body of its own.
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    w.sim
        .admin()
        .set_faults(pms_mews::PROVIDER, &vendor_says(&["orders/add"]))
        .await
        .unwrap();
    let reply = w
        .graphql(
            &token,
            CHARGE,
            json!({"h": h.id.as_str(), "c": conf, "k": "refused-1",
                   "charge": {"amountMinor": 900, "currency": h.config.currency.code(),
                              "description": "Spa"}}),
        )
        .await;
    assert!(reply.codes().is_empty(), "{}", reply.body);
    let op_id = reply.data()["postCharge"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.drain().await;
    let op = w.graphql(&token, OPERATION, json!({"id": op_id})).await;
    assert_eq!(
        op.data()["operation"]["error"]["code"],
        "PMS_REJECTED",
        "{}",
        op.body
    );
    assert!(op.data()["operation"]["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_clean("operation", &op);
    // What the vendor said is kept for the hotel's staff: the operation record and the audit.
    let oref = pms_app::writes::OperationRef::parse(&op_id).unwrap();
    let record = w
        .records()
        .operation(&oref.hotel, &oref.id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.error.unwrap().message.contains(VENDOR_MARKER));
    let audit = w.records().audit_log(&h.id, 10).await.unwrap();
    assert!(
        serde_json::to_string(&audit)
            .unwrap()
            .contains(VENDOR_MARKER),
        "the audit keeps the vendor's words"
    );

    // Reads and the health check the PMS refuses the same way.
    w.sim
        .admin()
        .set_faults(
            pms_mews::PROVIDER,
            &vendor_says(&["reservations/getAll/2023-06-06", "configuration/get"]),
        )
        .await
        .unwrap();
    let read = w
        .graphql(
            &token,
            "query($h: ID!, $c: String!) {
               reservation(hotelId: $h, confirmationNumber: $c) { stale }
               health(hotelId: $h) { pms { healthy message } } }",
            json!({"h": h.id.as_str(), "c": conf}),
        )
        .await;
    assert_eq!(
        error_code(&read, "reservation").as_deref(),
        Some("BAD_USER_INPUT")
    );
    assert_eq!(read.data()["health"]["pms"]["healthy"], false);
    assert!(read.data()["health"]["pms"]["message"].is_string());
    assert_clean("reads", &read);
    w.sim.admin().clear_faults().await.unwrap();

    // AWS error text, as the sync worker records a store failure in its run.
    let mut run = SyncRun::start("run-aws", h.id.clone(), "reservations", chrono::Utc::now());
    run.record_fatal(
        "REJECTED",
        &format!(
            "DynamoDB rejected the request: AccessDeniedException: User: \
             arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/fn is not authorized to perform: \
             dynamodb:PutItem"
        ),
    );
    run.finish(chrono::Utc::now(), 0);
    SyncRuns::new(w.services.store.clone())
        .record(&run, 30)
        .await
        .unwrap();
    let runs = w
        .graphql(
            &token,
            "query($h: ID!) { syncRuns(hotelId: $h) { runId errors { code message } }
                              health(hotelId: $h) { lastSync { errors { code message } } } }",
            json!({"h": h.id.as_str()}),
        )
        .await;
    assert!(runs.codes().is_empty(), "{}", runs.body);
    assert_eq!(runs.data()["syncRuns"][0]["errors"][0]["code"], "REJECTED");
    assert_clean("sync runs", &runs);

    // A real AWS error (moto): the function's store is a table that does not exist.
    let mut names = w.services.names.clone();
    names.table = format!("pms-missing-{ACCOUNT}-{ROLE}");
    let broken = pms_app::runtime::Services::from_aws(
        names,
        &w.stack.sdk_config,
        std::sync::Arc::new(pms_domain::ports::SystemClock),
    )
    .with_vendors(pms_vendors::all());
    let app = pms_graphql::GraphqlApp::from_services(&broken);
    let mut req = lambda_http::Request::new(lambda_http::Body::Text(
        json!({"query": "{ __typename }"}).to_string(),
    ));
    *req.method_mut() = lambda_http::http::Method::POST;
    req.headers_mut().insert(
        lambda_http::http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let resp = app.handle(req).await;
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    let reply = Reply {
        status: resp.status(),
        body,
    };
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.codes(), ["INTERNAL"]);
    assert_clean("an AWS failure", &reply);
    assert!(!reply.body.to_string().contains("missing"));
}
