//! A counting proxy between the functions and the AWS emulator: every DynamoDB and SQS call
//! on the message path passes through it, so that the cost model uses counted requests and
//! capacity units rather than guesses.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use tokio::net::TcpListener;

/// What one kind of call cost, e.g. `DynamoDB PutItem contexts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calls {
    pub calls: u64,
    /// DynamoDB write request units, base table and indexes (on-demand billing).
    pub write_units: f64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// SQS requests (each 64 KiB of payload is one).
    pub sqs_requests: f64,
}

impl Calls {
    fn add(&mut self, other: &Calls) {
        self.calls += other.calls;
        self.write_units += other.write_units;
        self.read_units += other.read_units;
        self.sqs_requests += other.sqs_requests;
    }
}

/// A table's physical name, its short name, and its indexes' key attributes (all KEYS_ONLY).
#[derive(Debug, Clone)]
pub struct TableIndexes {
    pub name: String,
    pub short: String,
    pub index_keys: Vec<String>,
}

#[derive(Default)]
struct Ledger {
    calls: BTreeMap<String, Calls>,
    /// The largest item put into each table, for the size of later updates and deletes.
    largest_item: HashMap<String, usize>,
}

pub struct CountingProxy {
    addr: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
}

impl CountingProxy {
    pub async fn start(upstream: &str, tables: Vec<TableIndexes>) -> Result<CountingProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let client = fchat_local::relay::client();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let tables = Arc::new(tables);
        let shared = ledger.clone();
        fchat_loopback::spawn(listener, move |request, _peer| {
            forward(
                request,
                client.clone(),
                upstream.clone(),
                tables.clone(),
                shared.clone(),
            )
        });
        Ok(CountingProxy { addr, ledger })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What has been counted since the last call, by kind of call; the counts restart.
    pub fn take(&self) -> BTreeMap<String, Calls> {
        std::mem::take(&mut self.ledger.lock().expect("ledger").calls)
    }
}

/// The totals of a set of counted calls.
pub fn total(calls: &BTreeMap<String, Calls>) -> Calls {
    let mut sum = Calls::default();
    for c in calls.values() {
        sum.add(c);
    }
    sum
}

async fn forward(
    request: Request<Incoming>,
    client: fchat_local::relay::Client,
    upstream: String,
    tables: Arc<Vec<TableIndexes>>,
    ledger: Arc<Mutex<Ledger>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (answer_parts, answer_body) =
        fchat_local::relay::relay(&client, &upstream, &parts, body.clone()).await?;
    if answer_parts.status.is_success() {
        let mut ledger = ledger.lock().expect("ledger");
        let (mut kind, calls) = account(&target, &body, &tables, &mut ledger.largest_item);
        if kind == "SQS ReceiveMessage" && !contains(&answer_body, b"\"Messages\"") {
            kind.push_str(" (empty)");
        }
        ledger.calls.entry(kind).or_default().add(&calls);
    }
    Ok(Response::from_parts(answer_parts, Full::new(answer_body)))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The kind of a call and what it costs, by DynamoDB's and SQS's billing rules:
/// - a write costs one unit per KiB of the item (the larger of before and after; the item's
///   size is estimated from the largest item put into that table), plus one unit for each
///   KEYS_ONLY index whose key it sets or removes;
/// - a read costs one unit per 4 KiB, half for an eventually consistent one; an index query
///   is always eventually consistent;
/// - an SQS request costs one request per 64 KiB of payload.
fn account(
    target: &str,
    body: &[u8],
    tables: &[TableIndexes],
    largest_item: &mut HashMap<String, usize>,
) -> (String, Calls) {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (service, operation) = target.split_once('.').unwrap_or(("other", target));
    if service.starts_with("AmazonSQS") {
        let chunks = (body.len() as f64 / 65_536.0).ceil().max(1.0);
        let calls = Calls {
            calls: 1,
            sqs_requests: chunks,
            ..Default::default()
        };
        return (format!("SQS {operation}"), calls);
    }
    let table_name = json["TableName"].as_str().unwrap_or("");
    let table = tables.iter().find(|t| t.name == table_name);
    let short = table.map(|t| t.short.as_str()).unwrap_or(table_name);
    let kind = format!("DynamoDB {operation} {short}");
    let mut calls = Calls {
        calls: 1,
        ..Default::default()
    };
    match operation {
        "PutItem" => {
            let size = item_size(&json["Item"]);
            let largest = largest_item.entry(short.to_owned()).or_default();
            *largest = (*largest).max(size);
            calls.write_units = kib_units(size, 1024);
            if let Some(t) = table {
                calls.write_units += t
                    .index_keys
                    .iter()
                    .filter(|key| json["Item"].get(key.as_str()).is_some())
                    .count() as f64;
            }
        }
        "UpdateItem" | "DeleteItem" => {
            let size = largest_item.get(short).copied().unwrap_or(0);
            calls.write_units = kib_units(size, 1024);
            // Deletes are off the message path; an update pays for the indexes it touches.
            if let (Some(t), "UpdateItem") = (table, operation) {
                let expression = resolved_update_expression(&json);
                calls.write_units += t
                    .index_keys
                    .iter()
                    .filter(|key| mentions(&expression, key.as_str()))
                    .count() as f64;
            }
        }
        "GetItem" => {
            let consistent = json["ConsistentRead"].as_bool().unwrap_or(false);
            let size = largest_item.get(short).copied().unwrap_or(0);
            calls.read_units = kib_units(size, 4096) * if consistent { 1.0 } else { 0.5 };
        }
        "Query" => {
            let consistent = json["ConsistentRead"].as_bool().unwrap_or(false);
            calls.read_units = if consistent { 1.0 } else { 0.5 };
        }
        _ => {}
    }
    (kind, calls)
}

fn kib_units(size: usize, unit: usize) -> f64 {
    (size.max(1) as f64 / unit as f64).ceil()
}

/// An update's expression with `#names` replaced by the attribute names they stand for.
fn resolved_update_expression(request: &Value) -> String {
    let mut expression = request["UpdateExpression"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if let Some(names) = request["ExpressionAttributeNames"].as_object() {
        // Longest placeholders first, so that `#s` does not eat into `#st`.
        let mut names: Vec<(&String, &Value)> = names.iter().collect();
        names.sort_by_key(|(placeholder, _)| std::cmp::Reverse(placeholder.len()));
        for (placeholder, name) in names {
            expression = expression.replace(placeholder.as_str(), name.as_str().unwrap_or(""));
        }
    }
    expression
}

fn mentions(expression: &str, attribute: &str) -> bool {
    expression
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == attribute)
}

/// DynamoDB's item size: attribute names plus values (strings as UTF-8, numbers about one
/// byte per two digits, one byte per boolean or null, three bytes per map or list).
fn item_size(item: &Value) -> usize {
    item.as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| name.len() + value_size(value))
                .sum()
        })
        .unwrap_or(0)
}

fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" | "B" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, |n| n.len().div_ceil(2) + 1),
        "BOOL" | "NULL" => 1,
        "M" => 3 + item_size(inner),
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |items| items.iter().map(|v| 1 + value_size(v)).sum())
        }
        "SS" | "NS" | "BS" => inner.as_array().map_or(0, |items| {
            items.iter().filter_map(Value::as_str).map(str::len).sum()
        }),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contexts() -> Vec<TableIndexes> {
        vec![TableIndexes {
            name: "stack-contexts".into(),
            short: "contexts".into(),
            index_keys: vec!["fchat_message_id".into()],
        }]
    }

    #[test]
    fn writes_cost_a_unit_per_kib_and_one_per_index_key_they_set() {
        let tables = contexts();
        let mut largest = HashMap::new();
        let put = json!({"TableName": "stack-contexts", "Item": {"id": {"S": "c1"}, "text": {"S": "x".repeat(1500)}}});
        let (kind, calls) = account(
            "DynamoDB_20120810.PutItem",
            put.to_string().as_bytes(),
            &tables,
            &mut largest,
        );
        assert_eq!(kind, "DynamoDB PutItem contexts");
        assert_eq!(calls.write_units, 2.0);

        let lease = json!({"TableName": "stack-contexts", "UpdateExpression": "SET #st = :s", "ExpressionAttributeNames": {"#st": "status"}});
        let (_, calls) = account(
            "DynamoDB_20120810.UpdateItem",
            lease.to_string().as_bytes(),
            &tables,
            &mut largest,
        );
        assert_eq!(calls.write_units, 2.0);

        let sent = json!({"TableName": "stack-contexts", "UpdateExpression": "SET #st = :s, fchat_message_id = :m"});
        let (_, calls) = account(
            "DynamoDB_20120810.UpdateItem",
            sent.to_string().as_bytes(),
            &tables,
            &mut largest,
        );
        assert_eq!(calls.write_units, 3.0);
    }

    #[test]
    fn reads_cost_half_a_unit_when_eventually_consistent() {
        let tables = contexts();
        let mut largest = HashMap::new();
        let get = json!({"TableName": "stack-contexts", "Key": {"id": {"S": "c1"}}});
        let (_, calls) = account(
            "DynamoDB_20120810.GetItem",
            get.to_string().as_bytes(),
            &tables,
            &mut largest,
        );
        assert_eq!(calls.read_units, 0.5);
        let get = json!({"TableName": "stack-contexts", "ConsistentRead": true});
        let (_, calls) = account(
            "DynamoDB_20120810.GetItem",
            get.to_string().as_bytes(),
            &tables,
            &mut largest,
        );
        assert_eq!(calls.read_units, 1.0);
    }

    #[test]
    fn sqs_requests_count_per_64_kib() {
        let (kind, calls) = account(
            "AmazonSQS.SendMessage",
            &[b'x'; 70_000],
            &[],
            &mut HashMap::new(),
        );
        assert_eq!(kind, "SQS SendMessage");
        assert_eq!(calls.sqs_requests, 2.0);
    }
}
