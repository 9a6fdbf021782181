//! What Lambda's SQS event source mapping does, for the local stack: long-poll a queue, hand
//! batches of up to 10 messages to a function, delete what it processed, and leave the
//! messages it reports as failed (`ReportBatchItemFailures`) to reappear.

use std::time::Duration;

use anyhow::{Context as _, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{json, Value};

use crate::invoke::Invoker;

pub struct Poller {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub function: String,
    pub invoker: Invoker,
    pub batch_size: i32,
}

impl Poller {
    /// Polls until the task is dropped.
    pub async fn run(self) {
        loop {
            if let Err(error) = self.poll_once(Duration::from_secs(1)).await {
                eprintln!("local poller: {error:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// One receive and, if anything came, one invocation. Answers how many messages were
    /// received and how many the function reported as failed.
    pub async fn poll_once(&self, wait: Duration) -> Result<(usize, usize)> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .context("receiving from the queue")?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok((0, 0));
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.as_str())))
                    .collect();
                json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let event = json!({ "Records": records });
        // A function error fails the whole batch: every message reappears.
        let answer = match self.invoker.invoke(&self.function, &event).await {
            Ok(answer) => answer,
            Err(error) => {
                eprintln!("local poller: {error:#}");
                return Ok((messages.len(), messages.len()));
            }
        };
        let failed: Vec<String> = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v.get("batchItemFailures").cloned())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.get("itemIdentifier")?.as_str().map(str::to_owned))
            .collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| {
                !failed
                    .iter()
                    .any(|id| Some(id.as_str()) == m.message_id.as_deref())
            })
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .context("deleting processed messages")?;
        }
        Ok((messages.len(), failed.len()))
    }
}
