//! Why an invocation did not return a response, and what AWS answers for it.

use std::fmt;
use std::time::Duration;

use super::spec::function_arn;

/// Why an invocation did not return a response. [`LambdaHost::invoke`](super::LambdaHost::invoke) returns it inside its
/// `anyhow::Error`; `err.downcast_ref::<InvokeError>()` recovers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// No function has that name.
    UnknownFunction(String),
    /// The function reported an error (`/error`); `body` is what it posted, usually
    /// `{"errorType": ..., "errorMessage": ...}`. Displays as the body text.
    Function { function: String, body: Vec<u8> },
    /// The function did not answer within its timeout. `started` tells whether it had picked
    /// up the invocation (otherwise it was stuck on earlier ones, or never called `/next`).
    Timeout {
        function: String,
        timeout: Duration,
        started: bool,
    },
    /// The function reported an initialization error (`/init/error`); `body` is what it posted.
    InitError { function: String, body: String },
    /// The function's process has exited; `status` is its exit status.
    Exited { function: String, status: String },
    /// The event is larger than a synchronous invocation takes ([`MAX_REQUEST_PAYLOAD`]):
    /// refused before any instance sees it, as Lambda's Invoke API answers
    /// `413 RequestEntityTooLargeException`.
    RequestTooLarge { function: String, size: usize },
    /// The emulator lost the invocation (a bug).
    Internal(String),
}

/// The largest event a synchronous (`RequestResponse`) invocation takes: 6 MB, which Lambda
/// counts as 6 MiB. Lambda's quotas page says "6 MB" for the invocation payload; its Invoke
/// API answers a larger one `413 RequestEntityTooLargeException`, "Request must be smaller
/// than 6291456 bytes for the InvokeFunction operation".
pub const MAX_REQUEST_PAYLOAD: usize = 6 * 1024 * 1024;
/// The largest response a function may give to a synchronous invocation: 100 bytes more than
/// [`MAX_REQUEST_PAYLOAD`], as Lambda's own error says ("Response payload size exceeded maximum
/// allowed payload size (6291556 bytes)", error type `Function.ResponseSizeTooLarge`). The
/// invocation then fails as a function error (the Invoke API answers 200 with
/// `X-Amz-Function-Error`), and the Runtime API answers the runtime's `/response` 413.
pub const MAX_RESPONSE_PAYLOAD: usize = MAX_REQUEST_PAYLOAD + 100;

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::UnknownFunction(name) => write!(f, "function not found: {name}"),
            InvokeError::Function { body, .. } => f.write_str(&String::from_utf8_lossy(body)),
            InvokeError::Timeout {
                function,
                timeout,
                started: true,
            } => write!(
                f,
                "function `{function}` timed out: task timed out after {:.2} seconds",
                timeout.as_secs_f64()
            ),
            InvokeError::Timeout {
                function,
                timeout,
                started: false,
            } => write!(
                f,
                "function `{function}` timed out: it did not pick up the invocation \
                 (no progress for {:.2} seconds)",
                timeout.as_secs_f64()
            ),
            InvokeError::InitError { function, body } => {
                write!(f, "function `{function}` failed to initialize: {body}")
            }
            InvokeError::Exited { function, status } => {
                write!(f, "function `{function}` process exited ({status})")
            }
            InvokeError::RequestTooLarge { function, size } => write!(
                f,
                "function `{function}` refused a {size}-byte event: Request must be smaller \
                 than {MAX_REQUEST_PAYLOAD} bytes for the InvokeFunction operation"
            ),
            InvokeError::Internal(message) => write!(f, "lambda emulator: {message}"),
        }
    }
}

impl std::error::Error for InvokeError {}

impl InvokeError {
    /// The body AWS would answer for this error, with `X-Amz-Function-Error: Unhandled`
    /// (or with the status [`InvokeError::http_status`] gives).
    pub(super) fn aws_body(&self) -> Vec<u8> {
        let json = |error_type: &str, message: String| {
            serde_json::to_vec(&serde_json::json!({
                "errorType": error_type,
                "errorMessage": message,
            }))
            .unwrap_or_default()
        };
        match self {
            InvokeError::UnknownFunction(name) => serde_json::to_vec(&serde_json::json!({
                "Type": "User",
                "message": format!("Function not found: {}", function_arn(name)),
            }))
            .unwrap_or_default(),
            InvokeError::RequestTooLarge { .. } => serde_json::to_vec(&serde_json::json!({
                "Type": "User",
                "message": format!(
                    "Request must be smaller than {MAX_REQUEST_PAYLOAD} bytes for the InvokeFunction operation"
                ),
            }))
            .unwrap_or_default(),
            InvokeError::Function { body, .. } => body.clone(),
            InvokeError::InitError { body, .. }
                if serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.is_object()) =>
            {
                body.as_bytes().to_vec()
            }
            InvokeError::InitError { .. } => json("Runtime.InitError", self.to_string()),
            InvokeError::Exited { .. } => json("Runtime.ExitError", self.to_string()),
            InvokeError::Timeout { .. } => json("Sandbox.Timedout", self.to_string()),
            InvokeError::Internal(_) => json("ServiceException", self.to_string()),
        }
    }
}
