//! Writes end to end on moto and the vendor simulators: GraphQL mutation -> write queue ->
//! writer (its real handler, fed real SQS messages) -> simulator -> `operation` -> audit log.
//! Duplicates and crashes never post a charge twice; poison messages reach the dead-letter
//! records after the right number of attempts with the default retry backoff; `pmsctl dlq` (the
//! real
//! binary) redrives and abandons them.

use chrono::{Duration as ChronoDuration, NaiveTime};
use pms_app::registry::Scope;
use pms_app::writes::{
    AuditResult, DeliveryResult, DlqStatus, OperationId, OperationRef, OperationStatus,
};
use pms_sim::data::SimStatus;
use pms_sim::{FaultConfig, Provider};
use pms_tests::writes::{
    confirmation_of, guest_record_id, wait_out_lease, SimHotelRef, WriterOptions, WritesStack,
    MAX_RECEIVES,
};
use serde_json::{json, Value};

const NOTE: &str = "mutation($h: ID!, $c: String!, $text: String!, $k: String) {
  addReservationNote(hotelId: $h, confirmationNumber: $c, note: {text: $text}, idempotencyKey: $k) {
    id status createdAt } }";
const PREFS: &str = "mutation($h: ID!, $g: ID!, $p: [PreferenceInput!]!, $k: String) {
  updateGuestPreferences(hotelId: $h, guestId: $g, preferences: $p, idempotencyKey: $k) {
    id status createdAt } }";
const CHARGE: &str = "mutation($h: ID!, $c: String!, $charge: ChargeInput!, $k: String) {
  postCharge(hotelId: $h, confirmationNumber: $c, charge: $charge, idempotencyKey: $k) {
    id status createdAt } }";
const CHECKOUT: &str = "mutation($h: ID!, $c: String!, $d: Date!, $t: LocalTime, $k: String) {
  updateCheckoutTime(hotelId: $h, confirmationNumber: $c, departureDate: $d, time: $t,
                     idempotencyKey: $k) { id status createdAt } }";

/// The operation a mutation answered (asserting it answered one, queued or repeated).
fn operation_of(r: &pms_tests::graphql::Reply, field: &str) -> Value {
    assert!(r.codes().is_empty(), "{field}: {}", r.body);
    let op = r.data()[field].clone();
    assert!(op["id"].is_string(), "{field}: {}", r.body);
    assert!(op["createdAt"].is_string(), "{field}: {}", r.body);
    op
}

fn op_ref(op: &Value) -> OperationRef {
    OperationRef::parse(op["id"].as_str().unwrap()).unwrap()
}

fn charge_vars(h: &SimHotelRef, confirmation: &str, amount: i64, key: Option<&str>) -> Value {
    json!({
        "h": h.id.as_str(),
        "c": confirmation,
        "charge": {"amountMinor": amount, "currency": h.config.currency.code(),
                   "description": "Spa treatment"},
        "k": key,
    })
}

async fn queue_depth(w: &WritesStack) -> u64 {
    w.services.queue.depth(w.write_queue_url()).await.unwrap()
}

// ---- each mutation, end to end ------------------------------------------------------------

async fn every_mutation_end_to_end(vendor: Provider) {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(vendor).await;
    let (token, token_id) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let caps = w
        .services
        .adapters
        .adapter_for(&h.config)
        .await
        .unwrap()
        .capabilities();
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(vendor, &r);
    let mut queued: Vec<(&str, Value)> = Vec::new();

    let note_text = format!("Feather allergy, {vendor:?} writes test");
    let reply = w
        .graphql(
            &token,
            NOTE,
            json!({"h": h.id.as_str(), "c": conf, "text": note_text}),
        )
        .await;
    let op = operation_of(&reply, "addReservationNote");
    assert_eq!(op["status"], "QUEUED");
    queued.push(("addReservationNote", op));

    let prefs =
        json!([{"category": "ROOM FEATURES", "key": "QUIET", "value": "Away from the lift"}]);
    let guest = guest_record_id(vendor, &r.guest_id);
    let reply = w
        .graphql(
            &token,
            PREFS,
            json!({"h": h.id.as_str(), "g": guest, "p": prefs}),
        )
        .await;
    if caps.update_preferences {
        queued.push((
            "updateGuestPreferences",
            operation_of(&reply, "updateGuestPreferences"),
        ));
    } else {
        assert_eq!(reply.codes(), ["UNSUPPORTED"], "{}", reply.body);
    }

    let reply = w
        .graphql(&token, CHARGE, charge_vars(&h, &conf, 1234, None))
        .await;
    queued.push(("postCharge", operation_of(&reply, "postCharge")));

    let new_departure = r.departure + ChronoDuration::days(1);
    let late = caps.checkout_time.then_some("13:30");
    if !caps.checkout_time {
        // A time this vendor cannot record is refused at once; the date alone is fine.
        let reply = w
            .graphql(
                &token,
                CHECKOUT,
                json!({"h": h.id.as_str(), "c": conf, "d": new_departure.to_string(), "t": "13:30"}),
            )
            .await;
        assert_eq!(reply.codes(), ["UNSUPPORTED"], "{}", reply.body);
    }
    let reply = w
        .graphql(
            &token,
            CHECKOUT,
            json!({"h": h.id.as_str(), "c": conf, "d": new_departure.to_string(), "t": late}),
        )
        .await;
    queued.push((
        "updateCheckoutTime",
        operation_of(&reply, "updateCheckoutTime"),
    ));

    // One message per accepted mutation; nothing for the refused ones.
    assert_eq!(queue_depth(&w).await, queued.len() as u64);
    let rounds = w.drain().await;
    assert!(!rounds.is_empty());
    for round in &rounds {
        assert!(round.failed_ids().is_empty(), "{:?}", round.report);
    }
    assert_eq!(queue_depth(&w).await, 0);

    let audit = w.records().audit_log(&h.id, 50).await.unwrap();
    for (kind, op) in &queued {
        let id = op["id"].as_str().unwrap();
        let now = w.operation(&token, id).await;
        assert_eq!(now["status"], "SUCCEEDED", "{kind}: {now}");
        assert_eq!(now["kind"], *kind);
        assert_eq!(now["attempts"], 1);
        assert!(now["error"].is_null(), "{kind}: {now}");
        assert!(now["result"].is_object(), "{kind}: {now}");
        let r = op_ref(op);
        let entries: Vec<_> = audit.iter().filter(|a| a.operation_id == r.id).collect();
        assert_eq!(entries.len(), 1, "{kind}: one PMS attempt audited");
        let e = entries[0];
        assert_eq!(e.result, AuditResult::Succeeded);
        assert_eq!(e.actor, token_id, "the actor is the partner token");
        assert_eq!(e.operation, *kind);
        assert_eq!(e.hotel_id, h.id);
        assert!(e.error.is_none());
    }

    // The simulated PMS holds every change.
    let data = w.sim_data(&h);
    let after = data.reservation(&r.id).unwrap();
    assert!(
        after.notes.iter().any(|n| n.contains(&note_text)),
        "{:?}",
        after.notes
    );
    assert_eq!(after.departure, new_departure);
    if caps.checkout_time {
        assert_eq!(
            after.departure_time,
            NaiveTime::from_hms_opt(13, 30, 0).unwrap()
        );
    }
    let charge_op = &queued.iter().find(|(k, _)| *k == "postCharge").unwrap().1;
    let charge_now = w.operation(&token, charge_op["id"].as_str().unwrap()).await;
    let reference = charge_now["result"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reference.starts_with("pms-"),
        "derived from the idempotency key: {reference}"
    );
    let posted: Vec<_> = data
        .charges
        .iter()
        .filter(|c| c.reference.as_deref() == Some(reference.as_str()))
        .collect();
    assert_eq!(posted.len(), 1, "{:?}", data.charges);
    assert_eq!(posted[0].amount_minor, 1234);
    assert_eq!(w.counters(vendor).charges_posted, 1);
    if caps.update_preferences {
        let adapter = w.services.adapters.adapter_for(&h.config).await.unwrap();
        let g = adapter
            .get_guest(&pms_domain::domain::ExternalId::parse(&r.guest_id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            g.preferences.iter().any(|p| p.key == "QUIET"),
            "{:?}",
            g.preferences
        );
    }
    w.sim.stop().await;
}

#[tokio::test]
async fn every_mutation_end_to_end_on_opera() {
    every_mutation_end_to_end(pms_opera::PROVIDER).await;
}

#[tokio::test]
async fn every_mutation_end_to_end_on_mews() {
    every_mutation_end_to_end(pms_mews::PROVIDER).await;
}

#[tokio::test]
async fn every_mutation_end_to_end_on_cloudbeds() {
    every_mutation_end_to_end(pms_cloudbeds::PROVIDER).await;
}

// ---- refusals: input, scope, tenancy, idempotency ------------------------------------------

#[tokio::test]
async fn refused_mutations_name_the_field_and_queue_nothing() {
    let w = WritesStack::new().await;
    let a = w.sim_hotel(pms_mews::PROVIDER).await;
    let b = w.sim_hotel(pms_opera::PROVIDER).await;
    let (writer_a, _) = w.token(&[&a.id], &[Scope::Read, Scope::Write]).await;
    let (reader_a, _) = w.token(&[&a.id], &[Scope::Read]).await;
    let (writer_b, _) = w.token(&[&b.id], &[Scope::Write]).await;
    let r = w.sim_reservation(&a, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);

    let field_of = |reply: &pms_tests::graphql::Reply| {
        reply.body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let bad = |vars: Value| {
        let mut v = charge_vars(&a, &conf, 500, None);
        for (k, x) in vars.as_object().unwrap() {
            v["charge"][k] = x.clone();
        }
        v
    };
    for (vars, field) in [
        (bad(json!({"amountMinor": 0})), "charge.amountMinor"),
        (bad(json!({"amountMinor": -100})), "charge.amountMinor"),
        (bad(json!({"currency": "EUR"})), "charge.currency"),
        (bad(json!({"currency": "EURO"})), "charge.currency"),
        (bad(json!({"description": " "})), "charge.description"),
        (bad(json!({"reference": "bad ref!"})), "charge.reference"),
        (bad(json!({"revenueCenter": ""})), "charge.revenueCenter"),
    ] {
        let reply = w.graphql(&writer_a, CHARGE, vars.clone()).await;
        assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{vars}: {}", reply.body);
        assert_eq!(field_of(&reply), field, "{}", reply.body);
    }
    let mut v = charge_vars(&a, &conf, 500, Some("not a key!"));
    let reply = w.graphql(&writer_a, CHARGE, v.clone()).await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"]);
    assert_eq!(field_of(&reply), "idempotencyKey");
    v["c"] = json!("");
    let reply = w.graphql(&writer_a, CHARGE, v).await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{}", reply.body);
    let reply = w
        .graphql(
            &writer_a,
            NOTE,
            json!({"h": a.id.as_str(), "c": conf, "text": "  "}),
        )
        .await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"]);
    assert_eq!(field_of(&reply), "note.text");
    let reply = w
        .graphql(
            &writer_a,
            PREFS,
            json!({"h": a.id.as_str(), "g": guest_record_id(pms_opera::PROVIDER, "12345"),
                   "p": [{"category": "ROOM", "key": "K"}]}),
        )
        .await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{}", reply.body);
    assert_eq!(field_of(&reply), "guestId");
    let reply = w
        .graphql(
            &writer_a,
            PREFS,
            json!({"h": a.id.as_str(), "g": guest_record_id(pms_mews::PROVIDER, &r.guest_id), "p": []}),
        )
        .await;
    assert_eq!(field_of(&reply), "preferences");
    let reply = w
        .graphql(
            &writer_a,
            CHECKOUT,
            json!({"h": a.id.as_str(), "c": conf, "d": "2030-01-01", "t": "25:00"}),
        )
        .await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{}", reply.body);

    // Scope and tenancy: FORBIDDEN, for every mutation.
    let guest = guest_record_id(pms_mews::PROVIDER, &r.guest_id);
    let every: [(&str, Value); 4] = [
        (NOTE, json!({"h": a.id.as_str(), "c": conf, "text": "x"})),
        (
            PREFS,
            json!({"h": a.id.as_str(), "g": guest, "p": [{"category": "ROOM", "key": "K"}]}),
        ),
        (CHARGE, charge_vars(&a, &conf, 500, None)),
        (
            CHECKOUT,
            json!({"h": a.id.as_str(), "c": conf, "d": "2030-01-01"}),
        ),
    ];
    for (q, vars) in &every {
        for token in [&reader_a, &writer_b] {
            let reply = w.graphql(token, q, vars.clone()).await;
            assert_eq!(reply.codes(), ["FORBIDDEN"], "{q}: {}", reply.body);
            assert_eq!(reply.data(), &Value::Null);
        }
    }
    // One request cannot fan out into many writes (each costs what a PMS read costs).
    let many: String = (0..21)
        .map(|i| {
            format!(
                "n{i}: addReservationNote(hotelId: \"{}\", confirmationNumber: \"{conf}\", note: {{text: \"n{i}\"}}) {{ id }}\n",
                a.id
            )
        })
        .collect();
    let reply = w
        .graphql(&writer_a, &format!("mutation {{ {many} }}"), json!({}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{}", reply.body);
    assert_eq!(queue_depth(&w).await, 0, "nothing refused was queued");

    // The same key with another payload is a conflict; with the same one, the same operation.
    let first = operation_of(
        &w.graphql(&writer_a, CHARGE, charge_vars(&a, &conf, 700, Some("k-1")))
            .await,
        "postCharge",
    );
    let reply = w
        .graphql(&writer_a, CHARGE, charge_vars(&a, &conf, 701, Some("k-1")))
        .await;
    assert_eq!(reply.codes(), ["IDEMPOTENCY_CONFLICT"], "{}", reply.body);
    let again = operation_of(
        &w.graphql(&writer_a, CHARGE, charge_vars(&a, &conf, 700, Some("k-1")))
            .await,
        "postCharge",
    );
    assert_eq!(again["id"], first["id"]);
    // Without a key, every request is its own operation (two notes are two notes).
    let n1 = operation_of(
        &w.graphql(
            &writer_a,
            NOTE,
            json!({"h": a.id.as_str(), "c": conf, "text": "same"}),
        )
        .await,
        "addReservationNote",
    );
    let n2 = operation_of(
        &w.graphql(
            &writer_a,
            NOTE,
            json!({"h": a.id.as_str(), "c": conf, "text": "same"}),
        )
        .await,
        "addReservationNote",
    );
    assert_ne!(n1["id"], n2["id"]);

    // operation(id): the hotel's readers and writers see it; another hotel's token does not.
    let id = first["id"].as_str().unwrap();
    assert_eq!(w.operation(&reader_a, id).await["status"], "QUEUED");
    let q = "query($id: ID!) { operation(id: $id) { status } }";
    let reply = w.graphql(&writer_b, q, json!({"id": id})).await;
    assert_eq!(reply.codes(), ["FORBIDDEN"], "{}", reply.body);
    let unknown = format!("{}/{}", a.id, OperationId::new());
    let reply = w.graphql(&writer_a, q, json!({"id": unknown})).await;
    assert_eq!(reply.codes(), ["NOT_FOUND"], "{}", reply.body);
    let reply = w.graphql(&writer_a, q, json!({"id": "op_123"})).await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{}", reply.body);
    w.sim.stop().await;
}

// ---- duplicates: one charge ------------------------------------------------------------------

async fn the_same_charge_many_times_is_one_charge(vendor: Provider) {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(vendor).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(vendor, &r);
    let vars = charge_vars(&h, &conf, 4200, Some(&format!("dup-{vendor:?}")));

    // 10 at once, then 10 one after another: one operation.
    let replies =
        futures::future::join_all((0..10).map(|_| w.graphql(&token, CHARGE, vars.clone()))).await;
    let mut ids: Vec<String> = replies
        .iter()
        .map(|r| {
            operation_of(r, "postCharge")["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for _ in 0..10 {
        let reply = w.graphql(&token, CHARGE, vars.clone()).await;
        ids.push(
            operation_of(&reply, "postCharge")["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 1, "one operation for one key: {distinct:?}");

    // The one message queued for it (repeats of a queued operation queue nothing more),
    // delivered twice, through two writer invocations at once (two Lambda instances).
    let mut first = w.receive_writes(None).await;
    assert_eq!(first.len(), 1, "one message for twenty submissions");
    assert!(!first.is_empty());
    let dup = first[0].clone();
    w.sqs
        .change_message_visibility()
        .queue_url(w.write_queue_url())
        .receipt_handle(dup.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let second = w.receive_writes(None).await;
    assert!(
        second.iter().any(|m| m.message_id() == dup.message_id()),
        "the same message delivered again"
    );
    let half = first.split_off(first.len() / 2);
    let (a, b, c) = futures::join!(w.deliver(first), w.deliver(half), w.deliver(second));
    for round in [&a, &b, &c] {
        for f in round.failed_ids() {
            assert!(!f.is_empty());
        }
        // Copies that found the key busy come back after the holder's lease.
        w.let_delays_pass(round).await;
    }
    let rest = w.drain().await;
    let rounds: Vec<_> = [a, b, c].into_iter().chain(rest).collect();
    assert_eq!(queue_depth(&w).await, 0);

    assert_eq!(w.counters(vendor).charges_posted, 1, "exactly one charge");
    let posted = w
        .sim_data(&h)
        .charges
        .iter()
        .filter(|c| c.amount_minor == 4200)
        .count();
    assert_eq!(posted, 1);
    let now = w.operation(&token, &ids[0]).await;
    assert_eq!(now["status"], "SUCCEEDED", "{now}");
    let r = OperationRef::parse(&ids[0]).unwrap();
    let audit = w.records().audit_log(&h.id, 100).await.unwrap();
    let attempts: Vec<_> = audit.iter().filter(|a| a.operation_id == r.id).collect();
    assert_eq!(attempts.len(), 1, "one PMS attempt: {attempts:?}");
    // Every later copy was answered from the record.
    let done = rounds
        .iter()
        .flat_map(|r| r.report.iter().flat_map(|x| x.outcomes.clone()))
        .filter(|o| o.result == DeliveryResult::Done)
        .count();
    assert!(done >= 2, "the duplicates were acknowledged");
    w.sim.stop().await;
}

#[tokio::test]
async fn the_same_charge_many_times_is_one_charge_on_opera() {
    the_same_charge_many_times_is_one_charge(pms_opera::PROVIDER).await;
}

#[tokio::test]
async fn the_same_charge_many_times_is_one_charge_on_mews() {
    the_same_charge_many_times_is_one_charge(pms_mews::PROVIDER).await;
}

#[tokio::test]
async fn the_same_charge_many_times_is_one_charge_on_cloudbeds() {
    the_same_charge_many_times_is_one_charge(pms_cloudbeds::PROVIDER).await;
}

// ---- a crash after the PMS accepted the charge ----------------------------------------------

/// The writer process dies right after the PMS accepted the charge, before it recorded
/// anything; the message comes back once its visibility timeout ends, and a new writer process
/// finishes the operation without posting again.
async fn a_crash_after_the_pms_accepted_a_charge_never_doubles_it(vendor: Provider) {
    const LEASE: u32 = 2;
    let w = WritesStack::new().await;
    let h = w.sim_hotel(vendor).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(vendor, &r);
    let op = operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 990, Some("crash-1")))
            .await,
        "postCharge",
    );

    let crashed = w.writer_process(true, 120, LEASE).await;
    assert_eq!(crashed.exit_code(), Some(137), "the crash hook ended it");
    assert_eq!(crashed.received.len(), 1);
    assert!(crashed.response.is_none(), "it never answered");
    assert_eq!(
        w.counters(vendor).charges_posted,
        1,
        "the PMS took the charge"
    );
    let mid = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(mid["status"], "IN_PROGRESS", "not recorded as done: {mid}");
    let r_op = op_ref(&op);
    let key = w
        .records()
        .operation(&h.id, &r_op.id)
        .await
        .unwrap()
        .unwrap()
        .idempotency_key;
    assert!(
        w.records().intent(&h.id, &key).await.unwrap().is_some(),
        "the intent was written before the call"
    );

    // The visibility timeout ends and the dead writer's lease lapses; a new process runs it.
    w.release(&crashed.received).await;
    wait_out_lease(LEASE).await;
    let again = w.writer_process(false, 120, LEASE).await;
    assert_eq!(again.exit_code(), Some(0));
    let response = again.response.expect("a batch response");
    assert_eq!(
        response["batchItemFailures"].as_array().map(Vec::len),
        Some(0),
        "{response}"
    );
    assert_eq!(queue_depth(&w).await, 0);
    assert_eq!(
        w.counters(vendor).charges_posted,
        1,
        "still exactly one charge"
    );
    let posted = w
        .sim_data(&h)
        .charges
        .iter()
        .filter(|c| c.amount_minor == 990)
        .count();
    assert_eq!(posted, 1);
    let done = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let audit = w.records().audit_log(&h.id, 10).await.unwrap();
    let entry = audit.iter().find(|a| a.operation_id == r_op.id).unwrap();
    let caps = w
        .services
        .adapters
        .adapter_for(&h.config)
        .await
        .unwrap()
        .capabilities();
    // Cloudbeds: sent again with the same referenceID, which the PMS dedupes and names as
    // existing (the intent says it is ours); OPERA, Mews: found on the folio by its
    // reference, not sent again. Either way: already applied.
    assert_eq!(entry.result, AuditResult::AlreadyApplied);
    let endpoint = match vendor {
        pms_cloudbeds::PROVIDER => "postCustomItem",
        pms_mews::PROVIDER => "orders/add",
        pms_opera::PROVIDER => "postBillingCharges",
        other => panic!("{other} is not a simulated vendor"),
    };
    let sent = w.counters(vendor).calls.get(endpoint).copied();
    let expected = if caps.native_charge_idempotency { 2 } else { 1 };
    assert_eq!(sent, Some(expected), "{vendor:?}");
    w.sim.stop().await;
}

#[tokio::test]
async fn a_crash_after_the_pms_accepted_a_charge_never_doubles_it_on_opera() {
    a_crash_after_the_pms_accepted_a_charge_never_doubles_it(pms_opera::PROVIDER).await;
}

#[tokio::test]
async fn a_crash_after_the_pms_accepted_a_charge_never_doubles_it_on_mews() {
    a_crash_after_the_pms_accepted_a_charge_never_doubles_it(pms_mews::PROVIDER).await;
}

#[tokio::test]
async fn a_crash_after_the_pms_accepted_a_charge_never_doubles_it_on_cloudbeds() {
    a_crash_after_the_pms_accepted_a_charge_never_doubles_it(pms_cloudbeds::PROVIDER).await;
}

// ---- poison messages, dead letters, pmsctl ---------------------------------------------------

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn a_refused_write_is_dead_lettered_after_one_attempt_and_can_be_redriven_or_abandoned() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    // OPERA refuses postings to a cancelled reservation (400): not worth a retry.
    let cancelled = w.sim_reservation(&h, SimStatus::Cancelled);
    let conf = confirmation_of(pms_opera::PROVIDER, &cancelled);
    let op = operation_of(
        &w.graphql(
            &token,
            CHARGE,
            charge_vars(&h, &conf, 300, Some("poison-1")),
        )
        .await,
        "postCharge",
    );
    let r_op = op_ref(&op);

    let round = w.writer_round().await.unwrap();
    assert!(round.failed_ids().is_empty(), "acknowledged, not retried");
    assert_eq!(queue_depth(&w).await, 0);
    assert!(
        w.dlq_messages().await.is_empty(),
        "only the record holds it"
    );
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Pending);
    assert_eq!(item.attempts, 1);
    assert!(!item.in_queue_dlq);
    assert_eq!(item.error.code, "PMS_REJECTED");
    assert!(!item.error.retryable);
    assert_eq!(item.operation, "postCharge");
    assert_eq!(item.hotel_id, h.id);
    assert_eq!(item.message.operation_id, r_op.id);
    let now = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "DEAD_LETTERED");
    assert_eq!(now["error"]["code"], "PMS_REJECTED");
    assert_eq!(w.counters(pms_opera::PROVIDER).charges_posted, 0);

    // Listed and shown by the CLI.
    let out = w
        .pmsctl(&[
            "dlq",
            "list",
            "--hotel",
            h.id.as_str(),
            "--operation",
            "postCharge",
        ])
        .await;
    assert!(out.status.success());
    // Listed by the id partners are given (`Operation.id`, `<hotel>/op_…`), so either side's
    // id can be pasted into the other.
    let partner_id = op["id"].as_str().unwrap();
    assert_eq!(partner_id, r_op.to_string());
    assert!(stdout(&out).contains(partner_id), "{}", stdout(&out));
    assert!(stdout(&out).contains("PMS_REJECTED"));
    for id in [r_op.id.to_string(), partner_id.to_owned()] {
        let out = w.pmsctl(&["dlq", "show", &id]).await;
        assert!(out.status.success(), "{id}");
        let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(shown["status"], "pending");
    }
    // The partner form names the hotel: another hotel's prefix is not this dead letter.
    let elsewhere = format!("some-other-hotel/{}", r_op.id);
    let out = w.pmsctl(&["dlq", "show", &elsewhere]).await;
    assert_eq!(out.status.code(), Some(3));
    let out = w.pmsctl(&["dlq", "redrive", &elsewhere]).await;
    assert_eq!(out.status.code(), Some(3));

    // Redriven while still refused (by the partner's id): back to pending with one more
    // attempt, after one try.
    let out = w.pmsctl(&["dlq", "redrive", partner_id]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("retrying"), "{}", stdout(&out));
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Retrying);
    let round = w.writer_round().await.unwrap();
    assert!(round.failed_ids().is_empty());
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Pending);
    assert_eq!(item.attempts, 2, "one attempt more");

    // Abandoned: who and why are recorded; the operation will never run.
    let out = w
        .pmsctl(&[
            "dlq",
            "abandon",
            r_op.id.as_str(),
            "--reason",
            "reservation cancelled; charged at the desk",
            "--staff",
            "j.doe",
        ])
        .await;
    assert!(out.status.success());
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Abandoned);
    assert_eq!(item.resolved_by.as_deref(), Some("j.doe"));
    assert_eq!(
        item.notes.as_deref(),
        Some("reservation cancelled; charged at the desk")
    );
    assert!(item.resolved_at.is_some());
    let now = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "ABANDONED");
    // Abandoned twice, or redriven after: refused (exit 2), nothing changes.
    let out = w.pmsctl(&["dlq", "redrive", r_op.id.as_str()]).await;
    assert_eq!(out.status.code(), Some(2));
    // A stray copy of its message is never executed.
    w.services
        .queue
        .send(
            w.write_queue_url(),
            pms_domain::ports::OutgoingMessage::new(serde_json::to_string(&item.message).unwrap()),
        )
        .await
        .unwrap();
    let round = w.writer_round().await.unwrap();
    assert!(round.failed_ids().is_empty());
    assert_eq!(
        w.records()
            .dlq(&h.id, &r_op.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DlqStatus::Abandoned
    );
    let out = w
        .pmsctl(&[
            "dlq",
            "list",
            "--hotel",
            h.id.as_str(),
            "--status",
            "abandoned",
        ])
        .await;
    assert!(stdout(&out).contains("abandoned"));
    w.sim.stop().await;
}

/// The outage: OPERA's charge endpoint answers 503 until "fixed".
async fn charge_outage(w: &WritesStack, on: bool) {
    let faults = if on {
        FaultConfig {
            error_rate: 1.0,
            error_status: Some(503),
            only_endpoints: vec!["postBillingCharges".into()],
            ..FaultConfig::default()
        }
    } else {
        FaultConfig::default()
    };
    w.sim
        .admin()
        .set_faults(pms_opera::PROVIDER, &faults)
        .await
        .unwrap();
}

/// Three deliveries with the default retry backoff, the dead-letter record on the last, then SQS's
/// redrive policy moves the message to the DLQ. Returns the operation.
async fn fail_three_times(w: &WritesStack, token: &str, h: &SimHotelRef, key: &str) -> Value {
    let r = w.sim_reservation(h, SimStatus::InHouse);
    let conf = confirmation_of(h.vendor, &r);
    let op = operation_of(
        &w.graphql(token, CHARGE, charge_vars(h, &conf, 2500, Some(key)))
            .await,
        "postCharge",
    );
    let r_op = op_ref(&op);
    let policy = pms_domain::pms::RetryPolicy::default();
    let mut message_id = None;
    for attempt in 1..=MAX_RECEIVES {
        let round = w.writer_round().await.expect("the message is back");
        assert_eq!(round.messages.len(), 1);
        let failed = round.failed_ids();
        assert_eq!(failed.len(), 1, "reported as a batch item failure");
        assert!(!failed[0].is_empty());
        assert_eq!(Some(failed[0].as_str()), round.messages[0].message_id());
        message_id.get_or_insert(failed[0].clone());
        let outcome = &round.report.as_ref().unwrap().outcomes[0];
        assert_eq!(outcome.receive_count, attempt, "ApproximateReceiveCount");
        let DeliveryResult::RetryAfter(delay) = outcome.result else {
            panic!("attempt {attempt}: {:?}", outcome.result)
        };
        // Attempt n: min(1 s x 2^(n-1), 30 s) plus 0-50 % jitter.
        let base = std::time::Duration::from_secs(1 << (attempt - 1)).min(policy.max_delay);
        assert_eq!(base, policy.base_delay(attempt));
        assert!(
            delay >= base && delay < base + base / 2,
            "attempt {attempt}: {delay:?} outside [{base:?}, {:?})",
            base + base / 2
        );
        let dlq = w.records().dlq(&h.id, &r_op.id).await.unwrap();
        assert_eq!(
            dlq.is_some(),
            attempt == MAX_RECEIVES,
            "the record is written on the last delivery only"
        );
        w.let_delays_pass(&round).await;
    }
    // The next receive finds the receive count used up: SQS moves it to the DLQ.
    assert!(w.writer_round().await.is_none());
    let in_dlq = w.dlq_messages().await;
    assert_eq!(in_dlq.len(), 1);
    assert_eq!(in_dlq[0].message_id(), message_id.as_deref());
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(
        (item.status, item.attempts, item.in_queue_dlq),
        (DlqStatus::Pending, MAX_RECEIVES, true)
    );
    assert_eq!(item.error.code, "PMS_UNAVAILABLE");
    assert!(item.error.retryable);
    assert!(item.last_attempt_at >= item.first_attempt_at);
    assert_eq!(
        w.operation(token, op["id"].as_str().unwrap()).await["status"],
        "DEAD_LETTERED"
    );
    op
}

#[tokio::test]
async fn an_outage_backs_off_dead_letters_after_three_deliveries_and_a_redrive_resolves_it() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    charge_outage(&w, true).await;
    let op = fail_three_times(&w, &token, &h, "outage-1").await;
    let r_op = op_ref(&op);
    assert_eq!(w.counters(pms_opera::PROVIDER).charges_posted, 0);
    let audit = w.records().audit_log(&h.id, 10).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.operation_id == r_op.id && a.result == AuditResult::Failed)
            .count(),
        3,
        "every attempt audited"
    );

    // Fixed, then redriven by id: the message leaves the DLQ, the writer succeeds.
    charge_outage(&w, false).await;
    let out = w.pmsctl(&["dlq", "redrive", r_op.id.as_str()]).await;
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("1 from the queue DLQ"),
        "{}",
        stdout(&out)
    );
    assert!(w.dlq_messages().await.is_empty());
    assert_eq!(
        w.records()
            .dlq(&h.id, &r_op.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DlqStatus::Retrying
    );
    assert_eq!(
        w.operation(&token, op["id"].as_str().unwrap()).await["status"],
        "QUEUED"
    );
    let rounds = w.drain().await;
    assert_eq!(rounds.len(), 1);
    assert!(rounds[0].failed_ids().is_empty());
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Resolved);
    assert!(item.resolved_at.is_some());
    let now = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "SUCCEEDED", "{now}");
    assert_eq!(
        w.counters(pms_opera::PROVIDER).charges_posted,
        1,
        "posted once"
    );
    let out = w
        .pmsctl(&[
            "dlq",
            "list",
            "--hotel",
            h.id.as_str(),
            "--status",
            "resolved",
        ])
        .await;
    assert!(stdout(&out).contains(r_op.id.as_str()));
    w.sim.stop().await;
}

#[tokio::test]
async fn abandoning_a_dead_letter_removes_its_message_from_the_dlq() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    charge_outage(&w, true).await;
    let op = fail_three_times(&w, &token, &h, "outage-2").await;
    let r_op = op_ref(&op);
    // Input is checked before anything is touched.
    let out = w
        .pmsctl(&[
            "dlq",
            "abandon",
            r_op.id.as_str(),
            "--reason",
            "",
            "--staff",
            "x",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(w.dlq_messages().await.len(), 1);
    let out = w
        .pmsctl(&[
            "dlq",
            "abandon",
            r_op.id.as_str(),
            "--reason",
            "guest disputed the charge",
            "--staff",
            "night.manager",
        ])
        .await;
    assert!(out.status.success());
    assert!(w.dlq_messages().await.is_empty(), "the message is gone");
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Abandoned);
    assert_eq!(item.resolved_by.as_deref(), Some("night.manager"));
    assert_eq!(item.notes.as_deref(), Some("guest disputed the charge"));
    assert_eq!(
        w.records()
            .operation(&h.id, &r_op.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        OperationStatus::Abandoned
    );
    charge_outage(&w, false).await;
    assert_eq!(w.counters(pms_opera::PROVIDER).charges_posted, 0);
    w.sim.stop().await;
}

// ---- the batch response ------------------------------------------------------------------------

#[tokio::test]
async fn the_batch_response_names_every_failed_record_and_never_an_empty_id() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    // A good write and an unreadable message in one batch.
    operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 111, None))
            .await,
        "postCharge",
    );
    w.services
        .queue
        .send(
            w.write_queue_url(),
            pms_domain::ports::OutgoingMessage::new("{not json"),
        )
        .await
        .unwrap();
    let mut messages = w.receive_writes(None).await;
    messages.extend(w.receive_writes(None).await);
    assert_eq!(messages.len(), 2);
    let poison_id = messages
        .iter()
        .find(|m| m.body() == Some("{not json"))
        .and_then(|m| m.message_id())
        .unwrap()
        .to_owned();
    let round = w.deliver(messages.clone()).await;
    assert_eq!(round.failed_ids(), std::slice::from_ref(&poison_id));
    assert_eq!(
        round.outcome,
        pms_local::driver::BatchOutcome::PartialFailure(vec![poison_id])
    );
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 1);

    // A record without a message id cannot be named: the whole batch fails (and is retried;
    // its writes are idempotent), rather than the record being deleted as if done.
    let mut event = pms_local::driver::sqs_event(&messages, "arn:aws:sqs:us-east-1:123456789012:q");
    event["Records"][0]["messageId"] = json!("");
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
    let result = w
        .writer
        .process(lambda_runtime::LambdaEvent::new(
            event,
            lambda_runtime::Context::default(),
        ))
        .await;
    assert!(result.is_err());
    w.sim.stop().await;
}

#[tokio::test]
async fn redrive_all_brings_back_every_pending_dead_letter() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    charge_outage(&w, true).await;
    // One in the SQS DLQ (an outage that outlasted three deliveries)...
    let outage = op_ref(&fail_three_times(&w, &token, &h, "all-1").await);
    charge_outage(&w, false).await;
    // ...and one only in the records (refused at once).
    let cancelled = w.sim_reservation(&h, SimStatus::Cancelled);
    let refused = op_ref(&operation_of(
        &w.graphql(
            &token,
            CHARGE,
            charge_vars(
                &h,
                &confirmation_of(pms_opera::PROVIDER, &cancelled),
                77,
                Some("all-2"),
            ),
        )
        .await,
        "postCharge",
    ));
    w.writer_round().await.unwrap();
    assert_eq!(
        w.records()
            .dlq(&h.id, &refused.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DlqStatus::Pending
    );

    // moto has no StartMessageMoveTask: the CLI falls back to moving them one by one.
    let out = w.pmsctl(&["dlq", "redrive", "--all"]).await;
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("redriven 2 (1 from the queue DLQ)"),
        "{}",
        stdout(&out)
    );
    assert!(w.dlq_messages().await.is_empty());
    w.drain().await;
    let fixed = w.records().dlq(&h.id, &outage.id).await.unwrap().unwrap();
    assert_eq!(fixed.status, DlqStatus::Resolved);
    let still = w.records().dlq(&h.id, &refused.id).await.unwrap().unwrap();
    assert_eq!(
        (still.status, still.attempts),
        (DlqStatus::Pending, 2),
        "refused again: pending, one attempt more"
    );
    assert_eq!(w.counters(pms_opera::PROVIDER).charges_posted, 1);
    // Nothing pending of this hotel but the refused one; --hotel limits the redrive.
    let out = w
        .pmsctl(&["dlq", "redrive", "--all", "--hotel", h.id.as_str()])
        .await;
    assert!(
        stdout(&out).contains("redriven 1 (0 from the queue DLQ)"),
        "{}",
        stdout(&out)
    );
    w.sim.stop().await;
}

// ---- the money path under adversity ----------------------------------------------------------

/// The writer of these tests gives up on a vendor after 1 s and searches the folio for a charge
/// that got no answer 3 s after the attempt (deployed: 20 s and 60 s).
fn quick_writer() -> WriterOptions {
    WriterOptions {
        client_timeout: Some(std::time::Duration::from_secs(1)),
        settle: Some(ChronoDuration::seconds(3)),
    }
}

async fn set_faults(w: &WritesStack, vendor: Provider, faults: Value) {
    let faults: FaultConfig = serde_json::from_value(faults).unwrap();
    w.sim.admin().set_faults(vendor, &faults).await.unwrap();
}

/// Writer rounds in real time, as the event source runs them: a message comes back when its
/// retry delay or its delay has passed (nothing is hurried), until the operation is in one of
/// `statuses` or `limit` has passed. Returns its status.
async fn run_until(
    w: &WritesStack,
    token: &str,
    op: &Value,
    statuses: &[&str],
    limit: std::time::Duration,
) -> String {
    let id = op["id"].as_str().unwrap();
    let until = std::time::Instant::now() + limit;
    loop {
        let status = w.operation(token, id).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if statuses.contains(&status.as_str()) || std::time::Instant::now() > until {
            return status;
        }
        if w.writer_round().await.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}

/// The charge's reference at the vendor, as queued.
async fn vendor_reference(w: &WritesStack, h: &SimHotelRef, op: &Value) -> String {
    let r = op_ref(op);
    let record = w.records().operation(&h.id, &r.id).await.unwrap().unwrap();
    match record.message.operation {
        pms_app::writes::WriteOperation::PostCharge { charge, .. } => charge.reference,
        _ => unreachable!(),
    }
}

fn charges_with(w: &WritesStack, h: &SimHotelRef, reference: &str) -> usize {
    w.sim_data(h)
        .charges
        .iter()
        .filter(|c| c.reference.as_deref() == Some(reference))
        .count()
}

fn audit_results(entries: &[pms_app::writes::AuditEntry], id: &OperationId) -> Vec<String> {
    entries
        .iter()
        .filter(|a| &a.operation_id == id)
        .map(|a| {
            serde_json::to_value(a).unwrap()["result"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The late-answer recipe that once posted a charge twice, on the Mews simulator: the PMS applies a
/// charge but answers after
/// the client gave up; the folio cannot be read (503) while the writer looks for it, so it is
/// dead-lettered; ops redrive it during the outage (dead-lettered again), then once the PMS is
/// back. Exactly one charge, and the operation SUCCEEDED.
#[tokio::test]
async fn a_charge_applied_late_and_redriven_through_an_outage_is_posted_exactly_once() {
    applied_late_and_redriven_through_an_outage(pms_mews::PROVIDER, "orders/add").await;
}

/// The same on a vendor that keeps charge references unique (Cloudbeds' `referenceID`): the
/// writer does not look, it posts again and the vendor says the reference exists. A redrive the
/// outage refuses must not forget that an earlier attempt may have posted, or the vendor's
/// "exists" once it is back reads as another charge's reference (`REFERENCE_CONFLICT`, the
/// chaos suite's find).
#[tokio::test]
async fn a_charge_applied_late_and_redriven_through_an_outage_is_one_charge_on_cloudbeds() {
    applied_late_and_redriven_through_an_outage(pms_cloudbeds::PROVIDER, "postCustomItem").await;
}

async fn applied_late_and_redriven_through_an_outage(vendor: Provider, endpoint: &str) {
    let w = WritesStack::with_writer(quick_writer()).await;
    let h = w.sim_hotel(vendor).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(vendor, &r);
    set_faults(
        &w,
        vendor,
        json!({"latencyMs": 2500, "onlyEndpoints": [endpoint], "finishAbandoned": true}),
    )
    .await;
    let op = operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 3100, Some("late-1")))
            .await,
        "postCharge",
    );
    let r_op = op_ref(&op);
    let first = w.writer_round().await.expect("the charge is delivered");
    assert_eq!(first.failed_ids().len(), 1, "no answer: retried");
    // The PMS answers everything with 503 from now on; the late posting lands meanwhile.
    set_faults(&w, vendor, json!({"errorRate": 1, "errorStatus": 503})).await;
    let status = run_until(
        &w,
        &token,
        &op,
        &["DEAD_LETTERED", "SUCCEEDED"],
        std::time::Duration::from_secs(40),
    )
    .await;
    assert_eq!(status, "DEAD_LETTERED");
    assert_eq!(
        w.counters(vendor).charges_posted,
        1,
        "the late posting landed"
    );
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    if vendor == pms_mews::PROVIDER {
        // It cannot be looked for: the outcome stays unknown.
        assert_eq!(item.error.code, "OUTCOME_UNKNOWN");
        assert!(
            item.error
                .message
                .starts_with("outcome unknown: the charge may exist at the PMS"),
            "{}",
            item.error.message
        );
    }

    // Redriven while the PMS still answers 503: it cannot look (Mews) or its post is refused
    // (Cloudbeds); either way the earlier attempt's posting is not forgotten.
    let out = w.pmsctl(&["dlq", "redrive", r_op.id.as_str()]).await;
    assert!(out.status.success());
    let status = run_until(
        &w,
        &token,
        &op,
        &["DEAD_LETTERED", "SUCCEEDED"],
        std::time::Duration::from_secs(30),
    )
    .await;
    assert_eq!(status, "DEAD_LETTERED", "dead-lettered again");
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Pending);

    // Redriven once the PMS is back: found on the folio (Mews) or the vendor says the
    // reference exists (Cloudbeds), and it is the earlier attempt's: not posted again.
    w.sim.admin().clear_faults().await.unwrap();
    let out = w.pmsctl(&["dlq", "redrive", r_op.id.as_str()]).await;
    assert!(out.status.success());
    let status = run_until(
        &w,
        &token,
        &op,
        &["SUCCEEDED"],
        std::time::Duration::from_secs(30),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(w.counters(vendor).charges_posted, 1, "exactly one charge");
    let reference = vendor_reference(&w, &h, &op).await;
    assert_eq!(charges_with(&w, &h, &reference), 1);
    let audit = w.records().audit_log(&h.id, 50).await.unwrap();
    assert!(audit_results(&audit, &r_op.id).contains(&"already_applied".to_owned()));
    let item = w.records().dlq(&h.id, &r_op.id).await.unwrap().unwrap();
    assert_eq!(item.status, DlqStatus::Resolved);
    w.sim.stop().await;
}

/// A charge the PMS applies but answers late (no outage): the writer waits out the settle
/// window without spending deliveries, then finds it on the folio. Nobody is asked to act.
#[tokio::test]
async fn a_charge_answered_late_is_found_once_the_settle_window_passed() {
    let w = WritesStack::with_writer(quick_writer()).await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    set_faults(
        &w,
        pms_mews::PROVIDER,
        json!({"latencyMs": 2500, "onlyEndpoints": ["orders/add"], "finishAbandoned": true}),
    )
    .await;
    let op = operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 3200, Some("late-2")))
            .await,
        "postCharge",
    );
    let r_op = op_ref(&op);
    // Every retry delay is cut short (as a long-running queue would see them all pass): only a
    // wait that costs no delivery can outlast the settle window.
    let rounds = w.settle_writes(std::time::Duration::from_secs(40)).await;
    let now = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "SUCCEEDED", "{now}");
    assert!(
        w.records().dlq(&h.id, &r_op.id).await.unwrap().is_none(),
        "nobody is asked to act"
    );
    assert!(w.dlq_messages().await.is_empty());
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 1);
    let audit = w.records().audit_log(&h.id, 50).await.unwrap();
    assert_eq!(
        audit_results(&audit, &r_op.id).first().map(String::as_str),
        Some("already_applied"),
        "found on the folio"
    );
    let receives = rounds
        .iter()
        .flat_map(|r| r.report.iter().flat_map(|x| x.outcomes.clone()))
        .map(|o| o.receive_count)
        .max()
        .unwrap_or(0);
    assert!(
        receives < MAX_RECEIVES,
        "waits spent no deliveries: {receives}"
    );
    w.sim.stop().await;
}

/// A dead letter whose protecting records (its key, the record that a PMS call may have
/// happened) have expired: `pmsctl dlq redrive` refuses and says why; `--force` (audited)
/// restores them, and the writer looks on the folio before it posts.
#[tokio::test]
async fn redriving_a_dead_letter_whose_records_expired_is_refused_unless_forced() {
    let w = WritesStack::with_writer(quick_writer()).await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    set_faults(
        &w,
        pms_mews::PROVIDER,
        json!({"latencyMs": 2500, "onlyEndpoints": ["orders/add"], "finishAbandoned": true}),
    )
    .await;
    let op = operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 3300, Some("old-1")))
            .await,
        "postCharge",
    );
    let r_op = op_ref(&op);
    w.writer_round().await.expect("delivered");
    set_faults(
        &w,
        pms_mews::PROVIDER,
        json!({"errorRate": 1, "errorStatus": 503}),
    )
    .await;
    let status = run_until(
        &w,
        &token,
        &op,
        &["DEAD_LETTERED"],
        std::time::Duration::from_secs(40),
    )
    .await;
    assert_eq!(status, "DEAD_LETTERED");
    w.sim.admin().clear_faults().await.unwrap();
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 1);

    // Months later, or from before they were kept: the records have expired (the store treats
    // an item past `expires_at` as gone, swept or not).
    let key = w
        .records()
        .operation(&h.id, &r_op.id)
        .await
        .unwrap()
        .unwrap()
        .idempotency_key;
    for sort in [format!("KEY#{key}"), format!("INTENT#{key}")] {
        let k = pms_domain::ports::ItemKey::hotel(&h.id, sort.clone());
        let mut item = w.services.store.get(&k).await.unwrap().expect(&sort);
        item.expires_at = Some(chrono::Utc::now().timestamp() - 60);
        w.services
            .store
            .put(item, pms_domain::ports::Condition::Always)
            .await
            .unwrap();
    }
    let out = w.pmsctl(&["dlq", "redrive", r_op.id.as_str()]).await;
    assert_eq!(out.status.code(), Some(2), "refused");
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &stdout(&out);
    assert!(
        said.contains("INTENT#") && said.contains("--force"),
        "{said}"
    );
    assert!(w.queued_messages().await.is_empty(), "nothing was redriven");
    assert_eq!(
        w.records()
            .dlq(&h.id, &r_op.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DlqStatus::Pending
    );
    let out = w
        .pmsctl(&[
            "dlq",
            "redrive",
            r_op.id.as_str(),
            "--force",
            "--staff",
            "night.manager",
            "--reason",
            "folio checked: the spa charge is on it",
        ])
        .await;
    assert!(out.status.success());
    let status = run_until(
        &w,
        &token,
        &op,
        &["SUCCEEDED", "DEAD_LETTERED"],
        std::time::Duration::from_secs(30),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(
        w.counters(pms_mews::PROVIDER).charges_posted,
        1,
        "exactly one charge"
    );
    let audit = w.records().audit_log(&h.id, 50).await.unwrap();
    let forced = audit
        .iter()
        .filter(|a| a.operation_id == r_op.id)
        .map(|a| serde_json::to_value(a).unwrap())
        .find(|a| a["result"] == "redrive_forced")
        .expect("the forced redrive is audited");
    assert_eq!(forced["actor"], "staff:night.manager");
    assert!(forced["note"].as_str().unwrap().contains("folio checked"));
    assert!(audit_results(&audit, &r_op.id).contains(&"already_applied".to_owned()));
    w.sim.stop().await;
}

/// Two partners of one hotel using the same idempotency key and the same charge reference:
/// each gets its own operation and its own charge, neither learns of the other's.
#[tokio::test]
async fn idempotency_keys_and_charge_references_are_scoped_by_the_partner() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_cloudbeds::PROVIDER).await;
    let (a, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let (b, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let (c, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_cloudbeds::PROVIDER, &r);
    let vars = |amount: i64| {
        let mut v = charge_vars(&h, &conf, amount, Some("pos-1001"));
        v["charge"]["reference"] = json!("ticket-1001");
        v
    };
    let from_a = operation_of(&w.graphql(&a, CHARGE, vars(1500)).await, "postCharge");
    // B, same key, another amount: not A's key, so no conflict, and no sign A used it.
    let reply = w.graphql(&b, CHARGE, vars(2700)).await;
    let from_b = operation_of(&reply, "postCharge");
    assert_ne!(from_a["id"], from_b["id"]);
    // C sending A's very request (same key, same charge) makes C's own operation.
    let again = operation_of(&w.graphql(&c, CHARGE, vars(1500)).await, "postCharge");
    assert_ne!(again["id"], from_a["id"]);
    assert_eq!(
        w.graphql(&b, CHARGE, vars(2700)).await.data()["postCharge"]["id"],
        from_b["id"],
        "B's own key still works for B"
    );
    w.drain().await;
    for (token, op) in [(&a, &from_a), (&b, &from_b), (&c, &again)] {
        let now = w.operation(token, op["id"].as_str().unwrap()).await;
        assert_eq!(now["status"], "SUCCEEDED", "{now}");
    }
    // Three charges posted, under three references at the PMS.
    assert_eq!(w.counters(pms_cloudbeds::PROVIDER).charges_posted, 3);
    let mut refs = std::collections::BTreeSet::new();
    for op in [&from_a, &from_b, &again] {
        refs.insert(vendor_reference(&w, &h, op).await);
    }
    assert_eq!(refs.len(), 3, "{refs:?}");
    w.sim.stop().await;
}

/// A Cloudbeds "referenceID already exists" answer to an operation's first attempt means
/// another charge holds the reference: the operation did not post anything and says so.
#[tokio::test]
async fn a_cloudbeds_reference_already_taken_on_a_first_attempt_is_a_conflict() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_cloudbeds::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_cloudbeds::PROVIDER, &r);
    let vars = |amount: i64, key: &str| {
        let mut v = charge_vars(&h, &conf, amount, Some(key));
        v["charge"]["reference"] = json!("room-service-88");
        v
    };
    let first = operation_of(
        &w.graphql(&token, CHARGE, vars(1800, "rs-1")).await,
        "postCharge",
    );
    w.drain().await;
    assert_eq!(
        w.operation(&token, first["id"].as_str().unwrap()).await["status"],
        "SUCCEEDED"
    );
    // The same reference for another charge, under another key.
    let second = operation_of(
        &w.graphql(&token, CHARGE, vars(2900, "rs-2")).await,
        "postCharge",
    );
    w.drain().await;
    let now = w.operation(&token, second["id"].as_str().unwrap()).await;
    assert_ne!(now["status"], "SUCCEEDED", "{now}");
    assert_eq!(now["status"], "DEAD_LETTERED", "{now}");
    assert_eq!(now["error"]["code"], "REFERENCE_CONFLICT", "{now}");
    assert_eq!(w.counters(pms_cloudbeds::PROVIDER).charges_posted, 1);
    w.sim.stop().await;
}

/// Mews: an earlier attempt got no answer (and was not applied); meanwhile another partner's
/// charge whose description names our reference is posted. The lookup matches the item's
/// `ExternalIdentifier` only, so ours is posted, once.
#[tokio::test]
async fn a_mews_charge_is_matched_on_its_external_identifier_never_on_free_text() {
    let w = WritesStack::with_writer(WriterOptions {
        client_timeout: None,
        settle: Some(ChronoDuration::seconds(2)),
    })
    .await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (a, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let (b, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    // A's first attempt: the gateway times out (504) before Mews takes it.
    set_faults(
        &w,
        pms_mews::PROVIDER,
        json!({"timeoutRate": 1, "timeoutMs": 50, "onlyEndpoints": ["orders/add"]}),
    )
    .await;
    let mut vars = charge_vars(&h, &conf, 4100, Some("spa-9"));
    vars["charge"]["reference"] = json!("spa-9");
    let from_a = operation_of(&w.graphql(&a, CHARGE, vars).await, "postCharge");
    let round = w.writer_round().await.unwrap();
    assert_eq!(round.failed_ids().len(), 1);
    w.sim.admin().clear_faults().await.unwrap();
    // B's charge, whose description (free text) names A's reference as we write it in notes.
    let a_ref = vendor_reference(&w, &h, &from_a).await;
    let mut vars = charge_vars(&h, &conf, 100, Some("bar-1"));
    vars["charge"]["description"] = json!(format!("Minibar [ref {a_ref}]"));
    let from_b = operation_of(&w.graphql(&b, CHARGE, vars).await, "postCharge");
    for (token, op) in [(&b, &from_b), (&a, &from_a)] {
        let status = run_until(
            &w,
            token,
            op,
            &["SUCCEEDED", "DEAD_LETTERED"],
            std::time::Duration::from_secs(30),
        )
        .await;
        assert_eq!(status, "SUCCEEDED");
    }
    assert_eq!(
        charges_with(&w, &h, &a_ref),
        1,
        "A's charge is on the folio"
    );
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 2);
    w.sim.stop().await;
}

#[tokio::test]
async fn without_a_key_two_identical_charges_are_two_charges() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_opera::PROVIDER, &r);
    let coffee = || charge_vars(&h, &conf, 450, None);
    let one = operation_of(&w.graphql(&token, CHARGE, coffee()).await, "postCharge");
    let two = operation_of(&w.graphql(&token, CHARGE, coffee()).await, "postCharge");
    assert_ne!(one["id"], two["id"]);
    w.drain().await;
    assert_eq!(
        w.counters(pms_opera::PROVIDER).charges_posted,
        2,
        "two coffees"
    );
    w.sim.stop().await;
}

#[tokio::test]
async fn a_mutation_repeated_while_queued_enqueues_nothing_more() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_opera::PROVIDER, &r);
    let vars = json!({"h": h.id.as_str(), "c": conf, "text": "Late arrival", "k": "note-1"});
    let first = operation_of(
        &w.graphql(&token, NOTE, vars.clone()).await,
        "addReservationNote",
    );
    let at_once =
        futures::future::join_all((0..5).map(|_| w.graphql(&token, NOTE, vars.clone()))).await;
    for reply in &at_once {
        assert_eq!(operation_of(reply, "addReservationNote")["id"], first["id"]);
    }
    for _ in 0..5 {
        let reply = w.graphql(&token, NOTE, vars.clone()).await;
        assert_eq!(
            operation_of(&reply, "addReservationNote")["status"],
            "QUEUED"
        );
    }
    assert_eq!(
        queue_depth(&w).await,
        1,
        "one message for eleven submissions"
    );
    w.drain().await;
    let now = w.operation(&token, first["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "SUCCEEDED");
    w.sim.stop().await;
}

/// The Lambda context's deadline: no vendor call starts that could not finish before it (the
/// client timeout plus a margin); messages not started are replaced by copies visible at once
/// (the first time), so they spend none of the messages' deliveries, untouched.
#[tokio::test]
async fn the_writer_starts_no_vendor_call_it_cannot_finish_before_its_deadline() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    let ops: Vec<Value> = futures::future::join_all((0..3).map(|i| {
        w.graphql(
            &token,
            CHARGE,
            charge_vars(&h, &conf, 500 + i, Some(&format!("dl-{i}"))),
        )
    }))
    .await
    .iter()
    .map(|reply| operation_of(reply, "postCharge"))
    .collect();
    let before = w.counters(pms_mews::PROVIDER).total_calls;

    // 10 s left: less than one vendor request may take (20 s client timeout): nothing starts.
    let mut messages = w.receive_writes(None).await;
    messages.extend(w.receive_writes(None).await);
    assert_eq!(messages.len(), 3);
    let round = w
        .deliver_within(messages, Some(std::time::Duration::from_secs(10)))
        .await;
    assert!(
        round.failed_ids().is_empty(),
        "replaced by copies, not left to spend deliveries: {:?}",
        round.report
    );
    assert_eq!(
        w.counters(pms_mews::PROVIDER).total_calls,
        before,
        "no vendor call"
    );
    for op in &ops {
        let now = w.operation(&token, op["id"].as_str().unwrap()).await;
        assert_eq!(
            (now["status"].as_str(), now["attempts"].as_u64()),
            (Some("QUEUED"), Some(0))
        );
    }
    assert_eq!(w.queued_messages().await.len(), 3, "visible again at once");

    // 26 s left and a slow PMS (5 s per posting): the first charge starts and finishes; by
    // then less than a request's time is left, so the others are not started.
    set_faults(
        &w,
        pms_mews::PROVIDER,
        json!({"latencyMs": 5000, "onlyEndpoints": ["orders/add"]}),
    )
    .await;
    let mut messages = w.receive_writes(None).await;
    messages.extend(w.receive_writes(None).await);
    let round = w
        .deliver_within(messages, Some(std::time::Duration::from_secs(26)))
        .await;
    // The others were not started: returned to the queue (or, this being their last allowed
    // receive after the peek above, replaced by a copy, so they never reach the DLQ
    // unattempted), with no attempt counted.
    let mut untouched = 0;
    for op in &ops {
        let now = w.operation(&token, op["id"].as_str().unwrap()).await;
        if now["status"] == "QUEUED" && now["attempts"] == 0 {
            untouched += 1;
        }
    }
    assert_eq!(untouched, 2, "{:?}", round.report);
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 1);
    assert_eq!(
        w.counters(pms_mews::PROVIDER).calls.get("orders/add"),
        Some(&1)
    );
    w.sim.admin().clear_faults().await.unwrap();
    w.drain().await;
    for op in &ops {
        let now = w.operation(&token, op["id"].as_str().unwrap()).await;
        assert_eq!(now["status"], "SUCCEEDED", "{now}");
        assert_eq!(now["attempts"], 1, "{now}");
    }
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 3);
    w.sim.stop().await;
}

/// A 429 storm whose Retry-After is longer than the writer can wait and still send a request:
/// each delivery is an attempt the PMS answered (counted, back after the vendor's wait). Before,
/// the retry slept the 10 s, the deadline refused the retry, and the whole delivery passed for
/// "not started": back at once, no attempt counted, one 429 per delivery for as long as the
/// storm lasted (the chaos suite's unsettled rounds).
#[tokio::test]
async fn in_a_rate_limit_storm_each_delivery_of_a_write_is_a_counted_attempt() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    let op = operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 901, Some("storm-1")))
            .await,
        "postCharge",
    );
    let id = op["id"].as_str().unwrap();
    w.sim
        .admin()
        .storm(pms_mews::PROVIDER, 600, 10)
        .await
        .unwrap();
    let messages = w.receive_writes(None).await;
    assert_eq!(messages.len(), 1);
    let started = std::time::Instant::now();
    let round = w
        .deliver_within(messages, Some(std::time::Duration::from_secs(30)))
        .await;
    let now = w.operation(&token, id).await;
    assert_eq!(
        (now["status"].as_str(), now["attempts"].as_u64()),
        (Some("QUEUED"), Some(1)),
        "{now} {:?}",
        round.report
    );
    assert_eq!(now["error"]["code"], "PMS_RATE_LIMITED", "{now}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "no wait for a retry that could not be sent"
    );
    assert!(
        w.queued_messages().await.is_empty(),
        "back after the vendor's wait, not at once"
    );
    w.sim.admin().clear_faults().await.unwrap();
    let status = run_until(
        &w,
        &token,
        &op,
        &["SUCCEEDED"],
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    let now = w.operation(&token, id).await;
    assert_eq!(now["attempts"], 2, "{now}");
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 1);
    w.sim.stop().await;
}

/// A writer that dies during a message's last allowed delivery (its Lambda timed out, or it
/// crashed) leaves the message to SQS's redrive policy: it reaches the DLQ without a dead-letter
/// record. It is still listed by `pmsctl dlq list`, counted (the census of the scheduler's
/// tick gives it its record), and a redrive looks before it posts.
#[tokio::test]
async fn a_message_in_the_dlq_without_a_record_is_listed_counted_and_redriven_once() {
    const LEASE: u32 = 1;
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_mews::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_mews::PROVIDER, &r);
    let op = operation_of(
        &w.graphql(&token, CHARGE, charge_vars(&h, &conf, 777, Some("died-1")))
            .await,
        "postCharge",
    );
    let r_op = op_ref(&op);
    // Two deliveries whose invocations were stopped before they did anything...
    for _ in 0..2 {
        let got = w.receive_writes(Some(0)).await;
        assert_eq!(got.len(), 1);
    }
    // ...and a third whose writer died right after the PMS took the charge.
    let died = w.writer_process(true, 1, LEASE).await;
    assert_eq!(died.exit_code(), Some(137));
    assert_eq!(w.counters(pms_mews::PROVIDER).charges_posted, 1);
    wait_out_lease(LEASE).await;
    // The next receive finds the receive count used up: SQS moves it to the DLQ.
    assert!(w.writer_round().await.is_none());
    assert_eq!(w.dlq_messages().await.len(), 1);
    assert!(
        w.records().dlq(&h.id, &r_op.id).await.unwrap().is_none(),
        "no record"
    );

    // Listed.
    let out = w.pmsctl(&["dlq", "list"]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains(r_op.id.as_str()), "{}", stdout(&out));

    // Counted: the scheduler's tick takes the census, which records it.
    let scheduler = sync_scheduler_fn::Scheduler::new(&w.services, 300);
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
        serde_json::from_value(json!({
            "version": "0", "id": "census-1", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012",
            "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1",
            "resources": [], "detail": {}
        }))
        .unwrap();
    let _ = scheduler.handle(event).await;
    let item = w
        .records()
        .dlq(&h.id, &r_op.id)
        .await
        .unwrap()
        .expect("recorded by the census");
    assert_eq!(item.status, DlqStatus::Pending);
    assert_eq!(item.error.code, "OUTCOME_UNKNOWN");
    assert!(item.in_queue_dlq);
    let now = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "DEAD_LETTERED", "the partner sees it: {now}");

    // Redriven: the intent says a call may have happened; found on the folio.
    let out = w.pmsctl(&["dlq", "redrive", r_op.id.as_str()]).await;
    assert!(out.status.success());
    assert!(w.dlq_messages().await.is_empty());
    w.drain().await;
    let now = w.operation(&token, op["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "SUCCEEDED", "{now}");
    assert_eq!(
        w.counters(pms_mews::PROVIDER).charges_posted,
        1,
        "exactly one charge"
    );
    w.sim.stop().await;
}

#[tokio::test]
async fn note_and_description_lengths_are_bounded() {
    let w = WritesStack::new().await;
    let h = w.sim_hotel(pms_opera::PROVIDER).await;
    let (token, _) = w.token(&[&h.id], &[Scope::Read, Scope::Write]).await;
    let r = w.sim_reservation(&h, SimStatus::InHouse);
    let conf = confirmation_of(pms_opera::PROVIDER, &r);
    let note = "mutation($h: ID!, $c: String!, $text: String!, $title: String) {
      addReservationNote(hotelId: $h, confirmationNumber: $c, note: {text: $text, title: $title}) {
        id } }";
    let field = |reply: &pms_tests::graphql::Reply| {
        assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{}", reply.body);
        reply.body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let reply = w
        .graphql(
            &token,
            note,
            json!({"h": h.id.as_str(), "c": conf, "text": "ok", "title": "t".repeat(30_000)}),
        )
        .await;
    assert_eq!(field(&reply), "note.title");
    let reply = w
        .graphql(
            &token,
            note,
            json!({"h": h.id.as_str(), "c": conf, "text": "x".repeat(2001)}),
        )
        .await;
    assert_eq!(field(&reply), "note.text");
    let mut vars = charge_vars(&h, &conf, 100, None);
    vars["charge"]["description"] = json!("d".repeat(201));
    assert_eq!(
        field(&w.graphql(&token, CHARGE, vars).await),
        "charge.description"
    );
    assert_eq!(queue_depth(&w).await, 0);
    // Characters, not bytes: 200 accented letters are a valid title.
    let reply = w
        .graphql(
            &token,
            note,
            json!({"h": h.id.as_str(), "c": conf, "text": "é".repeat(2000), "title": "é".repeat(200)}),
        )
        .await;
    assert!(reply.codes().is_empty(), "{}", reply.body);
    w.sim.stop().await;
}
