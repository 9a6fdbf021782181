//! A button click. It belongs to the app that sent the clicked message (its context, by
//! FChat's message id), or to the gateway for an alert group's silence buttons. Every click is
//! answered, so that the clicker's client stops waiting: with the notice of the app's webhook
//! when it answered at once (the forward does that), else with an empty notice. On a
//! single-use keyboard the first click wins, by one conditional write: the message loses its
//! buttons and says who answered, and every later click is told so and not forwarded.

use super::*;
use crate::domain::conversation::{
    already_answered, answered_note, clicked_button, display_name, Buttons, Edit, FirstAnswer,
    MessageChange, Notice,
};
use crate::domain::job::{ClickRef, Job, JobKind, SilenceJob};
use crate::domain::sources::alerts::silence_request;
use crate::services::conversation::{answer_click, settle_click_change, Chat, MessageChanger};

impl Callback {
    pub(super) async fn click(&self, update: &Update) -> Result<&'static str, StoreError> {
        let (outcome, answered) = self.route_click(update).await?;
        if !answered {
            if let Some(query_id) = query_id(&update.raw) {
                answer_click(self.fchat.as_ref(), &query_id, &Notice::default()).await;
            }
        }
        Ok(outcome)
    }

    /// Where the click goes; and whether it has been answered.
    async fn route_click(&self, update: &Update) -> Result<(&'static str, bool), StoreError> {
        let UpdateKind::Click {
            chat_id,
            message_id,
            data,
            email,
        } = &update.kind
        else {
            return Ok((self.unclaimed(update, "not a click"), false));
        };
        if let Some((group, seconds)) = silence_request(data) {
            // The gateway's own button: a silence in the app's Alertmanager.
            let user = match (email, user_id(&update.raw)) {
                (Some(email), _) => email.clone(),
                (None, Some(id)) => format!("FChat user {id}"),
                (None, None) => "an FChat user".to_owned(),
            };
            let job = Job::new(JobKind::Silence(SilenceJob {
                group,
                seconds,
                update_id: update.id.clone(),
                user: user.chars().take(200).collect(),
                message_id: message_id.clone(),
                chat_id: chat_id.clone(),
            }));
            self.forwarder.queue.enqueue(&job).await?;
            tracing::info!(update_id = %loggable(&update.id), "silence queued");
            return Ok(("silence", false));
        }
        let Some(context) = self.contexts.context_by_message_id(message_id).await? else {
            return Ok((
                self.unclaimed(update, "no context for the clicked message"),
                false,
            ));
        };
        if context.expired(self.clock.now()) {
            self.tell_expired(chat_id, &update.id).await;
            return Ok(("expired", false));
        }
        if context.conversation.first_click_wins() {
            if let Some(lost) = self
                .first_click(update, &context, chat_id, data, email)
                .await?
            {
                return Ok(lost);
            }
        }
        let reply_to = context.target.clone();
        let outcome = self
            .forward(
                update,
                &context.app,
                Some(&context),
                "callback_query",
                chat_id,
                Some(reply_to),
            )
            .await?;
        // A forward the webhook answered has answered the click with the app's notice.
        Ok((outcome, outcome == "forwarded"))
    }

    /// A click on a single-use keyboard. The first to reach the gateway wins: the message
    /// loses its buttons and gets a line "✓ {button} by {name}" at once, and the click goes
    /// on to the app (`None`). Any other click is told who answered, and goes no further.
    async fn first_click(
        &self,
        update: &Update,
        context: &Context,
        chat_id: &str,
        data: &str,
        email: &Option<String>,
    ) -> Result<Option<(&'static str, bool)>, StoreError> {
        let user = update.raw.get("message").and_then(|m| m.get("user"));
        let name = user.and_then(|u| u.get("name")).and_then(Value::as_str);
        let button = context
            .conversation
            .shown
            .as_ref()
            .and_then(|shown| clicked_button(&shown.keyboard, data))
            .map(|button| button.text.clone());
        let mine = FirstAnswer {
            by: display_name(name, email.as_deref(), user_id(&update.raw).as_deref()),
            button,
            update: sha256_hex(update.id.as_bytes()),
        };
        let Some(first) = self.contexts.claim_first_answer(&context.id, &mine).await? else {
            return Ok(Some((
                self.unclaimed(update, "the clicked message's context is gone"),
                false,
            )));
        };
        if first.update != mine.update {
            if let Some(query_id) = query_id(&update.raw) {
                let notice = Notice {
                    text: already_answered(&first),
                    show_alert: false,
                };
                answer_click(self.fchat.as_ref(), &query_id, &notice).await;
            }
            tracing::info!(app = %context.app, update_id = %loggable(&update.id), "a single-use keyboard was answered already; not forwarded");
            return Ok(Some(("already_answered", true)));
        }
        // This click won (or is FChat's repeat of the one that did: the edit is done once).
        let change = MessageChange::Edit(Edit {
            text: None,
            buttons: Some(Buttons::default()),
            note: Some(answered_note(&first)),
        });
        let changer = MessageChanger {
            contexts: self.contexts.as_ref(),
            fchat: self.fchat.as_ref(),
        };
        let applied = changer
            .apply(
                &context.id,
                Chat::Known(chat_id),
                &change,
                None,
                self.clock.now(),
            )
            .await?;
        settle_click_change(
            self.forwarder.queue.as_ref(),
            &context.app,
            &context.id,
            change,
            applied,
        )
        .await?;
        Ok(None)
    }
}

/// FChat's `callback_query.id` of a click update.
fn query_id(raw: &Map<String, Value>) -> Option<String> {
    match raw.get("message")?.get("callback_query")?.get("id")? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// What a click's forward carries for its answer: the clicked message, and the query the
/// first attempt answers.
pub(super) fn click_ref(update: &Update, context: Option<&Context>) -> Option<ClickRef> {
    let (UpdateKind::Click { message_id, .. }, Some(context)) = (&update.kind, context) else {
        return None;
    };
    Some(ClickRef {
        context_id: context.id.clone(),
        message_id: message_id.clone(),
        query_id: query_id(&update.raw),
    })
}
