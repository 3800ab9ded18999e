//! Partner ingestion under chaos (`pms_app::ingest`, as the webhook function's partner routes
//! run it): a partner pushes successive versions of its bookings, duplicated, out of order,
//! some at once, some with an `Idempotency-Key` (a repeat is answered from the stored answer),
//! and a push whose process dies after the merge but before its answer is stored (its retry
//! takes the claim over once the lock has passed). The store must end with each booking's
//! highest version.

use std::sync::Mutex;

use pms_app::ingest::idempotency::{request_hash, Claim, IdempotencyStore, StoredResponse};
use pms_app::ingest::{normalize, IngestKind, IngestService, Records};
use pms_app::registry::PartnerSystem;
use pms_domain::domain::hash::content_hash;
use pms_domain::domain::Reservation;
use pms_domain::ports::Clock;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngExt};
use serde_json::{json, Value};

use super::drive::lock;
use super::report::Tally;
use super::world::Deployment;

const PARTNER: &str = "chaos";
const STATUSES: &[&str] = &["confirmed", "checked_in", "checked_out", "cancelled"];
const ROOM_TYPES: &[&str] = &["KING", "QUEEN", "TWIN"];

#[derive(Clone, Debug)]
pub struct Push {
    pub body: Value,
    pub key: Option<String>,
    /// The process dies after the merge, before the answer is stored.
    pub crash: bool,
    /// Sent together with the next push.
    pub together: bool,
}

#[derive(Clone, Debug, Default)]
pub struct PartnerPlan {
    pub pushes: Vec<Push>,
    /// The highest version of each booking.
    pub latest: Vec<Value>,
}

fn booking(id: &str, version: u64, rng: &mut impl Rng) -> Value {
    let nights = rng.random_range(1..=5);
    let room_type = ROOM_TYPES.choose(rng).copied().unwrap_or("KING");
    json!({
        "externalId": id,
        "status": STATUSES.choose(rng).copied().unwrap_or("confirmed"),
        // A month ahead of the real clock the merge runs on: never past retention.
        "checkIn": crate::fixture_day(0).to_string(),
        "checkOut": crate::fixture_day(nights).to_string(),
        "guest": {"externalId": format!("{id}-G"), "firstName": "Ada", "lastName": "Chaos"},
        "roomType": room_type,
        "adults": rng.random_range(1..=3),
        "version": version,
    })
}

pub fn plan(seed: u64, round: u64, rng: &mut impl Rng) -> PartnerPlan {
    let mut plan = PartnerPlan::default();
    for b in 0..rng.random_range(1..=2) {
        let id = format!("CH-{seed:x}-{round}-{b}");
        let versions = rng.random_range(2..=4);
        for v in 1..=versions {
            let body = booking(&id, v, rng);
            let key = rng
                .random_bool(0.6)
                .then(|| format!("push-{seed:x}-{round}-{b}-{v}"));
            for _ in 0..1 + u32::from(rng.random_bool(0.35)) {
                plan.pushes.push(Push {
                    body: body.clone(),
                    key: key.clone(),
                    crash: false,
                    together: rng.random_bool(0.3),
                });
            }
            if v == versions {
                plan.latest.push(body);
            }
        }
    }
    plan.pushes.shuffle(rng);
    if rng.random_bool(0.15) {
        if let Some(p) = plan.pushes.iter_mut().find(|p| p.key.is_some()) {
            p.crash = true;
        }
    }
    plan
}

fn partner() -> PartnerSystem {
    PartnerSystem::parse(PARTNER).unwrap_or_else(|e| panic!("partner system: {e}"))
}

fn bookings(d: &Deployment, body: &Value) -> Result<Vec<Reservation>, String> {
    let n = normalize(IngestKind::Bookings, body, &partner(), d.clock.now())
        .map_err(|e| format!("partner body refused: {e:?}"))?;
    match n.records {
        Records::Bookings(v) => Ok(v),
        _ => Err("not bookings".into()),
    }
}

/// One push as the partner route runs it. False when it got no answer (to be sent again).
async fn push(d: &Deployment, p: &Push, crash: bool, tally: &Mutex<Tally>) -> Result<bool, String> {
    let hotel = d.hotel_id();
    let records = bookings(d, &p.body)?;
    let idem = IdempotencyStore::new(d.services.store.clone(), d.services.clock.clone());
    let claim = match &p.key {
        None => None,
        Some(key) => {
            let item_key = IdempotencyStore::key(hotel, "chaos-partner-token", key);
            match idem
                .claim(
                    item_key,
                    &request_hash(&format!("bookings:{PARTNER}"), &p.body),
                )
                .await
                .map_err(|e| e.to_string())?
            {
                Claim::Claimed(item) => Some(*item),
                Claim::Replay(_) => {
                    lock(tally).partner_replays += 1;
                    return Ok(true);
                }
                // 409: the partner retries later.
                Claim::InProgress => return Ok(false),
                Claim::Mismatch => return Err(format!("Idempotency-Key {key} refused as reused")),
            }
        }
    };
    let ingest = IngestService::new(d.services.merger.clone(), d.services.clock.clone());
    let report = ingest
        .apply(hotel, Records::Bookings(records), "chaos-partner")
        .await
        .map_err(|e| e.to_string())?;
    lock(tally).partner_pushes += 1;
    if let Some(item) = claim {
        if crash {
            // Died before storing the answer: the claim stays locked until it lapses.
            lock(tally).partner_crashes += 1;
            return Ok(false);
        }
        let body = serde_json::to_value(&report.results).unwrap_or_default();
        idem.complete(item, StoredResponse { status: 200, body })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(true)
}

/// Runs the pushes; returns those to send again once time has passed (locked claims).
pub async fn run(
    d: &Deployment,
    plan: &PartnerPlan,
    tally: &Mutex<Tally>,
) -> Result<Vec<Push>, String> {
    let mut again = Vec::new();
    let mut i = 0;
    while i < plan.pushes.len() {
        let a = &plan.pushes[i];
        match plan.pushes.get(i + 1).filter(|_| a.together) {
            Some(b) => {
                let (ra, rb) = tokio::join!(push(d, a, a.crash, tally), push(d, b, b.crash, tally));
                for (ok, p) in [(ra?, a), (rb?, b)] {
                    if !ok {
                        again.push(p.clone());
                    }
                }
                i += 2;
            }
            None => {
                if !push(d, a, a.crash, tally).await? {
                    again.push(a.clone());
                }
                i += 1;
            }
        }
    }
    Ok(again)
}

/// The partner's retries after time has passed: every one must be answered now.
pub async fn retry(d: &Deployment, pushes: &[Push], tally: &Mutex<Tally>) -> Result<(), String> {
    for p in pushes {
        if !push(d, p, false, tally).await? {
            return Err(format!(
                "push of {} still locked after its lock passed",
                p.body["externalId"]
            ));
        }
    }
    Ok(())
}

/// Each booking stored at its highest version. Returns the failures.
pub async fn check(d: &Deployment, plan: &PartnerPlan) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    for body in &plan.latest {
        let expected = bookings(d, body)?
            .pop()
            .ok_or_else(|| "no booking".to_owned())?;
        let stored = d
            .services
            .reservations
            .get(d.hotel_id(), &expected.id)
            .await
            .map_err(|e| e.to_string())?;
        let ok = stored.as_ref().is_some_and(|s| {
            s.version == expected.version && content_hash(s) == content_hash(&expected)
        });
        if !ok {
            let pushes: Vec<String> = plan
                .pushes
                .iter()
                .filter(|p| p.body["externalId"] == body["externalId"])
                .map(|p| {
                    format!(
                        "v{}{}{}{}",
                        p.body["version"],
                        if p.key.is_some() { " keyed" } else { "" },
                        if p.crash { " crash" } else { "" },
                        if p.together { " +next" } else { "" }
                    )
                })
                .collect();
            failures.push(format!(
                "partner booking {}: stored version {:?} (same content: {}), pushed up to {} ({})",
                expected.id,
                stored.as_ref().map(|s| s.version),
                stored
                    .as_ref()
                    .is_some_and(|s| content_hash(s) == content_hash(&expected)),
                expected.version,
                pushes.join(", ")
            ));
        }
    }
    Ok(failures)
}
