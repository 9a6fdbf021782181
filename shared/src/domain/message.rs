//! The messages the gateway carries: their text, buttons and the limits of the public contract.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest message, counted in characters (Unicode scalar values), not bytes.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The most buttons one message may carry, inline keyboard and legacy buttons together.
pub const MAX_BUTTONS: usize = 30;

/// One button of an inline keyboard. `callback_data` is whatever JSON the sender gave; a click
/// comes back with it serialised as a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub text: String,
    #[serde(
        rename = "callbackData",
        default,
        skip_serializing_if = "Value::is_null"
    )]
    pub callback_data: Value,
}

/// Rows of buttons, as FChat shows them.
pub type InlineKeyboard = Vec<Vec<Button>>;

/// What a click on a button with this `callbackData` sends back (the contract's
/// `callback_query.data`): the sender's string as is, or the JSON text of any other value.
pub fn click_data(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What is sent: the text and, on the user route, an optional keyboard.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageContent {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyboard: InlineKeyboard,
}

/// A valid body of `POST /{app_name}/{token}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMessage {
    pub content: MessageContent,
    pub parameters: Map<String, Value>,
    /// `reply_markup.singleUse`: the first click answers the buttons for everyone.
    pub single_use: bool,
}

/// A valid body of `POST /{token}/fchat`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMessage {
    /// Trimmed and lower-cased.
    pub email: String,
    pub content: MessageContent,
    pub parameters: Map<String, Value>,
    /// `reply_markup.singleUse`.
    pub single_use: bool,
}

/// What an app's webhook answered: a message to send back into the chat, and the chat's
/// new bot state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotReply {
    pub content: Option<MessageContent>,
    /// `None`: leave the state as it is; `Some(None)`: clear it.
    pub to_bot_state: Option<Option<String>>,
    /// The reply's `reply_markup.singleUse`.
    pub single_use: bool,
}
