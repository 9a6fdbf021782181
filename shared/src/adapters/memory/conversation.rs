//! Conversations in memory: each decision under the store's one lock, as DynamoDB makes it
//! with one conditional write.

use async_trait::async_trait;

use super::{Fault, MemoryStore};
use crate::domain::conversation::{may_change, ChangeRefusal, FirstAnswer, Shown};
use crate::domain::UnixTime;
use crate::ports::{AcceptedChange, ConversationStore, RecordedChange, StoreError};

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn accept_change(
        &self,
        context_id: &str,
        app: &str,
        delete: bool,
        now: UnixTime,
    ) -> Result<Result<AcceptedChange, ChangeRefusal>, StoreError> {
        self.check(Fault::Contexts)?;
        let mut contexts = self.contexts.lock().unwrap();
        let Some(context) = contexts.get_mut(context_id) else {
            return Ok(Err(ChangeRefusal::NotFound));
        };
        if let Err(refusal) = may_change(context, app, now) {
            return Ok(Err(refusal));
        }
        let conversation = &mut context.conversation;
        conversation.changes_accepted += 1;
        conversation.delete_accepted |= delete;
        Ok(Ok(AcceptedChange {
            seq: conversation.changes_accepted,
            context: context.clone(),
        }))
    }

    async fn void_change(
        &self,
        context_id: &str,
        seq: u32,
        delete: bool,
    ) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        if let Some(context) = self.contexts.lock().unwrap().get_mut(context_id) {
            context.conversation.void_changes.insert(seq);
            if delete {
                context.conversation.delete_accepted = false;
            }
        }
        Ok(())
    }

    async fn record_change(
        &self,
        context_id: &str,
        seen_edits: u32,
        change: &RecordedChange,
    ) -> Result<bool, StoreError> {
        self.check(Fault::Contexts)?;
        let mut contexts = self.contexts.lock().unwrap();
        let Some(context) = contexts.get_mut(context_id) else {
            return Ok(false);
        };
        let conversation = &mut context.conversation;
        // Another change came first, or another copy of this one applied it.
        let applied = change
            .seq
            .is_some_and(|seq| conversation.changes_applied >= seq);
        if conversation.edits != seen_edits || applied {
            return Ok(false);
        }
        let mut shown = conversation.shown.take().unwrap_or_default();
        if let Some(text) = &change.text {
            shown.text = Some(text.clone());
        }
        if let Some(buttons) = &change.buttons {
            shown.keyboard = buttons.keyboard.clone();
            shown.single_use = buttons.single_use;
        }
        conversation.shown = Some(shown).filter(|shown| *shown != Shown::default());
        conversation.edits += u32::from(change.edited);
        conversation.deleted |= change.deleted;
        if let Some(seq) = change.seq {
            conversation.changes_applied = seq;
        }
        if change.clears_answer {
            conversation.answered = None;
        }
        conversation.change_error = change.error.clone();
        Ok(true)
    }

    async fn claim_first_answer(
        &self,
        context_id: &str,
        answer: &FirstAnswer,
    ) -> Result<Option<FirstAnswer>, StoreError> {
        self.check(Fault::Contexts)?;
        let mut contexts = self.contexts.lock().unwrap();
        let Some(context) = contexts.get_mut(context_id) else {
            return Ok(None);
        };
        Ok(Some(
            context
                .conversation
                .answered
                .get_or_insert_with(|| answer.clone())
                .clone(),
        ))
    }
}
