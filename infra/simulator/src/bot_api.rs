//! FChat's bot API as `docs/fchat-api.md` has it: `POST /sendMessage`, `POST
//! /editMessageText`, `POST /editMessageReplyMarkup` and `POST /deleteMessage` (after the faults
//! have had their say), `POST /answerCallbackQuery` and `GET /getUserByEmail`; everything under
//! `/_sim/` goes to the control routes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::faults::{Fate, HANG};
use crate::http::{
    error, method_not_allowed, ok, rate_limited, read_body, unauthorized, Answer, DropConnection,
};
use crate::lock;
use crate::model::{user_json, MessageVersion, ReceivedMessage};
use crate::state::State;

impl State {
    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Answer, DropConnection> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        match path.as_str() {
            "/sendMessage" if method == Method::POST => {
                self.faulty_call(request, |state, body| state.accept_message(body))
                    .await
            }
            "/editMessageText" if method == Method::POST => {
                self.faulty_call(request, |state, body| state.edit_message(body))
                    .await
            }
            "/editMessageReplyMarkup" if method == Method::POST => {
                self.faulty_call(request, |state, body| state.edit_reply_markup(body))
                    .await
            }
            "/deleteMessage" if method == Method::POST => {
                self.faulty_call(request, |state, body| state.delete_message(body))
                    .await
            }
            "/answerCallbackQuery" if method == Method::POST => {
                Ok(self.answer_callback_query(request).await)
            }
            "/getUserByEmail" if method == Method::GET => Ok(self.get_user_by_email(request).await),
            "/sendMessage"
            | "/editMessageText"
            | "/editMessageReplyMarkup"
            | "/deleteMessage"
            | "/answerCallbackQuery"
            | "/getUserByEmail" => Ok(method_not_allowed()),
            _ if path.starts_with("/_sim/") => Ok(self.control(request, peer).await),
            _ => Ok(error(StatusCode::NOT_FOUND, "Not Found")),
        }
    }

    pub(crate) fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(value) = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        match value.trim().split_once(' ') {
            Some((scheme, token)) => {
                scheme.eq_ignore_ascii_case("bearer") && token.trim() == self.token
            }
            None => false,
        }
    }

    /// A call that sends: counted, delayed and subjected to the faults before `serve` sees an
    /// authorized request's body.
    async fn faulty_call(
        &self,
        request: Request<Incoming>,
        serve: impl FnOnce(&State, &[u8]) -> Answer,
    ) -> Result<Answer, DropConnection> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let authorized = self.authorized(&request);
        // The whole request is read before any fault: a dropped call then looks like a server
        // that took the request and died, not like a refused upload.
        let body = read_body(request).await;
        self.latency().await;
        match self.fate() {
            Fate::Drop => return Err(DropConnection),
            Fate::Hang => {
                tokio::time::sleep(HANG).await;
                return Err(DropConnection);
            }
            Fate::RateLimit(seconds) => return Ok(rate_limited(seconds)),
            Fate::Fail(status) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(error(status, "Simulated failure"));
            }
            Fate::Serve => {}
        }
        if !authorized {
            return Ok(unauthorized());
        }
        let body = match body {
            Ok(body) => body,
            Err(answer) => return Ok(answer),
        };
        Ok(serve(self, &body))
    }

    fn accept_message(&self, body: &[u8]) -> Answer {
        let (body, chat_id, text, reply_markup) = match common_fields(self, body) {
            Ok(fields) => fields,
            Err(answer) => return *answer,
        };
        let reply_to_message_id = match body.get("reply_to_message_id") {
            None | Some(Value::Null) => None,
            // A bot's message in the chat, or a user's (recorded as their action).
            Some(Value::String(id))
                if {
                    let log = lock(&self.log);
                    log.messages
                        .iter()
                        .any(|m| &m.message_id == id && m.chat_id == chat_id && !m.deleted)
                        || log.actions.iter().any(|a| {
                            a.message_id.as_ref() == Some(id)
                                && a.chat_id == chat_id
                                && a.kind != "click"
                        })
                } =>
            {
                Some(id.clone())
            }
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: message to reply not found",
                )
            }
        };
        let client_message_id = match body.get("client_message_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: client_message_id must be a string",
                )
            }
        };

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut log = lock(&self.log);
        if let Some(first) = client_message_id
            .as_ref()
            .and_then(|id| log.by_client_id.get(id))
        {
            return ok(first.clone());
        }
        if let Some(answer) = self.over_limits(&chat_id) {
            return answer;
        }
        log.last_id += 1;
        let message = ReceivedMessage {
            message_id: format!("m-{}", log.last_id),
            chat_id,
            text,
            reply_markup,
            client_message_id,
            received_at_ms: now.as_millis() as u64,
            reply_to_message_id,
            edits: Vec::new(),
            edited_at_ms: None,
            deleted: false,
            deleted_at_ms: None,
        };
        let result = json!({
            "message_id": message.message_id,
            "chat_id": message.chat_id,
            "date": now.as_secs(),
        });
        if let Some(id) = &message.client_message_id {
            log.by_client_id.insert(id.clone(), result.clone());
        }
        log.messages.push(message.clone());
        drop(log);
        // Nobody listening is fine: the log is for people, the record above is for tests.
        let _ = self.events.send(message);
        ok(result)
    }

    /// `editMessageText`: replaces a message's text and buttons, keeping the old version.
    fn edit_message(&self, body: &[u8]) -> Answer {
        let (body, chat_id, text, reply_markup) = match common_fields(self, body) {
            Ok(fields) => fields,
            Err(answer) => return *answer,
        };
        let Some(Value::String(message_id)) = body.get("message_id") else {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message_id is required",
            );
        };
        let refuse = lock(&self.faults).refuse_edits;
        let mut log = lock(&self.log);
        let Some(message) = log
            .messages
            .iter_mut()
            .find(|m| &m.message_id == message_id && m.chat_id == chat_id && !m.deleted)
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
        if message.text == text && message.reply_markup == reply_markup {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message is not modified",
            );
        }
        if let Some(answer) = self.over_limits(&chat_id) {
            return answer;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let previous = MessageVersion {
            text: std::mem::replace(&mut message.text, text),
            reply_markup: std::mem::replace(&mut message.reply_markup, reply_markup),
        };
        message.edits.push(previous);
        message.edited_at_ms = Some(now.as_millis() as u64);
        let edited = message.clone();
        drop(log);
        let _ = self.events.send(edited.clone());
        ok(json!({
            "message_id": edited.message_id,
            "chat_id": edited.chat_id,
            "date": edited.received_at_ms / 1000,
            "edit_date": now.as_secs(),
        }))
    }

    async fn get_user_by_email(&self, request: Request<Incoming>) -> Answer {
        self.latency().await;
        if !self.authorized(&request) {
            return unauthorized();
        }
        let email = request
            .uri()
            .query()
            .and_then(|query| query_param(query, "email"));
        let email = match email {
            Some(email) if !email.trim().is_empty() => email.trim().to_lowercase(),
            _ => return error(StatusCode::BAD_REQUEST, "Bad Request: email is required"),
        };
        let users = lock(&self.users);
        match users.iter().find(|user| user.email.to_lowercase() == email) {
            Some(user) => ok(user_json(user)),
            None => error(StatusCode::NOT_FOUND, "Not Found: user not found"),
        }
    }
}

type Fields = (
    serde_json::Map<String, Value>,
    String,
    String,
    Option<Value>,
);

/// What `sendMessage` and `editMessageText` both take: a JSON object with a known `chat_id`,
/// a non-empty `text` and optional buttons.
/// The refusal is boxed: an answer is large, and the fields are the common case.
fn common_fields(state: &State, body: &[u8]) -> Result<Fields, Box<Answer>> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "Bad Request: invalid JSON",
        )));
    };
    let Value::Object(body) = body else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "Bad Request: the body must be a JSON object",
        )));
    };
    let chat_id = match body.get("chat_id") {
        Some(Value::String(chat_id)) if !chat_id.is_empty() && state.chat_exists(chat_id) => {
            chat_id.clone()
        }
        _ => {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "Bad Request: chat not found",
            )))
        }
    };
    let text = match body.get("text") {
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        _ => {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "Bad Request: message text is empty",
            )))
        }
    };
    let reply_markup = match body.get("reply_markup") {
        None | Some(Value::Null) => None,
        Some(markup) if valid_reply_markup(markup) => Some(markup.clone()),
        Some(_) => {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "Bad Request: reply_markup.inline_keyboard must be a list of rows of {text, callback_data} buttons",
            )))
        }
    };
    Ok((body, chat_id, text, reply_markup))
}

pub(crate) fn valid_reply_markup(markup: &Value) -> bool {
    let Some(Value::Array(rows)) = markup.get("inline_keyboard") else {
        return false;
    };
    rows.iter().all(|row| match row {
        Value::Array(buttons) => buttons.iter().all(|button| {
            matches!(button.get("text"), Some(Value::String(_)))
                && matches!(button.get("callback_data"), Some(Value::String(_)))
        }),
        _ => false,
    })
}

/// The first value of `name` in a query string, form-decoded (`+` is a space and `%40` an
/// `@`), as HTTP clients encode query parameters. Lenient, as `form_urlencoded` is: a
/// malformed escape is kept as written and invalid UTF-8 becomes U+FFFD, so that no query can
/// make the simulator fail.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value, form-decoded as a query parameter is.
    fn form_decode(text: &str) -> String {
        query_param(&format!("v={text}"), "v").unwrap_or_default()
    }

    #[test]
    fn form_decoding_is_lenient() {
        assert_eq!(form_decode("user%40example.com"), "user@example.com");
        assert_eq!(form_decode("a+b%2Bc"), "a b+c");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%ff"), "\u{fffd}");
        assert_eq!(
            query_param("x=1&email=A%40B.c", "email").as_deref(),
            Some("A@B.c")
        );
        assert_eq!(query_param("email", "email").as_deref(), Some(""));
        assert_eq!(query_param("x=1", "email"), None);
    }

    #[test]
    fn reply_markup_shape() {
        assert!(valid_reply_markup(
            &json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}], []]})
        ));
        assert!(!valid_reply_markup(
            &json!({"inline_keyboard": [{"text": "Yes"}]})
        ));
        assert!(!valid_reply_markup(
            &json!({"inline_keyboard": [[{"text": "Yes", "callback_data": {"a": 1}}]]})
        ));
        assert!(!valid_reply_markup(&json!([])));
    }
}
