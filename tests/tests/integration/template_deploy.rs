//! The template as deployed: every function's code is what `make release` built, and every IAM
//! permission is least privilege (no wildcard actions, no `Resource: '*'` on data services,
//! every resource this stack's own). No AWS needed: this reads `template.yaml`.

use pms_local::{Resource, Template};
use pms_tests::{repo_root, repo_template};
use serde_json::{json, Value};

/// Services that hold data; a wildcard on any of them is a finding.
const DATA_SERVICES: &[&str] = &[
    "dynamodb",
    "sqs",
    "secretsmanager",
    "events",
    "s3",
    "sns",
    "kms",
    "ssm",
];

/// SAM policy templates that are scoped to one resource of the stack by their parameter.
const SCOPED_POLICY_TEMPLATES: &[&str] = &[
    "SQSSendMessagePolicy",
    "SQSPollerPolicy",
    "EventBridgePutEventsPolicy",
    "DynamoDBReadPolicy",
    "DynamoDBWritePolicy",
    "DynamoDBCrudPolicy",
];

fn functions(t: &Template) -> Vec<&Resource> {
    t.resources_of("AWS::Serverless::Function").collect()
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// Whether an expression names something of this stack: a `Ref`/`GetAtt` of one of its
/// resources, or a `Sub` that does (`${Table.Arn}`, `${AWS::StackName}`) before any `*`.
fn stack_scoped(t: &Template, v: &Value) -> bool {
    let own = |name: &str| {
        t.resources
            .contains_key(name.split('.').next().unwrap_or(name))
    };
    if let Some(r) = v.get("Ref").and_then(Value::as_str) {
        return own(r);
    }
    if let Some(g) = v.get("Fn::GetAtt") {
        let target = match g {
            Value::Array(a) => a.first().and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        return target.is_some_and(own);
    }
    if let Some(sub) = v.get("Fn::Sub") {
        let text = match sub {
            Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or(""),
            Value::String(s) => s,
            _ => "",
        };
        let before_wildcard = text.split('*').next().unwrap_or("");
        let scoped_by = |var: &str| {
            before_wildcard
                .match_indices("${")
                .any(|(i, _)| before_wildcard[i + 2..].starts_with(var))
        };
        return scoped_by("AWS::StackName")
            || t.resources
                .keys()
                .any(|r| scoped_by(&format!("{r}.")) || scoped_by(&format!("{r}}}")));
    }
    false
}

/// Every IAM finding of a function's `Policies`, as `Function: what`.
fn findings(t: &Template, f: &Resource) -> Vec<String> {
    let id = &f.logical_id;
    let mut out = Vec::new();
    let Some(policies) = f.prop("Policies") else {
        return out;
    };
    for p in as_list(policies) {
        match p {
            Value::String(name) => out.push(format!("{id}: managed policy {name}")),
            Value::Object(o) => {
                for (kind, params) in o {
                    if kind == "Statement" {
                        for s in as_list(params) {
                            statement_findings(t, id, s, &mut out);
                        }
                    } else if SCOPED_POLICY_TEMPLATES.contains(&kind.as_str()) {
                        let scoped = params.as_object().is_some_and(|ps| {
                            !ps.is_empty() && ps.values().all(|v| stack_scoped(t, v))
                        });
                        if !scoped {
                            out.push(format!("{id}: {kind} not scoped to this stack: {params}"));
                        }
                    } else {
                        out.push(format!("{id}: unreviewed policy template {kind}"));
                    }
                }
            }
            other => out.push(format!("{id}: unreadable policy {other}")),
        }
    }
    out
}

fn statement_findings(t: &Template, id: &str, s: &Value, out: &mut Vec<String>) {
    for forbidden in ["NotAction", "NotResource", "Principal"] {
        if s.get(forbidden).is_some() {
            out.push(format!("{id}: statement uses {forbidden}"));
        }
    }
    if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return;
    }
    let actions: Vec<&str> = s
        .get("Action")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    let mut data = false;
    for a in &actions {
        let (service, action) = a.split_once(':').unwrap_or(("*", a));
        let is_data = service == "*" || DATA_SERVICES.contains(&service);
        data |= is_data;
        if is_data && (action.contains('*') || service == "*") {
            out.push(format!("{id}: wildcard action {a}"));
        }
    }
    for r in s.get("Resource").map(as_list).unwrap_or_default() {
        match r {
            Value::String(text) if text == "*" && data => {
                out.push(format!("{id}: Resource '*' for {actions:?}"));
            }
            other if data && !stack_scoped(t, other) => {
                out.push(format!("{id}: resource not of this stack: {other}"));
            }
            _ => {}
        }
    }
}

#[test]
fn every_function_is_deployed_from_the_release_build() {
    let t = repo_template();
    let fns = functions(&t);
    assert!(fns.len() >= 4, "functions: {}", fns.len());
    for f in fns {
        let id = &f.logical_id;
        let binary = f.metadata["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary"));
        assert_eq!(
            f.prop("CodeUri"),
            Some(&json!(format!("target/lambda/{binary}/"))),
            "{id}: CodeUri must be the release build's directory (make release)"
        );
        // A BuildMethod would make `sam build` rebuild each function on its own, from a
        // CodeUri that is not a crate.
        assert!(f.metadata.get("BuildMethod").is_none(), "{id}: BuildMethod");
    }
}

#[test]
fn iam_is_least_privilege() {
    let t = repo_template();
    let all: Vec<String> = functions(&t).iter().flat_map(|f| findings(&t, f)).collect();
    assert!(all.is_empty(), "IAM findings:\n{}", all.join("\n"));
}

#[test]
fn the_check_catches_broad_permissions() {
    let bad = [
        json!({"Statement": [{"Effect": "Allow", "Action": "dynamodb:*",
            "Resource": {"Fn::GetAtt": ["Table", "Arn"]}}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"],
            "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:*:secret:*"}}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem",
            "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/other"}]}),
        json!({"DynamoDBCrudPolicy": {"TableName": "someone-elses-table"}}),
        json!("AmazonDynamoDBFullAccess"),
        json!({"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": "*"}}),
    ];
    for policy in bad {
        let mut t = repo_template();
        let f = t
            .resources
            .get_mut("WriterFunction")
            .expect("WriterFunction");
        f.properties["Policies"]
            .as_array_mut()
            .expect("a policy list")
            .push(policy.clone());
        let f = &t.resources["WriterFunction"];
        assert!(!findings(&t, f).is_empty(), "not caught: {policy}");
    }
    // Scoped wildcards inside this stack's own names are fine.
    let mut t = repo_template();
    let f = t
        .resources
        .get_mut("WriterFunction")
        .expect("WriterFunction");
    f.properties["Policies"] = json!([{"Statement": [{"Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:pms/${AWS::StackName}/hotels/*"}}]}]);
    assert_eq!(
        findings(&t, &t.resources["WriterFunction"]),
        Vec::<String>::new()
    );
}

/// The DynamoDB operations the store adapter issues, in IAM's spelling.
fn store_operations() -> Vec<String> {
    const OPERATIONS: &[(&str, &str)] = &[
        ("get_item", "GetItem"),
        ("put_item", "PutItem"),
        ("update_item", "UpdateItem"),
        ("delete_item", "DeleteItem"),
        ("query", "Query"),
        ("scan", "Scan"),
        ("batch_get_item", "BatchGetItem"),
        ("batch_write_item", "BatchWriteItem"),
        ("transact_write_items", "TransactWriteItems"),
        ("transact_get_items", "TransactGetItems"),
        ("execute_statement", "PartiQL"),
        ("batch_execute_statement", "PartiQL"),
        ("execute_transaction", "PartiQL"),
    ];
    let source = std::fs::read_to_string(repo_root().join("shared/aws/src/dynamo.rs"))
        .expect("the store adapter");
    OPERATIONS
        .iter()
        .filter(|(call, _)| source.contains(&format!(".{call}()")))
        .map(|(_, action)| format!("dynamodb:{action}"))
        .collect()
}

/// IAM is not enforced by the emulator the tests run on, so a store operation the policies do
/// not grant would only fail in AWS. Every function's `Store` statement (the store port's
/// grant) must cover what the adapter issues; transactions would add their items' actions.
#[test]
fn the_store_grant_covers_every_store_operation() {
    let ops = store_operations();
    assert!(ops.len() >= 5, "store operations found: {ops:?}");
    let t = repo_template();
    let mut grants = 0;
    for f in functions(&t) {
        for p in f.prop("Policies").map(as_list).unwrap_or_default() {
            for s in p.get("Statement").map(as_list).unwrap_or_default() {
                if s.get("Sid").and_then(Value::as_str) != Some("Store") {
                    continue;
                }
                grants += 1;
                let granted: Vec<&str> = s
                    .get("Action")
                    .map(as_list)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(Value::as_str)
                    .collect();
                for op in &ops {
                    assert!(
                        granted.contains(&op.as_str()),
                        "{}: the store issues {op}, which its Store statement does not grant",
                        f.logical_id
                    );
                }
            }
        }
    }
    assert!(grants >= 4, "Store statements: {grants}");
}

/// A parameter's default, as a number.
fn default_number(t: &Template, name: &str) -> u64 {
    let p = t
        .parameters
        .get(name)
        .unwrap_or_else(|| panic!("parameter {name}"));
    assert_eq!(p.kind, "Number", "{name}");
    match p.default.as_ref() {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{name} has no numeric default"))
}

/// The parameter an expression is `!Ref` of.
fn param_ref(v: Option<&Value>) -> Option<&str> {
    v?.get("Ref")?.as_str()
}

/// `!If [ReservingConcurrency, !Ref <param>, !Ref AWS::NoValue]`: the parameter reserved.
fn reserved_param<'a>(t: &Template, f: &'a Resource) -> Option<&'a str> {
    let branches = f
        .prop("ReservedConcurrentExecutions")?
        .get("Fn::If")?
        .as_array()?;
    assert_eq!(branches.len(), 3, "{}", f.logical_id);
    assert_eq!(branches[0], "ReservingConcurrency", "{}", f.logical_id);
    assert_eq!(param_ref(branches.get(2)), Some("AWS::NoValue"));
    let p = param_ref(branches.get(1))?;
    assert!(t.parameters.contains_key(p), "{p}");
    Some(p)
}

fn event_types(f: &Resource) -> Vec<(&str, &Value)> {
    f.prop("Events")
        .and_then(Value::as_object)
        .map(|events| {
            events
                .values()
                .map(|e| (e["Type"].as_str().unwrap_or_default(), &e["Properties"]))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_http_api_is_throttled_before_any_function_runs() {
    let t = repo_template();
    // What is deployed: the transform puts the Globals' route settings on the API's stage.
    let cfn = t.plain().expect("the SAM transform");
    let stages: Vec<&Resource> = cfn.resources_of("AWS::ApiGatewayV2::Stage").collect();
    assert_eq!(stages.len(), 1, "one HTTP API stage");
    let settings = &stages[0].properties["DefaultRouteSettings"];
    assert_eq!(
        param_ref(settings.get("ThrottlingRateLimit")),
        Some("ApiThrottlingRateLimit")
    );
    assert_eq!(
        param_ref(settings.get("ThrottlingBurstLimit")),
        Some("ApiThrottlingBurstLimit")
    );
    let rate = default_number(&t, "ApiThrottlingRateLimit");
    let burst = default_number(&t, "ApiThrottlingBurstLimit");
    assert!(rate >= 1 && burst >= rate, "rate {rate}, burst {burst}");
    // Globals reach the implicit API only: every HttpApi event must be on it.
    let mut routes = 0;
    for f in functions(&t) {
        for (kind, props) in event_types(f) {
            if kind == "HttpApi" {
                routes += 1;
                assert!(
                    props.get("ApiId").is_none(),
                    "{}: an explicit API",
                    f.logical_id
                );
            }
        }
    }
    // Partner ingestion (3), the OpenAPI document, one webhook route for every vendor, and
    // GraphQL (POST and GET).
    assert!(routes >= 7, "HttpApi routes: {routes}");
}

#[test]
fn a_flood_of_one_function_cannot_starve_the_writer() {
    let t = repo_template();
    let fns = functions(&t);
    let writer = fns
        .iter()
        .find(|f| f.logical_id == "WriterFunction")
        .expect("WriterFunction");
    assert_eq!(reserved_param(&t, writer), Some("WriterConcurrency"));
    let mut reserved = 0;
    for f in &fns {
        let events = event_types(f);
        // What a flood reaches: the HTTP API, and the queues behind it.
        let floodable = events
            .iter()
            .any(|(kind, _)| matches!(*kind, "HttpApi" | "SQS"));
        let param = reserved_param(&t, f);
        if floodable {
            let p = param.unwrap_or_else(|| panic!("{}: no reserved concurrency", f.logical_id));
            reserved += default_number(&t, p);
            // The queues must not hand out more batches than the function can run: throttled
            // batches come back with a higher receive count (the writer's attempt counter). A
            // function with one queue hands out its reservation; the sync worker's two queues
            // (bulk and webhook refreshes) split it, so neither can take the other's share.
            let sources: Vec<&str> = events
                .iter()
                .filter(|(kind, _)| *kind == "SQS")
                .map(|(_, props)| {
                    param_ref(props["ScalingConfig"].get("MaximumConcurrency"))
                        .unwrap_or_else(|| panic!("{}: an SQS source without a cap", f.logical_id))
                })
                .collect();
            for q in &sources {
                assert!(default_number(&t, q) >= 2, "{q}: an SQS source needs 2");
            }
            match sources.as_slice() {
                [] => {}
                [one] => assert_eq!(*one, p, "{}", f.logical_id),
                many => {
                    let sum: u64 = many.iter().map(|q| default_number(&t, q)).sum();
                    assert!(
                        sum <= default_number(&t, p),
                        "{}: its queues hand out {sum} batches, over {p}",
                        f.logical_id
                    );
                }
            }
        }
    }
    // Lambda keeps 100 of the account's concurrency unreserved (default quota 1000).
    assert!(
        reserved + 100 <= 1000,
        "reservations of {reserved} need a bigger quota"
    );
    let switch = &t.parameters["ReserveConcurrency"];
    assert_eq!(switch.default, Some(json!("true")));
    assert_eq!(switch.allowed_values, vec![json!("true"), json!("false")]);
}

#[test]
fn every_function_logs_to_its_own_group_with_a_retention() {
    let t = repo_template();
    let retention = default_number(&t, "LogRetentionDays");
    let allowed = &t.parameters["LogRetentionDays"].allowed_values;
    assert!(
        allowed.iter().any(|v| v.as_u64() == Some(retention)),
        "the default retention must be one CloudWatch offers"
    );
    let mut groups = Vec::new();
    for f in functions(&t) {
        let group = param_ref(f.prop("LoggingConfig").and_then(|l| l.get("LogGroup")))
            .unwrap_or_else(|| panic!("{}: LoggingConfig.LogGroup", f.logical_id));
        let r = &t.resources[group];
        assert_eq!(r.kind, "AWS::Logs::LogGroup", "{group}");
        assert_eq!(
            param_ref(r.prop("RetentionInDays")),
            Some("LogRetentionDays"),
            "{group}"
        );
        assert!(!groups.contains(&group), "{group} is shared");
        groups.push(group);
    }
    // JSON, at the chosen level, for every function (Lambda's advanced logging controls), as
    // deployed: after the transform merged the Globals in.
    let cfn = t.plain().expect("the SAM transform");
    let deployed: Vec<&Resource> = cfn.resources_of("AWS::Lambda::Function").collect();
    assert_eq!(deployed.len(), functions(&t).len());
    for f in deployed {
        let logging = f.prop("LoggingConfig").expect("LoggingConfig");
        assert_eq!(logging["LogFormat"], "JSON", "{}", f.logical_id);
        assert_eq!(
            param_ref(logging.get("ApplicationLogLevel")),
            Some("LogLevel"),
            "{}",
            f.logical_id
        );
    }
}

/// The gauges the dead-letter census writes (shared/app/src/writes/census.rs), by name.
fn census_gauges() -> Vec<String> {
    let source = std::fs::read_to_string(repo_root().join("shared/app/src/writes/census.rs"))
        .expect("the census");
    source
        .split("metrics.gauge(")
        .skip(1)
        .filter_map(|rest| rest.split('"').nth(1).map(str::to_owned))
        .collect()
}

fn alarm<'a>(t: &'a Template, id: &str) -> &'a Resource {
    let r = t
        .resources
        .get(id)
        .unwrap_or_else(|| panic!("{id} is missing"));
    assert_eq!(r.kind, "AWS::CloudWatch::Alarm", "{id}");
    r
}

/// Namespace, metric name and `Function` dimension of an alarm on one metric.
fn watched(a: &Resource) -> (String, String, String) {
    let s = |k: &str| {
        a.prop(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let function = a
        .prop("Dimensions")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .find(|d| d["Name"] == "Function")
        .and_then(|d| d["Value"].as_str())
        .unwrap_or_default()
        .to_owned();
    (s("Namespace"), s("MetricName"), function)
}

/// Every dead letter, a table record or an SQS DLQ message, counts toward the write alarms:
/// they watch the census' gauges (which count both), not the DLQ queue's own depth, and the
/// charge alarm stays on while a charge is pending instead of firing for one minute.
#[test]
fn the_dead_letter_alarms_count_every_dead_letter() {
    let t = repo_template();
    let gauges = census_gauges();
    for g in [
        "DeadLettersPending",
        "DeadLettersOldestAgeSeconds",
        "PostChargeDeadLettersPending",
    ] {
        assert!(
            gauges.iter().any(|x| x == g),
            "the census writes {g}: {gauges:?}"
        );
    }
    let expect = |id: &str, metric: &str, op: &str, threshold: f64| {
        let a = alarm(&t, id);
        assert_eq!(
            watched(a),
            (
                "PmsIntegration".into(),
                metric.into(),
                "dead-letters".into()
            ),
            "{id}"
        );
        assert_eq!(a.prop("ComparisonOperator"), Some(&json!(op)), "{id}");
        assert_eq!(
            a.prop("Threshold").and_then(Value::as_f64),
            Some(threshold),
            "{id}"
        );
        assert_eq!(a.prop("Statistic"), Some(&json!("Maximum")), "{id}");
    };
    expect(
        "WriteDlqDepthAlarm",
        "DeadLettersPending",
        "GreaterThanThreshold",
        10.0,
    );
    expect(
        "WriteDlqAgeAlarm",
        "DeadLettersOldestAgeSeconds",
        "GreaterThanThreshold",
        14400.0,
    );
    // Critical, and held while the charge is pending: the census' gauge (carried over a late
    // tick), with the writer's count for the minutes before the next census.
    let charge = alarm(&t, "PostChargeDeadLetteredAlarm");
    let metrics: Vec<&Value> = charge.prop("Metrics").map(as_list).unwrap_or_default();
    let stat = |id: &str| {
        metrics
            .iter()
            .find(|m| m["Id"] == id)
            .map(|m| &m["MetricStat"])
            .unwrap_or_else(|| panic!("metric {id}"))
    };
    assert_eq!(
        stat("pending")["Metric"]["MetricName"],
        "PostChargeDeadLettersPending"
    );
    assert_eq!(
        stat("pending")["Metric"]["Dimensions"][0]["Value"],
        "dead-letters"
    );
    assert_eq!(
        stat("justnow")["Metric"]["MetricName"],
        "PostChargeDeadLettered"
    );
    let expression = metrics
        .iter()
        .find(|m| m["ReturnData"] == true)
        .and_then(|m| m["Expression"].as_str())
        .expect("the alarm's expression");
    assert!(expression.contains("FILL(pending, REPEAT)"), "{expression}");
    assert_eq!(
        charge.prop("ComparisonOperator"),
        Some(&json!("GreaterThanOrEqualToThreshold"))
    );
    assert_eq!(charge.prop("Threshold").and_then(Value::as_f64), Some(1.0));
    assert!(charge
        .prop("AlarmDescription")
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("critical"));
    // A census that stopped is an alarm, not silence.
    let missing = alarm(&t, "DeadLetterCensusMissingAlarm");
    assert_eq!(watched(missing).1, "DeadLettersPending");
    assert_eq!(missing.prop("TreatMissingData"), Some(&json!("breaching")));
    // Nothing about write dead letters watches only the DLQ queue (it misses the records).
    for r in t.resources_of("AWS::CloudWatch::Alarm") {
        let on_write_dlq = r
            .prop("Dimensions")
            .map(as_list)
            .unwrap_or_default()
            .iter()
            .any(|d| d["Value"] == json!({"Fn::GetAtt": ["WriteOpsDLQ", "QueueName"]}));
        assert!(
            !on_write_dlq,
            "{} watches the write DLQ's depth only",
            r.logical_id
        );
    }
    // The census runs in the sync scheduler: it may look at the write DLQ, never take from it
    // or send to it, and write records only through conditional puts of single items.
    let scheduler = &t.resources["SyncSchedulerFunction"];
    let statements: Vec<&Value> = scheduler
        .prop("Policies")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|p| p.get("Statement").map(as_list).unwrap_or_default())
        .collect();
    let on_dlq: Vec<&str> = statements
        .iter()
        .filter(|s| s["Resource"] == json!({"Fn::GetAtt": ["WriteOpsDLQ", "Arn"]}))
        .flat_map(|s| as_list(&s["Action"]))
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        on_dlq,
        ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"]
    );
    assert!(findings(&t, scheduler).is_empty());
}
