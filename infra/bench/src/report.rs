//! Runs the cold starts, reads the package sizes, and writes the two documents.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Result};
use bytes::Bytes;
use serde_json::Value;

use crate::coldstart::ColdStart;
use crate::cost_report::{cost_document, cost_estimates, cost_target, IDLE_TARGET};
use crate::cpu::CpuResult;
use crate::e2e::E2eResult;
use crate::emf::EmfResult;
use crate::fanout::FanoutResult;
use crate::local::{self, Services};
use crate::stats::{median, percentile};
use crate::{cost, Options};

pub const FUNCTIONS: [&str; 3] = ["ingest", "delivery", "callback"];
pub const FLOOR: &str = "hello-lambda";

#[derive(Default)]
pub struct Results {
    pub cpu: Vec<CpuResult>,
    pub fanout: Option<FanoutResult>,
    /// By binary name, the floor included.
    pub cold: BTreeMap<String, Vec<ColdStart>>,
    pub packages: Vec<(String, Option<u64>)>,
    pub e2e: Option<E2eResult>,
    /// Milliseconds of one `GetParameters` of the bot token from a fresh client, per round.
    pub secrets_read_ms: Vec<f64>,
    /// The EMF writer, the project's way against `metrics_cloudwatch_embedded`.
    pub emf: Option<EmfResult>,
}

/// `options.runs` cold starts of each binary, interleaved so that the machine's noise falls
/// on all of them alike; and, once a round, the secrets' read that every init includes.
pub async fn cold_starts(
    options: &Options,
) -> Result<(BTreeMap<String, Vec<ColdStart>>, Vec<f64>)> {
    let services = Services::start().await?;
    let env = services.function_env();
    let mut cold: BTreeMap<String, Vec<ColdStart>> = BTreeMap::new();
    let mut secrets_read_ms = Vec::new();
    for _ in 0..options.runs {
        secrets_read_ms.push(services.secrets_read_ms().await?);
        for name in [FLOOR, "ingest", "delivery", "callback"] {
            let events: Vec<Bytes> = match name {
                "ingest" => (0..2)
                    .map(|_| {
                        local::http_event(
                            &crate::world::user_path(),
                            &[],
                            &crate::world::typical_user_message(),
                        )
                    })
                    .collect(),
                "delivery" => vec![
                    local::sqs_event(&[services.queued_job().await?]),
                    local::sqs_event(&[services.queued_job().await?]),
                ],
                "callback" => (0..2).map(|_| local::room_message_event()).collect(),
                _ => vec![
                    Bytes::from_static(b"{\"n\":1}"),
                    Bytes::from_static(b"{\"n\":2}"),
                ],
            };
            let binary = options.bin_dir.join(name);
            let (timing, answers) = crate::coldstart::run(name, &binary, &env, events).await?;
            for answer in &answers {
                check_answer(name, answer)?;
            }
            cold.entry(name.to_owned()).or_default().push(timing);
        }
    }
    Ok((cold, secrets_read_ms))
}

/// One line per binary: the medians of its cold starts, init against the floor's.
pub fn cold_start_lines(cold: &BTreeMap<String, Vec<ColdStart>>) -> Vec<String> {
    let pick = |name: &str, f: fn(&ColdStart) -> f64| {
        median(
            &cold
                .get(name)
                .map(|runs| runs.iter().map(f).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    };
    let floor = pick(FLOOR, |c| c.init_ms);
    [FLOOR, "ingest", "delivery", "callback"]
        .iter()
        .map(|name| {
            let init = pick(name, |c| c.init_ms);
            format!(
                "{name}: init {init:.2} ms ({:.2}× the floor), first request {:.2} ms, warm {:.2} ms, peak RSS {:.1} MB ({} runs)",
                init / floor.max(0.001),
                pick(name, |c| c.first_ms),
                pick(name, |c| c.warm_ms),
                pick(name, |c| c.peak_rss_kib as f64) / 1024.0,
                cold.get(*name).map_or(0, Vec::len)
            )
        })
        .collect()
}

/// The functions did their work: a 200 from the HTTP functions, no failed item from delivery.
fn check_answer(name: &str, answer: &[u8]) -> Result<()> {
    let ok = match name {
        "ingest" | "callback" => local::answer_status(answer) == 200,
        "delivery" => serde_json::from_slice::<Value>(answer)
            .ok()
            .and_then(|v| v["batchItemFailures"].as_array().map(Vec::is_empty))
            .unwrap_or(false),
        _ => true,
    };
    if !ok {
        bail!("{name} answered {}", String::from_utf8_lossy(answer));
    }
    Ok(())
}

pub fn packages(zip_dir: &Path) -> Vec<(String, Option<u64>)> {
    FUNCTIONS
        .iter()
        .map(|f| {
            let size = std::fs::metadata(zip_dir.join(f).join("bootstrap.zip"))
                .ok()
                .map(|m| m.len());
            ((*f).to_owned(), size)
        })
        .collect()
}

const PACKAGE_BUDGET: u64 = 4 * 1024 * 1024;
const RSS_BUDGET_KIB: u64 = 32 * 1024;

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{cpu}, {cores} cores, {memory_gib:.0} GiB; {}; {}",
        command("uname", &["-srm"]),
        command("rustc", &["--version"])
    )
}

pub fn write(options: &Options, r: &Results) -> Result<()> {
    std::fs::create_dir_all(&options.out)?;
    let mut md = String::new();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    writeln!(md, "# Benchmarks\n")?;
    writeln!(
        md,
        "Written by `make bench` on {date}; do not edit by hand. Machine: {}.\n",
        machine()
    )?;
    writeln!(
        md,
        "The machine is noisy (2 shared cores), so every figure is a median over repeated runs, \
         and where a budget is relative its floor was measured side by side in the same run \
         (interleaved with the measured runs). Cold starts and the end-to-end run use the \
         release profile of `Cargo.toml` on this machine's architecture; package sizes are the \
         arm64 zips `make build` makes.\n"
    )?;
    writeln!(
        md,
        "To reproduce: `make bench` (it builds what it needs, about 10 minutes here). \
                  `make bench BENCH_ARGS='--runs 31 --messages 2000'` measures longer.\n"
    )?;

    // ---------------------------------------------------------------- summary
    writeln!(md, "## Summary\n")?;
    writeln!(md, "| # | Measure | Figure | Budget | |")?;
    writeln!(md, "|---|---|---|---|---|")?;
    let floor_init = median(&inits(r, FLOOR));
    for f in FUNCTIONS {
        let ratio = median(&inits(r, f)) / floor_init;
        writeln!(
            md,
            "| 1 | Cold start (exec to first `next`), {f} | {ratio:.2}× hello-world | ≤ 3× | {} |",
            met(ratio <= 3.0)
        )?;
    }
    for c in &r.cpu {
        writeln!(
            md,
            "| 2 | Ingest handler CPU, {} | {:.2}× serde_json parse + serialise | ≤ 3× | {} |",
            c.name,
            c.ratio(),
            met(c.ratio() <= 3.0)
        )?;
    }
    if let Some(f) = &r.fanout {
        writeln!(
            md,
            "| 3 | Delivery batch of {} vs one send (FChat at {} ms) | {:.2}× | ≤ 1.5× | {} |",
            f.batch_size,
            crate::fanout::LATENCY_MS,
            f.ratio(),
            met(f.ratio() <= 1.5)
        )?;
    }
    for (f, size) in &r.packages {
        match size {
            Some(size) => writeln!(
                md,
                "| 4 | Package, {f} (arm64 zip) | {:.2} MB ({size} bytes) | ≤ 4 MB | {} |",
                *size as f64 / 1024.0 / 1024.0,
                met(*size <= PACKAGE_BUDGET)
            )?,
            None => writeln!(
                md,
                "| 4 | Package, {f} (arm64 zip) | not built (run `make build`) | ≤ 4 MB | — |"
            )?,
        }
    }
    if let Some(e) = &r.e2e {
        for (f, kib) in [
            ("ingest", e.ingest_rss_kib),
            ("delivery", e.delivery_rss_kib),
        ] {
            writeln!(
                md,
                "| 5 | Peak RSS, {f}, {} messages | {:.1} MB | ≤ 32 MB | {} |",
                e.messages,
                kib as f64 / 1024.0,
                met(kib <= RSS_BUDGET_KIB)
            )?;
        }
        writeln!(
            md,
            "| 6 | Accepted to FChat, {} messages | p50 {:.0} ms, p99 {:.0} ms | reported | — |",
            e.messages,
            percentile(&e.e2e_ms, 50.0),
            percentile(&e.e2e_ms, 99.0)
        )?;
    }
    let estimates = cost_estimates(r);
    for (name, doors) in &estimates {
        for (door, estimate) in doors {
            let target = cost_target(name, *door);
            writeln!(
                md,
                "| 7 | Cost per million delivered, {name}, {} | ${:.2} | {} | {} |",
                door.name(),
                estimate.total(),
                target.map_or("reported".to_owned(), |t| format!("≤ ${t:.2}")),
                target.map_or("—", |t| met(estimate.total() <= t))
            )?;
        }
    }
    writeln!(
        md,
        "| 7 | Cost of an idle month | ${:.2} | ≤ ${IDLE_TARGET:.2} | {} |",
        cost::idle_month().total(),
        met(cost::idle_month().total() <= IDLE_TARGET)
    )?;
    for c in r.emf.iter().flat_map(|e| &e.cases) {
        writeln!(
            md,
            "| 8 | EMF writer, {}: `metrics` + metrics_cloudwatch_embedded / serde_json | \
             {:.2}× CPU ({:.2} µs vs {:.2} µs), {:.2}× bytes ({} vs {}) | reported | — |",
            c.name,
            c.ratio(),
            c.crate_ns / 1000.0,
            c.serde_ns / 1000.0,
            c.bytes_ratio(),
            c.crate_bytes,
            c.serde_bytes
        )?;
    }
    writeln!(md)?;

    // ---------------------------------------------------------------- cold start
    writeln!(md, "## 1. Cold start\n")?;
    writeln!(
        md,
        "Each binary is started {} times from nothing under a Runtime API stub on loopback \
         (`infra/bench/src/coldstart.rs`), with the environment a deployed function has and \
         moto, the FChat simulator and a webhook receiver behind it. *Init* runs from exec to \
         the first `GET /next`, so it includes reading the function's secrets from moto's \
         Parameter Store (one `GetParameters` request); *first* and *warm* from `/next` \
         handing out the first and second event to the function's `/response`. The floor, `hello-lambda`, is \
         `lambda_runtime`'s echo example with its tracing subscriber, built with the same \
         profile. Events: ingest a user message with buttons, delivery a one-job batch, \
         callback a room message forwarded to the app's webhook.\n",
        r.cold.get(FLOOR).map_or(0, Vec::len)
    )?;
    writeln!(
        md,
        "| Binary | Init (median) | Init / floor | First request | Warm request | First / warm | Peak RSS after two requests |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|")?;
    for name in [FLOOR, "ingest", "delivery", "callback"] {
        let runs = r.cold.get(name).map(Vec::as_slice).unwrap_or_default();
        let pick = |f: fn(&ColdStart) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let (init, first, warm) = (
            pick(|c| c.init_ms),
            pick(|c| c.first_ms),
            pick(|c| c.warm_ms),
        );
        let rss = pick(|c| c.peak_rss_kib as f64) / 1024.0;
        writeln!(
            md,
            "| {name} | {init:.2} ms | {:.2}× | {first:.2} ms | {warm:.2} ms | {:.2}× | {rss:.1} MB |",
            init / floor_init,
            first / warm.max(0.001)
        )?;
    }
    writeln!(md)?;
    if !r.secrets_read_ms.is_empty() {
        writeln!(
            md,
            "Each init reads its function's secrets with one `GetParameters` request: to moto, \
             from a fresh client and connection, {:.2} ms (median of {}, measured between the \
             rounds), most of the functions' init beyond the floor. Against SSM in a region it \
             is a TLS handshake and a request instead.\n",
            median(&r.secrets_read_ms),
            r.secrets_read_ms.len()
        )?;
    }

    // ---------------------------------------------------------------- CPU
    writeln!(md, "## 2. Ingest handler cost\n")?;
    writeln!(
        md,
        "CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`) per request of `Ingest::handle` \
         on in-memory ports (`infra/bench/src/cpu.rs`), the user route, including its JSON \
         log line (formatted into a counting sink), against `serde_json` parsing the same body \
         into a `Value` and serialising it again. {} rounds of 400 requests each, the two \
         interleaved; each round starts from a fresh store.\n",
        options.runs + 6
    )?;
    writeln!(
        md,
        "| Body | Bytes | Handler | Floor | Ratio | Log bytes per request |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|")?;
    for c in &r.cpu {
        writeln!(
            md,
            "| {} | {} | {:.1} µs | {:.1} µs | {:.2}× | {:.0} |",
            c.name,
            c.body_bytes,
            c.handler_ns / 1000.0,
            c.floor_ns / 1000.0,
            c.ratio(),
            c.log_bytes
        )?;
    }
    writeln!(md)?;

    // ---------------------------------------------------------------- fan-out
    if let Some(f) = &r.fanout {
        writeln!(md, "## 3. Fan-out\n")?;
        writeln!(
            md,
            "`deliver_batch` in process (`infra/bench/src/fanout.rs`) with the real FChat \
             adapter against the simulator on loopback, which holds every `sendMessage` for \
             {} ms; the stores are in memory. Warm connections, as in a warm function. \
             Median of rounds alternating a batch of one and a batch of {}, each message of \
             a batch to a chat of its own (one chat's messages run in order, one after the \
             other).\n",
            crate::fanout::LATENCY_MS,
            f.batch_size
        )?;
        writeln!(md, "| Batch | Time |\n|---|---|")?;
        writeln!(md, "| 1 | {:.1} ms |", f.single_ms)?;
        writeln!(
            md,
            "| {} | {:.1} ms ({:.2}×; sequential would be {}×) |\n",
            f.batch_size,
            f.batch_ms,
            f.ratio(),
            f.batch_size
        )?;
    }

    // ---------------------------------------------------------------- packages
    writeln!(md, "## 4. Package size\n")?;
    writeln!(
        md,
        "`make build` (`cargo lambda build --release --arm64 --output-format zip`); the \
         release profile optimises for size (`opt-level = \"s\"`, LTO, one codegen unit, \
         `panic = \"abort\"`, stripped).\n"
    )?;
    writeln!(md, "| Function | Zip | Budget |\n|---|---|---|")?;
    for (f, size) in &r.packages {
        match size {
            Some(size) => writeln!(md, "| {f} | {size} bytes | {PACKAGE_BUDGET} bytes |")?,
            None => writeln!(md, "| {f} | not built | {PACKAGE_BUDGET} bytes |")?,
        }
    }
    writeln!(md)?;

    // ---------------------------------------------------------------- e2e
    if let Some(e) = &r.e2e {
        writeln!(md, "## 5 and 6. Memory and end-to-end latency\n")?;
        writeln!(
            md,
            "{} messages sent {} at a time to the local API gateway (`infra/bench/src/e2e.rs`): \
             half group alerts without buttons, half user questions with two buttons. They go \
             through the real ingest binary, moto's SQS, the event-source poller and the real \
             delivery binary to the FChat simulator; {:.1} s in all. Peak RSS is `VmHWM` of \
             each function's process at the end. Latency runs from the send API's answer \
             reaching the client to the simulator recording the message (millisecond clock). \
             The local host runs one instance per function, so the send round trip includes \
             waiting behind the other clients' requests; Lambda would run as many instances as \
             there are concurrent requests.\n",
            e.messages, e.concurrency, e.wall_s
        )?;
        let pct = |s: &[f64]| {
            format!(
                "{:.1} ms | {:.1} ms | {:.1} ms",
                percentile(s, 50.0),
                percentile(s, 90.0),
                percentile(s, 99.0)
            )
        };
        writeln!(md, "| | p50 | p90 | p99 |\n|---|---|---|---|")?;
        writeln!(md, "| Accepted to FChat | {} |", pct(&e.e2e_ms))?;
        writeln!(
            md,
            "| Send request round trip (client, gateway, ingest) | {} |",
            pct(&e.send_ms)
        )?;
        writeln!(
            md,
            "| Ingest invocation | {} |",
            pct(&e.ingest_durations_ms)
        )?;
        writeln!(
            md,
            "| Delivery invocation (one batch) | {} |\n",
            pct(&e.delivery_durations_ms)
        )?;
        let batches: u64 = e.phases.iter().map(|p| p.batches).sum();
        writeln!(
            md,
            "**The emulator's part.** One DynamoDB call to moto takes {:.1} ms here (median \
             GetItem from this process), where DynamoDB in a region answers in single-digit \
             milliseconds. A message makes about {:.0} DynamoDB and SQS calls on its way; the \
             poller long-polls moto's SQS, which checks for messages about every few tens of \
             milliseconds, and {} batches carried {} messages ({:.1} per batch). Everything \
             between the send API's answer and the delivery invocation is the emulator's: the \
             queue wait is moto's and the poller's, which Lambda's event source replaces.\n",
            e.emulator_call_ms,
            e.phases
                .iter()
                .map(|p| crate::proxy::total(&p.calls).calls as f64)
                .sum::<f64>()
                / e.messages as f64,
            batches,
            e.messages,
            e.messages as f64 / batches.max(1) as f64
        )?;
        writeln!(md, "Calls counted by the proxy, per message:\n")?;
        writeln!(
            md,
            "| Call | {} |",
            e.phases
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
        writeln!(md, "|---|{}", "---|".repeat(e.phases.len()))?;
        let kinds: std::collections::BTreeSet<&String> =
            e.phases.iter().flat_map(|p| p.calls.keys()).collect();
        for kind in kinds {
            let cells: Vec<String> = e
                .phases
                .iter()
                .map(|p| {
                    p.calls.get(kind).map_or("—".to_owned(), |c| {
                        format!("{:.2}", c.calls as f64 / p.messages as f64)
                    })
                })
                .collect();
            writeln!(md, "| {kind} | {} |", cells.join(" | "))?;
        }
        writeln!(md)?;
    }
    writeln!(md, "## 7. Cost\n\nSee [cost.md](cost.md).")?;
    if let Some(e) = &r.emf {
        writeln!(md)?;
        emf_section(&mut md, e)?;
    }
    std::fs::write(options.out.join("benchmarks.md"), md)?;
    std::fs::write(options.out.join("cost.md"), cost_document(r, &estimates)?)?;
    Ok(())
}

fn inits(r: &Results, name: &str) -> Vec<f64> {
    r.cold
        .get(name)
        .map(|runs| runs.iter().map(|c| c.init_ms).collect())
        .unwrap_or_default()
}

/// Section 8: the EMF writer, the project's way against the crate's.
fn emf_section(md: &mut String, e: &EmfResult) -> Result<()> {
    writeln!(md, "## 8. EMF metrics writer\n")?;
    writeln!(
        md,
        "The functions' metrics documents ([metrics.md](metrics.md)) are written with \
         serde_json through `gateway::metrics`, one line per event where it happens: here \
         `events::request` for a request the ingest function accepted and `events::delivered` \
         for a message FChat took, the calls the services make, into a buffer in memory \
         (`infra/bench/src/emf.rs`). Beside them, the same metrics with the same dimensions, \
         units and log fields through the `metrics` facade with `metrics_cloudwatch_embedded` \
         as its recorder ({}): the counters and the histogram recorded where the events \
         happen, the log fields set as properties, and one `Collector::flush` into a buffer \
         at the end of the invocation, as the crate's `lambda` feature does after each \
         invocation (values still in the recorder when the environment freezes wait for the \
         next flush). The crate's documents are checked to carry the project's metrics, \
         units, dimension sets and values, and log fields; `Function` is `unknown` in both \
         (the bench never calls `metrics::init`), which a function's name changes by a byte \
         or two. CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`) per invocation, \
         median of {} rounds of {} invocations of each, the four interleaved. The process's \
         one recorder holds the label sets of both cases, as a function's holds every label \
         set it has used since its cold start; a flush skips those with nothing new.\n",
        e.versions, e.rounds, e.batch
    )?;
    writeln!(
        md,
        "| Invocation | Metrics | serde_json (`gateway::metrics`) | `metrics` + metrics_cloudwatch_embedded | Crate / serde |"
    )?;
    writeln!(md, "|---|---|---|---|---|")?;
    let lines = |n: usize| {
        if n == 1 {
            "1 line".to_owned()
        } else {
            format!("{n} lines")
        }
    };
    for c in &e.cases {
        writeln!(
            md,
            "| {} | {} | {:.2} µs, {} bytes in {} | {:.2} µs, {} bytes in {} | {:.2}× CPU, {:.2}× bytes |",
            c.name,
            c.metrics,
            c.serde_ns / 1000.0,
            c.serde_bytes,
            lines(c.serde_lines),
            c.crate_ns / 1000.0,
            c.crate_bytes,
            lines(c.crate_lines),
            c.ratio(),
            c.bytes_ratio()
        )?;
    }
    writeln!(md)?;
    if e.cases.iter().any(|c| c.crate_lines > c.serde_lines) {
        writeln!(
            md,
            "The crate writes one document per label set, each with a single dimension set and \
             every property: an event whose metrics have different dimensions (a delivery's \
             `DeliveryAttempts` has `Answer`, the two others not) is one line the project's \
             way, with a directive per dimension set, and several lines the crate's, each \
             repeating the log fields. Bytes include the newlines; CloudWatch Logs bills the \
             bytes it ingests.\n"
        )?;
    }
    if let Some(c) = e.cases.iter().find(|c| c.crate_lines > c.serde_lines) {
        writeln!(
            md,
            "{}, the project's way:\n\n```json\n{}```\n\nThe crate's:\n\n```json\n{}```\n",
            c.name[..1].to_uppercase() + &c.name[1..],
            c.serde_documents,
            c.crate_documents
        )?;
    }
    match &e.sizes {
        Some(s) => writeln!(
            md,
            "Binary size: `{}` ({} bytes, the release profile on this machine's architecture, \
             stripped) grows by {} bytes writing the two documents each invocation the \
             project's way (`{}`; serde_json is in the floor already) and by {} bytes through the \
             crate (`{}`).",
            FLOOR,
            s.floor,
            s.serde as i64 - s.floor as i64,
            crate::emf::SERDE_BINARY,
            s.krate as i64 - s.floor as i64,
            crate::emf::CRATE_BINARY
        )?,
        None => writeln!(
            md,
            "Binary size: not measured (`{}` or `{}` not built with the release profile).",
            crate::emf::SERDE_BINARY,
            crate::emf::CRATE_BINARY
        )?,
    }
    Ok(())
}
