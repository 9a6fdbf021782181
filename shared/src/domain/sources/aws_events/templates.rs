//! The built-in template of each AWS event kind (minijinja, rendered in
//! [`crate::domain::template`]'s sandbox). An app may replace any of them.

/// The line every event kind ends with: where and when, and the console.
macro_rules! where_and_link {
    ($account:expr, $region:expr, $time:expr) => {
        concat!(
            "\n{% if ",
            $account,
            " or ",
            $region,
            " %}Account {{ ",
            $account,
            " or \"?\" }}, {{ ",
            $region,
            " or \"?\" }}{% if ",
            $time,
            " %}, {{ ",
            $time,
            " }}{% endif %}{% endif %}",
            "\n{%- if console_url %}\n{{ console_url }}{% endif %}"
        )
    };
}

pub(super) const CLOUDWATCH_ALARM_TEMPLATE: &str = concat!(
    r#"[{{ alarm.state }}] {{ alarm.name }}{% if alarm.previous_state %} (was {{ alarm.previous_state }}){% endif %}
{%- if alarm.description %}
{{ alarm.description }}{% endif %}
{%- if alarm.reason %}
Reason: {{ alarm.reason }}{% endif %}
{%- if alarm.metric.name %}
Metric: {{ alarm.metric.namespace }} {{ alarm.metric.name }}{% if alarm.metric.stat %} ({{ alarm.metric.stat }}{% if alarm.metric.period %}, {{ alarm.metric.period }} s{% endif %}){% endif %}{% if alarm.metric.threshold %} {{ alarm.metric.comparison }} {{ alarm.metric.threshold }}{% endif %}{% endif %}
{%- if alarm.dimension_list %}
Dimensions: {{ alarm.dimension_list|join(", ") }}{% endif %}
{%- set console_url = alarm.console_url %}"#,
    where_and_link!("alarm.account", "alarm.region", "alarm.time")
);

pub(super) const GUARDDUTY_TEMPLATE: &str = concat!(
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

pub(super) const SECURITYHUB_TEMPLATE: &str = concat!(
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

pub(super) const CODEPIPELINE_TEMPLATE: &str = concat!(
    r#"[CodePipeline] {{ detail.pipeline }}{% if detail.stage %} / {{ detail.stage }}{% endif %}{% if detail.action %} / {{ detail.action }}{% endif %}: {{ detail.state }}
{%- if execution_id %}
Execution {{ execution_id }}{% if trigger %}, started by {{ trigger }}{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "time")
);

pub(super) const ECS_TASK_TEMPLATE: &str = concat!(
    r#"[ECS] Task {{ task_id }} {{ detail.lastStatus }}{% if detail.desiredStatus and detail.desiredStatus != detail.lastStatus %} (desired {{ detail.desiredStatus }}){% endif %}
Cluster {{ cluster }}{% if detail.group %}, {{ detail.group }}{% endif %}{% if task_definition %}, task definition {{ task_definition }}{% endif %}
{%- if detail.stoppedReason %}
Stopped: {{ detail.stoppedReason }}{% if detail.stopCode %} ({{ detail.stopCode }}){% endif %}{% endif %}
{%- for c in containers %}
- {{ c.name }}: {{ c.lastStatus }}{% if c.exitCode is defined and c.exitCode is not none %}, exit code {{ c.exitCode }}{% endif %}{% if c.reason %}, {{ c.reason }}{% endif %}
{%- endfor %}"#,
    where_and_link!("account", "region", "time")
);

pub(super) const HEALTH_TEMPLATE: &str = concat!(
    r#"[AWS Health] {{ detail.service }} {{ detail.eventTypeCategory }}: {{ detail.eventTypeCode }}{% if detail.statusCode %} ({{ detail.statusCode }}){% endif %}
{%- if description %}
{{ description }}{% endif %}
{%- if detail.startTime %}
Since {{ detail.startTime }}{% if detail.endTime %} until {{ detail.endTime }}{% endif %}{% endif %}
{%- if entities %}
Affected: {{ entities|join(", ") }}{% if more_entities %} and {{ more_entities }} more{% endif %}{% endif %}"#,
    where_and_link!("account", "detail.eventRegion or region", "\"\"")
);

pub(super) const EC2_STATE_TEMPLATE: &str = concat!(
    r#"[EC2] Instance {{ detail["instance-id"] }} is {{ detail.state }}"#,
    where_and_link!("account", "region", "time")
);

pub(super) const CHATBOT_TEMPLATE: &str = r#"{{ content.title or metadata.summary or "Notification" }}
{%- if content.description %}
{{ content.description }}{% endif %}
{%- if content.nextSteps %}
Next steps:
{%- for step in content.nextSteps %}
- {{ step }}{% endfor %}{% endif %}
{%- if content.keywords %}
Keywords: {{ content.keywords|join(", ") }}{% endif %}"#;

pub(super) const TEXT_TEMPLATE: &str = r#"{% if subject %}{{ subject }}
{% endif %}{{ text }}"#;

pub(super) const GENERIC_TEMPLATE: &str = concat!(
    r#"[{{ detail_type or subject or "AWS event" }}]{% if source %} from {{ source }}{% endif %}
{%- if shown_resources %}
Resources: {{ shown_resources|join(", ") }}{% if more_resources %} and {{ more_resources }} more{% endif %}{% endif %}
{%- for f in fields %}
{{ f.name }}: {{ f.value }}{% endfor %}
{%- if more_fields %}
...and {{ more_fields }} more field{% if more_fields != 1 %}s{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "time")
);
