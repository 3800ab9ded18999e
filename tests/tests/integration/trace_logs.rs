//! One trace per request, checked on the log lines themselves: a partner's charge, sent with its
//! `x-correlation-id`, is logged by the GraphQL function and the writer (moto, the Mews
//! simulator) with that id, the hotel and the provider on every line, in the JSON shape the
//! functions log in (`pms_app::obs::subscriber`, the one CloudWatch Logs Insights reads).

use std::io::Write;
use std::sync::{Arc, Mutex};

use pms_app::registry::Scope;
use pms_sim::data::SimStatus;
use pms_tests::writes::{confirmation_of, WritesStack};
use serde_json::{json, Value};
use tracing_subscriber::fmt::MakeWriter;

const CHARGE: &str = "mutation($h: ID!, $c: String!, $charge: ChargeInput!) {
  postCharge(hotelId: $h, confirmationNumber: $c, charge: $charge) { id status } }";

/// Every line the subscriber writes, kept for the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
            .collect()
    }
}

#[tokio::test]
async fn a_partners_correlation_id_hotel_and_provider_are_on_every_line_of_its_charge() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);

    // Debug, so the lines of every step are there to check, not only the few at info.
    let captured = Captured::default();
    let subscriber = pms_app::obs::subscriber("debug", captured.clone());
    let trace = "partner-trace-7f3a";
    let guard = tracing::subscriber::set_default(subscriber);
    let reply = w
        .graphql_traced(
            &token,
            CHARGE,
            json!({"h": h.id.as_str(), "c": conf,
                   "charge": {"amountMinor": 1250, "currency": h.config.currency.to_string(), "description": "Minibar"}}),
            Some(trace),
        )
        .await;
    assert_eq!(
        reply.data()["postCharge"]["status"],
        "QUEUED",
        "{}",
        reply.body
    );
    let rounds = w.drain().await;
    drop(guard);
    assert!(!rounds.is_empty(), "the writer ran");

    // Our lines (not moto's client or the simulator's server, which are not a function's).
    let ours: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|l| {
            let target = l["target"].as_str().unwrap_or_default();
            target.starts_with("pms_")
                || target.starts_with("graphql")
                || target.starts_with("writer")
        })
        .filter(|l| {
            !l["target"]
                .as_str()
                .unwrap_or_default()
                .starts_with("pms_sim")
        })
        .collect();
    assert!(
        ours.len() >= 3,
        "the request and the write log what they do: {ours:#?}"
    );
    let functions: std::collections::BTreeSet<&str> = ours
        .iter()
        .filter_map(|l| l["span"]["function"].as_str())
        .collect();
    assert_eq!(
        functions.into_iter().collect::<Vec<_>>(),
        ["graphql", "writer"],
        "both functions logged: {ours:#?}"
    );
    // The hotel is known once the request names one the token may use: authentication's own
    // lines come before that (a token may cover several hotels) and carry only the id.
    for line in &ours {
        let span = &line["span"];
        assert_eq!(span["correlation_id"], trace, "{line:#}");
        if line["target"] == "pms_graphql::auth" {
            continue;
        }
        assert_eq!(span["hotel"], h.id.as_str(), "{line:#}");
        assert_eq!(span["provider"], "mews", "{line:#}");
    }
    // The writer's line names the outcome of the partner's operation.
    assert!(
        ours.iter()
            .any(|l| l["message"] == "write message handled" && l["result"] == "Done"),
        "{ours:#?}"
    );
}
