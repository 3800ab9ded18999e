//! Event subscriptions through GraphQL, end to end on moto (the table, Secrets Manager): a token
//! with the `subscribe` scope manages its hotels' subscriptions, every change is in the hotel's
//! audit log under the token's id, other tokens and other hotels are refused, and bad requests
//! name what is wrong.

use chrono::{DateTime, Duration, Utc};
use pms_app::audit::{AuditLog, AuditRecord, KindFilter, OpsAction};
use pms_app::registry::Scope;
use pms_app::subscriptions::{SubscriptionService, TargetPolicy};
use pms_domain::domain::HotelId;
use pms_domain::ports::Clock;
use pms_tests::graphql::{GraphqlStack, Reply};
use serde_json::{json, Value};

const ZONE: &str = "Europe/Prague";
/// A receiver on loopback: accepted on a local stack (moto on loopback), as `make dev` needs.
const URL: &str = "https://127.0.0.1:9443/hooks/pms";

const CREATE: &str = "mutation($h: ID!, $url: String!, $events: [String!]!) {
  createSubscription(hotelId: $h, url: $url, events: $events) {
    secret subscription { id hotelId subscriptionId url events enabled createdAt } } }";
const LIST: &str = "query($h: ID!) { subscriptions(hotelId: $h) {
    id url events enabled disabledReason secretRotatedAt previousSecretValidUntil } }";
const GET: &str = "query($h: ID!, $id: ID!) { subscription(hotelId: $h, id: $id) {
    id url enabled disabledReason } }";
const DISABLE: &str = "mutation($h: ID!, $id: ID!, $reason: String) {
  disableSubscription(hotelId: $h, id: $id, reason: $reason) { id enabled disabledReason } }";
const ENABLE: &str =
    "mutation($h: ID!, $id: ID!) { enableSubscription(hotelId: $h, id: $id) { id enabled disabledReason } }";
const ROTATE: &str =
    "mutation($h: ID!, $id: ID!) { rotateSubscriptionSecret(hotelId: $h, id: $id) {
    secret subscription { id secretRotatedAt previousSecretValidUntil } } }";
const DELETE: &str =
    "mutation($h: ID!, $id: ID!) { deleteSubscription(hotelId: $h, id: $id) { id url } }";

/// The token's id (`pms_<id>_<secret>`): the actor its changes are audited under.
fn token_id(token: &str) -> String {
    token
        .split('_')
        .nth(1)
        .expect("pms_<id>_<secret>")
        .to_owned()
}

fn events() -> Value {
    json!(["pms.booking.checked_in", "pms.room.status_changed"])
}

async fn create(g: &GraphqlStack, token: &str, hotel: &HotelId, url: &str) -> Reply {
    g.query(
        token,
        CREATE,
        json!({"h": hotel.as_str(), "url": url, "events": events()}),
    )
    .await
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a time"))
        .parse()
        .unwrap()
}

/// The hotel's ops audit entries about subscriptions, oldest first: (action, actor, target).
async fn audited(g: &GraphqlStack, hotel: &HotelId) -> Vec<(OpsAction, String, String)> {
    let page = AuditLog::new(g.item_store(), g.clock.clone())
        .list(
            std::slice::from_ref(hotel),
            KindFilter::Ops,
            None,
            None,
            100,
        )
        .await
        .unwrap();
    let mut out: Vec<_> = page
        .records
        .into_iter()
        .filter_map(|r| match r {
            AuditRecord::Ops(e) => Some((e.action, e.actor, e.target.unwrap_or_default())),
            AuditRecord::Write(_) => None,
        })
        .collect();
    out.reverse();
    out
}

#[tokio::test]
async fn a_subscribe_token_manages_its_hotels_subscriptions_and_every_change_is_audited() {
    let g = GraphqlStack::new().await;
    let h = g.add_hotel("subs", ZONE).await;
    let token = g.token(&[&h], &[Scope::Subscribe]).await;
    let actor = token_id(&token);
    let vars = |id: &Value| json!({"h": h.as_str(), "id": id});

    // Made: its id and its secret, once.
    let r = create(&g, &token, &h, URL).await;
    assert!(r.codes().is_empty(), "{}", r.body);
    let made = &r.data()["createSubscription"];
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = made["subscription"]["id"].clone();
    let sub_id = made["subscription"]["subscriptionId"].as_str().unwrap();
    assert_eq!(id, format!("{h}/{sub_id}"));
    assert_eq!(made["subscription"]["url"], URL);
    assert_eq!(made["subscription"]["events"], events());
    assert_eq!(made["subscription"]["enabled"], true);
    // Each step a second apart, so the audit log orders them.
    let tick = || g.clock.advance(Duration::seconds(1));
    tick();

    // Listed and shown, by the global id or the subscription id alone; never with the secret.
    let r = g.query(&token, LIST, json!({"h": h.as_str()})).await;
    let list = r.data()["subscriptions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{}", r.body);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["previousSecretValidUntil"], Value::Null);
    for which in [id.clone(), json!(sub_id)] {
        let r = g.query(&token, GET, vars(&which)).await;
        assert_eq!(r.data()["subscription"]["url"], URL, "{}", r.body);
    }
    assert!(!r.body.to_string().contains(&secret));
    let r = g
        .query(
            &token,
            "query($h: ID!) { subscriptions(hotelId: $h) { secret } }",
            json!({"h": h.as_str()}),
        )
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{}", r.body);

    // Rotated: a new secret; the old one still signs for 24 hours, then no more.
    let r = g.query(&token, ROTATE, vars(&id)).await;
    let rotated = &r.data()["rotateSubscriptionSecret"];
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let at = time(&rotated["subscription"]["secretRotatedAt"]);
    assert_eq!(at, g.clock.now());
    assert_eq!(
        time(&rotated["subscription"]["previousSecretValidUntil"]),
        at + Duration::hours(24)
    );
    let service = SubscriptionService::new(
        &g.services,
        TargetPolicy::for_endpoint(Some(&g.stack.endpoint)),
    );
    let stored = service
        .registry()
        .get(
            &h,
            &pms_app::subscriptions::SubscriptionId::parse(sub_id).unwrap(),
        )
        .await
        .unwrap();
    let signing = |s: Vec<pms_app::subscriptions::SigningSecret>| {
        s.iter().map(|x| x.expose().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(
        signing(service.registry().signing_secrets(&stored).await.unwrap()),
        [new_secret.clone(), secret.clone()]
    );
    g.clock.advance(Duration::hours(24) + Duration::seconds(1));
    assert_eq!(
        signing(service.registry().signing_secrets(&stored).await.unwrap()),
        std::slice::from_ref(&new_secret)
    );

    // Disabled with a reason, enabled again.
    let r = g
        .query(
            &token,
            DISABLE,
            json!({"h": h.as_str(), "id": id, "reason": "receiver moving"}),
        )
        .await;
    let off = &r.data()["disableSubscription"];
    assert_eq!(off["enabled"], false, "{}", r.body);
    assert_eq!(
        off["disabledReason"],
        format!("{actor}: receiver moving").as_str()
    );
    tick();
    let r = g.query(&token, ENABLE, vars(&json!(sub_id))).await;
    let on = &r.data()["enableSubscription"];
    assert_eq!(
        (&on["enabled"], &on["disabledReason"]),
        (&json!(true), &Value::Null)
    );
    tick();

    // Deleted: gone, with its secret.
    let r = g.query(&token, DELETE, vars(&id)).await;
    assert_eq!(r.data()["deleteSubscription"]["url"], URL, "{}", r.body);
    let r = g.query(&token, GET, vars(&id)).await;
    assert_eq!(r.codes(), ["NOT_FOUND"], "{}", r.body);
    let r = g.query(&token, LIST, json!({"h": h.as_str()})).await;
    assert_eq!(r.data()["subscriptions"], json!([]));
    assert!(service.registry().signing_secrets(&stored).await.is_err());

    // Every change, in order, under the partner's token id.
    let target = id.as_str().unwrap().to_owned();
    assert_eq!(
        audited(&g, &h).await,
        [
            OpsAction::SubscriptionCreated,
            OpsAction::SubscriptionSecretRotated,
            OpsAction::SubscriptionDisabled,
            OpsAction::SubscriptionEnabled,
            OpsAction::SubscriptionDeleted,
        ]
        .map(|a| (a, actor.clone(), target.clone()))
    );
    let log = format!(
        "{:?}",
        AuditLog::new(g.item_store(), g.clock.clone())
            .list(std::slice::from_ref(&h), KindFilter::Ops, None, None, 100)
            .await
            .unwrap()
            .records
    );
    assert!(
        !log.contains(&secret[6..]) && !log.contains(&new_secret[6..]),
        "a secret in the audit log"
    );
}

#[tokio::test]
async fn subscriptions_need_the_subscribe_scope_and_the_tokens_own_hotel() {
    let g = GraphqlStack::new().await;
    let a = g.add_hotel("a", ZONE).await;
    let b = g.add_hotel("b", ZONE).await;
    let token_b = g.token(&[&b], &[Scope::Subscribe]).await;
    let r = create(&g, &token_b, &b, URL).await;
    let b_id = r.data()["createSubscription"]["subscription"]["id"].clone();
    let b_sub = r.data()["createSubscription"]["subscription"]["subscriptionId"].clone();
    assert!(b_id.is_string(), "{}", r.body);
    let b_audit = audited(&g, &b).await;

    // Read and write scopes, on the very hotel: refused, for every query and mutation.
    let no_scope = g
        .token(&[&b], &[Scope::Read, Scope::Write, Scope::Ingest])
        .await;
    // A's subscriber: refused on B, whether B's subscription is named by its global id (its
    // hotel is B) or alone.
    let token_a = g.token(&[&a], &[Scope::Read, Scope::Subscribe]).await;
    let on_b = |id: &Value| json!({"h": b.as_str(), "id": id, "url": URL, "events": events()});
    for (who, token) in [("read/write token", &no_scope), ("A's token", &token_a)] {
        for (name, q) in [
            ("create", CREATE),
            ("list", LIST),
            ("get", GET),
            ("disable", DISABLE),
            ("enable", ENABLE),
            ("rotate", ROTATE),
            ("delete", DELETE),
        ] {
            for id in [&b_id, &b_sub] {
                let r = g.query(token, q, on_b(id)).await;
                assert_eq!(r.codes(), ["FORBIDDEN"], "{name} by {who}: {}", r.body);
                assert_eq!(r.data(), &Value::Null, "{name} by {who}: {}", r.body);
                assert!(!r.body.to_string().contains(URL), "{name} leaks B's URL");
            }
        }
    }
    let forbidden = g
        .query(&no_scope, LIST, json!({"h": b.as_str()}))
        .await
        .body["errors"][0]["message"]
        .clone();
    assert!(
        forbidden.as_str().unwrap().contains("subscribe"),
        "{forbidden}"
    );
    // B's subscription asked for under A's hotel: A's token may ask about A, and A has no
    // such subscription; B's global id under A's hotel is refused as naming another hotel.
    let r = g
        .query(&token_a, GET, json!({"h": a.as_str(), "id": b_sub}))
        .await;
    assert_eq!(r.codes(), ["NOT_FOUND"], "{}", r.body);
    let r = g
        .query(&token_a, DELETE, json!({"h": a.as_str(), "id": b_id}))
        .await;
    assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{}", r.body);
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "id");
    let r = g.query(&token_a, LIST, json!({"h": a.as_str()})).await;
    assert_eq!(r.data()["subscriptions"], json!([]), "{}", r.body);

    // B's subscription is as it was, and nothing more was audited for B.
    let r = g
        .query(&token_b, GET, json!({"h": b.as_str(), "id": b_id}))
        .await;
    assert_eq!(r.data()["subscription"]["enabled"], true, "{}", r.body);
    assert_eq!(audited(&g, &b).await, b_audit);
    assert!(audited(&g, &a).await.is_empty());
}

#[tokio::test]
async fn bad_subscription_requests_name_the_problem() {
    let g = GraphqlStack::new().await;
    let h = g.add_hotel("bad", ZONE).await;
    let token = g.token(&[&h], &[Scope::Subscribe]).await;
    let refused = |r: &Reply| {
        let e = &r.body["errors"][0];
        assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{}", r.body);
        (
            e["extensions"]["field"].as_str().unwrap_or("").to_owned(),
            e["message"].as_str().unwrap().to_owned(),
        )
    };
    for (url, message) in [
        ("http://hooks.example.com/pms", "url: the URL must be https"),
        (
            "https://10.0.0.8/pms",
            "url: the URL's host 10.0.0.8 resolves to 10.0.0.8, an address that is not public",
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            "url: the URL's host 169.254.169.254 resolves to 169.254.169.254, an address that is not public",
        ),
        (
            "https://user:pw@127.0.0.1/pms",
            "url: the URL must not carry a user name or password",
        ),
        ("hooks", "url: not a URL: relative URL without a base"),
    ] {
        let r = create(&g, &token, &h, url).await;
        assert_eq!(refused(&r), ("url".to_owned(), message.to_owned()), "{url}");
    }
    let r = g
        .query(
            &token,
            CREATE,
            json!({"h": h.as_str(), "url": URL, "events": ["pms.booking.moved"]}),
        )
        .await;
    let (field, message) = refused(&r);
    assert_eq!(field, "events");
    assert!(
        message.starts_with("events: \"pms.booking.moved\" is not an event type")
            && message.contains("pms.booking.checked_in"),
        "{message}"
    );
    let r = g
        .query(
            &token,
            CREATE,
            json!({"h": h.as_str(), "url": URL, "events": []}),
        )
        .await;
    assert_eq!(refused(&r).0, "events");
    let r = g
        .query(&token, GET, json!({"h": h.as_str(), "id": "sub_nothex"}))
        .await;
    assert_eq!(refused(&r).0, "id");
    assert!(
        audited(&g, &h).await.is_empty(),
        "a refused request was audited"
    );

    // At most 25 a hotel: the 26th is refused, naming the limit.
    for n in 0..25 {
        let r = create(&g, &token, &h, &format!("{URL}/{n}")).await;
        assert!(r.codes().is_empty(), "subscription {n}: {}", r.body);
    }
    let r = create(&g, &token, &h, URL).await;
    let (_, message) = refused(&r);
    assert_eq!(message, format!("hotel {h} already has 25 subscriptions"));
    let r = g.query(&token, LIST, json!({"h": h.as_str()})).await;
    assert_eq!(r.data()["subscriptions"].as_array().unwrap().len(), 25);
}
