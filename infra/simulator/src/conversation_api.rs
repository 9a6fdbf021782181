//! FChat's bot API for conversations, as `docs/fchat-api.md` has it: `editMessageReplyMarkup`
//! (the buttons alone) and `deleteMessage`, which the faults apply to as to edits, and
//! `answerCallbackQuery`, whose notice goes on the click it answers in the record of users'
//! actions. A deleted message stays in the record, marked `deleted`.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Map, Value};

use crate::bot_api::valid_reply_markup;
use crate::http::{error, ok, read_body, unauthorized, Answer};
use crate::lock;
use crate::model::{ClickNotice, MessageVersion};
use crate::state::{now_ms, State};

/// The longest notice `answerCallbackQuery` shows.
pub(crate) const MAX_NOTICE_CHARS: usize = 200;

impl State {
    /// `editMessageReplyMarkup`: replaces a message's buttons, keeping its text and the old
    /// version.
    pub(crate) fn edit_reply_markup(&self, body: &[u8]) -> Answer {
        let (body, chat_id, message_id) = match message_fields(self, body) {
            Ok(fields) => fields,
            Err(answer) => return *answer,
        };
        let reply_markup = match body.get("reply_markup") {
            None | Some(Value::Null) => None,
            Some(markup) if valid_reply_markup(markup) => Some(markup.clone()),
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: reply_markup.inline_keyboard must be a list of rows of {text, callback_data} buttons",
                )
            }
        };
        // No buttons and an empty keyboard are the same to a reader of the chat.
        let buttons = |markup: &Option<Value>| {
            markup
                .as_ref()
                .and_then(|m| m["inline_keyboard"].as_array())
                .is_some_and(|rows| {
                    rows.iter()
                        .any(|row| row.as_array().is_some_and(|r| !r.is_empty()))
                })
                .then(|| markup.clone())
                .flatten()
        };
        let refuse = lock(&self.faults).refuse_edits;
        let mut log = lock(&self.log);
        let Some(message) = log
            .messages
            .iter_mut()
            .find(|m| m.message_id == message_id && m.chat_id == chat_id && !m.deleted)
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message to edit not found",
            );
        };
        if refuse {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message can't be edited",
            );
        }
        if buttons(&message.reply_markup) == buttons(&reply_markup) {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message is not modified",
            );
        }
        if let Some(answer) = self.over_limits(&chat_id) {
            return answer;
        }
        let previous = MessageVersion {
            text: message.text.clone(),
            reply_markup: std::mem::replace(&mut message.reply_markup, reply_markup),
        };
        message.edits.push(previous);
        message.edited_at_ms = Some(now_ms());
        let edited = message.clone();
        drop(log);
        let _ = self.events.send(edited.clone());
        ok(json!({
            "message_id": edited.message_id,
            "chat_id": edited.chat_id,
            "date": edited.received_at_ms / 1000,
            "edit_date": now_secs(),
        }))
    }

    /// `deleteMessage`: the chat no longer shows the message; the record keeps it, `deleted`.
    pub(crate) fn delete_message(&self, body: &[u8]) -> Answer {
        let (_, chat_id, message_id) = match message_fields(self, body) {
            Ok(fields) => fields,
            Err(answer) => return *answer,
        };
        let mut log = lock(&self.log);
        let Some(message) = log
            .messages
            .iter_mut()
            .find(|m| m.message_id == message_id && m.chat_id == chat_id && !m.deleted)
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message to delete not found",
            );
        };
        message.deleted = true;
        message.deleted_at_ms = Some(now_ms());
        let deleted = message.clone();
        drop(log);
        let _ = self.events.send(deleted);
        ok(json!(true))
    }

    /// `answerCallbackQuery`: the bot's answer to a click, once, shown to the clicker alone.
    pub(crate) async fn answer_callback_query(&self, request: Request<Incoming>) -> Answer {
        self.latency().await;
        if !self.authorized(&request) {
            return unauthorized();
        }
        let body = match read_body(request).await {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: the body must be a JSON object",
            );
        };
        let Some(Value::String(query_id)) = body.get("callback_query_id") else {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: callback_query_id is required",
            );
        };
        let text = match body.get("text") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) if text.chars().count() <= MAX_NOTICE_CHARS => text.clone(),
            Some(Value::String(_)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: text is longer than 200 characters",
                )
            }
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: text must be a string",
                )
            }
        };
        let show_alert = match body.get("show_alert") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(alert)) => *alert,
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: show_alert must be true or false",
                )
            }
        };
        let mut log = lock(&self.log);
        let Some(click) = log
            .actions
            .iter_mut()
            .find(|a| a.callback_query_id.as_ref() == Some(query_id))
        else {
            return error(StatusCode::BAD_REQUEST, QUERY_INVALID);
        };
        if click.notice.is_some() {
            return error(StatusCode::BAD_REQUEST, QUERY_INVALID);
        }
        click.notice = Some(ClickNotice {
            text,
            show_alert,
            at_ms: now_ms(),
        });
        ok(json!(true))
    }
}

/// FChat's answer to a query it does not know, or has answered already.
const QUERY_INVALID: &str =
    "Bad Request: query is too old and response timeout expired or query ID is invalid";

type Fields = (Map<String, Value>, String, String);

/// What `editMessageReplyMarkup` and `deleteMessage` both take: a JSON object naming a known
/// chat and a message id. The refusal is boxed: an answer is large.
fn message_fields(state: &State, body: &[u8]) -> Result<Fields, Box<Answer>> {
    let refuse = |description: &str| Box::new(error(StatusCode::BAD_REQUEST, description));
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(refuse("Bad Request: the body must be a JSON object"));
    };
    let chat_id = match body.get("chat_id") {
        Some(Value::String(chat_id)) if !chat_id.is_empty() && state.chat_exists(chat_id) => {
            chat_id.clone()
        }
        _ => return Err(refuse("Bad Request: chat not found")),
    };
    let Some(Value::String(message_id)) = body.get("message_id") else {
        return Err(refuse("Bad Request: message_id is required"));
    };
    let message_id = message_id.clone();
    Ok((body, chat_id, message_id))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
