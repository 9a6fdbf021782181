//! Forwarding FChat events to apps' webhooks: a signed POST, the bot's reply acted on, and
//! failed attempts retried from the delivery queue for more than a day.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Map;

use crate::api::validate::parse_bot_reply;
use crate::domain::conversation::Conversation;
use crate::domain::job::{Forward, Job, JobKind, MAX_JOB_BYTES};
use crate::domain::Context;
use crate::ports::{
    AppStore, Clock, ContextStore, FChat, JobQueue, StoreError, WebhookOutcome, WebhookSender,
};
use crate::services::outbox::{self, queue_message};

/// How long an app's webhook may take to answer.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait before the first retry of a failed forward.
pub const FIRST_FORWARD_RETRY: Duration = Duration::from_secs(5);
/// The waits after each further failed attempt; the last one repeats. With the queue's eight
/// receives, retries span more than a day before the job goes to the DLQ.
pub const FORWARD_RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 60 * 60),
    Duration::from_secs(5 * 60 * 60),
    Duration::from_secs(10 * 60 * 60),
];

/// A forward that failed this many times goes to the dead-letter queue (about a day and a
/// half of attempts, the last five a schedule's length apart).
pub const FORWARD_MAX_ATTEMPTS: u32 = 8;

/// The wait after the `receive_count`-th attempt from the queue failed.
pub fn forward_retry_delay(receive_count: u32) -> Duration {
    let index = (receive_count.max(1) as usize - 1).min(FORWARD_RETRY_DELAYS.len() - 1);
    FORWARD_RETRY_DELAYS[index]
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Forwarded {
    Delivered,
    /// Not delivered and never will be: the app is gone, disabled, has no webhook, answered 410,
    /// or its URL is refused.
    Dropped(String),
    /// Worth another attempt.
    Failed(String),
}

#[derive(Clone)]
pub struct Forwarder {
    pub apps: Arc<dyn AppStore>,
    pub contexts: Arc<dyn ContextStore>,
    pub queue: Arc<dyn JobQueue>,
    pub webhooks: Arc<dyn WebhookSender>,
    pub clock: Arc<dyn Clock>,
    /// A click's answer: its notice, and its edit of the clicked message.
    pub fchat: Arc<dyn FChat>,
}

impl Forwarder {
    /// The first attempt, from the callback: on failure the forward is queued to be retried.
    pub async fn forward_or_queue(&self, forward: Forward) -> Result<Forwarded, StoreError> {
        let outcome = self.attempt(&forward).await?;
        if let Forwarded::Failed(reason) = &outcome {
            let app = forward.app.clone();
            let webhook_id = crate::logging::loggable(&forward.webhook_id);
            let mut forward = forward;
            if let Some(click) = &mut forward.click {
                // The callback answers the click now; a retry cannot show a notice.
                click.query_id = None;
            }
            let job = Job::new(JobKind::Forward(forward));
            // The event, its context's parameters and the chat's bot state: bounded by the
            // callback's and the webhook answer's limits, but not below the queue's in every
            // case. One the queue could not take is given up at once rather than failed again.
            let size = job.to_json().len();
            if size > MAX_JOB_BYTES {
                tracing::error!(%app, %webhook_id, reason, size, "forward failed; too large to queue for a retry");
                return Ok(Forwarded::Dropped(format!(
                    "{reason}; too large to retry ({size} bytes)"
                )));
            }
            tracing::warn!(%app, %webhook_id, reason, "forward failed; queued for retry");
            self.queue.enqueue_after(&job, FIRST_FORWARD_RETRY).await?;
        }
        Ok(outcome)
    }

    /// One attempt: the app as it is now, a signed POST, and the reply acted on.
    pub async fn attempt(&self, forward: &Forward) -> Result<Forwarded, StoreError> {
        let Some(app) = self
            .apps
            .app_by_name(&forward.app)
            .await?
            .filter(|a| a.active)
        else {
            return Ok(Forwarded::Dropped(format!(
                "app {} is gone or disabled",
                forward.app
            )));
        };
        let Some(url) = app.webhook_url.as_deref() else {
            return Ok(Forwarded::Dropped(format!(
                "app {} has no webhook URL",
                app.name
            )));
        };
        let body = serde_json::to_vec(&forward.payload).expect("a JSON value always serialises");
        let started = std::time::Instant::now();
        let outcome = self
            .webhooks
            .post(
                url,
                app.signing_secrets(self.clock.now()),
                &forward.webhook_id,
                &body,
            )
            .await;
        crate::metrics::events::webhook(&outcome, started.elapsed(), &app.name);
        match outcome {
            WebhookOutcome::Delivered { body, .. } => {
                self.act_on_reply(&app, forward, &body).await?;
                Ok(Forwarded::Delivered)
            }
            WebhookOutcome::Gone => Ok(Forwarded::Dropped("the webhook answered 410 Gone".into())),
            WebhookOutcome::Refused(reason) => Ok(Forwarded::Dropped(reason)),
            WebhookOutcome::Failed(reason) => Ok(Forwarded::Failed(reason)),
        }
    }

    /// A reply becomes a new message into the same chat, with its own context, so that
    /// conversations can chain; `toBotState` is kept for the chat.
    async fn act_on_reply(
        &self,
        app: &crate::domain::App,
        forward: &Forward,
        answer: &[u8],
    ) -> Result<(), StoreError> {
        // A click's answer first: its notice at once, its edit before any reply.
        self.act_on_click_answer(&app.name, forward, answer).await?;
        let Ok(answer) = serde_json::from_slice(answer) else {
            return Ok(());
        };
        let reply = match parse_bot_reply(&answer) {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(app = %app.name, %error, "the webhook's reply cannot be sent");
                return Ok(());
            }
        };
        if let Some(state) = &reply.to_bot_state {
            self.contexts
                .set_bot_state(&forward.chat_id, state.as_deref())
                .await?;
        }
        if let (Some(content), Some(target)) = (reply.content, &forward.reply_to) {
            let mut context = Context::queued(app, target.clone(), Map::new(), self.clock.now());
            context.conversation = Conversation::new(&content, reply.single_use, false);
            let job = match outbox::job(&context, content, None) {
                Ok(job) => job,
                Err(error) => {
                    tracing::warn!(app = %app.name, %error, "the webhook's reply cannot be sent");
                    return Ok(());
                }
            };
            match queue_message(self.contexts.as_ref(), self.queue.as_ref(), &context, job).await {
                Ok(()) => {
                    tracing::info!(app = %app.name, context_id = %context.id, "bot reply queued");
                    crate::metrics::events::bot_reply(&app.name);
                }
                Err(error) => {
                    return Err(StoreError::Unavailable(format!(
                        "the bot reply could not be queued: {error}"
                    )))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_span_more_than_a_day_within_eight_receives() {
        // The first retry 5 s after the callback's attempt, then one wait per failed receive;
        // the eighth receive's failure sends the job to the DLQ.
        let total: Duration =
            FIRST_FORWARD_RETRY + (1..=7).map(forward_retry_delay).sum::<Duration>();
        assert!(total >= Duration::from_secs(24 * 60 * 60), "{total:?}");
        assert_eq!(forward_retry_delay(1), Duration::from_secs(300));
        assert!(FORWARD_RETRY_DELAYS
            .iter()
            .all(|d| *d <= crate::ports::MAX_VISIBILITY_DELAY));
    }
}
