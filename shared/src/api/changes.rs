//! The bodies that change a sent message: an edit through the send API
//! (`PATCH /{token}/messages/{id}`), and an app webhook's answer to a click (`notice`,
//! `edit`). Both follow the send's rules for text and buttons; what an edit leaves out stays
//! as it is.

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::api::markup::edit_buttons;
use crate::api::validate::{message_text, optional_string, parse_object};
use crate::domain::conversation::{Edit, Notice, MAX_NOTICE_CHARS};

/// Parses the body of `PATCH /{token}/messages/{id}`: `text` or `message`, `reply_markup`
/// (`null` removes the buttons) or `buttons`; at least one of them.
pub fn parse_edit(body: &[u8]) -> Result<Edit, ApiError> {
    edit_from(&parse_object(body)?)
}

fn edit_from(object: &Map<String, Value>) -> Result<Edit, ApiError> {
    // Each is checked for its type, whether or not it is the one chosen.
    let text = optional_string(object, "text")?;
    let message = optional_string(object, "message")?;
    let text = match (text, message) {
        (None, None) => None,
        _ => Some(message_text(object)?),
    };
    let edit = Edit {
        text,
        buttons: edit_buttons(object)?,
        note: None,
    };
    if edit.is_empty() {
        return Err(ApiError::EditEmpty);
    }
    Ok(edit)
}

/// What an app's webhook answered a click with, beside a bot reply: as far as it is valid,
/// and why the rest is not.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClickAnswer {
    pub notice: Option<Notice>,
    pub edit: Option<Edit>,
    /// The parts left out, each with why: logged, never retried.
    pub problems: Vec<ApiError>,
}

/// Reads `notice` (a string of at most 200 characters, or `{"text", "show_alert"}`) and
/// `edit` (an edit's body) of a webhook's answer; each part stands or falls alone.
pub fn parse_click_answer(answer: &Value) -> ClickAnswer {
    let mut read = ClickAnswer::default();
    let Value::Object(object) = answer else {
        return read;
    };
    match notice(object.get("notice")) {
        Ok(notice) => read.notice = notice,
        Err(problem) => read.problems.push(problem),
    }
    match object.get("edit") {
        None | Some(Value::Null) => {}
        Some(Value::Object(edit)) => match edit_from(edit) {
            Ok(edit) => read.edit = Some(edit),
            Err(problem) => read.problems.push(problem),
        },
        Some(_) => read.problems.push(ApiError::EditNotObject),
    }
    read
}

fn notice(value: Option<&Value>) -> Result<Option<Notice>, ApiError> {
    let (text, show_alert) = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => (text.as_str(), false),
        Some(Value::Object(notice)) => match (notice.get("text"), notice.get("show_alert")) {
            (Some(Value::String(text)), None | Some(Value::Null)) => (text.as_str(), false),
            (Some(Value::String(text)), Some(Value::Bool(alert))) => (text.as_str(), *alert),
            _ => return Err(ApiError::NoticeInvalid),
        },
        Some(_) => return Err(ApiError::NoticeInvalid),
    };
    if text.chars().count() > MAX_NOTICE_CHARS {
        return Err(ApiError::NoticeInvalid);
    }
    Ok(Some(Notice {
        text: text.to_owned(),
        show_alert,
    })
    .filter(|notice| !notice.text.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::Buttons;
    use serde_json::json;

    fn edit(body: Value) -> Result<Edit, ApiError> {
        parse_edit(body.to_string().as_bytes())
    }

    #[test]
    fn an_edit_follows_the_sends_rules() {
        assert_eq!(
            edit(json!({"text": "Deploying... done"})),
            Ok(Edit {
                text: Some("Deploying... done".into()),
                ..Edit::default()
            })
        );
        assert_eq!(
            edit(json!({"message": "from message", "text": " "}))
                .unwrap()
                .text
                .as_deref(),
            Some("from message")
        );
        assert_eq!(
            edit(json!({"reply_markup": null})),
            Ok(Edit {
                buttons: Some(Buttons::default()),
                ..Edit::default()
            })
        );
        for (body, error) in [
            (json!({}), ApiError::EditEmpty),
            (json!({"text": null}), ApiError::EditEmpty),
            (json!({"text": ""}), ApiError::MessageEmpty),
            (json!({"text": "x".repeat(2001)}), ApiError::MessageTooLong),
            (json!({"text": 7}), ApiError::FieldNotString("text")),
            (
                json!({"text": "x", "reply_markup": {"inlineKeyboard": "no"}}),
                ApiError::InlineKeyboardMalformed,
            ),
            (json!([1]), ApiError::BodyNotObject),
        ] {
            assert_eq!(edit(body.clone()), Err(error), "{body}");
        }
        assert_eq!(parse_edit(b"{"), Err(ApiError::MalformedJson));
    }

    #[test]
    fn a_clicks_answer_is_read_part_by_part() {
        let answer = parse_click_answer(&json!({
            "notice": "Approved, thanks",
            "edit": {"text": "Deploy 42: approved by user@example.com", "reply_markup": null},
            "text": "a bot reply, read elsewhere"
        }));
        assert_eq!(
            answer.notice,
            Some(Notice {
                text: "Approved, thanks".into(),
                show_alert: false
            })
        );
        let edit = answer.edit.unwrap();
        assert_eq!(edit.buttons, Some(Buttons::default()));
        assert!(answer.problems.is_empty());

        let alert = parse_click_answer(&json!({"notice": {"text": "Careful", "show_alert": true}}));
        assert!(alert.notice.unwrap().show_alert);

        // A notice too long and an edit with 31 buttons are left out, each with its reason;
        // what is valid stands.
        let many: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
        let answer = parse_click_answer(&json!({
            "notice": "n".repeat(201),
            "edit": {"reply_markup": {"inlineKeyboard": [many]}}
        }));
        assert_eq!(answer.notice, None);
        assert_eq!(answer.edit, None);
        assert_eq!(
            answer.problems,
            vec![ApiError::NoticeInvalid, ApiError::TooManyButtons]
        );
        let answer = parse_click_answer(&json!({"notice": 3, "edit": {"text": "fine"}}));
        assert_eq!(answer.problems, vec![ApiError::NoticeInvalid]);
        assert_eq!(answer.edit.unwrap().text.as_deref(), Some("fine"));
        assert_eq!(
            parse_click_answer(&json!({"edit": "text"})).problems,
            vec![ApiError::EditNotObject]
        );
        assert_eq!(
            parse_click_answer(&json!({"ok": true})),
            ClickAnswer::default()
        );
        assert_eq!(parse_click_answer(&json!("fine")), ClickAnswer::default());
        assert_eq!(parse_click_answer(&json!({"notice": " "})).notice, None);
    }
}
