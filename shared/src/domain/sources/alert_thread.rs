//! One message per alert group: the FChat message posted for a group (Alertmanager's and
//! Grafana's `groupKey`) is remembered, and later notifications of the group edit it instead
//! of posting anew.
//!
//! - A repeat (the same alerts, in the same states) posts nothing, unless the app asked for
//!   reminders: then it posts a short reply to the group's message.
//! - A change (alerts added, some resolved) edits the message in place.
//! - When every alert resolved, the message is edited to resolved and a short reply notifies
//!   the chat.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::message::{MessageContent, MAX_TEXT_CHARS};
use crate::domain::UnixTime;

/// How long a group's message is remembered after its last notification. Alertmanager
/// repeats a firing group every `repeat_interval` (4 hours by default), so a live group never
/// gets near it.
pub const THREAD_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;

/// What one notification asks of its group's message. Computed at ingest, carried by the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadStep {
    /// The group's key: a hash of the app, the source, the recipient and the tool's group
    /// key, so that it is bounded and safe in a storage key.
    pub key: String,
    /// A hash of the alerts and their states: equal for a repeat.
    pub fingerprint: String,
    /// Every alert of the group resolved.
    pub resolved: bool,
    /// The reply that tells the chat the group resolved (or, for reminders, still fires).
    pub reply: String,
    /// The app wants a reminder reply on each repeat instead of silence.
    #[serde(default)]
    pub remind: bool,
    /// When the gateway received the notification, in milliseconds: an older notification
    /// delivered late never overwrites a newer one.
    pub at_ms: u64,
    /// The labels that identify the group (Alertmanager's `groupLabels`): a silence's
    /// matchers.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A conversation rather than a state: every notification is a message of its own,
    /// posted as a reply to the thread's first (AWS Chatbot's `threadId`).
    #[serde(default)]
    pub threaded: bool,
}

/// A group's message, as remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertThread {
    pub key: String,
    pub app: String,
    /// The FChat chat the message is in.
    pub chat_id: String,
    /// FChat's id of the group's message.
    pub message_id: String,
    pub fingerprint: String,
    pub resolved: bool,
    pub at_ms: u64,
    pub labels: BTreeMap<String, String>,
    /// What the message shows, without a silence's note: a silence's edit starts from it.
    pub content: MessageContent,
    /// Once someone silenced the group from the chat.
    #[serde(default)]
    pub silence: Option<ChatSilence>,
    pub expires_at: UnixTime,
}

/// A silence created from the chat: shown under the group's message until it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatSilence {
    /// Alertmanager's id of the silence.
    pub silence_id: String,
    /// The FChat update (the click) that created it: a retried click creates no second one.
    pub update_id: String,
    /// "Silenced by a@b.c for 1h (until 14:00 UTC)".
    pub note: String,
    pub until: UnixTime,
}

/// What delivery does with a notification, given what it remembers of the group.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreadAction {
    /// No message yet (or the group's message is in another chat): post one.
    Post,
    /// A repeat: nothing to post.
    Nothing,
    /// A repeat the app wants a reminder of: reply to the message.
    Remind,
    /// The group changed: edit the message; reply when it has just resolved.
    Edit { reply: bool },
    /// An older notification than the one the message shows: ignored.
    Stale,
    /// A threaded notification: posted as a reply to the thread's first message.
    Reply,
}

impl ThreadStep {
    /// What to do, given the group's remembered message (already filtered for expiry) and the
    /// chat the notification goes to.
    pub fn action(&self, thread: Option<&AlertThread>, chat_id: &str) -> ThreadAction {
        let Some(thread) = thread.filter(|t| t.chat_id == chat_id) else {
            return ThreadAction::Post;
        };
        if self.threaded {
            return ThreadAction::Reply;
        }
        if self.at_ms < thread.at_ms {
            return ThreadAction::Stale;
        }
        if self.fingerprint == thread.fingerprint && self.resolved == thread.resolved {
            return if self.remind && !self.resolved {
                ThreadAction::Remind
            } else {
                ThreadAction::Nothing
            };
        }
        ThreadAction::Edit {
            reply: self.resolved && !thread.resolved,
        }
    }

    /// The group's message after this notification.
    pub fn remembered(
        &self,
        app: &str,
        chat_id: &str,
        message_id: &str,
        content: &MessageContent,
        before: Option<&AlertThread>,
        now: UnixTime,
    ) -> AlertThread {
        // A silence outlives the notifications that come while it lasts, not a new message.
        let silence = before
            .filter(|t| t.message_id == message_id)
            .and_then(|t| t.silence.clone())
            .filter(|s| s.until > now);
        AlertThread {
            key: self.key.clone(),
            app: app.to_owned(),
            chat_id: chat_id.to_owned(),
            message_id: message_id.to_owned(),
            fingerprint: self.fingerprint.clone(),
            resolved: self.resolved,
            at_ms: self.at_ms,
            labels: self.labels.clone(),
            content: content.clone(),
            silence,
            expires_at: now + THREAD_TTL_SECONDS,
        }
    }
}

impl AlertThread {
    /// `content` as the chat shows it while the group is silenced: the silence's note below
    /// the text, and no silence buttons. As it is when there is no silence, or it ended.
    pub fn shown(
        &self,
        content: &MessageContent,
        now: UnixTime,
        is_silence_button: impl Fn(&crate::domain::message::Button) -> bool,
    ) -> MessageContent {
        let Some(silence) = self.silence.as_ref().filter(|s| s.until > now) else {
            return content.clone();
        };
        let note = format!("\n\n{}", silence.note);
        let room = MAX_TEXT_CHARS.saturating_sub(note.chars().count());
        let mut text: String = content.text.chars().take(room).collect();
        text.push_str(&note);
        let keyboard = content
            .keyboard
            .iter()
            .map(|row| {
                row.iter()
                    .filter(|b| !is_silence_button(b))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|row| !row.is_empty())
            .collect();
        MessageContent { text, keyboard }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> MessageContent {
        MessageContent {
            text: "FIRING".into(),
            keyboard: Vec::new(),
        }
    }

    fn step(fingerprint: &str, resolved: bool, at_ms: u64) -> ThreadStep {
        ThreadStep {
            key: "k".into(),
            fingerprint: fingerprint.into(),
            resolved,
            reply: "Resolved".into(),
            remind: false,
            at_ms,
            labels: BTreeMap::new(),
            threaded: false,
        }
    }

    #[test]
    fn a_groups_life_posts_once_then_edits_and_replies_on_resolution() {
        let first = step("a", false, 10);
        assert_eq!(first.action(None, "chat"), ThreadAction::Post);
        let thread = first.remembered("app", "chat", "m-1", &plain(), None, 100);
        assert_eq!(thread.expires_at, 100 + THREAD_TTL_SECONDS);

        assert_eq!(
            step("a", false, 20).action(Some(&thread), "chat"),
            ThreadAction::Nothing
        );
        let reminded = ThreadStep {
            remind: true,
            ..step("a", false, 20)
        };
        assert_eq!(reminded.action(Some(&thread), "chat"), ThreadAction::Remind);
        assert_eq!(
            step("b", false, 20).action(Some(&thread), "chat"),
            ThreadAction::Edit { reply: false }
        );
        assert_eq!(
            step("b", true, 20).action(Some(&thread), "chat"),
            ThreadAction::Edit { reply: true }
        );
        let resolved =
            step("b", true, 20).remembered("app", "chat", "m-1", &plain(), Some(&thread), 200);
        // Resolved again (a repeat of the resolution) posts nothing, even with reminders.
        let again = ThreadStep {
            remind: true,
            ..step("b", true, 30)
        };
        assert_eq!(again.action(Some(&resolved), "chat"), ThreadAction::Nothing);
        // Firing again after resolving edits without a reply.
        assert_eq!(
            step("a", false, 40).action(Some(&resolved), "chat"),
            ThreadAction::Edit { reply: false }
        );
    }

    #[test]
    fn a_threaded_notification_replies_to_the_threads_first_message() {
        let threaded = |at_ms| ThreadStep {
            threaded: true,
            ..step("a", false, at_ms)
        };
        assert_eq!(threaded(1).action(None, "chat"), ThreadAction::Post);
        let thread = threaded(1).remembered("app", "chat", "m-1", &plain(), None, 100);
        // Even the same text again, or an older one: every notification is a message.
        assert_eq!(
            threaded(1).action(Some(&thread), "chat"),
            ThreadAction::Reply
        );
        assert_eq!(
            threaded(0).action(Some(&thread), "chat"),
            ThreadAction::Reply
        );
    }

    #[test]
    fn late_notifications_and_other_chats() {
        let thread = step("a", false, 50).remembered("app", "chat", "m-1", &plain(), None, 100);
        assert_eq!(
            step("b", true, 40).action(Some(&thread), "chat"),
            ThreadAction::Stale
        );
        assert_eq!(
            step("a", false, 60).action(Some(&thread), "other-chat"),
            ThreadAction::Post
        );
    }

    #[test]
    fn a_silence_lasts_until_it_ends_or_the_message_changes() {
        let mut thread = step("a", false, 1).remembered("app", "chat", "m-1", &plain(), None, 100);
        thread.silence = Some(ChatSilence {
            silence_id: "s".into(),
            update_id: "u".into(),
            note: "Silenced".into(),
            until: 500,
        });
        let kept =
            step("b", false, 2).remembered("app", "chat", "m-1", &plain(), Some(&thread), 200);
        assert!(kept.silence.is_some());
        let ended =
            step("b", false, 2).remembered("app", "chat", "m-1", &plain(), Some(&thread), 600);
        assert!(ended.silence.is_none());
        let moved =
            step("b", false, 2).remembered("app", "chat", "m-9", &plain(), Some(&thread), 200);
        assert!(moved.silence.is_none());
    }
}
