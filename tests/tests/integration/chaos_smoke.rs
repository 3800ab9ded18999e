//! A short run of the chaos suite (`make chaos` runs 1 000 rounds), so it cannot rot: twelve
//! rounds of one seed, chosen because its rounds generate every class across a charge's attempts
//! (a charge applied late and redriven into an outage, then after recovery; connections
//! refused; records aged past their retention; two partners on one key; writer invocations
//! killed at their deadline; ops acting before settling), some on moto (the AWS adapters) and
//! the rest in memory. Every invariant 0, and the rounds really did inflict what they claim.

use pms_tests::chaos::trace::{
    CLASS_DEADLINE, CLASS_EXPIRED, CLASS_INSIDE_WINDOW, CLASS_LATE, CLASS_OPS_EARLY, CLASS_PHASES,
    CLASS_REDRIVE_OUTAGE, CLASS_REDRIVE_RECOVERED, CLASS_REFUSED, CLASS_SHARED_KEY,
};
use pms_tests::chaos::{self, BackendMix, ChaosConfig};

/// Its twelve rounds draw every class (see `chaos::schedule`): late answers with the outage
/// before and after the settle window, records aged 31 days, refused connections, shared keys,
/// kills, random phases, an abandon.
const SEED: u64 = 0x5eed_c84c;

#[tokio::test(flavor = "multi_thread")]
async fn chaos_rounds_generate_the_failure_classes_across_attempts_and_break_no_invariant() {
    pms_tests::init_test_logging();
    let config = ChaosConfig {
        seed: SEED,
        rounds: 12,
        from_round: 0,
        backends: BackendMix::Mixed { moto_every: 2 },
        rate_scale: 5,
        progress_every: 0,
        // Generous: `make test` runs many tests at once on few cores.
        client_timeout: std::time::Duration::from_secs(2),
    };
    let report = chaos::run(&config).await.expect("the suite runs");
    let t = &report.tally;
    println!("{}", t.render(report.wall));
    assert!(report.ok(), "{:#?}", report.failures);
    assert_eq!(t.rounds.values().sum::<u64>(), 12);
    assert!(
        t.rounds.keys().any(|k| k.ends_with("on moto")),
        "{:?}",
        t.rounds
    );
    assert!(t.patches > 0 && t.deliveries > t.patches / 2, "{t:?}");
    assert!(t.writes > 0 && t.charges > 0, "{t:?}");
    assert!(t.vendor_calls > 0 && t.record_writes > 0, "{t:?}");
    for class in [
        CLASS_PHASES,
        CLASS_LATE,
        CLASS_INSIDE_WINDOW,
        CLASS_REFUSED,
        CLASS_REDRIVE_OUTAGE,
        CLASS_REDRIVE_RECOVERED,
        CLASS_EXPIRED,
        CLASS_SHARED_KEY,
        CLASS_DEADLINE,
        CLASS_OPS_EARLY,
    ] {
        assert!(
            t.classes.get(class).copied().unwrap_or(0) > 0,
            "no round exercised {class:?}: {:#?}",
            t.classes
        );
    }
}

/// The checks are live: a charge posted a second time behind the writer's back, and a change
/// at the PMS nobody announced, are counted.
#[tokio::test(flavor = "multi_thread")]
async fn the_checks_count_a_double_charge_and_a_lost_update() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use pms_app::writes::WriteOperation;
    use pms_domain::domain::{Charge, HotelId, Money};
    use pms_sim::{ReservationPatch, SimStatus, Simulator};
    use pms_tests::chaos::drive;
    use pms_tests::chaos::plan::{self, WritePlan};
    use pms_tests::chaos::trace::RoundState;
    use pms_tests::chaos::world::{Backend, Deployment};
    use pms_tests::chaos::{checks, Tally};

    let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let vendor = pms_opera::PROVIDER;
    let property = sim.context.config.properties[&vendor][0].clone();
    let d = Deployment::new(
        Backend::Memory,
        vendor,
        property.clone(),
        &sim.vendor_url(vendor),
        sim.admin(),
        HotelId::parse("chaos-checks").unwrap(),
        5,
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    let admin = sim.admin();
    let before = admin.counters().await.unwrap()[&vendor].clone();
    let hotel = admin.hotel(vendor, &property.property_id).await.unwrap();
    let target = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let changed = hotel
        .reservations
        .iter()
        .find(|r| r.id != target.id)
        .unwrap()
        .clone();

    let confirmation = plan::confirmation(vendor, &target);
    let charge = Charge {
        amount: Money::new(1234, d.hotel.currency),
        description: "Check".into(),
        revenue_center: None,
        reference: "checks-1".into(),
    };
    let op = WriteOperation::PostCharge {
        confirmation: confirmation.clone(),
        charge: charge.clone(),
    };
    let adapter = d.writer_adapters.adapter_for(&d.hotel).await.unwrap();
    let record = d
        .writes
        .submit(
            d.hotel_id(),
            op.clone(),
            Some("checks-1"),
            "t",
            "c",
            &adapter.capabilities(),
        )
        .await
        .unwrap();
    let tally = Mutex::new(Tally::default());
    let mut rng = plan::round_rng(1, 1, 1);
    let state = RoundState::default();
    drive::writer_pass(&d, None, &state, &mut rng, &tally)
        .await
        .unwrap();
    // The charge as it was queued (its reference carries the partner's scope), again.
    let queued = match &record.message.operation {
        WriteOperation::PostCharge { charge, .. } => charge.clone(),
        _ => unreachable!(),
    };
    adapter.post_charge(&confirmation, &queued).await.unwrap();
    let patched = admin
        .patch_reservation(
            vendor,
            &property.property_id,
            &changed.id,
            &ReservationPatch {
                rate_code: Some("CHECK".into()),
                ..ReservationPatch::default()
            },
        )
        .await
        .unwrap();

    let write = WritePlan {
        partner: plan::PARTNER_A,
        op,
        reservation: target.id.clone(),
        caller_key: Some("checks-1".into()),
        submits: 1,
        concurrent: false,
        crash: None,
        duplicate_message: false,
    };
    let mut failures = Vec::new();
    checks::check(
        &d,
        &BTreeMap::from([(changed.id.clone(), patched)]),
        &[(write, Some(record.id))],
        &before,
        &state,
        &tally,
        &mut failures,
    )
    .await
    .unwrap();
    let t = tally.into_inner().unwrap();
    assert_eq!(
        (t.double_charges, t.lost_updates, t.unsettled),
        (1, 1, 0),
        "{failures:#?}"
    );
    assert_eq!(
        t.unconverged, 0,
        "the refresh brought the change: {failures:#?}"
    );
    sim.stop().await;
}

/// The checks across attempts are live: a charge on the folio whose operation is dead-lettered
/// though nothing stood in the way of looking for it, and a write in the write queue's DLQ that
/// `pmsctl dlq list` does not list, are counted.
#[tokio::test(flavor = "multi_thread")]
async fn the_checks_count_a_charge_dead_lettered_on_the_folio_and_an_unlisted_dead_letter() {
    use std::sync::Mutex;

    use pms_app::writes::{OperationStatus, WriteOperation};
    use pms_domain::domain::{Charge, HotelId, Money};
    use pms_domain::ports::OutgoingMessage;
    use pms_sim::{SimStatus, Simulator};
    use pms_tests::chaos::plan::{self, WritePlan};
    use pms_tests::chaos::trace::RoundState;
    use pms_tests::chaos::world::{Backend, Deployment};
    use pms_tests::chaos::{ops, timeline, Tally};

    let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let vendor = pms_mews::PROVIDER;
    let property = sim.context.config.properties[&vendor][0].clone();
    let d = Deployment::new(
        Backend::Memory,
        vendor,
        property.clone(),
        &sim.vendor_url(vendor),
        sim.admin(),
        HotelId::parse("chaos-live").unwrap(),
        5,
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    let hotel = sim
        .admin()
        .hotel(vendor, &property.property_id)
        .await
        .unwrap();
    let target = hotel
        .reservations
        .iter()
        .find(|r| r.status == SimStatus::InHouse)
        .unwrap()
        .clone();
    let charge = Charge {
        amount: Money::new(450, d.hotel.currency),
        description: "Live check".into(),
        revenue_center: None,
        reference: "live-1".into(),
    };
    let op = WriteOperation::PostCharge {
        confirmation: plan::confirmation(vendor, &target),
        charge: charge.clone(),
    };
    let adapter = d.writer_adapters.adapter_for(&d.hotel).await.unwrap();
    let record = d
        .writes
        .submit(
            d.hotel_id(),
            op.clone(),
            Some("live-1"),
            plan::PARTNER_A,
            "c",
            &adapter.capabilities(),
        )
        .await
        .unwrap();
    // On the folio, and dead-lettered: as if its retries had run out waiting.
    adapter
        .post_charge(&plan::confirmation(vendor, &target), &charge)
        .await
        .unwrap();
    d.writes
        .records()
        .update_operation(d.hotel_id(), &record.id, |o| {
            o.status = OperationStatus::DeadLettered
        })
        .await
        .unwrap();
    let state = RoundState::default();
    state.trace(record.id.as_str(), |t| {
        t.charge = true;
        t.description = Some(charge.description.clone());
        t.deliveries = 3;
        t.phases.insert("slow charges");
    });
    let write = WritePlan {
        partner: plan::PARTNER_A,
        op,
        reservation: target.id.clone(),
        caller_key: Some("live-1".into()),
        submits: 1,
        concurrent: false,
        crash: None,
        duplicate_message: false,
    };
    let tally = Mutex::new(Tally::default());
    timeline::observe(
        &d,
        &[(write.clone(), Some(record.id.clone()))],
        &state,
        &tally,
    )
    .await
    .unwrap();
    // Its message reached the write queue's DLQ with no dead-letter record.
    d.services
        .queue
        .send(
            &d.names().write_dlq_url,
            OutgoingMessage::new(serde_json::to_string(&record.message).unwrap()),
        )
        .await
        .unwrap();
    ops::count_unlisted(&d, &state, &tally).await.unwrap();
    // Counted once per operation, however often it is looked at.
    ops::count_unlisted(&d, &state, &tally).await.unwrap();
    // The product's census (run before every listing check in the rounds) adopts it: listed.
    ops::check_listing(&d, &state, &tally).await.unwrap();
    let listed = d
        .dead_letters
        .records()
        .list_dlq(Some(d.hotel_id()))
        .await
        .unwrap();
    assert!(listed.iter().any(|i| i.id == record.id), "{listed:?}");
    timeline::observe(&d, &[(write, Some(record.id.clone()))], &state, &tally)
        .await
        .unwrap();
    let t = tally.into_inner().unwrap();
    assert_eq!(
        (t.on_folio_dead_letters, t.unlisted_dead_letters),
        (1, 1),
        "{:#?}",
        state.take_failures()
    );
    // An obstructed charge (an outage between its attempts) may rightly be dead-lettered.
    let obstructed = RoundState::default();
    obstructed.trace(record.id.as_str(), |t| {
        t.charge = true;
        t.obstructed = true;
    });
    let tally = Mutex::new(Tally::default());
    let write = WritePlan {
        partner: plan::PARTNER_A,
        op: record.message.operation.clone(),
        reservation: target.id.clone(),
        caller_key: Some("live-1".into()),
        submits: 1,
        concurrent: false,
        crash: None,
        duplicate_message: false,
    };
    timeline::observe(&d, &[(write, Some(record.id))], &obstructed, &tally)
        .await
        .unwrap();
    assert_eq!(tally.into_inner().unwrap().on_folio_dead_letters, 0);
    sim.stop().await;
}
