//! Typed desired state of each supported resource, read from its *resolved* properties.
//! Provisioning and drift checking both work from these, so they cannot disagree.

use std::collections::BTreeMap;

use rand::RngExt;
use secrecy::SecretString;
use serde_json::Value;

use super::{LocalError, LocalResult};

/// The resource types the local stack provisions; everything else is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Table,
    Queue,
    EventBus,
    Secret,
    /// An EventBridge rule with an event pattern whose targets are queues (what moto delivers
    /// `PutEvents` to). Schedule rules, and rules targeting functions, are the driver's.
    PatternRule,
}

impl Kind {
    pub fn of(cfn_type: &str) -> Option<Kind> {
        Some(match cfn_type {
            "AWS::DynamoDB::Table" => Kind::Table,
            "AWS::SQS::Queue" => Kind::Queue,
            "AWS::Events::EventBus" => Kind::EventBus,
            "AWS::SecretsManager::Secret" => Kind::Secret,
            _ => return None,
        })
    }

    /// [`Kind::of`], and pattern rules told apart from the driver's schedule rules.
    pub fn of_resource(r: &super::template::Resource) -> Option<Kind> {
        if r.kind == "AWS::Events::Rule" {
            let pattern =
                r.prop("EventPattern").is_some() && r.prop("ScheduleExpression").is_none();
            let to_queues = r
                .prop("Targets")
                .and_then(Value::as_array)
                .is_some_and(|ts| {
                    !ts.is_empty()
                        && ts.iter().all(|t| {
                            t.get("Arn")
                                .and_then(|a| a.get("Fn::GetAtt"))
                                .and_then(Value::as_array)
                                .and_then(|g| g.first())
                                .and_then(Value::as_str)
                                .is_some()
                        })
                });
            return (pattern && to_queues).then_some(Kind::PatternRule);
        }
        Kind::of(&r.kind)
    }
}

fn bad(logical_id: &str, msg: impl std::fmt::Display) -> LocalError {
    LocalError::template(format!("{logical_id}: {msg}"))
}

fn str_prop(props: &Value, key: &str) -> Option<String> {
    match props.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// CloudFormation accepts `true` and `"true"` alike.
fn bool_prop(props: &Value, key: &str) -> Option<bool> {
    match props.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn int_prop(props: &Value, key: &str) -> Option<i64> {
    match props.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `[{Key, Value}]` tags.
fn tags(logical_id: &str, props: &Value) -> LocalResult<Vec<(String, String)>> {
    let Some(list) = props.get("Tags") else {
        return Ok(Vec::new());
    };
    list.as_array()
        .ok_or_else(|| bad(logical_id, "Tags must be a list of {Key, Value}"))?
        .iter()
        .map(|t| match (str_prop(t, "Key"), str_prop(t, "Value")) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(bad(logical_id, "every tag needs Key and Value")),
        })
        .collect()
}

/// Warn about properties the local stack does not reproduce, so nobody trusts a silent gap.
fn warn_unhandled(logical_id: &str, props: &Value, handled: &[&str]) {
    if let Some(m) = props.as_object() {
        for k in m.keys().filter(|k| !handled.contains(&k.as_str())) {
            tracing::warn!(resource = logical_id, property = %k, "property is not provisioned locally");
        }
    }
}

fn default_name(stack: &str, logical_id: &str) -> String {
    format!("{stack}-{logical_id}")
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyElement {
    pub attribute: String,
    /// HASH or RANGE.
    pub key_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub billing_mode: String,
    /// (name, type) pairs.
    pub attribute_definitions: Vec<(String, String)>,
    pub key_schema: Vec<KeyElement>,
    pub global_indexes: Vec<IndexSpec>,
    pub local_indexes: Vec<IndexSpec>,
    /// (read, write) capacity when billing is PROVISIONED.
    pub throughput: Option<(i64, i64)>,
    /// TTL attribute, when TTL is enabled.
    pub ttl_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    pub sse: bool,
    pub stream_view_type: Option<String>,
    pub tags: Vec<(String, String)>,
}

fn key_schema(logical_id: &str, v: Option<&Value>) -> LocalResult<Vec<KeyElement>> {
    v.and_then(Value::as_array)
        .ok_or_else(|| bad(logical_id, "KeySchema must be a list"))?
        .iter()
        .map(
            |k| match (str_prop(k, "AttributeName"), str_prop(k, "KeyType")) {
                (Some(attribute), Some(key_type)) => Ok(KeyElement {
                    attribute,
                    key_type,
                }),
                _ => Err(bad(logical_id, "a key needs AttributeName and KeyType")),
            },
        )
        .collect()
}

fn throughput(v: Option<&Value>) -> Option<(i64, i64)> {
    let v = v?;
    Some((
        int_prop(v, "ReadCapacityUnits")?,
        int_prop(v, "WriteCapacityUnits")?,
    ))
}

fn indexes(logical_id: &str, v: Option<&Value>) -> LocalResult<Vec<IndexSpec>> {
    let Some(list) = v else {
        return Ok(Vec::new());
    };
    list.as_array()
        .ok_or_else(|| bad(logical_id, "indexes must be a list"))?
        .iter()
        .map(|ix| {
            let name = str_prop(ix, "IndexName")
                .ok_or_else(|| bad(logical_id, "an index needs IndexName"))?;
            let projection = ix.get("Projection").cloned().unwrap_or(Value::Null);
            Ok(IndexSpec {
                key_schema: key_schema(logical_id, ix.get("KeySchema"))?,
                projection_type: str_prop(&projection, "ProjectionType")
                    .unwrap_or_else(|| "ALL".into()),
                non_key_attributes: projection
                    .get("NonKeyAttributes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                name,
            })
        })
        .collect()
}

impl TableSpec {
    pub fn from_props(stack: &str, logical_id: &str, props: &Value) -> LocalResult<TableSpec> {
        warn_unhandled(
            logical_id,
            props,
            &[
                "TableName",
                "BillingMode",
                "AttributeDefinitions",
                "KeySchema",
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
                "ProvisionedThroughput",
                "TimeToLiveSpecification",
                "PointInTimeRecoverySpecification",
                "SSESpecification",
                "StreamSpecification",
                "Tags",
                // Not meaningful locally.
                "DeletionProtectionEnabled",
                "TableClass",
                "ContributorInsightsSpecification",
            ],
        );
        let attribute_definitions = props
            .get("AttributeDefinitions")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(logical_id, "AttributeDefinitions must be a list"))?
            .iter()
            .map(
                |a| match (str_prop(a, "AttributeName"), str_prop(a, "AttributeType")) {
                    (Some(n), Some(t)) => Ok((n, t)),
                    _ => Err(bad(
                        logical_id,
                        "an attribute needs AttributeName and AttributeType",
                    )),
                },
            )
            .collect::<LocalResult<Vec<_>>>()?;
        let ttl = props.get("TimeToLiveSpecification");
        let ttl_attribute = ttl
            .filter(|t| bool_prop(t, "Enabled").unwrap_or(false))
            .and_then(|t| str_prop(t, "AttributeName"));
        Ok(TableSpec {
            name: str_prop(props, "TableName").unwrap_or_else(|| default_name(stack, logical_id)),
            billing_mode: str_prop(props, "BillingMode").unwrap_or_else(|| "PROVISIONED".into()),
            attribute_definitions,
            key_schema: key_schema(logical_id, props.get("KeySchema"))?,
            global_indexes: indexes(logical_id, props.get("GlobalSecondaryIndexes"))?,
            local_indexes: indexes(logical_id, props.get("LocalSecondaryIndexes"))?,
            throughput: throughput(props.get("ProvisionedThroughput")),
            ttl_attribute,
            point_in_time_recovery: props
                .get("PointInTimeRecoverySpecification")
                .and_then(|p| bool_prop(p, "PointInTimeRecoveryEnabled"))
                .unwrap_or(false),
            sse: props
                .get("SSESpecification")
                .and_then(|p| bool_prop(p, "SSEEnabled"))
                .unwrap_or(false),
            stream_view_type: props
                .get("StreamSpecification")
                .and_then(|s| str_prop(s, "StreamViewType")),
            tags: tags(logical_id, props)?,
        })
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{}",
            super::PARTITION,
            super::REGION,
            super::ACCOUNT_ID,
            self.name
        )
    }
}

// ---------------------------------------------------------------------------------------------
// SQS

/// CloudFormation properties that are SQS queue attributes of the same name.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];
/// Attributes that are JSON documents: objects in the template, strings in the API.
pub const QUEUE_JSON_ATTRIBUTES: &[&str] = &["RedrivePolicy", "RedriveAllowPolicy"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub fifo: bool,
    /// SQS attribute name -> API value (JSON documents as compact strings).
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
}

impl QueueSpec {
    pub fn from_props(stack: &str, logical_id: &str, props: &Value) -> LocalResult<QueueSpec> {
        let mut handled: Vec<&str> = QUEUE_ATTRIBUTES.to_vec();
        handled.extend_from_slice(QUEUE_JSON_ATTRIBUTES);
        handled.extend_from_slice(&["QueueName", "Tags"]);
        warn_unhandled(logical_id, props, &handled);
        let mut attributes = BTreeMap::new();
        for key in QUEUE_ATTRIBUTES {
            if let Some(v) = str_prop(props, key) {
                attributes.insert(key.to_string(), v);
            }
        }
        for key in QUEUE_JSON_ATTRIBUTES {
            match props.get(*key) {
                None => {}
                Some(Value::String(s)) => {
                    attributes.insert(key.to_string(), s.clone());
                }
                Some(v @ Value::Object(_)) => {
                    attributes.insert(key.to_string(), v.to_string());
                }
                Some(_) => return Err(bad(logical_id, format!("{key} must be a mapping"))),
            }
        }
        let fifo = bool_prop(props, "FifoQueue").unwrap_or(false);
        let name = str_prop(props, "QueueName").unwrap_or_else(|| {
            let n = default_name(stack, logical_id);
            if fifo {
                format!("{n}.fifo")
            } else {
                n
            }
        });
        if fifo != name.ends_with(".fifo") {
            return Err(bad(
                logical_id,
                "a FIFO queue's name must end in .fifo, and only a FIFO queue's",
            ));
        }
        Ok(QueueSpec {
            name,
            fifo,
            attributes,
            tags: tags(logical_id, props)?,
        })
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:{}:sqs:{}:{}:{}",
            super::PARTITION,
            super::REGION,
            super::ACCOUNT_ID,
            self.name
        )
    }
}

// ---------------------------------------------------------------------------------------------
// EventBridge

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusSpec {
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl BusSpec {
    pub fn from_props(stack: &str, logical_id: &str, props: &Value) -> LocalResult<BusSpec> {
        warn_unhandled(logical_id, props, &["Name", "Description", "Tags"]);
        Ok(BusSpec {
            name: str_prop(props, "Name").unwrap_or_else(|| default_name(stack, logical_id)),
            description: str_prop(props, "Description"),
            tags: tags(logical_id, props)?,
        })
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:{}:events:{}:{}:event-bus/{}",
            super::PARTITION,
            super::REGION,
            super::ACCOUNT_ID,
            self.name
        )
    }
}

/// A pattern rule on a bus, sending to queues (by ARN).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    pub name: String,
    pub bus: String,
    pub pattern: String,
    pub enabled: bool,
    /// (target id, queue ARN).
    pub targets: Vec<(String, String)>,
}

impl RuleSpec {
    pub fn from_props(stack: &str, logical_id: &str, props: &Value) -> LocalResult<RuleSpec> {
        warn_unhandled(
            logical_id,
            props,
            &[
                "Name",
                "Description",
                "EventBusName",
                "EventPattern",
                "State",
                "Targets",
            ],
        );
        let pattern = props
            .get("EventPattern")
            .ok_or_else(|| bad(logical_id, "EventPattern is required"))?;
        let pattern = match pattern {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut targets = Vec::new();
        for t in props
            .get("Targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = str_prop(t, "Id").ok_or_else(|| bad(logical_id, "a target needs an Id"))?;
            let arn = str_prop(t, "Arn").ok_or_else(|| bad(logical_id, "a target needs an Arn"))?;
            if !arn.contains(":sqs:") {
                return Err(bad(
                    logical_id,
                    format!("target {id}: only queues are provisioned locally"),
                ));
            }
            targets.push((id, arn));
        }
        Ok(RuleSpec {
            name: str_prop(props, "Name").unwrap_or_else(|| default_name(stack, logical_id)),
            bus: str_prop(props, "EventBusName").unwrap_or_else(|| "default".into()),
            pattern,
            enabled: str_prop(props, "State").is_none_or(|s| !s.eq_ignore_ascii_case("DISABLED")),
            targets,
        })
    }

    pub fn arn(&self) -> String {
        let (p, r, a) = (super::PARTITION, super::REGION, super::ACCOUNT_ID);
        if self.bus == "default" {
            format!("arn:{p}:events:{r}:{a}:rule/{}", self.name)
        } else {
            format!("arn:{p}:events:{r}:{a}:rule/{}/{}", self.bus, self.name)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager

/// `GenerateSecretString`, with Secrets Manager's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateSpec {
    pub length: usize,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: bool,
    /// `SecretStringTemplate` and `GenerateStringKey`: the value goes into a JSON document.
    pub template: Option<(String, String)>,
}

/// Secrets Manager's punctuation set for generated passwords.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

impl GenerateSpec {
    fn from_value(logical_id: &str, v: &Value) -> LocalResult<GenerateSpec> {
        let template = match (
            str_prop(v, "SecretStringTemplate"),
            str_prop(v, "GenerateStringKey"),
        ) {
            (Some(t), Some(k)) => Some((t, k)),
            (None, None) => None,
            _ => {
                return Err(bad(
                    logical_id,
                    "SecretStringTemplate and GenerateStringKey go together",
                ))
            }
        };
        let length = int_prop(v, "PasswordLength").unwrap_or(32);
        if !(1..=4096).contains(&length) {
            return Err(bad(logical_id, "PasswordLength must be 1..=4096"));
        }
        Ok(GenerateSpec {
            length: length as usize,
            exclude_characters: str_prop(v, "ExcludeCharacters").unwrap_or_default(),
            exclude_numbers: bool_prop(v, "ExcludeNumbers").unwrap_or(false),
            exclude_punctuation: bool_prop(v, "ExcludePunctuation").unwrap_or(false),
            exclude_uppercase: bool_prop(v, "ExcludeUppercase").unwrap_or(false),
            exclude_lowercase: bool_prop(v, "ExcludeLowercase").unwrap_or(false),
            include_space: bool_prop(v, "IncludeSpace").unwrap_or(false),
            require_each_included_type: bool_prop(v, "RequireEachIncludedType").unwrap_or(true),
            template,
        })
    }

    fn classes(&self) -> Vec<Vec<char>> {
        let keep = |c: &char| !self.exclude_characters.contains(*c);
        let mut classes = Vec::new();
        if !self.exclude_lowercase {
            classes.push(('a'..='z').filter(keep).collect());
        }
        if !self.exclude_uppercase {
            classes.push(('A'..='Z').filter(keep).collect());
        }
        if !self.exclude_numbers {
            classes.push(('0'..='9').filter(keep).collect());
        }
        if !self.exclude_punctuation {
            classes.push(PUNCTUATION.chars().filter(keep).collect());
        }
        if self.include_space {
            classes.push(vec![' ']);
        }
        classes.retain(|c: &Vec<char>| !c.is_empty());
        classes
    }

    /// A fresh random value (thread RNG: a CSPRNG seeded from the OS).
    pub fn generate(&self, logical_id: &str) -> LocalResult<SecretString> {
        let classes = self.classes();
        let all: Vec<char> = classes.iter().flatten().copied().collect();
        if all.is_empty() {
            return Err(bad(
                logical_id,
                "GenerateSecretString excludes every character",
            ));
        }
        if self.require_each_included_type && self.length < classes.len() {
            return Err(bad(
                logical_id,
                "PasswordLength is shorter than the number of required character types",
            ));
        }
        let mut rng = rand::rng();
        let value: String = loop {
            let candidate: String = (0..self.length)
                .map(|_| all[rng.random_range(0..all.len())])
                .collect();
            if !self.require_each_included_type
                || classes
                    .iter()
                    .all(|class| candidate.chars().any(|c| class.contains(&c)))
            {
                break candidate;
            }
        };
        Ok(match &self.template {
            None => SecretString::from(value),
            Some((template, key)) => {
                let mut doc: serde_json::Map<String, Value> = serde_json::from_str(template)
                    .map_err(|_| bad(logical_id, "SecretStringTemplate must be a JSON object"))?;
                doc.insert(key.clone(), Value::String(value));
                SecretString::from(Value::Object(doc).to_string())
            }
        })
    }
}

/// Where a secret's first value comes from. Debug never shows a literal value.
#[derive(Clone)]
pub enum SecretSource {
    Literal(SecretString),
    Generate(GenerateSpec),
    /// Neither given: the secret is created without a value.
    Empty,
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretSource::Generate(g) => write!(f, "Generate({g:?})"),
            SecretSource::Empty => f.write_str("Empty"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SecretSpec {
    pub name: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub source: SecretSource,
    pub tags: Vec<(String, String)>,
}

impl SecretSpec {
    pub fn from_props(stack: &str, logical_id: &str, props: &Value) -> LocalResult<SecretSpec> {
        warn_unhandled(
            logical_id,
            props,
            &[
                "Name",
                "Description",
                "KmsKeyId",
                "SecretString",
                "GenerateSecretString",
                "Tags",
                "ReplicaRegions",
            ],
        );
        let source = match (props.get("SecretString"), props.get("GenerateSecretString")) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    logical_id,
                    "SecretString and GenerateSecretString are exclusive",
                ))
            }
            (Some(v), None) => SecretSource::Literal(SecretString::from(
                v.as_str()
                    .ok_or_else(|| bad(logical_id, "SecretString must be a string"))?
                    .to_string(),
            )),
            (None, Some(g)) => SecretSource::Generate(GenerateSpec::from_value(logical_id, g)?),
            (None, None) => SecretSource::Empty,
        };
        Ok(SecretSpec {
            name: str_prop(props, "Name").unwrap_or_else(|| default_name(stack, logical_id)),
            description: str_prop(props, "Description"),
            kms_key_id: str_prop(props, "KmsKeyId"),
            source,
            tags: tags(logical_id, props)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    #[test]
    fn queue_attributes_are_api_strings() {
        let q = QueueSpec::from_props(
            "st",
            "Q",
            &json!({
                "QueueName": "st-q",
                "VisibilityTimeout": 720,
                "SqsManagedSseEnabled": true,
                "RedrivePolicy": {"deadLetterTargetArn": "arn:x", "maxReceiveCount": 3},
                "Tags": [{"Key": "stage", "Value": "dev"}],
            }),
        )
        .unwrap();
        assert_eq!(q.attributes["VisibilityTimeout"], "720");
        assert_eq!(q.attributes["SqsManagedSseEnabled"], "true");
        let rp: Value = serde_json::from_str(&q.attributes["RedrivePolicy"]).unwrap();
        assert_eq!(
            rp,
            json!({"deadLetterTargetArn": "arn:x", "maxReceiveCount": 3})
        );
        assert_eq!(q.tags, vec![("stage".to_string(), "dev".to_string())]);
        assert_eq!(q.arn(), "arn:aws:sqs:us-east-1:123456789012:st-q");
    }

    #[test]
    fn unnamed_fifo_queue_gets_a_fifo_name() {
        let q = QueueSpec::from_props("st", "Jobs", &json!({"FifoQueue": true})).unwrap();
        assert_eq!(q.name, "st-Jobs.fifo");
        assert!(
            QueueSpec::from_props("st", "J", &json!({"QueueName": "x", "FifoQueue": true}))
                .is_err()
        );
    }

    #[test]
    fn generated_secrets_follow_the_spec() {
        let s = SecretSpec::from_props(
            "st",
            "K",
            &json!({"Name": "pms/st/k", "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": true}}),
        )
        .unwrap();
        let SecretSource::Generate(g) = &s.source else {
            panic!("expected a generated secret")
        };
        let a = g.generate("K").unwrap();
        let b = g.generate("K").unwrap();
        assert_eq!(a.expose_secret().len(), 64);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(format!("{:?}", s.source).contains("Generate"));

        let t = GenerateSpec::from_value(
            "K",
            &json!({"SecretStringTemplate": "{\"user\":\"u\"}", "GenerateStringKey": "password", "PasswordLength": 8, "ExcludeCharacters": "abc"}),
        )
        .unwrap();
        let doc: Value = serde_json::from_str(t.generate("K").unwrap().expose_secret()).unwrap();
        assert_eq!(doc["user"], "u");
        let pw = doc["password"].as_str().unwrap();
        assert_eq!(pw.len(), 8);
        assert!(!pw.contains(['a', 'b', 'c']));
    }

    #[test]
    fn literal_secrets_are_redacted_in_debug() {
        let s = SecretSpec::from_props("st", "K", &json!({"SecretString": "hunter2"})).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.name, "st-K");
    }

    #[test]
    fn table_spec_reads_indexes_ttl_pitr_sse() {
        let t = TableSpec::from_props(
            "st",
            "Table",
            &json!({
                "TableName": "st-pms",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [{"IndexName": "gsi1", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": true},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true},
                "SSESpecification": {"SSEEnabled": true},
            }),
        )
        .unwrap();
        assert_eq!(t.global_indexes.len(), 1);
        assert_eq!(t.global_indexes[0].projection_type, "ALL");
        assert_eq!(t.ttl_attribute.as_deref(), Some("expires_at"));
        assert!(t.point_in_time_recovery && t.sse);
        assert_eq!(
            t.arn(),
            "arn:aws:dynamodb:us-east-1:123456789012:table/st-pms"
        );
    }
}
