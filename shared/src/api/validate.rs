//! Validation of the send API's request bodies, to the letter of the public contract.
//!
//! A body is parsed into a [`GroupMessage`] or a [`UserMessage`]; anything else is an
//! [`ApiError`] from the catalogue. Parsing goes through `serde_json::Value` so that each kind
//! of malformed input gets its own precise description.

use serde_json::{Map, Value};

use crate::api::error::{ApiError, MAX_ALERT_BODY_BYTES, MAX_BODY_BYTES, MAX_PARAMETERS_BYTES};
use crate::api::markup::{keyboard, single_use};
use crate::domain::message::{BotReply, GroupMessage, MessageContent, UserMessage, MAX_TEXT_CHARS};
use crate::domain::sources::alerts::{AlertNotification, AlertSource, PayloadError};

/// Parses the group route's body. The contract's group route lists `text` and `message`; as
/// an extension that every contract example still satisfies, it takes `reply_markup` and
/// `buttons` with the user route's rules.
pub fn parse_group_message(body: &[u8]) -> Result<GroupMessage, ApiError> {
    let object = parse_object(body)?;
    let text = message_text(&object)?;
    let keyboard = keyboard(&object)?;
    Ok(GroupMessage {
        content: MessageContent { text, keyboard },
        parameters: parameters(&object)?,
        single_use: single_use(&object)?,
    })
}

/// Parses the user route's body.
pub fn parse_user_message(body: &[u8]) -> Result<UserMessage, ApiError> {
    let object = parse_object(body)?;
    let email = email(&object)?;
    let text = message_text(&object)?;
    let keyboard = keyboard(&object)?;
    Ok(UserMessage {
        email,
        content: MessageContent { text, keyboard },
        parameters: parameters(&object)?,
        single_use: single_use(&object)?,
    })
}

/// Reads a webhook's answer. Two shapes are understood: a chat server's bot response
/// (`{"senderID", "toBotState", "data": {"message", "messageType"}}`) and the send API's
/// (`{"text" or "message", "reply_markup" or "buttons", "toBotState"}`). Anything else
/// (`{"ok": true}`, an empty body) is no reply.
pub fn parse_bot_reply(answer: &Value) -> Result<BotReply, ApiError> {
    let Value::Object(object) = answer else {
        return Ok(BotReply::default());
    };
    let to_bot_state = match object.get("toBotState") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(state)) => Some(Some(state.clone())),
        Some(_) => return Err(ApiError::FieldNotString("toBotState")),
    };
    let text = match object.get("data") {
        Some(Value::Object(data)) => optional_string(data, "message")?.map(str::to_owned),
        Some(Value::Null) | None => [
            optional_string(object, "text")?,
            optional_string(object, "message")?,
        ]
        .into_iter()
        .flatten()
        .find(|t| !t.trim().is_empty())
        .map(str::to_owned),
        Some(_) => return Err(ApiError::InvalidRequest),
    };
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(BotReply {
            content: None,
            to_bot_state,
            single_use: false,
        });
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::MessageTooLong);
    }
    Ok(BotReply {
        content: Some(MessageContent {
            text,
            keyboard: keyboard(object)?,
        }),
        to_bot_state,
        single_use: single_use(object)?,
    })
}

/// Parses an alert route's body as a notification of `source`.
pub fn parse_alerts(source: AlertSource, body: &[u8]) -> Result<AlertNotification, ApiError> {
    if body.len() > MAX_ALERT_BODY_BYTES {
        return Err(ApiError::AlertBodyTooLarge);
    }
    AlertNotification::parse(source, body).map_err(|error| match error {
        PayloadError::NotJson => ApiError::MalformedJson,
        // The registry's refusal for a body that is not of this source.
        PayloadError::NotPayload => crate::api::sources::by_segment(source.name())
            .map(|row| row.not_its_body.clone())
            .unwrap_or(ApiError::InvalidRequest),
    })
}

/// The alert routes' `?email=<address>`: whom to send to instead of the app's group, checked
/// as the user route checks its `email`. `None` when the query does not name one.
pub fn alert_recipient(query: &str) -> Result<Option<String>, ApiError> {
    let Some((_, raw)) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "email")
    else {
        return Ok(None);
    };
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::EmailEmpty);
    }
    if !is_valid_email(&email) {
        return Err(ApiError::EmailInvalid);
    }
    Ok(Some(email))
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
    let value = authorization.ok_or(ApiError::BearerTokenMissing)?.trim();
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::BearerTokenMissing),
    }
}

pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BodyNotObject),
        Err(_) => Err(ApiError::MalformedJson),
    }
}

/// `text` or `message`; `text` wins when both carry something.
pub(crate) fn message_text(object: &Map<String, Value>) -> Result<String, ApiError> {
    let text = optional_string(object, "text")?;
    let message = optional_string(object, "message")?;
    let chosen = [text, message]
        .into_iter()
        .flatten()
        .find(|candidate| !candidate.trim().is_empty())
        .ok_or(ApiError::MessageEmpty)?;
    if chosen.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::MessageTooLong);
    }
    Ok(chosen.to_owned())
}

fn email(object: &Map<String, Value>) -> Result<String, ApiError> {
    let raw = optional_string(object, "email")?.unwrap_or_default();
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::EmailEmpty);
    }
    if !is_valid_email(&email) {
        return Err(ApiError::EmailInvalid);
    }
    Ok(email)
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain of letters,
/// digits and hyphens, no whitespace or control characters, at most 254 characters.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain.contains('.')
        && labels_ok
}

/// `parameters`, at most [`MAX_PARAMETERS_BYTES`] as they will be stored.
fn parameters(object: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    match object.get("parameters") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(parameters)) => {
            let stored = serde_json::to_string(parameters).map_or(usize::MAX, |text| text.len());
            if stored > MAX_PARAMETERS_BYTES {
                return Err(ApiError::ParametersTooLarge);
            }
            Ok(parameters.clone())
        }
        Some(_) => Err(ApiError::ParametersNotObject),
    }
}

pub(crate) fn optional_string<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::FieldNotString(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Button;
    use serde_json::json;

    fn group(body: Value) -> Result<GroupMessage, ApiError> {
        parse_group_message(body.to_string().as_bytes())
    }

    fn user(body: Value) -> Result<UserMessage, ApiError> {
        parse_user_message(body.to_string().as_bytes())
    }

    fn buttons(n: usize) -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"text": format!("b{i}"), "callbackData": {"i": i}}))
                .collect(),
        )
    }

    #[test]
    fn seed_group_example_is_accepted() {
        let m = group(json!({"text": "System notification: All services running"})).unwrap();
        assert_eq!(m.content.text, "System notification: All services running");
        assert!(m.content.keyboard.is_empty());
    }

    #[test]
    fn message_field_is_an_alternative_to_text() {
        assert_eq!(group(json!({"message": "hi"})).unwrap().content.text, "hi");
    }

    #[test]
    fn text_wins_when_both_are_given() {
        let m = group(json!({"text": "from text", "message": "from message"})).unwrap();
        assert_eq!(m.content.text, "from text");
    }

    #[test]
    fn empty_text_falls_back_to_message() {
        let m = group(json!({"text": "  ", "message": "from message"})).unwrap();
        assert_eq!(m.content.text, "from message");
    }

    #[test]
    fn missing_blank_or_null_text_is_empty() {
        for body in [
            json!({}),
            json!({"text": ""}),
            json!({"text": "   \n"}),
            json!({"text": null, "message": ""}),
        ] {
            assert_eq!(group(body.clone()), Err(ApiError::MessageEmpty), "{body}");
            assert_eq!(
                user(json!({"email": "a@b.co", "text": body.get("text")})).unwrap_err(),
                ApiError::MessageEmpty
            );
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // "ệ" is three bytes in UTF-8: 2000 of them are 6000 bytes and still pass.
        let at_limit = "ệ".repeat(2000);
        assert_eq!(at_limit.len(), 6000);
        assert_eq!(
            group(json!({ "text": at_limit }))
                .unwrap()
                .content
                .text
                .chars()
                .count(),
            2000
        );
        let over = "ệ".repeat(2001);
        assert_eq!(
            group(json!({ "text": over })),
            Err(ApiError::MessageTooLong)
        );
        let over_ascii = "a".repeat(2001);
        assert_eq!(
            user(json!({"email": "a@b.co", "message": over_ascii})).unwrap_err(),
            ApiError::MessageTooLong
        );
    }

    #[test]
    fn wrong_field_types_are_named() {
        assert_eq!(
            group(json!({"text": 5})),
            Err(ApiError::FieldNotString("text"))
        );
        assert_eq!(
            group(json!({"message": ["x"]})),
            Err(ApiError::FieldNotString("message"))
        );
        assert_eq!(
            user(json!({"email": 1, "text": "x"})).unwrap_err(),
            ApiError::FieldNotString("email")
        );
    }

    #[test]
    fn malformed_bodies_have_their_own_answers() {
        assert_eq!(
            parse_group_message(b"{not json"),
            Err(ApiError::MalformedJson)
        );
        assert_eq!(parse_group_message(b""), Err(ApiError::MalformedJson));
        assert_eq!(parse_user_message(b"[1,2]"), Err(ApiError::BodyNotObject));
        assert_eq!(
            parse_user_message(b"\"text\""),
            Err(ApiError::BodyNotObject)
        );
        let huge = format!("{{\"text\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse_group_message(huge.as_bytes()),
            Err(ApiError::BodyTooLarge)
        );
    }

    #[test]
    fn email_is_required_trimmed_lowercased_and_checked() {
        assert_eq!(
            user(json!({"text": "x"})).unwrap_err(),
            ApiError::EmailEmpty
        );
        assert_eq!(
            user(json!({"email": " ", "text": "x"})).unwrap_err(),
            ApiError::EmailEmpty
        );
        let m = user(json!({"email": "  User@Example.COM ", "text": "x"})).unwrap();
        assert_eq!(m.email, "user@example.com");
        for bad in [
            "user",
            "user@",
            "@example.com",
            "a b@c.d",
            "a@b",
            "a@-b.com",
            "a..b@c.d",
        ] {
            assert_eq!(
                user(json!({"email": bad, "text": "x"})).unwrap_err(),
                ApiError::EmailInvalid,
                "{bad}"
            );
        }
        assert!(is_valid_email("nguyễn.văn@fpt.com.vn"));
    }

    #[test]
    fn email_is_checked_before_text() {
        assert_eq!(user(json!({})).unwrap_err(), ApiError::EmailEmpty);
    }

    #[test]
    fn seed_inline_keyboard_is_parsed_into_rows() {
        let m = user(json!({
            "email": "user@example.com",
            "text": "Approve this request?",
            "reply_markup": {"inlineKeyboard": [[
                {"text": "Yes", "callbackData": {"action": "confirm", "data": "yes"}},
                {"text": "No", "callbackData": {"action": "confirm", "data": "no"}}
            ]]}
        }))
        .unwrap();
        assert_eq!(m.content.keyboard.len(), 1);
        assert_eq!(m.content.keyboard[0][1].text, "No");
        assert_eq!(
            m.content.keyboard[0][0].callback_data,
            json!({"action": "confirm", "data": "yes"})
        );
    }

    #[test]
    fn legacy_buttons_become_one_row_each() {
        let m = user(json!({
            "email": "user@example.com",
            "text": "Please choose:",
            "buttons": [{"title": "Option A", "payload": "option_a"}, {"title": "Option B", "payload": "option_b"}]
        }))
        .unwrap();
        assert_eq!(
            m.content.keyboard,
            vec![
                vec![Button {
                    text: "Option A".into(),
                    callback_data: json!("option_a")
                }],
                vec![Button {
                    text: "Option B".into(),
                    callback_data: json!("option_b")
                }],
            ]
        );
    }

    #[test]
    fn thirty_buttons_pass_and_thirty_one_fail_in_either_format() {
        let ok = user(
            json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [buttons(30)]}}),
        );
        assert_eq!(ok.unwrap().content.keyboard[0].len(), 30);
        let over = user(
            json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [buttons(15), buttons(16)]}}),
        );
        assert_eq!(over.unwrap_err(), ApiError::TooManyButtons);
        let legacy: Vec<Value> = (0..31)
            .map(|i| json!({"title": format!("t{i}"), "payload": i}))
            .collect();
        let over = user(json!({"email": "a@b.co", "text": "x", "buttons": legacy}));
        assert_eq!(over.unwrap_err(), ApiError::TooManyButtons);
    }

    #[test]
    fn both_button_formats_count_together() {
        let legacy: Vec<Value> = (0..10)
            .map(|i| json!({"title": format!("t{i}"), "payload": i}))
            .collect();
        let body = json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [buttons(20)]}, "buttons": legacy});
        assert_eq!(user(body.clone()).unwrap().content.keyboard.len(), 11);
        let mut body = body;
        body["reply_markup"]["inlineKeyboard"] = json!([buttons(21)]);
        assert_eq!(user(body).unwrap_err(), ApiError::TooManyButtons);
    }

    #[test]
    fn reply_markup_must_be_a_dictionary() {
        for markup in [json!("x"), json!([]), json!(3)] {
            let body = json!({"email": "a@b.co", "text": "x", "reply_markup": markup});
            assert_eq!(user(body).unwrap_err(), ApiError::ReplyMarkupNotObject);
        }
    }

    #[test]
    fn inline_keyboard_must_be_a_list_of_lists_of_dicts() {
        for keyboard in [
            json!(null),
            json!({}),
            json!([{"text": "a"}]),
            json!([["a"]]),
            json!("rows"),
        ] {
            let body = json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": keyboard}});
            assert_eq!(user(body).unwrap_err(), ApiError::InlineKeyboardMalformed);
        }
        let body = json!({"email": "a@b.co", "text": "x", "reply_markup": {}});
        assert_eq!(user(body).unwrap_err(), ApiError::InlineKeyboardMalformed);
    }

    #[test]
    fn a_button_needs_text() {
        let body = json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [[{"callbackData": 1}]]}});
        assert_eq!(user(body).unwrap_err(), ApiError::ButtonTextEmpty);
        let body =
            json!({"email": "a@b.co", "text": "x", "buttons": [{"title": " ", "payload": 1}]});
        assert_eq!(user(body).unwrap_err(), ApiError::ButtonTextEmpty);
        let body = json!({"email": "a@b.co", "text": "x", "buttons": [{"title": 7}]});
        assert_eq!(
            user(body).unwrap_err(),
            ApiError::FieldNotString("button title")
        );
    }

    #[test]
    fn malformed_legacy_buttons_are_an_invalid_request() {
        for buttons in [json!("a"), json!({"title": "a"}), json!(["a"])] {
            let body = json!({"email": "a@b.co", "text": "x", "buttons": buttons});
            assert_eq!(user(body).unwrap_err(), ApiError::InvalidRequest);
        }
    }

    #[test]
    fn parameters_are_kept_and_must_be_a_dictionary() {
        let m = group(json!({"text": "x", "parameters": {"ticket": 42, "tags": ["a"]}})).unwrap();
        assert_eq!(
            Value::Object(m.parameters),
            json!({"ticket": 42, "tags": ["a"]})
        );
        assert_eq!(
            group(json!({"text": "x", "parameters": [1]})),
            Err(ApiError::ParametersNotObject)
        );
    }

    #[test]
    fn bot_replies_come_in_two_shapes() {
        let chat_server = parse_bot_reply(&json!({
            "senderID": "robot001", "toBotState": "active",
            "data": {"message": "Hello! How can I help you?", "messageType": "text"}
        }))
        .unwrap();
        assert_eq!(
            chat_server.content.unwrap().text,
            "Hello! How can I help you?"
        );
        assert_eq!(chat_server.to_bot_state, Some(Some("active".into())));

        let send_api = parse_bot_reply(&json!({
            "text": "Pick one", "reply_markup": {"inlineKeyboard": [[{"text": "A", "callbackData": "a"}]]}
        }))
        .unwrap();
        assert_eq!(send_api.content.unwrap().keyboard[0][0].text, "A");
        assert_eq!(send_api.to_bot_state, None);
    }

    #[test]
    fn an_answer_without_text_is_no_reply() {
        for answer in [
            json!({"ok": true}),
            json!({"toBotState": null, "data": null}),
            json!("fine"),
            json!({"text": " "}),
        ] {
            assert_eq!(parse_bot_reply(&answer).unwrap().content, None, "{answer}");
        }
        assert_eq!(
            parse_bot_reply(&json!({"toBotState": null}))
                .unwrap()
                .to_bot_state,
            Some(None)
        );
        assert_eq!(
            parse_bot_reply(&json!({"text": "x".repeat(2001)})),
            Err(ApiError::MessageTooLong)
        );
        assert_eq!(
            parse_bot_reply(&json!({"toBotState": 3})),
            Err(ApiError::FieldNotString("toBotState"))
        );
    }

    #[test]
    fn group_route_takes_buttons_with_the_user_routes_rules() {
        let m = group(
            json!({"text": "x", "reply_markup": {"inlineKeyboard": [buttons(2)], "singleUse": true},
            "buttons": [{"title": "t", "payload": 1}]}),
        )
        .unwrap();
        assert_eq!(m.content.keyboard.len(), 2);
        assert!(m.single_use);
        assert!(!group(json!({"text": "x"})).unwrap().single_use);
        assert_eq!(
            group(json!({"text": "x", "reply_markup": "junk"})),
            Err(ApiError::ReplyMarkupNotObject)
        );
        assert_eq!(
            group(json!({"text": "x", "reply_markup": {"inlineKeyboard": [buttons(31)]}})),
            Err(ApiError::TooManyButtons)
        );
        assert_eq!(
            user(json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [], "singleUse": "yes"}}))
                .unwrap_err(),
            ApiError::SingleUseNotBoolean
        );
    }

    #[test]
    fn alert_bodies_are_their_sources_or_refused() {
        let sample = AlertSource::Alertmanager.sample_payload().as_bytes();
        assert!(parse_alerts(AlertSource::Alertmanager, sample).is_ok());
        assert_eq!(
            parse_alerts(AlertSource::Grafana, sample),
            Err(ApiError::NotGrafanaPayload)
        );
        assert_eq!(
            parse_alerts(AlertSource::Alertmanager, br#"{"text":"hi"}"#),
            Err(ApiError::NotAlertmanagerPayload)
        );
        assert_eq!(
            parse_alerts(AlertSource::Grafana, b"not json"),
            Err(ApiError::MalformedJson)
        );
        let huge = vec![b' '; MAX_ALERT_BODY_BYTES + 1];
        assert_eq!(
            parse_alerts(AlertSource::Grafana, &huge),
            Err(ApiError::AlertBodyTooLarge)
        );
    }

    #[test]
    fn the_alert_recipient_is_an_optional_checked_email() {
        assert_eq!(alert_recipient(""), Ok(None));
        assert_eq!(alert_recipient("team=x"), Ok(None));
        assert_eq!(
            alert_recipient("email=%20Oncall.Lead%40Example.org%20"),
            Ok(Some("oncall.lead@example.org".into()))
        );
        assert_eq!(alert_recipient("email="), Err(ApiError::EmailEmpty));
        assert_eq!(alert_recipient("email=nobody"), Err(ApiError::EmailInvalid));
    }

    #[test]
    fn the_bearer_token_is_read_from_its_header() {
        assert_eq!(bearer_token(Some("Bearer abc-123")), Ok("abc-123"));
        assert_eq!(bearer_token(Some("bearer  xyz ")), Ok("xyz"));
        for bad in [
            None,
            Some(""),
            Some("Basic dXNlcjpwdw=="),
            Some("Bearer "),
            Some("abc"),
        ] {
            assert_eq!(
                bearer_token(bad),
                Err(ApiError::BearerTokenMissing),
                "{bad:?}"
            );
        }
    }
}
