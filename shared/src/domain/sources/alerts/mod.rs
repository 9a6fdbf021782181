//! Alert notifications from Prometheus Alertmanager (its `webhook_config` payload, version 4)
//! and Grafana (its webhook contact point, unified alerting), rendered into one message that
//! fits the contract's 2000 characters.
//!
//! Templates render in the one sandboxed renderer of every source ([`crate::domain::template`]).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::domain::credentials::sha256_hex;
use crate::domain::message::Button;
use crate::domain::sources::alert_thread::ThreadStep;
use crate::domain::template::{
    check_with, cut, environment, fits, render_context, RenderFailure, TemplateError,
};

/// What both sources' default templates say: the status header, the labels every alert
/// shares, and per alert its summary, description, own labels and source link.
macro_rules! alert_template_head {
    () => {
        r#"{% macro labels(map) %}{% for k, v in map|items %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}{% endmacro -%}
[{{ status|upper }}:{% if status == "firing" %}{{ firing }}{% else %}{{ resolved }}{% endif %}] {{ alertname }}{% if severity %} ({{ severity }}){% endif %}{% if status == "firing" and resolved %}, {{ resolved }} resolved{% endif %}
{%- if shared_labels %}
{{ labels(shared_labels) }}{% endif %}
{%- for alert in alerts %}

{% if alert.status == "firing" %}FIRING{% else %}RESOLVED{% endif %}{% if alert.labels.alertname and alert.labels.alertname != alertname %} {{ alert.labels.alertname }}{% endif %}{% if alert.annotations.summary %}: {{ alert.annotations.summary }}{% endif %}
{%- if alert.annotations.description %}
{{ alert.annotations.description }}{% endif %}
{%- if alert.extra_labels %}
{{ labels(alert.extra_labels) }}{% endif %}
{%- if alert.generatorURL %}
Source: {{ alert.generatorURL }}{% endif %}"#
    };
}

mod alertmanager;
mod grafana;

/// A tool that posts alerts to the gateway in its own format. Its name is the last segment of
/// its route, and is never a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertSource {
    Alertmanager,
    Grafana,
}

impl AlertSource {
    pub const ALL: [AlertSource; 2] = [AlertSource::Alertmanager, AlertSource::Grafana];

    pub fn name(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Grafana => "grafana",
        }
    }

    pub fn from_name(name: &str) -> Option<AlertSource> {
        Self::ALL.into_iter().find(|source| source.name() == name)
    }

    /// The template used when the app has none of its own for this source.
    pub fn default_template(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => alertmanager::TEMPLATE,
            AlertSource::Grafana => grafana::TEMPLATE,
        }
    }

    /// A payload as the tool sends it, for dry runs of a template.
    pub fn sample_payload(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => alertmanager::SAMPLE,
            AlertSource::Grafana => grafana::SAMPLE,
        }
    }
}

impl fmt::Display for AlertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most label matchers a group's silence takes from its labels: Alertmanager's own groups
/// rarely have more than a handful.
const MAX_GROUP_LABELS: usize = 16;

/// What a click on one of the gateway's own alert buttons asks for: `callback_data`
/// `{"gateway":"silence","seconds":3600,"group":"<thread key>"}`.
pub const SILENCE_ACTION: &str = "silence";
/// The silences the buttons of a firing group's message offer: label and length.
pub const SILENCE_CHOICES: [(&str, u64); 2] = [("Silence 1h", 3600), ("Silence 24h", 86_400)];

impl AlertNotification {
    /// The tool's key of the alert group (`groupKey`), if it sent one.
    pub fn group_key(&self) -> Option<&str> {
        self.payload
            .get("groupKey")
            .and_then(Value::as_str)
            .filter(|key| !key.is_empty())
    }

    /// Every alert of the group resolved.
    pub fn resolved(&self) -> bool {
        self.payload.get("status").and_then(Value::as_str) == Some("resolved")
    }

    /// A hash of the alerts and their states: a repeat notification has the same one.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .alerts
            .iter()
            .map(|alert| {
                let identity = match alert.get("fingerprint").and_then(Value::as_str) {
                    Some(fingerprint) if !fingerprint.is_empty() => fingerprint.to_owned(),
                    _ => labels_of(alert.get("labels"))
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect::<Vec<_>>()
                        .join(","),
                };
                let status = alert.get("status").and_then(Value::as_str).unwrap_or("");
                format!("{identity}\t{status}")
            })
            .collect();
        lines.sort();
        let status = self
            .payload
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("");
        sha256_hex(format!("{status}\n{}", lines.join("\n")).as_bytes())
    }

    /// The labels that identify the group (`groupLabels`, else `commonLabels`): the matchers of
    /// a silence of the whole group. Bounded in count.
    pub fn group_labels(&self) -> BTreeMap<String, String> {
        let group = labels_of(self.payload.get("groupLabels"));
        let labels = if group.is_empty() {
            labels_of(self.payload.get("commonLabels"))
        } else {
            group
        };
        labels.into_iter().take(MAX_GROUP_LABELS).collect()
    }

    /// A short name of the group for replies: its `alertname` (as templates see it), else
    /// its labels.
    pub fn headline(&self) -> String {
        let name = self
            .label("alertname")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                let labels = self.group_labels();
                if labels.is_empty() {
                    "alert group".to_owned()
                } else {
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            });
        name.chars().take(200).collect()
    }

    /// A label of the group: from the common labels, else the group's, else the first alert's.
    fn label(&self, name: &str) -> Option<String> {
        let first = self.alerts.first().and_then(|a| a.get("labels"));
        [
            self.payload.get("commonLabels"),
            self.payload.get("groupLabels"),
            first,
        ]
        .into_iter()
        .find_map(|labels| labels?.get(name)?.as_str())
        .map(str::to_owned)
    }

    /// How this notification moves its group's message: `None` when the tool sent no group
    /// key. `scope` names the app and the recipient, so that two apps (or two recipients) of
    /// the same group keep their own messages.
    pub fn thread_step(&self, scope: &str, remind: bool, at_ms: u64) -> Option<ThreadStep> {
        let group_key = self.group_key()?;
        let firing = self.count("firing");
        let reply = if self.resolved() {
            format!("✅ Resolved: {}", self.headline())
        } else {
            format!("🔔 Still firing: {} ({firing} alerts)", self.headline())
        };
        Some(ThreadStep {
            key: sha256_hex(format!("{scope}\n{}\n{group_key}", self.source.name()).as_bytes()),
            fingerprint: self.fingerprint(),
            resolved: self.resolved(),
            reply,
            remind,
            at_ms,
            labels: self.group_labels(),
            threaded: false,
        })
    }
}

/// The silence buttons of a firing group's message, for the group `thread_key`.
pub fn silence_buttons(thread_key: &str) -> Vec<Button> {
    SILENCE_CHOICES
        .iter()
        .map(|(text, seconds)| Button {
            text: (*text).to_owned(),
            callback_data: serde_json::json!({
                "gateway": SILENCE_ACTION,
                "seconds": seconds,
                "group": thread_key,
            }),
        })
        .collect()
}

/// A click's `callback_data` that asks the gateway to silence a group: the group's key and
/// how long. Only the lengths the buttons offer are accepted.
pub fn silence_request(callback_data: &str) -> Option<(String, u64)> {
    let value: Value = serde_json::from_str(callback_data).ok()?;
    if value.get("gateway").and_then(Value::as_str) != Some(SILENCE_ACTION) {
        return None;
    }
    let seconds = value.get("seconds").and_then(Value::as_u64)?;
    let group = value.get("group").and_then(Value::as_str)?;
    let known_length = SILENCE_CHOICES.iter().any(|(_, s)| *s == seconds);
    let key_shaped = group.len() == 64 && group.bytes().all(|b| b.is_ascii_hexdigit());
    (known_length && key_shaped).then(|| (group.to_owned(), seconds))
}

/// Whether a button is one of the gateway's silence buttons.
pub fn is_silence_button(button: &Button) -> bool {
    button.callback_data.get("gateway").and_then(Value::as_str) == Some(SILENCE_ACTION)
}

/// "1h", "24h", "90m": how a silence's length reads in the chat.
pub fn human_duration(seconds: u64) -> String {
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else {
        format!("{}m", seconds.div_ceil(60))
    }
}

fn labels_of(value: Option<&Value>) -> BTreeMap<String, String> {
    match value {
        Some(Value::Object(labels)) => labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Why a body is not a notification of its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not JSON")]
    NotJson,
    #[error("not the source's payload")]
    NotPayload,
}

/// One notification: a group of alerts, firing or resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotification {
    pub source: AlertSource,
    /// The whole payload, as the tool sent it; templates see all of it.
    pub payload: Map<String, Value>,
    pub alerts: Vec<Map<String, Value>>,
}

impl AlertNotification {
    /// Reads a body of `source`. Alertmanager's must say `"version": "4"`; Grafana's, when it
    /// says a version, `"1"`. Either needs a `status` and a list of alerts, each with a
    /// `status` and string labels.
    pub fn parse(source: AlertSource, body: &[u8]) -> Result<AlertNotification, PayloadError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| PayloadError::NotJson)?;
        let Value::Object(payload) = value else {
            return Err(PayloadError::NotPayload);
        };
        let version = payload.get("version");
        let version_ok = match source {
            AlertSource::Alertmanager => alertmanager::accepts_version(version),
            AlertSource::Grafana => grafana::accepts_version(version),
        };
        let status_ok = matches!(
            payload.get("status").and_then(Value::as_str),
            Some("firing" | "resolved")
        );
        let Some(Value::Array(list)) = payload.get("alerts") else {
            return Err(PayloadError::NotPayload);
        };
        if !version_ok || !status_ok {
            return Err(PayloadError::NotPayload);
        }
        let mut alerts = Vec::with_capacity(list.len());
        for alert in list {
            let Value::Object(alert) = alert else {
                return Err(PayloadError::NotPayload);
            };
            let labels_ok = match alert.get("labels") {
                None | Some(Value::Null) => true,
                Some(Value::Object(labels)) => labels.values().all(Value::is_string),
                Some(_) => false,
            };
            if !labels_ok || !alert.get("status").is_some_and(Value::is_string) {
                return Err(PayloadError::NotPayload);
            }
            alerts.push(alert.clone());
        }
        Ok(AlertNotification {
            source,
            payload,
            alerts,
        })
    }

    fn labels(&self, field: &str) -> Map<String, Value> {
        match self.payload.get(field) {
            Some(Value::Object(labels)) => labels.clone(),
            _ => Map::new(),
        }
    }

    fn count(&self, status: &str) -> usize {
        self.alerts
            .iter()
            .filter(|a| a.get("status").and_then(Value::as_str) == Some(status))
            .count()
    }

    /// What a template sees: the payload's own fields, and
    /// - `alerts`: the alerts shown (the first ones, as many as fit), each with `extra_labels`
    ///   (its labels that are not common to the group, nor `alertname`) and, from
    ///   Alertmanager, a `silenceURL` for that alert when it has none;
    /// - `firing`, `resolved`, `total`: counts over all alerts received;
    /// - `more`: alerts not shown, those left out here and Alertmanager's `truncatedAlerts`;
    ///   `omitted` and `truncated` apart;
    /// - `alertname`, `severity`: from the common labels (else the group's, else the first
    ///   alert's); `shared_labels`: the common labels but those two;
    /// - `silenceURL`: from Alertmanager, a link that silences the whole group.
    fn context(&self, shown: usize) -> Value {
        let common = self.labels("commonLabels");
        let group = self.labels("groupLabels");
        let pick = |name: &str| self.label(name).unwrap_or_default();
        let external_url = self
            .payload
            .get("externalURL")
            .and_then(Value::as_str)
            .unwrap_or("");
        let am = self.source == AlertSource::Alertmanager;
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .take(shown)
            .map(|alert| {
                let mut alert = alert.clone();
                let labels = alert
                    .get("labels")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if am && !alert.contains_key("silenceURL") {
                    if let Some(url) = alertmanager::silence_url(external_url, &labels) {
                        alert.insert("silenceURL".into(), url.into());
                    }
                }
                let extra: Map<String, Value> = labels
                    .into_iter()
                    .filter(|(k, _)| k != "alertname" && !common.contains_key(k))
                    .collect();
                alert.insert("extra_labels".into(), Value::Object(extra));
                Value::Object(alert)
            })
            .collect();
        let truncated = self
            .payload
            .get("truncatedAlerts")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let omitted = (self.alerts.len() - shown) as u64;
        // The payload's own fields but its alerts, which are replaced by those shown.
        let mut context: Map<String, Value> = self
            .payload
            .iter()
            .filter(|(key, _)| *key != "alerts")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let shared: Map<String, Value> = common
            .iter()
            .filter(|(k, _)| *k != "alertname" && *k != "severity")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let group_silence = if am {
            alertmanager::silence_url(
                external_url,
                if common.is_empty() { &group } else { &common },
            )
        } else {
            None
        };
        for (key, value) in [
            ("alerts", Value::Array(alerts)),
            ("firing", self.count("firing").into()),
            ("resolved", self.count("resolved").into()),
            ("total", self.alerts.len().into()),
            ("omitted", omitted.into()),
            ("truncated", truncated.into()),
            ("more", (omitted + truncated).into()),
            ("alertname", pick("alertname").into()),
            ("severity", pick("severity").into()),
            ("shared_labels", Value::Object(shared)),
            (
                "silenceURL",
                group_silence.map(Value::from).unwrap_or_default(),
            ),
        ] {
            context.insert(key.into(), value);
        }
        Value::Object(context)
    }
}

/// Checks an app's template: its size, its syntax, and a render of `source`'s sample payload.
pub fn check_template(source: AlertSource, template: &str) -> Result<(), TemplateError> {
    let sample = AlertNotification::parse(source, source.sample_payload().as_bytes())
        .expect("the built-in samples are valid");
    check_with(template, |compiled| {
        render_once(compiled, &sample, sample.alerts.len())
    })
}

fn render_once(
    compiled: &minijinja::Template<'_, '_>,
    notification: &AlertNotification,
    shown: usize,
) -> Result<String, RenderFailure> {
    render_context(compiled, notification.context(shown))
}

/// The message for `notification`: the app's `template` if it has one that renders, else the
/// source's default. Never empty and never longer than the contract's 2000 characters: when
/// all alerts do not fit, the first ones that do are shown and the template says how many
/// more there are; what still does not fit is cut.
pub fn render(notification: &AlertNotification, template: Option<&str>) -> String {
    let default = notification.source.default_template();
    if let Some(template) = template {
        match render_fitted(notification, template) {
            Ok(text) if !text.trim().is_empty() => return text,
            Ok(_) => tracing::warn!(
                source = %notification.source,
                "the app's template rendered nothing; using the default"
            ),
            Err(error) => tracing::warn!(
                source = %notification.source,
                error = %crate::logging::loggable(&error.to_string()),
                "the app's template failed; using the default"
            ),
        }
    }
    match render_fitted(notification, default) {
        Ok(text) if !text.trim().is_empty() => text,
        // The default renders every payload that parses; this is a last resort.
        _ => format!(
            "[{}] {} alert(s) from {}",
            notification
                .payload
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_uppercase(),
            notification.alerts.len(),
            notification.source
        ),
    }
}

/// Renders with as many alerts as fit (a binary search over how many are shown).
fn render_fitted(
    notification: &AlertNotification,
    template: &str,
) -> Result<String, TemplateError> {
    let env = environment();
    // Compiled once; the search below renders it several times.
    let compiled = env.template_from_str(template)?;
    let attempt = |shown: usize| match render_once(&compiled, notification, shown) {
        Ok(text) => Ok((fits(&text), text)),
        Err(RenderFailure::TooLong(text)) => Ok((false, text)),
        // Too much work for this many alerts: it does not fit; with none it is an error.
        Err(RenderFailure::OutOfFuel(error)) if shown == 0 => Err(error),
        Err(RenderFailure::OutOfFuel(_)) => Ok((false, String::new())),
        Err(RenderFailure::Template(error)) => Err(error),
    };
    let total = notification.alerts.len();
    let (fit, text) = attempt(total)?;
    if fit {
        return Ok(text.trim_end().to_owned());
    }
    // The largest number of alerts shown that fits; none shown if not even that does.
    let (mut low, mut high) = (0, total);
    let mut best: Option<String> = None;
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        match attempt(middle)? {
            (true, text) => {
                low = middle;
                best = Some(text);
            }
            (false, _) => high = middle - 1,
        }
    }
    // Not even one alert fits: the first one is shown, cut, rather than none.
    let text = match best {
        Some(text) if low > 0 => text,
        _ => attempt(1.min(total))?.1,
    };
    let text = text.trim_end();
    Ok(if fits(text) {
        text.to_owned()
    } else {
        cut(text)
    })
}

#[cfg(test)]
mod tests;
