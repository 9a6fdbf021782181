//! The one template renderer every source uses: minijinja, sandboxed. No loader (no
//! `include` of anything), no auto-escaping (the message is plain text), a fuel budget per
//! render (bounded time) and a bounded output. The environment is built once per cold start.
//! Alerts (`alerts`) and AWS events (`aws_events`) give it their context and their defaults.

use std::fmt;
use std::io;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::domain::message::MAX_TEXT_CHARS;

/// The largest template an app may set, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Template instructions one render may run.
pub const TEMPLATE_FUEL: u64 = 200_000;
/// Output bytes one render may write: beyond this the message is too long anyway.
const MAX_OUTPUT_BYTES: usize = 4 * MAX_TEXT_CHARS;

/// Why an app's template is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template's line, when the error has one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

impl From<minijinja::Error> for TemplateError {
    fn from(error: minijinja::Error) -> Self {
        TemplateError {
            line: error.line(),
            message: match error.detail() {
                Some(detail) => format!("{}: {detail}", error.kind()),
                None => error.kind().to_string(),
            },
        }
    }
}

/// The sandboxed environment every template renders in: built once per cold start.
pub(crate) fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENVIRONMENT.get_or_init(sandbox)
}

fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // `alert.annotations.summary` is empty, not an error, for an alert without annotations.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_recursion_limit(50);
    env
}

/// Checks a template of any kind: its size, its syntax, and `render` of its sample (output
/// past the bound is fine: it is cut when sent).
pub(crate) fn check_with(
    template: &str,
    render: impl FnOnce(&minijinja::Template<'_, '_>) -> Result<String, RenderFailure>,
) -> Result<(), TemplateError> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError {
            line: None,
            message: format!("the template exceeds {MAX_TEMPLATE_BYTES} bytes"),
        });
    }
    let compiled = environment().template_from_str(template)?;
    match render(&compiled) {
        Ok(_) | Err(RenderFailure::TooLong(_)) => Ok(()),
        Err(RenderFailure::OutOfFuel(error) | RenderFailure::Template(error)) => Err(error),
    }
}

pub(crate) enum RenderFailure {
    /// The output passed the bound; what was written until then.
    TooLong(String),
    /// The render ran out of fuel: with fewer alerts it may not.
    OutOfFuel(TemplateError),
    Template(TemplateError),
}

/// Writes into a buffer until `limit` bytes, then refuses.
struct BoundedWriter<'a> {
    buffer: &'a mut Vec<u8>,
    limit: usize,
}

impl io::Write for BoundedWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.buffer.len());
        if bytes.len() > room {
            self.buffer.extend_from_slice(&bytes[..room]);
            return Err(io::Error::other("output bound"));
        }
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Renders `compiled` with `context`, output bounded: every source's templates render here.
pub(crate) fn render_context(
    compiled: &minijinja::Template<'_, '_>,
    context: Value,
) -> Result<String, RenderFailure> {
    let context = minijinja::Value::from(minijinja::value::Serde(context));
    let mut buffer = Vec::new();
    let result = compiled.render_captured_to(
        context,
        BoundedWriter {
            buffer: &mut buffer,
            limit: MAX_OUTPUT_BYTES,
        },
    );
    let text = String::from_utf8_lossy(&buffer).into_owned();
    match result {
        Ok(_) => Ok(text),
        Err(_) if buffer.len() >= MAX_OUTPUT_BYTES => Err(RenderFailure::TooLong(text)),
        Err(error) if error.kind() == minijinja::ErrorKind::OutOfFuel => {
            Err(RenderFailure::OutOfFuel(error.into()))
        }
        Err(error) => Err(RenderFailure::Template(error.into())),
    }
}

pub(crate) fn fits(text: &str) -> bool {
    text.chars().count() <= MAX_TEXT_CHARS
}

/// Cuts `text` to the contract's length, marking the cut.
pub(crate) fn cut(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_TEXT_CHARS - 1).collect();
    cut.push('…');
    cut
}
