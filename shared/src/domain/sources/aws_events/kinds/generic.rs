//! Any other AWS event, or any other JSON object: the generic fallback.

use serde_json::{json, Map, Value};

use crate::domain::sources::aws_events::fields::short;
use crate::domain::sources::aws_events::SHOWN_ITEMS;

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[{{ detail_type or subject or "AWS event" }}]{% if source %} from {{ source }}{% endif %}
{%- if shown_resources %}
Resources: {{ shown_resources|join(", ") }}{% if more_resources %} and {{ more_resources }} more{% endif %}{% endif %}
{%- for f in fields %}
{{ f.name }}: {{ f.value }}{% endfor %}
{%- if more_fields %}
...and {{ more_fields }} more field{% if more_fields != 1 %}s{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "time")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-unknown-event.json");

/// `detail`'s fields the generic fallback shows.
const SHOWN_FIELDS: usize = 10;
/// The characters the generic fallback's fields may take in all.
const FIELDS_BUDGET_CHARS: usize = 1200;

/// The generic fallback's view: the first fields of `detail` (or of the object itself, when
/// it is not an event), each value short, and how many were left out.
pub(in crate::domain::sources::aws_events) fn generic(
    event: &Value,
    context: &mut Map<String, Value>,
) {
    let (fields_of, is_event) = match event.get("detail") {
        Some(Value::Object(detail)) => (detail.clone(), true),
        _ => (event.as_object().cloned().unwrap_or_default(), false),
    };
    let skip = |key: &str| {
        !is_event
            && matches!(
                key,
                "detail-type"
                    | "source"
                    | "account"
                    | "region"
                    | "time"
                    | "resources"
                    | "version"
                    | "id"
            )
    };
    let all: Vec<(&String, &Value)> = fields_of.iter().filter(|(k, _)| !skip(k)).collect();
    // The first fields, as long as they leave room for the rest of the message.
    let mut fields: Vec<Value> = Vec::new();
    let mut used = 0;
    for (name, value) in all.iter().take(SHOWN_FIELDS) {
        let value = short(value);
        used += name.chars().count() + value.chars().count() + 3;
        if used > FIELDS_BUDGET_CHARS && !fields.is_empty() {
            break;
        }
        fields.push(json!({"name": name, "value": value}));
    }
    let resources: Vec<Value> = event["resources"]
        .as_array()
        .map(|list| list.iter().filter(|v| v.is_string()).cloned().collect())
        .unwrap_or_default();
    context.insert("more_fields".into(), (all.len() - fields.len()).into());
    context.insert("fields".into(), Value::Array(fields));
    context.insert(
        "more_resources".into(),
        resources.len().saturating_sub(SHOWN_ITEMS).into(),
    );
    context.insert(
        "shown_resources".into(),
        Value::Array(resources.into_iter().take(SHOWN_ITEMS).collect()),
    );
}
