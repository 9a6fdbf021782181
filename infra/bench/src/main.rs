//! `make bench`: measures what issue budgets name and writes `docs/benchmarks.md` and
//! `docs/cost.md`. Every figure is a ratio against a floor measured side by side in the same
//! run, or an absolute figure against an absolute budget; each is a median over repeated runs.
//!
//! Usage: `fchat-bench [--bin-dir DIR] [--zip-dir DIR] [--out DIR] [--runs N] [--messages N]
//! [--cpu-only | --cold-only | --emf-only]`

mod coldstart;
mod conversation_cost;
mod cost;
mod cost_report;
mod cpu;
mod e2e;
mod emf;
mod fanout;
mod local;
mod proxy;
mod report;
mod rss;
mod stats;
mod world;

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

pub struct Options {
    pub bin_dir: PathBuf,
    pub zip_dir: PathBuf,
    pub out: PathBuf,
    pub runs: usize,
    pub messages: usize,
    /// Measure the handler cost only and print it (for profiling it, e.g. under callgrind).
    pub cpu_only: bool,
    /// Measure the cold starts only and print them (writes no document).
    pub cold_only: bool,
    /// Measure the EMF writers only and print them (writes no document).
    pub emf_only: bool,
}

fn options() -> Result<Options> {
    let root = fchat_local::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut options = Options {
        bin_dir: target.join("release"),
        zip_dir: target.join("lambda"),
        out: root.join("docs"),
        runs: 15,
        messages: 1000,
        cpu_only: false,
        cold_only: false,
        emf_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bin-dir" => options.bin_dir = value()?.into(),
            "--zip-dir" => options.zip_dir = value()?.into(),
            "--out" => options.out = value()?.into(),
            "--runs" => options.runs = value()?.parse()?,
            "--messages" => options.messages = value()?.parse()?,
            "--cpu-only" => options.cpu_only = true,
            "--cold-only" => options.cold_only = true,
            "--emf-only" => options.emf_only = true,
            "-h" | "--help" => {
                println!("usage: fchat-bench [--bin-dir DIR] [--zip-dir DIR] [--out DIR] [--runs N] [--messages N] [--cpu-only | --cold-only | --emf-only]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    if options.runs < 3 || options.messages < 2 {
        bail!("--runs must be at least 3 and --messages at least 2");
    }
    Ok(options)
}

/// Invocations per round of the EMF writers' measurement (a few microseconds each).
const EMF_BATCH: usize = 4000;

fn main() -> Result<()> {
    let options = options()?;
    if options.cpu_only {
        for case in cpu::cases() {
            let c = cpu::measure(&case, options.runs, 400)?;
            println!(
                "{}: handler {:.1} µs, floor {:.1} µs, {:.2}×",
                c.name,
                c.handler_ns / 1000.0,
                c.floor_ns / 1000.0,
                c.ratio()
            );
        }
        return Ok(());
    }
    if options.emf_only {
        return emf::print(&emf::measure(
            options.runs + 6,
            EMF_BATCH,
            &options.bin_dir,
        )?);
    }
    for binary in ["hello-lambda", "ingest", "delivery", "callback"] {
        let path = options.bin_dir.join(binary);
        if !path.exists() {
            bail!(
                "{} not found: build with `cargo build --release -p ingest -p delivery -p callback -p fchat-bench`",
                path.display()
            );
        }
    }
    if options.cold_only {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (cold, secrets_read_ms) = runtime.block_on(report::cold_starts(&options))?;
        for line in report::cold_start_lines(&cold) {
            println!("{line}");
        }
        println!(
            "reading the secrets (one GetParameters to moto, fresh client): {:.2} ms",
            stats::median(&secrets_read_ms)
        );
        return Ok(());
    }
    let mut results = report::Results::default();

    eprintln!("bench: ingest handler CPU cost");
    for case in cpu::cases() {
        results
            .cpu
            .push(cpu::measure(&case, options.runs + 6, 400)?);
    }

    eprintln!("bench: EMF writer, serde_json against metrics_cloudwatch_embedded");
    results.emf = Some(emf::measure(options.runs + 6, EMF_BATCH, &options.bin_dir)?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        eprintln!("bench: fan-out");
        results.fanout = Some(fanout::measure(options.runs.min(9), 10).await?);
        eprintln!("bench: cold starts");
        (results.cold, results.secrets_read_ms) = report::cold_starts(&options).await?;
        eprintln!("bench: {} messages end to end", options.messages);
        results.e2e = Some(
            e2e::measure(
                &options.bin_dir.join("ingest"),
                &options.bin_dir.join("delivery"),
                options.messages,
                8,
            )
            .await?,
        );
        anyhow::Ok(())
    })?;
    results.packages = report::packages(&options.zip_dir);
    report::write(&options, &results)?;
    eprintln!(
        "bench: wrote {} and {}",
        options.out.join("benchmarks.md").display(),
        options.out.join("cost.md").display()
    );
    Ok(())
}
