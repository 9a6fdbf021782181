//! The error catalogue: every answer the public API can give that is not a success, with its
//! HTTP status and its description. The seed's "Complete Error Reference" rows are reproduced
//! word for word; the rows the seed does not list are marked as the gateway's own.
//!
//! This is the only place where a status code or a description is written down.

use serde::Serialize;

use crate::ports::StoreError;

/// The largest request body the send API accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest alert notification the alert routes accept, in bytes: a group of many alerts
/// is shortened into one message, never refused for its length.
pub const MAX_ALERT_BODY_BYTES: usize = 1024 * 1024;
/// The largest `parameters` the send API keeps, in bytes as stored (serialized again): they
/// live in the context's item and in every event forwarded for the message. A body within
/// [`MAX_BODY_BYTES`] reaches it only through numbers that grow when written back (`1e15` is
/// stored as `1000000000000000.0`).
pub const MAX_PARAMETERS_BYTES: usize = 64 * 1024;
/// The `Retry-After` of a 429 (`ApiError::SlowDown`), in seconds.
pub const SLOW_DOWN_SECONDS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    // --- Seed: group messaging ---
    #[error("Bad Request: message text is empty")]
    MessageEmpty,
    #[error("Bad Request: message is too long")]
    MessageTooLong,
    #[error("Bad Request: beatchat group id not found")]
    GroupWithoutBeatchatId,
    #[error("Bad Request: group is not active")]
    GroupInactive,
    #[error("Channel or token not found")]
    GroupRouteNotAuthenticated,
    #[error("Application does not have a group assigned")]
    NoGroupAssigned,
    #[error("Group not found")]
    GroupNotFound,

    // --- Seed: user messaging ---
    #[error("Bad Request: invalid request")]
    InvalidRequest,
    #[error("Bad Request: email is empty")]
    EmailEmpty,
    #[error("Bad Request: reply_markup must be a dictionary")]
    ReplyMarkupNotObject,
    #[error("Bad Request: inlineKeyboard must be a list of list of dicts")]
    InlineKeyboardMalformed,
    #[error("Limit 30 buttons")]
    TooManyButtons,
    #[error("channel or token not found")]
    UserRouteNotAuthenticated,
    #[error("this app have not permission to send fchat message")]
    NoUserPermission,
    #[error("User {0} not found!")]
    UserNotFound(String),

    // --- The gateway's own: malformed input the seed does not list ---
    #[error("Bad Request: body is not valid JSON")]
    MalformedJson,
    #[error("Bad Request: body must be a JSON object")]
    BodyNotObject,
    #[error("Bad Request: {0} must be a string")]
    FieldNotString(&'static str),
    #[error("Bad Request: parameters must be a dictionary")]
    ParametersNotObject,
    #[error("Bad Request: email is not a valid email address")]
    EmailInvalid,
    #[error("Bad Request: button text is empty")]
    ButtonTextEmpty,
    #[error("Bad Request: Idempotency-Key must be 1 to 255 printable ASCII characters")]
    IdempotencyKeyInvalid,
    #[error("Unprocessable Entity: Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("Payload Too Large: body exceeds 65536 bytes")]
    BodyTooLarge,
    #[error("Payload Too Large: parameters exceed 65536 bytes")]
    ParametersTooLarge,
    /// The message as queued (text, buttons, an alert group's key and labels) would be over
    /// the delivery queue's message size (`crate::domain::job::MAX_JOB_BYTES`).
    #[error("Payload Too Large: the message exceeds the delivery queue's 262144 bytes")]
    JobTooLarge,
    #[error("Not Found: no such route")]
    RouteNotFound,
    #[error("Not Found: no such message")]
    MessageNotFound,
    #[error("Unauthorized: wrong or missing X-FChat-Secret")]
    CallbackUnauthorized,
    #[error("Bad Request: not an FChat update")]
    NotAnUpdate,
    #[error("Method Not Allowed: this route accepts {0} only")]
    MethodNotAllowed(&'static str),
    /// An event the front door cannot read as an HTTP request: a target that is not a path
    /// (`OPTIONS *`), a `Host` no URL can have, a body that says base64 and is not.
    #[error("Bad Request: the request's target, Host header or body encoding is malformed")]
    MalformedRequest,

    // --- The gateway's own: the alert routes ---
    #[error("Bad Request: body is not an Alertmanager webhook payload (version 4)")]
    NotAlertmanagerPayload,
    #[error("Bad Request: body is not a Grafana webhook payload (unified alerting)")]
    NotGrafanaPayload,
    #[error("Unauthorized: send the app's token as Authorization: Bearer <token>")]
    BearerTokenMissing,
    #[error("Payload Too Large: body exceeds 1048576 bytes")]
    AlertBodyTooLarge,

    // --- The gateway's own: the AWS routes (SNS, EventBridge) ---
    #[error("Bad Request: body is not an SNS message")]
    NotSnsMessage,
    #[error("Forbidden: SNS signature does not verify")]
    SnsSignatureInvalid,
    #[error("Forbidden: this app does not accept this SNS topic")]
    SnsTopicNotAllowed,
    #[error("Service Unavailable: SNS could not be reached to check the message, please retry")]
    SnsUnavailable,
    #[error("Bad Request: body is not an EventBridge event")]
    NotAnEvent,
    #[error("Unauthorized: send the app's token as Authorization: Bearer <token> or x-api-key")]
    ApiKeyMissing,
    #[error("Too Many Requests: the gateway is busy, please retry later")]
    SlowDown,

    // --- The gateway's own: custom sources (`/hooks/{name}`) ---
    #[error("Not Found: this app has no such source")]
    HookNotFound,
    #[error("Forbidden: the webhook's signature does not verify")]
    HookSignatureInvalid,

    // --- The gateway's own: conversations (buttons, edits, deletions, clicks' answers) ---
    #[error("Bad Request: singleUse must be true or false")]
    SingleUseNotBoolean,
    #[error("Bad Request: an edit needs text, message, reply_markup or buttons")]
    EditEmpty,
    #[error("Conflict: the message was not delivered, so it cannot change")]
    MessageNotDelivered,
    #[error("Conflict: an alert group's message changes with its alerts only")]
    AlertMessageUnchangeable,
    #[error("Gone: the message is deleted")]
    MessageDeleted,
    /// A webhook's answer to a click (never an HTTP answer: logged).
    #[error("Bad Request: edit must be a dictionary")]
    EditNotObject,
    /// A webhook's answer to a click (never an HTTP answer: logged).
    #[error(
        "Bad Request: notice must be a string of at most 200 characters, or {{text, show_alert}}"
    )]
    NoticeInvalid,

    // --- Failures of the gateway itself (details are logged, never sent) ---
    #[error("Service Unavailable: the message could not be queued, please retry")]
    QueueUnavailable,
    #[error("Internal Server Error: please retry later")]
    Internal,
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            GroupRouteNotAuthenticated
            | NoGroupAssigned
            | GroupNotFound
            | UserRouteNotAuthenticated
            | NoUserPermission
            | UserNotFound(_)
            | RouteNotFound
            | MessageNotFound
            | HookNotFound => 404,
            MethodNotAllowed(_) => 405,
            CallbackUnauthorized | BearerTokenMissing | ApiKeyMissing => 401,
            SnsSignatureInvalid | SnsTopicNotAllowed | HookSignatureInvalid => 403,
            MessageNotDelivered | AlertMessageUnchangeable => 409,
            MessageDeleted => 410,
            SlowDown => 429,
            SnsUnavailable => 503,
            BodyTooLarge | AlertBodyTooLarge | ParametersTooLarge | JobTooLarge => 413,
            IdempotencyKeyReused => 422,
            QueueUnavailable => 503,
            Internal => 500,
            MessageEmpty
            | MessageTooLong
            | GroupWithoutBeatchatId
            | GroupInactive
            | InvalidRequest
            | EmailEmpty
            | ReplyMarkupNotObject
            | InlineKeyboardMalformed
            | TooManyButtons
            | MalformedJson
            | BodyNotObject
            | FieldNotString(_)
            | ParametersNotObject
            | EmailInvalid
            | ButtonTextEmpty
            | IdempotencyKeyInvalid
            | NotAnUpdate
            | NotAlertmanagerPayload
            | NotGrafanaPayload
            | NotSnsMessage
            | NotAnEvent
            | MalformedRequest
            | SingleUseNotBoolean
            | EditEmpty
            | EditNotObject
            | NoticeInvalid => 400,
        }
    }

    /// The public answer: `{"ok":false,"error_code":<status>,"description":"..."}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            ok: false,
            error_code: self.status(),
            description: self.to_string(),
        }
    }

    /// A short stable name for logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self.status() {
            500.. => "failed",
            401 | 403 | 404 => "rejected",
            429 => "throttled",
            _ => "invalid",
        }
    }
}

/// A storage failure answers the catalogue's 500. Its detail is logged here and never shown to
/// the app.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "storage failure");
        ApiError::Internal
    }
}

/// The contract's error format.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub ok: bool,
    pub error_code: u16,
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_contract_shape() {
        let body = serde_json::to_value(ApiError::MessageTooLong.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: message is too long"})
        );
    }

    #[test]
    fn user_not_found_names_the_email() {
        let e = ApiError::UserNotFound("a@b.co".into());
        assert_eq!(e.status(), 404);
        assert_eq!(e.to_string(), "User a@b.co not found!");
    }

    #[test]
    fn the_two_routes_keep_their_own_capitalisation() {
        assert_eq!(
            ApiError::GroupRouteNotAuthenticated.to_string(),
            "Channel or token not found"
        );
        assert_eq!(
            ApiError::UserRouteNotAuthenticated.to_string(),
            "channel or token not found"
        );
    }

    #[test]
    fn the_body_limits_are_the_ones_described() {
        assert!(ApiError::BodyTooLarge
            .to_string()
            .ends_with(&format!("{MAX_BODY_BYTES} bytes")));
        assert!(ApiError::AlertBodyTooLarge
            .to_string()
            .ends_with(&format!("{MAX_ALERT_BODY_BYTES} bytes")));
        assert!(ApiError::ParametersTooLarge
            .to_string()
            .ends_with(&format!("{MAX_PARAMETERS_BYTES} bytes")));
        assert!(ApiError::JobTooLarge
            .to_string()
            .ends_with(&format!("{} bytes", crate::domain::job::MAX_JOB_BYTES)));
        for error in [ApiError::ParametersTooLarge, ApiError::JobTooLarge] {
            assert_eq!(error.status(), 413);
        }
        assert_eq!(ApiError::MalformedRequest.status(), 400);
        assert_eq!(ApiError::BearerTokenMissing.status(), 401);
        assert_eq!(ApiError::NotGrafanaPayload.status(), 400);
    }

    #[test]
    fn the_aws_routes_answers_are_the_issues() {
        assert_eq!(
            serde_json::to_value(ApiError::SnsSignatureInvalid.body()).unwrap(),
            serde_json::json!({"ok": false, "error_code": 403, "description": "Forbidden: SNS signature does not verify"})
        );
        assert_eq!(ApiError::SnsTopicNotAllowed.status(), 403);
        assert_eq!(ApiError::SlowDown.status(), 429);
        assert_eq!(ApiError::SlowDown.outcome(), "throttled");
        assert_eq!(ApiError::ApiKeyMissing.status(), 401);
    }

    #[test]
    fn a_change_the_message_cannot_take_is_a_conflict_or_gone() {
        assert_eq!(ApiError::MessageNotDelivered.status(), 409);
        assert_eq!(ApiError::AlertMessageUnchangeable.status(), 409);
        assert_eq!(ApiError::MessageDeleted.status(), 410);
        assert_eq!(ApiError::MessageDeleted.outcome(), "invalid");
        assert!(ApiError::NoticeInvalid
            .to_string()
            .contains(&crate::domain::conversation::MAX_NOTICE_CHARS.to_string()));
    }

    #[test]
    fn gateway_failures_are_5xx() {
        assert_eq!(ApiError::QueueUnavailable.status(), 503);
        assert_eq!(ApiError::Internal.status(), 500);
        assert_eq!(ApiError::Internal.outcome(), "failed");
    }
}
