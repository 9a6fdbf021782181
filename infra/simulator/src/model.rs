//! What the simulator knows and records: the people in its directory, what it starts with,
//! the messages it accepted, and how a test names a button to click.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Someone FChat knows, as `getUserByEmail` returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    pub email: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a simulator starts with.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// The only token accepted in `Authorization: Bearer <token>`.
    pub bot_token: String,
    /// The directory `getUserByEmail` searches; their ids are also valid `chat_id`s.
    pub users: Vec<SimUser>,
    /// The group chats that exist (rooms, a gateway group's `beatchat_id`), by id; any other
    /// `chat_id` that is not a user's is "chat not found", as in FChat.
    pub groups: Vec<String>,
}

/// A message `sendMessage` accepted: what a test asserts the gateway delivered.
///
/// `text` and `reply_markup` are what the chat shows now; `edits` keeps each earlier version
/// `editMessageText` replaced, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub chat_id: String,
    pub text: String,
    pub reply_markup: Option<Value>,
    pub client_message_id: Option<String>,
    pub received_at_ms: u64,
    /// The message this one answers (`reply_to_message_id`), in the same chat.
    #[serde(default)]
    pub reply_to_message_id: Option<String>,
    /// The versions edits replaced, oldest first; empty for a message never edited.
    #[serde(default)]
    pub edits: Vec<MessageVersion>,
    #[serde(default)]
    pub edited_at_ms: Option<u64>,
    /// `deleteMessage` deleted it: the chat no longer shows it, the record keeps it.
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub deleted_at_ms: Option<u64>,
}

/// A version of a message that an edit replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageVersion {
    pub text: String,
    pub reply_markup: Option<Value>,
}

/// Something a known user did in a chat through the `act_*` calls: their own message, a click,
/// a room event. FChat shows these in the chat beside the bot's messages; the simulator keeps
/// them apart from [`ReceivedMessage`]s, which are what the gateway sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserAction {
    /// `a-1`, `a-2`, ... in the order they happened.
    pub id: String,
    /// The user's private chat id, or the group chat's.
    pub chat_id: String,
    /// `text` (a message in a private chat), `click`, or a room event: `JOIN_ROOM`,
    /// `ADD_MEMBERS`, `DELETE_MEMBERS`, `MESSAGE` (a message in a group chat).
    pub kind: String,
    pub user: SimUser,
    /// The text of a message; the clicked button's text for a click.
    pub text: Option<String>,
    /// The message's own id (a message), or the clicked message's id (a click).
    pub message_id: Option<String>,
    pub at_ms: u64,
    /// The callback route's HTTP status; `None` until it answered, or when it could not be
    /// reached (then `error` says why).
    pub status: Option<u16>,
    /// The callback route's answer body.
    pub answer: Option<Value>,
    pub error: Option<String>,
    /// A click's `callback_query.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_query_id: Option<String>,
    /// How the bot answered a click (`answerCallbackQuery`): what the clicker alone saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<ClickNotice>,
}

/// The bot's answer to a click: a notice shown to the clicker alone (empty: their client only
/// stops waiting), or an alert they dismiss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickNotice {
    pub text: String,
    #[serde(default)]
    pub show_alert: bool,
    pub at_ms: u64,
}

/// Which button of a recorded message a user clicks.
///
/// In JSON (`POST /_sim/act/click`) a string is a button's text and a number its index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ButtonRef {
    /// The first button with exactly this text.
    Text(String),
    /// The position in the keyboard read row by row, from 0.
    Index(usize),
}

impl From<&str> for ButtonRef {
    fn from(text: &str) -> Self {
        ButtonRef::Text(text.to_owned())
    }
}

impl From<String> for ButtonRef {
    fn from(text: String) -> Self {
        ButtonRef::Text(text)
    }
}

impl From<usize> for ButtonRef {
    fn from(index: usize) -> Self {
        ButtonRef::Index(index)
    }
}

impl fmt::Display for ButtonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ButtonRef::Text(text) => write!(f, "{text:?}"),
            ButtonRef::Index(index) => write!(f, "#{index}"),
        }
    }
}

/// A user as updates and `getUserByEmail` show them.
pub(crate) fn user_json(user: &SimUser) -> Value {
    json!({"id": user.id, "email": user.email, "name": user.name})
}
