//! AWS Security Hub findings (EventBridge's "Security Hub Findings - ...").

use serde_json::{Map, Value};

use crate::domain::sources::aws_events::fields::{console, text_at};
use crate::domain::sources::aws_events::SHOWN_ITEMS;

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[Security Hub] {{ total }} finding{% if total != 1 %}s{% endif %}{% if detail_type %} ({{ detail_type }}){% endif %}
{%- for f in findings %}

{{ f.Severity.Label or "INFORMATIONAL" }}: {{ f.Title }}
{%- if f.Resources %}
{{ f.Resources[0].Type }} {{ f.Resources[0].Id }}{% endif %}
{%- if f.Compliance.Status or f.Workflow.Status %}
{% if f.Compliance.Status %}Compliance {{ f.Compliance.Status }}{% endif %}{% if f.Compliance.Status and f.Workflow.Status %}, {% endif %}{% if f.Workflow.Status %}workflow {{ f.Workflow.Status }}{% endif %}{% endif %}
{%- if f.Remediation.Recommendation.Url %}
Fix: {{ f.Remediation.Recommendation.Url }}{% endif %}
{%- endfor %}
{%- if more %}

...and {{ more }} more{% endif %}
"#,
    where_and_link!("account", "region", "time")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-securityhub-findings.json");

pub(in crate::domain::sources::aws_events) fn securityhub(
    event: &Value,
    context: &mut Map<String, Value>,
) {
    let findings = event["detail"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = findings.len();
    let shown: Vec<Value> = findings.into_iter().take(SHOWN_ITEMS).collect();
    let region = text_at(event, &["region"]);
    context.insert("total".into(), total.into());
    context.insert("more".into(), (total - shown.len()).into());
    context.insert("findings".into(), Value::Array(shown));
    context.insert(
        "console_url".into(),
        console(
            &region,
            &format!("securityhub/home?region={region}#/findings"),
        )
        .into(),
    );
}
