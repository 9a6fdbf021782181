//! Delivery: a queued job becomes an FChat message, at least once from the queue and
//! effectively once towards FChat.
//!
//! A context moves `queued` → `sending` (a lease as long as the function's timeout, so that a
//! crashed attempt is taken over) → `sent`, by conditional writes. A duplicate of a sent job
//! sends nothing; a send repeated after a crash carries the same `client_message_id`, which
//! FChat shows once.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::job::{Forward, Job, JobKind};
use crate::domain::message::MessageContent;
use crate::domain::sources::alert_thread::{ThreadAction, ThreadStep};
use crate::domain::sources::alerts::is_silence_button;
use crate::domain::{Context, Target, User};
use crate::ports::{
    AppStore, AttemptOutcome, Clock, ContextStore, FChat, FChatError, GroupStore, MessageEdit,
    OutgoingMessage, SendClaim, Silencer, StoreError, UserStore, MAX_VISIBILITY_DELAY,
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
/// queue (`template.yaml`; SQS's most). Every window's schedule fits well inside it, and an
/// outage probed every [`OUTAGE_PROBE_DELAY`] for hours; a job that still needs time when it
/// is nearly used up is queued afresh.
pub const MAX_RECEIVE_COUNT: u32 = 1000;
/// While FChat fails without saying how long to wait (5xx, timeouts, refused connections: an
/// outage, as a rule), a waiting chat tries again at least this often (half of it random), so
/// that its backlog flows within half a minute of FChat's recovery. Only each chat's first
/// waiting message is tried, so what waiting costs grows with the chats that wait, not with
/// their messages (docs/storms.md). A 429's `retry_after` is honoured as it is.
pub const OUTAGE_PROBE_DELAY: Duration = Duration::from_secs(20);
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
    /// How fast one chat is sent to ([`Pacing::FCHAT`] unless `FCHAT_PACING=off`).
    pub pacing: Pacing,
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
        let ceiling = match retry_after {
            None => ceiling.min(OUTAGE_PROBE_DELAY),
            Some(_) => ceiling,
        };
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
    /// as it is (`crate::domain::sources::alert_thread`). Every FChat call here is safe to repeat: a send
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

mod batch;
mod silences;

pub use batch::{deliver_batch, Pacing};

#[cfg(test)]
mod tests;
