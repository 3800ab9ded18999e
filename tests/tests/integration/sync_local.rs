//! `make dev`'s wiring of the scheduled sync: the local event driver reads the real
//! `template.yaml`, fires the scheduler's `rate(5 minutes)` rule with a Scheduled Event and
//! delivers the sync queue to the worker in Lambda's batches. Here the driver invokes the two
//! functions' handlers in process (under `make dev` it invokes them through `cargo lambda
//! watch`), against moto and a Cloudbeds hotel on the simulator.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use chrono::Utc;
use pms_app::jobs::Feed;
use pms_app::sync_runs::SyncRunStatus;
use pms_domain::domain::HotelId;
use pms_domain::ports::SecretStore;
use pms_local::driver::{self, BatchOutcome, Driver, Invocation, Invoker};
use pms_local::schedule::ScheduleKind;
use pms_sim::setup::hotel_for;
use pms_sim::Simulator;
use pms_tests::{repo_template, TestStack};
use serde_json::Value;

/// The two functions, as their `main`s wire them, behind the driver's invoke call.
struct InProcess {
    scheduler: sync_scheduler_fn::Scheduler,
    worker: sync_worker_fn::Worker,
}

#[async_trait]
impl Invoker for InProcess {
    async fn invoke(&self, function: &str, payload: &Value, _timeout: Duration) -> Invocation {
        let answer = match function {
            "sync-scheduler" => {
                let event: EventBridgeEvent<Value> =
                    serde_json::from_value(payload.clone()).expect("a Scheduled Event");
                self.scheduler
                    .handle(event)
                    .await
                    .map(|r| serde_json::to_string(&r).unwrap())
                    .map_err(|e| e.to_string())
            }
            "sync-worker" => {
                let event: SqsEvent = serde_json::from_value(payload.clone()).expect("SQS event");
                self.worker
                    .handle(event)
                    .await
                    .map(|r| serde_json::to_string(&r).unwrap())
                    .map_err(|e| e.to_string())
            }
            other => return Invocation::Failed(format!("no function {other} here")),
        };
        match answer {
            Ok(body) => Invocation::Returned(body),
            Err(message) => Invocation::FunctionError {
                error_type: "Error".into(),
                message,
            },
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_driver_fires_the_schedule_and_the_worker_syncs_the_hotel() {
    let stack = TestStack::new().await;
    let services = stack.services();
    let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let property = sim.context.config.properties[&pms_cloudbeds::PROVIDER][0].clone();
    let hotel = HotelId::parse("local-cloudbeds").unwrap();
    let (config, credentials) = hotel_for(
        pms_cloudbeds::PROVIDER,
        &property,
        &sim.vendor_url(pms_cloudbeds::PROVIDER),
        hotel.clone(),
    )
    .unwrap();
    services
        .secrets
        .put(&services.adapters.credentials_secret(&hotel), &credentials)
        .await
        .unwrap();
    services.hotels.create(&config).await.unwrap();

    // What the driver reads from the real template.
    let functions = driver::functions(&repo_template(), &stack.outputs).unwrap();
    let scheduler = functions
        .iter()
        .find(|f| f.binary == "sync-scheduler")
        .expect("the scheduler function");
    let tick = scheduler
        .schedules
        .iter()
        .find(|s| s.event == "Tick")
        .expect("its schedule");
    assert!(tick.enabled && tick.input.is_none());
    assert_eq!(
        tick.schedule.kind,
        ScheduleKind::Rate(Duration::from_secs(300))
    );
    assert_eq!(scheduler.env["SYNC_TICK_SECONDS"], "300");
    let jobs = functions
        .iter()
        .find(|f| f.binary == "sync-worker")
        .expect("the worker function")
        .queues
        .iter()
        .find(|q| q.event == "SyncJobs")
        .expect("the sync queue's event source (the worker also takes the refresh queue)")
        .clone();
    assert!(jobs.report_batch_item_failures);

    let tick_seconds: i64 = scheduler.env["SYNC_TICK_SECONDS"].parse().unwrap();
    let invoker = std::sync::Arc::new(InProcess {
        scheduler: sync_scheduler_fn::Scheduler::new(&services, tick_seconds),
        worker: sync_worker_fn::Worker::new(&services),
    });
    let driver = Driver::new(&stack.sdk_config, invoker);
    let started = Utc::now();
    match driver.fire(tick, started).await {
        Invocation::Returned(body) => {
            let report: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(report["jobsEnqueued"], Feed::ALL.len(), "{report}");
        }
        other => panic!("{other:?}"),
    }
    let mut batches = 0;
    while let Some(batch) = driver.poll_once(&jobs, Duration::ZERO).await.unwrap() {
        assert_eq!(batch.outcome, BatchOutcome::Success, "{batch:?}");
        batches += 1;
        assert!(batches < 10);
    }
    let runs = pms_app::sync_runs::SyncRuns::new(services.store.clone())
        .list(&hotel, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), Feed::ALL.len(), "{runs:#?}");
    assert!(runs.iter().all(|r| r.status == SyncRunStatus::Succeeded));
    assert!(runs.iter().all(|r| r.started_at >= started));
    // The whole simulated hotel (every booking changed within the first run's lookback).
    let stored = services.reservations.all(&hotel, 1000, None).await.unwrap();
    assert_eq!(
        stored.bookings.len(),
        sim.admin()
            .hotel(pms_cloudbeds::PROVIDER, &property.property_id)
            .await
            .unwrap()
            .reservations
            .len()
    );
    sim.stop().await;
}
