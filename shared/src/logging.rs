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

/// The most characters of one outside value a log line carries.
pub const MAX_LOGGED_CHARS: usize = 128;

/// Outside input (an update id, a path segment, an email's domain) as a log field: at most
/// [`MAX_LOGGED_CHARS`] characters, and control and direction-changing characters escaped, so
/// that a hostile value can neither flood the logs nor forge or disguise a line in any format.
pub fn loggable(value: &str) -> String {
    let mut logged = String::with_capacity(value.len().min(MAX_LOGGED_CHARS + 16));
    let mut chars = value.chars();
    for c in chars.by_ref().take(MAX_LOGGED_CHARS) {
        let invisible = matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
        if c.is_control() || invisible {
            logged.extend(c.escape_unicode());
        } else {
            logged.push(c);
        }
    }
    if chars.next().is_some() {
        logged.push_str(&format!("...({} bytes)", value.len()));
    }
    logged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_values_are_bounded_and_cannot_break_a_line() {
        assert_eq!(loggable("u-17"), "u-17");
        assert_eq!(loggable("Xin chào"), "Xin chào");
        assert_eq!(loggable("a\nb\0c\u{202E}d"), r"a\u{a}b\u{0}c\u{202e}d");
        let long = "ệ".repeat(3000);
        let logged = loggable(&long);
        assert!(logged.starts_with(&"ệ".repeat(MAX_LOGGED_CHARS)));
        assert!(logged.ends_with("...(9000 bytes)"), "{logged}");
        assert_eq!(logged.chars().count(), MAX_LOGGED_CHARS + 15);
        assert_eq!(
            loggable(&"x".repeat(MAX_LOGGED_CHARS)).len(),
            MAX_LOGGED_CHARS
        );
    }
}
