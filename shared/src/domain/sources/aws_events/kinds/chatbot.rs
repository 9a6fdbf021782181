//! An AWS Chatbot custom notification (`"version": "1.0"`, `"source": "custom"`). Its thread
//! (`metadata.threadId`) is read where the event is read, in the parent module.

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = r#"{{ content.title or metadata.summary or "Notification" }}
{%- if content.description %}
{{ content.description }}{% endif %}
{%- if content.nextSteps %}
Next steps:
{%- for step in content.nextSteps %}
- {{ step }}{% endfor %}{% endif %}
{%- if content.keywords %}
Keywords: {{ content.keywords|join(", ") }}{% endif %}"#;

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/chatbot-custom-notification.json");
