//! The SQS adapter of the job queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;

use crate::domain::job::{queue_group_of, Job};
use crate::ports::{JobQueue, QueuedJob, Redelivery, StoreError};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            dead_letter_queue_url: None,
        }
    }

    /// Where jobs that retrying cannot help are moved (the delivery queue's DLQ).
    pub fn with_dead_letter_queue(mut self, url: Option<String>) -> Self {
        self.dead_letter_queue_url = url;
        self
    }

    /// Sends a job to a FIFO queue, in its message group ([`Job::queue_group`]). A FIFO queue
    /// takes no per-message delay: a delayed job carries its `not_before_ms`, and delivery
    /// holds it until then.
    async fn send(&self, queue_url: &str, job: Job, delay: Duration) -> Result<(), StoreError> {
        let mut job = job;
        if !delay.is_zero() {
            job.not_before_ms = Some(crate::metrics::now_ms() + delay.as_millis() as u64);
        }
        self.send_raw(queue_url, job.queue_group(), message_body(&job))
            .await
    }

    /// Sends a job's body as it came (only the dead-letter queue takes one that is no job).
    async fn send_body(
        &self,
        queue_url: &str,
        body: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        match Job::from_json(body) {
            Ok(job) => self.send(queue_url, job, delay).await,
            Err(_) => {
                self.send_raw(queue_url, queue_group_of(body), body.to_owned())
                    .await
            }
        }
    }

    /// One `SendMessage` in `group`, with a fresh deduplication id: a job sent again is meant
    /// to run again, and the gateway's own idempotency makes a repeat harmless.
    async fn send_raw(
        &self,
        queue_url: &str,
        group: String,
        body: String,
    ) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_group_id(group)
            .message_deduplication_id(uuid::Uuid::new_v4().simple().to_string())
            .message_body(body)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), StoreError> {
        self.send(&self.queue_url, job.clone(), Duration::ZERO)
            .await
    }

    async fn enqueue_after(&self, job: &Job, delay: Duration) -> Result<(), StoreError> {
        self.send(&self.queue_url, job.clone(), delay).await
    }
}

#[async_trait]
impl Redelivery for SqsQueue {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn requeue(&self, body: &str, delay: Duration) -> Result<(), StoreError> {
        self.send_body(&self.queue_url, body, delay).await
    }

    async fn dead_letter(&self, body: &str) -> Result<(), StoreError> {
        let Some(dlq) = &self.dead_letter_queue_url else {
            return Err(StoreError::Unavailable(
                "no dead-letter queue is configured (DELIVERY_DLQ_URL)".into(),
            ));
        };
        self.send_body(dlq, body, Duration::ZERO).await
    }
}

/// A job as an SQS message body. SQS refuses a body with a character outside XML's (#x9, #xA,
/// #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000 and up); JSON already escapes the control
/// characters, and the two left, U+FFFE and U+FFFF, can only be inside JSON strings, where
/// their escapes mean the same.
fn message_body(job: &Job) -> String {
    let json = job.to_json();
    if json.contains(['\u{FFFE}', '\u{FFFF}']) {
        json.replace('\u{FFFE}', "\\ufffe")
            .replace('\u{FFFF}', "\\uffff")
    } else {
        json
    }
}

/// The jobs of an SQS event. A record without an id cannot be reported as failed, so it is
/// processed like any other and only logged.
pub fn jobs_from_event(event: SqsEvent) -> Vec<QueuedJob> {
    event
        .records
        .into_iter()
        .map(|record| QueuedJob {
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|count| count.parse().ok())
                .unwrap_or(1),
            message_id: record.message_id.unwrap_or_default(),
            receipt_handle: record.receipt_handle.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
            sent_at_ms: record
                .attributes
                .get("SentTimestamp")
                .and_then(|at| at.parse().ok()),
        })
        .collect()
}

/// The partial batch response: the messages that stay on the queue.
pub fn batch_response(failed_message_ids: Vec<String>) -> SqsBatchResponse {
    let failures: Vec<serde_json::Value> = failed_message_ids
        .into_iter()
        .map(|id| serde_json::json!({ "itemIdentifier": id }))
        .collect();
    serde_json::from_value(serde_json::json!({ "batchItemFailures": failures }))
        .expect("a batch response is built from strings only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_text_makes_a_body_sqs_accepts_that_reads_back_the_same() {
        let text = "a\u{0}b\u{1f}c\u{FFFE}d\u{FFFF}e\u{10FFFF}\u{7f}";
        let job = Job::new(crate::domain::job::JobKind::SendGroup {
            context_id: "c-1".into(),
            app: "alerts".into(),
            group_id: "ops".into(),
            content: crate::domain::message::MessageContent {
                text: text.into(),
                keyboard: vec![],
            },
        });
        let body = message_body(&job);
        let allowed = |c: char| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        assert!(body.chars().all(allowed), "{body:?}");
        assert_eq!(Job::from_json(&body).unwrap(), job);
    }

    #[test]
    fn an_sqs_event_fixture_becomes_jobs_and_failures_a_batch_response() {
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../tests/fixtures/sqs-delivery-batch.json"))
                .unwrap();
        let jobs = jobs_from_event(event);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].message_id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert!(jobs[1].body.contains("send_user"));
        assert_eq!(jobs[0].receive_count, 1);
        let response = serde_json::to_value(batch_response(vec!["m-2".into()])).unwrap();
        assert_eq!(
            response["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "m-2"}])
        );
    }
}
