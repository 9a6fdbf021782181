//! Prometheus Alertmanager: its `webhook_config` payload (version 4), its default template and
//! sample, and the links that silence its alerts. What it shares with Grafana is in
//! [`super`].

use serde_json::{Map, Value};

/// A payload as Alertmanager sends it, for dry runs of a template.
pub(super) const SAMPLE: &str = include_str!("samples/alertmanager-firing.json");

/// Alertmanager's webhook payload says `"version": "4"`.
pub(super) fn accepts_version(version: Option<&Value>) -> bool {
    version == Some(&Value::from("4"))
}

/// Alertmanager's UI link that opens a new silence for exactly these labels.
pub(super) fn silence_url(external_url: &str, labels: &Map<String, Value>) -> Option<String> {
    let base = external_url.trim_end_matches('/');
    if base.is_empty() || labels.is_empty() {
        return None;
    }
    let mut matchers: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect();
    matchers.sort();
    let filter = format!("{{{}}}", matchers.join(","));
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    Some(format!("{base}/#/silences/new?filter={encoded}"))
}

/// The template used when the app has none of its own for Alertmanager.
pub(super) const TEMPLATE: &str = concat!(
    alert_template_head!(),
    r#"
{%- endfor %}
{%- if more %}

...and {{ more }} more{% if truncated %} ({{ truncated }} left out by Alertmanager){% endif %}{% endif %}
{%- if silenceURL and status == "firing" %}

Silence: {{ silenceURL }}{% endif %}"#
);
