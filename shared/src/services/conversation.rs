//! Changes to sent messages (`crate::domain::conversation`): applying one (FChat first, then
//! the record, read again when another change came first), the delivery of the app's changes
//! in the order they were accepted, and a click's answer from the app's webhook (its notice
//! and its edit).

use std::time::Duration;

use crate::api::changes::parse_click_answer;
use crate::domain::conversation::{FChatChange, MessageChange, Notice};
use crate::domain::job::{ChangeJob, Forward, Job, JobKind};
use crate::domain::{DeliveryStatus, Target};
use crate::logging::loggable;
use crate::ports::{
    ContextStore, FChat, FChatError, GroupStore, MessageEdit, RecordedChange, StoreError, UserStore,
};
use crate::services::delivery::{retry_delay, Delivery, JobOutcome};
use crate::services::forwarding::Forwarder;

/// How often a change is planned again after another change to the same message came first.
const RACES: usize = 3;
/// The longest wait of a change for the send it refers to: the send's own retries are spaced
/// up to an hour apart, and the change should follow soon after FChat takes the message.
const MAX_WAIT_FOR_SEND: Duration = Duration::from_secs(15 * 60);

/// How applying a change ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// FChat shows it, and it is recorded; or there was nothing left to do (a repeat, a
    /// deleted message).
    Done,
    /// FChat refused it for good: recorded with why, never retried.
    Refused(String),
    /// Not yet: something comes first.
    Waiting(WaitsFor),
    /// Worth another attempt.
    Retry {
        error: String,
        retry_after: Option<u64>,
    },
    /// The message cannot take it (gone, never delivered): dropped, with why.
    Dropped(String),
}

/// What a change waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitsFor {
    /// FChat to take the message it changes.
    Send,
    /// One of the app's earlier changes of the message.
    EarlierChange,
}

/// Applies changes to sent messages: what a store and FChat need.
pub struct MessageChanger<'a> {
    pub contexts: &'a dyn ContextStore,
    pub fchat: &'a dyn FChat,
}

/// The chat a sent message is in.
#[derive(Clone, Copy)]
pub enum Chat<'a> {
    /// Known from the update (a click's chat).
    Known(&'a str),
    /// The chat its target is in now: its group's FChat group, its user's private chat.
    OfTarget {
        groups: &'a dyn GroupStore,
        users: &'a dyn UserStore,
    },
}

impl MessageChanger<'_> {
    /// Applies `change` to the message of `context_id`, in `chat`. `seq`: its place among the
    /// app's changes, which apply in order; `None` for a click's change, applied on top of
    /// what the message shows.
    pub async fn apply(
        &self,
        context_id: &str,
        chat: Chat<'_>,
        change: &MessageChange,
        seq: Option<u32>,
        now: crate::domain::UnixTime,
    ) -> Result<Applied, StoreError> {
        for _ in 0..RACES {
            let Some(context) = self.contexts.context_record(context_id).await? else {
                return Ok(Applied::Dropped("the message's context is gone".into()));
            };
            let conversation = &context.conversation;
            if let Some(seq) = seq {
                if conversation.changes_applied >= seq {
                    return Ok(Applied::Done);
                }
            }
            match context.status {
                DeliveryStatus::Queued | DeliveryStatus::Sending
                    if !context.delivery_window_passed(now) && !context.expired(now) =>
                {
                    return Ok(Applied::Waiting(WaitsFor::Send))
                }
                DeliveryStatus::Sent => {}
                _ => return Ok(Applied::Dropped("the message was not delivered".into())),
            }
            if seq.is_some_and(|seq| conversation.next_change() < seq) {
                if context.expired(now) {
                    return Ok(Applied::Dropped(
                        "the message's context ended before an earlier change came".into(),
                    ));
                }
                return Ok(Applied::Waiting(WaitsFor::EarlierChange));
            }
            if conversation.alert_group {
                return Ok(Applied::Dropped(
                    "an alert group's message changes with its alerts only".into(),
                ));
            }
            let after_refusal = |error: String| RecordedChange {
                text: None,
                buttons: None,
                edited: false,
                deleted: conversation.deleted,
                seq,
                clears_answer: false,
                error: Some(error),
            };
            let (recorded, refusal) = match (&context.fchat_message_id, conversation.deleted) {
                (_, true) => {
                    let why = "the message is deleted".to_owned();
                    (after_refusal(why.clone()), Some(why))
                }
                (None, false) => {
                    let why = "FChat gave no id for the message".to_owned();
                    (after_refusal(why.clone()), Some(why))
                }
                (Some(message_id), false) => {
                    let chat = match chat {
                        Chat::Known(chat_id) => Ok(chat_id.to_owned()),
                        Chat::OfTarget { groups, users } => {
                            chat_of(groups, users, &context.target).await?
                        }
                    };
                    let plan = conversation.plan(change);
                    let done = match chat {
                        Ok(chat) => self.ask_fchat(&chat, message_id, &plan.fchat).await,
                        Err(why) => Err(FChatError::Permanent { reason: why }),
                    };
                    match done {
                        Ok(()) => {
                            let deleted = plan.fchat == FChatChange::Delete;
                            let recorded = RecordedChange {
                                text: plan.text,
                                buttons: plan.buttons,
                                edited: !deleted,
                                deleted,
                                seq,
                                clears_answer: plan.clears_answer,
                                error: None,
                            };
                            (recorded, None)
                        }
                        Err(FChatError::Transient {
                            reason,
                            retry_after,
                        }) => {
                            return Ok(Applied::Retry {
                                error: reason,
                                retry_after,
                            })
                        }
                        Err(
                            FChatError::Permanent { reason }
                            | FChatError::NotFound { reason }
                            | FChatError::CannotEdit { reason },
                        ) => (after_refusal(reason.clone()), Some(reason)),
                    }
                }
            };
            if self
                .contexts
                .record_change(context_id, conversation.edits, &recorded)
                .await?
            {
                return Ok(match refusal {
                    None => Applied::Done,
                    Some(why) => Applied::Refused(why),
                });
            }
            // Another change came first: plan this one again on what the message shows now.
        }
        Ok(Applied::Retry {
            error: "other changes to the message kept coming first".into(),
            retry_after: Some(1),
        })
    }

    async fn ask_fchat(
        &self,
        chat_id: &str,
        message_id: &str,
        change: &FChatChange,
    ) -> Result<(), FChatError> {
        match change {
            FChatChange::Text(content) => {
                self.fchat
                    .edit_message(&MessageEdit {
                        chat_id: chat_id.to_owned(),
                        message_id: message_id.to_owned(),
                        content: content.clone(),
                    })
                    .await
            }
            FChatChange::Buttons(keyboard) => {
                self.fchat.edit_buttons(chat_id, message_id, keyboard).await
            }
            FChatChange::Delete => self.fchat.delete_message(chat_id, message_id).await,
        }
    }
}

impl Delivery {
    /// A change to a sent message, handed out for the `receive_count`-th time.
    pub async fn change(&self, job: ChangeJob, receive_count: u32) -> JobOutcome {
        let chat = Chat::OfTarget {
            groups: self.groups.as_ref(),
            users: self.users.as_ref(),
        };
        let changer = MessageChanger {
            contexts: self.contexts.as_ref(),
            fchat: self.fchat.as_ref(),
        };
        let applied = changer
            .apply(
                &job.context_id,
                chat,
                &job.change,
                job.seq,
                self.clock.now(),
            )
            .await;
        let context_id = loggable(&job.context_id);
        match applied {
            Ok(Applied::Done) => {
                tracing::info!(app = %job.app, context_id, seq = job.seq, "message changed");
                JobOutcome::Done
            }
            Ok(Applied::Refused(reason)) => {
                tracing::warn!(app = %job.app, context_id, seq = job.seq, reason, "FChat refused the change; not retried");
                JobOutcome::Done
            }
            Ok(Applied::Dropped(reason)) => {
                tracing::warn!(app = %job.app, context_id, seq = job.seq, reason, "change dropped");
                JobOutcome::Done
            }
            Ok(Applied::Waiting(what)) => {
                let delay = match what {
                    WaitsFor::Send => retry_delay(
                        receive_count,
                        None,
                        self.max_retry_delay.min(MAX_WAIT_FOR_SEND),
                    ),
                    WaitsFor::EarlierChange => Duration::from_secs(1),
                };
                tracing::info!(app = %job.app, context_id, seq = job.seq, waits_for = ?what, delay_s = delay.as_secs(), "change waits");
                JobOutcome::RetryAfter(delay)
            }
            Ok(Applied::Retry { error, retry_after }) => {
                tracing::warn!(app = %job.app, context_id, seq = job.seq, error, "change will be retried");
                JobOutcome::RetryAfter(retry_delay(
                    receive_count,
                    retry_after,
                    self.max_retry_delay,
                ))
            }
            Err(error) => {
                tracing::error!(%error, context_id, "storage failed during a change");
                JobOutcome::RetryAfter(retry_delay(1, None, self.max_retry_delay))
            }
        }
    }
}

/// The chat a message of `target` is in: its group's FChat chat, or its user's private chat;
/// or why there is none now.
async fn chat_of(
    groups: &dyn GroupStore,
    users: &dyn UserStore,
    target: &Target,
) -> Result<Result<String, String>, StoreError> {
    Ok(match target {
        Target::Group(group_id) => groups
            .group(group_id)
            .await?
            .and_then(|group| group.beatchat_id)
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| format!("group {group_id} has no FChat group now")),
        Target::User(email) => users
            .user(email)
            .await?
            .map(|user| user.fchat_id)
            .ok_or_else(|| "the user is not known any more".to_owned()),
    })
}

impl Forwarder {
    /// A click's answer from the app's webhook: its `notice` answers the click (an empty one
    /// when it has none, so that the clicker's client stops waiting) on the first attempt,
    /// and its `edit` changes the clicked message. What breaks the rules is logged with why
    /// and left out; it is never retried.
    pub(crate) async fn act_on_click_answer(
        &self,
        app: &str,
        forward: &Forward,
        answer: &[u8],
    ) -> Result<(), StoreError> {
        let Some(click) = &forward.click else {
            return Ok(());
        };
        let read = serde_json::from_slice(answer)
            .map(|answer| parse_click_answer(&answer))
            .unwrap_or_default();
        for problem in &read.problems {
            tracing::warn!(app, problem = %problem, webhook_id = %loggable(&forward.webhook_id), "part of the webhook's answer to a click is left out");
        }
        if let Some(query_id) = &click.query_id {
            answer_click(
                self.fchat.as_ref(),
                query_id,
                &read.notice.unwrap_or_default(),
            )
            .await;
        }
        let Some(edit) = read.edit else {
            return Ok(());
        };
        let change = MessageChange::Edit(edit);
        let changer = MessageChanger {
            contexts: self.contexts.as_ref(),
            fchat: self.fchat.as_ref(),
        };
        let applied = changer
            .apply(
                &click.context_id,
                Chat::Known(&forward.chat_id),
                &change,
                None,
                self.clock.now(),
            )
            .await?;
        settle_click_change(self.queue.as_ref(), app, &click.context_id, change, applied).await
    }
}

/// What becomes of a click's change once tried at once: done, or logged, or queued for the
/// delivery function to retry when FChat was briefly unavailable.
pub(crate) async fn settle_click_change(
    queue: &dyn crate::ports::JobQueue,
    app: &str,
    context_id: &str,
    change: MessageChange,
    applied: Applied,
) -> Result<(), StoreError> {
    let context = loggable(context_id);
    match applied {
        Applied::Done => tracing::info!(app, context_id = context, "clicked message changed"),
        Applied::Refused(reason) | Applied::Dropped(reason) => {
            tracing::warn!(
                app,
                context_id = context,
                reason,
                "the clicked message was not changed"
            )
        }
        Applied::Waiting(_) | Applied::Retry { .. } => {
            let job = Job::new(JobKind::Change(ChangeJob {
                context_id: context_id.to_owned(),
                app: app.to_owned(),
                seq: None,
                change,
            }));
            queue.enqueue(&job).await?;
            tracing::info!(
                app,
                context_id = context,
                "the clicked message's change is queued for a retry"
            );
        }
    }
    Ok(())
}

/// Answers a click with `notice`. Best effort: FChat has the update's answer either way, and a
/// click left unanswered only spins until the client gives up.
pub(crate) async fn answer_click(fchat: &dyn FChat, query_id: &str, notice: &Notice) {
    if let Err(error) = fchat.answer_click(query_id, notice).await {
        tracing::warn!(%error, query_id = %loggable(query_id), "the click could not be answered");
    }
}
