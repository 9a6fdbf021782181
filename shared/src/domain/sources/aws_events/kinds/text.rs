//! Plain text: an SNS message that is not JSON, or an input transformer's text.

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = r#"{% if subject %}{{ subject }}
{% endif %}{{ text }}"#;

/// A sample message.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    "\"Nightly backup of orders-db finished in 14 minutes.\"";
