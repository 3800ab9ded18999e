//! One round of the writer's SQS event source in its own process, the way a Lambda instance
//! would run it: receive a batch from the write queue (with the given visibility timeout), print
//! the received message ids and receipt handles (one JSON line, before anything is processed),
//! run the writer's real handler on the batch as an SQS event, delete what Lambda would delete,
//! and print the batch response (one JSON line). With `PMS_WRITER_CRASH_AFTER_PMS_CALL=1` the
//! process exits right after the PMS accepted a write, before recording it.
//!
//! usage: writer-once [--visibility-secs N] [--lease-secs N]
//! Environment: the environment contract (docs/ARCHITECTURE.md) and the AWS variables
//! (`TestStack::env`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::io::Write;

use pms_app::runtime::Services;
use pms_runtime::AwsServices as _;
use pms_tests::writes::{invoke, queue_arn, receive, writer_for};
use serde_json::json;

fn arg(args: &[String], name: &str, default: u32) -> u32 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    pms_app::obs::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let visibility = arg(&args, "--visibility-secs", 180);
    let lease = arg(&args, "--lease-secs", 90);
    let services = Services::from_env()
        .await
        .expect("the environment contract")
        .with_vendors(pms_vendors::all());
    let queue_url = services.names.write_queue_url.clone();
    let sqs = aws_sdk_sqs::Client::new(&pms_aws::sdk_config().await);
    let writer = writer_for(services, Some(chrono::Duration::seconds(i64::from(lease))));
    let messages = receive(&sqs, &queue_url, 10, Some(visibility as i32)).await;
    let received: Vec<_> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle()}))
        .collect();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", json!({ "received": received }));
        let _ = out.flush();
    }
    if messages.is_empty() {
        return;
    }
    let arn = queue_arn(&sqs, &queue_url).await;
    let round = invoke(&writer, &sqs, &queue_url, &arn, messages).await;
    let response = round
        .response
        .as_ref()
        .map(|r| serde_json::to_value(r).unwrap_or_default());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        json!({"response": response, "deleted": round.deleted})
    );
}
