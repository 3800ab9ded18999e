//! The item store over one DynamoDB table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnValuesOnConditionCheckFailure,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::StreamExt;
use rand::RngExt;

use super::attr::{from_attr, to_attr};
use super::errors::port_error;
use pms_domain::ports::store::cursor;
use pms_domain::ports::{
    Clock, Condition, Index, IndexKeys, Item, ItemKey, ItemStore, KeyCondition, Page, Partition,
    PortError, PortResult, PutOutcome, Query, Service,
};

const SERVICE: Service = Service::DynamoDb;
/// BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys.
const WRITE_BATCH: usize = 25;
const GET_BATCH: usize = 100;
/// Attempts for unprocessed items before giving up with a retryable error.
const UNPROCESSED_ATTEMPTS: u32 = 8;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    pub fn from_config(
        config: &aws_config::SdkConfig,
        table: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::new(Client::new(config), table, clock)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key_attrs(key: &ItemKey) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(key.partition.key())),
            ("sk".to_owned(), AttributeValue::S(key.sort.clone())),
        ])
    }

    fn now(&self) -> i64 {
        self.clock.epoch_seconds()
    }
}

/// The DynamoDB attributes an item is stored as (benchmarks write the same items raw).
pub fn to_attrs(item: &Item) -> HashMap<String, AttributeValue> {
    let mut m = DynamoStore::key_attrs(&item.key);
    m.insert("ver".into(), AttributeValue::N(item.version.to_string()));
    if let Some(h) = &item.hash {
        m.insert("hash".into(), AttributeValue::S(h.clone()));
    }
    if let Some(t) = item.expires_at {
        m.insert("expires_at".into(), AttributeValue::N(t.to_string()));
    }
    let pk = item.key.partition.key();
    let IndexKeys {
        by_arrival,
        by_departure,
        lookup,
    } = &item.index;
    if let Some(sk) = by_arrival {
        m.insert("gsi1pk".into(), AttributeValue::S(pk.clone()));
        m.insert("gsi1sk".into(), AttributeValue::S(sk.clone()));
    }
    if let Some(sk) = by_departure {
        m.insert("gsi2pk".into(), AttributeValue::S(pk.clone()));
        m.insert("gsi2sk".into(), AttributeValue::S(sk.clone()));
    }
    if let Some((p, sk)) = lookup {
        m.insert("gsi3pk".into(), AttributeValue::S(p.key()));
        m.insert("gsi3sk".into(), AttributeValue::S(sk.clone()));
    }
    m.insert("data".into(), to_attr(&item.data));
    m
}

fn corrupt(message: impl Into<String>) -> PortError {
    PortError::Corrupt {
        service: SERVICE,
        message: message.into(),
    }
}

fn s<'a>(m: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn n(m: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    m.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn from_attrs(m: &HashMap<String, AttributeValue>) -> PortResult<Item> {
    let pk = s(m, "pk").ok_or_else(|| corrupt("item without pk"))?;
    let partition =
        Partition::parse(pk).ok_or_else(|| corrupt(format!("unknown partition {pk}")))?;
    let sort = s(m, "sk")
        .ok_or_else(|| corrupt("item without sk"))?
        .to_owned();
    let lookup = match (s(m, "gsi3pk"), s(m, "gsi3sk")) {
        (Some(p), Some(k)) => Some((
            Partition::parse(p).ok_or_else(|| corrupt(format!("unknown lookup partition {p}")))?,
            k.to_owned(),
        )),
        _ => None,
    };
    let data = match m.get("data") {
        Some(d) => from_attr(d).map_err(corrupt)?,
        None => serde_json::Value::Null,
    };
    Ok(Item {
        key: ItemKey { partition, sort },
        version: n(m, "ver").unwrap_or(0).max(0) as u64,
        hash: s(m, "hash").map(str::to_owned),
        expires_at: n(m, "expires_at"),
        index: IndexKeys {
            by_arrival: s(m, "gsi1sk").map(str::to_owned),
            by_departure: s(m, "gsi2sk").map(str::to_owned),
            lookup,
        },
        data,
    })
}

/// A condition as a DynamoDB expression with its names and values.
struct Expr {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn condition_expr(item: &Item, condition: &Condition, now: i64) -> Option<Expr> {
    // `hash` and `data` are DynamoDB reserved words, so every attribute goes through a name.
    let mut names = HashMap::from([("#pk".to_owned(), "pk".to_owned())]);
    let mut values = HashMap::new();
    let text = match condition {
        Condition::Always => return None,
        Condition::IfAbsent => "attribute_not_exists(#pk)".to_owned(),
        Condition::IfAbsentOrExpired => {
            names.insert("#exp".into(), "expires_at".into());
            values.insert(":now".into(), AttributeValue::N(now.to_string()));
            "attribute_not_exists(#pk) OR #exp <= :now".to_owned()
        }
        Condition::IfNewer => {
            names.insert("#ver".into(), "ver".into());
            names.insert("#hash".into(), "hash".into());
            values.insert(":ver".into(), AttributeValue::N(item.version.to_string()));
            values.insert(
                ":hash".into(),
                AttributeValue::S(item.hash.clone().unwrap_or_default()),
            );
            "attribute_not_exists(#pk) OR #ver < :ver OR (#ver = :ver AND (attribute_not_exists(#hash) OR #hash <> :hash))".to_owned()
        }
        Condition::IfUnchanged => {
            names.insert("#ver".into(), "ver".into());
            names.insert("#hash".into(), "hash".into());
            values.insert(":ver".into(), AttributeValue::N(item.version.to_string()));
            values.insert(
                ":hash".into(),
                AttributeValue::S(item.hash.clone().unwrap_or_default()),
            );
            "attribute_exists(#pk) AND #ver = :ver AND #hash = :hash".to_owned()
        }
        Condition::IfDataEquals { field, value } => {
            names.insert("#data".into(), "data".into());
            names.insert("#f".into(), field.clone());
            values.insert(":v".into(), to_attr(value));
            "attribute_exists(#pk) AND #data.#f = :v".to_owned()
        }
    };
    Some(Expr {
        text,
        names,
        values,
    })
}

async fn backoff(attempt: u32) {
    // Full jitter over an exponential ceiling, as AWS recommends for unprocessed batch items.
    let ceiling = 50u64 * 2u64.pow(attempt.min(6));
    let wait = rand::rng().random_range(0..=ceiling);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

impl DynamoStore {
    async fn get_item(&self, key: &ItemKey, consistent: bool) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        let now = self.now();
        match out.item() {
            Some(m) => {
                let item = from_attrs(m)?;
                Ok((!item.is_expired(now)).then_some(item))
            }
            None => Ok(None),
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.get_item(key, true).await
    }

    async fn get_eventual(&self, key: &ItemKey) -> PortResult<Option<Item>> {
        self.get_item(key, false).await
    }

    async fn put(&self, item: Item, condition: Condition) -> PortResult<PutOutcome> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)));
        if let Some(expr) = condition_expr(&item, &condition, self.now()) {
            req = req
                .condition_expression(expr.text)
                .set_expression_attribute_names(Some(expr.names))
                .set_expression_attribute_values((!expr.values.is_empty()).then_some(expr.values))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Applied),
            Err(e) => {
                if let Some(svc) = e.as_service_error() {
                    if svc.is_conditional_check_failed_exception() {
                        let existing = match svc {
                            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                                c.item().map(from_attrs).transpose()?
                            }
                            _ => None,
                        };
                        return Ok(PutOutcome::Rejected {
                            existing: existing.map(Box::new),
                        });
                    }
                }
                Err(port_error(SERVICE, e))
            }
        }
    }

    async fn delete(&self, key: &ItemKey) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        Ok(())
    }

    async fn batch_get(&self, keys: &[ItemKey]) -> PortResult<Vec<Item>> {
        let now = self.now();
        let mut unique: Vec<&ItemKey> = Vec::with_capacity(keys.len());
        // BatchGetItem refuses duplicate keys in one request.
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            if seen.insert(k) {
                unique.push(k);
            }
        }
        let mut out = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(GET_BATCH) {
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|k| Self::key_attrs(k)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| PortError::Rejected {
                        service: SERVICE,
                        message: e.to_string(),
                    })?;
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| port_error(SERVICE, e))?;
                if let Some(items) = resp.responses().and_then(|r| r.get(&self.table)) {
                    for m in items {
                        let item = from_attrs(m)?;
                        if !item.is_expired(now) {
                            out.push(item);
                        }
                    }
                }
                if let Some(rest) = resp.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    pending = rest.keys().to_vec();
                }
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt >= UNPROCESSED_ATTEMPTS {
                        return Err(PortError::Throttled {
                            service: SERVICE,
                            message: format!("{} keys still unprocessed", pending.len()),
                        });
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(out)
    }

    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        // Last write wins within one call: BatchWriteItem refuses two requests for one key.
        let mut by_key: BTreeMap<ItemKey, Item> = BTreeMap::new();
        for item in items {
            by_key.insert(item.key.clone(), item);
        }
        let requests: Vec<WriteRequest> = by_key
            .values()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(to_attrs(item)))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| PortError::Rejected {
                service: SERVICE,
                message: e.to_string(),
            })?;
        let chunks: Vec<Vec<WriteRequest>> =
            requests.chunks(WRITE_BATCH).map(|c| c.to_vec()).collect();
        let results = futures::stream::iter(chunks.into_iter().map(|chunk| async move {
            let mut pending = chunk;
            let mut attempt = 0;
            while !pending.is_empty() {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| port_error(SERVICE, e))?;
                if let Some(rest) = resp.unprocessed_items().and_then(|u| u.get(&self.table)) {
                    pending = rest.clone();
                }
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt >= UNPROCESSED_ATTEMPTS {
                        return Err(PortError::Throttled {
                            service: SERVICE,
                            message: format!("{} items still unprocessed", pending.len()),
                        });
                    }
                    backoff(attempt).await;
                }
            }
            Ok(())
        }))
        .buffer_unordered(4)
        .collect::<Vec<PortResult<()>>>()
        .await;
        results.into_iter().collect()
    }

    async fn increment(
        &self,
        key: &ItemKey,
        field: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> PortResult<i64> {
        // `data` must exist as a map before a nested ADD; create it empty when absent.
        let mut names = HashMap::from([
            ("#data".to_owned(), "data".to_owned()),
            ("#f".to_owned(), field.to_owned()),
        ]);
        let mut values = HashMap::from([(":by".to_owned(), AttributeValue::N(by.to_string()))]);
        let mut set = Vec::new();
        if let Some(t) = expires_at {
            names.insert("#exp".into(), "expires_at".into());
            values.insert(":exp".into(), AttributeValue::N(t.to_string()));
            set.push("#exp = :exp");
        }
        let run = |update: String,
                   names: HashMap<String, String>,
                   values: HashMap<String, AttributeValue>,
                   cond: Option<&'static str>| {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key_attrs(key)))
                .update_expression(update)
                .set_condition_expression(cond.map(str::to_owned))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
        };
        let set_clause = if set.is_empty() {
            String::new()
        } else {
            format!(" SET {}", set.join(", "))
        };
        let first = run(
            format!("ADD #data.#f :by{set_clause}"),
            names.clone(),
            values.clone(),
            Some("attribute_exists(#data)"),
        )
        .await;
        let out = match first {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                // First use of the counter: create the map with the value, unless a concurrent
                // caller did so meanwhile, in which case the ADD path applies.
                let mut v2 = values.clone();
                v2.insert(
                    ":m".into(),
                    AttributeValue::M(HashMap::from([(
                        field.to_owned(),
                        AttributeValue::N(by.to_string()),
                    )])),
                );
                let mut set2 = vec!["#data = :m"];
                set2.extend(set.iter().copied());
                let mut n2 = names.clone();
                n2.remove("#f");
                let created = run(
                    format!("SET {}", set2.join(", ")),
                    n2,
                    {
                        v2.remove(":by");
                        v2
                    },
                    Some("attribute_not_exists(#data)"),
                )
                .await;
                match created {
                    Ok(out) => out,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        run(format!("ADD #data.#f :by{set_clause}"), names, values, None)
                            .await
                            .map_err(|e| port_error(SERVICE, e))?
                    }
                    Err(e) => return Err(port_error(SERVICE, e)),
                }
            }
            Err(e) => return Err(port_error(SERVICE, e)),
        };
        let value = out
            .attributes()
            .and_then(|a| a.get("data"))
            .and_then(|d| d.as_m().ok())
            .and_then(|m| m.get(field))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| corrupt("increment returned no value"))?;
        Ok(value)
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        let sort_attr = query.index.map(Index::sort_attribute).unwrap_or("sk");
        let mut names = HashMap::from([
            ("#p".to_owned(), query.partition_attribute().to_owned()),
            ("#exp".to_owned(), "expires_at".to_owned()),
        ]);
        let now = self.now();
        let mut values = HashMap::from([
            (":p".to_owned(), AttributeValue::S(query.partition.key())),
            (":now".to_owned(), AttributeValue::N(now.to_string())),
        ]);
        let sort_expr = match &query.key {
            // DynamoDB refuses an empty key value; every sort key begins with "".
            KeyCondition::All => None,
            KeyCondition::BeginsWith(v) if v.is_empty() => None,
            KeyCondition::Equals(v) => {
                values.insert(":s".into(), AttributeValue::S(v.clone()));
                Some("#s = :s")
            }
            KeyCondition::BeginsWith(v) => {
                values.insert(":s".into(), AttributeValue::S(v.clone()));
                Some("begins_with(#s, :s)")
            }
            KeyCondition::Between(a, b) => {
                values.insert(":a".into(), AttributeValue::S(a.clone()));
                values.insert(":b".into(), AttributeValue::S(b.clone()));
                Some("#s BETWEEN :a AND :b")
            }
        };
        let key_expr = match sort_expr {
            Some(e) => {
                names.insert("#s".into(), sort_attr.to_owned());
                format!("#p = :p AND {e}")
            }
            None => "#p = :p".to_owned(),
        };
        let mut start_key: Option<HashMap<String, AttributeValue>> = match &query.cursor {
            Some(c) => Some(
                cursor::decode(c, query)?
                    .into_iter()
                    .map(|(k, v)| (k, AttributeValue::S(v)))
                    .collect(),
            ),
            None => None,
        };
        let limit = query.limit.clamp(1, 1000) as usize;
        let mut items = Vec::with_capacity(limit);
        // Expired items are filtered server-side, so a DynamoDB page can come back short; keep
        // reading until the page is full or the partition ends.
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(|i| i.name().to_owned()))
                .key_condition_expression(&key_expr)
                .filter_expression("attribute_not_exists(#exp) OR #exp > :now")
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                .limit((limit - items.len()) as i32)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| port_error(SERVICE, e))?;
            for m in resp.items() {
                let item = from_attrs(m)?;
                if !item.is_expired(now) {
                    items.push(item);
                }
            }
            match resp.last_evaluated_key() {
                Some(lek) if !lek.is_empty() => {
                    if items.len() >= limit {
                        let key: BTreeMap<String, String> = lek
                            .iter()
                            .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
                            .collect();
                        return Ok(Page {
                            items,
                            cursor: Some(cursor::encode(&key)),
                        });
                    }
                    start_key = Some(lek.clone());
                }
                _ => {
                    return Ok(Page {
                        items,
                        cursor: None,
                    })
                }
            }
        }
    }
}
