//! The functions' log lines: one JSON object per event when Lambda's log format is JSON.
//!
//! Like `lambda_runtime`'s default subscriber (level from `AWS_LAMBDA_LOG_LEVEL`, else a plain
//! level in `RUST_LOG`, else INFO; no timestamps, CloudWatch adds them), but each line carries
//! its invocation's span once instead of twice: CloudWatch bills every byte ingested, and the
//! span list repeated the request id and trace id on every line.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the subscriber, writing to standard output; call once, first thing in `main`.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing::subscriber::set_global_default(json_subscriber(level, std::io::stdout))
            .unwrap_or_default();
    } else {
        tracing_subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_max_level(level)
            .init();
    }
}

/// The JSON subscriber the functions log through, writing to `writer` (benchmarks measure the
/// handlers with it).
pub fn json_subscriber<W>(level: LevelFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level)
        .with_writer(writer)
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .finish()
}
