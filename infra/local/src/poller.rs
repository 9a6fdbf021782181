//! What Lambda's SQS event source mapping does, for the local stack: poll a queue, hand
//! batches of up to 10 messages to a function, delete what it processed, and leave the
//! messages it reports as failed (`ReportBatchItemFailures`) to reappear.
//!
//! Up to `concurrency` batches are in flight at once (the mapping's `MaximumConcurrency`),
//! each on its own polling loop. An invocation that fails, or does not answer within
//! `invoke_timeout`, fails its whole batch: nothing is deleted, and the messages reappear when
//! their visibility timeout runs out, while the loops poll on.

use std::sync::Arc;
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
    /// How many batches may be in flight at once (at least one).
    pub concurrency: usize,
    /// How long an invocation may take before its batch is given up: the function's timeout
    /// plus [`INVOKE_MARGIN`].
    pub invoke_timeout: Duration,
}

/// Batches in flight when the event source declares no `MaximumConcurrency` (Lambda starts
/// with five pollers).
pub const DEFAULT_CONCURRENCY: usize = 5;
/// What the poller allows an invocation beyond the function's timeout: a cold start and the
/// way to the function and back.
pub const INVOKE_MARGIN: Duration = Duration::from_secs(5);
/// How long an SQS call may take.
const SQS_CALL_LIMIT: Duration = Duration::from_secs(30);
/// The pause between two receives that found nothing, while a poll waits for messages.
const EMPTY_RECEIVE_PAUSE: Duration = Duration::from_millis(100);

impl Poller {
    /// Polls with `concurrency` loops until the task is dropped.
    pub async fn run(self) {
        let poller = Arc::new(self);
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..poller.concurrency.max(1) {
            loops.spawn(poller.clone().poll_loop());
        }
        // A loop only ends by panicking: start another.
        while let Some(ended) = loops.join_next().await {
            if let Err(error) = ended {
                eprintln!("local poller: a polling loop ended: {error}");
            }
            loops.spawn(poller.clone().poll_loop());
        }
    }

    async fn poll_loop(self: Arc<Self>) {
        loop {
            if let Err(error) = self.poll_once(Duration::from_secs(1)).await {
                eprintln!("local poller: {error:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Receives a batch, waiting up to `wait` for one. SQS never hands out a FIFO queue's
    /// message group while one of its messages is in flight; moto's long poll can (it decides
    /// which groups are busy when the poll starts, not when a message arrives), and so can two
    /// of its receives at once. So the poller holds SQS's rule itself: short receives, one at a
    /// time across every loop of the process, retried until `wait` runs out.
    async fn receive(&self, wait: Duration) -> Result<Vec<aws_sdk_sqs::types::Message>> {
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = {
                let _turn = ONE_AT_A_TIME.lock().await;
                let receive = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.queue_url)
                    .max_number_of_messages(self.batch_size)
                    .wait_time_seconds(0)
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send();
                tokio::time::timeout(SQS_CALL_LIMIT, receive)
                    .await
                    .context("receiving from the queue: no answer")?
                    .context("receiving from the queue")?
            };
            let messages = received.messages.unwrap_or_default();
            if !messages.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep(EMPTY_RECEIVE_PAUSE).await;
        }
    }

    /// One receive (waiting up to `wait` for messages) and, if anything came, one invocation.
    /// Answers how many messages were received and how many the function reported as failed.
    /// An invocation that fails or takes longer than `invoke_timeout` counts every message
    /// as failed.
    pub async fn poll_once(&self, wait: Duration) -> Result<(usize, usize)> {
        let received = self.receive(wait).await?;
        let messages = received;
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
        // A function error or timeout fails the whole batch: every message reappears.
        let invocation = self.invoker.invoke(&self.function, &event);
        let answer = match tokio::time::timeout(self.invoke_timeout, invocation).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                eprintln!("local poller: {error:#}");
                return Ok((messages.len(), messages.len()));
            }
            Err(_) => {
                eprintln!(
                    "local poller: {} did not answer within {:.0} seconds; its batch of {} \
                     reappears after the queue's visibility timeout",
                    self.function,
                    self.invoke_timeout.as_secs_f64(),
                    messages.len()
                );
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
            let delete = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send();
            tokio::time::timeout(SQS_CALL_LIMIT, delete)
                .await
                .context("deleting processed messages: no answer")?
                .context("deleting processed messages")?;
        }
        Ok((messages.len(), failed.len()))
    }
}
