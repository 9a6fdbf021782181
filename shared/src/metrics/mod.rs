//! The functions' metrics, in CloudWatch's Embedded Metric Format (EMF): no `PutMetricData`
//! call, no extra request. Each emission is one JSON document written as a line of its own to
//! standard output with `_aws` at its root, where CloudWatch Logs looks for it (a document
//! nested under `tracing`'s `fields` would count for nothing). Lambda passes a line that is
//! already a JSON object through unchanged under the template's `LogFormat: JSON` ("Lambda
//! doesn't double-encode logs that are already JSON"), and CloudWatch extracts the metrics
//! from the log event.
//!
//! Every metric is declared once, one file each under [`catalogue`], and registered in
//! [`catalogue::ALL`]; `docs/metrics.md` lists them and a test keeps the two equal. Dimensions
//! stay few: the function, the route or source, the outcome or reason. An app's name is a log
//! field of the document, never a dimension (1,000 apps must not make 1,000 metrics).
//!
//! The documents are written with serde_json, not a metrics crate: one line per event, built
//! where the event happens, costs a map and a `println!` (`make bench` measures it).

use std::cell::RefCell;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

pub mod catalogue;
pub mod events;
pub mod spec;

/// The variable naming the metrics' namespace (template parameter `MetricsNamespace`).
pub const NAMESPACE_VARIABLE: &str = "METRICS_NAMESPACE";
/// The namespace when none is set.
pub const DEFAULT_NAMESPACE: &str = "FChatGateway";
/// The dimension every metric has: which function emitted it.
pub const FUNCTION: &str = "Function";

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric: its name, unit, dimensions (`Function` first) and meaning.
#[derive(Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
    pub meaning: &'static str,
}

struct Setup {
    function: &'static str,
    namespace: String,
}

static SETUP: OnceLock<Setup> = OnceLock::new();

/// Names the function whose metrics these are, and reads the namespace from
/// [`NAMESPACE_VARIABLE`]; call once in `main`. Before it, documents say `unknown`.
pub fn init(function: &'static str) {
    let namespace = std::env::var(NAMESPACE_VARIABLE)
        .ok()
        .filter(|namespace| !namespace.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let _ = SETUP.set(Setup {
        function,
        namespace,
    });
}

fn function() -> &'static str {
    SETUP.get().map_or("unknown", |setup| setup.function)
}

fn namespace() -> &'static str {
    SETUP
        .get()
        .map_or(DEFAULT_NAMESPACE, |setup| setup.namespace.as_str())
}

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

static SINK: OnceLock<fn(&str)> = OnceLock::new();

/// Sends every document to `sink` instead of standard output (the benchmarks count them).
pub fn set_sink(sink: fn(&str)) {
    let _ = SINK.set(sink);
}

/// Keeps the documents emitted on this thread (a `#[tokio::test]`'s runtime) until dropped,
/// instead of writing them.
pub struct Capture(());

impl Capture {
    pub fn start() -> Capture {
        CAPTURED.with(|captured| *captured.borrow_mut() = Some(Vec::new()));
        Capture(())
    }

    /// The documents so far, parsed.
    pub fn documents(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str(line).expect("a document is JSON"))
            .collect()
    }

    pub fn lines(&self) -> Vec<String> {
        CAPTURED.with(|captured| captured.borrow().clone().unwrap_or_default())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURED.with(|captured| *captured.borrow_mut() = None);
    }
}

fn write(line: String) {
    let kept = CAPTURED.with(|captured| match captured.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(line.clone());
            true
        }
        None => false,
    });
    if kept {
        return;
    }
    match SINK.get() {
        Some(sink) => sink(&line),
        None => println!("{line}"),
    }
}

tokio::task_local! {
    static QUEUED_AT_MS: Option<u64>;
}

/// Runs a queued job's handling knowing when the job was queued (SQS's `SentTimestamp`), for
/// the latency from accepted to delivered.
pub async fn with_queued_at<F: Future>(queued_at_ms: Option<u64>, job: F) -> F::Output {
    QUEUED_AT_MS.scope(queued_at_ms, job).await
}

/// When the job being handled was queued, if known.
pub fn queued_at_ms() -> Option<u64> {
    QUEUED_AT_MS.try_with(|at| *at).ok().flatten()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// One thing that happened: its metrics' values, their dimensions' values and log fields,
/// written as one EMF document by [`Event::emit`].
#[derive(Debug, Default)]
pub struct Event {
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(&'static Metric, f64)>,
    fields: Vec<(&'static str, Value)>,
}

impl Event {
    pub fn new() -> Event {
        Event::default()
    }

    /// A dimension's value (a short, bounded word: a route, an outcome, a reason).
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Event {
        self.dimensions.push((name, value.into()));
        self
    }

    /// A metric's value.
    pub fn value(mut self, metric: &'static Metric, value: f64) -> Event {
        self.values.push((metric, value));
        self
    }

    /// One of a count.
    pub fn count(self, metric: &'static Metric) -> Event {
        self.value(metric, 1.0)
    }

    /// A log field (an app's name, a context id): searchable in Logs Insights, never a
    /// dimension.
    pub fn field(mut self, name: &'static str, value: impl Into<Value>) -> Event {
        self.fields.push((name, value.into()));
        self
    }

    /// Writes the document, a line of its own.
    pub fn emit(self) {
        if self.values.is_empty() {
            return;
        }
        write(self.document(now_ms()).to_string());
    }

    /// The EMF document: one directive per dimension set, the dimensions' and metrics' values
    /// and the fields at the root. A dimension a metric has and the event does not is `none`.
    pub fn document(&self, timestamp_ms: u64) -> Value {
        let mut root = Map::new();
        let mut directives: Vec<(&'static [&'static str], Vec<Value>)> = Vec::new();
        for (metric, value) in &self.values {
            let definition = json!({"Name": metric.name, "Unit": metric.unit.as_str()});
            match directives
                .iter_mut()
                .find(|(dimensions, _)| *dimensions == metric.dimensions)
            {
                Some((_, metrics)) => metrics.push(definition),
                None => directives.push((metric.dimensions, vec![definition])),
            }
            let total = root.get(metric.name).and_then(Value::as_f64).unwrap_or(0.0);
            root.insert(metric.name.into(), json!(total + value));
            for dimension in metric.dimensions {
                let value = if *dimension == FUNCTION {
                    function().to_owned()
                } else {
                    self.dimensions
                        .iter()
                        .find(|(name, _)| name == dimension)
                        .map(|(_, value)| value.clone())
                        .filter(|value| !value.is_empty())
                        .unwrap_or_else(|| "none".to_owned())
                };
                root.insert((*dimension).into(), Value::String(value));
            }
        }
        for (name, value) in &self.fields {
            root.entry(*name).or_insert_with(|| value.clone());
        }
        let directives: Vec<Value> = directives
            .into_iter()
            .map(|(dimensions, metrics)| {
                json!({"Namespace": namespace(), "Dimensions": [dimensions], "Metrics": metrics})
            })
            .collect();
        root.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        Value::Object(root)
    }
}

/// An error's name in the catalogue (`UserNotFound`), for a `Reason` dimension: bounded by
/// the catalogue, whatever the error carries.
pub fn reason(error: &impl std::fmt::Debug) -> String {
    let name = format!("{error:?}");
    name.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::catalogue::*;
    use super::*;

    #[test]
    fn an_event_is_one_document_with_a_directive_per_dimension_set() {
        let event = Event::new()
            .dimension("Outcome", "ok")
            .count(&WEBHOOK_FORWARDS)
            .value(&WEBHOOK_LATENCY, 12.5)
            .count(&BOT_REPLIES)
            .field("app", "MY_APP");
        let document = event.document(1_800_000_000_000);
        assert_eq!(document["_aws"]["Timestamp"], 1_800_000_000_000u64);
        let directives = document["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2, "{document}");
        assert_eq!(
            directives[0]["Dimensions"],
            json!([["Function", "Outcome"]])
        );
        assert_eq!(
            directives[0]["Metrics"],
            json!([{"Name": "WebhookForwards", "Unit": "Count"}, {"Name": "WebhookLatency", "Unit": "Milliseconds"}])
        );
        assert_eq!(directives[1]["Dimensions"], json!([["Function"]]));
        assert_eq!(document["Outcome"], "ok");
        assert_eq!(document["WebhookLatency"], 12.5);
        assert_eq!(document["app"], "MY_APP");
        assert!(!document.to_string().contains('\n'));
    }

    #[test]
    fn a_reason_is_the_errors_name_without_what_it_carries() {
        let error = crate::api::error::ApiError::UserNotFound("a@b.co".into());
        assert_eq!(reason(&error), "UserNotFound");
        assert_eq!(reason(&crate::api::error::ApiError::Internal), "Internal");
    }
}
