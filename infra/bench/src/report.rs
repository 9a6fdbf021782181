//! Runs the cold starts, reads the package sizes, and writes the two documents.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Result};
use bytes::Bytes;
use serde_json::Value;

use crate::coldstart::ColdStart;
use crate::cpu::CpuResult;
use crate::e2e::E2eResult;
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
        "| 7 | Cost of an idle month | ${:.2} | ≤ ${IDLE_TARGET:.2} | {} |\n",
        cost::idle_month().total(),
        met(cost::idle_month().total() <= IDLE_TARGET)
    )?;

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
             Median of rounds alternating a batch of one and a batch of {}.\n",
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

/// The cost targets per million messages, by kind of message and front door.
fn cost_target(phase: &str, door: cost::FrontDoor) -> Option<f64> {
    use cost::FrontDoor::*;
    match (phase, door) {
        (p, HttpApi) if p.starts_with("group alert") => Some(4.50),
        (p, FunctionUrl) if p.starts_with("group alert") => Some(3.50),
        (p, HttpApi) if p.starts_with("user question") => Some(5.50),
        (p, FunctionUrl) if p.starts_with("user question") => Some(4.50),
        _ => None,
    }
}

/// An idle month's target, with the alarms on.
const IDLE_TARGET: f64 = 0.50;

type DoorEstimates = Vec<(cost::FrontDoor, cost::Estimate)>;

fn cost_estimates(r: &Results) -> Vec<(String, DoorEstimates)> {
    let Some(e) = &r.e2e else {
        return vec![];
    };
    e.phases
        .iter()
        .map(|p| {
            let measured = cost::Measured {
                messages: p.messages,
                calls: &p.calls,
                delivery_batches: p.batches,
                ingest_ms: median(&e.ingest_durations_ms),
                delivery_ms: median(&e.delivery_durations_ms),
                log_bytes: p.log_bytes as f64 / p.messages as f64,
            };
            let doors = cost::FrontDoor::ALL
                .iter()
                .map(|door| (*door, cost::per_million(&measured, *door)))
                .collect();
            (p.name.to_owned(), doors)
        })
        .collect()
}

fn cost_document(r: &Results, estimates: &[(String, DoorEstimates)]) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "# Cost\n")?;
    writeln!(
        md,
        "Written by `make bench` from what it measured (see [benchmarks.md](benchmarks.md)); \
         do not edit by hand. AWS list prices, us-east-1, on-demand, arm64, without free \
         tiers:\n"
    )?;
    writeln!(md, "| Item | Price | Unit |\n|---|---|---|")?;
    for (item, price, unit) in cost::PRICES {
        writeln!(md, "| {item} | ${price} | {unit} |")?;
    }
    writeln!(md)?;
    writeln!(
        md,
        "Requests and capacity units are counted, not guessed: the end-to-end run sends every \
         DynamoDB and SQS call of the functions and of the event-source poller through a \
         counting proxy (`infra/bench/src/proxy.rs`) that applies DynamoDB's and SQS's billing \
         rules (a write unit per KiB of item plus one per index key written; a read unit per \
         4 KiB, half when eventually consistent; an SQS request per 64 KiB). Durations are the \
         median invocation durations of that run, billed at {} MB rounded up to the \
         millisecond; they were measured against moto, which answers slower than DynamoDB, \
         so they overstate Lambda's share. Logs: the bytes the functions wrote in that run \
         (their JSON lines), plus {} bytes of Lambda platform lines per invocation ({}).\n",
        cost::MEMORY_MB,
        cost::platform_log_bytes(),
        if cost::platform_log_bytes() == 0.0 {
            "the template sets `SystemLogLevel: WARN`, so Lambda writes no start and report lines"
        } else {
            "start and report lines"
        }
    )?;
    writeln!(md, "## Per million messages delivered\n")?;
    writeln!(
        md,
        "Both front doors side by side (the template's `FrontDoor` parameter): the same run, \
         priced with the HTTP API's request or with a function URL, which has no request \
         charge.\n"
    )?;
    for (name, doors) in estimates {
        writeln!(md, "### {name}\n")?;
        door_table(&mut md, name, doors, "Total")?;
    }
    floor_section(&mut md)?;
    writeln!(md, "## An idle month\n")?;
    writeln!(md, "| Line | $ per month |\n|---|---|")?;
    let idle = cost::idle_month();
    for (line, dollars) in &idle.lines {
        writeln!(md, "| {line} | {dollars:.2} |")?;
    }
    writeln!(md, "| **Total** | **{:.2}** |\n", idle.total())?;
    writeln!(
        md,
        "Storage is left out: apps, groups and users are a few KB, and contexts expire \
         (DynamoDB's TTL deletes are free), as do the notes of SNS unsubscriptions (one small \
         item per app, kept 400 days; each unsubscription SNS confirms, a rare event, costs \
         one UpdateItem, 1 WRU). The SQS free tier (a million requests a month) \
         covers the idle polling. The secrets are SSM Parameter Store SecureStrings under the \
         AWS managed key `aws/ssm`: no monthly fee for either (Secrets Manager would be $0.40 \
         a secret); each cold start reads its function's one or two secrets, a KMS request \
         each ($3 per million, and the KMS free tier's 20,000 requests a month cover them).\n"
    )?;
    writeln!(
        md,
        "At list price the idle month stands above its ${IDLE_TARGET:.2} target, and its floor \
         is the same two lines: the {} alarms (the dead-letter queue and each function's \
         errors) and the event source's five long pollers, which Lambda keeps on any SQS \
         queue it reads. Counting SQS's free tier, which never expires and covers the \
         pollers' 648,000 requests, an idle month costs ${:.2}. Going below the target at list \
         price would mean dropping alarms: keeping only the dead-letter alarm ($0.10) saves \
         $0.30, and a crash of the ingest or callback function would then show only in its \
         logs and in the apps' 5xx answers.\n",
        cost::ALARMS,
        cost::ALARMS * 0.10
    )?;
    writeln!(
        md,
        "## What stands between the measured cost and the floor\n"
    )?;
    writeln!(
        md,
        "The measured figures are above the floor by what the end-to-end run's traffic costs: \
         the event source hands the delivery function small batches (messages arrive one by \
         one), so each message pays nearly a receive and a delete of its own and a share of a \
         delivery invocation; and the measured durations and log lines. Taken already: only a \
         message with buttons is indexed by its FChat message id (one write less per plain \
         message), the tenants' tables are read eventually consistent (half a read unit \
         each), the secrets are SSM SecureStrings (no monthly fee), and the function URL is a \
         choice of the template. What remains, each a product decision:\n"
    )?;
    writeln!(
        md,
        "| Lever | Saves per million | What it would cost |\n|---|---|---|"
    )?;
    writeln!(
        md,
        "| A batching window on the event source (`MaximumBatchingWindowInSeconds`) | up to \
         the SQS receive and delete requests and the delivery invocations that small batches \
         cost: at {FULL:.0} per batch a message needs {:.2} SQS requests | Each message would \
         wait up to the window before delivery; alerts want the opposite. |",
        1.0 + 2.0 / cost::FULL_BATCH,
        FULL = cost::FULL_BATCH
    )?;
    writeln!(
        md,
        "| Dropping the `sending` lease (one conditional write per message) | $0.625 | FChat \
         deduplicates sends by `client_message_id`, but the lease is what keeps two \
         deliveries of one job from racing and what the status route shows as `sending`. Not \
         taken: the lease stays. |\n"
    )?;
    writeln!(
        md,
        "Durations here were measured against moto; against DynamoDB in a region the Lambda \
         duration line shrinks, and the total with it, by a few cents at most.\n"
    )?;
    let _ = r;
    Ok(md)
}

/// The floor of the design: what each guarantee needs per message, priced, behind each door.
fn floor_section(md: &mut String) -> Result<()> {
    writeln!(md, "## The floor of the design\n")?;
    writeln!(
        md,
        "What one message needs at the least, each item paying for a guarantee: its one \
         request at the front door, the ingest invocation and a tenth of a delivery \
         invocation, one SQS send and a tenth of a receive and of a delete (full batches of \
         {:.0}), and these writes and reads; no retry, no idempotency key, nothing logged and \
         no duration.\n",
        cost::FULL_BATCH
    )?;
    for message in &cost::FLOOR_MESSAGES {
        writeln!(md, "### {}\n", message.name)?;
        for (what, units) in message.writes {
            writeln!(md, "- write, {units:.0} WRU: {what}")?;
        }
        for (what, units) in message.reads {
            writeln!(md, "- read, {units:.1} RRU: {what}")?;
        }
        writeln!(md)?;
        let doors: DoorEstimates = cost::FrontDoor::ALL
            .iter()
            .map(|door| (*door, cost::floor(message, *door)))
            .collect();
        door_table(md, message.name, &doors, "Floor")?;
    }
    Ok(())
}

/// One kind of message priced behind each front door: a column a door, its total against its
/// target.
fn door_table(md: &mut String, name: &str, doors: &DoorEstimates, total: &str) -> Result<()> {
    let names: Vec<&str> = doors.iter().map(|(door, _)| door.name()).collect();
    writeln!(md, "| Line | {} |", names.join(" | "))?;
    writeln!(md, "|---|{}", "---|".repeat(doors.len()))?;
    for (index, (line, _)) in doors[0].1.lines.iter().enumerate() {
        // The first line is the door's own, named in each column's heading.
        let line = if index == 0 {
            "Front door"
        } else {
            line.as_str()
        };
        let dollars: Vec<String> = doors
            .iter()
            .map(|(_, e)| format!("{:.3}", e.lines[index].1))
            .collect();
        writeln!(md, "| {line} | {} |", dollars.join(" | "))?;
    }
    let totals: Vec<String> = doors
        .iter()
        .map(|(door, e)| {
            let target =
                cost_target(name, *door).map_or(String::new(), |t| format!(" (target ${t:.2})"));
            format!("**{:.2}**{target}", e.total())
        })
        .collect();
    writeln!(md, "| **{total}** | {} |\n", totals.join(" | "))?;
    Ok(())
}
