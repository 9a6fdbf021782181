//! What conversations need from the store: a message's line of changes, its first answer,
//! and what it shows, each decided by one atomic write (`crate::domain::conversation`).

use async_trait::async_trait;

use crate::domain::conversation::{Buttons, ChangeRefusal, FirstAnswer};
use crate::domain::{Context, UnixTime};
use crate::ports::StoreError;

/// A change applied to a message, as the store records it: what it set, and nothing of what
/// it left as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedChange {
    /// The text the message shows now, when the change set it.
    pub text: Option<String>,
    /// The buttons the message shows now, when the change set them.
    pub buttons: Option<Buttons>,
    /// FChat edited it: its version goes up by one.
    pub edited: bool,
    /// FChat deleted it.
    pub deleted: bool,
    /// The app's change this was, by its place in the line: applied (or failed for good).
    pub seq: Option<u32>,
    /// New buttons: the first-answer rule starts over.
    pub clears_answer: bool,
    /// Why FChat did not take the change; `None` clears an earlier one.
    pub error: Option<String>,
}

/// A change the app may make, accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedChange {
    /// Its place in the message's line of changes, from 1.
    pub seq: u32,
    /// The message's context, as the change found it.
    pub context: Context,
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Accepts a change of `app`'s to the message of `context_id` if
    /// [`crate::domain::conversation::may_change`] allows it at `now`, atomically: the change
    /// takes the next place in the message's line, and a deletion closes the line. Answers
    /// its place, or why the change is refused.
    async fn accept_change(
        &self,
        context_id: &str,
        app: &str,
        delete: bool,
        now: UnixTime,
    ) -> Result<Result<AcceptedChange, ChangeRefusal>, StoreError>;

    /// A change accepted whose job could not be queued: it is never applied (the changes
    /// after it do not wait for it), and a deletion voided opens the line again.
    async fn void_change(&self, context_id: &str, seq: u32, delete: bool)
        -> Result<(), StoreError>;

    /// Records a change FChat made (or refused for good), if the message has had
    /// `seen_edits` edits still and, for one of the app's changes, it is not recorded yet:
    /// `false` otherwise, and the caller reads the message again.
    async fn record_change(
        &self,
        context_id: &str,
        seen_edits: u32,
        change: &RecordedChange,
    ) -> Result<bool, StoreError>;

    /// Records `answer` as the first answer of a single-use keyboard unless one is in,
    /// atomically: the first click wins. Answers the first answer, this one if it won; `None`
    /// when the message's context is gone.
    async fn claim_first_answer(
        &self,
        context_id: &str,
        answer: &FirstAnswer,
    ) -> Result<Option<FirstAnswer>, StoreError>;
}
