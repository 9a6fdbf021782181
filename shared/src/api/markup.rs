//! Buttons, by the contract's rules: `reply_markup.inlineKeyboard` (rows of `{text,
//! callbackData}`), the legacy `buttons` (`{title, payload}`, a row each), at most 30 in all,
//! and the gateway's `reply_markup.singleUse`. The send routes, an edit and an app's bot
//! reply all read buttons here.

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::domain::conversation::Buttons;
use crate::domain::message::{Button, InlineKeyboard, MAX_BUTTONS};

/// An edit's buttons: `None` when it names none (they stay as they are); a `reply_markup` of
/// `null` (and no `buttons`) removes them; anything else replaces them, by the send's rules.
pub(crate) fn edit_buttons(object: &Map<String, Value>) -> Result<Option<Buttons>, ApiError> {
    let named = |field: &str| object.get(field).is_some();
    let given = |field: &str| !matches!(object.get(field), None | Some(Value::Null));
    if !named("reply_markup") && !given("buttons") {
        return Ok(None);
    }
    Ok(Some(Buttons {
        keyboard: keyboard(object)?,
        single_use: single_use(object)?,
    }))
}

/// `reply_markup.singleUse`: the first click answers the buttons for everyone. Absent (or no
/// `reply_markup`): no.
pub(crate) fn single_use(object: &Map<String, Value>) -> Result<bool, ApiError> {
    match object.get("reply_markup") {
        Some(Value::Object(markup)) => match markup.get("singleUse") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(single_use)) => Ok(*single_use),
            Some(_) => Err(ApiError::SingleUseNotBoolean),
        },
        _ => Ok(false),
    }
}

/// `reply_markup.inlineKeyboard` and the legacy `buttons`, together at most 30 buttons.
pub(crate) fn keyboard(object: &Map<String, Value>) -> Result<InlineKeyboard, ApiError> {
    let mut keyboard = match object.get("reply_markup") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(markup)) => inline_keyboard(markup)?,
        Some(_) => return Err(ApiError::ReplyMarkupNotObject),
    };
    match object.get("buttons") {
        None | Some(Value::Null) => {}
        Some(value) => keyboard.extend(legacy_buttons(value)?),
    }
    let count: usize = keyboard.iter().map(Vec::len).sum();
    if count > MAX_BUTTONS {
        return Err(ApiError::TooManyButtons);
    }
    Ok(keyboard)
}

fn inline_keyboard(markup: &Map<String, Value>) -> Result<InlineKeyboard, ApiError> {
    let Some(Value::Array(rows)) = markup.get("inlineKeyboard") else {
        return Err(ApiError::InlineKeyboardMalformed);
    };
    rows.iter()
        .map(|row| {
            let Value::Array(buttons) = row else {
                return Err(ApiError::InlineKeyboardMalformed);
            };
            buttons
                .iter()
                .map(|button| match button {
                    Value::Object(button) => keyboard_button(button),
                    _ => Err(ApiError::InlineKeyboardMalformed),
                })
                .collect()
        })
        .collect()
}

fn keyboard_button(button: &Map<String, Value>) -> Result<Button, ApiError> {
    let text = button_text(button, "text")?;
    Ok(Button {
        text,
        callback_data: button.get("callbackData").cloned().unwrap_or(Value::Null),
    })
}

/// The legacy `buttons: [{title, payload}]` list becomes one row per button.
fn legacy_buttons(value: &Value) -> Result<InlineKeyboard, ApiError> {
    let Value::Array(buttons) = value else {
        return Err(ApiError::InvalidRequest);
    };
    buttons
        .iter()
        .map(|button| {
            let Value::Object(button) = button else {
                return Err(ApiError::InvalidRequest);
            };
            let text = button_text(button, "title")?;
            Ok(vec![Button {
                text,
                callback_data: button.get("payload").cloned().unwrap_or(Value::Null),
            }])
        })
        .collect()
}

fn button_text(button: &Map<String, Value>, field: &'static str) -> Result<String, ApiError> {
    match button.get(field) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(ApiError::ButtonTextEmpty),
        Some(_) => Err(ApiError::FieldNotString(if field == "text" {
            "button text"
        } else {
            "button title"
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            _ => unreachable!("a test gives an object"),
        }
    }

    #[test]
    fn an_edit_names_its_buttons_or_leaves_them() {
        assert_eq!(edit_buttons(&object(json!({"text": "t"}))), Ok(None));
        assert_eq!(edit_buttons(&object(json!({"buttons": null}))), Ok(None));
        assert_eq!(
            edit_buttons(&object(json!({"reply_markup": null}))),
            Ok(Some(Buttons::default()))
        );
        let replaced = edit_buttons(&object(json!({
            "reply_markup": {"inlineKeyboard": [[{"text": "Undo", "callbackData": "undo"}]], "singleUse": true}
        })))
        .unwrap()
        .unwrap();
        assert_eq!(replaced.keyboard[0][0].text, "Undo");
        assert!(replaced.single_use);
        let legacy = edit_buttons(&object(
            json!({"buttons": [{"title": "A", "payload": "a"}]}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(legacy.keyboard.len(), 1);
        let many: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
        assert_eq!(
            edit_buttons(&object(json!({"reply_markup": {"inlineKeyboard": [many]}}))),
            Err(ApiError::TooManyButtons)
        );
        assert_eq!(
            edit_buttons(&object(json!({"reply_markup": 3}))),
            Err(ApiError::ReplyMarkupNotObject)
        );
    }
}
