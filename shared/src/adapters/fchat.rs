//! The FChat adapter: the only code that knows FChat's wire format (`docs/fchat-api.md`).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::conversation::Notice;
use crate::domain::message::{Button, InlineKeyboard};
use crate::logging::loggable;
use crate::ports::{FChat, FChatError, FChatUser, MessageEdit, OutgoingMessage};

/// FChat's description of an edit that changes nothing (`docs/fchat-api.md`): done.
const NOT_MODIFIED: &str = "message is not modified";
/// FChat's descriptions of a message it will not edit: a new message replaces it.
const CANNOT_EDIT: [&str; 2] = ["message can't be edited", "message to edit not found"];
/// FChat's description of a deletion of a message that is gone already: done.
const ALREADY_DELETED: &str = "message to delete not found";

/// The most of an answer of FChat's that is read; its answers are small.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// An HTTP client of FChat's bot API, built once per cold start.
#[derive(Clone)]
pub struct FChatClient {
    http: reqwest::Client,
    base_url: String,
    bot_token: String,
}

impl FChatClient {
    /// `timeout` bounds a whole call; connecting gets at most half of it.
    pub fn new(base_url: &str, bot_token: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout / 2)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only(crate::adapters::trust::reqwest_roots())
            .build()?;
        Ok(FChatClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            bot_token: bot_token.to_owned(),
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, FChatError> {
        let response = request
            .bearer_auth(&self.bot_token)
            .send()
            .await
            .map_err(|e| transient(describe(e), None))?;
        let status = response.status().as_u16();
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transient(describe(e), None))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                // Not an answer of FChat's API: read no further.
                body.clear();
                break;
            }
        }
        let answer: Answer = serde_json::from_slice(&body).unwrap_or(Answer {
            ok: false,
            result: Value::Null,
            description: Some(format!(
                "HTTP {status} with a body that is not FChat's JSON"
            )),
            parameters: None,
        });
        if (200..300).contains(&status) && answer.ok {
            return Ok(answer.result);
        }
        // FChat's words end up in logs and in a message's `last_error`: bounded and escaped.
        let reason = format!(
            "{status} {}",
            loggable(answer.description.as_deref().unwrap_or("(no description)"))
        );
        let retry_after = answer.parameters.and_then(|p| p.retry_after);
        Err(match status {
            408 | 429 | 500..=599 => transient(reason, retry_after),
            200..=299 => transient(reason, retry_after),
            404 => FChatError::NotFound { reason },
            _ => FChatError::Permanent { reason },
        })
    }
}

impl FChatClient {
    /// `editMessageText` or `editMessageReplyMarkup`: "not modified" is done; a message FChat
    /// will not edit is [`FChatError::CannotEdit`].
    async fn edit(&self, method: &str, body: &Value) -> Result<(), FChatError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.base_url))
            .json_body(body);
        match self.call(request).await {
            Ok(_) => Ok(()),
            Err(FChatError::Permanent { reason }) if reason.contains(NOT_MODIFIED) => Ok(()),
            Err(FChatError::Permanent { reason } | FChatError::NotFound { reason })
                if CANNOT_EDIT.iter().any(|words| reason.contains(words)) =>
            {
                Err(FChatError::CannotEdit { reason })
            }
            Err(error) => Err(error),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    result: Value,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

#[async_trait]
impl FChat for FChatClient {
    async fn send_message(&self, message: &OutgoingMessage) -> Result<String, FChatError> {
        let mut body = json!({
            "chat_id": message.chat_id,
            "text": message.content.text,
            "client_message_id": message.client_message_id,
        });
        if !message.content.keyboard.is_empty() {
            body["reply_markup"] =
                json!({"inline_keyboard": wire_keyboard(&message.content.keyboard)});
        }
        if let Some(reply_to) = &message.reply_to_message_id {
            body["reply_to_message_id"] = Value::from(reply_to.as_str());
        }
        let result = self
            .call(
                self.http
                    .post(format!("{}/sendMessage", self.base_url))
                    .json_body(&body),
            )
            .await?;
        match &result["message_id"] {
            Value::String(id) => Ok(id.clone()),
            Value::Number(id) => Ok(id.to_string()),
            _ => Err(transient(
                "FChat answered without a message_id".into(),
                None,
            )),
        }
    }

    async fn edit_message(&self, edit: &MessageEdit) -> Result<(), FChatError> {
        let body = json!({
            "chat_id": edit.chat_id,
            "message_id": edit.message_id,
            "text": edit.content.text,
            // An empty keyboard removes the buttons.
            "reply_markup": {"inline_keyboard": wire_keyboard(&edit.content.keyboard)},
        });
        self.edit("editMessageText", &body).await
    }

    async fn edit_buttons(
        &self,
        chat_id: &str,
        message_id: &str,
        keyboard: &InlineKeyboard,
    ) -> Result<(), FChatError> {
        let body = json!({
            "chat_id": chat_id,
            "message_id": message_id,
            "reply_markup": {"inline_keyboard": wire_keyboard(keyboard)},
        });
        self.edit("editMessageReplyMarkup", &body).await
    }

    async fn delete_message(&self, chat_id: &str, message_id: &str) -> Result<(), FChatError> {
        let body = json!({"chat_id": chat_id, "message_id": message_id});
        let request = self
            .http
            .post(format!("{}/deleteMessage", self.base_url))
            .json_body(&body);
        match self.call(request).await {
            Ok(_) => Ok(()),
            Err(FChatError::Permanent { reason } | FChatError::NotFound { reason })
                if reason.contains(ALREADY_DELETED) =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn answer_click(&self, query_id: &str, notice: &Notice) -> Result<(), FChatError> {
        let mut body = json!({"callback_query_id": query_id, "text": notice.text});
        if notice.show_alert {
            body["show_alert"] = Value::Bool(true);
        }
        let request = self
            .http
            .post(format!("{}/answerCallbackQuery", self.base_url))
            .json_body(&body);
        self.call(request).await.map(|_| ())
    }

    async fn find_user(&self, email: &str) -> Result<Option<FChatUser>, FChatError> {
        let request = self
            .http
            .get(format!("{}/getUserByEmail", self.base_url))
            .query(&[("email", email)]);
        match self.call(request).await {
            Ok(result) => Ok(Some(FChatUser {
                id: match &result["id"] {
                    Value::String(id) => id.clone(),
                    Value::Number(id) => id.to_string(),
                    _ => {
                        return Err(transient(
                            "FChat answered a user without an id".into(),
                            None,
                        ))
                    }
                },
                email: result["email"].as_str().unwrap_or(email).to_lowercase(),
                name: result["name"].as_str().map(str::to_owned),
            })),
            Err(FChatError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Buttons as FChat takes them: `callback_data` is the sender's string as is, or the JSON
/// text of any other value.
pub fn wire_keyboard(keyboard: &InlineKeyboard) -> Value {
    Value::Array(
        keyboard
            .iter()
            .map(|row| Value::Array(row.iter().map(wire_button).collect()))
            .collect(),
    )
}

fn wire_button(button: &Button) -> Value {
    json!({"text": button.text, "callback_data": callback_data(&button.callback_data)})
}

/// What a click on a button with this `callbackData` sends back
/// ([`crate::domain::message::click_data`]).
pub fn callback_data(value: &Value) -> String {
    crate::domain::message::click_data(value)
}

fn transient(reason: String, retry_after: Option<u64>) -> FChatError {
    FChatError::Transient {
        reason,
        retry_after,
    }
}

/// An error's description without the URL (and so without anything sensitive in it).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut short"
    } else {
        "the request failed"
    };
    format!("{kind}: {}", error.without_url())
}

trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_is_the_string_or_the_json_text() {
        assert_eq!(callback_data(&json!("option_a")), "option_a");
        assert_eq!(
            callback_data(&json!({"action": "approve", "data": "approve_request"})),
            r#"{"action":"approve","data":"approve_request"}"#
        );
        assert_eq!(callback_data(&json!(7)), "7");
    }

    #[test]
    fn keyboards_keep_their_rows() {
        let keyboard = vec![
            vec![Button {
                text: "Yes".into(),
                callback_data: json!({"a": 1}),
            }],
            vec![Button {
                text: "No".into(),
                callback_data: json!("no"),
            }],
        ];
        assert_eq!(
            wire_keyboard(&keyboard),
            json!([[{"text": "Yes", "callback_data": "{\"a\":1}"}], [{"text": "No", "callback_data": "no"}]])
        );
    }
}
