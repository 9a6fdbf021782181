//! The EMF writer's cost: the documents the services write, built with serde_json through
//! `gateway::metrics` (one document per event, written where the event happens), against the
//! same metrics with the same dimensions and log fields through the `metrics` facade, with
//! `metrics_cloudwatch_embedded` as the recorder, flushed once per invocation as a Lambda
//! function using it would have to. Both write to a `Vec` in memory, never to standard output.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, ensure, Context as _, Result};
use gateway::error::ApiError;
use gateway::metrics::catalogue::{
    DELIVERY_ATTEMPTS, DELIVERY_LATENCY, MESSAGES_ACCEPTED, MESSAGES_DELIVERED,
};
use gateway::metrics::{events, now_ms, Metric, Unit};
use metrics_cloudwatch_embedded::Collector;
use serde_json::Value;

use crate::stats::{median, thread_cpu_ns};

/// What the two cases write: an ingest request accepted on the group route, and a delivery
/// FChat took (an app name and a context id of typical length, as `cost::emf_document_bytes`).
const ROUTE: &str = "group_message";
const OUTCOME: &str = "queued";
const APP: &str = "alerts-prod";
const SOURCE: &str = "group";
const CONTEXT_ID: &str = "8c1f0d7e54a94d7f9b1c2e3a4b5c6d7e";

/// The two small Lambda binaries that `make bench` builds beside `hello-lambda` (the floor):
/// the same echo function writing these documents each invocation, one way and the other.
pub const SERDE_BINARY: &str = "hello-emf-serde";
pub const CRATE_BINARY: &str = "hello-emf-crate";

pub struct EmfCase {
    pub name: &'static str,
    /// The metrics and their dimension sets, as the document says them.
    pub metrics: &'static str,
    /// Median CPU nanoseconds per invocation.
    pub serde_ns: f64,
    pub crate_ns: f64,
    /// Bytes written per invocation, newlines included.
    pub serde_bytes: usize,
    pub crate_bytes: usize,
    /// Log lines (documents) written per invocation.
    pub serde_lines: usize,
    pub crate_lines: usize,
    /// What one invocation wrote, each way.
    pub serde_documents: String,
    pub crate_documents: String,
}

impl EmfCase {
    /// The crate's CPU over the project's.
    pub fn ratio(&self) -> f64 {
        self.crate_ns / self.serde_ns
    }

    pub fn bytes_ratio(&self) -> f64 {
        self.crate_bytes as f64 / self.serde_bytes as f64
    }
}

/// Release binaries' sizes in bytes: the floor, and the floor writing the documents each way.
pub struct EmfSizes {
    pub floor: u64,
    pub serde: u64,
    pub krate: u64,
}

pub struct EmfResult {
    pub cases: Vec<EmfCase>,
    pub rounds: usize,
    pub batch: usize,
    /// `metrics` and `metrics_cloudwatch_embedded` as `Cargo.lock` pins them.
    pub versions: String,
    pub sizes: Option<EmfSizes>,
}

// ---------------------------------------------------------------- the project's way

thread_local! {
    /// Where this thread's documents go while a measurement runs; `None` writes them to
    /// standard output, as without a sink.
    static WRITTEN: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// The sink given to `gateway::metrics::set_sink`: a line and its newline appended to this
/// thread's buffer, as `println!` would write them. Other threads (the in-process handler
/// benchmarks) still print theirs.
fn sink(line: &str) {
    WRITTEN.with(|written| match written.borrow_mut().as_mut() {
        Some(buffer) => {
            buffer.extend_from_slice(line.as_bytes());
            buffer.push(b'\n');
        }
        None => println!("{line}"),
    });
}

/// Runs `f` with this thread's documents kept in a buffer; returns what it wrote.
fn written<T>(f: impl FnOnce() -> T) -> (T, Vec<u8>) {
    WRITTEN.with(|written| *written.borrow_mut() = Some(Vec::with_capacity(4096)));
    let value = f();
    let bytes = WRITTEN.with(|written| written.borrow_mut().take().unwrap_or_default());
    (value, bytes)
}

/// Empties this thread's buffer; returns how many bytes it held.
fn clear_written() -> usize {
    WRITTEN.with(|written| {
        written.borrow_mut().as_mut().map_or(0, |buffer| {
            let bytes = buffer.len();
            buffer.clear();
            bytes
        })
    })
}

/// The ingest function's call for a request accepted (`services/ingest`).
fn serde_accepted() {
    events::request::<ApiError>(ROUTE, OUTCOME, None, Some(APP));
}

/// The delivery function's call for a message FChat took (`services/delivery`); no queueing
/// time is known outside a job's handling, so the latency runs from `created_at_s`.
fn serde_delivered(created_at_s: u64) {
    events::delivered(SOURCE, created_at_s, APP, CONTEXT_ID);
}

// ---------------------------------------------------------------- the crate's way

fn unit(metric: &Metric) -> metrics::Unit {
    match metric.unit {
        Unit::Count => metrics::Unit::Count,
        Unit::Milliseconds => metrics::Unit::Milliseconds,
    }
}

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// The process's one recorder (`metrics` has a single global one): the namespace and the
/// `Function` dimension the project's documents carry, and the metrics' units described once,
/// as a function would at start.
fn collector(namespace: &str, function: &str) -> Result<&'static Collector> {
    if let Some(collector) = COLLECTOR.get() {
        return Ok(collector);
    }
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .with_dimension(gateway::metrics::FUNCTION, function.to_owned())
        .init()
        .map_err(|error| anyhow::anyhow!("metrics_cloudwatch_embedded: {error}"))?;
    for metric in [&MESSAGES_ACCEPTED, &DELIVERY_ATTEMPTS, &MESSAGES_DELIVERED] {
        metrics::describe_counter!(metric.name, unit(metric), metric.meaning);
    }
    metrics::describe_histogram!(
        DELIVERY_LATENCY.name,
        unit(&DELIVERY_LATENCY),
        DELIVERY_LATENCY.meaning
    );
    Ok(COLLECTOR.get_or_init(|| collector))
}

/// The same request through the facade: the counter where the event happens, the log fields
/// as properties, one flush at the end of the invocation.
fn crate_accepted(collector: &Collector, out: &mut Vec<u8>) -> std::io::Result<()> {
    metrics::counter!(MESSAGES_ACCEPTED.name, "Route" => ROUTE, "Outcome" => OUTCOME).increment(1);
    collector
        .set_property("app", APP)
        .set_property("route", ROUTE)
        .set_property("outcome", OUTCOME)
        .flush(out)
}

/// The same delivery: `DeliveryAttempts` keeps its `Answer` dimension, the two others have
/// `Function` alone, as in the catalogue; the latency is a histogram (a distribution's value).
fn crate_delivered(
    collector: &Collector,
    created_at_s: u64,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let latency = now_ms().saturating_sub(created_at_s * 1000) as f64;
    metrics::counter!(DELIVERY_ATTEMPTS.name, "Answer" => "ok").increment(1);
    metrics::counter!(MESSAGES_DELIVERED.name).increment(1);
    metrics::histogram!(DELIVERY_LATENCY.name).record(latency);
    collector
        .set_property("source", SOURCE)
        .set_property("app", APP)
        .set_property("context_id", CONTEXT_ID)
        .flush(out)
}

/// Properties persist across flushes: the other case's go before a case's batch (untimed),
/// as a function only ever sets its own.
fn forget_properties(collector: &Collector, names: &[&'static str]) {
    for name in names {
        collector.remove_property(*name);
    }
}

const INGEST_PROPERTIES: [&str; 2] = ["route", "outcome"];
const DELIVERY_PROPERTIES: [&str; 2] = ["source", "context_id"];

// ---------------------------------------------------------------- checks

fn lines(bytes: &[u8]) -> Result<Vec<Value>> {
    std::str::from_utf8(bytes)?
        .lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("not JSON: {line}")))
        .collect()
}

/// Every metric of the documents: its name, unit and dimensions with their values.
type Described = BTreeSet<(String, String, Vec<(String, String)>)>;

fn described(documents: &[Value]) -> Result<Described> {
    let mut out = Described::new();
    for document in documents {
        let directives = document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .context("no _aws.CloudWatchMetrics")?;
        for directive in directives {
            for dimensions in directive["Dimensions"]
                .as_array()
                .context("no Dimensions")?
            {
                let mut dimensions: Vec<(String, String)> = dimensions
                    .as_array()
                    .context("a dimension set is not an array")?
                    .iter()
                    .map(|name| {
                        let name = name.as_str().unwrap_or_default().to_owned();
                        let value = document[&name].as_str().unwrap_or_default().to_owned();
                        (name, value)
                    })
                    .collect();
                dimensions.sort();
                for metric in directive["Metrics"].as_array().context("no Metrics")? {
                    let name = metric["Name"].as_str().unwrap_or_default().to_owned();
                    ensure!(
                        document[&name].is_number() || document[&name].is_array(),
                        "no value for {name}: {document}"
                    );
                    out.insert((
                        name,
                        metric["Unit"].as_str().unwrap_or("none").to_owned(),
                        dimensions.clone(),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// The log fields of the documents (what is neither `_aws`, a metric's value nor a
/// dimension's), with their values.
fn fields(documents: &[Value], described: &Described) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for document in documents {
        for (key, value) in document.as_object().into_iter().flatten() {
            let known = key == "_aws"
                || described
                    .iter()
                    .any(|(name, _, dims)| name == key || dims.iter().any(|(d, _)| d == key));
            if !known {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// The crate's documents say what the project's say: the same metrics, units, dimension sets
/// and values of the dimensions, the same log fields.
fn check_same(case: &str, serde: &[u8], krate: &[u8]) -> Result<()> {
    let (serde, krate) = (lines(serde)?, lines(krate)?);
    let (serde_metrics, crate_metrics) = (described(&serde)?, described(&krate)?);
    ensure!(
        !serde_metrics.is_empty() && serde_metrics == crate_metrics,
        "{case}: the crate's documents {krate:?} do not carry the metrics of the project's {serde:?}"
    );
    ensure!(
        fields(&serde, &serde_metrics) == fields(&krate, &crate_metrics),
        "{case}: the crate's documents {krate:?} do not carry the log fields of the project's {serde:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- measure

/// `rounds` rounds (and one to warm up) of `batch` invocations of each case, the project's
/// way and the crate's interleaved.
pub fn measure(rounds: usize, batch: usize, bin_dir: &Path) -> Result<EmfResult> {
    gateway::metrics::set_sink(sink);
    let created_at_s = now_ms() / 1000;

    // The project's documents, once: they name the namespace and function the recorder takes.
    let ((), serde_ingest) = written(serde_accepted);
    ensure!(
        !serde_ingest.is_empty(),
        "the metrics sink was set elsewhere: the project's documents did not reach the bench's"
    );
    let ((), serde_delivery) = written(|| serde_delivered(created_at_s));
    let first = lines(&serde_ingest)?
        .into_iter()
        .next()
        .context("no document")?;
    let namespace = first["_aws"]["CloudWatchMetrics"][0]["Namespace"]
        .as_str()
        .context("no namespace")?
        .to_owned();
    let function = first[gateway::metrics::FUNCTION]
        .as_str()
        .context("no Function")?
        .to_owned();
    let collector = collector(&namespace, &function)?;

    let mut crate_ingest = Vec::new();
    forget_properties(collector, &DELIVERY_PROPERTIES);
    crate_accepted(collector, &mut crate_ingest)?;
    let mut crate_delivery = Vec::new();
    forget_properties(collector, &INGEST_PROPERTIES);
    crate_delivered(collector, created_at_s, &mut crate_delivery)?;
    check_same("one accepted message", &serde_ingest, &crate_ingest)?;
    check_same("one delivery", &serde_delivery, &crate_delivery)?;

    let per_call = |started: u64| (thread_cpu_ns() - started) as f64 / batch as f64;
    let mut samples: [Vec<f64>; 4] = Default::default();
    let mut out = Vec::with_capacity(4096);
    // Bytes written in the timed loops: every invocation wrote its documents.
    let mut total = [0usize; 4];
    written(|| -> Result<()> {
        for round in 0..rounds + 1 {
            let started = thread_cpu_ns();
            for _ in 0..batch {
                serde_accepted();
                total[0] += clear_written();
            }
            let serde_ingest_ns = per_call(started);

            forget_properties(collector, &DELIVERY_PROPERTIES);
            let started = thread_cpu_ns();
            for _ in 0..batch {
                crate_accepted(collector, &mut out)?;
                total[1] += out.len();
                out.clear();
            }
            let crate_ingest_ns = per_call(started);

            let started = thread_cpu_ns();
            for _ in 0..batch {
                serde_delivered(created_at_s);
                total[2] += clear_written();
            }
            let serde_delivery_ns = per_call(started);

            forget_properties(collector, &INGEST_PROPERTIES);
            let started = thread_cpu_ns();
            for _ in 0..batch {
                crate_delivered(collector, created_at_s, &mut out)?;
                total[3] += out.len();
                out.clear();
            }
            let crate_delivery_ns = per_call(started);

            // Round 0 warms caches and the allocator up.
            if round > 0 {
                for (samples, ns) in samples.iter_mut().zip([
                    serde_ingest_ns,
                    crate_ingest_ns,
                    serde_delivery_ns,
                    crate_delivery_ns,
                ]) {
                    samples.push(ns);
                }
            }
        }
        Ok(())
    })
    .0?;

    let invocations = (rounds + 1) * batch;
    for (total, expected) in total.iter().zip([
        &serde_ingest,
        &crate_ingest,
        &serde_delivery,
        &crate_delivery,
    ]) {
        // The latency's digits may differ from the checked documents'.
        ensure!(
            total.abs_diff(expected.len() * invocations) <= 8 * invocations,
            "the timed invocations wrote {total} bytes, not about {} each",
            expected.len()
        );
    }
    let count = |bytes: &[u8]| bytes.iter().filter(|b| **b == b'\n').count();
    let cases = vec![
        EmfCase {
            name: "one accepted message (ingest)",
            metrics: "MessagesAccepted {Function, Route, Outcome}",
            serde_ns: median(&samples[0]),
            crate_ns: median(&samples[1]),
            serde_bytes: serde_ingest.len(),
            crate_bytes: crate_ingest.len(),
            serde_lines: count(&serde_ingest),
            crate_lines: count(&crate_ingest),
            serde_documents: String::from_utf8_lossy(&serde_ingest).into_owned(),
            crate_documents: String::from_utf8_lossy(&crate_ingest).into_owned(),
        },
        EmfCase {
            name: "one delivery",
            metrics:
                "DeliveryAttempts {Function, Answer}; MessagesDelivered, DeliveryLatency {Function}",
            serde_ns: median(&samples[2]),
            crate_ns: median(&samples[3]),
            serde_bytes: serde_delivery.len(),
            crate_bytes: crate_delivery.len(),
            serde_lines: count(&serde_delivery),
            crate_lines: count(&crate_delivery),
            serde_documents: String::from_utf8_lossy(&serde_delivery).into_owned(),
            crate_documents: String::from_utf8_lossy(&crate_delivery).into_owned(),
        },
    ];
    Ok(EmfResult {
        cases,
        rounds,
        batch,
        versions: ["metrics", "metrics_cloudwatch_embedded"]
            .iter()
            .map(|name| format!("{name} {}", locked_version(name).unwrap_or("?".into())))
            .collect::<Vec<_>>()
            .join(", "),
        sizes: sizes(bin_dir),
    })
}

fn sizes(bin_dir: &Path) -> Option<EmfSizes> {
    let size = |name: &str| std::fs::metadata(bin_dir.join(name)).ok().map(|m| m.len());
    Some(EmfSizes {
        floor: size(crate::report::FLOOR)?,
        serde: size(SERDE_BINARY)?,
        krate: size(CRATE_BINARY)?,
    })
}

/// A package's version as the workspace's `Cargo.lock` pins it.
fn locked_version(name: &str) -> Option<String> {
    let lock = std::fs::read_to_string(fchat_local::workspace_root().join("Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            return lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned);
        }
    }
    None
}

/// For `--emf-only`: the figures, one line per case.
pub fn print(result: &EmfResult) -> Result<()> {
    if result.cases.is_empty() {
        bail!("nothing measured");
    }
    for c in &result.cases {
        println!(
            "{}: serde {:.0} ns, {} bytes in {} line(s); crate {:.0} ns, {} bytes in {} line(s); crate/serde {:.2}× CPU, {:.2}× bytes",
            c.name,
            c.serde_ns,
            c.serde_bytes,
            c.serde_lines,
            c.crate_ns,
            c.crate_bytes,
            c.crate_lines,
            c.ratio(),
            c.bytes_ratio()
        );
        print!(
            "  serde:\n{}  crate:\n{}",
            c.serde_documents, c.crate_documents
        );
    }
    if let Some(s) = &result.sizes {
        println!(
            "release binaries: {} {} bytes, {} {} bytes (+{}), {} {} bytes (+{})",
            crate::report::FLOOR,
            s.floor,
            SERDE_BINARY,
            s.serde,
            s.serde as i64 - s.floor as i64,
            CRATE_BINARY,
            s.krate,
            s.krate as i64 - s.floor as i64
        );
    }
    println!("{}", result.versions);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_write_the_same_metrics_to_the_buffer() {
        let result = measure(1, 5, Path::new("/nonexistent")).unwrap();
        assert_eq!(result.cases.len(), 2);
        let [ingest, delivery] = &result.cases[..] else {
            unreachable!()
        };
        assert_eq!((ingest.serde_lines, ingest.crate_lines), (1, 1));
        // The crate writes a document per label set: DeliveryAttempts has Answer, the others not.
        assert_eq!((delivery.serde_lines, delivery.crate_lines), (1, 2));
        assert!(ingest.serde_ns > 0.0 && ingest.crate_ns > 0.0);
        assert!(result.sizes.is_none());
    }
}
