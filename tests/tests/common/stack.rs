//! A uniquely named stack on the moto server at `PMS_TEST_AWS_ENDPOINT`: the table, the sync
//! queue and its DLQ (redrive after 3 receives), the write queues, the event bus and the
//! partner-token key, as template.yaml declares them. Same surface as the shared harness
//! (`sdk_config`, `env()`, `table_name()`, `queue_url(logical_id)`, `event_bus_name()`,
//! `secrets_prefix()`).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

pub struct Stack {
    pub sdk_config: aws_config::SdkConfig,
    name: String,
    table: String,
    queues: BTreeMap<&'static str, String>,
    bus: String,
}

pub fn endpoint() -> String {
    std::env::var("PMS_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("no local AWS endpoint: start moto and set PMS_TEST_AWS_ENDPOINT (make test does)")
    })
}

impl Stack {
    pub async fn new() -> Stack {
        let endpoint = endpoint();
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await;
        let name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let table = format!("{name}-pms");
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config);
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .expect("key")
        };
        let mut create = ddb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range));
        for a in [
            "pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk",
        ] {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attr"),
            );
        }
        for i in 1..=3 {
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(format!("gsi{i}"))
                    .key_schema(key(&format!("gsi{i}pk"), KeyType::Hash))
                    .key_schema(key(&format!("gsi{i}sk"), KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("gsi"),
            );
        }
        create.send().await.expect("create table");
        ddb.update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("ttl");

        let sqs = aws_sdk_sqs::Client::new(&sdk_config);
        let mut queues = BTreeMap::new();
        for (logical, dlq_logical, suffix, visibility) in [
            ("SyncJobsQueue", "SyncJobsDLQ", "sync-jobs", "720"),
            ("WriteOpsQueue", "WriteOpsDLQ", "write-ops", "180"),
        ] {
            let dlq = sqs
                .create_queue()
                .queue_name(format!("{name}-{suffix}-dlq"))
                .send()
                .await
                .expect("dlq")
                .queue_url
                .expect("dlq url");
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&dlq)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("arn")
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .expect("arn");
            let url = sqs
                .create_queue()
                .queue_name(format!("{name}-{suffix}"))
                .attributes(QueueAttributeName::VisibilityTimeout, visibility)
                .attributes(
                    QueueAttributeName::RedrivePolicy,
                    serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
                        .to_string(),
                )
                .send()
                .await
                .expect("queue")
                .queue_url
                .expect("url");
            queues.insert(logical, url);
            queues.insert(dlq_logical, dlq);
        }
        let bus = format!("{name}-events");
        aws_sdk_eventbridge::Client::new(&sdk_config)
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("bus");
        aws_sdk_secretsmanager::Client::new(&sdk_config)
            .create_secret()
            .name(format!("pms/{name}/partner-token-key"))
            .secret_string(uuid::Uuid::new_v4().simple().to_string())
            .send()
            .await
            .expect("token key");
        Stack {
            sdk_config,
            name,
            table,
            queues,
            bus,
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("TABLE_NAME", self.table.clone()),
            ("SYNC_QUEUE_URL", self.queue_url("SyncJobsQueue").to_owned()),
            ("SYNC_DLQ_URL", self.queue_url("SyncJobsDLQ").to_owned()),
            (
                "WRITE_QUEUE_URL",
                self.queue_url("WriteOpsQueue").to_owned(),
            ),
            ("WRITE_DLQ_URL", self.queue_url("WriteOpsDLQ").to_owned()),
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("SECRETS_PREFIX", self.secrets_prefix()),
            (
                "TOKEN_KEY_SECRET",
                format!("{}/partner-token-key", self.secrets_prefix()),
            ),
            ("METRICS_NAMESPACE", "PmsIntegrationTest".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn queue_url(&self, logical_id: &str) -> &str {
        self.queues
            .get(logical_id)
            .unwrap_or_else(|| panic!("no queue {logical_id}"))
    }

    pub fn event_bus_name(&self) -> &str {
        &self.bus
    }

    pub fn secrets_prefix(&self) -> String {
        format!("pms/{}", self.name)
    }
}
