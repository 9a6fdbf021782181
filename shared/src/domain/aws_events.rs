//! Events from AWS, as SNS notifications (`/sns`) or EventBridge events (`/events`), rendered
//! into one readable message of at most the contract's 2000 characters.
//!
//! Each event is recognised as one [`AwsKind`] (a CloudWatch alarm, in SNS's JSON or as
//! EventBridge's "CloudWatch Alarm State Change"; a GuardDuty finding; Security Hub findings;
//! a CodePipeline execution; an ECS task; an AWS Health event; an EC2 instance state change;
//! an AWS Chatbot custom notification; plain text; anything else), and rendered with the
//! kind's template: the app's own (`fchat-admin app set-template N KIND FILE`) or the built-in
//! one, through the same sandboxed, fuel-bounded minijinja renderer as the alert sources.
//!
//! Every rendered event carries a [`ThreadHint`] where one applies: the key that ties an
//! alarm's `ALARM` and `OK` (its ARN), or a custom notification's messages (its
//! `metadata.threadId`), together. Ingest turns it into the alert groups' one-message
//! lifecycle (an alarm's states edit one message; a thread replies to its first message).

use std::fmt;

use serde_json::{json, Map, Value};

use crate::domain::credentials::sha256_hex;
use crate::domain::thread::ThreadStep;

use crate::domain::alerts::{
    self, cut, environment, fits, render_context, AlertSource, RenderFailure, TemplateError,
};

/// What an AWS event is, for its template. Its name is the template's name in
/// `fchat-admin app set-template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsKind {
    CloudWatchAlarm,
    GuardDuty,
    SecurityHub,
    CodePipeline,
    EcsTask,
    Health,
    Ec2State,
    Chatbot,
    /// Plain text: an SNS message that is not JSON, or an input transformer's text.
    Text,
    /// Any other event: the generic fallback.
    Generic,
}

impl AwsKind {
    pub const ALL: [AwsKind; 10] = [
        AwsKind::CloudWatchAlarm,
        AwsKind::GuardDuty,
        AwsKind::SecurityHub,
        AwsKind::CodePipeline,
        AwsKind::EcsTask,
        AwsKind::Health,
        AwsKind::Ec2State,
        AwsKind::Chatbot,
        AwsKind::Text,
        AwsKind::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AwsKind::CloudWatchAlarm => "aws-cloudwatch-alarm",
            AwsKind::GuardDuty => "aws-guardduty",
            AwsKind::SecurityHub => "aws-securityhub",
            AwsKind::CodePipeline => "aws-codepipeline",
            AwsKind::EcsTask => "aws-ecs-task",
            AwsKind::Health => "aws-health",
            AwsKind::Ec2State => "aws-ec2-state",
            AwsKind::Chatbot => "aws-chatbot",
            AwsKind::Text => "aws-text",
            AwsKind::Generic => "aws-event",
        }
    }

    pub fn from_name(name: &str) -> Option<AwsKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn default_template(self) -> &'static str {
        match self {
            AwsKind::CloudWatchAlarm => CLOUDWATCH_ALARM_TEMPLATE,
            AwsKind::GuardDuty => GUARDDUTY_TEMPLATE,
            AwsKind::SecurityHub => SECURITYHUB_TEMPLATE,
            AwsKind::CodePipeline => CODEPIPELINE_TEMPLATE,
            AwsKind::EcsTask => ECS_TASK_TEMPLATE,
            AwsKind::Health => HEALTH_TEMPLATE,
            AwsKind::Ec2State => EC2_STATE_TEMPLATE,
            AwsKind::Chatbot => CHATBOT_TEMPLATE,
            AwsKind::Text => TEXT_TEMPLATE,
            AwsKind::Generic => GENERIC_TEMPLATE,
        }
    }

    /// An event of this kind as AWS sends it, for dry runs of a template.
    pub fn sample_payload(self) -> &'static str {
        match self {
            AwsKind::CloudWatchAlarm => {
                include_str!("../../tests/fixtures/aws/cloudwatch-alarm-sns.json")
            }
            AwsKind::GuardDuty => {
                include_str!("../../tests/fixtures/aws/eventbridge-guardduty-finding.json")
            }
            AwsKind::SecurityHub => {
                include_str!("../../tests/fixtures/aws/eventbridge-securityhub-findings.json")
            }
            AwsKind::CodePipeline => {
                include_str!("../../tests/fixtures/aws/eventbridge-codepipeline-execution.json")
            }
            AwsKind::EcsTask => {
                include_str!("../../tests/fixtures/aws/eventbridge-ecs-task-state.json")
            }
            AwsKind::Health => {
                include_str!("../../tests/fixtures/aws/eventbridge-health-event.json")
            }
            AwsKind::Ec2State => {
                include_str!("../../tests/fixtures/aws/eventbridge-ec2-state-change.json")
            }
            AwsKind::Chatbot => {
                include_str!("../../tests/fixtures/aws/chatbot-custom-notification.json")
            }
            AwsKind::Text => "\"Nightly backup of orders-db finished in 14 minutes.\"",
            AwsKind::Generic => {
                include_str!("../../tests/fixtures/aws/eventbridge-unknown-event.json")
            }
        }
    }
}

impl fmt::Display for AwsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The last segments of the AWS routes: never tokens, as the alert sources' names.
pub const SNS_ROUTE: &str = "sns";
pub const EVENTS_ROUTE: &str = "events";

/// An app's SNS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnsSettings {
    /// The topics (ARNs) whose messages the app accepts; none listed: any topic.
    pub allowed_topics: std::collections::BTreeSet<String>,
}

/// How long the note of an `UnsubscribeConfirmation` (which topic, and when) is kept for the
/// operator (`fchat-admin app show`). It is not on the app's record, which the public-facing
/// ingest function never writes, but in the contexts table, where its TTL deletes it: a year
/// and a month, so that "why did this topic go quiet?" can still be answered at a yearly
/// review. It is one small item per app, written once per unsubscription, so keeping it long
/// costs nothing worth counting.
pub const SNS_UNSUBSCRIPTION_RETENTION_SECONDS: u64 = 400 * 24 * 60 * 60;

impl SnsSettings {
    pub fn accepts(&self, topic_arn: &str) -> bool {
        self.allowed_topics.is_empty() || self.allowed_topics.contains(topic_arn)
    }
}

/// What ties an event's messages together: an alarm's states live in one message (edited,
/// with a reply when it is back to `OK`); a custom notification's `threadId` makes a thread
/// of replies to its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadHint {
    /// The alarm's ARN, or a custom notification's `metadata.threadId`.
    pub key: String,
    /// The alarm is back to `OK`.
    pub resolved: bool,
    /// Later messages reply to the first rather than replacing it (`threadId`).
    pub reply_only: bool,
}

impl ThreadHint {
    /// The step of its thread that a notification rendered as `text` is. `scope` names the
    /// app and the recipient; `at_ms` is when the gateway received it.
    pub fn step(&self, scope: &str, text: &str, at_ms: u64) -> ThreadStep {
        // An alarm's ARN ends with its name.
        let name = self.key.rsplit(':').next().unwrap_or(&self.key);
        ThreadStep {
            key: sha256_hex(format!("{scope}\naws\n{}", self.key).as_bytes()),
            fingerprint: sha256_hex(format!("{}\n{text}", self.resolved).as_bytes()),
            resolved: self.resolved,
            reply: if self.resolved {
                format!("✅ OK: {}", name.chars().take(200).collect::<String>())
            } else {
                format!(
                    "🔔 Still in alarm: {}",
                    name.chars().take(200).collect::<String>()
                )
            },
            remind: false,
            at_ms,
            labels: Default::default(),
            threaded: self.reply_only,
        }
    }
}

/// Why a body is not an AWS event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("empty")]
    Empty,
    #[error("not an event")]
    NotEvent,
    #[error("not JSON")]
    NotJson,
}

/// One event, recognised, with what its template sees.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsEvent {
    pub kind: AwsKind,
    context: Map<String, Value>,
    thread: Option<ThreadHint>,
}

/// The text an event renders to, and its thread hint.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedEvent {
    pub text: String,
    pub thread: Option<ThreadHint>,
}

/// Findings, entities and fields shown before "...and N more".
const SHOWN_ITEMS: usize = 5;
/// `detail`'s fields the generic fallback shows.
const SHOWN_FIELDS: usize = 10;
/// The longest value the generic fallback shows of one field.
const MAX_FIELD_CHARS: usize = 300;
/// The characters the generic fallback's fields may take in all.
const FIELDS_BUDGET_CHARS: usize = 1200;

impl AwsEvent {
    /// The `/events` route's JSON body: an EventBridge event, as EventBridge sends it or as
    /// an input transformer shaped it (any JSON object, or a JSON string), or an AWS Chatbot
    /// custom notification.
    pub fn from_body(body: &[u8]) -> Result<AwsEvent, EventError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(EventError::Empty);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => Ok(Self::from_object(object, Map::new())),
            Ok(Value::String(text)) if !blank(&text) => Ok(Self::text(text, Map::new())),
            Ok(_) => Err(EventError::NotEvent),
            Err(_) => Err(EventError::NotJson),
        }
    }

    /// A `text/plain` body: an input transformer's text.
    pub fn from_text(body: &[u8]) -> Result<AwsEvent, EventError> {
        let text = std::str::from_utf8(body).map_err(|_| EventError::NotEvent)?;
        if blank(text) {
            return Err(EventError::Empty);
        }
        Ok(Self::text(text.to_owned(), Map::new()))
    }

    /// An SNS notification's `Message` (with its `Subject` and topic): a CloudWatch alarm,
    /// an EventBridge event, a custom notification, or text.
    pub fn from_sns(message: &str, subject: Option<&str>, topic_arn: &str) -> AwsEvent {
        let sns = Map::from_iter([
            ("subject".to_owned(), Value::from(subject.unwrap_or(""))),
            ("topic".to_owned(), Value::from(topic_arn)),
        ]);
        match serde_json::from_str::<Value>(message) {
            Ok(Value::Object(object)) => Self::from_object(object, sns),
            _ => Self::text(message.to_owned(), sns),
        }
    }

    fn text(text: String, extra: Map<String, Value>) -> AwsEvent {
        let mut context = extra;
        context.insert("text".into(), text.into());
        with_defaults(&mut context);
        AwsEvent {
            kind: AwsKind::Text,
            context,
            thread: None,
        }
    }

    fn from_object(object: Map<String, Value>, extra: Map<String, Value>) -> AwsEvent {
        let event = Value::Object(object);
        let kind = classify(&event);
        let mut context = match event.as_object() {
            Some(object) => object.clone(),
            None => Map::new(),
        };
        context.extend(extra);
        let detail_type = text_at(&event, &["detail-type"]);
        context.insert("detail_type".into(), detail_type.into());
        context.insert("event".into(), event.clone());
        let mut thread = None;
        match kind {
            AwsKind::CloudWatchAlarm => {
                let alarm = alarm(&event);
                thread = Some(ThreadHint {
                    key: text_at(&alarm, &["arn"]),
                    resolved: text_at(&alarm, &["state"]) == "OK",
                    reply_only: false,
                })
                .filter(|hint| !hint.key.is_empty());
                context.insert("alarm".into(), alarm);
            }
            AwsKind::Chatbot => {
                let thread_id = text_at(&event, &["metadata", "threadId"]);
                if !thread_id.is_empty() {
                    thread = Some(ThreadHint {
                        key: thread_id,
                        resolved: false,
                        reply_only: true,
                    });
                }
            }
            AwsKind::GuardDuty => guardduty(&event, &mut context),
            AwsKind::SecurityHub => securityhub(&event, &mut context),
            AwsKind::CodePipeline => codepipeline(&event, &mut context),
            AwsKind::EcsTask => ecs_task(&event, &mut context),
            AwsKind::Health => health(&event, &mut context),
            AwsKind::Ec2State => {
                let region = text_at(&event, &["region"]);
                let id = text_at(&event, &["detail", "instance-id"]);
                let url = console(
                    &region,
                    &format!(
                        "ec2/home?region={region}#InstanceDetails:instanceId={}",
                        enc(&id)
                    ),
                );
                context.insert("console_url".into(), url.into());
            }
            AwsKind::Generic => generic(&event, &mut context),
            AwsKind::Text => {}
        }
        with_defaults(&mut context);
        AwsEvent {
            kind,
            context,
            thread,
        }
    }
}

/// Nothing but white space (a byte-order mark included, as JSON Schema's `\s` has it).
fn blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || c == '\u{feff}')
}

/// Every template may use these, whatever the event had.
fn with_defaults(context: &mut Map<String, Value>) {
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

fn classify(event: &Value) -> AwsKind {
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
fn text_at(value: &Value, path: &[&str]) -> String {
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
fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A region code as AWS writes them (`eu-west-1`, `cn-north-1`, `us-gov-west-1`).
fn region_code(region: &str) -> Option<&str> {
    let ok = (2..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(region)
}

/// The AWS console's URL of `path` in `region`, in the region's partition; empty for a region
/// that is not a region code.
fn console(region: &str, path: &str) -> String {
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
fn arn_region(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or("").to_owned()
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

/// A CloudWatch alarm, from SNS's JSON or EventBridge's "CloudWatch Alarm State Change", in
/// one shape: `name`, `description`, `state`, `previous_state`, `reason`, `time`, `arn`,
/// `region`, `account`, `metric` (`namespace`, `name`, `stat`, `period`, `comparison`,
/// `threshold`), `dimensions` (a map) and `dimension_list` (`Name=value` strings),
/// `console_url`.
fn alarm(event: &Value) -> Value {
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

fn guardduty(event: &Value, context: &mut Map<String, Value>) {
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

fn securityhub(event: &Value, context: &mut Map<String, Value>) {
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

fn codepipeline(event: &Value, context: &mut Map<String, Value>) {
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
fn arn_tail(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or("").to_owned()
}

fn ecs_task(event: &Value, context: &mut Map<String, Value>) {
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

fn health(event: &Value, context: &mut Map<String, Value>) {
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
fn generic(event: &Value, context: &mut Map<String, Value>) {
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
fn short(value: &Value) -> String {
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

/// Any template an app may set: an alert source's or an AWS event kind's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    Alert(AlertSource),
    Aws(AwsKind),
}

impl TemplateKind {
    pub fn from_name(name: &str) -> Option<TemplateKind> {
        AlertSource::from_name(name)
            .map(TemplateKind::Alert)
            .or_else(|| AwsKind::from_name(name).map(TemplateKind::Aws))
    }

    pub fn name(self) -> &'static str {
        match self {
            TemplateKind::Alert(source) => source.name(),
            TemplateKind::Aws(kind) => kind.name(),
        }
    }

    /// Every name, for help texts.
    pub fn names() -> Vec<&'static str> {
        AlertSource::ALL
            .iter()
            .map(|s| s.name())
            .chain(AwsKind::ALL.iter().map(|k| k.name()))
            .collect()
    }

    /// Checks an app's template against this kind's sample.
    pub fn check_template(self, template: &str) -> Result<(), TemplateError> {
        match self {
            TemplateKind::Alert(source) => alerts::check_template(source, template),
            TemplateKind::Aws(kind) => check_template(kind, template),
        }
    }

    /// The message this kind's sample becomes with `template` (the built-in one if `None`).
    pub fn render_sample(self, template: Option<&str>) -> String {
        match self {
            TemplateKind::Alert(source) => {
                let sample =
                    alerts::AlertNotification::parse(source, source.sample_payload().as_bytes())
                        .expect("the built-in samples are valid");
                alerts::render(&sample, template)
            }
            TemplateKind::Aws(kind) => render(&sample(kind), template).text,
        }
    }
}

impl TemplateKind {
    /// The message a payload of this kind (one the operator's own tool sent) becomes with
    /// `template` (the built-in one if `None`): a dry run. `Err` says why it is not one.
    pub fn render_payload(self, body: &[u8], template: Option<&str>) -> Result<String, String> {
        match self {
            TemplateKind::Alert(source) => alerts::AlertNotification::parse(source, body)
                .map(|notification| alerts::render(&notification, template))
                .map_err(|e| format!("not a {source} notification: {e}")),
            TemplateKind::Aws(_) => AwsEvent::from_body(body)
                .map(|event| render(&event, template).text)
                .map_err(|e| format!("not an AWS event: {e}")),
        }
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind's sample event.
pub fn sample(kind: AwsKind) -> AwsEvent {
    AwsEvent::from_body(kind.sample_payload().as_bytes()).expect("the built-in samples are valid")
}

/// Checks an app's template for `kind`: its size, its syntax, and a render of the sample.
pub fn check_template(kind: AwsKind, template: &str) -> Result<(), TemplateError> {
    alerts::check_with(template, |compiled| {
        render_context(compiled, Value::Object(sample(kind).context))
    })
}

fn render_with(event: &AwsEvent, template: &str) -> Result<String, TemplateError> {
    let env = environment();
    let compiled = env.template_from_str(template)?;
    let text = match render_context(&compiled, Value::Object(event.context.clone())) {
        Ok(text) | Err(RenderFailure::TooLong(text)) => text,
        Err(RenderFailure::OutOfFuel(error) | RenderFailure::Template(error)) => return Err(error),
    };
    let text = text.trim();
    Ok(if fits(text) {
        text.to_owned()
    } else {
        cut(text)
    })
}

/// The message for `event`: the app's `template` for its kind if it renders, else the
/// built-in one. Never empty, never longer than the contract's 2000 characters.
pub fn render(event: &AwsEvent, template: Option<&str>) -> RenderedEvent {
    let thread = event.thread.clone();
    if let Some(template) = template {
        match render_with(event, template) {
            Ok(text) if !text.is_empty() => return RenderedEvent { text, thread },
            Ok(_) => {
                tracing::warn!(kind = %event.kind, "the app's template rendered nothing; using the default")
            }
            Err(error) => tracing::warn!(
                kind = %event.kind,
                error = %crate::logging::loggable(&error.to_string()),
                "the app's template failed; using the default"
            ),
        }
    }
    let text = match render_with(event, event.kind.default_template()) {
        Ok(text) if !text.is_empty() => text,
        // The defaults render every event; this is a last resort.
        _ => format!("AWS event ({})", event.kind),
    };
    RenderedEvent { text, thread }
}

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

const CLOUDWATCH_ALARM_TEMPLATE: &str = concat!(
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

const GUARDDUTY_TEMPLATE: &str = concat!(
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

const SECURITYHUB_TEMPLATE: &str = concat!(
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

const CODEPIPELINE_TEMPLATE: &str = concat!(
    r#"[CodePipeline] {{ detail.pipeline }}{% if detail.stage %} / {{ detail.stage }}{% endif %}{% if detail.action %} / {{ detail.action }}{% endif %}: {{ detail.state }}
{%- if execution_id %}
Execution {{ execution_id }}{% if trigger %}, started by {{ trigger }}{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "time")
);

const ECS_TASK_TEMPLATE: &str = concat!(
    r#"[ECS] Task {{ task_id }} {{ detail.lastStatus }}{% if detail.desiredStatus and detail.desiredStatus != detail.lastStatus %} (desired {{ detail.desiredStatus }}){% endif %}
Cluster {{ cluster }}{% if detail.group %}, {{ detail.group }}{% endif %}{% if task_definition %}, task definition {{ task_definition }}{% endif %}
{%- if detail.stoppedReason %}
Stopped: {{ detail.stoppedReason }}{% if detail.stopCode %} ({{ detail.stopCode }}){% endif %}{% endif %}
{%- for c in containers %}
- {{ c.name }}: {{ c.lastStatus }}{% if c.exitCode is defined and c.exitCode is not none %}, exit code {{ c.exitCode }}{% endif %}{% if c.reason %}, {{ c.reason }}{% endif %}
{%- endfor %}"#,
    where_and_link!("account", "region", "time")
);

const HEALTH_TEMPLATE: &str = concat!(
    r#"[AWS Health] {{ detail.service }} {{ detail.eventTypeCategory }}: {{ detail.eventTypeCode }}{% if detail.statusCode %} ({{ detail.statusCode }}){% endif %}
{%- if description %}
{{ description }}{% endif %}
{%- if detail.startTime %}
Since {{ detail.startTime }}{% if detail.endTime %} until {{ detail.endTime }}{% endif %}{% endif %}
{%- if entities %}
Affected: {{ entities|join(", ") }}{% if more_entities %} and {{ more_entities }} more{% endif %}{% endif %}"#,
    where_and_link!("account", "detail.eventRegion or region", "\"\"")
);

const EC2_STATE_TEMPLATE: &str = concat!(
    r#"[EC2] Instance {{ detail["instance-id"] }} is {{ detail.state }}"#,
    where_and_link!("account", "region", "time")
);

const CHATBOT_TEMPLATE: &str = r#"{{ content.title or metadata.summary or "Notification" }}
{%- if content.description %}
{{ content.description }}{% endif %}
{%- if content.nextSteps %}
Next steps:
{%- for step in content.nextSteps %}
- {{ step }}{% endfor %}{% endif %}
{%- if content.keywords %}
Keywords: {{ content.keywords|join(", ") }}{% endif %}"#;

const TEXT_TEMPLATE: &str = r#"{% if subject %}{{ subject }}
{% endif %}{{ text }}"#;

const GENERIC_TEMPLATE: &str = concat!(
    r#"[{{ detail_type or subject or "AWS event" }}]{% if source %} from {{ source }}{% endif %}
{%- if shown_resources %}
Resources: {{ shown_resources|join(", ") }}{% if more_resources %} and {{ more_resources }} more{% endif %}{% endif %}
{%- for f in fields %}
{{ f.name }}: {{ f.value }}{% endfor %}
{%- if more_fields %}
...and {{ more_fields }} more field{% if more_fields != 1 %}s{% endif %}{% endif %}"#,
    where_and_link!("account", "region", "time")
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::MAX_TEXT_CHARS;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/aws/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn event(name: &str) -> AwsEvent {
        AwsEvent::from_body(fixture(name).as_bytes()).unwrap()
    }

    fn text(name: &str) -> String {
        render(&event(name), None).text
    }

    #[test]
    fn kinds_are_named_and_never_collide_with_alert_sources() {
        for kind in AwsKind::ALL {
            assert_eq!(AwsKind::from_name(kind.name()), Some(kind));
            assert_eq!(
                TemplateKind::from_name(kind.name()),
                Some(TemplateKind::Aws(kind))
            );
            assert!(AlertSource::from_name(kind.name()).is_none());
            // Every sample is recognised as its own kind and renders.
            assert_eq!(sample(kind).kind, kind, "{kind}");
            assert!(!render(&sample(kind), None).text.is_empty());
            check_template(kind, kind.default_template()).unwrap();
        }
        assert_eq!(
            TemplateKind::from_name("grafana"),
            Some(TemplateKind::Alert(AlertSource::Grafana))
        );
        assert_eq!(TemplateKind::names().len(), 12);
    }

    #[test]
    fn a_cloudwatch_alarm_from_sns_reads_well_and_hints_its_thread() {
        let alarm = AwsEvent::from_sns(
            &fixture("cloudwatch-alarm-sns.json"),
            Some("ALARM: \"api-high-cpu\" in EU (Ireland)"),
            "arn:aws:sns:eu-west-1:123456789012:ops-alarms",
        );
        assert_eq!(alarm.kind, AwsKind::CloudWatchAlarm);
        let rendered = render(&alarm, None);
        assert_eq!(
            rendered.text,
            "[ALARM] api-high-cpu (was OK)\n\
             CPU of the API instance above 80% for 5 minutes\n\
             Reason: Threshold Crossed: 1 out of the last 1 datapoints [93.4 (24/11/26 05:25:00)] was greater than the threshold (80.0) (minimum 1 datapoint for OK -> ALARM transition).\n\
             Metric: AWS/EC2 CPUUtilization (Average, 300 s) > 80.0\n\
             Dimensions: InstanceId=i-0a1b2c3d4e5f67890\n\
             Account 123456789012, eu-west-1, 2026-11-24T05:30:12.345+0000\n\
             https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/api-high-cpu"
        );
        assert_eq!(
            rendered.thread,
            Some(ThreadHint {
                key: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:api-high-cpu".into(),
                resolved: false,
                reply_only: false
            })
        );
        // Its OK is the same thread, resolved.
        let ok = AwsEvent::from_sns(&fixture("cloudwatch-alarm-sns-ok.json"), None, "t");
        let rendered = render(&ok, None);
        assert!(rendered.text.starts_with("[OK] api-high-cpu (was ALARM)\n"));
        let hint = rendered.thread.unwrap();
        assert!(hint.resolved && !hint.reply_only);
        assert!(hint.key.ends_with(":alarm:api-high-cpu"));
    }

    #[test]
    fn an_alarms_states_are_one_thread_and_a_chatbot_thread_is_replies() {
        use crate::domain::thread::ThreadAction;
        let firing = render(
            &AwsEvent::from_sns(&fixture("cloudwatch-alarm-sns.json"), None, "t"),
            None,
        );
        let ok = render(
            &AwsEvent::from_sns(&fixture("cloudwatch-alarm-sns-ok.json"), None, "t"),
            None,
        );
        let step = |rendered: &RenderedEvent, scope: &str, at| {
            rendered
                .thread
                .as_ref()
                .unwrap()
                .step(scope, &rendered.text, at)
        };
        let first = step(&firing, "app\ngroup\ng", 1);
        let then = step(&ok, "app\ngroup\ng", 2);
        assert_eq!(first.key, then.key);
        assert_ne!(first.key, step(&firing, "other\ngroup\ng", 1).key);
        assert!(!first.resolved && then.resolved && !then.threaded);
        assert_eq!(then.reply, "✅ OK: api-high-cpu");
        let thread = first.remembered("app", "chat", "m-1", &Default::default(), None, 10);
        assert_eq!(
            then.action(Some(&thread), "chat"),
            ThreadAction::Edit { reply: true }
        );
        // The same state again changes nothing.
        assert_eq!(
            step(&firing, "app\ngroup\ng", 3).action(Some(&thread), "chat"),
            ThreadAction::Nothing
        );

        let custom = render(&event("chatbot-custom-notification.json"), None);
        let hint = custom.thread.clone().expect("a threadId");
        assert!(hint.reply_only);
        let step = step(&custom, "app\ngroup\ng", 1);
        assert!(step.threaded);
        let thread = step.remembered("app", "chat", "m-9", &Default::default(), None, 10);
        assert_eq!(step.action(Some(&thread), "chat"), ThreadAction::Reply);
    }

    #[test]
    fn a_cloudwatch_alarm_from_eventbridge_reads_the_same_way() {
        let rendered = render(&event("eventbridge-cloudwatch-alarm.json"), None);
        assert_eq!(
            rendered.text,
            "[ALARM] orders-5xx (was OK)\n\
             Orders API answers 5xx\n\
             Reason: Threshold Crossed: 2 out of the last 2 datapoints [17.0 (24/11/26 05:28:00), 12.0 (24/11/26 05:27:00)] were greater than or equal to the threshold (10.0).\n\
             Metric: AWS/ApplicationELB HTTPCode_Target_5XX_Count (Sum, 60 s)\n\
             Dimensions: LoadBalancer=app/orders/50dc6c495c0c9188, TargetGroup=targetgroup/orders/73e2d6bc24d8a067\n\
             Account 123456789012, eu-west-1, 2026-11-24T05:30:12.345+0000\n\
             https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/orders-5xx"
        );
        assert_eq!(
            rendered.thread.unwrap().key,
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders-5xx"
        );
    }

    #[test]
    fn security_events_read_well() {
        assert_eq!(
            text("eventbridge-guardduty-finding.json"),
            "[GuardDuty High 8] 198.51.100.7 is performing SSH brute force attacks against i-99999999.\n\
             UnauthorizedAccess:EC2/SSHBruteForce\n\
             198.51.100.7 is performing SSH brute force attacks against i-99999999. Brute force attacks are used to gain unauthorized access to your instance by guessing the SSH password.\n\
             Resource: Instance i-99999999\n\
             Seen 14 time(s), last 2026-11-24T05:29:40.000Z\n\
             Account 123456789012, eu-west-1\n\
             https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=16afba5c5c43e07c9e3e5e2e544e95df"
        );
        let hub = text("eventbridge-securityhub-findings.json");
        assert!(
            hub.starts_with(
                "[Security Hub] 2 findings (Security Hub Findings - Imported)\n\n\
                 HIGH: S3.8 S3 general purpose buckets should block public access\n\
                 AwsS3Bucket arn:aws:s3:::invoices-export\n\
                 Compliance FAILED, workflow NEW\n\
                 Fix: https://docs.aws.amazon.com/console/securityhub/S3.8/remediation\n\n\
                 CRITICAL: IAM.6 Hardware MFA should be enabled for the root user\n"
            ),
            "{hub}"
        );
        assert!(hub.ends_with("https://eu-west-1.console.aws.amazon.com/securityhub/home?region=eu-west-1#/findings"), "{hub}");
        // Many findings: the first few, and how many more.
        let mut many: Value =
            serde_json::from_str(&fixture("eventbridge-securityhub-findings.json")).unwrap();
        let finding = many["detail"]["findings"][0].clone();
        many["detail"]["findings"] = Value::Array(vec![finding; 40]);
        let text = render(
            &AwsEvent::from_body(many.to_string().as_bytes()).unwrap(),
            None,
        )
        .text;
        assert!(text.starts_with("[Security Hub] 40 findings"), "{text}");
        assert!(text.contains("\n\n...and 35 more\n"), "{text}");
        assert!(text.chars().count() <= MAX_TEXT_CHARS);
    }

    #[test]
    fn operations_events_read_well() {
        assert_eq!(
            text("eventbridge-codepipeline-execution.json"),
            "[CodePipeline] orders-deploy: FAILED\n\
             Execution 01234567-0123-0123-0123-012345678901, started by StartPipelineExecution\n\
             Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z\n\
             https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/orders-deploy/executions/01234567-0123-0123-0123-012345678901/timeline?region=eu-west-1"
        );
        assert_eq!(
            text("eventbridge-ecs-task-state.json"),
            "[ECS] Task b7c1a2e4f0d34c1c8d1d0a9b8e7f6a5b STOPPED\n\
             Cluster prod, service:orders-api, task definition orders-api:42\n\
             Stopped: Essential container in task exited (EssentialContainerExited)\n\
             - api: STOPPED, exit code 137, OutOfMemoryError: Container killed due to memory usage\n\
             Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z\n\
             https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/tasks/b7c1a2e4f0d34c1c8d1d0a9b8e7f6a5b?region=eu-west-1"
        );
        assert_eq!(
            text("eventbridge-health-event.json"),
            "[AWS Health] EC2 issue: AWS_EC2_OPERATIONAL_ISSUE (open)\n\
             We are investigating increased API error rates and latencies in the EU-WEST-1 Region.\n\
             Since Tue, 24 Nov 2026 04:55:00 GMT\n\
             Affected: i-0a1b2c3d4e5f67890\n\
             Account 123456789012, eu-west-1\n\
             https://health.aws.amazon.com/health/home#/account/dashboard/open-issues"
        );
        assert_eq!(
            text("eventbridge-ec2-state-change.json"),
            "[EC2] Instance i-0a1b2c3d4e5f67890 is stopped\n\
             Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z\n\
             https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-0a1b2c3d4e5f67890"
        );
    }

    #[test]
    fn a_custom_notification_reads_as_written_and_threads_by_its_id() {
        for rendered in [
            render(&event("chatbot-custom-notification.json"), None),
            // The same notification published to a topic.
            render(
                &AwsEvent::from_sns(&fixture("chatbot-custom-notification.json"), None, "t"),
                None,
            ),
        ] {
            assert_eq!(
                rendered.text,
                ":warning: Orders backlog growing\n\
                 The orders queue holds *12 400* messages; consumers are behind by 14 minutes.\n\
                 Next steps:\n\
                 - Scale the orders-worker service\n\
                 - Check the payment provider's status page\n\
                 Keywords: orders, prod, sqs"
            );
            assert_eq!(
                rendered.thread,
                Some(ThreadHint {
                    key: "orders-backlog-2026-11-24".into(),
                    resolved: false,
                    reply_only: true
                })
            );
        }
        // Only the summary: it is the title.
        let bare = AwsEvent::from_body(
            br#"{"version":"1.0","source":"custom","content":{"description":"d"},"metadata":{"summary":"S"}}"#,
        )
        .unwrap();
        assert_eq!(render(&bare, None).text, "S\nd");
        assert_eq!(render(&bare, None).thread, None);
    }

    #[test]
    fn unknown_events_get_a_short_readable_fallback() {
        let text = text("eventbridge-unknown-event.json");
        assert_eq!(
            text,
            "[Object Created] from aws.s3\n\
             Resources: arn:aws:s3:::invoices-export\n\
             bucket: {\"name\":\"invoices-export\"}\n\
             object: {\"etag\":\"b1946ac92492d2347c6235b4d2611184\",\"key\":\"2026/11/24/report.csv\",\"sequencer\":\"00617F08299329D189\",\"size\":52341}\n\
             reason: PutObject\n\
             request-id: N4N7GDK58NMKJ12R\n\
             requester: 123456789012\n\
             source-ip-address: 203.0.113.15\n\
             version: 0\n\
             Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z"
        );
        // A huge event is never dumped: a few short fields, and how many more.
        let fields: Map<String, Value> = (0..500)
            .map(|i| (format!("field{i:03}"), Value::from("x".repeat(5000))))
            .collect();
        let huge = json!({"detail-type": "Big Thing", "source": "my.app", "account": "1", "region": "eu-west-1",
                          "resources": (0..50).map(|i| format!("arn:r{i}")).collect::<Vec<_>>(), "detail": fields});
        let text = render(
            &AwsEvent::from_body(huge.to_string().as_bytes()).unwrap(),
            None,
        )
        .text;
        assert!(text.chars().count() <= MAX_TEXT_CHARS, "{}", text.len());
        assert!(text.starts_with("[Big Thing] from my.app\nResources: arn:r0, arn:r1, arn:r2, arn:r3, arn:r4 and 45 more\nfield000: xxx"), "{text}");
        let shown = text.matches("\nfield").count();
        assert!((2..10).contains(&shown), "{text}");
        assert!(
            text.contains(&format!("\n...and {} more fields\n", 500 - shown)),
            "{text}"
        );
        // An input transformer's own object, and its text.
        let shaped = AwsEvent::from_body(br#"{"instance":"i-1","state":"running"}"#).unwrap();
        assert_eq!(shaped.kind, AwsKind::Generic);
        assert_eq!(
            render(&shaped, None).text,
            "[AWS event]\ninstance: i-1\nstate: running"
        );
        let plain = AwsEvent::from_text(b"Instance i-1 is running").unwrap();
        assert_eq!(plain.kind, AwsKind::Text);
        assert_eq!(render(&plain, None).text, "Instance i-1 is running");
        let quoted = AwsEvent::from_body(br#""Instance i-2 is running""#).unwrap();
        assert_eq!(render(&quoted, None).text, "Instance i-2 is running");
        // SNS text keeps its subject.
        let sns = AwsEvent::from_sns("Backup done", Some("Nightly backup"), "t");
        assert_eq!(render(&sns, None).text, "Nightly backup\nBackup done");
    }

    #[test]
    fn bodies_that_are_no_event_are_refused() {
        assert_eq!(AwsEvent::from_body(b""), Err(EventError::Empty));
        assert_eq!(AwsEvent::from_body(b"  \n"), Err(EventError::Empty));
        assert_eq!(AwsEvent::from_body(b"[1,2]"), Err(EventError::NotEvent));
        assert_eq!(AwsEvent::from_body(b"42"), Err(EventError::NotEvent));
        assert_eq!(AwsEvent::from_body(b"\"  \""), Err(EventError::NotEvent));
        assert_eq!(AwsEvent::from_body(&[0xff, 0xfe]), Err(EventError::NotJson));
        assert_eq!(
            AwsEvent::from_body(b"plain words"),
            Err(EventError::NotJson)
        );
        assert_eq!(
            AwsEvent::from_text(&[0xff, 0xfe]),
            Err(EventError::NotEvent)
        );
        assert_eq!(AwsEvent::from_text(b" "), Err(EventError::Empty));
        assert_eq!(
            AwsEvent::from_text("\u{feff}\u{a0}".as_bytes()),
            Err(EventError::Empty)
        );
    }

    #[test]
    fn an_apps_template_replaces_the_default_for_its_kind() {
        let alarm = event("eventbridge-cloudwatch-alarm.json");
        let template = "{{ alarm.name }} is {{ alarm.state }} in {{ region }}";
        check_template(AwsKind::CloudWatchAlarm, template).unwrap();
        assert_eq!(
            render(&alarm, Some(template)).text,
            "orders-5xx is ALARM in eu-west-1"
        );
        // One that fails, renders nothing or runs forever gives way to the default.
        for broken in [
            "{{ 1 / 0 }}",
            "  ",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        ] {
            assert!(render(&alarm, Some(broken))
                .text
                .starts_with("[ALARM] orders-5xx"));
        }
        // A flood is cut to the contract's length.
        let flood = render(
            &alarm,
            Some("{% for i in range(100000) %}flood {% endfor %}"),
        )
        .text;
        assert_eq!(flood.chars().count(), MAX_TEXT_CHARS);
        let error = check_template(AwsKind::GuardDuty, "ok\n{{ detail.title }").unwrap_err();
        assert_eq!(error.line, Some(2), "{error}");
        assert!(check_template(AwsKind::Generic, "{% include 'x' %}").is_err());
    }
}
