//! Conversations: a message is not fixed once sent. A click's answer can edit it, a
//! single-use keyboard is answered by its first click for everyone, and the app that sent it
//! edits and deletes it through the send API, its changes applied in the order they were
//! accepted, after the send they refer to.
//!
//! What the gateway knows of a message beyond its delivery lives with its context
//! ([`Conversation`]); the rules on it are here, so that every store and service applies the
//! same ones.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::message::{click_data, Button, InlineKeyboard, MessageContent, MAX_TEXT_CHARS};
use crate::domain::{Context, DeliveryStatus, UnixTime};

/// The longest notice a click is answered with (FChat's `answerCallbackQuery`).
pub const MAX_NOTICE_CHARS: usize = 200;
/// The most characters of a user's name that a message or a notice repeats.
pub const MAX_NAME_CHARS: usize = 64;

/// A message's conversation: what FChat shows of it as far as the gateway knows, its first
/// answer, and the app's changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// What FChat shows, once the gateway keeps it: from the send for a message with
    /// buttons (a click may change it), after every change for any message. `None`: the
    /// text as sent, without buttons.
    pub shown: Option<Shown>,
    /// An alert group's message: it changes with its alerts only.
    pub alert_group: bool,
    /// Edits applied so far, whoever made them: the message's version is one more.
    pub edits: u32,
    /// The app's changes (edits and deletes through the send API), numbered from 1 in the
    /// order they were accepted...
    pub changes_accepted: u32,
    /// ...and how many of them are applied (or failed for good): they apply in that order.
    pub changes_applied: u32,
    /// Changes accepted whose job could not be queued: answered 503 and never applied.
    pub void_changes: BTreeSet<u32>,
    /// A deletion is accepted: nothing more may change the message.
    pub delete_accepted: bool,
    pub deleted: bool,
    /// The first click on a single-use keyboard.
    pub answered: Option<FirstAnswer>,
    /// Why the latest change could not be applied (FChat's answer).
    pub change_error: Option<String>,
}

/// What a message shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Shown {
    /// `None`: the text as sent, which the gateway did not keep (a message without buttons
    /// whose buttons alone changed).
    pub text: Option<String>,
    pub keyboard: InlineKeyboard,
    /// The first click answers the buttons for everyone.
    pub single_use: bool,
}

/// Who answered a single-use keyboard first, and with which button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstAnswer {
    /// The user as the chat names them.
    pub by: String,
    /// The clicked button's text, when the click names one of the message's buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// The click's update (its SHA-256): FChat's repeat of it is the same answer.
    pub update: String,
}

/// New buttons: the keyboard (empty: none) and whether they are single-use.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Buttons {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyboard: InlineKeyboard,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_use: bool,
}

/// An edit of a message; what it leaves out stays as it is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Edit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Buttons>,
    /// A line added under the text, once (the answer of a single-use keyboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Edit {
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.buttons.is_none() && self.note.is_none()
    }
}

/// A change to a sent message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MessageChange {
    Edit(Edit),
    Delete,
}

/// What FChat is asked to do for a change.
#[derive(Debug, Clone, PartialEq)]
pub enum FChatChange {
    /// `editMessageText`: the text and the buttons.
    Text(MessageContent),
    /// `editMessageReplyMarkup`: the buttons alone, the text as it is.
    Buttons(InlineKeyboard),
    /// `deleteMessage`.
    Delete,
}

/// A change planned: FChat's part, and what the message shows once FChat did it, as far as
/// the change touches it (what it leaves out stays as it is, and is not written again).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub fchat: FChatChange,
    /// The text the message shows now, when the change set it.
    pub text: Option<String>,
    /// The buttons the message shows now, when the change set them.
    pub buttons: Option<Buttons>,
    /// New buttons replace the answered ones: the first-answer rule starts over.
    pub clears_answer: bool,
}

/// Why the app may not change a message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// Not a message of the app, or its context is gone.
    NotFound,
    /// FChat refused it, or its delivery window passed: there is nothing to change.
    NotDelivered,
    /// It is deleted, or its deletion is accepted.
    Deleted,
    /// An alert group's message.
    AlertGroup,
}

impl Conversation {
    /// The conversation of a new message: its buttons, when it has some, are kept, so that a
    /// click can change them.
    pub fn new(content: &MessageContent, single_use: bool, alert_group: bool) -> Self {
        let shown = (!content.keyboard.is_empty() && !alert_group).then(|| Shown {
            text: Some(content.text.clone()),
            keyboard: content.keyboard.clone(),
            single_use,
        });
        Conversation {
            shown,
            alert_group,
            ..Conversation::default()
        }
    }

    /// The message's version: 1 as sent, one more for each edit applied.
    pub fn version(&self) -> u32 {
        self.edits.saturating_add(1)
    }

    /// Whether a click goes through the first-answer rule: its buttons are single-use, or
    /// the first answer is in.
    pub fn first_click_wins(&self) -> bool {
        self.answered.is_some() || self.shown.as_ref().is_some_and(|s| s.single_use)
    }

    /// The next of the app's changes to apply: the first after those applied that was not
    /// voided.
    pub fn next_change(&self) -> u32 {
        let mut next = self.changes_applied.saturating_add(1);
        while self.void_changes.contains(&next) {
            next = next.saturating_add(1);
        }
        next
    }

    /// The app's changes accepted and not applied yet.
    pub fn pending_changes(&self) -> u32 {
        let voided = self
            .void_changes
            .iter()
            .filter(|seq| **seq > self.changes_applied && **seq <= self.changes_accepted)
            .count() as u32;
        self.changes_accepted
            .saturating_sub(self.changes_applied)
            .saturating_sub(voided)
    }

    /// What `change` asks of FChat, and what the message shows after it.
    pub fn plan(&self, change: &MessageChange) -> Plan {
        let now = self.shown.clone().unwrap_or_default();
        let edit = match change {
            MessageChange::Delete => {
                return Plan {
                    fchat: FChatChange::Delete,
                    text: None,
                    buttons: None,
                    clears_answer: false,
                }
            }
            MessageChange::Edit(edit) => edit,
        };
        let (keyboard, single_use) = match &edit.buttons {
            Some(buttons) => (buttons.keyboard.clone(), buttons.single_use),
            None => (now.keyboard.clone(), now.single_use),
        };
        let mut text = edit.text.clone().or(now.text);
        if let (Some(note), Some(current)) = (&edit.note, &text) {
            text = Some(with_note(current, note));
        }
        let sets_text = edit.text.is_some() || edit.note.is_some();
        let fchat = match &text {
            // The text changes, or buttons are kept under a new text: editMessageText.
            Some(text) if sets_text => FChatChange::Text(MessageContent {
                text: text.clone(),
                keyboard: keyboard.clone(),
            }),
            _ => FChatChange::Buttons(keyboard.clone()),
        };
        let clears_answer = edit
            .buttons
            .as_ref()
            .is_some_and(|b| !b.keyboard.is_empty());
        Plan {
            fchat,
            text: text.filter(|_| sets_text),
            buttons: edit.buttons.as_ref().map(|_| Buttons {
                keyboard,
                single_use,
            }),
            clears_answer,
        }
    }
}

/// Whether `app` may edit or delete the message of `context` at `now`: the one rule every
/// store follows. A message may change while its context lives and it is, or may still be,
/// delivered; never an alert group's, and never once its deletion is accepted.
pub fn may_change(context: &Context, app: &str, now: UnixTime) -> Result<(), ChangeRefusal> {
    let conversation = &context.conversation;
    if context.app != app || context.expired(now) {
        return Err(ChangeRefusal::NotFound);
    }
    if conversation.alert_group {
        return Err(ChangeRefusal::AlertGroup);
    }
    if conversation.delete_accepted || conversation.deleted {
        return Err(ChangeRefusal::Deleted);
    }
    match context.status {
        DeliveryStatus::Failed | DeliveryStatus::Expired => Err(ChangeRefusal::NotDelivered),
        _ if context.delivery_window_passed(now) => Err(ChangeRefusal::NotDelivered),
        _ => Ok(()),
    }
}

/// `text` with `note` added on a line of its own, once, within the contract's 2000
/// characters (the text is cut short to make room).
pub fn with_note(text: &str, note: &str) -> String {
    if text.ends_with(note) {
        return text.to_owned();
    }
    let room = MAX_TEXT_CHARS.saturating_sub(note.chars().count() + 2);
    let kept: String = if text.chars().count() > room {
        let cut: String = text.chars().take(room.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        text.to_owned()
    };
    format!("{kept}\n\n{note}")
}

/// The line a single-use keyboard's first answer adds to its message.
pub fn answered_note(answer: &FirstAnswer) -> String {
    match &answer.button {
        Some(button) => format!("✓ {button} by {}", answer.by),
        None => format!("✓ Answered by {}", answer.by),
    }
}

/// The notice a click on an answered message gets.
pub fn already_answered(answer: &FirstAnswer) -> String {
    format!("Already answered by {}", answer.by)
}

/// The button of `keyboard` a click carrying `data` came from: the first whose
/// `callbackData` a click sends back as `data`.
pub fn clicked_button<'a>(keyboard: &'a InlineKeyboard, data: &str) -> Option<&'a Button> {
    keyboard
        .iter()
        .flatten()
        .find(|button| click_data(&button.callback_data) == data)
}

/// A user's name as a message or a notice shows it: FChat's name, else their email, else
/// their FChat id; at most [`MAX_NAME_CHARS`] characters, on one line.
pub fn display_name(name: Option<&str>, email: Option<&str>, id: Option<&str>) -> String {
    let chosen = [name, email, id]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|candidate| !candidate.is_empty())
        .unwrap_or("an FChat user");
    let mut shown: String = chosen
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_NAME_CHARS)
        .collect();
    if chosen.chars().count() > MAX_NAME_CHARS {
        shown.pop();
        shown.push('…');
    }
    shown
}

/// A notice as FChat shows it: its text and whether it is an alert the clicker dismisses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notice {
    pub text: String,
    pub show_alert: bool,
}

/// The JSON of a value kept with a message, for the store.
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("conversation records always serialise")
}

/// A value kept with a message, from its JSON.
pub fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{App, Target};
    use serde_json::{json, Value};

    fn button(text: &str, data: Value) -> Button {
        Button {
            text: text.into(),
            callback_data: data,
        }
    }

    fn question() -> MessageContent {
        MessageContent {
            text: "Deploy 42?".into(),
            keyboard: vec![vec![
                button("Approve", json!({"action": "approve"})),
                button("Reject", json!("reject")),
            ]],
        }
    }

    fn edit(text: Option<&str>, buttons: Option<Buttons>) -> MessageChange {
        MessageChange::Edit(Edit {
            text: text.map(Into::into),
            buttons,
            note: None,
        })
    }

    #[test]
    fn a_message_with_buttons_keeps_what_it_shows_and_a_plain_one_does_not() {
        let kept = Conversation::new(&question(), true, false);
        assert_eq!(
            kept.shown,
            Some(Shown {
                text: Some("Deploy 42?".into()),
                keyboard: question().keyboard,
                single_use: true
            })
        );
        assert!(kept.first_click_wins());
        let plain = MessageContent {
            text: "hi".into(),
            keyboard: vec![],
        };
        assert_eq!(Conversation::new(&plain, false, false).shown, None);
        assert_eq!(Conversation::new(&question(), false, true).shown, None);
        assert_eq!(Conversation::default().version(), 1);
    }

    #[test]
    fn an_edit_keeps_what_it_leaves_out() {
        let conversation = Conversation::new(&question(), false, false);
        // Text alone: the buttons stay, through editMessageText.
        let plan = conversation.plan(&edit(Some("Deploy 42: approved"), None));
        assert_eq!(
            plan.fchat,
            FChatChange::Text(MessageContent {
                text: "Deploy 42: approved".into(),
                keyboard: question().keyboard
            })
        );
        // Buttons alone: editMessageReplyMarkup, the text as it is.
        let plan = conversation.plan(&edit(None, Some(Buttons::default())));
        assert_eq!(plan.fchat, FChatChange::Buttons(vec![]));
        assert_eq!((plan.text, plan.buttons), (None, Some(Buttons::default())));
        assert!(!plan.clears_answer);
        // A message whose text the gateway never kept can still lose its buttons.
        let plain = Conversation::default();
        let plan = plain.plan(&edit(None, Some(Buttons::default())));
        assert_eq!(plan.fchat, FChatChange::Buttons(vec![]));
        assert_eq!(plan.text, None);
        let plan = plain.plan(&MessageChange::Delete);
        assert_eq!(plan.fchat, FChatChange::Delete);
    }

    #[test]
    fn new_buttons_start_the_first_answer_over() {
        let conversation = Conversation::new(&question(), true, false);
        let plan = conversation.plan(&edit(
            None,
            Some(Buttons {
                keyboard: vec![vec![button("Undo", json!("undo"))]],
                single_use: false,
            }),
        ));
        assert!(plan.clears_answer);
        assert!(!plan.buttons.unwrap().single_use);
    }

    #[test]
    fn a_note_is_added_once_and_within_the_limit() {
        assert_eq!(
            with_note("Deploy?", "✓ Yes by Ann"),
            "Deploy?\n\n✓ Yes by Ann"
        );
        assert_eq!(
            with_note("Deploy?\n\n✓ Yes by Ann", "✓ Yes by Ann"),
            "Deploy?\n\n✓ Yes by Ann"
        );
        let long = "ệ".repeat(MAX_TEXT_CHARS);
        let noted = with_note(&long, "✓ Yes by Ann");
        assert_eq!(noted.chars().count(), MAX_TEXT_CHARS);
        assert!(noted.ends_with("…\n\n✓ Yes by Ann"));
        let conversation = Conversation::new(&question(), true, false);
        let plan = conversation.plan(&MessageChange::Edit(Edit {
            text: None,
            buttons: Some(Buttons::default()),
            note: Some("✓ Approve by Ann".into()),
        }));
        assert_eq!(
            plan.fchat,
            FChatChange::Text(MessageContent {
                text: "Deploy 42?\n\n✓ Approve by Ann".into(),
                keyboard: vec![]
            })
        );
    }

    #[test]
    fn changes_apply_in_order_skipping_the_voided() {
        let mut conversation = Conversation {
            changes_accepted: 4,
            changes_applied: 1,
            ..Conversation::default()
        };
        assert_eq!(conversation.next_change(), 2);
        assert_eq!(conversation.pending_changes(), 3);
        conversation.void_changes = [2, 3].into();
        assert_eq!(conversation.next_change(), 4);
        assert_eq!(conversation.pending_changes(), 1);
    }

    #[test]
    fn the_clicked_button_is_found_by_the_data_a_click_carries() {
        let keyboard = question().keyboard;
        assert_eq!(
            clicked_button(&keyboard, r#"{"action":"approve"}"#).map(|b| b.text.as_str()),
            Some("Approve")
        );
        assert_eq!(
            clicked_button(&keyboard, "reject").map(|b| b.text.as_str()),
            Some("Reject")
        );
        assert_eq!(clicked_button(&keyboard, "other"), None);
    }

    #[test]
    fn names_are_bounded_and_on_one_line() {
        assert_eq!(
            display_name(Some(" Ann "), Some("a@x.io"), None),
            "Ann".to_owned()
        );
        assert_eq!(display_name(None, Some("a@x.io"), Some("f-1")), "a@x.io");
        assert_eq!(display_name(Some(""), None, Some("f-1")), "f-1");
        assert_eq!(display_name(None, None, None), "an FChat user");
        let long = display_name(Some(&"x\ny".repeat(100)), None, None);
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(!long.contains('\n') && long.ends_with('…'));
        let answer = FirstAnswer {
            by: "Ann".into(),
            button: Some("Approve".into()),
            update: "u".into(),
        };
        assert_eq!(answered_note(&answer), "✓ Approve by Ann");
        assert_eq!(already_answered(&answer), "Already answered by Ann");
    }

    #[test]
    fn who_may_change_a_message() {
        let app = App {
            name: "ops".into(),
            token_hash: String::new(),
            group_id: None,
            user_messaging: true,
            webhook_url: None,
            webhook_secrets: vec![],
            context_ttl_seconds: 300,
            delivery_window_seconds: 3600,
            active: true,
            previous_token: None,
            older_secrets_until: None,
            alert_templates: Default::default(),
            alerting: Default::default(),
            sns: Default::default(),
            hooks: Default::default(),
        };
        let now = 1_000;
        let mut context =
            Context::queued(&app, Target::User("a@x.io".into()), Default::default(), now);
        assert_eq!(may_change(&context, "ops", now), Ok(()));
        assert_eq!(
            may_change(&context, "other", now),
            Err(ChangeRefusal::NotFound)
        );
        assert_eq!(
            may_change(&context, "ops", context.expires_at),
            Err(ChangeRefusal::NotFound)
        );
        assert_eq!(
            may_change(&context, "ops", context.deliver_by),
            Err(ChangeRefusal::NotDelivered)
        );
        context.status = DeliveryStatus::Failed;
        assert_eq!(
            may_change(&context, "ops", now),
            Err(ChangeRefusal::NotDelivered)
        );
        context.status = DeliveryStatus::Sent;
        context.conversation.delete_accepted = true;
        assert_eq!(
            may_change(&context, "ops", now),
            Err(ChangeRefusal::Deleted)
        );
        context.conversation.alert_group = true;
        assert_eq!(
            may_change(&context, "ops", now),
            Err(ChangeRefusal::AlertGroup)
        );
    }

    #[test]
    fn changes_round_trip_as_json() {
        let change = MessageChange::Edit(Edit {
            text: Some("t".into()),
            buttons: Some(Buttons::default()),
            note: None,
        });
        let text = to_json(&change);
        assert_eq!(text, r#"{"op":"edit","text":"t","buttons":{}}"#);
        assert_eq!(from_json::<MessageChange>(&text), Ok(change));
        assert_eq!(to_json(&MessageChange::Delete), r#"{"op":"delete"}"#);
    }
}
