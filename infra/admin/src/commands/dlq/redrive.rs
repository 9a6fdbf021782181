use anyhow::Result;
use serde_json::json;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Moves every job of the dead-letter queue back to the delivery queue, each message with a new
/// delivery window (sent there first, then deleted from the DLQ)
#[derive(clap::Args, Debug)]
pub struct Redrive {}

impl Run for Redrive {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let dlq = admin.dead_letter_queue()?;
        let mut moved = 0;
        loop {
            let received = admin
                .sqs
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                // A message that was not delivered gets a new delivery window first.
                if let Some(context) = admin
                    .job_context(message.body.as_deref().unwrap_or(""))
                    .await?
                {
                    admin.give_new_window(&context).await?;
                }
                // The delivery queue is FIFO: the job goes back into its chat's group, with a
                // fresh deduplication id.
                let body = message.body.clone().unwrap_or_default();
                let group = gateway::job::queue_group_of(&body);
                admin
                    .sqs
                    .send_message()
                    .queue_url(&admin.delivery_queue_url)
                    .message_group_id(group)
                    .message_deduplication_id(uuid::Uuid::new_v4().simple().to_string())
                    .message_body(body)
                    .send()
                    .await?;
                admin
                    .sqs
                    .delete_message()
                    .queue_url(dlq)
                    .receipt_handle(message.receipt_handle.unwrap_or_default())
                    .send()
                    .await?;
                moved += 1;
            }
        }
        output(
            json!({"redriven": moved}),
            format!("{moved} job(s) back on the delivery queue"),
        )
    }
}
