//! The README's sample delivery is what we send: its body is the sample event's body as
//! `deliver` writes it, and its headers are our signer's for the README's secret (the Standard
//! Webhooks test vector's) at the README's timestamp. A change to the body's shape or to the
//! signing fails here until the README shows it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

#[path = "../examples/signed_delivery.rs"]
#[allow(dead_code)] // its `main` is the example's
mod example;

use chrono::{TimeZone, Utc};
use pms_subscriptions::deliver::SignedRequest;
use pms_subscriptions::signing::verify;
use pms_subscriptions::SigningSecret;

const README: &str = include_str!("../../../README.md");
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TIMESTAMP: i64 = 1_796_652_195;

#[test]
fn the_readmes_sample_delivery_is_what_we_send_and_sign() {
    let secret = SigningSecret::parse(SECRET).unwrap();
    let at = Utc.timestamp_opt(TIMESTAMP, 0).unwrap();
    let r = SignedRequest::new(&example::sample_event(), std::slice::from_ref(&secret), at);
    let body = String::from_utf8(r.body.clone()).unwrap();
    let lines: Vec<&str> = README.lines().collect();
    for want in [
        format!("webhook-id: {}", r.id),
        format!("webhook-timestamp: {TIMESTAMP}"),
        format!("webhook-signature: {}", r.signature),
        body.clone(),
    ] {
        assert!(
            lines.contains(&want.as_str()),
            "README.md's sample delivery lacks the line\n{want}"
        );
    }
    assert!(README.contains(SECRET), "README.md names another secret");
    verify(
        &secret,
        &r.id,
        &TIMESTAMP.to_string(),
        &r.signature,
        body.as_bytes(),
        TIMESTAMP,
    )
    .unwrap();
}
