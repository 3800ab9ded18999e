//! Provisioning the template's resources on the local endpoint, and reading them back to
//! report drift. Both walk the same dependency order and the same typed specs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_config::SdkConfig;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resolve::{references, Physical, Resolver};
use super::spec::{
    BusSpec, KeyElement, Kind, QueueSpec, RuleSpec, SecretSource, SecretSpec, TableSpec,
    QUEUE_JSON_ATTRIBUTES,
};
use super::template::{Resource, Template};
use super::{LocalError, LocalResult};

/// What a provisioned stack resolves to: names, URLs and the environment contract.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackOutputs {
    pub stack_name: String,
    /// The table with logical id `Table` (else the only table); empty if there is none.
    pub table_name: String,
    /// Queue URLs by logical id.
    pub queue_urls: BTreeMap<String, String>,
    /// Queue ARNs by logical id.
    pub queue_arns: BTreeMap<String, String>,
    /// The bus with logical id `EventBus` (else the only bus); empty if there is none.
    pub event_bus_name: String,
    /// Secret names by logical id.
    pub secrets: BTreeMap<String, String>,
    /// `SECRETS_PREFIX` of the contract (`pms/<stack>`).
    pub secrets_prefix: String,
    /// The variables every function is given alike, resolved: the environment contract.
    pub env: BTreeMap<String, String>,
    /// The template's `Outputs` that resolve locally.
    pub outputs: BTreeMap<String, String>,
    /// `Ref`/`GetAtt` values of every provisioned resource.
    pub resources: BTreeMap<String, Physical>,
}

impl StackOutputs {
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.queue_urls.get(logical_id).map(String::as_str)
    }

    /// The URL of the queue with this ARN (event sources name queues by ARN).
    pub fn queue_url_for_arn(&self, arn: &str) -> Option<&str> {
        self.queue_arns
            .iter()
            .find(|(_, a)| *a == arn)
            .and_then(|(id, _)| self.queue_url(id))
    }

    /// A resolver that knows every provisioned resource, for resolving function properties.
    pub fn resolver(&self, template: &Template) -> LocalResult<Resolver> {
        let mut r = Resolver::new(template, &self.stack_name, &BTreeMap::new())?;
        for (id, p) in &self.resources {
            r.set(id, p.clone());
        }
        Ok(r)
    }
}

/// One difference between the template and the live resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub resource: String,
    pub property: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: template {}, live {}",
            self.resource, self.property, self.expected, self.actual
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub drifts: Vec<Drift>,
    /// Properties the endpoint cannot report (moto drops `RedriveAllowPolicy`, for one).
    pub unverifiable: Vec<String>,
    pub outputs: StackOutputs,
}

fn check_endpoint(sdk: &SdkConfig) -> LocalResult<()> {
    if sdk.endpoint_url().is_none() {
        return Err(LocalError::NoEndpoint);
    }
    Ok(())
}

/// CloudFormation's stack-name rule; the names we derive from it then fit every service.
pub fn validate_stack_name(name: &str) -> LocalResult<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(LocalError::template(format!(
            "stack name {name:?}: use a letter, then letters, digits and hyphens (at most 64)"
        )))
    }
}

/// The supported resources in dependency order (a queue's DLQ before the queue).
pub fn plan(template: &Template) -> LocalResult<Vec<(&Resource, Kind)>> {
    let mut supported = BTreeMap::new();
    for r in template.resources.values() {
        match Kind::of_resource(r) {
            Some(k) => {
                supported.insert(r.logical_id.as_str(), (r, k));
            }
            None => {
                tracing::debug!(resource = %r.logical_id, kind = %r.kind, "not provisioned locally")
            }
        }
    }
    let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (id, (r, _)) in &supported {
        let mut d = references(&r.properties);
        d.extend(r.depends_on.iter().cloned());
        d.retain(|x| !template.parameters.contains_key(x));
        for x in &d {
            match template.resources.get(x) {
                None => {
                    return Err(LocalError::template(format!(
                        "{id} refers to {x}, which is neither a parameter nor a resource"
                    )))
                }
                Some(other) if !supported.contains_key(x.as_str()) => {
                    return Err(LocalError::template(format!(
                        "{id} refers to {x} ({}), which the local stack does not provision",
                        other.kind
                    )))
                }
                Some(_) => {}
            }
        }
        deps.insert(id, d);
    }
    // Kahn's algorithm; BTreeMap order keeps the result deterministic.
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < supported.len() {
        let ready: Vec<&str> = supported
            .keys()
            .filter(|id| !done.contains(**id) && deps[**id].iter().all(|d| done.contains(d)))
            .copied()
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = supported
                .keys()
                .filter(|id| !done.contains(**id))
                .copied()
                .collect();
            return Err(LocalError::template(format!(
                "circular dependency among {}",
                stuck.join(", ")
            )));
        }
        for id in ready {
            done.insert(id.to_string());
            order.push(supported[id]);
        }
    }
    Ok(order)
}

fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some(
            "ResourceNotFoundException"
                | "QueueDoesNotExist"
                | "AWS.SimpleQueueService.NonExistentQueue"
        )
    )
}

/// Create (or keep) every supported resource of the template on the local endpoint.
/// Idempotent: existing tables, buses and secrets are kept as they are (a secret keeps its
/// value); existing queues get the template's attributes again.
pub async fn provision(
    sdk: &SdkConfig,
    template: &Template,
    stack_name: &str,
) -> LocalResult<StackOutputs> {
    provision_with(sdk, template, stack_name, &BTreeMap::new()).await
}

/// [`provision`] with parameter overrides.
pub async fn provision_with(
    sdk: &SdkConfig,
    template: &Template,
    stack_name: &str,
    parameters: &BTreeMap<String, String>,
) -> LocalResult<StackOutputs> {
    check_endpoint(sdk)?;
    validate_stack_name(stack_name)?;
    let template = &template.plain()?;
    let clients = Clients::new(sdk);
    let mut resolver = Resolver::new(template, stack_name, parameters)?;
    for (r, kind) in plan(template)? {
        let id = r.logical_id.as_str();
        let props = resolver.resolve(&r.properties, id)?;
        let physical = match kind {
            Kind::Table => {
                ensure_table(
                    &clients.ddb,
                    id,
                    &TableSpec::from_props(stack_name, id, &props)?,
                )
                .await?
            }
            Kind::Queue => {
                ensure_queue(
                    &clients.sqs,
                    id,
                    &QueueSpec::from_props(stack_name, id, &props)?,
                )
                .await?
            }
            Kind::EventBus => {
                ensure_bus(
                    &clients.events,
                    id,
                    &BusSpec::from_props(stack_name, id, &props)?,
                )
                .await?
            }
            Kind::Secret => {
                ensure_secret(
                    &clients.secrets,
                    id,
                    &SecretSpec::from_props(stack_name, id, &props)?,
                )
                .await?
            }
            Kind::PatternRule => {
                ensure_rule(
                    &clients.events,
                    id,
                    &RuleSpec::from_props(stack_name, id, &props)?,
                )
                .await?
            }
        };
        resolver.set(id, physical);
    }
    let outputs = stack_outputs(template, &resolver)?;
    tracing::info!(
        stack = stack_name,
        resources = outputs.resources.len(),
        "stack provisioned"
    );
    Ok(outputs)
}

/// Read the live resources back and report every difference from the template.
pub async fn verify(
    sdk: &SdkConfig,
    template: &Template,
    stack_name: &str,
) -> LocalResult<VerifyReport> {
    check_endpoint(sdk)?;
    validate_stack_name(stack_name)?;
    let template = &template.plain()?;
    let clients = Clients::new(sdk);
    let mut resolver = Resolver::new(template, stack_name, &BTreeMap::new())?;
    let mut report = VerifyReport::default();
    for (r, kind) in plan(template)? {
        let id = r.logical_id.as_str();
        let props = resolver.resolve(&r.properties, id)?;
        let physical = match kind {
            Kind::Table => {
                let spec = TableSpec::from_props(stack_name, id, &props)?;
                check_table(&clients.ddb, id, &spec, &mut report).await?
            }
            Kind::Queue => {
                let spec = QueueSpec::from_props(stack_name, id, &props)?;
                check_queue(&clients.sqs, id, &spec, &mut report).await?
            }
            Kind::EventBus => {
                let spec = BusSpec::from_props(stack_name, id, &props)?;
                check_bus(&clients.events, id, &spec, &mut report).await?
            }
            Kind::Secret => {
                let spec = SecretSpec::from_props(stack_name, id, &props)?;
                check_secret(&clients.secrets, id, &spec, &mut report).await?
            }
            Kind::PatternRule => {
                let spec = RuleSpec::from_props(stack_name, id, &props)?;
                check_rule(&clients.events, id, &spec, &mut report).await?
            }
        };
        resolver.set(id, physical);
    }
    report.outputs = stack_outputs(template, &resolver)?;
    Ok(report)
}

/// The outputs of a stack that already exists, without changing anything.
pub async fn inspect(
    sdk: &SdkConfig,
    template: &Template,
    stack_name: &str,
) -> LocalResult<StackOutputs> {
    Ok(verify(sdk, template, stack_name).await?.outputs)
}

struct Clients {
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    fn new(sdk: &SdkConfig) -> Clients {
        Clients {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            events: aws_sdk_eventbridge::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

/// The variables (unresolved) that every function has, with the same value: what SAM's
/// `Globals` gave them all, which the transform has merged into each.
fn contract(template: &Template) -> serde_json::Map<String, Value> {
    let mut common: Option<serde_json::Map<String, Value>> = None;
    for f in template.resources_of("AWS::Lambda::Function") {
        let vars = f
            .prop("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        common = Some(match common {
            None => vars,
            Some(c) => c
                .into_iter()
                .filter(|(k, v)| vars.get(k) == Some(v))
                .collect(),
        });
    }
    common.unwrap_or_default()
}

fn stack_outputs(template: &Template, resolver: &Resolver) -> LocalResult<StackOutputs> {
    let mut out = StackOutputs {
        stack_name: resolver.stack_name().to_string(),
        resources: resolver.resources().clone(),
        ..StackOutputs::default()
    };
    let pick = |kind: &str, preferred: &str| -> String {
        let ids: Vec<&str> = template
            .resources_of(kind)
            .map(|r| r.logical_id.as_str())
            .collect();
        let id = if ids.contains(&preferred) {
            Some(preferred)
        } else {
            ids.first().copied()
        };
        id.and_then(|id| resolver.physical(id))
            .map(|p| p.reference.clone())
            .unwrap_or_default()
    };
    out.table_name = pick("AWS::DynamoDB::Table", "Table");
    out.event_bus_name = pick("AWS::Events::EventBus", "EventBus");
    for r in template.resources_of("AWS::SQS::Queue") {
        if let Some(p) = resolver.physical(&r.logical_id) {
            out.queue_urls
                .insert(r.logical_id.clone(), p.reference.clone());
            if let Some(arn) = p.attributes.get("Arn") {
                out.queue_arns.insert(r.logical_id.clone(), arn.clone());
            }
        }
    }
    for r in template.resources_of("AWS::SecretsManager::Secret") {
        if let Some(name) = resolver
            .physical(&r.logical_id)
            .and_then(|p| p.attributes.get("Name"))
        {
            out.secrets.insert(r.logical_id.clone(), name.clone());
        }
    }
    let env = resolver.resolve(&Value::Object(contract(template)), "Environment")?;
    for (k, v) in env.as_object().into_iter().flatten() {
        let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        out.env.insert(k.clone(), v);
    }
    out.secrets_prefix = out
        .env
        .get("SECRETS_PREFIX")
        .cloned()
        .unwrap_or_else(|| format!("pms/{}", out.stack_name));
    for (name, expr) in &template.outputs {
        match resolver.resolve_string(expr, &format!("Outputs.{name}")) {
            Ok(v) => {
                out.outputs.insert(name.clone(), v);
            }
            Err(e) => {
                tracing::debug!(output = %name, error = %e, "output does not resolve locally")
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

mod ddb {
    pub use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        LocalSecondaryIndex, PointInTimeRecoverySpecification, Projection, ProjectionType,
        ProvisionedThroughput, ScalarAttributeType, SseSpecification, StreamSpecification,
        StreamViewType, Tag, TimeToLiveSpecification, TimeToLiveStatus,
    };
}

fn build_err(id: &str, e: impl fmt::Display) -> LocalError {
    LocalError::template(format!("{id}: {e}"))
}

fn key_elements(id: &str, keys: &[KeyElement]) -> LocalResult<Vec<ddb::KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            ddb::KeySchemaElement::builder()
                .attribute_name(&k.attribute)
                .key_type(ddb::KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| build_err(id, e))
        })
        .collect()
}

fn projection(ix: &super::spec::IndexSpec) -> ddb::Projection {
    ddb::Projection::builder()
        .projection_type(ddb::ProjectionType::from(ix.projection_type.as_str()))
        .set_non_key_attributes(
            (!ix.non_key_attributes.is_empty()).then(|| ix.non_key_attributes.clone()),
        )
        .build()
}

fn table_physical(name: &str, arn: Option<String>, stream: Option<String>) -> Physical {
    let mut attributes = BTreeMap::new();
    attributes.insert(
        "Arn".to_string(),
        arn.unwrap_or_else(|| {
            format!(
                "arn:{}:dynamodb:{}:{}:table/{name}",
                super::PARTITION,
                super::REGION,
                super::ACCOUNT_ID
            )
        }),
    );
    if let Some(s) = stream {
        attributes.insert("StreamArn".to_string(), s);
    }
    Physical {
        reference: name.to_string(),
        attributes,
    }
}

async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    id: &str,
    spec: &TableSpec,
) -> LocalResult<Physical> {
    let existing = match client.describe_table().table_name(&spec.name).send().await {
        Ok(out) => out.table,
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(LocalError::aws(id, "DescribeTable", e)),
    };
    let table = match existing {
        Some(t) => {
            tracing::info!(resource = id, table = %spec.name, "table exists; kept as is");
            t
        }
        None => {
            let mut req = client
                .create_table()
                .table_name(&spec.name)
                .billing_mode(ddb::BillingMode::from(spec.billing_mode.as_str()))
                .set_key_schema(Some(key_elements(id, &spec.key_schema)?));
            for (name, kind) in &spec.attribute_definitions {
                req = req.attribute_definitions(
                    ddb::AttributeDefinition::builder()
                        .attribute_name(name)
                        .attribute_type(ddb::ScalarAttributeType::from(kind.as_str()))
                        .build()
                        .map_err(|e| build_err(id, e))?,
                );
            }
            let throughput =
                |t: Option<(i64, i64)>| -> LocalResult<Option<ddb::ProvisionedThroughput>> {
                    t.map(|(r, w)| {
                        ddb::ProvisionedThroughput::builder()
                            .read_capacity_units(r)
                            .write_capacity_units(w)
                            .build()
                            .map_err(|e| build_err(id, e))
                    })
                    .transpose()
                };
            req = req.set_provisioned_throughput(throughput(spec.throughput)?);
            for ix in &spec.global_indexes {
                req = req.global_secondary_indexes(
                    ddb::GlobalSecondaryIndex::builder()
                        .index_name(&ix.name)
                        .set_key_schema(Some(key_elements(id, &ix.key_schema)?))
                        .projection(projection(ix))
                        .set_provisioned_throughput(throughput(spec.throughput)?)
                        .build()
                        .map_err(|e| build_err(id, e))?,
                );
            }
            for ix in &spec.local_indexes {
                req = req.local_secondary_indexes(
                    ddb::LocalSecondaryIndex::builder()
                        .index_name(&ix.name)
                        .set_key_schema(Some(key_elements(id, &ix.key_schema)?))
                        .projection(projection(ix))
                        .build()
                        .map_err(|e| build_err(id, e))?,
                );
            }
            if spec.sse {
                req = req.sse_specification(ddb::SseSpecification::builder().enabled(true).build());
            }
            if let Some(view) = &spec.stream_view_type {
                req = req.stream_specification(
                    ddb::StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(ddb::StreamViewType::from(view.as_str()))
                        .build()
                        .map_err(|e| build_err(id, e))?,
                );
            }
            for (k, v) in &spec.tags {
                req = req.tags(
                    ddb::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .map_err(|e| build_err(id, e))?,
                );
            }
            let out = req
                .send()
                .await
                .map_err(|e| LocalError::aws(id, "CreateTable", e))?;
            tracing::info!(resource = id, table = %spec.name, "table created");
            out.table_description.ok_or_else(|| {
                LocalError::template(format!("{id}: CreateTable returned no table"))
            })?
        }
    };
    if let Some(attr) = &spec.ttl_attribute {
        let current = client
            .describe_time_to_live()
            .table_name(&spec.name)
            .send()
            .await
            .map_err(|e| LocalError::aws(id, "DescribeTimeToLive", e))?
            .time_to_live_description;
        let enabled = current.as_ref().is_some_and(|d| {
            d.time_to_live_status == Some(ddb::TimeToLiveStatus::Enabled)
                && d.attribute_name.as_deref() == Some(attr.as_str())
        });
        if !enabled {
            client
                .update_time_to_live()
                .table_name(&spec.name)
                .time_to_live_specification(
                    ddb::TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()
                        .map_err(|e| build_err(id, e))?,
                )
                .send()
                .await
                .map_err(|e| LocalError::aws(id, "UpdateTimeToLive", e))?;
        }
    }
    if spec.point_in_time_recovery {
        client
            .update_continuous_backups()
            .table_name(&spec.name)
            .point_in_time_recovery_specification(
                ddb::PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(|e| build_err(id, e))?,
            )
            .send()
            .await
            .map_err(|e| LocalError::aws(id, "UpdateContinuousBackups", e))?;
    }
    Ok(table_physical(
        &spec.name,
        table.table_arn,
        table.latest_stream_arn,
    ))
}

fn drift(
    report: &mut VerifyReport,
    resource: &str,
    property: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) {
    report.drifts.push(Drift {
        resource: resource.to_string(),
        property: property.into(),
        expected: expected.into(),
        actual: actual.into(),
    });
}

fn keys_text(keys: &[KeyElement]) -> String {
    keys.iter()
        .map(|k| format!("{}:{}", k.attribute, k.key_type))
        .collect::<Vec<_>>()
        .join(",")
}

fn live_keys_text(keys: &[ddb::KeySchemaElement]) -> String {
    keys.iter()
        .map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "(none)".to_string()
    } else {
        s.to_string()
    }
}

/// Compare indexes by name: missing, unexpected, and differing key schema or projection.
fn check_indexes(
    report: &mut VerifyReport,
    id: &str,
    what: &str,
    expected: &[super::spec::IndexSpec],
    live: Vec<(String, String, String, BTreeSet<String>)>,
) {
    let live: BTreeMap<String, (String, String, BTreeSet<String>)> = live
        .into_iter()
        .map(|(n, k, p, a)| (n, (k, p, a)))
        .collect();
    for ix in expected {
        match live.get(&ix.name) {
            None => drift(
                report,
                id,
                format!("{what}.{}", ix.name),
                "present",
                "missing",
            ),
            Some((keys, proj, attrs)) => {
                let want = keys_text(&ix.key_schema);
                if &want != keys {
                    drift(
                        report,
                        id,
                        format!("{what}.{}.KeySchema", ix.name),
                        want,
                        keys.clone(),
                    );
                }
                if &ix.projection_type != proj {
                    drift(
                        report,
                        id,
                        format!("{what}.{}.Projection", ix.name),
                        ix.projection_type.clone(),
                        proj.clone(),
                    );
                }
                let want: BTreeSet<String> = ix.non_key_attributes.iter().cloned().collect();
                if &want != attrs {
                    drift(
                        report,
                        id,
                        format!("{what}.{}.NonKeyAttributes", ix.name),
                        format!("{want:?}"),
                        format!("{attrs:?}"),
                    );
                }
            }
        }
    }
    for name in live.keys() {
        if !expected.iter().any(|ix| &ix.name == name) {
            drift(report, id, format!("{what}.{name}"), "absent", "present");
        }
    }
}

async fn check_table(
    client: &aws_sdk_dynamodb::Client,
    id: &str,
    spec: &TableSpec,
    report: &mut VerifyReport,
) -> LocalResult<Physical> {
    let table = match client.describe_table().table_name(&spec.name).send().await {
        Ok(out) => out.table,
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(LocalError::aws(id, "DescribeTable", e)),
    };
    let Some(t) = table else {
        drift(
            report,
            id,
            format!("table {}", spec.name),
            "exists",
            "missing",
        );
        return Ok(table_physical(&spec.name, None, None));
    };
    let want = keys_text(&spec.key_schema);
    let have = live_keys_text(t.key_schema());
    if want != have {
        drift(report, id, "KeySchema", want, have);
    }
    let billing = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".to_string());
    if billing != spec.billing_mode {
        drift(
            report,
            id,
            "BillingMode",
            spec.billing_mode.clone(),
            billing,
        );
    }
    let want: BTreeSet<String> = spec
        .attribute_definitions
        .iter()
        .map(|(n, k)| format!("{n}:{k}"))
        .collect();
    let have: BTreeSet<String> = t
        .attribute_definitions()
        .iter()
        .map(|a| format!("{}:{}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    if want != have {
        drift(
            report,
            id,
            "AttributeDefinitions",
            want.into_iter().collect::<Vec<_>>().join(","),
            have.into_iter().collect::<Vec<_>>().join(","),
        );
    }
    let gsis = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let p = g.projection();
            (
                g.index_name().unwrap_or_default().to_string(),
                live_keys_text(g.key_schema()),
                p.and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                p.map(|p| p.non_key_attributes().iter().cloned().collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    check_indexes(
        report,
        id,
        "GlobalSecondaryIndexes",
        &spec.global_indexes,
        gsis,
    );
    let lsis = t
        .local_secondary_indexes()
        .iter()
        .map(|g| {
            let p = g.projection();
            (
                g.index_name().unwrap_or_default().to_string(),
                live_keys_text(g.key_schema()),
                p.and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                p.map(|p| p.non_key_attributes().iter().cloned().collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    check_indexes(
        report,
        id,
        "LocalSecondaryIndexes",
        &spec.local_indexes,
        lsis,
    );

    let sse = t
        .sse_description()
        .and_then(|s| s.status())
        .is_some_and(|s| matches!(s.as_str(), "ENABLED" | "ENABLING"));
    if sse != spec.sse {
        drift(
            report,
            id,
            "SSESpecification.SSEEnabled",
            spec.sse.to_string(),
            sse.to_string(),
        );
    }
    let stream = t
        .stream_specification()
        .filter(|s| s.stream_enabled())
        .and_then(|s| s.stream_view_type())
        .map(|v| v.as_str().to_string());
    if stream != spec.stream_view_type {
        drift(
            report,
            id,
            "StreamSpecification.StreamViewType",
            or_none(spec.stream_view_type.as_deref().unwrap_or("")),
            or_none(stream.as_deref().unwrap_or("")),
        );
    }

    let ttl = client
        .describe_time_to_live()
        .table_name(&spec.name)
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "DescribeTimeToLive", e))?
        .time_to_live_description;
    let live_ttl = ttl
        .filter(|d| d.time_to_live_status == Some(ddb::TimeToLiveStatus::Enabled))
        .and_then(|d| d.attribute_name);
    if live_ttl != spec.ttl_attribute {
        drift(
            report,
            id,
            "TimeToLiveSpecification",
            or_none(spec.ttl_attribute.as_deref().unwrap_or("")),
            or_none(live_ttl.as_deref().unwrap_or("")),
        );
    }
    let pitr = client
        .describe_continuous_backups()
        .table_name(&spec.name)
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "DescribeContinuousBackups", e))?
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        .is_some_and(|s| s.as_str() == "ENABLED");
    if pitr != spec.point_in_time_recovery {
        drift(
            report,
            id,
            "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",
            spec.point_in_time_recovery.to_string(),
            pitr.to_string(),
        );
    }
    Ok(table_physical(
        &spec.name,
        t.table_arn().map(str::to_string),
        t.latest_stream_arn().map(str::to_string),
    ))
}

// ---------------------------------------------------------------------------------------------
// SQS

fn queue_physical(url: &str, arn: &str, name: &str) -> Physical {
    Physical {
        reference: url.to_string(),
        attributes: [
            ("Arn".to_string(), arn.to_string()),
            ("QueueName".to_string(), name.to_string()),
            ("QueueUrl".to_string(), url.to_string()),
        ]
        .into(),
    }
}

async fn queue_url(
    client: &aws_sdk_sqs::Client,
    id: &str,
    name: &str,
) -> LocalResult<Option<String>> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(LocalError::aws(id, "GetQueueUrl", e)),
    }
}

async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    id: &str,
    spec: &QueueSpec,
) -> LocalResult<Physical> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let url = match queue_url(client, id, &spec.name).await? {
        Some(url) => {
            // SQS refuses CreateQueue with different attributes; converge them instead.
            let attrs: std::collections::HashMap<QueueAttributeName, String> = spec
                .attributes
                .iter()
                .filter(|(k, _)| k.as_str() != "FifoQueue")
                .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
                .collect();
            if !attrs.is_empty() {
                client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attrs))
                    .send()
                    .await
                    .map_err(|e| LocalError::aws(id, "SetQueueAttributes", e))?;
            }
            tracing::info!(resource = id, queue = %spec.name, "queue exists; attributes applied");
            url
        }
        None => {
            let mut req = client.create_queue().queue_name(&spec.name);
            for (k, v) in &spec.attributes {
                req = req.attributes(QueueAttributeName::from(k.as_str()), v);
            }
            for (k, v) in &spec.tags {
                req = req.tags(k, v);
            }
            let out = req
                .send()
                .await
                .map_err(|e| LocalError::aws(id, "CreateQueue", e))?;
            tracing::info!(resource = id, queue = %spec.name, "queue created");
            out.queue_url
                .ok_or_else(|| LocalError::template(format!("{id}: CreateQueue returned no URL")))?
        }
    };
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_else(|| spec.arn());
    Ok(queue_physical(&url, &arn, &spec.name))
}

/// SQS's values for attributes a template may leave out, so leaving one out is checked too.
const QUEUE_DEFAULTS: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
];

/// Flatten a JSON document to `path -> scalar text`, so policies compare key by key and
/// `3` equals `"3"` (SQS returns numbers in policies either way).
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| flatten(&format!("{prefix}.{k}"), v, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&format!("{prefix}[{i}]"), v, out)),
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn compare_json_attribute(
    report: &mut VerifyReport,
    id: &str,
    name: &str,
    expected: &str,
    actual: &str,
) {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.to_string()));
    let (mut want, mut have) = (BTreeMap::new(), BTreeMap::new());
    flatten(name, &parse(expected), &mut want);
    flatten(name, &parse(actual), &mut have);
    for (k, w) in &want {
        match have.get(k) {
            Some(h) if h == w => {}
            Some(h) => drift(report, id, k.clone(), w.clone(), h.clone()),
            None => drift(report, id, k.clone(), w.clone(), "(none)"),
        }
    }
    for (k, h) in &have {
        if !want.contains_key(k) {
            drift(report, id, k.clone(), "(none)", h.clone());
        }
    }
}

async fn check_queue(
    client: &aws_sdk_sqs::Client,
    id: &str,
    spec: &QueueSpec,
    report: &mut VerifyReport,
) -> LocalResult<Physical> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let Some(url) = queue_url(client, id, &spec.name).await? else {
        drift(
            report,
            id,
            format!("queue {}", spec.name),
            "exists",
            "missing",
        );
        return Ok(queue_physical("", &spec.arn(), &spec.name));
    };
    let live: BTreeMap<String, String> = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "GetQueueAttributes", e))?
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect();
    let mut expected = spec.attributes.clone();
    for (k, v) in QUEUE_DEFAULTS {
        expected
            .entry(k.to_string())
            .or_insert_with(|| v.to_string());
    }
    for (name, want) in &expected {
        let have = match live.get(name) {
            Some(v) => Some(v.clone()),
            // "All" may leave out an attribute the server does not keep; ask for it by name,
            // and tell "not supported here" apart from "not set".
            None => match client
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::from(name.as_str()))
                .send()
                .await
            {
                Ok(out) => out
                    .attributes
                    .and_then(|mut a| a.remove(&QueueAttributeName::from(name.as_str()))),
                Err(e) if e.code() == Some("InvalidAttributeName") => {
                    report
                        .unverifiable
                        .push(format!("{id} {name}: the endpoint does not support it"));
                    continue;
                }
                Err(e) => return Err(LocalError::aws(id, "GetQueueAttributes", e)),
            },
        };
        let Some(have) = have else {
            drift(report, id, name.clone(), want.clone(), "(none)");
            continue;
        };
        if QUEUE_JSON_ATTRIBUTES.contains(&name.as_str()) {
            compare_json_attribute(report, id, name, want, &have);
        } else if !want.eq_ignore_ascii_case(&have) {
            drift(report, id, name.clone(), want.clone(), have);
        }
    }
    if !expected.contains_key("RedrivePolicy") {
        if let Some(have) = live.get("RedrivePolicy") {
            drift(report, id, "RedrivePolicy", "(none)", have.clone());
        }
    }
    let arn = live.get("QueueArn").cloned().unwrap_or_else(|| spec.arn());
    Ok(queue_physical(&url, &arn, &spec.name))
}

// ---------------------------------------------------------------------------------------------
// EventBridge

fn bus_physical(name: &str, arn: &str) -> Physical {
    Physical {
        reference: name.to_string(),
        attributes: [
            ("Arn".to_string(), arn.to_string()),
            ("Name".to_string(), name.to_string()),
        ]
        .into(),
    }
}

async fn ensure_bus(
    client: &aws_sdk_eventbridge::Client,
    id: &str,
    spec: &BusSpec,
) -> LocalResult<Physical> {
    match client.describe_event_bus().name(&spec.name).send().await {
        Ok(out) => {
            tracing::info!(resource = id, bus = %spec.name, "event bus exists");
            return Ok(bus_physical(&spec.name, out.arn().unwrap_or(&spec.arn())));
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(LocalError::aws(id, "DescribeEventBus", e)),
    }
    let mut req = client
        .create_event_bus()
        .name(&spec.name)
        .set_description(spec.description.clone());
    for (k, v) in &spec.tags {
        req = req.tags(
            aws_sdk_eventbridge::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_err(id, e))?,
        );
    }
    let out = req
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "CreateEventBus", e))?;
    tracing::info!(resource = id, bus = %spec.name, "event bus created");
    Ok(bus_physical(
        &spec.name,
        out.event_bus_arn().unwrap_or(&spec.arn()),
    ))
}

async fn check_bus(
    client: &aws_sdk_eventbridge::Client,
    id: &str,
    spec: &BusSpec,
    report: &mut VerifyReport,
) -> LocalResult<Physical> {
    match client.describe_event_bus().name(&spec.name).send().await {
        Ok(out) => {
            if let Some(want) = &spec.description {
                let have = out.description().unwrap_or_default();
                if want != have {
                    drift(report, id, "Description", want.clone(), or_none(have));
                }
            }
            Ok(bus_physical(&spec.name, out.arn().unwrap_or(&spec.arn())))
        }
        Err(e) if is_not_found(&e) => {
            drift(
                report,
                id,
                format!("event bus {}", spec.name),
                "exists",
                "missing",
            );
            Ok(bus_physical(&spec.name, &spec.arn()))
        }
        Err(e) => Err(LocalError::aws(id, "DescribeEventBus", e)),
    }
}

fn rule_physical(spec: &RuleSpec) -> Physical {
    Physical {
        reference: spec.name.clone(),
        attributes: [("Arn".to_string(), spec.arn())].into(),
    }
}

/// Puts the rule and its targets (both idempotent: a rule that exists gets the template's
/// pattern and targets again).
async fn ensure_rule(
    client: &aws_sdk_eventbridge::Client,
    id: &str,
    spec: &RuleSpec,
) -> LocalResult<Physical> {
    use aws_sdk_eventbridge::types::{RuleState, Target};
    client
        .put_rule()
        .name(&spec.name)
        .event_bus_name(&spec.bus)
        .event_pattern(&spec.pattern)
        .state(if spec.enabled {
            RuleState::Enabled
        } else {
            RuleState::Disabled
        })
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "PutRule", e))?;
    let mut req = client
        .put_targets()
        .rule(&spec.name)
        .event_bus_name(&spec.bus);
    for (tid, arn) in &spec.targets {
        req = req.targets(
            Target::builder()
                .id(tid)
                .arn(arn)
                .build()
                .map_err(|e| build_err(id, e))?,
        );
    }
    req.send()
        .await
        .map_err(|e| LocalError::aws(id, "PutTargets", e))?;
    tracing::info!(resource = id, rule = %spec.name, bus = %spec.bus, "event rule put");
    Ok(rule_physical(spec))
}

async fn check_rule(
    client: &aws_sdk_eventbridge::Client,
    id: &str,
    spec: &RuleSpec,
    report: &mut VerifyReport,
) -> LocalResult<Physical> {
    match client
        .list_targets_by_rule()
        .rule(&spec.name)
        .event_bus_name(&spec.bus)
        .send()
        .await
    {
        Ok(out) => {
            let have: BTreeSet<String> = out.targets().iter().map(|t| t.arn().to_owned()).collect();
            let want: BTreeSet<String> = spec.targets.iter().map(|(_, a)| a.clone()).collect();
            if have != want {
                drift(
                    report,
                    id,
                    "Targets",
                    format!("{want:?}"),
                    format!("{have:?}"),
                );
            }
        }
        Err(e) if is_not_found(&e) => drift(
            report,
            id,
            format!("event rule {}", spec.name),
            "exists",
            "missing",
        ),
        Err(e) => return Err(LocalError::aws(id, "ListTargetsByRule", e)),
    }
    Ok(rule_physical(spec))
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager

fn secret_physical(name: &str, arn: &str) -> Physical {
    Physical {
        // `Ref` of a secret is its ARN.
        reference: arn.to_string(),
        attributes: [
            ("Id".to_string(), arn.to_string()),
            ("Name".to_string(), name.to_string()),
        ]
        .into(),
    }
}

async fn ensure_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    spec: &SecretSpec,
) -> LocalResult<Physical> {
    match client.describe_secret().secret_id(&spec.name).send().await {
        Ok(out) => {
            // Never regenerate: tokens hashed with the old key would stop verifying.
            tracing::info!(resource = id, secret = %spec.name, "secret exists; value kept");
            return Ok(secret_physical(&spec.name, out.arn().unwrap_or_default()));
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(LocalError::aws(id, "DescribeSecret", e)),
    }
    let value = match &spec.source {
        SecretSource::Literal(v) => Some(v.clone()),
        SecretSource::Generate(g) => Some(g.generate(id)?),
        SecretSource::Empty => None,
    };
    let mut req = client
        .create_secret()
        .name(&spec.name)
        .set_description(spec.description.clone())
        .set_kms_key_id(spec.kms_key_id.clone())
        .set_secret_string(value.map(|v| v.expose_secret().to_string()));
    for (k, v) in &spec.tags {
        req = req.tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(k)
                .value(v)
                .build(),
        );
    }
    let out = req
        .send()
        .await
        .map_err(|e| LocalError::aws(id, "CreateSecret", e))?;
    tracing::info!(resource = id, secret = %spec.name, "secret created");
    Ok(secret_physical(&spec.name, out.arn().unwrap_or_default()))
}

async fn check_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    spec: &SecretSpec,
    report: &mut VerifyReport,
) -> LocalResult<Physical> {
    match client.describe_secret().secret_id(&spec.name).send().await {
        Ok(out) => {
            if let Some(want) = &spec.description {
                let have = out.description().unwrap_or_default();
                if want != have {
                    drift(report, id, "Description", want.clone(), or_none(have));
                }
            }
            let has_value = out
                .version_ids_to_stages()
                .is_some_and(|m| m.values().any(|s| s.iter().any(|s| s == "AWSCURRENT")));
            if !has_value && !matches!(spec.source, SecretSource::Empty) {
                drift(report, id, "SecretString", "a current value", "(none)");
            }
            Ok(secret_physical(&spec.name, out.arn().unwrap_or_default()))
        }
        Err(e) if is_not_found(&e) => {
            drift(
                report,
                id,
                format!("secret {}", spec.name),
                "exists",
                "missing",
            );
            Ok(secret_physical(&spec.name, ""))
        }
        Err(e) => Err(LocalError::aws(id, "DescribeSecret", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn plan_puts_dead_letter_queues_first() {
        let t = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
            .unwrap();
        let order: Vec<&str> = plan(&t)
            .unwrap()
            .iter()
            .map(|(r, _)| r.logical_id.as_str())
            .collect();
        let pos = |id: &str| order.iter().position(|x| *x == id).unwrap();
        assert!(pos("SyncJobsDLQ") < pos("SyncJobsQueue"));
        assert!(pos("WriteOpsDLQ") < pos("WriteOpsQueue"));
        assert!(pos("RefreshJobsDLQ") < pos("RefreshJobsQueue"));
        assert!(pos("SubscriptionDeliveriesDLQ") < pos("SubscriptionDeliveriesQueue"));
        // The pattern rule after its bus and its target queue.
        assert!(pos("SubscriptionDeliveriesQueue") < pos("SubscriptionEventsRule"));
        assert!(pos("EventBus") < pos("SubscriptionEventsRule"));
        assert_eq!(order.len(), 12);
    }

    #[test]
    fn plan_reports_cycles_and_unprovisioned_references() {
        let queue =
            |name: Value| json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}});
        let t = Template::from_json(json!({"Resources": {
            "A": queue(json!({"Fn::GetAtt": ["B", "QueueName"]})),
            "B": queue(json!({"Fn::GetAtt": ["A", "QueueName"]})),
        }}))
        .unwrap();
        assert!(plan(&t).unwrap_err().to_string().contains("circular"));
        let t = Template::from_json(json!({"Resources": {
            "A": queue(json!({"Ref": "F"})),
            "F": {"Type": "AWS::Lambda::Function"},
        }}))
        .unwrap();
        assert!(plan(&t)
            .unwrap_err()
            .to_string()
            .contains("does not provision"));
    }

    #[test]
    fn stack_names_are_checked() {
        assert!(validate_stack_name("pms-local").is_ok());
        assert!(validate_stack_name("t-0a1b2c3d").is_ok());
        for bad in ["", "1abc", "a_b", "a b", &"a".repeat(65)] {
            assert!(validate_stack_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_attributes_compare_key_by_key() {
        let mut r = VerifyReport::default();
        compare_json_attribute(
            &mut r,
            "Q",
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:d","maxReceiveCount":5}"#,
            r#"{"deadLetterTargetArn": "arn:d", "maxReceiveCount": "3"}"#,
        );
        assert_eq!(
            r.drifts,
            vec![Drift {
                resource: "Q".into(),
                property: "RedrivePolicy.maxReceiveCount".into(),
                expected: "5".into(),
                actual: "3".into(),
            }]
        );
        let mut r = VerifyReport::default();
        compare_json_attribute(
            &mut r,
            "Q",
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:d","maxReceiveCount":3}"#,
            r#"{"maxReceiveCount":"3","deadLetterTargetArn":"arn:d"}"#,
        );
        assert!(r.drifts.is_empty());
    }
}
