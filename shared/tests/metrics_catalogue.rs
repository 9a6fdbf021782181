//! The metrics the code emits, docs/metrics.md and template.yaml's dashboard and alarms: kept
//! equal.

use std::collections::BTreeSet;
use std::path::Path;

use gateway::metrics::catalogue::ALL;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn names() -> BTreeSet<&'static str> {
    ALL.iter().map(|metric| metric.name).collect()
}

#[test]
fn every_metric_file_is_registered_once() {
    let dir = root().join("shared/src/metrics/catalogue");
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name() != "mod.rs")
        .count();
    assert_eq!(files, ALL.len(), "a metric file not in catalogue::ALL");
    assert_eq!(names().len(), ALL.len(), "two metrics share a name");
    for metric in ALL {
        assert_eq!(
            metric.dimensions.first(),
            Some(&"Function"),
            "{}",
            metric.name
        );
        assert!(
            metric.dimensions.len() <= 3,
            "{}: few dimensions",
            metric.name
        );
        assert!(!metric
            .dimensions
            .iter()
            .any(|d| d.eq_ignore_ascii_case("app")));
    }
    // Each metric is emitted somewhere: named in the events the services report.
    let events = read("shared/src/metrics/events.rs");
    for metric in ALL {
        let constant = metric
            .name
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let upper = c.is_ascii_uppercase() && i > 0;
                upper.then_some('_').into_iter().chain(c.to_uppercase())
            })
            .collect::<String>();
        assert!(
            events.contains(&format!("&{constant}")),
            "{} is never emitted",
            metric.name
        );
    }
}

#[test]
fn docs_metrics_md_lists_exactly_what_the_code_emits() {
    let doc = read("docs/metrics.md");
    let rows: Vec<Vec<String>> = doc
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect();
    let documented: Vec<(String, String, String)> = rows
        .iter()
        .map(|row| {
            (
                row[0].trim_matches('`').to_owned(),
                row[1].clone(),
                row[2].clone(),
            )
        })
        .collect();
    let emitted: Vec<(String, String, String)> = ALL
        .iter()
        .map(|metric| {
            (
                metric.name.to_owned(),
                metric.unit.as_str().to_owned(),
                metric.dimensions.join(", "),
            )
        })
        .collect();
    assert_eq!(
        documented, emitted,
        "docs/metrics.md's table, in catalogue::ALL's order"
    );
}

/// The dashboard's body as CloudWatch gets it, `${...}` replaced by the names they stand for.
fn dashboard() -> Value {
    let template = read("template.yaml");
    let body = template
        .split("DashboardBody: !Sub |\n")
        .nth(1)
        .expect("the dashboard")
        .split("\n\n")
        .next()
        .unwrap();
    let mut substituted = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("${") {
        substituted.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap() + at;
        substituted.push_str(&rest[at + 2..end].replace("::", "-"));
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    serde_json::from_str(&substituted).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

#[test]
fn every_metric_the_dashboard_names_is_one_the_code_emits() {
    let dashboard = dashboard();
    let mut named = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for line in widget["properties"]["metrics"].as_array().unwrap() {
            let line = line.as_array().unwrap();
            match line.first() {
                // ["Namespace", "Metric", dimension, value, ...]
                Some(Value::String(namespace)) if namespace == "MetricsNamespace" => {
                    named.insert(line[1].as_str().unwrap().to_owned());
                }
                Some(Value::String(_)) => {} // AWS's own ("AWS/SQS") or "..." (the line above)
                Some(Value::Object(expression)) => {
                    let text = expression["expression"].as_str().unwrap();
                    let name = text
                        .split("MetricName=\"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_else(|| panic!("{text}"));
                    assert!(text.contains("{MetricsNamespace,"), "{text}");
                    named.insert(name.to_owned());
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let emitted: BTreeSet<String> = names().iter().map(|n| n.to_string()).collect();
    let unknown: Vec<_> = named.difference(&emitted).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard names metrics no code emits: {unknown:?}"
    );
    // What the issue asks to see: volume, latency, errors by reason, retries, webhook failures.
    for wanted in [
        "MessagesAccepted",
        "MessagesDelivered",
        "DeliveryLatency",
        "MessagesRefused",
        "DeliveryRetries",
        "WebhookForwards",
    ] {
        assert!(named.contains(wanted), "the dashboard lacks {wanted}");
    }
    assert!(dashboard
        .to_string()
        .contains("ApproximateNumberOfMessagesVisible"));
}

#[test]
fn the_alarms_watch_metrics_the_code_emits_with_their_dimensions() {
    let template = read("template.yaml");
    for (alarm, metric) in [
        ("DeliveryLatencyAlarm", "DeliveryLatency"),
        ("DeliveryFailureRateAlarm", "MessagesFailed"),
        ("DeliveryFailureRateAlarm", "MessagesDelivered"),
    ] {
        let section = template
            .split(&format!("\n  {alarm}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("{alarm}"))
            .split("\n\n")
            .next()
            .unwrap();
        assert!(
            section.contains(&format!("MetricName: {metric}")),
            "{alarm}"
        );
        let declared = ALL.iter().find(|m| m.name == metric).unwrap();
        // The alarm names the function alone: the metric must have no other dimension.
        assert_eq!(declared.dimensions, ["Function"], "{metric}");
        assert!(section.contains("Value: delivery"), "{alarm}");
    }
}
