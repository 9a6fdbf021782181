//! Grafana's webhook contact point (unified alerting): its payload's version rule, its
//! default template and sample. What it shares with Alertmanager is in [`super`].

use serde_json::Value;

/// A payload as Grafana sends it, for dry runs of a template.
pub(super) const SAMPLE: &str = include_str!("samples/grafana-firing.json");

/// Grafana's payload, when it says a version, says `"1"`.
pub(super) fn accepts_version(version: Option<&Value>) -> bool {
    version.is_none() || version == Some(&Value::from("1"))
}

/// The template used when the app has none of its own for Grafana.
pub(super) const TEMPLATE: &str = concat!(
    alert_template_head!(),
    r#"
{%- if alert.dashboardURL %}
Dashboard: {{ alert.dashboardURL }}{% endif %}
{%- if alert.panelURL %}
Panel: {{ alert.panelURL }}{% endif %}
{%- if alert.silenceURL and alert.status == "firing" %}
Silence: {{ alert.silenceURL }}{% endif %}
{%- endfor %}
{%- if more %}

...and {{ more }} more{% if truncated %} ({{ truncated }} left out by Grafana){% endif %}{% endif %}"#
);
