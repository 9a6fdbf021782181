//! FChat in memory: the messages it shows, their edits and deletions, the clicks it saw
//! answered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::conversation::Notice;
use crate::domain::message::InlineKeyboard;
use crate::ports::{FChat, FChatError, FChatUser, MessageEdit, OutgoingMessage};

/// FChat in memory: a directory of users, the messages it showed (once per
/// `client_message_id`), and scripted failures.
#[derive(Default)]
pub struct MemoryFChat {
    shown: Mutex<Vec<(String, OutgoingMessage)>>,
    edits: Mutex<Vec<MessageEdit>>,
    /// `(chat id, message id, keyboard)` of each buttons-only edit, in order.
    button_edits: Mutex<Vec<(String, String, InlineKeyboard)>>,
    deleted: Mutex<HashSet<String>>,
    /// `(callback query id, notice)` of each click answered, in order.
    answers: Mutex<Vec<(String, Notice)>>,
    refuse_edits: AtomicBool,
    users: Mutex<HashMap<String, FChatUser>>,
    failures: Mutex<VecDeque<FChatError>>,
    send_calls: AtomicUsize,
    lookups: AtomicUsize,
    unreachable: AtomicBool,
}

impl MemoryFChat {
    pub fn add_user(&self, email: &str, id: &str) {
        let user = FChatUser {
            id: id.into(),
            email: email.into(),
            name: None,
        };
        self.users.lock().unwrap().insert(email.into(), user);
    }

    /// The next sends fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = FChatError>) {
        self.failures.lock().unwrap().extend(errors);
    }

    /// The messages FChat showed, with their message ids.
    pub fn shown(&self) -> Vec<(String, OutgoingMessage)> {
        self.shown.lock().unwrap().clone()
    }

    pub fn send_calls(&self) -> usize {
        self.send_calls.load(Ordering::SeqCst)
    }

    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// The edits FChat made, in order.
    pub fn edits(&self) -> Vec<MessageEdit> {
        self.edits.lock().unwrap().clone()
    }

    /// While set, edits fail as FChat's do for a message too old to edit.
    pub fn set_refuse_edits(&self, refuse: bool) {
        self.refuse_edits.store(refuse, Ordering::SeqCst);
    }

    /// While set, user lookups fail as if FChat could not be reached.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.store(unreachable, Ordering::SeqCst);
    }

    /// The buttons-only edits FChat made: `(chat id, message id, keyboard)`, in order.
    pub fn button_edits(&self) -> Vec<(String, String, InlineKeyboard)> {
        self.button_edits.lock().unwrap().clone()
    }

    /// Whether FChat deleted the message with this id.
    pub fn is_deleted(&self, message_id: &str) -> bool {
        self.deleted.lock().unwrap().contains(message_id)
    }

    /// The clicks answered: `(callback query id, notice)`, in order.
    pub fn answers(&self) -> Vec<(String, Notice)> {
        self.answers.lock().unwrap().clone()
    }

    /// Whether FChat shows a message with this id in this chat (and it was not deleted).
    fn shows(&self, chat_id: &str, message_id: &str) -> bool {
        !self.is_deleted(message_id)
            && self
                .shown
                .lock()
                .unwrap()
                .iter()
                .any(|(id, m)| id == message_id && m.chat_id == chat_id)
    }
}

#[async_trait]
impl FChat for MemoryFChat {
    async fn send_message(&self, message: &OutgoingMessage) -> Result<String, FChatError> {
        self.send_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        let mut shown = self.shown.lock().unwrap();
        if let Some((id, _)) = shown
            .iter()
            .find(|(_, m)| m.client_message_id == message.client_message_id)
        {
            return Ok(id.clone());
        }
        let id = format!("m-{}", shown.len() + 1);
        shown.push((id.clone(), message.clone()));
        Ok(id)
    }

    async fn find_user(&self, email: &str) -> Result<Option<FChatUser>, FChatError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(FChatError::Transient {
                reason: "could not connect".into(),
                retry_after: None,
            });
        }
        Ok(self.users.lock().unwrap().get(email).cloned())
    }

    async fn edit_message(&self, edit: &MessageEdit) -> Result<(), FChatError> {
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        let known = self.shows(&edit.chat_id, &edit.message_id);
        if !known || self.refuse_edits.load(Ordering::SeqCst) {
            return Err(FChatError::CannotEdit {
                reason: "400 Bad Request: message can't be edited".into(),
            });
        }
        self.edits.lock().unwrap().push(edit.clone());
        Ok(())
    }

    async fn edit_buttons(
        &self,
        chat_id: &str,
        message_id: &str,
        keyboard: &InlineKeyboard,
    ) -> Result<(), FChatError> {
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        if !self.shows(chat_id, message_id) || self.refuse_edits.load(Ordering::SeqCst) {
            return Err(FChatError::CannotEdit {
                reason: "400 Bad Request: message can't be edited".into(),
            });
        }
        self.button_edits.lock().unwrap().push((
            chat_id.to_owned(),
            message_id.to_owned(),
            keyboard.clone(),
        ));
        Ok(())
    }

    async fn delete_message(&self, chat_id: &str, message_id: &str) -> Result<(), FChatError> {
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        // A message gone already is deleted: done.
        if self.shows(chat_id, message_id) {
            self.deleted.lock().unwrap().insert(message_id.to_owned());
        }
        Ok(())
    }

    async fn answer_click(&self, query_id: &str, notice: &Notice) -> Result<(), FChatError> {
        self.answers
            .lock()
            .unwrap()
            .push((query_id.to_owned(), notice.clone()));
        Ok(())
    }
}
