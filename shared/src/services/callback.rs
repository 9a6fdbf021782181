//! FChat's updates (`docs/fchat-api.md`): a user's text, a button click, a room event. Each
//! goes to the app it belongs to, signed, once; FChat gets its answer as soon as the event is
//! forwarded or safely queued.
//!
//! - A click belongs to the app that sent the clicked message (its context, by FChat's message
//!   id).
//! - A user's text belongs to the app of the user's latest conversation.
//! - A room event belongs to the apps whose group the room is.
//!
//! An event for an expired context is not forwarded; the user is told so. An event no app
//! claims is acknowledged and logged.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use crate::api::error::{ApiError, MAX_BODY_BYTES};
use crate::api::http::{HttpRequest, HttpResponse};
use crate::domain::credentials::{mask_email, sha256_hex};
use crate::domain::job::Forward;
use crate::domain::message::MessageContent;
use crate::domain::{Context, Target};
use crate::logging::loggable;
use crate::ports::{
    AppStore, Clock, ContextStore, FChat, GroupStore, OutgoingMessage, StoreError, UserStore,
};
use crate::services::forwarding::{Forwarded, Forwarder};

mod clicks;

pub const SECRET_HEADER: &str = "X-FChat-Secret";
/// How long an update id is remembered, to forward a repeated update once.
pub const UPDATE_MEMORY_SECONDS: u64 = 24 * 60 * 60;

#[derive(Clone)]
pub struct Callback {
    pub apps: Arc<dyn AppStore>,
    pub groups: Arc<dyn GroupStore>,
    pub users: Arc<dyn UserStore>,
    pub contexts: Arc<dyn ContextStore>,
    pub fchat: Arc<dyn FChat>,
    pub forwarder: Forwarder,
    pub clock: Arc<dyn Clock>,
    /// The shared secret FChat sends in `X-FChat-Secret`.
    pub secret: String,
    /// What a user is told when they act on an expired message.
    pub expired_text: String,
}

/// An update, read.
#[derive(Debug, Clone, PartialEq)]
struct Update {
    id: String,
    kind: UpdateKind,
    raw: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
enum UpdateKind {
    /// A user's text; `group` when it was written in a group chat.
    Text {
        email: Option<String>,
        chat_id: String,
        group: bool,
    },
    Click {
        email: Option<String>,
        chat_id: String,
        message_id: String,
        /// The button's `callback_data`.
        data: String,
    },
    Room {
        event: String,
        room_id: String,
    },
}

impl Callback {
    pub async fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let started = std::time::Instant::now();
        let (response, outcome) = match self.receive(request).await {
            Ok(outcome) => (HttpResponse::json(200, &json!({"ok": true})), outcome),
            Err(error) => (HttpResponse::error(&error), error.outcome()),
        };
        tracing::info!(
            route = "callback",
            outcome,
            status = response.status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "FChat update"
        );
        response
    }

    async fn receive(&self, request: &HttpRequest) -> Result<&'static str, ApiError> {
        let path = request.path.trim_matches('/');
        if path != "callback/fchat" && path != "webhooks/callback/fchat" {
            return Err(ApiError::RouteNotFound);
        }
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(ApiError::MethodNotAllowed("POST"));
        }
        let given = request.header(SECRET_HEADER).unwrap_or("");
        let authentic: bool = given.as_bytes().ct_eq(self.secret.as_bytes()).into();
        if self.secret.is_empty() || !authentic {
            return Err(ApiError::CallbackUnauthorized);
        }
        if request.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge);
        }
        let update = read_update(&request.body)?;
        let now = self.clock.now();
        let fresh = self
            .contexts
            .claim_update(&update.id, now + UPDATE_MEMORY_SECONDS, now)
            .await?;
        if !fresh {
            tracing::info!(update_id = %loggable(&update.id), "a repeated update; already handled");
            return Ok("duplicate");
        }
        match self.route(&update).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                // FChat will send it again: it must not be taken for a duplicate then.
                if let Err(error) = self.contexts.release_update(&update.id).await {
                    tracing::error!(%error, update_id = %loggable(&update.id), "could not release the update");
                }
                Err(error.into())
            }
        }
    }

    async fn route(&self, update: &Update) -> Result<&'static str, StoreError> {
        let now = self.clock.now();
        match &update.kind {
            UpdateKind::Click { .. } => self.click(update).await,
            UpdateKind::Text {
                email,
                chat_id,
                group: false,
            } => {
                let Some(email) = email else {
                    return Ok(self.unclaimed(update, "a text without the user's email"));
                };
                let Some(context_id) = self
                    .users
                    .user(email)
                    .await?
                    .and_then(|u| u.last_context_id)
                else {
                    return Ok(self.unclaimed(update, "the user has no conversation"));
                };
                let Some(context) = self.contexts.context_record(&context_id).await? else {
                    return Ok(self.unclaimed(update, "the user's conversation is gone"));
                };
                if context.expired(now) {
                    self.tell_expired(chat_id, &update.id).await;
                    return Ok("expired");
                }
                let reply_to = Target::User(email.clone());
                self.forward(
                    update,
                    &context.app,
                    Some(&context),
                    "message",
                    chat_id,
                    Some(reply_to),
                )
                .await
            }
            UpdateKind::Text {
                chat_id,
                group: true,
                ..
            } => self.forward_to_room(update, chat_id, "message").await,
            UpdateKind::Room { event, room_id } => {
                self.forward_to_room(update, room_id, event).await
            }
        }
    }

    /// Every app of every active group of the room.
    async fn forward_to_room(
        &self,
        update: &Update,
        room_id: &str,
        event: &str,
    ) -> Result<&'static str, StoreError> {
        let mut outcome = None;
        for group in self.groups.groups_by_beatchat_id(room_id).await? {
            if !group.active {
                continue;
            }
            for app in self.apps.apps_by_group(&group.id).await? {
                let reply_to = Target::Group(group.id.clone());
                outcome = Some(
                    self.forward(update, &app.name, None, event, room_id, Some(reply_to))
                        .await?,
                );
            }
        }
        Ok(outcome.unwrap_or_else(|| self.unclaimed(update, "no app has this room's group")))
    }

    async fn forward(
        &self,
        update: &Update,
        app: &str,
        context: Option<&Context>,
        event: &str,
        chat_id: &str,
        reply_to: Option<Target>,
    ) -> Result<&'static str, StoreError> {
        let mut payload = update.raw.clone();
        payload.insert("event".into(), Value::from(event));
        payload.insert("app".into(), Value::from(app));
        payload.insert(
            "context".into(),
            context.map_or(
                Value::Null,
                |c| json!({"id": c.id, "parameters": c.parameters}),
            ),
        );
        payload.insert(
            "botState".into(),
            self.contexts
                .bot_state(chat_id)
                .await?
                .map_or(Value::Null, Value::from),
        );
        let forward = Forward {
            app: app.to_owned(),
            webhook_id: webhook_id(&update.id, app),
            chat_id: chat_id.to_owned(),
            reply_to,
            payload: Value::Object(payload),
            click: clicks::click_ref(update, context),
        };
        Ok(match self.forwarder.forward_or_queue(forward).await? {
            Forwarded::Delivered => "forwarded",
            Forwarded::Dropped(reason) => {
                tracing::warn!(app, reason, update_id = %loggable(&update.id), "not forwarded");
                "dropped"
            }
            Forwarded::Failed(_) => "queued",
        })
    }

    fn unclaimed(&self, update: &Update, why: &str) -> &'static str {
        tracing::info!(update_id = %loggable(&update.id), why, "an update no app claims");
        "unclaimed"
    }

    /// Tells the user that what they acted on has expired. Best effort: FChat has its answer
    /// either way.
    async fn tell_expired(&self, chat_id: &str, update_id: &str) {
        let message = OutgoingMessage {
            chat_id: chat_id.to_owned(),
            content: MessageContent {
                text: self.expired_text.clone(),
                keyboard: Vec::new(),
            },
            client_message_id: format!("expired.{}", sha256_hex(update_id.as_bytes())),
            reply_to_message_id: None,
        };
        if let Err(error) = self.fchat.send_message(&message).await {
            tracing::warn!(%error, "could not tell the user that the action expired");
        }
    }
}

fn read_update(body: &[u8]) -> Result<Update, ApiError> {
    let Value::Object(raw) =
        serde_json::from_slice::<Value>(body).map_err(|_| ApiError::MalformedJson)?
    else {
        return Err(ApiError::BodyNotObject);
    };
    let id = match raw.get("update_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        // Without an id, the same body is the same update.
        _ => sha256_hex(body),
    };
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let kind = if let Some(Value::Object(message)) = raw.get("message") {
        let chat = message.get("chat");
        let chat_id = text(chat.and_then(|c| c.get("id"))).ok_or(ApiError::NotAnUpdate)?;
        let email =
            text(message.get("user").and_then(|u| u.get("email"))).map(|e| e.trim().to_lowercase());
        match message.get("callback_query") {
            Some(Value::Object(query)) => UpdateKind::Click {
                email,
                chat_id,
                data: text(query.get("data")).unwrap_or_default(),
                message_id: text(query.get("message").and_then(|m| m.get("message_id")))
                    .ok_or(ApiError::NotAnUpdate)?,
            },
            _ => UpdateKind::Text {
                email,
                group: text(chat.and_then(|c| c.get("type"))).is_some_and(|t| t != "private"),
                chat_id,
            },
        }
    } else if let (Some(event), Some(room_id)) = (text(raw.get("event")), text(raw.get("roomID"))) {
        match event.as_str() {
            "JOIN_ROOM" | "ADD_MEMBERS" | "DELETE_MEMBERS" | "MESSAGE" => {
                UpdateKind::Room { event, room_id }
            }
            _ => return Err(ApiError::NotAnUpdate),
        }
    } else {
        return Err(ApiError::NotAnUpdate);
    };
    if let UpdateKind::Text {
        email: Some(email), ..
    }
    | UpdateKind::Click {
        email: Some(email), ..
    } = &kind
    {
        tracing::debug!(user = %mask_email(email), "update from a user");
    }
    Ok(Update { id, kind, raw })
}

/// The FChat id of the user an update comes from, bounded.
fn user_id(raw: &Map<String, Value>) -> Option<String> {
    let id = raw.get("message")?.get("user")?.get("id")?.as_str()?;
    Some(loggable(id).to_string()).filter(|id| !id.is_empty())
}

/// The Standard Webhooks `webhook-id` of an update for one app: `msg_` and a SHA-256 of both,
/// so that it is a valid header value whatever FChat put in the update's id, and the same on
/// every attempt (and for FChat's repeats of the update).
pub fn webhook_id(update_id: &str, app: &str) -> String {
    // The update id's own digest has a fixed length: no two (update, app) pairs share input.
    let material = format!("{}.{app}", sha256_hex(update_id.as_bytes()));
    format!("msg_{}", sha256_hex(material.as_bytes()))
}

#[cfg(test)]
mod tests;
