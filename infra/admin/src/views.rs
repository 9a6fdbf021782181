//! Records as an operator sees them: never a hash or a secret.

use std::collections::BTreeMap;

use gateway::domain::{AlertmanagerAuth, App, Context, Group, UnixTime};
use serde_json::{json, Value};

/// A JSON value as a person reads it: strings without quotes, `null` as "none".
pub fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// An app as an operator sees it: never a hash or a secret. `unsubscribed`: the topics SNS
/// confirmed unsubscribing it from, and when (`ContextStore::sns_unsubscriptions`).
pub fn app_view(app: &App, unsubscribed: &BTreeMap<String, UnixTime>, now: UnixTime) -> Value {
    json!({
        "name": app.name,
        "group": app.group_id,
        "user_messaging": app.user_messaging,
        "webhook_url": app.webhook_url,
        "webhook_secrets": app.signing_secrets(now).len(),
        "context_ttl_seconds": app.context_ttl_seconds,
        "delivery_window_seconds": app.delivery_window_seconds,
        "active": app.active,
        "previous_token_valid_until": app.previous_token.as_ref().map(|(_, until)| *until).filter(|until| *until > now),
        "alert_templates": app.alert_templates.keys().collect::<Vec<_>>(),
        "alert_reminders": app.alerting.reminders,
        "alertmanager": app.alerting.alertmanager.as_ref().map(|link| json!({
            "url": link.url,
            "auth": match &link.auth {
                None => "none",
                Some(AlertmanagerAuth::Bearer(_)) => "bearer",
                Some(AlertmanagerAuth::Basic { .. }) => "basic",
            },
        })),
        "sns_topics": app.sns.allowed_topics,
        "sns_unsubscribed": unsubscribed,
        // Custom sources: their settings, never their secrets.
        "sources": app.hooks.values().map(|hook| json!({
            "name": hook.name,
            "verify": hook.verify.as_ref().map(|v| v.describe()),
            "group_by": hook.group_by,
            "resolved_when": hook.resolved_when,
            "template_bytes": hook.template.len(),
        })).collect::<Vec<_>>(),
    })
}

pub fn group_view(group: &Group) -> Value {
    json!({"id": group.id, "beatchat_id": group.beatchat_id, "name": group.name, "active": group.active})
}

/// A message's record as the status route shows it to its app.
pub fn context_view(context: &Context, now: UnixTime) -> Value {
    let response = gateway::http::HttpResponse::status(context, now);
    serde_json::from_str::<Value>(&response.body)
        .map(|v| v["context"].clone())
        .unwrap_or(Value::Null)
}
