//! Delivery: a queued job becomes an FChat message, at least once from the queue and
//! effectively once towards FChat.
//!
//! A context moves `queued` → `sending` (a lease as long as the function's timeout, so that a
//! crashed attempt is taken over) → `sent`, by conditional writes. A duplicate of a sent job
//! sends nothing; a send repeated after a crash carries the same `client_message_id`, which
//! FChat shows once.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::alerts::is_silence_button;
use crate::domain::job::{Forward, Job, JobKind};
use crate::domain::message::MessageContent;
use crate::domain::thread::{ThreadAction, ThreadStep};
use crate::domain::{Context, Target, User};
use crate::ports::{
    AppStore, AttemptOutcome, Clock, ContextStore, FChat, FChatError, GroupStore, MessageEdit,
    OutgoingMessage, QueuedJob, Redelivery, SendClaim, Silencer, StoreError, UserStore,
    MAX_VISIBILITY_DELAY,
};
use crate::services::forwarding::{
    forward_retry_delay, Forwarded, Forwarder, FORWARD_MAX_ATTEMPTS,
};

/// The retry schedule. This is its one definition: `template.yaml`'s `maxReceiveCount` and
/// the local stack (which reads the template) are checked against it by a test.
///
/// A message is retried until FChat takes it or its delivery window passes. The first retry
/// waits [`FIRST_RETRY_DELAY`]; each later one doubles, up to a ceiling of a
/// [`ATTEMPTS_PER_WINDOW`]th of the window (never more than SQS's [`MAX_VISIBILITY_DELAY`]),
/// so that about that many attempts spread over the window once FChat stays down; the last
/// one comes as the window ends.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(2);
/// About this many attempts fill a delivery window once backoff reaches its ceiling.
pub const ATTEMPTS_PER_WINDOW: u32 = 24;
/// How often the queue hands a job out before its redrive policy moves it to the dead-letter
/// queue (`template.yaml`). Every window's schedule fits well inside it; a job that still
/// needs time when it is nearly used up (leases, storage trouble) is queued afresh.
pub const MAX_RECEIVE_COUNT: u32 = 100;
/// The default for an operator's cap on retry delays (`DELIVERY_MAX_RETRY_DELAY_SECONDS`):
/// none below SQS's own.
pub const MAX_RETRY_DELAY: Duration = MAX_VISIBILITY_DELAY;
/// What an app reads as a message's last error when the gateway's own storage failed: the
/// details are logged, never shown to apps.
pub const STORAGE_UNAVAILABLE: &str = "the gateway was briefly unable to record the delivery";

#[derive(Clone)]
pub struct Delivery {
    pub contexts: Arc<dyn ContextStore>,
    pub groups: Arc<dyn GroupStore>,
    pub users: Arc<dyn UserStore>,
    /// The apps, for their Alertmanagers.
    pub apps: Arc<dyn AppStore>,
    pub fchat: Arc<dyn FChat>,
    /// Creates the silences users ask for from the chat.
    pub silencer: Arc<dyn Silencer>,
    pub clock: Arc<dyn Clock>,
    /// How long an attempt may hold a context: the function's timeout.
    pub lease: Duration,
    /// The operator's cap on the wait between two attempts (FChat's `retry_after` may ask for
    /// longer); the delivery window's own ceiling applies below it.
    pub max_retry_delay: Duration,
    /// Posts events to apps' webhooks, for forward jobs.
    pub forwarder: Forwarder,
    /// The longest wait between two attempts of a forward (its schedule runs to 10 hours).
    pub max_forward_delay: Duration,
}

/// What to do with a job's queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Delete it: delivered, failed for good, or a duplicate.
    Done,
    /// Make it visible again after this delay.
    RetryAfter(Duration),
    /// Retrying cannot help (it cannot be read, or its window passed): move it to the
    /// dead-letter queue now, where the operator sees it and may redrive it.
    DeadLetter(String),
}

/// The message an attempt showed, and whether a click can come back to it.
struct Shown {
    message_id: String,
    clickable: bool,
}

/// Why an attempt did not send.
enum Stop {
    Retry {
        error: String,
        retry_after: Option<u64>,
    },
    Fail(String),
}

impl From<FChatError> for Stop {
    fn from(error: FChatError) -> Self {
        match error {
            FChatError::Transient {
                reason,
                retry_after,
            } => Stop::Retry {
                error: reason,
                retry_after,
            },
            FChatError::Permanent { reason }
            | FChatError::NotFound { reason }
            | FChatError::CannotEdit { reason } => Stop::Fail(reason),
        }
    }
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        // The store's text may name accounts, roles and tables: the log has it, apps do not.
        tracing::error!(%error, "storage failed during a delivery attempt");
        Stop::Retry {
            error: STORAGE_UNAVAILABLE.to_owned(),
            retry_after: None,
        }
    }
}

impl Delivery {
    /// Handles one queue message's body, handed out for the `receive_count`-th time.
    pub async fn deliver(&self, body: &str, receive_count: u32) -> JobOutcome {
        let job = match Job::from_json(body) {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(%error, "a job that cannot be read goes to the DLQ");
                crate::metrics::events::dead_lettered("unreadable", None);
                return JobOutcome::DeadLetter(error.to_string());
            }
        };
        let (context_id, target, content, thread) = match job.kind {
            JobKind::SendGroup {
                context_id,
                group_id,
                content,
                ..
            } => (context_id, Target::Group(group_id), content, None),
            JobKind::SendUser {
                context_id,
                email,
                content,
                ..
            } => (context_id, Target::User(email), content, None),
            JobKind::SendAlert {
                context_id,
                target,
                content,
                thread,
                ..
            } => (context_id, target, content, Some(thread)),
            JobKind::Forward(forward) => return self.forward(forward, receive_count).await,
            JobKind::Silence(job) => return self.silence(job, receive_count).await,
            JobKind::Change(job) => return self.change(job, receive_count).await,
        };
        let outcome = self
            .deliver_message(&context_id, target, content, thread)
            .await;
        match &outcome {
            JobOutcome::Done => {}
            JobOutcome::RetryAfter(delay) => {
                tracing::info!(
                    context_id,
                    delay_s = delay.as_secs(),
                    "delivery will be retried"
                )
            }
            JobOutcome::DeadLetter(error) => {
                tracing::warn!(context_id, error, "delivery ended; the job goes to the DLQ")
            }
        }
        outcome
    }

    /// Another attempt at posting an event to an app's webhook.
    async fn forward(&self, forward: Forward, receive_count: u32) -> JobOutcome {
        use crate::logging::loggable;
        match self.forwarder.attempt(&forward).await {
            Ok(Forwarded::Delivered) => {
                tracing::info!(app = %forward.app, webhook_id = %loggable(&forward.webhook_id), receive_count, "forwarded");
                JobOutcome::Done
            }
            Ok(Forwarded::Dropped(reason)) => {
                tracing::warn!(app = %forward.app, webhook_id = %loggable(&forward.webhook_id), reason, "forward dropped");
                JobOutcome::Done
            }
            Ok(Forwarded::Failed(reason)) if receive_count >= FORWARD_MAX_ATTEMPTS => {
                tracing::warn!(app = %forward.app, webhook_id = %loggable(&forward.webhook_id), reason, receive_count, "forward failed for the last time");
                crate::metrics::events::dead_lettered("forward_exhausted", Some(&forward.app));
                JobOutcome::DeadLetter(reason)
            }
            Ok(Forwarded::Failed(reason)) => {
                tracing::warn!(app = %forward.app, webhook_id = %loggable(&forward.webhook_id), reason, receive_count, "forward failed");
                JobOutcome::RetryAfter(
                    forward_retry_delay(receive_count).min(self.max_forward_delay),
                )
            }
            Err(error) => {
                tracing::error!(%error, "forward could not proceed");
                JobOutcome::RetryAfter(retry_delay(1, None, self.max_retry_delay))
            }
        }
    }

    async fn deliver_message(
        &self,
        context_id: &str,
        target: Target,
        content: MessageContent,
        thread: Option<ThreadStep>,
    ) -> JobOutcome {
        let now = self.clock.now();
        let lease_until = now + self.lease.as_secs().max(1);
        let context = match self
            .contexts
            .begin_sending(context_id, now, lease_until)
            .await
        {
            Ok(SendClaim::Claimed(context)) => context,
            Ok(SendClaim::Settled(status)) => {
                tracing::info!(
                    context_id,
                    status = status.as_str(),
                    "already settled; nothing sent"
                );
                return JobOutcome::Done;
            }
            Ok(SendClaim::Leased(until)) => {
                return JobOutcome::RetryAfter(Duration::from_secs(
                    until.saturating_sub(now).max(1),
                ))
            }
            Ok(SendClaim::WindowPassed(context)) => return self.give_up(&context, now).await,
            Ok(SendClaim::Gone) => {
                tracing::warn!(context_id, "the context is gone; not sent");
                return JobOutcome::Done;
            }
            Err(error) => {
                tracing::error!(%error, context_id, "the context cannot be read");
                return JobOutcome::RetryAfter(retry_delay(1, None, self.max_retry_delay));
            }
        };
        let source = crate::metrics::events::source(&target, thread.is_some());
        let attempt = self
            .attempt(&target, content, context_id, &context.app, thread)
            .await;
        let now = self.clock.now();
        let (outcome, answer) = match attempt {
            Ok(Shown {
                message_id,
                clickable,
            }) => {
                tracing::info!(context_id, fchat_message_id = %message_id, attempts = context.attempts, "sent");
                crate::metrics::events::delivered(
                    source,
                    context.created_at,
                    &context.app,
                    context_id,
                );
                if let Target::User(email) = &target {
                    // The user's replies now belong to this conversation.
                    if let Err(error) = self.users.set_last_context(email, context_id).await {
                        tracing::warn!(%error, context_id, "the user's latest conversation was not recorded");
                    }
                }
                (
                    AttemptOutcome::Sent {
                        fchat_message_id: message_id,
                        // The reply window starts when FChat takes the message.
                        reply_until: now + context.reply_window_seconds,
                        clickable,
                    },
                    JobOutcome::Done,
                )
            }
            Err(Stop::Retry { error, retry_after }) => {
                crate::metrics::events::will_retry(
                    retry_after.is_some(),
                    error == STORAGE_UNAVAILABLE,
                    &context.app,
                    context_id,
                );
                let delay = self.next_attempt_in(&context, retry_after, now);
                (
                    AttemptOutcome::WillRetry { error },
                    JobOutcome::RetryAfter(delay),
                )
            }
            Err(Stop::Fail(error)) => {
                tracing::warn!(context_id, error, "delivery failed for good");
                crate::metrics::events::failed(&context.app, context_id);
                (AttemptOutcome::Failed { error }, JobOutcome::Done)
            }
        };
        if let Err(error) = self
            .contexts
            .finish_sending(context_id, &outcome, now)
            .await
        {
            // The lease runs out and the job comes back; a sent message is not shown twice
            // because FChat keys it by the context id.
            tracing::error!(%error, context_id, "the outcome could not be recorded");
            return JobOutcome::RetryAfter(retry_delay(
                context.attempts,
                None,
                self.max_retry_delay,
            ));
        }
        answer
    }

    /// The wait before the next attempt at `context`: its backoff, never past the end of its
    /// delivery window (the last attempt comes as it ends), never sooner than `retry_after`.
    fn next_attempt_in(&self, context: &Context, retry_after: Option<u64>, now: u64) -> Duration {
        let window = Duration::from_secs(context.deliver_by.saturating_sub(context.created_at));
        let ceiling = retry_ceiling(window, self.max_retry_delay);
        let backoff = retry_delay(context.attempts, retry_after, ceiling);
        let until_window_ends = Duration::from_secs(context.deliver_by.saturating_sub(now) + 1);
        backoff
            .min(until_window_ends)
            .max(Duration::from_secs(retry_after.unwrap_or(0)))
    }

    /// The delivery window passed: the message is recorded `expired`, with why, and its job
    /// goes to the dead-letter queue for the operator.
    async fn give_up(&self, context: &Context, now: u64) -> JobOutcome {
        let window = context.deliver_by.saturating_sub(context.created_at);
        let error = match &context.last_error {
            Some(last) => {
                format!("not delivered within its delivery window ({window} s); last error: {last}")
            }
            None => format!("not delivered within its delivery window ({window} s)"),
        };
        match self
            .contexts
            .finish_sending(
                &context.id,
                &AttemptOutcome::Expired {
                    error: error.clone(),
                },
                now,
            )
            .await
        {
            Ok(true) => {
                crate::metrics::events::expired(&context.app, &context.id);
                JobOutcome::DeadLetter(error)
            }
            // Another attempt settled it meanwhile: nothing is left to park.
            Ok(false) => JobOutcome::Done,
            Err(error) => {
                tracing::error!(%error, context_id = %context.id, "the expiry could not be recorded");
                JobOutcome::RetryAfter(retry_delay(1, None, self.max_retry_delay))
            }
        }
    }

    async fn attempt(
        &self,
        target: &Target,
        content: MessageContent,
        context_id: &str,
        app: &str,
        thread: Option<ThreadStep>,
    ) -> Result<Shown, Stop> {
        let chat_id = match target {
            Target::Group(group_id) => {
                let group = self.groups.group(group_id).await?;
                match group {
                    None => return Err(Stop::Fail(format!("group {group_id} was deleted"))),
                    Some(group) if !group.active => {
                        return Err(Stop::Fail(format!("group {group_id} is not active")))
                    }
                    Some(group) => match group.beatchat_id.filter(|id| !id.trim().is_empty()) {
                        Some(id) => id,
                        None => {
                            return Err(Stop::Fail(format!("group {group_id} has no beatchat id")))
                        }
                    },
                }
            }
            Target::User(email) => self.fchat_user_id(email).await?,
        };
        if let Some(step) = thread {
            return self
                .alert_step(&chat_id, content, context_id, app, step)
                .await;
        }
        let clickable = !content.keyboard.is_empty();
        let message = OutgoingMessage {
            chat_id,
            content,
            client_message_id: context_id.to_owned(),
            reply_to_message_id: None,
        };
        let message_id = self.fchat.send_message(&message).await?;
        Ok(Shown {
            message_id,
            clickable,
        })
    }

    /// One notification of an alert group: its message posted, edited, replied to, or left
    /// as it is (`crate::domain::thread`). Every FChat call here is safe to repeat: a send
    /// carries an id derived from the context's, and an edit to what is shown is done.
    async fn alert_step(
        &self,
        chat_id: &str,
        content: MessageContent,
        context_id: &str,
        app: &str,
        step: ThreadStep,
    ) -> Result<Shown, Stop> {
        // One delivery at a time changes a group's message: two notifications of the group
        // handled at once would both post.
        let now = self.clock.now();
        let hold_until = now + self.lease.as_secs().max(1);
        if !self
            .contexts
            .lock_alert_thread(&step.key, hold_until, now)
            .await?
        {
            return Err(Stop::Retry {
                error: "another notification of its alert group was being delivered".into(),
                retry_after: Some(1),
            });
        }
        let shown = self
            .alert_step_locked(chat_id, content, context_id, app, &step)
            .await;
        if let Err(error) = self.contexts.unlock_alert_thread(&step.key).await {
            // The hold runs out with the lease.
            tracing::warn!(%error, context_id, "the alert group's hold was not released");
        }
        shown
    }

    async fn alert_step_locked(
        &self,
        chat_id: &str,
        content: MessageContent,
        context_id: &str,
        app: &str,
        step: &ThreadStep,
    ) -> Result<Shown, Stop> {
        let now = self.clock.now();
        let before = self.contexts.alert_thread(&step.key, now).await?;
        let send =
            |text_content: MessageContent, client_message_id: String, reply_to: Option<String>| {
                let message = OutgoingMessage {
                    chat_id: chat_id.to_owned(),
                    content: text_content,
                    client_message_id,
                    reply_to_message_id: reply_to,
                };
                async move { self.fchat.send_message(&message).await }
            };
        let reply_content = |text: &str| MessageContent {
            text: text.to_owned(),
            keyboard: Vec::new(),
        };
        let action = step.action(before.as_ref(), chat_id);
        crate::metrics::events::alert_action(&action);
        let message_id = match (&action, &before) {
            (ThreadAction::Post, _) | (_, None) => {
                send(content.clone(), context_id.to_owned(), None).await?
            }
            (ThreadAction::Nothing | ThreadAction::Stale, Some(before)) => {
                tracing::info!(context_id, fchat_message_id = %before.message_id, action = ?action, "alert group unchanged; nothing posted");
                return Ok(Shown {
                    message_id: before.message_id.clone(),
                    clickable: false,
                });
            }
            (ThreadAction::Reply, Some(before)) => {
                let id = send(
                    content.clone(),
                    context_id.to_owned(),
                    Some(before.message_id.clone()),
                )
                .await?;
                tracing::info!(context_id, fchat_message_id = %id, "posted in its thread");
                return Ok(Shown {
                    message_id: id,
                    clickable: !content.keyboard.is_empty(),
                });
            }
            (ThreadAction::Remind, Some(before)) => {
                let id = send(
                    reply_content(&step.reply),
                    context_id.to_owned(),
                    Some(before.message_id.clone()),
                )
                .await?;
                return Ok(Shown {
                    message_id: id,
                    clickable: false,
                });
            }
            (ThreadAction::Edit { reply }, Some(before)) => {
                let edit = MessageEdit {
                    chat_id: chat_id.to_owned(),
                    message_id: before.message_id.clone(),
                    content: before.shown(&content, now, is_silence_button),
                };
                let message_id = match self.fchat.edit_message(&edit).await {
                    Ok(()) => before.message_id.clone(),
                    Err(FChatError::CannotEdit { reason }) => {
                        // A new message in its place, answering the old one.
                        tracing::info!(
                            context_id,
                            reason,
                            "FChat cannot edit the group's message; posting anew"
                        );
                        send(
                            content.clone(),
                            context_id.to_owned(),
                            Some(before.message_id.clone()),
                        )
                        .await?
                    }
                    Err(error) => return Err(error.into()),
                };
                if *reply {
                    send(
                        reply_content(&step.reply),
                        format!("{context_id}.reply"),
                        Some(message_id.clone()),
                    )
                    .await?;
                }
                message_id
            }
        };
        // Remembered once FChat shows it all: a retry after a crash edits and replies again,
        // which FChat shows once.
        let thread = step.remembered(app, chat_id, &message_id, &content, before.as_ref(), now);
        let clickable = !thread
            .shown(&content, now, is_silence_button)
            .keyboard
            .is_empty();
        self.contexts.put_alert_thread(&thread).await?;
        tracing::info!(context_id, fchat_message_id = %message_id, action = ?action, "alert group's message updated");
        Ok(Shown {
            message_id,
            clickable,
        })
    }

    /// The user's FChat id, from the gateway's users table or, the first time, from FChat
    /// (the contract's auto-created users).
    async fn fchat_user_id(&self, email: &str) -> Result<String, Stop> {
        if let Some(user) = self.users.user(email).await? {
            return Ok(user.fchat_id);
        }
        match self.fchat.find_user(email).await {
            Ok(Some(found)) => {
                self.users
                    .put_user(&User {
                        email: email.to_owned(),
                        fchat_id: found.id.clone(),
                        name: found.name,
                        created_at: self.clock.now(),
                        last_context_id: None,
                    })
                    .await?;
                tracing::info!(user = %crate::domain::credentials::mask_email(email), "user created from FChat's directory");
                Ok(found.id)
            }
            Ok(None) => Err(Stop::Fail(format!("User {email} not found!"))),
            Err(error) => Err(error.into()),
        }
    }
}

/// Delivers a batch concurrently and answers the ids of the messages that stay on the queue
/// (SQS's partial batch failures). One job's trouble never holds back the others.
pub async fn deliver_batch(
    delivery: &Delivery,
    redelivery: &dyn Redelivery,
    jobs: &[QueuedJob],
) -> Vec<String> {
    // The jobs of one alert group run one after the other, oldest notification first, so
    // that a batch holding a group's firing and its resolution shows both in order; all
    // other jobs, and other groups, run concurrently.
    let mut lanes: Vec<Vec<&QueuedJob>> = Vec::new();
    let mut lane_of_group: std::collections::HashMap<String, usize> = Default::default();
    for job in jobs {
        match alert_group_of(&job.body) {
            Some((group, _)) => match lane_of_group.get(&group) {
                Some(lane) => lanes[*lane].push(job),
                None => {
                    lane_of_group.insert(group, lanes.len());
                    lanes.push(vec![job]);
                }
            },
            None => lanes.push(vec![job]),
        }
    }
    for lane in &mut lanes {
        lane.sort_by_key(|job| alert_group_of(&job.body).map(|(_, at)| at));
    }
    let outcomes = futures_util::future::join_all(lanes.into_iter().map(|lane| async move {
        let mut left = Vec::new();
        for job in lane {
            left.extend(settle(delivery, redelivery, job).await);
        }
        left
    }))
    .await;
    outcomes.into_iter().flatten().collect()
}

/// The alert group a job changes, and when its notification arrived (a silence comes after
/// every notification of the batch).
fn alert_group_of(body: &str) -> Option<(String, u64)> {
    match Job::from_json(body).ok()?.kind {
        JobKind::SendAlert { thread, .. } => Some((thread.key, thread.at_ms)),
        JobKind::Silence(silence) => Some((silence.group, u64::MAX)),
        _ => None,
    }
}

/// Delivers one job and settles its queue message; answers its id if it stays on the queue.
async fn settle(
    delivery: &Delivery,
    redelivery: &dyn Redelivery,
    job: &QueuedJob,
) -> Option<String> {
    let delivered = delivery.deliver(&job.body, job.receive_count);
    match crate::metrics::with_queued_at(job.sent_at_ms, delivered).await {
        JobOutcome::Done => None,
        JobOutcome::RetryAfter(delay) => {
            let delay = delay.min(MAX_VISIBILITY_DELAY);
            if job.receive_count + 1 >= MAX_RECEIVE_COUNT {
                // One more receive and the redrive policy would park a job that still has
                // time: a fresh copy starts the count over.
                match redelivery.requeue(&job.body, delay).await {
                    Ok(()) => return None,
                    Err(error) => {
                        tracing::warn!(%error, message_id = %job.message_id, "could not queue the job afresh")
                    }
                }
            }
            if let Err(error) = redelivery.redeliver_after(&job.receipt_handle, delay).await {
                // It comes back after the queue's own visibility timeout instead.
                tracing::warn!(%error, message_id = %job.message_id, "could not delay the retry");
            }
            Some(job.message_id.clone())
        }
        JobOutcome::DeadLetter(_) => match redelivery.dead_letter(&job.body).await {
            Ok(()) => None,
            Err(error) => {
                // Left on the queue, the redrive policy parks it after its receives.
                tracing::error!(%error, message_id = %job.message_id, "could not move the job to the DLQ");
                Some(job.message_id.clone())
            }
        },
    }
}

/// The longest backoff for a delivery window: an [`ATTEMPTS_PER_WINDOW`]th of it, within
/// [`FIRST_RETRY_DELAY`] and [`MAX_VISIBILITY_DELAY`], and never above the operator's cap.
pub fn retry_ceiling(window: Duration, operator_cap: Duration) -> Duration {
    (window / ATTEMPTS_PER_WINDOW)
        .clamp(FIRST_RETRY_DELAY, MAX_VISIBILITY_DELAY)
        .min(operator_cap)
}

/// Exponential backoff with jitter, never sooner than FChat's `retry_after`.
pub fn retry_delay(attempts: u32, retry_after: Option<u64>, max: Duration) -> Duration {
    let exponent = attempts.saturating_sub(1).min(16);
    let ceiling = FIRST_RETRY_DELAY.saturating_mul(1 << exponent).min(max);
    // Half the delay is fixed, half random: retries of many jobs spread out.
    let mut random = [0u8; 4];
    let fraction = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    let jittered = ceiling.mul_f64(0.5 + fraction / 2.0);
    let floor = Duration::from_secs(retry_after.unwrap_or(0));
    jittered.max(floor).max(Duration::from_secs(1))
}

mod silences;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{Fault, FixedClock, MemoryFChat, MemoryStore};
    use crate::domain::message::Button;
    use crate::domain::{Context, DeliveryStatus, Group};
    use crate::ports::{ContextStore, GroupStore, UserStore};
    use async_trait::async_trait;
    use serde_json::{json, Map};
    use std::sync::Mutex;

    const NOW: u64 = 1_800_000_000;
    /// The delivery window and reply window of the test's messages.
    const WINDOW: u64 = 3 * 60 * 60;
    const REPLY_WINDOW: u64 = 300;

    #[test]
    fn retry_delays_grow_with_jitter_and_honour_retry_after() {
        for _ in 0..50 {
            let first = retry_delay(1, None, MAX_RETRY_DELAY);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            let fourth = retry_delay(4, None, MAX_RETRY_DELAY);
            assert!(
                fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16),
                "{fourth:?}"
            );
            assert!(retry_delay(40, None, MAX_RETRY_DELAY) <= MAX_RETRY_DELAY);
            assert_eq!(
                retry_delay(9, None, Duration::from_secs(1)),
                Duration::from_secs(1)
            );
            assert!(retry_delay(1, Some(30), MAX_RETRY_DELAY) >= Duration::from_secs(30));
        }
    }

    struct World {
        delivery: Delivery,
        store: Arc<MemoryStore>,
        fchat: Arc<MemoryFChat>,
        clock: Arc<FixedClock>,
    }

    async fn world() -> World {
        let store = Arc::new(MemoryStore::default());
        for (id, beatchat, active) in [
            ("ops", Some("beatchat-1"), true),
            ("archive", Some("beatchat-2"), false),
        ] {
            let group = Group {
                id: id.into(),
                beatchat_id: beatchat.map(Into::into),
                active,
                name: None,
            };
            store.put_group(&group).await.unwrap();
        }
        let fchat = Arc::new(MemoryFChat::default());
        fchat.add_user("known@example.com", "fchat-7");
        let clock = Arc::new(FixedClock::at(NOW));
        let silencer = Arc::new(crate::adapters::memory::MemorySilencer::default());
        let forwarder = Forwarder {
            apps: store.clone(),
            contexts: store.clone(),
            queue: Arc::new(crate::adapters::memory::MemoryQueue::default()),
            webhooks: Arc::new(crate::adapters::memory::MemoryWebhooks::default()),
            clock: clock.clone(),
            fchat: fchat.clone(),
        };
        let delivery = Delivery {
            contexts: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            apps: store.clone(),
            fchat: fchat.clone(),
            silencer: silencer.clone(),
            clock: clock.clone(),
            lease: Duration::from_secs(30),
            max_retry_delay: MAX_RETRY_DELAY,
            forwarder,
            max_forward_delay: crate::services::forwarding::FORWARD_RETRY_DELAYS[4],
        };
        World {
            delivery,
            store,
            fchat,
            clock,
        }
    }

    impl World {
        /// GIVEN an accepted message: its context and its job.
        async fn accepted(&self, id: &str, target: Target) -> String {
            let context = Context {
                id: id.into(),
                app: "alerts".into(),
                target: target.clone(),
                parameters: Map::new(),
                status: DeliveryStatus::Queued,
                attempts: 0,
                last_error: None,
                fchat_message_id: None,
                created_at: NOW,
                expires_at: NOW + WINDOW + REPLY_WINDOW,
                deliver_by: NOW + WINDOW,
                reply_window_seconds: REPLY_WINDOW,
                lease_until: None,
                conversation: Default::default(),
            };
            self.store.create_context(&context).await.unwrap();
            let content = MessageContent {
                text: "Approve?".into(),
                keyboard: vec![vec![Button {
                    text: "Yes".into(),
                    callback_data: json!({"a": 1}),
                }]],
            };
            let kind = match target {
                Target::Group(group_id) => JobKind::SendGroup {
                    context_id: id.into(),
                    app: "alerts".into(),
                    group_id,
                    content,
                },
                Target::User(email) => JobKind::SendUser {
                    context_id: id.into(),
                    app: "alerts".into(),
                    email,
                    content,
                },
            };
            Job::new(kind).to_json()
        }

        async fn context(&self, id: &str) -> Context {
            self.store.context_record(id).await.unwrap().unwrap()
        }
    }

    fn transient(retry_after: Option<u64>) -> FChatError {
        FChatError::Transient {
            reason: "503 Service Unavailable".into(),
            retry_after,
        }
    }

    #[tokio::test]
    async fn a_group_message_is_sent_to_the_groups_beatchat_and_marked_sent() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        let shown = w.fchat.shown();
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].1.chat_id, "beatchat-1");
        assert_eq!(shown[0].1.client_message_id, "c1");
        assert_eq!(shown[0].1.content.keyboard[0][0].text, "Yes");
        let context = w.context("c1").await;
        assert_eq!(context.status, DeliveryStatus::Sent);
        assert_eq!(context.fchat_message_id.as_deref(), Some("m-1"));
        assert_eq!((context.attempts, context.lease_until), (1, None));
    }

    #[tokio::test]
    async fn a_user_known_to_fchat_but_not_to_the_gateway_is_created_then_messaged() {
        let w = world().await;
        let job = w
            .accepted("c1", Target::User("known@example.com".into()))
            .await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.fchat.shown()[0].1.chat_id, "fchat-7");
        let user = w.store.user("known@example.com").await.unwrap().unwrap();
        assert_eq!((user.fchat_id.as_str(), user.created_at), ("fchat-7", NOW));

        // The second message needs no lookup.
        let job = w
            .accepted("c2", Target::User("known@example.com".into()))
            .await;
        w.delivery.deliver(&job, 1).await;
        assert_eq!(w.fchat.lookups(), 1);
        assert_eq!(w.fchat.shown().len(), 2);
    }

    #[tokio::test]
    async fn a_user_fchat_does_not_know_fails_the_message_for_good() {
        let w = world().await;
        let job = w
            .accepted("c1", Target::User("nobody@example.com".into()))
            .await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        let context = w.context("c1").await;
        assert_eq!(context.status, DeliveryStatus::Failed);
        assert_eq!(
            context.last_error.as_deref(),
            Some("User nobody@example.com not found!")
        );
        assert_eq!(w.fchat.send_calls(), 0);
    }

    #[tokio::test]
    async fn rate_limited_then_sent_waits_at_least_retry_after() {
        let w = world().await;
        w.fchat.fail_next([transient(Some(20))]);
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, 1).await else {
            panic!("not retried")
        };
        assert!(delay >= Duration::from_secs(20));
        let waiting = w.context("c1").await;
        assert_eq!(
            (waiting.status, waiting.last_error.as_deref()),
            (DeliveryStatus::Queued, Some("503 Service Unavailable"))
        );

        w.clock.advance(20);
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        let context = w.context("c1").await;
        assert_eq!(
            (context.status, context.attempts),
            (DeliveryStatus::Sent, 2)
        );
    }

    #[tokio::test]
    async fn three_server_errors_then_success_show_exactly_one_message() {
        let w = world().await;
        w.fchat
            .fail_next([transient(None), transient(None), transient(None)]);
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        for _ in 0..3 {
            assert!(matches!(
                w.delivery.deliver(&job, 1).await,
                JobOutcome::RetryAfter(_)
            ));
        }
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.fchat.shown().len(), 1);
        assert_eq!(w.fchat.send_calls(), 4);
        assert_eq!(w.context("c1").await.attempts, 4);
    }

    #[tokio::test]
    async fn a_permanent_refusal_fails_the_message_without_retry() {
        let w = world().await;
        w.fchat.fail_next([FChatError::Permanent {
            reason: "400 Bad Request: chat not found".into(),
        }]);
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        let context = w.context("c1").await;
        assert_eq!(context.status, DeliveryStatus::Failed);
        assert_eq!(
            context.last_error.as_deref(),
            Some("400 Bad Request: chat not found")
        );
        // A duplicate of the job changes nothing.
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.fchat.send_calls(), 1);
    }

    #[tokio::test]
    async fn a_group_deactivated_or_deleted_after_queueing_is_not_sent_to() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("archive".into())).await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(
            w.context("c1").await.last_error.as_deref(),
            Some("group archive is not active")
        );
        let job = w.accepted("c2", Target::Group("gone".into())).await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.context("c2").await.status, DeliveryStatus::Failed);
        assert_eq!(w.fchat.send_calls(), 0);
    }

    #[tokio::test]
    async fn a_duplicate_of_a_sent_job_sends_nothing() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        w.delivery.deliver(&job, 1).await;
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.fchat.send_calls(), 1);
    }

    #[tokio::test]
    async fn a_crash_after_fchat_accepted_shows_the_message_once() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        // FChat shows the message, then the attempt dies before recording it.
        w.store.fail(Fault::FinishSending, "the function crashed");
        assert!(matches!(
            w.delivery.deliver(&job, 1).await,
            JobOutcome::RetryAfter(_)
        ));
        w.store.heal(Fault::FinishSending);
        assert_eq!(w.context("c1").await.status, DeliveryStatus::Sending);

        // While the lease holds, a redelivered copy waits.
        let JobOutcome::RetryAfter(wait) = w.delivery.deliver(&job, 1).await else {
            panic!("not leased")
        };
        assert!(wait <= Duration::from_secs(30));
        // After it, the job is taken over; FChat recognises the context id.
        w.clock.advance(31);
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.fchat.shown().len(), 1);
        assert_eq!(w.fchat.send_calls(), 2);
        assert_eq!(
            w.context("c1").await.fchat_message_id.as_deref(),
            Some("m-1")
        );
    }

    #[tokio::test]
    async fn a_message_whose_delivery_window_passed_is_expired_with_why_and_parked() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        w.fchat.fail_next([transient(None)]);
        assert!(matches!(
            w.delivery.deliver(&job, 1).await,
            JobOutcome::RetryAfter(_)
        ));
        w.clock.advance(WINDOW);
        let JobOutcome::DeadLetter(reason) = w.delivery.deliver(&job, 2).await else {
            panic!("not parked")
        };
        let context = w.context("c1").await;
        assert_eq!(context.status, DeliveryStatus::Expired);
        assert_eq!(context.last_error.as_deref(), Some(reason.as_str()));
        assert!(
            reason.contains("delivery window") && reason.contains("503 Service Unavailable"),
            "{reason}"
        );
        // It stays readable (and redrivable) long after its reply window would have ended.
        assert!(context.expires_at >= NOW + WINDOW + crate::domain::UNDELIVERED_RETENTION_SECONDS);
        assert_eq!(w.fchat.send_calls(), 1);
        // A duplicate of the job changes nothing.
        assert_eq!(w.delivery.deliver(&job, 3).await, JobOutcome::Done);
    }

    #[tokio::test]
    async fn fchat_down_for_hours_loses_nothing_and_the_reply_window_starts_when_it_is_taken() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        // FChat refuses every send for two hours: far beyond the old eight attempts.
        let mut receives = 0;
        let mut waited = 0;
        while waited < 2 * 60 * 60 {
            w.fchat.fail_next([transient(None)]);
            receives += 1;
            let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, receives).await else {
                panic!("gave up after {receives} receives")
            };
            assert!(delay <= MAX_VISIBILITY_DELAY);
            w.clock.advance(delay.as_secs());
            waited += delay.as_secs();
        }
        assert!(receives > 8 && receives < MAX_RECEIVE_COUNT, "{receives}");
        assert_eq!(w.context("c1").await.status, DeliveryStatus::Queued);
        // FChat is back: the message is shown once, and replies reach the app for the whole
        // reply window from now.
        assert_eq!(
            w.delivery.deliver(&job, receives + 1).await,
            JobOutcome::Done
        );
        assert_eq!(w.fchat.shown().len(), 1);
        let sent = w.context("c1").await;
        assert_eq!(sent.status, DeliveryStatus::Sent);
        assert_eq!(sent.expires_at, w.clock.now() + REPLY_WINDOW);
        assert!(w
            .store
            .context("c1", w.clock.now() + REPLY_WINDOW - 1)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn the_last_retry_comes_as_the_window_ends_and_retry_after_is_honoured() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        w.clock.advance(WINDOW - 5);
        w.fchat.fail_next([transient(None)]);
        let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, 30).await else {
            panic!("not retried")
        };
        assert!(delay <= Duration::from_secs(6), "{delay:?}");
        // FChat's retry_after is never cut short, even past the window's end.
        w.fchat.fail_next([transient(Some(60))]);
        let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, 31).await else {
            panic!("not retried")
        };
        assert!(delay >= Duration::from_secs(60), "{delay:?}");
    }

    #[test]
    fn every_delivery_window_fits_the_queues_receive_count() {
        // The slowest schedule: every delay at the bottom of its jitter.
        for window in [
            60,
            300,
            3_600,
            86_400,
            crate::domain::MAX_DELIVERY_WINDOW_SECONDS,
        ] {
            let ceiling = retry_ceiling(Duration::from_secs(window), MAX_RETRY_DELAY);
            assert!(ceiling <= MAX_VISIBILITY_DELAY);
            let (mut attempts, mut covered) = (0u32, Duration::ZERO);
            while covered < Duration::from_secs(window) {
                attempts += 1;
                let exponent = attempts.saturating_sub(1).min(16);
                covered += FIRST_RETRY_DELAY
                    .saturating_mul(1 << exponent)
                    .min(ceiling)
                    .mul_f64(0.5)
                    .max(Duration::from_secs(1));
            }
            // Room to spare for leases and storage trouble before the redrive policy.
            assert!(
                attempts + 20 <= MAX_RECEIVE_COUNT,
                "a {window} s window takes {attempts} attempts"
            );
        }
    }

    #[tokio::test]
    async fn a_storage_error_never_reaches_the_app_in_its_text() {
        let w = world().await;
        w.store.fail(
            Fault::Groups,
            "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/delivery is not authorized",
        );
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        assert!(matches!(
            w.delivery.deliver(&job, 1).await,
            JobOutcome::RetryAfter(_)
        ));
        let context = w.context("c1").await;
        assert_eq!(context.last_error.as_deref(), Some(STORAGE_UNAVAILABLE));
    }

    /// What became of each job that was not done.
    #[derive(Default)]
    struct Delays {
        delayed: Mutex<Vec<(String, Duration)>>,
        requeued: Mutex<Vec<String>>,
        dead: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Redelivery for Delays {
        async fn redeliver_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
            self.delayed.lock().unwrap().push((receipt.into(), delay));
            Ok(())
        }
        async fn requeue(&self, body: &str, _: Duration) -> Result<(), StoreError> {
            self.requeued.lock().unwrap().push(body.into());
            Ok(())
        }
        async fn dead_letter(&self, body: &str) -> Result<(), StoreError> {
            self.dead.lock().unwrap().push(body.into());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_job_near_its_last_receive_with_time_left_is_queued_afresh() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        w.fchat.fail_next([transient(None), transient(None)]);
        let queued = |receive_count| QueuedJob {
            message_id: "1".into(),
            receive_count,
            receipt_handle: "r-1".into(),
            body: job.clone(),
            sent_at_ms: None,
        };
        let delays = Delays::default();
        assert_eq!(
            deliver_batch(&w.delivery, &delays, &[queued(MAX_RECEIVE_COUNT - 2)]).await,
            vec!["1"]
        );
        assert!(delays.requeued.lock().unwrap().is_empty());
        // The next receive would be the last before the redrive policy parks it.
        assert!(
            deliver_batch(&w.delivery, &delays, &[queued(MAX_RECEIVE_COUNT - 1)])
                .await
                .is_empty()
        );
        assert_eq!(*delays.requeued.lock().unwrap(), vec![job.clone()]);
        assert_eq!(w.context("c1").await.status, DeliveryStatus::Queued);
    }

    #[tokio::test]
    async fn a_batch_parks_its_poison_and_reports_only_its_retried_jobs() {
        let w = world().await;
        let good = w.accepted("c1", Target::Group("ops".into())).await;
        let also_good = w
            .accepted("c2", Target::User("known@example.com".into()))
            .await;
        let blocked = w.accepted("c3", Target::Group("ops".into())).await;
        w.store.begin_sending("c3", NOW, NOW + 30).await.unwrap();
        let job = |id: &str, body: &str| QueuedJob {
            message_id: id.into(),
            receive_count: 1,
            receipt_handle: format!("r-{id}"),
            body: body.into(),
            sent_at_ms: None,
        };
        let batch = [
            job("1", &good),
            job("2", "{\"v\":1,\"kind\":\"nonsense\"}"),
            job("3", &also_good),
            job("4", &blocked),
            job("5", "not even json"),
        ];
        let delays = Delays::default();
        let mut failed = deliver_batch(&w.delivery, &delays, &batch).await;
        failed.sort();
        assert_eq!(failed, vec!["4"]);
        assert_eq!(w.fchat.shown().len(), 2);
        // Poison goes to the DLQ at once; only the retried job had its visibility changed.
        let mut dead = delays.dead.lock().unwrap().clone();
        dead.sort();
        assert_eq!(
            dead,
            vec!["not even json", "{\"v\":1,\"kind\":\"nonsense\"}"]
        );
        let delays = delays.delayed.lock().unwrap().clone();
        assert_eq!(delays.len(), 1);
        assert_eq!(delays[0].0, "r-4");
        assert!(delays[0].1 <= Duration::from_secs(30));
    }
}
