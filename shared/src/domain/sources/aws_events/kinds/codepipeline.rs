//! An AWS CodePipeline execution, stage or action change (EventBridge's "CodePipeline ...").

use serde_json::{Map, Value};

use crate::domain::sources::aws_events::fields::{console, enc, text_at};

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[CodePipeline] {{ detail.pipeline }}{% if detail.stage %} / {{ detail.stage }}{% endif %}{% if detail.action %} / {{ detail.action }}{% endif %}: {{ detail.state }}
{%- if execution_id %}
Execution {{ execution_id }}{% if trigger %}, started by {{ trigger }}{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "time")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-codepipeline-execution.json");

pub(in crate::domain::sources::aws_events) fn codepipeline(
    event: &Value,
    context: &mut Map<String, Value>,
) {
    let detail = &event["detail"];
    let region = text_at(event, &["region"]);
    let pipeline = text_at(detail, &["pipeline"]);
    let execution = text_at(detail, &["execution-id"]);
    let url = console(
        &region,
        &format!(
            "codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={region}",
            enc(&pipeline),
            enc(&execution)
        ),
    );
    context.insert("execution_id".into(), execution.into());
    context.insert(
        "trigger".into(),
        text_at(detail, &["execution-trigger", "trigger-type"]).into(),
    );
    context.insert("console_url".into(), url.into());
}
