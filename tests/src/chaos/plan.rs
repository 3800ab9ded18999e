//! A round's plan, drawn from the round's own seeded generator: which reservations change at
//! the PMS and how, the webhook deliveries that announce the changes (copies, and in which order
//! and how late they arrive), the vendor fault, and the writes with their duplicates and the
//! crash each may suffer. Everything random about a round is decided here, before it runs.

use chrono::Duration;
use pms_app::writes::WriteOperation;
use pms_domain::domain::{Charge, ConfirmationNumber, Currency, Money, Note};
use pms_sim::data::SimReservation;
use pms_sim::{Provider, ReservationPatch, SimHotel, SimStatus};
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngExt, SeedableRng};

use super::faults::{CrashPoint, SimFault};
use super::schedule::{self, Schedule};

/// The partners writing in a round: their tokens' ids (what the write path scopes keys by).
pub const PARTNER_A: &str = "chaos-token";
pub const PARTNER_B: &str = "chaos-token-b";

/// The generator of round `round` of run `seed`: rounds are independent of each other's draws.
pub fn round_rng(seed: u64, round: u64, stream: u64) -> Xoshiro256PlusPlus {
    // SplitMix64 of the three, so nearby rounds get unrelated streams.
    let mut z = seed
        ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Xoshiro256PlusPlus::seed_from_u64(z ^ (z >> 31))
}

#[derive(Clone, Debug)]
pub struct Patch {
    /// The vendor's id of the reservation.
    pub reservation: String,
    pub patch: ReservationPatch,
}

/// One webhook delivery (a copy of the notice of one change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub patch: usize,
    pub copy: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestStep {
    /// Apply patch `i` at the PMS.
    Patch(usize),
    /// The vendor sends delivery `i` (of [`RoundPlan::deliveries`]).
    Deliver(usize),
    /// Staff pause for this many milliseconds (the sync worker runs all along).
    Pause(u64),
}

#[derive(Clone, Debug)]
pub struct WritePlan {
    /// The partner's token id (the operation's actor).
    pub partner: &'static str,
    pub op: WriteOperation,
    /// The reservation's id at the vendor.
    pub reservation: String,
    pub caller_key: Option<String>,
    /// How many times the partner submits it (a retried mutation).
    pub submits: u32,
    /// Whether the repeats are sent at the same time.
    pub concurrent: bool,
    pub crash: Option<CrashPoint>,
    /// Whether the queue delivers the message twice (SQS is at-least-once).
    pub duplicate_message: bool,
}

impl WritePlan {
    pub fn charge_reference(&self) -> Option<&str> {
        match &self.op {
            WriteOperation::PostCharge { charge, .. } => Some(&charge.reference),
            _ => None,
        }
    }

    /// A charge's description: unique to its business request in a run (two partners' identical
    /// charges share it), so the PMS's postings are counted whatever reference reached it.
    pub fn charge_description(&self) -> Option<&str> {
        match &self.op {
            WriteOperation::PostCharge { charge, .. } => Some(&charge.description),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RoundPlan {
    pub round: u64,
    pub fault: SimFault,
    pub patches: Vec<Patch>,
    pub deliveries: Vec<Delivery>,
    pub ingest: Vec<IngestStep>,
    /// A delivery whose webhook function dies after storing it, before enqueueing.
    pub intake_crash: Option<usize>,
    pub writes: Vec<WritePlan>,
    /// Chance that a writer batch is run by two writers at once (visibility lapsed).
    pub concurrent_writer: f64,
    /// Chance that a sync message is handled by two workers at once.
    pub concurrent_worker: f64,
    pub partner: super::partner::PartnerPlan,
    /// Fault phases, redeliveries and ops actions across the writes' attempts.
    pub schedule: Schedule,
}

fn pick_status(rng: &mut impl Rng) -> SimStatus {
    let r: f64 = rng.random();
    match r {
        r if r < 0.40 => SimStatus::InHouse,
        r if r < 0.75 => SimStatus::Confirmed,
        r if r < 0.90 => SimStatus::CheckedOut,
        r if r < 0.97 => SimStatus::Cancelled,
        _ => SimStatus::NoShow,
    }
}

const REQUESTS: &[&str] = &[
    "Late arrival",
    "High floor",
    "Extra pillows",
    "Airport pickup",
    "Quiet room",
];
const RATE_CODES: &[&str] = &["BAR", "CORP", "AAA", "PKG", "GOV"];

/// A change staff make at the PMS: one to three fields.
fn patch_for(r: &SimReservation, hotel: &SimHotel, rng: &mut impl Rng) -> ReservationPatch {
    let mut p = ReservationPatch::default();
    let fields = rng.random_range(1..=3);
    for _ in 0..fields {
        match rng.random_range(0..5) {
            0 => p.status = Some(pick_status(rng)),
            1 => {
                let n = rng.random_range(0..=2);
                p.special_requests = Some(REQUESTS.sample(rng, n).map(|s| s.to_string()).collect())
            }
            2 => p.rate_code = RATE_CODES.choose(rng).map(|s| s.to_string()),
            3 => p.departure = Some(r.arrival + Duration::days(rng.random_range(1..=6))),
            _ => p.room_number = hotel.rooms.choose(rng).map(|room| room.number.clone()),
        }
    }
    p
}

/// Partner B's charge under partner A's idempotency key and charge reference, on the same stay:
/// the same charge (another sale of the same thing) or a different one. A gets a key if it had
/// none.
fn second_partner(a: &mut WritePlan, identical: bool, round: u64, rng: &mut impl Rng) -> WritePlan {
    let key = a
        .caller_key
        .get_or_insert_with(|| format!("chaos-shared-{round}"))
        .clone();
    let mut op = a.op.clone();
    if let WriteOperation::PostCharge { charge, .. } = &mut op {
        charge.reference = key.clone();
        if !identical {
            charge.amount = Money::new(
                charge.amount.amount_minor + 1 + rng.random_range(0..500),
                charge.amount.currency,
            );
            charge.description = format!("Chaos spa r{round}");
        }
    }
    if let WriteOperation::PostCharge { charge, .. } = &mut a.op {
        charge.reference = key.clone();
    }
    WritePlan {
        partner: PARTNER_B,
        op,
        reservation: a.reservation.clone(),
        caller_key: Some(key),
        submits: 1 + u32::from(rng.random_bool(0.3)),
        concurrent: false,
        crash: None,
        duplicate_message: rng.random_bool(0.2),
    }
}

/// The confirmation number the layer knows a reservation by (Cloudbeds: its id).
pub fn confirmation(vendor: Provider, r: &SimReservation) -> ConfirmationNumber {
    let n = if vendor == pms_cloudbeds::PROVIDER {
        &r.id
    } else {
        &r.confirmation
    };
    ConfirmationNumber::parse(n.as_str()).unwrap_or_else(|_| panic!("sim confirmation {n}"))
}

pub fn plan(
    seed: u64,
    round: u64,
    vendor: Provider,
    hotel: &SimHotel,
    currency: Currency,
) -> RoundPlan {
    let mut rng = round_rng(seed, round, 0);
    let fault = SimFault::pick(vendor, &mut rng);

    // Writes go to stays in house; changes to other reservations (a change may cancel a stay,
    // which the PMS would rightly refuse charges for).
    let in_house: Vec<&SimReservation> = hotel
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::InHouse)
        .collect();
    let n_writes = rng.random_range(1..=2).min(in_house.len());
    let write_targets: Vec<&SimReservation> =
        in_house.sample(&mut rng, n_writes).copied().collect();
    let others: Vec<&SimReservation> = hotel
        .reservations
        .iter()
        .filter(|r| !write_targets.iter().any(|w| w.id == r.id))
        .collect();
    let n_targets = rng.random_range(1..=3).min(others.len());
    let targets: Vec<&SimReservation> = others.sample(&mut rng, n_targets).copied().collect();

    let mut patches = Vec::new();
    for t in &targets {
        for _ in 0..rng.random_range(1..=2) {
            patches.push(Patch {
                reservation: t.id.clone(),
                patch: patch_for(t, hotel, &mut rng),
            });
        }
    }
    patches.shuffle(&mut rng);

    // Each change is announced by one to three copies, each arriving up to two changes late.
    let mut deliveries = Vec::new();
    let mut slots: Vec<Vec<IngestStep>> = vec![Vec::new(); patches.len() + 1];
    for i in 0..patches.len() {
        let copies = 1 + u32::from(rng.random_bool(0.35)) + u32::from(rng.random_bool(0.1));
        for copy in 0..copies {
            let late = if rng.random_bool(0.3) {
                rng.random_range(1..=2)
            } else {
                0
            };
            deliveries.push(Delivery { patch: i, copy });
            slots[(i + late).min(patches.len())].push(IngestStep::Deliver(deliveries.len() - 1));
        }
    }
    let mut ingest = Vec::new();
    for (i, mut slot) in slots.into_iter().enumerate() {
        if i < patches.len() {
            ingest.push(IngestStep::Patch(i));
        }
        slot.shuffle(&mut rng);
        ingest.extend(slot);
        if rng.random_bool(0.5) {
            ingest.push(IngestStep::Pause(rng.random_range(5..=80)));
        }
    }
    let intake_crash =
        (vendor != pms_opera::PROVIDER && !deliveries.is_empty() && rng.random_bool(0.1))
            .then(|| rng.random_range(0..deliveries.len()));

    let mut writes = Vec::new();
    for (n, t) in write_targets.iter().enumerate() {
        let key = format!("chaos-{seed:x}-{round}-{n}");
        let charge = rng.random_bool(0.75);
        let op = if charge {
            WriteOperation::PostCharge {
                confirmation: confirmation(vendor, t),
                charge: Charge {
                    amount: Money::new(rng.random_range(100..=9_999), currency),
                    description: format!("Chaos minibar r{round}-{n}"),
                    revenue_center: None,
                    reference: key.clone(),
                },
            }
        } else {
            WriteOperation::AddReservationNote {
                confirmation: confirmation(vendor, t),
                note: Note {
                    text: format!("Chaos note {key}"),
                    title: None,
                    internal: false,
                },
            }
        };
        let caller_key = rng.random_bool(0.7).then_some(key);
        let crash = match rng.random::<f64>() {
            // A partner that gets no answer retries with its key; without one a retry is a new
            // request (two identical charges without a key are two charges).
            r if r < 0.07 && caller_key.is_some() => Some(CrashPoint::SubmitBeforeEnqueue),
            r if (0.07..0.55).contains(&r) => CrashPoint::WRITER.choose(&mut rng).copied(),
            _ => None,
        };
        let submits = 1 + u32::from(rng.random_bool(0.4)) + u32::from(rng.random_bool(0.15));
        writes.push(WritePlan {
            partner: PARTNER_A,
            op,
            reservation: t.id.clone(),
            submits: if caller_key.is_some() { submits } else { 1 },
            caller_key,
            concurrent: rng.random_bool(0.5),
            crash,
            duplicate_message: rng.random_bool(0.3),
        });
    }
    let partner = super::partner::plan(seed, round, &mut rng);
    // The classes across attempts draw from their own stream: the draws above stay as they were.
    let mut fault = fault;
    let mut srng = round_rng(seed, round, 4);
    let charged = writes.iter().position(|w| w.op.is_charge());
    let schedule = schedule::draw(&mut srng, charged.is_some(), &mut fault);
    if let (Some(shared), Some(i)) = (schedule.shared_key, charged) {
        let b = second_partner(&mut writes[i], shared.identical, round, &mut srng);
        writes.push(b);
    }
    RoundPlan {
        schedule,
        partner,
        round,
        fault,
        patches,
        deliveries,
        ingest,
        intake_crash,
        writes,
        concurrent_writer: 0.25,
        concurrent_worker: 0.2,
    }
}
