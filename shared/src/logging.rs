//! The functions' log lines: one JSON object per event when Lambda's log format is JSON.
//!
//! Like `lambda_runtime`'s default subscriber (level from `AWS_LAMBDA_LOG_LEVEL`, else a plain
//! level in `RUST_LOG`, else INFO; no timestamps, CloudWatch adds them), but each line carries
//! its invocation's span once instead of twice: CloudWatch bills every byte ingested, and the
//! span list repeated the request id and trace id on every line.

use tracing_subscriber::filter::LevelFilter;

/// Installs the subscriber; call once, first thing in `main`.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}
