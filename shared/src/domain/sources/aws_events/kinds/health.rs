//! An AWS Health event (EventBridge's "AWS Health Event").

use serde_json::{Map, Value};

use crate::domain::sources::aws_events::fields::text_at;
use crate::domain::sources::aws_events::SHOWN_ITEMS;

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[AWS Health] {{ detail.service }} {{ detail.eventTypeCategory }}: {{ detail.eventTypeCode }}{% if detail.statusCode %} ({{ detail.statusCode }}){% endif %}
{%- if description %}
{{ description }}{% endif %}
{%- if detail.startTime %}
Since {{ detail.startTime }}{% if detail.endTime %} until {{ detail.endTime }}{% endif %}{% endif %}
{%- if entities %}
Affected: {{ entities|join(", ") }}{% if more_entities %} and {{ more_entities }} more{% endif %}{% endif %}"#,
    where_and_link!("account", "detail.eventRegion or region", "\"\"")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-health-event.json");

pub(in crate::domain::sources::aws_events) fn health(
    event: &Value,
    context: &mut Map<String, Value>,
) {
    let detail = &event["detail"];
    let descriptions = detail["eventDescription"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let description = descriptions
        .iter()
        .find(|d| text_at(d, &["language"]) == "en_US")
        .or(descriptions.first())
        .map(|d| text_at(d, &["latestDescription"]))
        .unwrap_or_default();
    let entities: Vec<Value> = detail["affectedEntities"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| Value::from(text_at(e, &["entityValue"])))
                .collect()
        })
        .unwrap_or_default();
    let total = entities.len();
    context.insert("description".into(), description.into());
    context.insert(
        "entities".into(),
        Value::Array(entities.into_iter().take(SHOWN_ITEMS).collect()),
    );
    context.insert(
        "more_entities".into(),
        total.saturating_sub(SHOWN_ITEMS).into(),
    );
    context.insert(
        "console_url".into(),
        "https://health.aws.amazon.com/health/home#/account/dashboard/open-issues".into(),
    );
}
