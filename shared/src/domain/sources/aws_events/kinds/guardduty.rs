//! An Amazon GuardDuty finding (EventBridge's "GuardDuty Finding").

use serde_json::{Map, Value};

use crate::domain::sources::aws_events::fields::{console, enc, text_at};

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[GuardDuty {{ severity_label }} {{ detail.severity }}] {{ detail.title }}
{{ detail.type }}
{%- if detail.description and detail.description != detail.title %}
{{ detail.description }}{% endif %}
{%- if detail.resource.resourceType %}
Resource: {{ detail.resource.resourceType }}{% if resource_id %} {{ resource_id }}{% endif %}{% endif %}
{%- if detail.service.count %}
Seen {{ detail.service.count }} time(s){% if detail.updatedAt %}, last {{ detail.updatedAt }}{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "\"\"")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-guardduty-finding.json");

pub(in crate::domain::sources::aws_events) fn guardduty(
    event: &Value,
    context: &mut Map<String, Value>,
) {
    let detail = &event["detail"];
    let severity = detail["severity"].as_f64().unwrap_or(0.0);
    let label = match severity {
        s if s >= 9.0 => "Critical",
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    };
    let resource = &detail["resource"];
    let resource_id = [
        text_at(resource, &["instanceDetails", "instanceId"]),
        text_at(resource, &["accessKeyDetails", "userName"]),
        text_at(resource, &["eksClusterDetails", "name"]),
        resource["s3BucketDetails"]
            .get(0)
            .map(|b| text_at(b, &["name"]))
            .unwrap_or_default(),
    ]
    .into_iter()
    .find(|id| !id.is_empty())
    .unwrap_or_default();
    let region = text_at(event, &["region"]);
    let url = console(
        &region,
        &format!(
            "guardduty/home?region={region}#/findings?macros=current&fId={}",
            enc(&text_at(detail, &["id"]))
        ),
    );
    context.insert("severity_label".into(), label.into());
    context.insert("resource_id".into(), resource_id.into());
    context.insert("console_url".into(), url.into());
}
