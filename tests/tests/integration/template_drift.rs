//! The template, as provisioned locally, is what `verify` reads back, and `verify` does catch
//! a difference when there is one.

use pms_local::{provision, verify, Drift};
use pms_tests::{repo_template, TestStack};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

#[tokio::test]
async fn a_fresh_stack_has_no_drift() {
    let stack = TestStack::new().await;
    let report = verify(&stack.sdk_config, &repo_template(), &stack.stack_name)
        .await
        .unwrap();
    assert!(report.drifts.is_empty(), "drift: {:#?}", report.drifts);
    // What moto cannot report is named, not silently passed.
    for note in &report.unverifiable {
        eprintln!("not checked: {note}");
    }
}

#[tokio::test]
async fn outputs_carry_the_environment_contract() {
    let stack = TestStack::new().await;
    let s = &stack.stack_name;
    let env = &stack.outputs.env;
    assert_eq!(stack.table_name(), format!("{s}-pms"));
    assert_eq!(env["TABLE_NAME"], stack.table_name());
    assert_eq!(env["SYNC_QUEUE_URL"], stack.queue_url("SyncJobsQueue"));
    assert_eq!(env["SYNC_DLQ_URL"], stack.queue_url("SyncJobsDLQ"));
    assert_eq!(
        env["REFRESH_QUEUE_URL"],
        stack.queue_url("RefreshJobsQueue")
    );
    assert_eq!(env["REFRESH_DLQ_URL"], stack.queue_url("RefreshJobsDLQ"));
    assert!(stack
        .queue_url("RefreshJobsQueue")
        .ends_with(&format!("/{s}-refresh-jobs")));
    assert_eq!(env["WRITE_QUEUE_URL"], stack.queue_url("WriteOpsQueue"));
    assert_eq!(env["WRITE_DLQ_URL"], stack.queue_url("WriteOpsDLQ"));
    assert_eq!(
        env["DELIVERY_QUEUE_URL"],
        stack.queue_url("SubscriptionDeliveriesQueue")
    );
    assert_eq!(
        env["DELIVERY_DLQ_URL"],
        stack.queue_url("SubscriptionDeliveriesDLQ")
    );
    assert!(stack
        .queue_url("SyncJobsQueue")
        .ends_with(&format!("/{s}-sync-jobs")));
    assert_eq!(env["EVENT_BUS_NAME"], format!("{s}-events"));
    assert_eq!(stack.event_bus_name(), format!("{s}-events"));
    assert_eq!(env["SECRETS_PREFIX"], format!("pms/{s}"));
    assert_eq!(stack.secrets_prefix(), format!("pms/{s}"));
    assert_eq!(
        env["TOKEN_KEY_SECRET"],
        format!("pms/{s}/partner-token-key")
    );
    assert_eq!(env["METRICS_NAMESPACE"], "PmsIntegration");
    let vars: Vec<String> = stack.env().into_iter().map(|(k, _)| k).collect();
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        assert!(vars.iter().any(|v| v == k), "{k} missing from env()");
    }
    assert_eq!(
        stack.outputs.outputs["SyncJobsQueueUrl"],
        stack.queue_url("SyncJobsQueue")
    );
}

#[tokio::test]
async fn provisioning_again_changes_nothing_and_keeps_the_secret() {
    let stack = TestStack::new().await;
    let read_key = || async {
        SecretString::from(
            stack
                .secrets()
                .get_secret_value()
                .secret_id(&stack.outputs.env["TOKEN_KEY_SECRET"])
                .send()
                .await
                .unwrap()
                .secret_string
                .unwrap(),
        )
    };
    let before = read_key().await;
    assert_eq!(before.expose_secret().len(), 64);
    assert!(before
        .expose_secret()
        .chars()
        .all(|c| c.is_ascii_alphanumeric()));

    let again = provision(&stack.sdk_config, &repo_template(), &stack.stack_name)
        .await
        .unwrap();
    assert_eq!(again, stack.outputs);
    assert_eq!(read_key().await.expose_secret(), before.expose_secret());
}

#[tokio::test]
async fn a_changed_template_is_reported_exactly() {
    let stack = TestStack::new().await;
    // The live stack stays as provisioned; the template copy changes in two places.
    let mut changed = repo_template();
    changed.properties_mut("SyncJobsQueue").unwrap()["RedrivePolicy"]["maxReceiveCount"] = json!(5);
    let gsis = changed.properties_mut("Table").unwrap()["GlobalSecondaryIndexes"]
        .as_array_mut()
        .unwrap();
    gsis.retain(|g| g["IndexName"] != "gsi3");

    let report = verify(&stack.sdk_config, &changed, &stack.stack_name)
        .await
        .unwrap();
    let drift = |resource: &str, property: &str, expected: &str, actual: &str| Drift {
        resource: resource.into(),
        property: property.into(),
        expected: expected.into(),
        actual: actual.into(),
    };
    assert_eq!(
        report.drifts,
        vec![
            drift("Table", "GlobalSecondaryIndexes.gsi3", "absent", "present"),
            drift("SyncJobsQueue", "RedrivePolicy.maxReceiveCount", "5", "3"),
        ]
    );
}

#[tokio::test]
async fn live_changes_and_missing_resources_are_drift() {
    let stack = TestStack::new().await;
    // Someone changes a queue by hand...
    stack
        .sqs()
        .set_queue_attributes()
        .queue_url(stack.queue_url("WriteOpsQueue"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "30",
        )
        .send()
        .await
        .unwrap();
    // ...and the template gains a queue nobody provisioned.
    let mut changed = repo_template();
    let extra = changed.resources["WriteOpsDLQ"].clone();
    let mut extra = pms_local::Resource {
        logical_id: "AuditQueue".into(),
        ..extra
    };
    extra.properties = json!({"QueueName": {"Fn::Sub": "${AWS::StackName}-audit"}});
    changed.resources.insert("AuditQueue".into(), extra);

    let report = verify(&stack.sdk_config, &changed, &stack.stack_name)
        .await
        .unwrap();
    let text: Vec<String> = report.drifts.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            format!(
                "AuditQueue queue {}-audit: template exists, live missing",
                stack.stack_name
            ),
            "WriteOpsQueue VisibilityTimeout: template 180, live 30".to_string(),
        ]
    );
}
