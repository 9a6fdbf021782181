//! Acting as FChat's users: the updates of the contract's "FChat calls the gateway back",
//! posted to the gateway's callback route with the shared secret.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::http::{error, Answer, MAX_BODY_BYTES};
use crate::lock;
use crate::model::{user_json, ButtonRef};
use crate::state::{Callback, State};

/// How long the gateway may take to answer an update: it forwards to an app's webhook (5 s at
/// most) before answering, so this leaves room for a slow local stack.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The header carrying the shared callback secret.
const CALLBACK_SECRET_HEADER: &str = "x-fchat-secret";

/// The room events of the contract.
const ROOM_EVENTS: [&str; 4] = ["JOIN_ROOM", "ADD_MEMBERS", "DELETE_MEMBERS", "MESSAGE"];

/// Why an `act_*` call failed; the control endpoints answer it with its status.
#[derive(Debug)]
pub(crate) enum ActError {
    /// 400: the request makes no sense (or no callback is set).
    BadRequest(String),
    /// 404: an unknown user, message or button.
    NotFound(String),
    /// 502: the gateway could not be reached or did not answer in time.
    Gateway(String),
}

impl fmt::Display for ActError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActError::BadRequest(why) | ActError::NotFound(why) | ActError::Gateway(why) => {
                f.write_str(why)
            }
        }
    }
}

impl std::error::Error for ActError {}

impl ActError {
    pub(crate) fn answer(&self) -> Answer {
        match self {
            ActError::BadRequest(why) => {
                error(StatusCode::BAD_REQUEST, &format!("Bad Request: {why}"))
            }
            ActError::NotFound(why) => error(StatusCode::NOT_FOUND, &format!("Not Found: {why}")),
            ActError::Gateway(why) => {
                error(StatusCode::BAD_GATEWAY, &format!("Bad Gateway: {why}"))
            }
        }
    }
}

impl State {
    pub(crate) async fn act_text(&self, email: &str, text: &str) -> Result<(u16, Value), ActError> {
        let user = self.user_by_email(email)?;
        let message_id = self.next_message_id();
        let update = json!({
            "update_id": self.next_update_id(),
            "message": {
                "message_id": message_id,
                "text": text,
                "user": user_json(&user),
                "chat": {"id": user.id, "type": "private"},
            },
        });
        let action = self.record_action(&user.id, "text", &user, Some(text), Some(&message_id));
        self.post_recorded(&action, &update).await
    }

    /// Posts an update for a recorded action, and records the gateway's answer with it.
    async fn post_recorded(&self, action: &str, update: &Value) -> Result<(u16, Value), ActError> {
        let outcome = self.post_callback(update).await;
        self.record_answer(action, &outcome);
        outcome
    }

    pub(crate) async fn act_click(
        &self,
        message_id: &str,
        button: &ButtonRef,
        email: Option<&str>,
    ) -> Result<(u16, Value), ActError> {
        let message = lock(&self.log)
            .messages
            .iter()
            .find(|message| message.message_id == message_id && !message.deleted)
            .cloned()
            .ok_or_else(|| ActError::NotFound(format!("message {message_id:?} not found")))?;
        let buttons: Vec<&Value> = message
            .reply_markup
            .as_ref()
            .and_then(|markup| markup["inline_keyboard"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .collect();
        let clicked = match button {
            ButtonRef::Text(text) => buttons.iter().find(|b| b["text"] == text.as_str()),
            ButtonRef::Index(index) => buttons.get(*index),
        };
        let label = clicked
            .and_then(|b| b["text"].as_str())
            .unwrap_or_default()
            .to_owned();
        let data = clicked
            .and_then(|b| b["callback_data"].as_str())
            .ok_or_else(|| {
                ActError::NotFound(format!("message {message_id} has no button {button}"))
            })?
            .to_owned();
        let (user, chat_type) = match self.user_by_id(&message.chat_id) {
            Some(user) => (user, "private"),
            None => match email {
                Some(email) => (self.user_by_email(email)?, "group"),
                None => {
                    return Err(ActError::BadRequest(format!(
                        "message {message_id} went to the group {}: say which user clicks (email)",
                        message.chat_id
                    )))
                }
            },
        };
        let query_id = format!("cq-{}", self.last_query.fetch_add(1, Ordering::SeqCst) + 1);
        let update = json!({
            "update_id": self.next_update_id(),
            "message": {
                "text": message.text,
                "user": user_json(&user),
                "chat": {"id": message.chat_id, "type": chat_type},
                "callback_query": {
                    "id": query_id,
                    "data": data,
                    "message": {"message_id": message.message_id},
                },
            },
        });
        let action = self.record_action(
            &message.chat_id,
            "click",
            &user,
            Some(&label),
            Some(&message.message_id),
        );
        // Recorded before the update goes out: the bot answers the click while handling it.
        self.record_query(&action, &query_id);
        self.post_recorded(&action, &update).await
    }

    pub(crate) async fn act_room(
        &self,
        room_id: &str,
        event: &str,
        email: Option<&str>,
        text: Option<&str>,
    ) -> Result<(u16, Value), ActError> {
        if room_id.is_empty() {
            return Err(ActError::BadRequest("room_id is empty".into()));
        }
        if !lock(&self.groups).contains(room_id) {
            return Err(ActError::NotFound(format!("room {room_id:?} not found")));
        }
        if !ROOM_EVENTS.contains(&event) {
            return Err(ActError::BadRequest(format!(
                "event {event:?} is not one of {}",
                ROOM_EVENTS.join(", ")
            )));
        }
        let text = match (event, text) {
            ("MESSAGE", Some(text)) => Some(text),
            ("MESSAGE", None) => return Err(ActError::BadRequest("a MESSAGE needs a text".into())),
            (_, Some(_)) => {
                return Err(ActError::BadRequest(format!(
                    "only a MESSAGE has a text, not {event}"
                )))
            }
            (_, None) => None,
        };
        let sender = match email {
            Some(email) => self.user_by_email(email)?,
            None => lock(&self.users)
                .first()
                .cloned()
                .ok_or_else(|| ActError::NotFound("no user is known to send it".into()))?,
        };
        let member = json!({
            "_id": sender.id,
            "id": sender.id,
            "nickname": sender.name.as_deref().unwrap_or(&sender.email),
            "isRobot": false,
        });
        let mut data = json!({"room": room_id, "sender": member, "members": [member]});
        let message_id = text.map(|_| self.next_message_id());
        if let (Some(text), Some(message_id)) = (text, &message_id) {
            data["message"] = json!(text);
            data["messageType"] = json!("text");
            data["id"] = json!(message_id);
            data["_id"] = json!(message_id);
        }
        let update = json!({
            "update_id": self.next_update_id(),
            "appID": "fchat",
            "clientID": sender.id,
            "roomID": room_id,
            "event": event,
            "data": data,
        });
        let action = self.record_action(room_id, event, &sender, text, message_id.as_deref());
        self.post_recorded(&action, &update).await
    }

    pub(crate) async fn post_callback(&self, payload: &Value) -> Result<(u16, Value), ActError> {
        let Some(Callback { url, secret }) = lock(&self.callback).clone() else {
            return Err(ActError::BadRequest(
                "no callback is set (set_callback or PUT /_sim/callback)".into(),
            ));
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(CONTENT_TYPE, "application/json")
            .header(CALLBACK_SECRET_HEADER, secret)
            .body(Full::new(Bytes::from(payload.to_string())))
            .map_err(|e| ActError::BadRequest(format!("cannot post to {url:?}: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                // The root cause (connection refused, ...) is what a developer needs.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    why = format!("{why}: {cause}");
                    source = cause.source();
                }
                why
            })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, answer_body(&body)))
        };
        match tokio::time::timeout(CALLBACK_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(why)) => Err(ActError::Gateway(format!("POST {url}: {why}"))),
            Err(_) => Err(ActError::Gateway(format!(
                "POST {url}: no answer within {} s",
                CALLBACK_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// The gateway's answer body as JSON: `null` when empty, a string when not JSON, so that a
/// test still sees what came back.
fn answer_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
