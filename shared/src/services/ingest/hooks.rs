//! Custom sources (`POST /{app}/{token}/hooks/{name}`): any JSON webhook, rendered through the
//! app's own template and queued as the alert routes are. A part of [`Ingest`].
//!
//! Checked in this order, and nothing happens before all pass: the app and its token, the
//! source's name, the body's size, the sender's signature, the body being JSON, the recipient.

use super::aws_sources::derived_key;
use super::*;
use crate::api::error::MAX_ALERT_BODY_BYTES;
use crate::domain::sources::hooks::HookVerify;

impl Ingest {
    pub(super) async fn hook(
        &self,
        app: &str,
        token: &Option<String>,
        name: &str,
        idempotency_key: Option<&str>,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<Accepted, ApiError> {
        let token = match token {
            Some(token) => token.as_str(),
            None => bearer_token(request.header("authorization"))?,
        };
        let app = self.app_by_name(app, token).await?;
        log.app = Some(app.name.clone());
        let source = app.hooks.get(name).ok_or(ApiError::HookNotFound)?;
        if request.body.len() > MAX_ALERT_BODY_BYTES {
            return Err(ApiError::AlertBodyTooLarge);
        }
        if let Some(verify) = &source.verify {
            if !verify.verify(
                |header| request.header(header),
                &request.body,
                self.clock.now(),
            ) {
                tracing::warn!(
                    app = %app.name,
                    source = %source.name,
                    verify = %verify.describe(),
                    "a custom source's request whose signature does not verify"
                );
                return Err(ApiError::HookSignatureInvalid);
            }
        }
        let body: Value =
            serde_json::from_slice(&request.body).map_err(|_| ApiError::MalformedJson)?;
        if !body.is_object() {
            return Err(ApiError::BodyNotObject);
        }
        let recipient = alert_recipient(&request.query)?;
        let target = self.source_target(&app, recipient, log).await?;
        let message = source.render(&body, &request.headers);
        let thread =
            message.thread_step(&thread_scope(&app, &target), &source.name, received_at_ms());
        // A Standard Webhooks sender retries a delivery with its `webhook-id`: a retry is
        // answered as the first time, and nothing is queued again.
        let derived = match (idempotency_key, &source.verify) {
            (None, Some(HookVerify::StandardWebhooks { .. })) => request
                .header("webhook-id")
                .map(|id| derived_key("hooks", &crate::logging::loggable(id), request)),
            _ => None,
        };
        let pending = Pending {
            target,
            content: MessageContent {
                text: message.text,
                keyboard: Vec::new(),
            },
            parameters: Map::new(),
            thread,
            single_use: false,
        };
        let key = idempotency_key.or(derived.as_deref());
        self.accept(&app, pending, key, request, log).await
    }
}
