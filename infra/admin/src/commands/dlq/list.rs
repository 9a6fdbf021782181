use anyhow::Result;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{json, Value};

use crate::commands::Run;
use crate::views::{context_view, plain};
use crate::{output, Admin, Output};

/// Peeks at the dead-letter queue (up to 10 jobs): each parked message with its status and why,
/// expired ones included
#[derive(clap::Args, Debug)]
pub struct List {}

impl Run for List {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let received = admin
            .sqs
            .receive_message()
            .queue_url(admin.dead_letter_queue()?)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        let mut jobs = Vec::new();
        for m in received.messages.unwrap_or_default() {
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned();
            // A message's job: whether and why it was not delivered.
            let context = match admin.job_context(m.body.as_deref().unwrap_or("")).await? {
                Some(context) => context_view(&context, (admin.now)()),
                None => Value::Null,
            };
            jobs.push(json!({"message_id": m.message_id, "receive_count": count, "context": context, "body": m.body}));
        }
        let text = jobs
            .iter()
            .map(|j| {
                let about = match j["context"]["id"].as_str() {
                    Some(id) => format!(
                        "message {id} {}: {}",
                        plain(&j["context"]["status"]),
                        plain(&j["context"]["last_error"])
                    ),
                    None => j["body"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(120)
                        .collect::<String>(),
                };
                format!(
                    "{} received {} times: {about}",
                    plain(&j["message_id"]),
                    plain(&j["receive_count"]),
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let text = if text.is_empty() {
            "the DLQ is empty".into()
        } else {
            text
        };
        output(json!(jobs), text)
    }
}
