//! The events the services report, each written as one EMF document: one call at the place
//! where it happens.

use std::fmt::Debug;
use std::time::Duration;

use super::catalogue::*;
use super::{now_ms, queued_at_ms, reason, Event};
use crate::domain::sources::alert_thread::ThreadAction;
use crate::domain::Target;
use crate::ports::WebhookOutcome;

/// The ingest routes whose requests are alert notifications.
const ALERT_SOURCES: [&str; 4] = ["alertmanager", "grafana", "sns", "events"];

/// A request the ingest function answered: accepted (queued, replayed) or refused, with why.
pub fn request<E: Debug>(route: &str, outcome: &str, error: Option<&E>, app: Option<&str>) {
    let mut event = Event::new()
        .dimension("Route", route)
        .field("app", app.unwrap_or(""))
        .field("route", route)
        .field("outcome", outcome);
    match error {
        Some(error) => {
            let why = reason(error);
            event = event.dimension("Reason", why).count(&MESSAGES_REFUSED);
            if route == "sns" {
                event = event.count(&SNS_REFUSALS);
            }
        }
        None if matches!(outcome, "queued" | "replayed") => {
            event = event
                .dimension("Outcome", outcome)
                .count(&MESSAGES_ACCEPTED);
            if outcome == "queued" && ALERT_SOURCES.contains(&route) {
                event = event.dimension("Source", route).count(&ALERT_NOTIFICATIONS);
            }
        }
        // The status route, an SNS confirmation or unsubscription: nothing accepted.
        None => {}
    }
    event.emit();
}

/// An SNS subscription confirmed.
pub fn sns_confirmed(app: &str) {
    Event::new()
        .count(&SNS_CONFIRMATIONS)
        .field("app", app)
        .emit();
}

/// What a delivery job sends to: `alert` (an alert group's notification), `group` or `user`.
pub fn source(target: &Target, alert: bool) -> &'static str {
    match (alert, target) {
        (true, _) => "alert",
        (false, Target::Group(_)) => "group",
        (false, Target::User(_)) => "user",
    }
}

/// FChat took a message: one attempt answered ok, one message delivered, and its latency from
/// the job's queueing (or, for a job from elsewhere, the context's creation, in seconds).
pub fn delivered(source: &'static str, created_at_s: u64, app: &str, context_id: &str) {
    let queued_at = queued_at_ms().unwrap_or(created_at_s * 1000);
    let latency = now_ms().saturating_sub(queued_at) as f64;
    Event::new()
        .dimension("Answer", "ok")
        .count(&DELIVERY_ATTEMPTS)
        .count(&MESSAGES_DELIVERED)
        .value(&DELIVERY_LATENCY, latency)
        .field("source", source)
        .field("app", app)
        .field("context_id", context_id)
        .emit();
}

/// An attempt that will be retried: FChat asked to slow down (`retry_after`), the gateway's
/// storage failed, or anything transient.
pub fn will_retry(throttled: bool, storage: bool, app: &str, context_id: &str) {
    let answer = match (throttled, storage) {
        (true, _) => "throttled",
        (_, true) => "storage",
        _ => "transient",
    };
    Event::new()
        .dimension("Answer", answer)
        .count(&DELIVERY_ATTEMPTS)
        .count(&DELIVERY_RETRIES)
        .field("app", app)
        .field("context_id", context_id)
        .emit();
}

/// A message that failed for good.
pub fn failed(app: &str, context_id: &str) {
    Event::new()
        .dimension("Answer", "refused")
        .count(&DELIVERY_ATTEMPTS)
        .count(&MESSAGES_FAILED)
        .field("app", app)
        .field("context_id", context_id)
        .emit();
}

/// A message whose delivery window passed: expired, and its job parked in the DLQ.
pub fn expired(app: &str, context_id: &str) {
    Event::new()
        .dimension("Reason", "expired")
        .count(&MESSAGES_EXPIRED)
        .count(&MESSAGES_DEAD_LETTERED)
        .field("app", app)
        .field("context_id", context_id)
        .emit();
}

/// A job parked in the DLQ for `why`: `unreadable`, `forward_exhausted`.
pub fn dead_lettered(why: &'static str, app: Option<&str>) {
    Event::new()
        .dimension("Reason", why)
        .count(&MESSAGES_DEAD_LETTERED)
        .field("app", app.unwrap_or(""))
        .emit();
}

/// What an alert notification does to its group's message.
pub fn alert_action(action: &ThreadAction) {
    let name = match action {
        ThreadAction::Post => "post",
        ThreadAction::Edit { .. } => "edit",
        ThreadAction::Reply => "reply",
        ThreadAction::Remind => "remind",
        ThreadAction::Nothing | ThreadAction::Stale => "nothing",
    };
    Event::new()
        .dimension("Action", name)
        .count(&ALERT_ACTIONS)
        .emit();
}

/// One attempt at an app's webhook, and how long it took.
pub fn webhook(outcome: &WebhookOutcome, took: Duration, app: &str) {
    let name = match outcome {
        WebhookOutcome::Delivered { .. } => "ok",
        WebhookOutcome::Failed(_) => "failed",
        WebhookOutcome::Gone => "gone",
        WebhookOutcome::Refused(_) => "refused",
    };
    Event::new()
        .dimension("Outcome", name)
        .count(&WEBHOOK_FORWARDS)
        .value(&WEBHOOK_LATENCY, took.as_secs_f64() * 1000.0)
        .field("app", app)
        .emit();
}

/// A webhook's reply queued as a message.
pub fn bot_reply(app: &str) {
    Event::new().count(&BOT_REPLIES).field("app", app).emit();
}

/// A silence created in an app's Alertmanager.
pub fn silence_created() {
    Event::new().count(&SILENCES_CREATED).emit();
}
