//! The event driver against moto's SQS, with an in-process fake function: Lambda's batch
//! semantics, visibility-timeout retries and the redrive to the DLQ.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use pms_local::driver::{self, BatchOutcome, Driver, FunctionSpec, Invocation, Invoker};
use pms_tests::{template_with_fixture, TestStack};
use serde_json::{json, Value};

/// The fake's behaviour: (payload, 1-based call number) -> result.
type Respond = Box<dyn Fn(&Value, usize) -> Invocation + Send + Sync>;

/// A fake function: records every payload and answers with `respond`.
struct Fake {
    calls: Mutex<Vec<Value>>,
    respond: Respond,
}

impl Fake {
    fn new(respond: impl Fn(&Value, usize) -> Invocation + Send + Sync + 'static) -> Arc<Fake> {
        Arc::new(Fake {
            calls: Mutex::new(Vec::new()),
            respond: Box::new(respond),
        })
    }

    fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Invoker for Fake {
    async fn invoke(&self, _function: &str, payload: &Value, _timeout: Duration) -> Invocation {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(payload.clone());
            calls.len()
        };
        (self.respond)(payload, n)
    }
}

fn functions(stack: &TestStack) -> Vec<FunctionSpec> {
    driver::functions(
        &template_with_fixture("functions-template.yaml"),
        &stack.outputs,
    )
    .unwrap()
}

fn function<'a>(fs: &'a [FunctionSpec], binary: &str) -> &'a FunctionSpec {
    fs.iter().find(|f| f.binary == binary).unwrap()
}

async fn send(stack: &TestStack, queue: &str, bodies: &[&str]) {
    for b in bodies {
        stack
            .sqs()
            .send_message()
            .queue_url(stack.queue_url(queue))
            .message_body(*b)
            .send()
            .await
            .unwrap();
    }
}

fn bodies(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn template_functions_are_read_generically() {
    let stack = TestStack::new().await;
    let fs = functions(&stack);
    // The fixture's four, and template.yaml's GraphqlFunction and DeliveryFunction.
    assert_eq!(fs.len(), 6);
    let delivery = function(&fs, "delivery");
    assert!(!delivery.http && delivery.schedules.is_empty());
    assert_eq!(delivery.queues.len(), 1);
    let graphql = function(&fs, "graphql");
    assert!(graphql.http && graphql.queues.is_empty() && graphql.schedules.is_empty());
    assert_eq!(graphql.timeout, Duration::from_secs(25));

    let scheduler = function(&fs, "sync-scheduler");
    assert_eq!(scheduler.timeout, Duration::from_secs(30));
    assert_eq!(scheduler.schedules.len(), 2);
    let tick = scheduler
        .schedules
        .iter()
        .find(|s| s.event == "Tick")
        .unwrap();
    assert!(tick.enabled && tick.input.is_none());
    assert_eq!(
        tick.rule_arn,
        format!(
            "arn:aws:events:us-east-1:123456789012:rule/{}-SyncSchedulerFunctionTick",
            stack.stack_name
        )
    );
    let nightly = scheduler
        .schedules
        .iter()
        .find(|s| s.event == "Nightly")
        .unwrap();
    assert!(!nightly.enabled);
    assert_eq!(nightly.input, Some(json!({"feed": "all"})));
    assert_eq!(nightly.schedule.tz, chrono_tz::Europe::Prague);

    let worker = function(&fs, "sync-worker");
    assert_eq!(worker.timeout, Duration::from_secs(120));
    let jobs = &worker.queues[0];
    assert_eq!(jobs.queue_url, stack.queue_url("SyncJobsQueue"));
    assert_eq!(jobs.queue_arn, stack.outputs.queue_arns["SyncJobsQueue"]);
    assert_eq!(jobs.batch_size, 10);
    assert!(jobs.report_batch_item_failures);
    assert_eq!(worker.env["WORKER_QUEUE_ARN"], jobs.queue_arn);

    let writer = function(&fs, "writer");
    let ops = &writer.queues[0];
    assert_eq!(ops.batch_size, 20);
    assert_eq!(ops.batching_window, Duration::from_secs(1));
    assert!(!ops.report_batch_item_failures);

    let webhook = function(&fs, "webhook");
    assert!(webhook.http && webhook.queues.is_empty() && webhook.schedules.is_empty());
    assert_eq!(webhook.timeout, Duration::from_secs(3));
}

#[tokio::test]
async fn partial_batch_failure_retries_then_dead_letters() {
    let stack = TestStack::new().await;
    let sqs = stack.sqs();
    // Short visibility so the retry comes back within the test; maxReceiveCount stays 3.
    sqs.set_queue_attributes()
        .queue_url(stack.queue_url("SyncJobsQueue"))
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap();
    let fs = functions(&stack);
    let src = function(&fs, "sync-worker").queues[0].clone();

    // The function fails every record whose body is "poison".
    let fake = Fake::new(|event, _| {
        let failures: Vec<Value> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["body"] == "poison")
            .map(|r| json!({"itemIdentifier": r["messageId"]}))
            .collect();
        Invocation::Returned(json!({"batchItemFailures": failures}).to_string())
    });
    let driver = Driver::new(&stack.sdk_config, fake.clone());
    send(&stack, "SyncJobsQueue", &["job-1", "poison", "job-2"]).await;

    let first = driver
        .poll_once(&src, Duration::from_secs(2))
        .await
        .unwrap()
        .expect("a batch");
    assert_eq!(first.received.len(), 3);
    assert_eq!(first.deleted.len(), 2);
    assert_eq!(first.retained.len(), 1);
    let poison_id = first.retained[0].clone();
    assert_eq!(
        first.outcome,
        BatchOutcome::PartialFailure(vec![poison_id.clone()])
    );

    // The event is a real SQS event.
    let event = &fake.calls()[0];
    let mut got = bodies(event);
    got.sort();
    assert_eq!(got, ["job-1", "job-2", "poison"]);
    let rec = &event["Records"][0];
    assert_eq!(rec["eventSource"], "aws:sqs");
    assert_eq!(rec["eventSourceARN"], src.queue_arn);
    assert_eq!(rec["awsRegion"], "us-east-1");
    assert_eq!(rec["attributes"]["ApproximateReceiveCount"], "1");
    for a in [
        "SentTimestamp",
        "ApproximateFirstReceiveTimestamp",
        "SenderId",
    ] {
        assert!(rec["attributes"][a].is_string(), "{a} missing");
    }
    assert!(rec["receiptHandle"].is_string() && rec["md5OfBody"].is_string());

    // In flight: nothing to receive until the visibility timeout passes.
    assert!(driver
        .poll_once(&src, Duration::ZERO)
        .await
        .unwrap()
        .is_none());

    // Receives 2 and 3 fail again; the poison message comes back each time.
    for receive in 2..=3 {
        let again = driver
            .poll_once(&src, Duration::from_secs(3))
            .await
            .unwrap()
            .expect("the failed message comes back");
        assert_eq!(again.received, vec![poison_id.clone()]);
        assert!(again.deleted.is_empty());
        let event = fake.calls().last().unwrap().clone();
        assert_eq!(
            event["Records"][0]["attributes"]["ApproximateReceiveCount"],
            receive.to_string()
        );
    }

    // After maxReceiveCount receives the queue's redrive policy moves it to the DLQ.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(driver
        .poll_once(&src, Duration::from_secs(1))
        .await
        .unwrap()
        .is_none());
    let dlq = sqs
        .receive_message()
        .queue_url(stack.queue_url("SyncJobsDLQ"))
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].body(), Some("poison"));
    assert_eq!(dlq[0].message_id(), Some(poison_id.as_str()));
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn a_function_error_keeps_the_whole_batch_and_the_window_gathers_one() {
    let stack = TestStack::new().await;
    stack
        .sqs()
        .set_queue_attributes()
        .queue_url(stack.queue_url("WriteOpsQueue"))
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap();
    let fs = functions(&stack);
    let src = function(&fs, "writer").queues[0].clone();
    // The first invocation errors, the next succeeds.
    let fake = Fake::new(|_, n| {
        if n == 1 {
            Invocation::FunctionError {
                error_type: "Boom".into(),
                message: "vendor down".into(),
            }
        } else {
            // Without ReportBatchItemFailures the response is not read.
            Invocation::Returned(
                json!({"batchItemFailures": [{"itemIdentifier": "x"}]}).to_string(),
            )
        }
    });
    let driver = Driver::new(&stack.sdk_config, fake.clone());
    let sent: Vec<String> = (0..12).map(|i| format!("op-{i}")).collect();
    send(
        &stack,
        "WriteOpsQueue",
        &sent.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;

    // BatchSize 20 with a 1 s window: more than one receive's worth (10) in one invocation.
    let failed = driver
        .poll_once(&src, Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.received.len(), 12);
    assert!(failed.deleted.is_empty());
    assert!(matches!(failed.outcome, BatchOutcome::Failure(_)));

    let ok = driver
        .poll_once(&src, Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok.received.len(), 12);
    assert_eq!(ok.deleted.len(), 12);
    assert_eq!(ok.outcome, BatchOutcome::Success);
    let mut got = bodies(&fake.calls()[1]);
    got.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(driver
        .poll_once(&src, Duration::from_secs(2))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_schedule_fires_a_scheduled_event() {
    let stack = TestStack::new().await;
    let fs = functions(&stack);
    let schedule = |name: &str| {
        function(&fs, "sync-scheduler")
            .schedules
            .iter()
            .find(|s| s.event == name)
            .unwrap()
            .clone()
    };
    let tick = schedule("Tick");
    let fake = Fake::new(|_, _| Invocation::Returned(String::new()));
    let driver = Driver::new(&stack.sdk_config, fake.clone());
    let at = chrono::Utc::now();
    assert_eq!(
        driver.fire(&tick, at).await,
        Invocation::Returned(String::new())
    );
    let event = &fake.calls()[0];
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
    assert_eq!(event["resources"][0], tick.rule_arn.as_str());
    // A schedule with Input sends the Input instead.
    let nightly = schedule("Nightly");
    driver.fire(&nightly, at).await;
    assert_eq!(fake.calls()[1], json!({"feed": "all"}));
}
