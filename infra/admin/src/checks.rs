//! What every way in (a command, `make dev`'s seed) checks before it writes: ids, webhook URLs,
//! delivery windows, templates; and the two writes the seed shares with the commands.

use anyhow::{anyhow, bail, Context as _, Result};
use gateway::adapters::webhook::guard::{check_url, OutboundPolicy};
use gateway::credentials::sha256_hex;
use gateway::domain::sources::aws_events::TemplateKind;
use gateway::domain::{
    App, Group, DEFAULT_CONTEXT_TTL_SECONDS, DEFAULT_DELIVERY_WINDOW_SECONDS,
    MAX_DELIVERY_WINDOW_SECONDS,
};
use gateway::ports::{AppStore, GroupStore};

/// How long a rotated token keeps working unless told otherwise.
pub const DEFAULT_GRACE_SECONDS: u64 = 24 * 60 * 60;

/// The longest group id or `beatchat_id`: both are DynamoDB keys, and a `beatchat_id` is an
/// FChat chat id.
pub const MAX_ID_CHARS: usize = 256;

/// Checks an app's webhook URL as the gateway will when it calls it.
pub fn check_webhook_url(url: &str, local: bool) -> Result<()> {
    check_url(
        url,
        OutboundPolicy {
            allow_loopback: local,
        },
    )
    .map(|_| ())
    .map_err(|e| anyhow!("invalid webhook URL {url:?}: {e}"))
}

/// Checks a group id or a `beatchat_id` (`what` names it in the error): not empty, at most
/// [`MAX_ID_CHARS`] characters, no control characters, no spaces around it.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        bail!("{what} must not be empty");
    }
    if id.chars().count() > MAX_ID_CHARS {
        bail!("{what} is longer than {MAX_ID_CHARS} characters");
    }
    if id.chars().any(char::is_control) || id.trim() != id {
        bail!("{what} {id:?} has control characters or spaces around it");
    }
    Ok(())
}

/// Creates a group, with or without its FChat group's id (`beatchat_id`, which `group
/// set-beatchat` sets later); refuses one that exists.
pub async fn create_group(groups: &dyn GroupStore, group: Group) -> Result<()> {
    check_id("a group id", &group.id)?;
    if let Some(beatchat_id) = &group.beatchat_id {
        check_id("a beatchat id", beatchat_id)?;
    }
    if groups.group(&group.id).await?.is_some() {
        bail!("group {} exists already", group.id);
    }
    Ok(groups.put_group(&group).await?)
}

/// What a new app is.
pub struct NewApp {
    pub name: String,
    pub group: Option<String>,
    pub user_messaging: bool,
    pub webhook_url: Option<String>,
    pub context_ttl_seconds: Option<u64>,
    pub delivery_window_seconds: Option<u64>,
}

/// A delivery window in seconds, checked: at least a second, at most
/// [`MAX_DELIVERY_WINDOW_SECONDS`].
pub fn check_delivery_window(seconds: u64) -> Result<u64> {
    if seconds == 0 || seconds > MAX_DELIVERY_WINDOW_SECONDS {
        bail!("a delivery window is 1 to {MAX_DELIVERY_WINDOW_SECONDS} seconds, not {seconds}");
    }
    Ok(seconds)
}

/// Reads a template file and checks it: a syntax error is refused with its line.
pub fn read_template(source: TemplateKind, file: &str) -> Result<String> {
    let template = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    source
        .check_template(&template)
        .map_err(|error| anyhow!("{file}: the template is refused: {error}"))?;
    Ok(template)
}

/// The message `source`'s sample becomes with `template` (the built-in one when `None`),
/// exactly as the ingest function renders it.
pub fn render_sample(source: TemplateKind, template: Option<&str>) -> String {
    source.render_sample(template)
}

/// Creates an app with the given token and webhook secret (only the token's hash is stored);
/// refuses an existing name, a missing group or an invalid webhook URL.
pub async fn create_app(
    apps: &dyn AppStore,
    groups: &dyn GroupStore,
    new: NewApp,
    token: &str,
    webhook_secret: &str,
    local: bool,
) -> Result<App> {
    // "." and ".." are no path segment: a URL with them means another path.
    if new.name.is_empty()
        || new.name.contains('/')
        || matches!(new.name.as_str(), "." | "..")
        || token.is_empty()
        || token.contains('/')
    {
        bail!("an app's name and token must be non-empty and contain no '/' (nor be . or ..)");
    }
    if gateway::api::sources::is_source_segment(token) {
        bail!("{token:?} names a source's route and cannot be a token");
    }
    if apps.app_by_name(&new.name).await?.is_some() {
        bail!("app {} exists already", new.name);
    }
    if let Some(group) = &new.group {
        if groups.group(group).await?.is_none() {
            bail!("no group {group}: create it first (group create)");
        }
    }
    if let Some(url) = &new.webhook_url {
        check_webhook_url(url, local)?;
    }
    let delivery_window_seconds = check_delivery_window(
        new.delivery_window_seconds
            .unwrap_or(DEFAULT_DELIVERY_WINDOW_SECONDS),
    )?;
    let app = App {
        name: new.name,
        token_hash: sha256_hex(token.as_bytes()),
        group_id: new.group,
        user_messaging: new.user_messaging,
        webhook_url: new.webhook_url,
        webhook_secrets: vec![webhook_secret.to_owned()],
        context_ttl_seconds: new
            .context_ttl_seconds
            .unwrap_or(DEFAULT_CONTEXT_TTL_SECONDS),
        delivery_window_seconds,
        active: true,
        previous_token: None,
        older_secrets_until: None,
        alert_templates: Default::default(),
        alerting: Default::default(),
        sns: Default::default(),
        hooks: Default::default(),
    };
    apps.put_app(&app).await?;
    Ok(app)
}
