//! One round on one deployment: the vendor fault switched on; changes made at the PMS and
//! announced by duplicated, reordered, late webhook deliveries (OHIP: refresh jobs, as its
//! business-events consumer sends) while the sync worker runs; at the same time partners submit
//! writes (repeated, concurrently, two partners under one key) that the writer executes with
//! duplicated messages, two writers at once, crashes at each step of a charge and invocations
//! killed at their deadline. Then the round's schedule runs across the writes' attempts (fault
//! phases, redeliveries in lane time, ops actions, records aging), and the round settles and is
//! checked.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use pms_app::jobs::{JobSource, RefreshJob, SyncJob};
use pms_app::webhooks::IntakeOutcome;
use pms_app::writes::{IdempotencyKey, OperationId, SubmitError};
use pms_domain::domain::{ExternalId, Provider};
use pms_domain::pms::{EntityKind, EntityRef};
use pms_sim::data::SimReservation;
use pms_sim::ReservationPatch;
use pms_vendor_kit::webhooks::VendorDelivery;

use super::checks;
use super::drive::{self, lock, WriteChaos};
use super::faults::{self, CrashPoint, SimFault};
use super::partner;
use super::plan::{self, round_rng, IngestStep, RoundPlan, WritePlan};
use super::report::Tally;
use super::timeline;
use super::trace::RoundState;
use super::world::Deployment;

/// What a round produced.
pub struct RoundResult {
    pub tally: Tally,
    /// One line per invariant broken, naming the round.
    pub failures: Vec<String>,
}

/// How a change reaches the layer.
#[derive(Clone, Debug)]
enum Notice {
    /// A webhook body (Mews, Cloudbeds).
    Webhook(Vec<u8>),
    /// A reservation id from OHIP's business events: a refresh job names it.
    Event(String),
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn webhook_event(patch: &ReservationPatch) -> &'static str {
    if patch.status.is_some() {
        "reservation/status_changed"
    } else if patch.departure.is_some() {
        "reservation/dates_changed"
    } else if patch.room_number.is_some() {
        "reservation/accommodation_changed"
    } else {
        "reservation/notes_changed"
    }
}

/// The vendor's notice of a change: a Mews general webhook, a Cloudbeds webhook stamped with the
/// change's time, or (OHIP) the business event's reservation id.
fn notice(d: &Deployment, r: &SimReservation, patch: &ReservationPatch) -> Notice {
    match d.vendor {
        pms_mews::PROVIDER => Notice::Webhook(
            serde_json::to_vec(&serde_json::json!({
                "EnterpriseId": d.property.property_id,
                "IntegrationId": "c8bee838-7fb1-4f4e-8fac-ac87008b2f90",
                "Events": [{"Discriminator": "ServiceOrderUpdated", "Value": {"Id": r.id}}],
            }))
            .unwrap_or_default(),
        ),
        pms_cloudbeds::PROVIDER => {
            let property: u64 = d.property.property_id.parse().unwrap_or_default();
            let stamp = r.updated_at.timestamp_micros() as f64 / 1e6;
            Notice::Webhook(
                serde_json::to_vec(&serde_json::json!({
                    "reservationID": r.id,
                    "propertyID": property,
                    "propertyID_str": d.property.property_id,
                    "version": "1.0",
                    "event": webhook_event(patch),
                    "timestamp": stamp,
                }))
                .unwrap_or_default(),
            )
        }
        pms_opera::PROVIDER => Notice::Event(r.id.clone()),
        other => panic!("{other} is not a simulated vendor"),
    }
}

fn parse(vendor: Provider, body: &[u8]) -> Result<VendorDelivery, String> {
    match vendor {
        pms_cloudbeds::PROVIDER => pms_cloudbeds::webhook::parse(body),
        _ => pms_mews::webhook::parse(body),
    }
    .map_err(err)
}

/// Delivers one notice; false when the vendor got no success answer (it will send it again).
async fn deliver(
    d: &Deployment,
    notice: &Notice,
    crash: bool,
    tally: &Mutex<Tally>,
) -> Result<bool, String> {
    let hotel = d.hotel_id();
    let correlation = pms_app::obs::new_correlation_id();
    match notice {
        Notice::Event(id) => {
            let job = RefreshJob {
                hotel: hotel.clone(),
                entities: vec![EntityRef {
                    kind: EntityKind::Reservation,
                    id: ExternalId::parse(id.as_str()).map_err(err)?,
                }],
                source: JobSource::Manual,
                received_at: pms_domain::ports::Clock::now(d.clock.as_ref()),
                correlation_id: correlation,
                attempt: 1,
            };
            d.services
                .queue
                .send(
                    &d.names().sync_queue_url,
                    SyncJob::Refresh(job).to_message().map_err(err)?,
                )
                .await
                .map_err(err)?;
            lock(tally).deliveries += 1;
            Ok(true)
        }
        Notice::Webhook(body) => {
            let delivery = parse(d.vendor, body)?;
            if delivery.property_id != d.property.property_id {
                return Err(format!("webhook for property {}", delivery.property_id));
            }
            let accept = d.intake.accept(hotel, &delivery, body, &correlation);
            let outcome = if crash {
                let fired = d
                    .tripwire
                    .arm(CrashPoint::IntakeBeforeEnqueue, &delivery.delivery_id);
                tokio::select! {
                    outcome = accept => { d.tripwire.disarm(&delivery.delivery_id); outcome }
                    Ok(point) = fired => {
                        *lock(tally).crashes.entry(point).or_default() += 1;
                        return Ok(false);
                    }
                }
            } else {
                accept.await
            };
            let mut t = lock(tally);
            t.deliveries += 1;
            match outcome {
                Ok(IntakeOutcome::Accepted { .. }) => Ok(true),
                Ok(IntakeOutcome::Duplicate { .. }) => {
                    t.deliveries_answered_duplicate += 1;
                    Ok(true)
                }
                // Answered 503: the vendor retries.
                Err(_) => Ok(false),
            }
        }
    }
}

/// Staff at the PMS and the vendor's webhooks. Returns each changed reservation as the PMS had
/// it after its last change, and the notices still not acknowledged.
async fn staff(
    d: &Deployment,
    plan: &RoundPlan,
    tally: &Mutex<Tally>,
) -> Result<(BTreeMap<String, SimReservation>, Vec<Notice>), String> {
    let mut last = BTreeMap::new();
    let mut notices: Vec<Option<Notice>> = vec![None; plan.patches.len()];
    let mut resend: Vec<Notice> = Vec::new();
    for step in &plan.ingest {
        match *step {
            IngestStep::Patch(i) => {
                let p = &plan.patches[i];
                let r = d
                    .admin
                    .patch_reservation(d.vendor, &d.property.property_id, &p.reservation, &p.patch)
                    .await
                    .map_err(err)?;
                notices[i] = Some(notice(d, &r, &p.patch));
                last.insert(r.id.clone(), r);
                lock(tally).patches += 1;
            }
            IngestStep::Deliver(k) => {
                let delivery = plan.deliveries[k];
                let Some(n) = notices[delivery.patch].clone() else {
                    continue;
                };
                if delivery.copy > 0 {
                    lock(tally).duplicate_deliveries += 1;
                }
                if !deliver(d, &n, plan.intake_crash == Some(k), tally).await? {
                    resend.push(n);
                }
            }
            IngestStep::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }
    // The vendor retries what was not acknowledged (a few times; the rest after the fault).
    for _ in 0..5 {
        if resend.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut again = Vec::new();
        for n in resend {
            lock(tally).deliveries_retried_by_vendor += 1;
            if !deliver(d, &n, false, tally).await? {
                again.push(n);
            }
        }
        resend = again;
    }
    Ok((last, resend))
}

/// The PMS side of the round with the sync worker running all along (so refreshes read the PMS
/// between changes, and their writes race each other).
async fn ingest(
    d: &Deployment,
    seed: u64,
    plan: &RoundPlan,
    tally: &Mutex<Tally>,
) -> Result<(BTreeMap<String, SimReservation>, Vec<Notice>), String> {
    let done = std::sync::atomic::AtomicBool::new(false);
    let changes = async {
        let r = staff(d, plan, tally).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let worker = async {
        let mut rng = round_rng(seed, plan.round, 1);
        let mut idle_after = 0;
        for _ in 0..2_000 {
            let n = drive::sync_pass(d, plan.concurrent_worker, &mut rng, tally).await?;
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                if n == 0 {
                    idle_after += 1;
                    if idle_after >= 2 {
                        break;
                    }
                }
            } else if n == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok::<(), String>(())
    };
    let (changes, worker) = tokio::join!(changes, worker);
    worker?;
    changes
}

/// Why a partner's submissions got no operation.
enum Refused {
    /// `IDEMPOTENCY_CONFLICT`: the key was used for a different request.
    Conflict,
    Other(String),
}

/// The idempotency key the write path files a write under (what the writer's records, and so
/// the crash tripwire, name): the partner's key, or, without one, the key the request gets
/// (`id`: its operation, once submitted).
fn filed_key(
    d: &Deployment,
    w: &WritePlan,
    id: Option<&OperationId>,
) -> Result<Option<IdempotencyKey>, String> {
    let _ = d;
    match &w.caller_key {
        Some(k) => IdempotencyKey::partner(w.partner, k).map(Some).map_err(err),
        None => Ok(id.map(IdempotencyKey::unique)),
    }
}

/// Submits one write as a partner would: `submits` times (at once, or one after another),
/// retrying a submission that failed or got no answer. `key`: the key it is filed under, when
/// known before it is submitted.
async fn submit(
    d: &Deployment,
    w: &WritePlan,
    key: Option<&IdempotencyKey>,
    caps: &pms_domain::domain::Capabilities,
    tally: &Mutex<Tally>,
) -> Result<Option<OperationId>, Refused> {
    let hotel = d.hotel_id();
    // The partner's token id is the operation's actor (what keys are scoped by).
    let once = || {
        d.writes.submit(
            hotel,
            w.op.clone(),
            w.caller_key.as_deref(),
            w.partner,
            "chaos",
            caps,
        )
    };
    let mut ids: Vec<OperationId> = Vec::new();
    let mut pending = w.submits.max(1);
    if let (Some(CrashPoint::SubmitBeforeEnqueue), Some(key)) = (w.crash, key) {
        let fired = d
            .tripwire
            .arm(CrashPoint::SubmitBeforeEnqueue, key.as_str());
        tokio::select! {
            r = once() => {
                d.tripwire.disarm(key.as_str());
                if let Ok(op) = r { ids.push(op.id) }
            }
            Ok(point) = fired => {
                *lock(tally).crashes.entry(point).or_default() += 1;
            }
        }
        // No answer: the partner will submit again.
        pending = pending.max(2) - 1;
    }
    lock(tally).duplicate_submits += u64::from(w.submits.max(1) - 1);
    let results: Vec<Result<_, SubmitError>> = if w.concurrent {
        futures::future::join_all((0..pending).map(|_| once())).await
    } else {
        let mut v = Vec::new();
        for _ in 0..pending {
            v.push(once().await);
        }
        v
    };
    for r in results {
        match r {
            Ok(op) => ids.push(op.id),
            Err(e) if e.is_retryable() => {}
            Err(SubmitError::Conflict) => return Err(Refused::Conflict),
            Err(e) => {
                return Err(Refused::Other(format!(
                    "submission refused: {} ({e})",
                    e.code()
                )))
            }
        }
    }
    if ids.is_empty() {
        // Every attempt failed transiently: the partner tries once more.
        ids.push(once().await.map_err(|e| Refused::Other(e.to_string()))?.id);
    }
    ids.dedup();
    if ids.len() > 1 {
        return Err(Refused::Other(format!(
            "one idempotency key made {} operations: {ids:?}",
            ids.len()
        )));
    }
    Ok(ids.pop())
}

/// The partner side of the round and the writer, under the fault.
async fn writes(
    d: &Deployment,
    seed: u64,
    plan: &RoundPlan,
    state: &RoundState,
    tally: &Mutex<Tally>,
) -> Result<(Vec<(WritePlan, Option<OperationId>)>, WriteChaos), String> {
    let mut rng = round_rng(seed, plan.round, 2);
    let caps = d
        .services
        .adapters
        .adapter_for(&d.hotel)
        .await
        .map_err(err)?
        .capabilities();
    let mut chaos = WriteChaos {
        concurrent: plan.concurrent_writer,
        kills: plan.schedule.kills,
        ..WriteChaos::default()
    };
    let mut ops: Vec<(WritePlan, Option<OperationId>)> = Vec::new();
    for w in &plan.writes {
        let key = filed_key(d, w, None)?;
        // Other partners' operations under the same key.
        let others: Vec<&OperationId> = ops
            .iter()
            .filter(|(o, _)| o.caller_key == w.caller_key && o.partner != w.partner)
            .filter_map(|(_, id)| id.as_ref())
            .collect();
        let shared = w.caller_key.is_some()
            && ops
                .iter()
                .any(|(o, _)| o.caller_key == w.caller_key && o.partner != w.partner);
        let id = match submit(d, w, key.as_ref(), &caps, tally).await {
            Ok(id) => id,
            Err(Refused::Conflict) if shared => {
                lock(tally).partner_leaks += 1;
                state.fail(format!(
                    "partner {} was refused (IDEMPOTENCY_CONFLICT) for a key only another partner had used",
                    w.partner
                ));
                None
            }
            Err(Refused::Conflict) => return Err("submission refused: IDEMPOTENCY_CONFLICT".into()),
            Err(Refused::Other(e)) => return Err(e),
        };
        // The writer's chaos, planned by the key the write is filed under (a keyless write's
        // may be known only once it is submitted).
        let key = match key {
            Some(k) => Some(k),
            None => filed_key(d, w, id.as_ref())?,
        };
        if let Some(key) = key {
            if let Some(point) = w.crash.filter(|p| CrashPoint::WRITER.contains(p)) {
                chaos.crashes.insert(key.to_string(), point);
            }
            if w.duplicate_message {
                chaos.duplicate_messages.insert(key.to_string());
            }
        }
        if shared {
            state
                .shared_key_submitted
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if let Some(id) = id.as_ref().filter(|id| others.contains(id)) {
            lock(tally).partner_leaks += 1;
            state.fail(format!(
                "partner {} got another partner's operation {id} for its own charge",
                w.partner
            ));
        }
        if let (Some(id), Some(desc)) = (&id, w.charge_description()) {
            state.trace(id.as_str(), |t| {
                t.charge = true;
                t.description = Some(desc.to_owned());
            });
        }
        {
            let mut t = lock(tally);
            t.writes += 1;
            t.charges += u64::from(w.op.is_charge());
        }
        ops.push((w.clone(), id));
    }
    let url = d.names().write_queue_url.clone();
    let mut idle = 0;
    for _ in 0..16 {
        if drive::writer_pass(d, Some(&mut chaos), state, &mut rng, tally).await? > 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle > 2 || d.services.queue.depth(&url).await.map_err(err)? == 0 {
            break;
        }
        // Retries wait out their (short) backoff; a crashed batch is left for settling.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Ok((ops, chaos))
}

pub async fn run_round(d: &Deployment, seed: u64, round: u64) -> Result<RoundResult, String> {
    let tally = Mutex::new(Tally::default());
    let vendor = d.vendor;
    let before = d.admin.counters().await.map_err(err)?[&vendor].clone();
    let snapshot = d
        .admin
        .hotel(vendor, &d.property.property_id)
        .await
        .map_err(err)?;
    let plan = plan::plan(seed, round, vendor, &snapshot, d.hotel.currency);
    {
        let mut t = lock(&tally);
        *t.rounds
            .entry(format!("{} on {}", provider_name(vendor), d.backend.name()))
            .or_default() += 1;
        *t.faults.entry(plan.fault.name()).or_default() += 1;
    }
    let state = RoundState::default();
    if std::env::var_os("CHAOS_TRACE").is_some() {
        eprintln!(
            "round {round} ({}): fault {:?}, {:?} {:?}, kills {:?}, shared key {:?}",
            provider_name(vendor),
            plan.fault,
            plan.schedule.sequence,
            plan.schedule.steps,
            plan.schedule.kills,
            plan.schedule.shared_key
        );
    }
    timeline::set_phase(d, &state, &plan.fault).await?;
    let expiry = async {
        if let SimFault::TokenExpiry { times } = plan.fault {
            faults::expire_tokens(&d.admin, times, Duration::from_millis(1500)).await;
        }
    };
    let (patched, written, pushes, ()) = tokio::join!(
        ingest(d, seed, &plan, &tally),
        writes(d, seed, &plan, &state, &tally),
        partner::run(d, &plan.partner, &tally),
        expiry
    );
    // Across the writes' attempts: the schedule's phases, redeliveries and ops actions.
    let scheduled = match &written {
        Ok((ops, chaos)) if !plan.schedule.steps.is_empty() => {
            let mut chaos = WriteChaos {
                concurrent: chaos.concurrent,
                kills: chaos.kills,
                ..WriteChaos::default()
            };
            let mut rng = round_rng(seed, round, 5);
            timeline::run(d, &plan.schedule, ops, &state, &mut chaos, &mut rng, &tally).await
        }
        _ => Ok(()),
    };
    // Whatever failed, the fault must not outlive the round.
    let cleared = d.clear_fault().await;
    // Time can be fast-forwarded for the layer, not for the vendor: let it finish what it is
    // still working on before the round settles.
    state.wait_for_vendor().await;
    tokio::time::sleep(plan.fault.lingers(d.client_timeout)).await;
    let ((patched, resend), (ops, chaos), pushes) = (patched?, written?, pushes?);
    scheduled?;
    cleared?;
    lock(&tally).crashes_not_reached += chaos.crashes.len() as u64;
    // The vendor's next retries of what the fault made fail.
    for n in resend {
        lock(&tally).deliveries_retried_by_vendor += 1;
        if !deliver(d, &n, false, &tally).await? {
            return Err("a webhook delivery failed with no fault active".into());
        }
    }
    timeline::observe(d, &ops, &state, &tally).await?;
    let mut rng = round_rng(seed, round, 3);
    let settled = drive::settle(d, &state, &mut rng, &tally).await?;
    let mut failures = state.take_failures();
    if !settled {
        lock(&tally).unsettled += 1;
        failures.push("queues did not drain".to_owned());
    }
    // The partner's pushes that found their key locked, once the lock has passed.
    if !pushes.is_empty() {
        drive::fast_forward(d, &state, &tally).await;
        partner::retry(d, &pushes, &tally).await?;
    }
    checks::check(d, &patched, &ops, &before, &state, &tally, &mut failures).await?;
    // Partners hear of the round's changes, whatever their receivers do.
    let mut rng = round_rng(seed, round, 7);
    super::subscribers::round(
        d.backend,
        &d.subscriber,
        d.events.take(),
        &mut rng,
        &tally,
        &mut failures,
    )
    .await?;
    failures.extend(state.take_failures());
    let partner_failures = partner::check(d, &plan.partner).await?;
    lock(&tally).lost_updates += partner_failures.len() as u64;
    failures.extend(partner_failures);
    if std::env::var_os("CHAOS_TRACE").is_some() {
        // What each operation went through, for reading a round's failures.
        for (id, t) in state.traces() {
            eprintln!(
                "round {round} ({}): {id} {:?}: {}",
                provider_name(vendor),
                t.status,
                t.describe()
            );
        }
    }
    {
        let mut t = lock(&tally);
        for class in state.classes(&plan.schedule) {
            *t.classes.entry(class).or_default() += 1;
        }
    }
    let tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let failures = failures
        .into_iter()
        .map(|f| {
            format!(
                "round {round} ({} on {}, fault {}): {f}",
                provider_name(vendor),
                d.backend.name(),
                plan.fault.name()
            )
        })
        .collect();
    Ok(RoundResult { tally, failures })
}

pub fn provider_name(v: Provider) -> &'static str {
    match v {
        pms_opera::PROVIDER => "OHIP",
        pms_mews::PROVIDER => "Mews",
        pms_cloudbeds::PROVIDER => "Cloudbeds",
        _ => "?",
    }
}
