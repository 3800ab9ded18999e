//! The scheduled delta sync, end to end, for each vendor (OHIP, Mews, Cloudbeds) against its
//! simulator and a stack on moto: the scheduler's tick (or a job on the real sync queue) runs
//! through the sync worker; records land in the table through the merge rule, domain events on
//! the bus (read back through a rule that copies them to a queue), runs in the table.

use crate::sync_support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use pms_app::jobs::{Feed, FeedJob};
use pms_app::sync::backfill::BackfillProgress;
use pms_app::sync::feeds::Step;
use pms_app::sync::{BackfillStatus, Checkpoint, Checkpoints, FeedOutcome, Skipped, SyncError};
use pms_app::sync_runs::{SyncRun, SyncRunStatus};
use pms_domain::domain::{BusinessDate, ReservationStatus};
use pms_sim::data::SimReservation;
use pms_sim::{
    FaultConfig, Provider, ReservationPatch, RoomPatch, SimHotel, SimHousekeeping, SimStatus,
};
use sync_support::{count_events, count_prefix, record_writes, Bed, Process};

for_each_vendor!(
    first_sync_creates_everything_and_an_identical_resync_writes_only_bookkeeping,
    every_mapped_field_change_is_stored_and_a_check_in_emits_one_event,
    a_change_during_a_run_is_read_next_and_a_restarted_worker_resumes_from_the_watermark,
    duplicate_ticks_and_deliveries_do_no_duplicate_work,
    a_reservation_the_vendor_cannot_serve_makes_the_run_partial_with_its_id,
    a_429_storm_delays_the_run_without_any_rate_limit_violation,
    a_pms_outage_fails_the_run_visibly_and_keeps_the_watermark,
    an_interrupted_backfill_resumes_where_it_stopped,
    a_room_status_change_emits_one_event,
);

const SYNCED: &str = "pms.booking.synced";
const CHECKED_IN: &str = "pms.booking.checked_in";

fn today(data: &SimHotel) -> NaiveDate {
    Utc::now().with_timezone(&data.time_zone).date_naive()
}

/// Confirmed stays arriving today or later with a room: ones that can still change and check
/// in. Sorted by id, so a test picks the same ones every time.
fn upcoming(data: &SimHotel) -> Vec<SimReservation> {
    let today = today(data);
    let mut out: Vec<SimReservation> = data
        .reservations
        .iter()
        .filter(|r| r.status == SimStatus::Confirmed && r.arrival >= today && r.room_id.is_some())
        .cloned()
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Another room number than `r`'s.
fn other_room(data: &SimHotel, r: &SimReservation) -> String {
    let current = r.room_id.as_deref().and_then(|id| data.room(id));
    data.rooms
        .iter()
        .map(|room| room.number.clone())
        .find(|n| Some(n) != current.map(|c| &c.number))
        .expect("a second room")
}

fn count_events_of(events: &[sync_support::Event], detail_type: &str) -> usize {
    events.iter().filter(|(t, _)| t == detail_type).count()
}

fn latest(runs: &[SyncRun], feed: Feed) -> SyncRun {
    runs.iter()
        .rev()
        .find(|r| r.feed == feed.as_str())
        .unwrap_or_else(|| panic!("no {feed} run in {runs:#?}"))
        .clone()
}

/// The endpoint (as the simulator counts it) each vendor's reservations delta reads.
fn delta_endpoint(vendor: Provider) -> &'static str {
    match vendor {
        pms_opera::PROVIDER => "getBusinessEvents",
        pms_mews::PROVIDER => "reservations/getAll/2023-06-06",
        pms_cloudbeds::PROVIDER => "getReservationsWithRateDetails",
        other => panic!("{other} is not a simulated vendor"),
    }
}

async fn first_sync_creates_everything_and_an_identical_resync_writes_only_bookkeeping(
    vendor: Provider,
) {
    let mut bed = Bed::new(vendor).await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let (report, answers) = bed.tick().await;
    assert_eq!(report.jobs_enqueued, Feed::ALL.len(), "{report:?}");
    assert!(
        answers.iter().all(|a| a.batch_item_failures.is_empty()),
        "{answers:?}"
    );
    let runs = bed.runs_since(t0).await;
    let feeds: BTreeSet<&str> = runs.iter().map(|r| r.feed.as_str()).collect();
    assert_eq!(feeds.len(), Feed::ALL.len(), "{runs:#?}");
    for r in &runs {
        assert_eq!(r.status, SyncRunStatus::Succeeded, "{r:#?}");
        // OPERA has no availability read: its availability runs ask the PMS nothing.
        let asks = !(vendor == pms_opera::PROVIDER && r.feed == Feed::Availability.as_str());
        assert!(
            (r.vendor_calls > 0) == asks && r.finished_at.is_some(),
            "{r:#?}"
        );
    }

    // Everything: every live stay (upcoming and in house) on every vendor, and on vendors with
    // a modified-since delta every reservation changed within the first run's lookback (the
    // whole simulated hotel). OHIP's business events only report changes from now on: there
    // the first run's arrivals load carries the past and future stays instead.
    let data = bed.vendor_data().await;
    let stored = bed.bookings().await;
    for r in &data.reservations {
        let live = matches!(r.status, SimStatus::Confirmed | SimStatus::InHouse);
        if live || vendor != pms_opera::PROVIDER {
            assert!(
                stored.contains_key(&r.id),
                "{:?} {} not stored",
                r.status,
                r.id
            );
        }
    }
    for (id, b) in &stored {
        let r = data
            .reservation(id)
            .expect("a stored booking the vendor has");
        // Cloudbeds has one number for both: its reservation id.
        let confirmation = if vendor == pms_cloudbeds::PROVIDER {
            &r.id
        } else {
            &r.confirmation
        };
        assert_eq!(b.confirmation_number.as_str(), confirmation);
    }
    assert_eq!(bed.room_keys().await.len(), data.rooms.len());
    // Nights of availability per room type (none on OPERA), from the availability feed.
    let nights = bed.keys_with_prefix("PMSAVAIL#").await.len();
    assert_eq!(
        nights == 0,
        vendor == pms_opera::PROVIDER,
        "{nights} nights"
    );
    let created: u64 = runs.iter().map(|r| r.created.count).sum();
    let unchanged: u64 = runs.iter().map(|r| r.unchanged).sum();
    // Rooms are created by the room status feed, nights by the availability feed; bookings by
    // the others.
    assert_eq!(created as usize, stored.len() + data.rooms.len() + nights);
    let events = bed.new_events().await;
    for id in stored.keys() {
        assert_eq!(count_events(&events, SYNCED, &bed.entity(id)), 1, "{id}");
    }
    assert_eq!(
        count_events_of(&events, "pms.availability.synced"),
        nights,
        "one event per new night"
    );
    assert_eq!(
        events.len(),
        stored.len() + nights,
        "one event per new booking"
    );
    let first = bed.take_writes();
    println!(
        "{vendor:?} first sync: {} bookings, {} rooms, {} records read again unchanged; \
         {} table writes ({} records, {} bookkeeping); {} vendor calls",
        stored.len(),
        data.rooms.len(),
        unchanged,
        first.len(),
        record_writes(&first).len(),
        first.len() - record_writes(&first).len(),
        runs.iter().map(|r| r.vendor_calls).sum::<u64>(),
    );

    // The same data again: nothing is written but the feeds' state (a claim and a completion
    // per feed, the completion keeping the run, which changed nothing).
    let t1 = Utc::now();
    bed.tick().await;
    let writes = bed.take_writes();
    let records = record_writes(&writes);
    assert!(
        records.is_empty(),
        "an unchanged re-sync wrote {records:#?}"
    );
    let runs = bed.runs_since(t1).await;
    assert_eq!(runs.len(), Feed::ALL.len(), "{runs:#?}");
    for r in &runs {
        assert_eq!(r.status, SyncRunStatus::Succeeded, "{r:#?}");
        assert_eq!((r.created.count, r.updated.count), (0, 0), "{r:#?}");
    }
    assert_eq!(
        count_prefix(&writes, "SYNCRUN#"),
        0,
        "quiet runs have no item"
    );
    assert_eq!(count_prefix(&writes, "SYNCSTATE#"), 2 * Feed::ALL.len());
    let state = bed.feed_state(Feed::Reservations).await.expect("state");
    assert_eq!(
        state.last_run.as_ref().map(|r| &r.run_id),
        Some(&latest(&runs, Feed::Reservations).run_id),
        "the feed's state keeps its latest run"
    );
    assert_eq!(
        state.watermark,
        Some(latest(&runs, Feed::Reservations).started_at),
        "the watermark is the run's start"
    );
    assert!(bed.new_events().await.is_empty());
    println!(
        "{vendor:?} unchanged re-sync: {} table writes: {} run records, {} feed states, {} tick \
         markers, {} rate-limit counters, 0 records",
        writes.len(),
        count_prefix(&writes, "SYNCRUN#"),
        count_prefix(&writes, "SYNCSTATE#"),
        count_prefix(&writes, "SYNCTICK#"),
        count_prefix(&writes, "RATE#"),
    );
}

/// A mapped field and how a vendor carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Room,
    Rate,
    /// The stay's total.
    Total,
    SpecialRequests,
    GuestEmail,
}

/// The fields each vendor's reservation reads carry (what its adapter maps): OHIP has no
/// special requests in its reservation payloads, Mews no stay total on a reservation (it is in
/// its orders), Cloudbeds' lists neither rate plan nor requests.
fn mapped_fields(vendor: Provider) -> &'static [Field] {
    match vendor {
        pms_opera::PROVIDER => &[Field::Room, Field::Rate, Field::Total, Field::GuestEmail],
        pms_mews::PROVIDER => &[
            Field::Room,
            Field::Rate,
            Field::SpecialRequests,
            Field::GuestEmail,
        ],
        pms_cloudbeds::PROVIDER => &[Field::Room, Field::Total, Field::GuestEmail],
        other => panic!("{other} is not a simulated vendor"),
    }
}

async fn every_mapped_field_change_is_stored_and_a_check_in_emits_one_event(vendor: Provider) {
    let mut bed = Bed::new(vendor).await;
    bed.tick().await;
    let data = bed.vendor_data().await;
    let before = bed.bookings().await;
    let mut candidates = upcoming(&data).into_iter();
    let mut changed: Vec<(Field, SimReservation, ReservationPatch)> = Vec::new();
    for field in mapped_fields(vendor) {
        let r = candidates.next().expect("enough upcoming stays");
        let mut patch = ReservationPatch::default();
        match field {
            Field::Room => patch.room_number = Some(other_room(&data, &r)),
            Field::Rate => {
                patch.rate_code = ["BAR", "CORP", "AAA", "PKG"]
                    .into_iter()
                    .find(|c| *c != r.rate_code)
                    .map(str::to_owned)
            }
            Field::Total => patch.nightly_rate_minor = Some(r.nightly_rate_minor + 1_000),
            Field::SpecialRequests => {
                patch.special_requests = Some(vec!["Feather-free pillows".into()])
            }
            Field::GuestEmail => patch.guest_email = Some(format!("moved.{}@example.org", r.id)),
        }
        bed.patch(&r.id, &patch).await;
        changed.push((*field, r, patch));
    }
    let arriving = candidates.next().expect("a stay to check in");
    let today = today(&data);
    bed.patch(
        &arriving.id,
        &ReservationPatch {
            status: Some(SimStatus::InHouse),
            arrival: Some(today),
            ..ReservationPatch::default()
        },
    )
    .await;
    assert_eq!(
        before[&arriving.id].status,
        ReservationStatus::Confirmed,
        "stored as confirmed before"
    );
    bed.take_writes();
    bed.new_events().await;

    bed.tick().await;
    let stored = bed.bookings().await;
    for (field, r, patch) in &changed {
        let (old, new) = (&before[&r.id], &stored[&r.id]);
        match field {
            Field::Room => assert_eq!(
                new.room_number.as_ref().map(|n| n.as_str()),
                patch.room_number.as_deref()
            ),
            Field::Rate => assert_eq!(new.rate_code, patch.rate_code),
            Field::Total => {
                let nights = (r.departure - r.arrival).num_days();
                assert_eq!(
                    new.total.expect("total").amount_minor,
                    (r.nightly_rate_minor + 1_000) * nights
                );
            }
            Field::SpecialRequests => {
                assert_eq!(new.special_requests, ["Feather-free pillows"])
            }
            Field::GuestEmail => assert_eq!(
                new.guest.as_ref().and_then(|g| g.email.as_deref()),
                patch.guest_email.as_deref()
            ),
        }
        assert_ne!(old, new, "{field:?}");
    }
    assert_eq!(stored[&arriving.id].status, ReservationStatus::CheckedIn);

    let events = bed.new_events().await;
    for (field, r, _) in &changed {
        assert_eq!(
            count_events(&events, SYNCED, &bed.entity(&r.id)),
            1,
            "{field:?}: {events:#?}"
        );
    }
    let entity = bed.entity(&arriving.id);
    assert_eq!(
        count_events(&events, SYNCED, &entity),
        1,
        "{:#?}",
        events
            .iter()
            .filter(|(_, d)| d["entityId"] == entity.as_str())
            .collect::<Vec<_>>()
    );
    assert_eq!(count_events(&events, CHECKED_IN, &entity), 1);
    assert_eq!(
        events.iter().filter(|(t, _)| t == CHECKED_IN).count(),
        1,
        "{events:#?}"
    );

    // Stable: the next tick finds nothing to write (every feed maps a record the same way).
    bed.take_writes();
    bed.tick().await;
    let writes = bed.take_writes();
    assert!(
        record_writes(&writes).is_empty(),
        "{:#?}",
        record_writes(&writes)
    );
    assert!(bed.new_events().await.is_empty());
}

async fn a_change_during_a_run_is_read_next_and_a_restarted_worker_resumes_from_the_watermark(
    vendor: Provider,
) {
    let mut bed = Bed::new(vendor).await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    bed.tick().await;
    let first = latest(&bed.runs_since(t0).await, Feed::Reservations);
    let data = bed.vendor_data().await;
    let x = upcoming(&data).remove(0);
    let room = other_room(&data, &x);

    // The delta read is slow; the change is made while it is in flight, after the run began.
    let endpoint = delta_endpoint(vendor);
    bed.admin
        .set_faults(
            vendor,
            &FaultConfig {
                latency_ms: 2_500,
                only_endpoints: vec![endpoint.into()],
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let calls_before = bed
        .counters()
        .await
        .calls
        .get(endpoint)
        .copied()
        .unwrap_or(0);
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::Reservations, tick).await;
    let patch = ReservationPatch {
        room_number: Some(room.clone()),
        ..ReservationPatch::default()
    };
    let change = async {
        for _ in 0..500 {
            let calls = bed
                .counters()
                .await
                .calls
                .get(endpoint)
                .copied()
                .unwrap_or(0);
            if calls > calls_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Over a second after the run began: past any rounding of the window's end to whole
        // seconds (Cloudbeds takes local times to the second).
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        bed.patch(&x.id, &patch).await;
        Utc::now()
    };
    let (round, changed_at) = tokio::join!(bed.worker_round(), change);
    let (_, answer) = round.expect("the job");
    assert!(answer.batch_item_failures.is_empty());
    bed.admin.clear_faults().await.unwrap();
    let during = latest(&bed.runs_of(&job.correlation_id).await, Feed::Reservations);
    assert_eq!(during.status, SyncRunStatus::Succeeded);
    let state = bed.feed_state(Feed::Reservations).await.expect("state");
    assert_eq!(state.watermark, Some(during.started_at));
    assert!(during.started_at < changed_at);
    let x_entity = bed.entity(&x.id);
    if vendor != pms_opera::PROVIDER {
        // The window ended at the run's start: the change is after it.
        assert!(!during.updated.ids.contains(&x_entity), "{during:#?}");
    }

    // A new process (a cold Lambda) has only the table: it resumes from the watermark.
    bed.restart();
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::Reservations, tick).await;
    bed.drain().await;
    let next = latest(&bed.runs_of(&job.correlation_id).await, Feed::Reservations);
    assert_eq!(next.status, SyncRunStatus::Succeeded, "{next:#?}");
    assert_eq!(
        bed.bookings().await[&x.id]
            .room_number
            .as_ref()
            .map(|n| n.to_string()),
        Some(room)
    );
    // It read what changed since the watermark (the change, at most), not a first run's
    // lookback of the whole hotel.
    assert_eq!(next.created.count, 0, "{next:#?}");
    assert!(next.updated.count + next.unchanged <= 1, "{next:#?}");
    assert!(first.created.count + first.unchanged > 1, "{first:#?}");
    if vendor != pms_opera::PROVIDER {
        assert_eq!(next.updated.ids, std::slice::from_ref(&x_entity));
    } else {
        // OHIP's business events: the change's event was queued while the slow dequeue was
        // in flight, so one of the two runs took it.
        assert!(during.updated.ids.contains(&x_entity) || next.updated.ids.contains(&x_entity));
    }
    let state = bed.feed_state(Feed::Reservations).await.expect("state");
    assert_eq!(state.watermark, Some(next.started_at));
}

async fn duplicate_ticks_and_deliveries_do_no_duplicate_work(vendor: Provider) {
    let mut bed = Bed::new(vendor).await;
    // One Scheduled Event delivered twice (EventBridge delivers at least once), through the
    // scheduler function's handler.
    let scheduler = sync_scheduler_fn::Scheduler::new(&bed.p.services, 300);
    let t = bed.next_tick().await;
    let event = bed.scheduled_event(t);
    let first = scheduler
        .handle(serde_json::from_value(event.clone()).unwrap())
        .await
        .unwrap();
    let again = scheduler
        .handle(serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    assert_eq!(first.jobs_enqueued, Feed::ALL.len());
    assert_eq!((again.jobs_enqueued, again.already_enqueued), (0, 1));
    bed.drain().await;
    assert_eq!(bed.runs_since(t).await.len(), Feed::ALL.len());

    // One job delivered twice (SQS delivers at least once): one batch holds both copies.
    let data = bed.vendor_data().await;
    let mut stays = upcoming(&data).into_iter();
    let x = stays.next().unwrap();
    let check_in = ReservationPatch {
        status: Some(SimStatus::InHouse),
        arrival: Some(today(&data)),
        ..ReservationPatch::default()
    };
    bed.patch(&x.id, &check_in).await;
    bed.take_writes();
    bed.new_events().await;
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::Reservations, tick).await;
    bed.send_job(Feed::Reservations, tick).await;
    bed.drain().await;
    let writes = bed.take_writes();
    let runs = bed.runs_of(&job.correlation_id).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(count_prefix(&writes, "SYNCRUN#"), 1);
    let x_key = |w: &pms_domain::ports::ItemKey| w.sort.ends_with(&format!("#{}", x.id));
    // One merge: the record with its events (outbox), then the outbox cleared.
    assert_eq!(writes.iter().filter(|w| x_key(w)).count(), 2, "{writes:#?}");
    let events = bed.new_events().await;
    let xe = bed.entity(&x.id);
    assert_eq!(count_events(&events, SYNCED, &xe), 1);
    assert_eq!(count_events(&events, CHECKED_IN, &xe), 1);

    // Two instances given the same job at once: one runs it, the other stands back.
    let y = stays.next().unwrap();
    bed.patch(&y.id, &check_in).await;
    let other = Process::new(&bed.stack);
    let tick = bed.next_tick().await;
    let job = FeedJob {
        hotel: bed.hotel.clone(),
        feed: Feed::Reservations,
        scheduled_at: tick,
        correlation_id: "race".into(),
        continuation: None,
    };
    let (a, b) = tokio::join!(bed.p.sync.run_job(&job), other.sync.run_job(&job));
    let ran = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Ok(FeedOutcome::Ran(_))))
        .count();
    assert_eq!(ran, 1, "{a:?} {b:?}");
    for r in [&a, &b] {
        assert!(
            matches!(
                r,
                Ok(FeedOutcome::Ran(_))
                    | Ok(FeedOutcome::Skipped(Skipped::AlreadyRan))
                    | Err(SyncError::InProgress { .. })
            ),
            "{r:?}"
        );
    }
    // The one that stood back because the other was running retries later: a no-op.
    assert!(matches!(
        other.sync.run_job(&job).await,
        Ok(FeedOutcome::Skipped(Skipped::AlreadyRan))
    ));
    let events = bed.new_events().await;
    let ye = bed.entity(&y.id);
    assert_eq!(count_events(&events, SYNCED, &ye), 1);
    assert_eq!(count_events(&events, CHECKED_IN, &ye), 1);
    assert_eq!(bed.runs_of("race").await.len(), 1);
}

async fn a_reservation_the_vendor_cannot_serve_makes_the_run_partial_with_its_id(vendor: Provider) {
    let mut bed = Bed::new(vendor).await;
    bed.tick().await;
    let data = bed.vendor_data().await;
    let mut stays = upcoming(&data).into_iter();
    let (bad, good) = (stays.next().unwrap(), stays.next().unwrap());
    let (bad_room, good_room) = (other_room(&data, &bad), other_room(&data, &good));
    for (r, room) in [(&bad, &bad_room), (&good, &good_room)] {
        bed.patch(
            &r.id,
            &ReservationPatch {
                room_number: Some(room.clone()),
                ..ReservationPatch::default()
            },
        )
        .await;
    }
    bed.admin
        .set_faults(
            vendor,
            &FaultConfig {
                failing_entities: vec![bad.id.clone()],
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::Reservations, tick).await;
    let (_, answer) = bed.worker_round().await.expect("the job");
    // The job is done: the bad record went to a refresh job of its own.
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let run = latest(&bed.runs_of(&job.correlation_id).await, Feed::Reservations);
    assert_eq!(run.status, SyncRunStatus::Partial, "{run:#?}");
    assert_eq!(run.failed.count, 1);
    assert_eq!(run.failed.ids, std::slice::from_ref(&bad.id));
    assert_eq!(run.errors[0].entity_id.as_deref(), Some(bad.id.as_str()));
    assert!(run.updated.ids.contains(&bed.entity(&good.id)), "{run:#?}");
    let stored = bed.bookings().await;
    let room_of = |id: &str| stored[id].room_number.as_ref().map(|n| n.to_string());
    assert_eq!(room_of(&good.id), Some(good_room));
    assert_ne!(room_of(&bad.id), Some(bad_room.clone()));
    assert_eq!(
        bed.feed_state(Feed::Reservations).await.unwrap().watermark,
        Some(run.started_at),
        "a partial run moves the watermark: its failures are followed up on their own"
    );
    let queued = bed.peek_queue().await;
    assert!(
        queued.iter().any(|j| j["kind"] == "refresh"
            && j["entities"][0]["id"] == bad.id.as_str()
            && j["source"]["type"] == "sync"),
        "{queued:#?}"
    );
    // Once the vendor serves it again, the refresh job stores it.
    bed.admin.clear_faults().await.unwrap();
    bed.drain().await;
    let stored = bed.bookings().await;
    assert_eq!(
        stored[&bad.id].room_number.as_ref().map(|n| n.to_string()),
        Some(bad_room)
    );
}

async fn a_429_storm_delays_the_run_without_any_rate_limit_violation(vendor: Provider) {
    let mut bed = Bed::new(vendor).await;
    bed.tick().await;
    let data = bed.vendor_data().await;
    let x = upcoming(&data).remove(0);
    let room = other_room(&data, &x);
    bed.patch(
        &x.id,
        &ReservationPatch {
            room_number: Some(room.clone()),
            ..ReservationPatch::default()
        },
    )
    .await;
    bed.admin.storm(vendor, 4, 1).await.unwrap();
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::Reservations, tick).await;
    let mut done = None;
    for _ in 0..60 {
        bed.worker_round().await;
        let runs = bed.runs_of(&job.correlation_id).await;
        if let Some(r) = runs.iter().find(|r| r.status == SyncRunStatus::Succeeded) {
            done = Some(r.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let run = done.expect("the run finished once the storm was over");
    let counters = bed.counters().await;
    assert!(counters.storm_rejections > 0, "{counters:?}");
    assert_eq!(counters.rate_limit_violations, 0, "{counters:?}");
    assert_eq!(
        bed.bookings().await[&x.id]
            .room_number
            .as_ref()
            .map(|n| n.to_string()),
        Some(room)
    );
    println!(
        "{vendor:?}: storm rejections {}, violations 0, run took {} ms after {} failed runs",
        counters.storm_rejections,
        run.duration_ms,
        bed.runs_of(&job.correlation_id).await.len() - 1
    );
    assert!(bed.peek_queue().await.is_empty());
}

async fn a_pms_outage_fails_the_run_visibly_and_keeps_the_watermark(vendor: Provider) {
    let mut bed = Bed::new(vendor).await;
    bed.tick().await;
    let before = bed.feed_state(Feed::Reservations).await.expect("state");
    bed.admin
        .set_faults(
            vendor,
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(503),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::Reservations, tick).await;
    let (_, answer) = bed.worker_round().await.expect("the job");
    assert_eq!(answer.batch_item_failures.len(), 1, "{answer:?}");
    let run = latest(&bed.runs_of(&job.correlation_id).await, Feed::Reservations);
    assert_eq!(run.status, SyncRunStatus::Failed, "{run:#?}");
    let fatal = run.errors.last().expect("the error");
    assert!(
        fatal.entity_id.is_none() && !fatal.code.is_empty(),
        "{fatal:?}"
    );
    let state = bed.feed_state(Feed::Reservations).await.expect("state");
    assert_eq!(
        state.watermark, before.watermark,
        "a failed run keeps the watermark"
    );
    assert!(state.lease.is_none(), "and releases the feed for the retry");

    // The vendor is back: the queue's retry of the same job succeeds.
    bed.admin.clear_faults().await.unwrap();
    let mut ok = None;
    for _ in 0..20 {
        bed.worker_round().await;
        if let Some(r) = bed
            .runs_of(&job.correlation_id)
            .await
            .into_iter()
            .find(|r| r.status == SyncRunStatus::Succeeded)
        {
            ok = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ok = ok.expect("the retry succeeded");
    let state = bed.feed_state(Feed::Reservations).await.expect("state");
    assert_eq!(state.watermark, Some(ok.started_at));
}

#[derive(Default)]
struct Progress {
    begun: Mutex<Vec<(usize, usize)>>,
    steps: Mutex<Vec<String>>,
}

impl BackfillProgress for Progress {
    fn begin(&self, total: usize, done: usize) {
        self.begun.lock().unwrap().push((total, done));
    }
    fn step_done(&self, _done: usize, step: &Step, _c: &Checkpoint) {
        self.steps.lock().unwrap().push(step.label());
    }
}

async fn an_interrupted_backfill_resumes_where_it_stopped(vendor: Provider) {
    let bed = Bed::new(vendor).await;
    let data = bed.vendor_data().await;
    let today = BusinessDate::new(today(&data));
    let (from, to) = (today.add_days(-14), today.add_days(13));
    let checkpoints = Checkpoints::new(bed.p.services.store.clone());
    // Slow enough that the backfill is interrupted between two windows.
    bed.admin
        .set_faults(
            vendor,
            &FaultConfig {
                latency_ms: 400,
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let task = {
        let (sync, checkpoints, hotel) =
            (bed.p.sync.clone(), checkpoints.clone(), bed.hotel.clone());
        tokio::spawn(async move {
            sync.backfill(
                &checkpoints,
                &hotel,
                from,
                to,
                false,
                &pms_app::sync::backfill::Quiet,
            )
            .await
        })
    };
    let mut seen = None;
    for _ in 0..1_000 {
        if let Some(c) = checkpoints.get(&bed.hotel, from, to).await.unwrap() {
            if c.steps_done >= 1 {
                seen = Some(c);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Interrupted (the process is killed, the operator presses Ctrl-C).
    task.abort();
    let _ = task.await;
    let seen = seen.expect("a checkpoint");
    let interrupted = checkpoints
        .get(&bed.hotel, from, to)
        .await
        .unwrap()
        .unwrap();
    assert!(interrupted.steps_done >= seen.steps_done);
    assert!(
        interrupted.steps_done < interrupted.steps_total,
        "interrupted before the end: {interrupted:?}"
    );
    assert_eq!(interrupted.status, BackfillStatus::Running);

    bed.admin.clear_faults().await.unwrap();
    let progress = Progress::default();
    let done = bed
        .p
        .sync
        .backfill(&checkpoints, &bed.hotel, from, to, false, &progress)
        .await
        .unwrap();
    assert_eq!(done.status, BackfillStatus::Completed);
    assert_eq!(done.steps_done, done.steps_total);
    assert_eq!(
        *progress.begun.lock().unwrap(),
        [(interrupted.steps_total, interrupted.steps_done)],
        "resumed after the steps already done"
    );
    assert_eq!(
        progress.steps.lock().unwrap().len(),
        done.steps_total - interrupted.steps_done,
        "and did only the rest"
    );
    let stored = bed.bookings().await;
    for r in &data.reservations {
        let arriving = r.arrival >= from.naive() && r.arrival <= to.naive();
        if arriving && matches!(r.status, SimStatus::Confirmed | SimStatus::InHouse) {
            assert!(
                stored.contains_key(&r.id),
                "{} arriving {}",
                r.id,
                r.arrival
            );
        }
    }
    // A backfill run again after it completed has nothing left to do.
    let again = Progress::default();
    let c = bed
        .p
        .sync
        .backfill(&checkpoints, &bed.hotel, from, to, false, &again)
        .await
        .unwrap();
    assert_eq!(c.status, BackfillStatus::Completed);
    assert!(again.steps.lock().unwrap().is_empty());
}

async fn a_room_status_change_emits_one_event(vendor: Provider) {
    let mut bed = Bed::new(vendor).await;
    bed.tick().await;
    let data = bed.vendor_data().await;
    let room = data
        .rooms
        .iter()
        .filter(|r| r.housekeeping == SimHousekeeping::Clean && !r.occupied)
        .min_by(|a, b| a.number.cmp(&b.number))
        .expect("a clean vacant room")
        .clone();
    bed.new_events().await;
    bed.admin
        .patch_room(
            vendor,
            &bed.property,
            &room.number,
            &RoomPatch {
                housekeeping: Some(SimHousekeeping::Dirty),
                ..RoomPatch::default()
            },
        )
        .await
        .unwrap();
    bed.take_writes();
    let tick = bed.next_tick().await;
    let job = bed.send_job(Feed::RoomStatus, tick).await;
    bed.drain().await;
    let run = latest(&bed.runs_of(&job.correlation_id).await, Feed::RoomStatus);
    assert_eq!(
        run.updated.ids,
        std::slice::from_ref(&room.number),
        "{run:#?}"
    );
    let events = bed.new_events().await;
    assert_eq!(
        count_events(&events, "pms.room.status_changed", &room.number),
        1,
        "{events:#?}"
    );
    assert_eq!(events.len(), 1, "{events:#?}");
    let writes = bed.take_writes();
    assert!(record_writes(&writes)
        .iter()
        .all(|k| k.sort == format!("ROOM#{}", room.number)));

    // Read again unchanged: no write, no event.
    let tick = bed.next_tick().await;
    bed.send_job(Feed::RoomStatus, tick).await;
    bed.drain().await;
    assert!(record_writes(&bed.take_writes()).is_empty());
    assert!(bed.new_events().await.is_empty());
}

/// Calls of `op` between two counter readings.
fn calls_between(
    before: &pms_sim::VendorCounters,
    after: &pms_sim::VendorCounters,
    op: &str,
) -> u64 {
    after.calls.get(op).copied().unwrap_or(0) - before.calls.get(op).copied().unwrap_or(0)
}

/// A new Lambda instance re-syncing an unchanged Mews hotel asks for reservations and rooms
/// alone: reference data comes from the table, and unchanged reservations from their stored
/// copies (no customer or note lookups). A changed reservation is looked up and stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_mews_resync_in_a_new_process_looks_up_only_what_changed() {
    let mut bed = Bed::new(pms_mews::PROVIDER).await;
    let before = bed.counters().await;
    bed.tick().await;
    let after = bed.counters().await;
    assert!(calls_between(&before, &after, "customers/getAll") > 0);
    assert!(calls_between(&before, &after, "rates/getAll") > 0);

    bed.restart();
    let before = bed.counters().await;
    bed.tick().await;
    let after = bed.counters().await;
    for op in [
        "customers/getAll",
        "serviceOrderNotes/getAll",
        "rates/getAll",
        "resourceCategories/getAll",
        "ageCategories/getAll",
    ] {
        assert_eq!(calls_between(&before, &after, op), 0, "{op}");
    }
    // The room status feed lists the rooms; no feed looks resources up by id.
    assert_eq!(calls_between(&before, &after, "resources/getAll"), 1);

    let data = bed.vendor_data().await;
    let changed = upcoming(&data)[0].id.clone();
    let wish = "a quiet room, far from the lift".to_owned();
    bed.patch(
        &changed,
        &ReservationPatch {
            special_requests: Some(vec![wish.clone()]),
            ..Default::default()
        },
    )
    .await;
    bed.restart();
    let before = bed.counters().await;
    bed.tick().await;
    let after = bed.counters().await;
    assert!(calls_between(&before, &after, "customers/getAll") > 0);
    assert!(calls_between(&before, &after, "serviceOrderNotes/getAll") > 0);
    let stored = bed.bookings().await;
    assert!(
        stored[&changed].special_requests.contains(&wish),
        "{:?}",
        stored[&changed]
    );
}

/// A Cloudbeds booking that only the sync ever reads carries every field its reads have: the
/// delta, departures and in-house read `getReservationsWithRateDetails` (total and estimated
/// arrival time included), and arrivals, which only `getReservations` can filter, read the
/// rate-details rows of the rows that changed. An unchanged re-sync asks for no details.
#[tokio::test(flavor = "multi_thread")]
async fn a_cloudbeds_sync_stores_total_and_arrival_time_and_an_unchanged_resync_reads_no_details() {
    let mut bed = Bed::new(pms_cloudbeds::PROVIDER).await;
    bed.tick().await;
    let data = bed.vendor_data().await;
    let stored = bed.bookings().await;
    assert!(!stored.is_empty());
    for (id, b) in &stored {
        let r = data.reservation(id).expect("the vendor has it");
        let charges: i64 = data.charges_of(id).map(|c| c.amount_minor).sum();
        assert_eq!(
            b.total.map(|t| t.amount_minor),
            Some(r.total_minor() + charges),
            "{id}"
        );
        assert_eq!(
            b.expected_arrival_time
                .map(|t| t.format("%H:%M").to_string()),
            Some(r.arrival_time.format("%H:%M").to_string()),
            "{id}"
        );
    }

    let t1 = Utc::now();
    let before = bed.counters().await;
    bed.tick().await;
    let after = bed.counters().await;
    let runs = bed.runs_since(t1).await;
    let arrivals = latest(&runs, Feed::Arrivals);
    assert_eq!((arrivals.created.count, arrivals.updated.count), (0, 0));
    // Every call of the arrivals run is a page of rows: no row changed, none is read again.
    assert_eq!(
        arrivals.vendor_calls,
        calls_between(&before, &after, "getReservations"),
        "{arrivals:#?}"
    );
}
