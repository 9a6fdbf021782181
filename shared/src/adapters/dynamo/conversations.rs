//! A context's conversation, in attributes of its item: what the message shows, its first
//! answer and the app's line of changes. Each decision is one conditional `UpdateItem`, never
//! a read followed by a write: two clicks at once, or two changes, cannot both win.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::*;
use crate::domain::conversation::{
    from_json, may_change, to_json, ChangeRefusal, Conversation, FirstAnswer, Shown,
};
use crate::ports::{AcceptedChange, ConversationStore, RecordedChange};

/// What the message shows, in three attributes, so that a change writes only what it
/// changes: its text (absent: as sent, not kept), its buttons (JSON; absent: none), and
/// whether they are single-use.
const SHOWN_TEXT: &str = "shown_text";
const SHOWN_KEYBOARD: &str = "shown_keyboard";
const SINGLE_USE: &str = "single_use";
const ALERT_GROUP: &str = "alert_group";
const EDITS: &str = "edits";
const CHANGES_ACCEPTED: &str = "changes_accepted";
const CHANGES_APPLIED: &str = "changes_applied";
const VOID_CHANGES: &str = "void_changes";
const DELETE_ACCEPTED: &str = "delete_accepted";
const DELETED: &str = "deleted";
const ANSWERED: &str = "answered";
const CHANGE_ERROR: &str = "change_error";

/// How often a decision is tried again when its condition failed for a reason the context,
/// read again, does not show (it changed in between).
const ATTEMPTS: usize = 3;

/// The attributes of a new context's conversation: none for a plain message.
pub(super) fn put_conversation(item: &mut Item, conversation: &Conversation) {
    if let Some(shown) = &conversation.shown {
        if let Some(text) = &shown.text {
            item.insert(SHOWN_TEXT.into(), s(text));
        }
        if !shown.keyboard.is_empty() {
            item.insert(SHOWN_KEYBOARD.into(), s(&to_json(&shown.keyboard)));
        }
        if shown.single_use {
            item.insert(SINGLE_USE.into(), AttributeValue::Bool(true));
        }
    }
    if conversation.alert_group {
        item.insert(ALERT_GROUP.into(), AttributeValue::Bool(true));
    }
}

pub(super) fn conversation_from_item(item: &Item) -> Result<Conversation, StoreError> {
    let json = |name: &str| {
        optional_text(item, name)
            .map(|text| from_json(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
    };
    let shown = Shown {
        text: optional_text(item, SHOWN_TEXT),
        keyboard: json(SHOWN_KEYBOARD)?.unwrap_or_default(),
        single_use: flag(item, SINGLE_USE, false),
    };
    let shown = (shown != Shown::default()).then_some(shown);
    let answered = optional_text(item, ANSWERED)
        .map(|text| from_json(&text))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("{ANSWERED}: {e}")))?;
    let count = |name: &str| -> Result<u32, StoreError> {
        Ok(optional_number(item, name)?.unwrap_or_default() as u32)
    };
    let void_changes = match item.get(VOID_CHANGES) {
        None => Default::default(),
        Some(AttributeValue::Ns(numbers)) => numbers
            .iter()
            .map(|n| n.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Corrupt(format!("{VOID_CHANGES} are not whole numbers")))?,
        Some(_) => {
            return Err(StoreError::Corrupt(format!(
                "{VOID_CHANGES} is not a number set"
            )))
        }
    };
    Ok(Conversation {
        shown,
        alert_group: flag(item, ALERT_GROUP, false),
        edits: count(EDITS)?,
        changes_accepted: count(CHANGES_ACCEPTED)?,
        changes_applied: count(CHANGES_APPLIED)?,
        void_changes,
        delete_accepted: flag(item, DELETE_ACCEPTED, false),
        deleted: flag(item, DELETED, false),
        answered,
        change_error: optional_text(item, CHANGE_ERROR),
    })
}

/// One conditional `UpdateItem` of a context item. Placeholders are named once below; each
/// request carries those its expressions use (DynamoDB refuses the others).
struct ContextUpdate {
    update: String,
    condition: String,
    values: Vec<(&'static str, AttributeValue)>,
}

/// Every attribute name these updates use, by placeholder.
const NAMES: [(&str, &str); 17] = [
    ("#kind", KIND),
    ("#app", "app"),
    ("#exp", EXPIRY_ATTRIBUTE),
    ("#st", "status"),
    ("#by", DELIVER_BY),
    ("#shown_text", SHOWN_TEXT),
    ("#shown_keyboard", SHOWN_KEYBOARD),
    ("#single_use", SINGLE_USE),
    ("#alert_group", ALERT_GROUP),
    ("#edits", EDITS),
    ("#accepted", CHANGES_ACCEPTED),
    ("#applied", CHANGES_APPLIED),
    ("#void", VOID_CHANGES),
    ("#delete_accepted", DELETE_ACCEPTED),
    ("#deleted", DELETED),
    ("#answered", ANSWERED),
    ("#error", CHANGE_ERROR),
];

/// Whether `expression` uses the placeholder `name` (not merely a longer one it begins).
fn uses(expression: &str, name: &str) -> bool {
    expression.match_indices(name).any(|(at, _)| {
        !expression[at + name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

impl DynamoStore {
    /// Runs `update` on the context `id`: the item as it is after it, or `None` when its
    /// condition failed.
    async fn update_context(
        &self,
        id: &str,
        update: &ContextUpdate,
    ) -> Result<Option<Item>, StoreError> {
        let both = format!("{} {}", update.update, update.condition);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.contexts)
            .key(CONTEXTS_KEY, s(id))
            .update_expression(&update.update)
            .condition_expression(&update.condition)
            .expression_attribute_values(":context", s(KIND_CONTEXT))
            .return_values(ReturnValue::AllNew);
        for (placeholder, name) in NAMES {
            if uses(&both, placeholder) {
                request = request.expression_attribute_names(placeholder, name);
            }
        }
        for (placeholder, value) in &update.values {
            request = request.expression_attribute_values(*placeholder, value.clone());
        }
        match request.send().await {
            Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn accept_change(
        &self,
        context_id: &str,
        app: &str,
        delete: bool,
        now: UnixTime,
    ) -> Result<Result<AcceptedChange, ChangeRefusal>, StoreError> {
        if !can_be_key(context_id) {
            return Ok(Err(ChangeRefusal::NotFound));
        }
        let mut values = vec![
            (":zero", n(0)),
            (":one", n(1)),
            (":app", s(app)),
            (":now", n(now)),
            (":sent", s(DeliveryStatus::Sent.as_str())),
            (":queued", s(DeliveryStatus::Queued.as_str())),
            (":sending", s(DeliveryStatus::Sending.as_str())),
        ];
        let mut update = "SET #accepted = if_not_exists(#accepted, :zero) + :one".to_owned();
        if delete {
            update.push_str(", #delete_accepted = :true");
            values.push((":true", AttributeValue::Bool(true)));
        }
        let change = ContextUpdate {
            update,
            // `may_change`, as one condition.
            condition: "#kind = :context AND #app = :app AND #exp > :now \
                AND attribute_not_exists(#alert_group) \
                AND attribute_not_exists(#delete_accepted) AND attribute_not_exists(#deleted) \
                AND (#st = :sent OR ((#st = :queued OR #st = :sending) \
                AND (attribute_not_exists(#by) OR #by > :now)))"
                .to_owned(),
            values,
        };
        for _ in 0..ATTEMPTS {
            if let Some(item) = self.update_context(context_id, &change).await? {
                let context = super::contexts::context_from_item(&item)?;
                return Ok(Ok(AcceptedChange {
                    seq: context.conversation.changes_accepted,
                    context,
                }));
            }
            match self.context_record(context_id).await? {
                None => return Ok(Err(ChangeRefusal::NotFound)),
                Some(context) => {
                    if let Err(refusal) = may_change(&context, app, now) {
                        return Ok(Err(refusal));
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "the message kept changing while a change was accepted".into(),
        ))
    }

    async fn void_change(
        &self,
        context_id: &str,
        seq: u32,
        delete: bool,
    ) -> Result<(), StoreError> {
        if !can_be_key(context_id) {
            return Ok(());
        }
        let mut update = "ADD #void :seq".to_owned();
        if delete {
            update.push_str(" REMOVE #delete_accepted");
        }
        let void = ContextUpdate {
            update,
            condition: "#kind = :context".into(),
            values: vec![(":seq", AttributeValue::Ns(vec![seq.to_string()]))],
        };
        // A context that is gone has nothing left to void.
        self.update_context(context_id, &void).await.map(|_| ())
    }

    async fn record_change(
        &self,
        context_id: &str,
        seen_edits: u32,
        change: &RecordedChange,
    ) -> Result<bool, StoreError> {
        if !can_be_key(context_id) {
            return Ok(false);
        }
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut values = Vec::new();
        if let Some(text) = &change.text {
            set.push("#shown_text = :text".to_owned());
            values.push((":text", s(text)));
        }
        if let Some(buttons) = &change.buttons {
            if buttons.keyboard.is_empty() {
                remove.push("#shown_keyboard");
            } else {
                set.push("#shown_keyboard = :keyboard".to_owned());
                values.push((":keyboard", s(&to_json(&buttons.keyboard))));
            }
            if buttons.single_use {
                set.push("#single_use = :true".to_owned());
                values.push((":true", AttributeValue::Bool(true)));
            } else {
                remove.push("#single_use");
            }
        }
        let mut condition = if seen_edits == 0 {
            "#kind = :context AND (attribute_not_exists(#edits) OR #edits = :seen)".to_owned()
        } else {
            "#kind = :context AND #edits = :seen".to_owned()
        };
        values.push((":seen", n(seen_edits.into())));
        if change.edited {
            set.push("#edits = :edits".into());
            values.push((":edits", n(u64::from(seen_edits) + 1)));
        }
        if change.deleted {
            set.push("#deleted = :true".into());
            values.push((":true", AttributeValue::Bool(true)));
        }
        if let Some(seq) = change.seq {
            set.push("#applied = :seq".into());
            // Another copy of this change may have applied it: never go back.
            condition.push_str(" AND (attribute_not_exists(#applied) OR #applied < :seq)");
            values.push((":seq", n(seq.into())));
        }
        match &change.error {
            Some(error) => {
                set.push("#error = :error".into());
                values.push((":error", s(error)));
            }
            None => remove.push("#error"),
        }
        if change.clears_answer {
            remove.push("#answered");
        }
        let mut update = String::new();
        if !set.is_empty() {
            update.push_str(&format!("SET {} ", set.join(", ")));
        }
        if !remove.is_empty() {
            update.push_str(&format!("REMOVE {}", remove.join(", ")));
        }
        let record = ContextUpdate {
            update,
            condition,
            values,
        };
        Ok(self.update_context(context_id, &record).await?.is_some())
    }

    async fn claim_first_answer(
        &self,
        context_id: &str,
        answer: &FirstAnswer,
    ) -> Result<Option<FirstAnswer>, StoreError> {
        if !can_be_key(context_id) {
            return Ok(None);
        }
        let claim = ContextUpdate {
            update: "SET #answered = :answer".into(),
            condition: "#kind = :context AND attribute_not_exists(#answered)".into(),
            values: vec![(":answer", s(&to_json(answer)))],
        };
        for _ in 0..ATTEMPTS {
            if self.update_context(context_id, &claim).await?.is_some() {
                return Ok(Some(answer.clone()));
            }
            match self.context_record(context_id).await? {
                None => return Ok(None),
                Some(context) => {
                    if let Some(first) = context.conversation.answered {
                        return Ok(Some(first));
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "the message kept changing while its first answer was decided".into(),
        ))
    }
}
