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

use serde_json::{Map, Value};

use crate::domain::credentials::sha256_hex;
use crate::domain::sources::alert_thread::ThreadStep;
use fields::*;

use crate::domain::sources::alerts::{self, AlertSource};
use crate::domain::template::{
    check_with, cut, environment, fits, render_context, RenderFailure, TemplateError,
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
            AwsKind::CloudWatchAlarm => kinds::cloudwatch_alarm::TEMPLATE,
            AwsKind::GuardDuty => kinds::guardduty::TEMPLATE,
            AwsKind::SecurityHub => kinds::securityhub::TEMPLATE,
            AwsKind::CodePipeline => kinds::codepipeline::TEMPLATE,
            AwsKind::EcsTask => kinds::ecs_task::TEMPLATE,
            AwsKind::Health => kinds::health::TEMPLATE,
            AwsKind::Ec2State => kinds::ec2_state::TEMPLATE,
            AwsKind::Chatbot => kinds::chatbot::TEMPLATE,
            AwsKind::Text => kinds::text::TEMPLATE,
            AwsKind::Generic => kinds::generic::TEMPLATE,
        }
    }

    /// An event of this kind as AWS sends it, for dry runs of a template.
    pub fn sample_payload(self) -> &'static str {
        match self {
            AwsKind::CloudWatchAlarm => kinds::cloudwatch_alarm::SAMPLE,
            AwsKind::GuardDuty => kinds::guardduty::SAMPLE,
            AwsKind::SecurityHub => kinds::securityhub::SAMPLE,
            AwsKind::CodePipeline => kinds::codepipeline::SAMPLE,
            AwsKind::EcsTask => kinds::ecs_task::SAMPLE,
            AwsKind::Health => kinds::health::SAMPLE,
            AwsKind::Ec2State => kinds::ec2_state::SAMPLE,
            AwsKind::Chatbot => kinds::chatbot::SAMPLE,
            AwsKind::Text => kinds::text::SAMPLE,
            AwsKind::Generic => kinds::generic::SAMPLE,
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
/// The longest value the generic fallback shows of one field.
const MAX_FIELD_CHARS: usize = 300;

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
                let alarm = kinds::cloudwatch_alarm::alarm(&event);
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
            AwsKind::GuardDuty => kinds::guardduty::guardduty(&event, &mut context),
            AwsKind::SecurityHub => kinds::securityhub::securityhub(&event, &mut context),
            AwsKind::CodePipeline => kinds::codepipeline::codepipeline(&event, &mut context),
            AwsKind::EcsTask => kinds::ecs_task::ecs_task(&event, &mut context),
            AwsKind::Health => kinds::health::health(&event, &mut context),
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
            AwsKind::Generic => kinds::generic::generic(&event, &mut context),
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
    check_with(template, |compiled| {
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

mod fields;
mod kinds;

#[cfg(test)]
mod tests;
