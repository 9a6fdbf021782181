//! A CloudWatch alarm's state change: SNS's alarm JSON, or EventBridge's "CloudWatch Alarm
//! State Change".

use serde_json::{json, Map, Value};

use crate::domain::sources::aws_events::fields::{arn_region, console, enc, text_at};

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
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

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/cloudwatch-alarm-sns.json");

/// A CloudWatch alarm, from SNS's JSON or EventBridge's "CloudWatch Alarm State Change", in
/// one shape: `name`, `description`, `state`, `previous_state`, `reason`, `time`, `arn`,
/// `region`, `account`, `metric` (`namespace`, `name`, `stat`, `period`, `comparison`,
/// `threshold`), `dimensions` (a map) and `dimension_list` (`Name=value` strings),
/// `console_url`.
pub(in crate::domain::sources::aws_events) fn alarm(event: &Value) -> Value {
    let mut dimensions = Map::new();
    let (name, arn, account, metric);
    let mut alarm = Map::new();
    if event["AlarmName"].is_string() {
        // SNS: the alarm's own JSON.
        name = text_at(event, &["AlarmName"]);
        arn = text_at(event, &["AlarmArn"]);
        account = text_at(event, &["AWSAccountId"]);
        if let Some(list) = event["Trigger"]["Dimensions"].as_array() {
            for dimension in list {
                dimensions.insert(
                    text_at(dimension, &["name"]),
                    text_at(dimension, &["value"]).into(),
                );
            }
        }
        let trigger = &event["Trigger"];
        let threshold = text_at(trigger, &["Threshold"]);
        metric = json!({
            "namespace": text_at(trigger, &["Namespace"]),
            "name": text_at(trigger, &["MetricName"]),
            "stat": match text_at(trigger, &["Statistic"]) {
                s if s.is_empty() => text_at(trigger, &["ExtendedStatistic"]),
                s => titlecase(&s),
            },
            "period": text_at(trigger, &["Period"]),
            "comparison": comparison_symbol(&text_at(trigger, &["ComparisonOperator"])),
            "threshold": threshold,
        });
        for (key, field) in [
            ("description", "AlarmDescription"),
            ("state", "NewStateValue"),
            ("previous_state", "OldStateValue"),
            ("reason", "NewStateReason"),
            ("time", "StateChangeTime"),
        ] {
            alarm.insert(key.into(), text_at(event, &[field]).into());
        }
        alarm.insert("region_name".into(), text_at(event, &["Region"]).into());
    } else {
        // EventBridge: the alarm's state change as an event.
        let detail = &event["detail"];
        name = text_at(detail, &["alarmName"]);
        arn = match event["resources"].get(0).and_then(Value::as_str) {
            Some(arn) => arn.to_owned(),
            None => text_at(detail, &["alarmArn"]),
        };
        account = text_at(event, &["account"]);
        let first = detail["configuration"]["metrics"]
            .get(0)
            .cloned()
            .unwrap_or(Value::Null);
        let stat = &first["metricStat"];
        if let Some(map) = stat["metric"]["dimensions"].as_object() {
            for (key, value) in map {
                dimensions.insert(key.clone(), text_at(value, &[]).into());
            }
        }
        metric = json!({
            "namespace": text_at(stat, &["metric", "namespace"]),
            "name": text_at(stat, &["metric", "name"]),
            "stat": text_at(stat, &["stat"]),
            "period": text_at(stat, &["period"]),
            "comparison": "",
            "threshold": "",
            "expression": text_at(&first, &["expression"]),
        });
        for (key, path) in [
            ("description", &["configuration", "description"][..]),
            ("state", &["state", "value"]),
            ("previous_state", &["previousState", "value"]),
            ("reason", &["state", "reason"]),
            ("time", &["state", "timestamp"]),
        ] {
            alarm.insert(key.into(), text_at(detail, path).into());
        }
        alarm.insert("region_name".into(), "".into());
    }
    let region = match arn_region(&arn) {
        r if r.is_empty() => text_at(event, &["region"]),
        r => r,
    };
    let dimension_list: Vec<Value> = dimensions
        .iter()
        .map(|(k, v)| Value::from(format!("{k}={}", v.as_str().unwrap_or(""))))
        .collect();
    let console_url = console(
        &region,
        &format!(
            "cloudwatch/home?region={region}#alarmsV2:alarm/{}",
            enc(&name)
        ),
    );
    for (key, value) in [
        ("name", Value::from(name)),
        ("arn", arn.into()),
        ("account", account.into()),
        ("region", region.into()),
        ("metric", metric),
        ("dimensions", Value::Object(dimensions)),
        ("dimension_list", Value::Array(dimension_list)),
        ("console_url", console_url.into()),
    ] {
        alarm.insert(key.into(), value);
    }
    Value::Object(alarm)
}

/// `AVERAGE` as `Average`.
fn titlecase(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn comparison_symbol(operator: &str) -> &str {
    match operator {
        "GreaterThanThreshold" => ">",
        "GreaterThanOrEqualToThreshold" => ">=",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "<=",
        other => other,
    }
}
