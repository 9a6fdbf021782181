//! What an AWS request asks for, in IAM's terms: who signed it (the access key of its SigV4
//! `Authorization`), its protocol, and each action and resource it needs allowed.
//!
//! DynamoDB, SSM and SQS (the SDK's JSON protocol, `X-Amz-Target: Service.Operation`, and
//! SQS's older query protocol, `Action=...` in a form) are read; a resource is what IAM
//! authorizes the operation on (the service authorization reference): a table or one of its
//! indexes, a queue, a parameter. A batch or transaction needs each of its items' actions on
//! each of their tables. An operation on no resource (`ListTables`, `ListQueues`) is `*`.

use serde_json::Value;

use super::policy::{parameter_arn, queue_arn, table_arn};

/// The wire protocol of a request, which decides how a refusal is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// DynamoDB: JSON 1.0, `com.amazon.coral.service#` error types.
    DynamoDb,
    /// SSM: JSON 1.1.
    Ssm,
    /// SQS on JSON 1.0 (query-compatible error codes).
    SqsJson,
    /// SQS's query protocol: a form in, XML out.
    SqsQuery,
    /// Anything else: answered as JSON.
    Other,
}

/// One request, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub protocol: Protocol,
    pub access_key: Option<String>,
    /// The operation's name, e.g. `PutItem`.
    pub operation: String,
    /// Each `(service:Action, resource ARN)` that must be allowed.
    pub needs: Vec<(String, String)>,
}

/// The access key id in a SigV4 `Authorization` header.
pub fn access_key(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    let key = credential.split('/').next()?.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// Reads a request from its `X-Amz-Target`, `Authorization` and body.
pub fn classify(target: Option<&str>, authorization: Option<&str>, body: &[u8]) -> Call {
    let access_key = authorization.and_then(access_key);
    match target.and_then(|t| t.split_once('.')) {
        Some((prefix, operation)) => {
            let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let (protocol, needs) = if prefix.starts_with("DynamoDB_") {
                (Protocol::DynamoDb, dynamodb(operation, &json))
            } else if prefix == "AmazonSSM" {
                (Protocol::Ssm, ssm(operation, &json))
            } else if prefix == "AmazonSQS" {
                let queue = json.get("QueueUrl").and_then(Value::as_str);
                let name = json.get("QueueName").and_then(Value::as_str);
                (Protocol::SqsJson, sqs(operation, queue, name))
            } else {
                (
                    Protocol::Other,
                    vec![(format!("{prefix}:{operation}"), "*".to_owned())],
                )
            };
            Call {
                protocol,
                access_key,
                operation: operation.to_owned(),
                needs,
            }
        }
        None => {
            let form: Vec<(String, String)> = url_form(body);
            let field = |name: &str| {
                form.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let operation = field("Action").unwrap_or("").to_owned();
            let needs = sqs(&operation, field("QueueUrl"), field("QueueName"));
            Call {
                protocol: Protocol::SqsQuery,
                access_key,
                operation,
                needs,
            }
        }
    }
}

fn url_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(key), decode(value)))
        })
        .collect()
}

/// A table's ARN from a `TableName`, which may be the ARN itself.
fn table(name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_owned()
    } else {
        table_arn(name)
    }
}

fn dynamodb(operation: &str, body: &Value) -> Vec<(String, String)> {
    let action = |op: &str| format!("dynamodb:{op}");
    let tables_of = |field: &str| -> Vec<String> {
        body.get(field)
            .and_then(Value::as_object)
            .map(|items| items.keys().map(|t| table(t)).collect())
            .unwrap_or_default()
    };
    match operation {
        "BatchGetItem" | "BatchWriteItem" => tables_of("RequestItems")
            .into_iter()
            .map(|t| (action(operation), t))
            .collect(),
        "TransactWriteItems" | "TransactGetItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.iter().next())
            .map(|(kind, inner)| {
                let op = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    _ => "GetItem",
                };
                let name = inner.get("TableName").and_then(Value::as_str).unwrap_or("");
                (action(op), table(name))
            })
            .collect(),
        _ => {
            let resource = match body.get("TableName").and_then(Value::as_str) {
                Some(name) => match body.get("IndexName").and_then(Value::as_str) {
                    Some(index) => format!("{}/index/{index}", table(name)),
                    None => table(name),
                },
                None => "*".to_owned(),
            };
            vec![(action(operation), resource)]
        }
    }
}

fn ssm(operation: &str, body: &Value) -> Vec<(String, String)> {
    let action = format!("ssm:{operation}");
    let mut names: Vec<String> = body
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for field in ["Name", "Path"] {
        if let Some(name) = body.get(field).and_then(Value::as_str) {
            names.push(name.to_owned());
        }
    }
    if names.is_empty() {
        return vec![(action, "*".to_owned())];
    }
    names
        .iter()
        .map(|name| (action.clone(), parameter_arn(name)))
        .collect()
}

/// A queue's ARN from its URL (`.../{account}/{name}`) or name.
fn sqs(operation: &str, url: Option<&str>, name: Option<&str>) -> Vec<(String, String)> {
    // Batches are authorized as the single operation (SendMessageBatch as SendMessage).
    let operation = operation.strip_suffix("Batch").unwrap_or(operation);
    let name = url
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .or(name);
    let resource = name.map(queue_arn).unwrap_or_else(|| "*".to_owned());
    vec![(format!("sqs:{operation}"), resource)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=KEY-1/20261204/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc";

    #[test]
    fn a_query_on_an_index_needs_the_index_and_a_get_the_table() {
        let call = classify(
            Some("DynamoDB_20120810.Query"),
            Some(AUTH),
            br#"{"TableName":"Apps-x","IndexName":"by-y","KeyConditionExpression":"a = :a"}"#,
        );
        assert_eq!(call.protocol, Protocol::DynamoDb);
        assert_eq!(call.access_key.as_deref(), Some("KEY-1"));
        assert_eq!(
            call.needs,
            [(
                "dynamodb:Query".to_owned(),
                format!("{}/index/by-y", table_arn("Apps-x"))
            )]
        );
        let call = classify(
            Some("DynamoDB_20120810.GetItem"),
            None,
            br#"{"TableName":"T9","Key":{}}"#,
        );
        assert_eq!(
            call.needs,
            [("dynamodb:GetItem".to_owned(), table_arn("T9"))]
        );
        assert_eq!(call.access_key, None);
    }

    #[test]
    fn batches_and_transactions_need_each_items_action() {
        let call = classify(
            Some("DynamoDB_20120810.TransactWriteItems"),
            Some(AUTH),
            br#"{"TransactItems":[{"Put":{"TableName":"A"}},{"Update":{"TableName":"B"}},{"ConditionCheck":{"TableName":"A"}}]}"#,
        );
        assert_eq!(
            call.needs,
            [
                ("dynamodb:PutItem".to_owned(), table_arn("A")),
                ("dynamodb:UpdateItem".to_owned(), table_arn("B")),
                ("dynamodb:ConditionCheckItem".to_owned(), table_arn("A")),
            ]
        );
        let call = classify(
            Some("DynamoDB_20120810.BatchWriteItem"),
            Some(AUTH),
            br#"{"RequestItems":{"A":[],"C":[]}}"#,
        );
        assert_eq!(call.needs.len(), 2);
        assert!(call
            .needs
            .iter()
            .all(|(a, _)| a == "dynamodb:BatchWriteItem"));
    }

    #[test]
    fn parameters_and_queues_become_their_arns() {
        let call = classify(
            Some("AmazonSSM.GetParameters"),
            Some(AUTH),
            br#"{"Names":["/a/b","plain"],"WithDecryption":true}"#,
        );
        assert_eq!(call.protocol, Protocol::Ssm);
        assert_eq!(
            call.needs,
            [
                ("ssm:GetParameters".to_owned(), parameter_arn("/a/b")),
                ("ssm:GetParameters".to_owned(), parameter_arn("plain")),
            ]
        );
        assert!(parameter_arn("/a/b").ends_with(":parameter/a/b"));
        let call = classify(
            Some("AmazonSQS.SendMessageBatch"),
            Some(AUTH),
            br#"{"QueueUrl":"http://127.0.0.1:1/123456789012/Jobs-7","Entries":[]}"#,
        );
        assert_eq!(call.protocol, Protocol::SqsJson);
        assert_eq!(
            call.needs,
            [("sqs:SendMessage".to_owned(), queue_arn("Jobs-7"))]
        );
        let call = classify(
            None,
            Some(AUTH),
            b"Action=ReceiveMessage&QueueUrl=http%3A%2F%2Fh%2F1%2FQ%2B1&MaxNumberOfMessages=1",
        );
        assert_eq!(call.protocol, Protocol::SqsQuery);
        assert_eq!(
            call.needs,
            [("sqs:ReceiveMessage".to_owned(), queue_arn("Q+1"))]
        );
        let call = classify(Some("AmazonSQS.ListQueues"), Some(AUTH), b"{}");
        assert_eq!(call.needs, [("sqs:ListQueues".to_owned(), "*".to_owned())]);
    }
}
