//! The helpers the AWS event kinds share: which kind an event is, the fields every template
//! may use, and reading, encoding and shortening the event's values.

use serde_json::{Map, Value};

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

/// The last `/`-separated part of an ARN's resource.
pub(super) fn arn_tail(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or("").to_owned()
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
