//! The AWS routes of the send API: Amazon SNS's HTTPS deliveries (`/sns`) and EventBridge's
//! API destinations (`/events`). A part of [`Ingest`]: authenticated, rendered and queued as
//! the alert routes are.

use serde_json::Map;

use super::*;
use crate::api::error::MAX_ALERT_BODY_BYTES;
use crate::domain::sources::aws_events::{self, AwsEvent, EventError, RenderedEvent};
use crate::domain::sources::sns::{EnvelopeError, SnsEnvelope, SnsType};
use crate::ports::SnsRefusal;

/// The header an EventBridge connection's API key can be sent in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The longest EventBridge event id used to drop a retried event.
const MAX_EVENT_ID_CHARS: usize = 128;

/// The AWS routes' token: the path's, else `Authorization: Bearer`, else `x-api-key`.
fn aws_token<'a>(token: &'a Option<String>, request: &'a HttpRequest) -> Result<&'a str, ApiError> {
    if let Some(token) = token {
        return Ok(token);
    }
    if let Ok(token) = bearer_token(request.header("authorization")) {
        return Ok(token);
    }
    match request.header(API_KEY_HEADER).map(str::trim) {
        Some(key) if !key.is_empty() => Ok(key),
        _ => Err(ApiError::ApiKeyMissing),
    }
}

fn answer(description: &str) -> HttpResponse {
    HttpResponse::json(
        200,
        &serde_json::json!({"ok": true, "error_code": 200, "description": description}),
    )
}

impl Ingest {
    /// `POST /{app}/{token}/sns`. Every message is checked in this order: the app, the body,
    /// the topic, the signature; only then does anything happen.
    pub(super) async fn sns(
        &self,
        app: &str,
        token: &Option<String>,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<HttpResponse, ApiError> {
        let app = self.app_by_name(app, aws_token(token, request)?).await?;
        log.app = Some(app.name.clone());
        if request.body.len() > MAX_ALERT_BODY_BYTES {
            return Err(ApiError::AlertBodyTooLarge);
        }
        let envelope = SnsEnvelope::parse(&request.body).map_err(|error| match error {
            EnvelopeError::NotJson => ApiError::MalformedJson,
            EnvelopeError::NotSns(_) => ApiError::NotSnsMessage,
            // A message without its signature cannot be SNS's.
            EnvelopeError::Unsigned(_) => ApiError::SnsSignatureInvalid,
        })?;
        let topic = crate::logging::loggable(&envelope.topic_arn);
        if !app.sns.accepts(&envelope.topic_arn) {
            tracing::warn!(app = %app.name, %topic, "an SNS topic the app does not accept");
            return Err(ApiError::SnsTopicNotAllowed);
        }
        self.sns
            .verify(&envelope)
            .await
            .map_err(|refusal| sns_error(refusal, &topic))?;
        match envelope.kind {
            SnsType::SubscriptionConfirmation => {
                self.sns
                    .confirm(&envelope)
                    .await
                    .map_err(|refusal| sns_error(refusal, &topic))?;
                tracing::info!(app = %app.name, %topic, "SNS subscription confirmed");
                crate::metrics::events::sns_confirmed(&app.name);
                Ok(answer("Subscription confirmed"))
            }
            SnsType::UnsubscribeConfirmation => {
                tracing::warn!(app = %app.name, %topic, "SNS unsubscribed the app from a topic");
                // Noted beside the app, never on its record: this function does not write the
                // apps table (a whole-item write could undo the operator's concurrent change).
                self.contexts
                    .note_sns_unsubscription(&app.name, &envelope.topic_arn, self.clock.now())
                    .await?;
                Ok(answer("Unsubscribe noted"))
            }
            SnsType::Notification => {
                let event = AwsEvent::from_sns(
                    &envelope.message,
                    envelope.subject.as_deref(),
                    &envelope.topic_arn,
                );
                // SNS delivers at least once: a MessageId seen before is answered as the
                // first time, and nothing is queued again.
                let key = derived_key("sns", &envelope.message_id, request);
                let accepted = self.aws_event(&app, &event, &key, request, log).await?;
                Ok(accepted_response(accepted))
            }
        }
    }

    /// `POST /{app}/events`: one EventBridge event (raw, or shaped by an input transformer).
    pub(super) async fn events(
        &self,
        app: &str,
        token: &Option<String>,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<Accepted, ApiError> {
        let key = idempotency_key(request)?;
        let app = self.app_by_name(app, aws_token(token, request)?).await?;
        log.app = Some(app.name.clone());
        if request.body.len() > MAX_ALERT_BODY_BYTES {
            return Err(ApiError::AlertBodyTooLarge);
        }
        // JSON, unless the sender says text (an input transformer's plain text).
        let text = request
            .header("content-type")
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("text/plain"));
        let event = if text {
            AwsEvent::from_text(&request.body)
        } else {
            AwsEvent::from_body(&request.body)
        }
        .map_err(|error| match error {
            EventError::NotJson => ApiError::MalformedJson,
            EventError::Empty | EventError::NotEvent => ApiError::NotAnEvent,
        })?;
        // EventBridge retries an event with its id: that id is its idempotency key, unless
        // the sender gave one.
        let key = match key {
            Some(key) => key.to_owned(),
            None => match event_id(&request.body) {
                Some(id) => derived_key("eventbridge", &id, request),
                None => String::new(),
            },
        };
        self.aws_event(&app, &event, &key, request, log)
            .await
            // EventBridge honours Retry-After: when the queue cannot take the message, it is
            // told to come back rather than failing the event.
            .map_err(|error| match error {
                ApiError::QueueUnavailable => ApiError::SlowDown,
                other => other,
            })
    }

    /// Renders `event` with the app's template for its kind and queues it to the app's group
    /// (or `?email=`'s user). `key`, when not empty, drops a repeat.
    async fn aws_event(
        &self,
        app: &App,
        event: &AwsEvent,
        key: &str,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<Accepted, ApiError> {
        let recipient = alert_recipient(&request.query)?;
        let target = self.source_target(app, recipient, log).await?;
        let template = app
            .alert_templates
            .get(event.kind.name())
            .map(String::as_str);
        let RenderedEvent { text, thread } = aws_events::render(event, template);
        // An alarm lives in one message; a custom notification's thread is a chain of replies.
        let thread =
            thread.map(|hint| hint.step(&thread_scope(app, &target), &text, received_at_ms()));
        let pending = Pending {
            target,
            content: MessageContent {
                text,
                keyboard: Vec::new(),
            },
            parameters: Map::new(),
            thread,
            single_use: false,
        };
        let key = (!key.is_empty()).then_some(key);
        self.accept(app, pending, key, request, log).await
    }
}

fn accepted_response(accepted: Accepted) -> HttpResponse {
    let mut response = HttpResponse::accepted(&accepted.context_id, &accepted.parameters);
    if accepted.replayed {
        response
            .headers
            .push((REPLAYED_HEADER.to_ascii_lowercase(), "true".into()));
    }
    response
}

fn sns_error(refusal: SnsRefusal, topic: &str) -> ApiError {
    match refusal {
        SnsRefusal::Forged(why) => {
            tracing::warn!(%topic, why = %crate::logging::loggable(&why), "SNS message refused");
            ApiError::SnsSignatureInvalid
        }
        SnsRefusal::Unavailable(why) => {
            tracing::warn!(%topic, why = %crate::logging::loggable(&why), "SNS unreachable");
            ApiError::SnsUnavailable
        }
    }
}

/// The idempotency key of a message AWS identifies itself (SNS's `MessageId`, an event's
/// `id`), per subscription: one topic's message reaches each of its subscriptions (the
/// group's and an `?email=` user's, say) with the same id, and each delivers it once.
pub(super) fn derived_key(kind: &str, id: &str, request: &HttpRequest) -> String {
    format!("{kind}:{id}\n{}?{}", request.path, request.query)
}

/// A raw EventBridge event's `id`, when it is one: a short printable string.
fn event_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("detail-type")?;
    let id = value.get("id")?.as_str()?;
    let ok =
        (1..=MAX_EVENT_ID_CHARS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| id.to_owned())
}

#[cfg(test)]
mod tests;
