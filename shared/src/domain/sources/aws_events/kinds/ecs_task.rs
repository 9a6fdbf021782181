//! An Amazon ECS task's state change (EventBridge's "ECS Task State Change").

use serde_json::{Map, Value};

use crate::domain::sources::aws_events::fields::{arn_tail, console, enc, text_at};
use crate::domain::sources::aws_events::SHOWN_ITEMS;

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[ECS] Task {{ task_id }} {{ detail.lastStatus }}{% if detail.desiredStatus and detail.desiredStatus != detail.lastStatus %} (desired {{ detail.desiredStatus }}){% endif %}
Cluster {{ cluster }}{% if detail.group %}, {{ detail.group }}{% endif %}{% if task_definition %}, task definition {{ task_definition }}{% endif %}
{%- if detail.stoppedReason %}
Stopped: {{ detail.stoppedReason }}{% if detail.stopCode %} ({{ detail.stopCode }}){% endif %}{% endif %}
{%- for c in containers %}
- {{ c.name }}: {{ c.lastStatus }}{% if c.exitCode is defined and c.exitCode is not none %}, exit code {{ c.exitCode }}{% endif %}{% if c.reason %}, {{ c.reason }}{% endif %}
{%- endfor %}"#,
    where_and_link!("account", "region", "time")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-ecs-task-state.json");

pub(in crate::domain::sources::aws_events) fn ecs_task(
    event: &Value,
    context: &mut Map<String, Value>,
) {
    let detail = &event["detail"];
    let region = text_at(event, &["region"]);
    let cluster = arn_tail(&text_at(detail, &["clusterArn"]));
    let task = arn_tail(&text_at(detail, &["taskArn"]));
    let url = console(
        &region,
        &format!(
            "ecs/v2/clusters/{}/tasks/{}?region={region}",
            enc(&cluster),
            enc(&task)
        ),
    );
    let containers: Vec<Value> = detail["containers"]
        .as_array()
        .map(|list| list.iter().take(SHOWN_ITEMS).cloned().collect())
        .unwrap_or_default();
    context.insert("cluster".into(), cluster.into());
    context.insert("task_id".into(), task.into());
    context.insert(
        "task_definition".into(),
        arn_tail(&text_at(detail, &["taskDefinitionArn"])).into(),
    );
    context.insert("containers".into(), Value::Array(containers));
    context.insert("console_url".into(), url.into());
}
