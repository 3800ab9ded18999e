#!/usr/bin/env python3
"""Provisions the resources of template.yaml's environment contract on a local AWS endpoint
(moto): the table (pk/sk, gsi1..3, TTL), sync and write queues with DLQs (redrive after 3
receives), the event bus and the partner-token key. Prints the environment contract as
`export NAME=value` lines. Used by scripts/schemathesis.sh; `pms-local` does the same from
template.yaml itself once it is on main."""
import json
import os
import secrets
import sys

import boto3

endpoint = os.environ["AWS_ENDPOINT_URL"]
stack = sys.argv[1] if len(sys.argv) > 1 else "st-" + secrets.token_hex(4)
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
ddb, sqs = boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
events, sm = boto3.client("events", **kw), boto3.client("secretsmanager", **kw)

table = f"{stack}-pms"
attrs = ["pk", "sk"] + [f"gsi{i}{k}" for i in (1, 2, 3) for k in ("pk", "sk")]
ddb.create_table(
    TableName=table, BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    GlobalSecondaryIndexes=[{
        "IndexName": f"gsi{i}",
        "KeySchema": [{"AttributeName": f"gsi{i}pk", "KeyType": "HASH"},
                      {"AttributeName": f"gsi{i}sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"}} for i in (1, 2, 3)])
ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})

urls = {}
for name in ("sync-jobs", "write-ops"):
    dlq = sqs.create_queue(QueueName=f"{stack}-{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName=f"{stack}-{name}", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})})["QueueUrl"]
    urls[name] = (q, dlq)
bus = f"{stack}-events"
events.create_event_bus(Name=bus)
sm.create_secret(Name=f"pms/{stack}/partner-token-key", SecretString=secrets.token_hex(32))

env = {
    "TABLE_NAME": table,
    "SYNC_QUEUE_URL": urls["sync-jobs"][0], "SYNC_DLQ_URL": urls["sync-jobs"][1],
    "WRITE_QUEUE_URL": urls["write-ops"][0], "WRITE_DLQ_URL": urls["write-ops"][1],
    "EVENT_BUS_NAME": bus, "SECRETS_PREFIX": f"pms/{stack}",
    "TOKEN_KEY_SECRET": f"pms/{stack}/partner-token-key", "METRICS_NAMESPACE": "PmsIntegrationLocal",
}
for k, v in env.items():
    print(f"export {k}='{v}'")
