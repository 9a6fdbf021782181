//! What each AWS event kind's template sees: the fields of an alarm, a finding, a pipeline, a
//! task, a Health event, and the generic fallback's view of anything else; each read from the
//! event's documented shape, bounded and encoded.

use serde_json::{json, Map, Value};

use super::*;

/// Nothing but white space (a byte-order mark included, as JSON Schema's `\s` has it).
pub(super) fn blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || c == '\u{feff}')
}

/// Every template may use these, whatever the event had.
pub(super) fn with_defaults(context: &mut Map<String, Value>) {
    for key in [
        "subject",
        "topic",
        "detail_type",
        "source",
        "account",
        "region",
        "time",
    ] {
        context.entry(key).or_insert_with(|| "".into());
    }
    let resources: Vec<Value> = match context.get("resources") {
        Some(Value::Array(list)) => list.iter().filter(|v| v.is_string()).cloned().collect(),
        _ => Vec::new(),
    };
    context.insert("resources".into(), Value::Array(resources));
}

pub(super) fn classify(event: &Value) -> AwsKind {
    let source = text_at(event, &["source"]);
    if text_at(event, &["version"]) == "1.0" && source == "custom" && event["content"].is_object() {
        return AwsKind::Chatbot;
    }
    if event["AlarmName"].is_string() && event["NewStateValue"].is_string() {
        return AwsKind::CloudWatchAlarm;
    }
    let detail_type = text_at(event, &["detail-type"]);
    if detail_type.is_empty() {
        return AwsKind::Generic;
    }
    match (source.as_str(), detail_type.as_str()) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => AwsKind::CloudWatchAlarm,
        ("aws.guardduty", "GuardDuty Finding") => AwsKind::GuardDuty,
        ("aws.securityhub", t) if t.starts_with("Security Hub Findings") => AwsKind::SecurityHub,
        ("aws.codepipeline", t) if t.starts_with("CodePipeline ") => AwsKind::CodePipeline,
        ("aws.ecs", "ECS Task State Change") => AwsKind::EcsTask,
        ("aws.health", "AWS Health Event") => AwsKind::Health,
        ("aws.ec2", "EC2 Instance State-change Notification") => AwsKind::Ec2State,
        _ => AwsKind::Generic,
    }
}

/// The string at `path`, numbers written out; empty when absent.
pub(super) fn text_at(value: &Value, path: &[&str]) -> String {
    let mut current = value;
    for key in path {
        match current.get(key) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => String::new(),
    }
}

/// Percent-encodes a path or query piece.
pub(super) fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A region code as AWS writes them (`eu-west-1`, `cn-north-1`, `us-gov-west-1`).
pub(super) fn region_code(region: &str) -> Option<&str> {
    let ok = (2..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(region)
}

/// The AWS console's URL of `path` in `region`, in the region's partition; empty for a region
/// that is not a region code.
pub(super) fn console(region: &str, path: &str) -> String {
    let Some(region) = region_code(region) else {
        return String::new();
    };
    if region.starts_with("cn-") {
        format!("https://{region}.console.amazonaws.cn/{path}")
    } else if region.starts_with("us-gov-") {
        format!("https://console.amazonaws-us-gov.com/{path}")
    } else {
        format!("https://{region}.console.aws.amazon.com/{path}")
    }
}

/// The region of an ARN (`arn:aws:cloudwatch:eu-west-1:...`).
pub(super) fn arn_region(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or("").to_owned()
}

pub(super) fn comparison_symbol(operator: &str) -> &str {
    match operator {
        "GreaterThanThreshold" => ">",
        "GreaterThanOrEqualToThreshold" => ">=",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "<=",
        other => other,
    }
}

/// A CloudWatch alarm, from SNS's JSON or EventBridge's "CloudWatch Alarm State Change", in
/// one shape: `name`, `description`, `state`, `previous_state`, `reason`, `time`, `arn`,
/// `region`, `account`, `metric` (`namespace`, `name`, `stat`, `period`, `comparison`,
/// `threshold`), `dimensions` (a map) and `dimension_list` (`Name=value` strings),
/// `console_url`.
pub(super) fn alarm(event: &Value) -> Value {
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
pub(super) fn titlecase(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn guardduty(event: &Value, context: &mut Map<String, Value>) {
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

pub(super) fn securityhub(event: &Value, context: &mut Map<String, Value>) {
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

pub(super) fn codepipeline(event: &Value, context: &mut Map<String, Value>) {
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

/// The last `/`-separated part of an ARN's resource.
pub(super) fn arn_tail(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or("").to_owned()
}

pub(super) fn ecs_task(event: &Value, context: &mut Map<String, Value>) {
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

pub(super) fn health(event: &Value, context: &mut Map<String, Value>) {
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

/// The generic fallback's view: the first fields of `detail` (or of the object itself, when
/// it is not an event), each value short, and how many were left out.
pub(super) fn generic(event: &Value, context: &mut Map<String, Value>) {
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

/// A value as one short line: text as it is, anything else as compact JSON, cut.
pub(super) fn short(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > MAX_FIELD_CHARS {
        let mut cut: String = flat.chars().take(MAX_FIELD_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}
