//! Custom sources: any JSON webhook (GitHub, GitLab, Sentry, Jenkins, a home-grown service)
//! becomes a message through the app's own template, with no adapter written for it.
//!
//! An app names each of its custom sources; `POST /{app}/{token}/hooks/{name}` renders the
//! body through that source's template in the one sandbox every source uses
//! ([`crate::domain::template`]). Optionally the sender's signature is checked (GitHub's
//! `sha256=<hex>` HMAC, or Standard Webhooks), events are grouped into one message by a key
//! template, and a group is marked resolved by another.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

use crate::domain::credentials::{hmac_sha256, sha256_hex, standard_webhooks_key};
use crate::domain::sources::alert_thread::ThreadStep;
use crate::domain::template::{
    check_with, cut, environment, fits, render_context, RenderFailure, TemplateError,
};
use crate::domain::UnixTime;

/// The most custom sources one app may have: their templates live in the app's record, which
/// DynamoDB bounds at 400 KB.
pub const MAX_HOOKS_PER_APP: usize = 8;
/// The longest source name: one path segment of `[a-z0-9_-]`.
pub const MAX_HOOK_NAME_CHARS: usize = 32;
/// The longest `--group-by` or `--resolved-when` template, in bytes: each renders a short key
/// or a `true`.
pub const MAX_KEY_TEMPLATE_BYTES: usize = 2048;
/// The longest signing secret, in bytes.
pub const MAX_HOOK_SECRET_BYTES: usize = 512;
/// How far a Standard Webhooks `webhook-timestamp` may be from now, in seconds (the
/// specification's default tolerance): an older signed request is a replay.
pub const SIGNATURE_TOLERANCE_SECONDS: u64 = 5 * 60;
/// The longest group key kept readable in logs; the key itself is hashed into the thread key.
const MAX_GROUP_KEY_CHARS: usize = 512;

/// Request headers never shown to a template: they carry credentials.
const HIDDEN_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// One custom source of an app.
#[derive(Clone, PartialEq)]
pub struct HookSource {
    /// The last segment of its route: `[a-z0-9_-]`, 1 to 32 characters.
    pub name: String,
    /// The message template (minijinja) over `body` and `headers`.
    pub template: String,
    /// How a request proves it comes from the sender; `None`: the app's token alone.
    pub verify: Option<HookVerify>,
    /// Renders the group key: events of one key share a message. Empty output: no group.
    pub group_by: Option<String>,
    /// Renders `true` when the group is resolved.
    pub resolved_when: Option<String>,
}

impl fmt::Debug for HookSource {
    /// The secret never shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookSource")
            .field("name", &self.name)
            .field("template_bytes", &self.template.len())
            .field("verify", &self.verify.as_ref().map(HookVerify::describe))
            .field("group_by", &self.group_by)
            .field("resolved_when", &self.resolved_when)
            .finish()
    }
}

impl fmt::Debug for HookVerify {
    /// The secret never shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <secret redacted>", self.describe())
    }
}

/// How a custom source's requests are signed.
#[derive(Clone, PartialEq)]
pub enum HookVerify {
    /// The body's HMAC-SHA256 under `secret`, in `header` as `sha256=<hex>` (GitHub's form)
    /// or as bare hex (Sentry's, Gitea's).
    HmacSha256 { header: String, secret: String },
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`, with a
    /// `whsec_` secret.
    StandardWebhooks { secret: String },
}

/// Why a `--verify` setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("--verify is hmac-sha256:HEADER or standard-webhooks")]
    UnknownScheme,
    #[error("hmac-sha256:HEADER needs a header name of letters, digits and dashes")]
    BadHeader,
    #[error("the secret is empty or longer than {MAX_HOOK_SECRET_BYTES} bytes")]
    BadSecretLength,
    #[error("a Standard Webhooks secret is whsec_ followed by base64")]
    NotWhsec,
}

impl HookVerify {
    /// Reads `hmac-sha256:HEADER` or `standard-webhooks`, with its secret.
    pub fn parse(scheme: &str, secret: String) -> Result<HookVerify, VerifyError> {
        if secret.is_empty() || secret.len() > MAX_HOOK_SECRET_BYTES {
            return Err(VerifyError::BadSecretLength);
        }
        if scheme.eq_ignore_ascii_case("standard-webhooks") {
            standard_webhooks_key(&secret).ok_or(VerifyError::NotWhsec)?;
            return Ok(HookVerify::StandardWebhooks { secret });
        }
        let (name, header) = scheme.split_once(':').ok_or(VerifyError::UnknownScheme)?;
        if !name.eq_ignore_ascii_case("hmac-sha256") {
            return Err(VerifyError::UnknownScheme);
        }
        let header = header.trim();
        if header.is_empty()
            || header.len() > 64
            || !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(VerifyError::BadHeader);
        }
        Ok(HookVerify::HmacSha256 {
            header: header.to_ascii_lowercase(),
            secret,
        })
    }

    /// The setting without its secret, as `--verify` takes it.
    pub fn describe(&self) -> String {
        match self {
            HookVerify::HmacSha256 { header, .. } => format!("hmac-sha256:{header}"),
            HookVerify::StandardWebhooks { .. } => "standard-webhooks".to_owned(),
        }
    }

    /// Whether the request is signed by the sender. `header` looks a header up by name in
    /// any case. Every comparison is in constant time.
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: UnixTime,
    ) -> bool {
        match self {
            HookVerify::HmacSha256 {
                header: name,
                secret,
            } => {
                let Some(given) = header(name) else {
                    return false;
                };
                let given = given.trim();
                let hex_part = match given.get(..7) {
                    Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &given[7..],
                    _ => given,
                };
                let Ok(given) = hex::decode(hex_part) else {
                    return false;
                };
                let expected = hmac_sha256(secret.as_bytes(), &[body]);
                constant_time_eq(&given, &expected)
            }
            HookVerify::StandardWebhooks { secret } => {
                let (Some(id), Some(timestamp), Some(signatures)) = (
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                ) else {
                    return false;
                };
                let Ok(sent_at) = timestamp.trim().parse::<u64>() else {
                    return false;
                };
                if sent_at.abs_diff(now) > SIGNATURE_TOLERANCE_SECONDS {
                    return false;
                }
                let Some(key) = standard_webhooks_key(secret) else {
                    return false;
                };
                let expected = hmac_sha256(
                    &key,
                    &[id.as_bytes(), b".", timestamp.trim().as_bytes(), b".", body],
                );
                signatures.split_whitespace().any(|signature| {
                    signature
                        .strip_prefix("v1,")
                        .and_then(|encoded| {
                            use base64::Engine;
                            base64::engine::general_purpose::STANDARD
                                .decode(encoded)
                                .ok()
                        })
                        .is_some_and(|given| constant_time_eq(&given, &expected))
                })
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether `name` may name a custom source: one path segment of `[a-z0-9_-]`, starting with a
/// letter or digit.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_HOOK_NAME_CHARS).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Why a custom source is refused when the operator adds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookCheckError {
    #[error("the name is 1 to {MAX_HOOK_NAME_CHARS} characters of a-z, 0-9, - and _")]
    BadName,
    #[error("the sample body is not JSON: {0}")]
    SampleNotJson(String),
    #[error("the {which} template: {error}")]
    Template {
        which: &'static str,
        error: TemplateError,
    },
    #[error("the {0} template exceeds {MAX_KEY_TEMPLATE_BYTES} bytes")]
    KeyTemplateTooLong(&'static str),
    #[error("the template renders nothing for the sample")]
    RendersNothing,
}

/// What one event becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct HookMessage {
    pub text: String,
    /// The group key, when the source groups and this event rendered one.
    pub group: Option<String>,
    pub resolved: bool,
}

impl HookSource {
    /// Checks the name, each template's syntax and a render of the operator's sample body
    /// with the sample's headers.
    pub fn check(&self, sample: &[u8], headers: &[(String, String)]) -> Result<(), HookCheckError> {
        if !valid_name(&self.name) {
            return Err(HookCheckError::BadName);
        }
        let body: Value = serde_json::from_slice(sample)
            .map_err(|error| HookCheckError::SampleNotJson(error.to_string()))?;
        let context = template_context(&body, headers);
        let check = |which: &'static str, template: &str| {
            check_with(template, |compiled| {
                render_context(compiled, context.clone())
            })
            .map_err(|error| HookCheckError::Template { which, error })
        };
        check("message", &self.template)?;
        for (which, template) in [
            ("group-by", &self.group_by),
            ("resolved-when", &self.resolved_when),
        ] {
            if let Some(template) = template {
                if template.len() > MAX_KEY_TEMPLATE_BYTES {
                    return Err(HookCheckError::KeyTemplateTooLong(which));
                }
                check(which, template)?;
            }
        }
        let rendered =
            render_text(&self.template, &context).map_err(|error| HookCheckError::Template {
                which: "message",
                error,
            })?;
        if rendered.is_empty() {
            return Err(HookCheckError::RendersNothing);
        }
        Ok(())
    }

    /// The message one event becomes. A template that fails on this event (one the sample did
    /// not foresee) still gives a message, saying so: an accepted event is never dropped.
    pub fn render(&self, body: &Value, headers: &[(String, String)]) -> HookMessage {
        let context = template_context(body, headers);
        let text = match render_text(&self.template, &context) {
            Ok(text) if !text.trim().is_empty() => text,
            outcome => {
                let why = match outcome {
                    Err(error) => error.to_string(),
                    Ok(_) => "it rendered nothing".to_owned(),
                };
                tracing::warn!(
                    source = %self.name,
                    error = %crate::logging::loggable(&why),
                    "a custom source's template failed on an event; sending it raw"
                );
                fallback_text(&self.name, &why, body)
            }
        };
        let group = self
            .group_by
            .as_deref()
            .and_then(|template| render_text(template, &context).ok())
            .map(|key| {
                key.trim()
                    .chars()
                    .take(MAX_GROUP_KEY_CHARS)
                    .collect::<String>()
            })
            .filter(|key| !key.is_empty());
        let resolved = self
            .resolved_when
            .as_deref()
            .and_then(|template| render_text(template, &context).ok())
            .is_some_and(|flag| flag.trim().eq_ignore_ascii_case("true"));
        HookMessage {
            text,
            group,
            resolved,
        }
    }
}

impl HookMessage {
    /// How this event moves its group's message: `None` without a group key. `scope` names
    /// the app and the recipient, as for alert groups.
    pub fn thread_step(&self, scope: &str, source: &str, at_ms: u64) -> Option<ThreadStep> {
        let group = self.group.as_deref()?;
        let headline = self.text.lines().next().unwrap_or_default();
        let headline: String = headline.chars().take(200).collect();
        Some(ThreadStep {
            key: sha256_hex(format!("{scope}\nhooks/{source}\n{group}").as_bytes()),
            fingerprint: sha256_hex(self.text.as_bytes()),
            resolved: self.resolved,
            reply: if self.resolved {
                format!("✅ Resolved: {headline}")
            } else {
                format!("🔔 {headline}")
            },
            remind: false,
            at_ms,
            labels: BTreeMap::new(),
            threaded: false,
        })
    }
}

/// The context a custom source's templates see: `body`, and `headers` by lowercased name
/// (credentials left out).
fn template_context(body: &Value, headers: &[(String, String)]) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| !HIDDEN_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name, Value::String(value.clone())))
        .collect();
    json!({"body": body, "headers": headers})
}

/// Renders one template, cut to the contract's length.
fn render_text(template: &str, context: &Value) -> Result<String, TemplateError> {
    let compiled = environment().template_from_str(template)?;
    match render_context(&compiled, context.clone()) {
        Ok(text) if fits(&text) => Ok(text.trim().to_owned()),
        Ok(text) | Err(RenderFailure::TooLong(text)) => Ok(cut(text.trim())),
        Err(RenderFailure::OutOfFuel(error) | RenderFailure::Template(error)) => Err(error),
    }
}

/// The message of an event the template could not render: the source, why, and the body.
fn fallback_text(source: &str, why: &str, body: &Value) -> String {
    let text = format!("⚠️ {source}: the template could not render this event ({why})\n{body}");
    if fits(&text) {
        text
    } else {
        cut(&text)
    }
}

#[cfg(test)]
mod tests;
