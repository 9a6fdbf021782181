//! The console's Metrics tab: the EMF documents the function binaries wrote (read from
//! `fchat-local functions`' `GET /_local/metrics`), each checked against the EMF
//! specification and aggregated as CloudWatch would chart them: per metric and dimension
//! values, the sum and count, and for milliseconds p50, p90 and p99.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// One series: a metric with one set of dimension values.
#[derive(Default)]
struct Series {
    unit: String,
    namespace: String,
    values: Vec<f64>,
}

/// The series of `documents`, and how many documents CloudWatch would refuse (with the first
/// reason).
pub fn aggregate(documents: &[Value]) -> Value {
    let mut series: BTreeMap<(String, String), Series> = BTreeMap::new();
    let mut refused = 0;
    let mut first_refusal = Value::Null;
    for document in documents {
        if let Err(why) = gateway::metrics::spec::check(document) {
            refused += 1;
            if first_refusal.is_null() {
                first_refusal = json!(why);
            }
            continue;
        }
        for directive in document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let dimensions = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|key| format!("{key}={}", document[key].as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ");
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    let name = metric["Name"].as_str().unwrap_or_default().to_owned();
                    let entry = series
                        .entry((name.clone(), dimensions.clone()))
                        .or_default();
                    entry.unit = metric["Unit"].as_str().unwrap_or("None").to_owned();
                    entry.namespace = directive["Namespace"].as_str().unwrap_or("").to_owned();
                    match &document[&name] {
                        Value::Number(n) => entry.values.extend(n.as_f64()),
                        Value::Array(values) => {
                            entry.values.extend(values.iter().filter_map(Value::as_f64))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let rows: Vec<Value> = series
        .into_iter()
        .map(|((metric, dimensions), series)| {
            let mut sorted = series.values.clone();
            sorted.sort_by(f64::total_cmp);
            let sum: f64 = sorted.iter().sum();
            let mut row = json!({
                "namespace": series.namespace,
                "metric": metric,
                "unit": series.unit,
                "dimensions": dimensions,
                "samples": sorted.len(),
                "sum": sum,
            });
            if series.unit == "Milliseconds" && !sorted.is_empty() {
                for (name, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
                    row[name] = json!(percentile(&sorted, q));
                }
            }
            row
        })
        .collect();
    json!({"documents": documents.len(), "refused": refused, "first_refusal": first_refusal, "series": rows})
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_become_series_with_percentiles_and_bad_ones_are_counted() {
        let doc = |latency: f64, answer: &str| {
            json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
                {"Namespace": "FChatGateway", "Dimensions": [["Function", "Answer"]], "Metrics": [{"Name": "DeliveryAttempts", "Unit": "Count"}]},
                {"Namespace": "FChatGateway", "Dimensions": [["Function"]], "Metrics": [{"Name": "DeliveryLatency", "Unit": "Milliseconds"}]}]},
                "Function": "delivery", "Answer": answer, "DeliveryAttempts": 1, "DeliveryLatency": latency})
        };
        let mut documents: Vec<Value> = (1..=100).map(|i| doc(i as f64, "ok")).collect();
        documents.push(doc(5.0, "throttled"));
        documents.push(json!({"_aws": {"Timestamp": "now"}}));
        let view = aggregate(&documents);
        assert_eq!(view["documents"], 102);
        assert_eq!(view["refused"], 1);
        let series = view["series"].as_array().unwrap();
        let find = |metric: &str, dims: &str| {
            series
                .iter()
                .find(|s| s["metric"] == metric && s["dimensions"] == dims)
                .unwrap()
                .clone()
        };
        assert_eq!(
            find("DeliveryAttempts", "Function=delivery, Answer=ok")["sum"],
            100.0
        );
        assert_eq!(
            find("DeliveryAttempts", "Function=delivery, Answer=throttled")["sum"],
            1.0
        );
        let latency = find("DeliveryLatency", "Function=delivery");
        assert_eq!(latency["samples"], 101);
        assert_eq!(latency["p50"], 50.0);
        assert_eq!(latency["p99"], 99.0);
    }
}
