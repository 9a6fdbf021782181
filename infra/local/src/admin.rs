//! `fchat-admin`: what an operator does, against AWS or the local stack. Every command answers
//! JSON (`--json`) and a line of text for people; bad input is an error that changes nothing.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway::adapters::webhook::guard::{check_url, OutboundPolicy};
use gateway::credentials::{generate_token, generate_webhook_secret, sha256_hex};
use gateway::domain::aws_events::TemplateKind;
use gateway::domain::sns::is_topic_arn;
use gateway::domain::{
    AlertmanagerAuth, AlertmanagerLink, App, Context, Group, UnixTime, DEFAULT_CONTEXT_TTL_SECONDS,
    DEFAULT_DELIVERY_WINDOW_SECONDS, MAX_DELIVERY_WINDOW_SECONDS,
};
use gateway::dynamo::DynamoStore;
use gateway::job::Job;
use gateway::ports::{AppStore, ContextStore, GroupStore};
use serde_json::{json, Value};

/// How long a rotated token keeps working unless told otherwise.
pub const DEFAULT_GRACE_SECONDS: u64 = 24 * 60 * 60;

/// The longest group id or `beatchat_id`: both are DynamoDB keys, and a `beatchat_id` is an
/// FChat chat id.
pub const MAX_ID_CHARS: usize = 256;

/// How long the FChat simulator has to answer `fchat-admin`.
const SIMULATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub const USAGE: &str = "usage: fchat-admin [--json] [--env-file F] COMMAND
  group create --id G [--beatchat-id B] [--name N] [--inactive]
  group set-beatchat G B | group delete G [--force]
  group activate G | group deactivate G | group list
  app create --name N [--group G] [--user-messaging] [--webhook-url U] [--context-ttl S] [--delivery-window S]
  app list | app show N | app disable N | app enable N | app set-webhook N U
  app set-delivery-window N S
  app set-template N SOURCE FILE | app clear-template N SOURCE | app render-template N SOURCE [FILE] [--payload P]
      (SOURCE: alertmanager, grafana, or an AWS event kind: aws-cloudwatch-alarm, aws-guardduty,
      aws-securityhub, aws-codepipeline, aws-ecs-task, aws-health, aws-ec2-state, aws-chatbot,
      aws-text, aws-event; render-template shows a sample as it would be sent)
  app allow-topic N ARN | app disallow-topic N ARN | app topics N
      (the SNS topics the app accepts on /sns; none allowed: any topic)
  app set-alertmanager N URL [--bearer-env VAR | --basic-user U --password-env VAR]
      (firing Alertmanager groups get Silence 1h/24h buttons; credentials are read from the
       environment variable VAR, never from the command line)
  app clear-alertmanager N | app set-reminders N on|off
  app rotate-token N [--grace S] | app rotate-secret N [--grace S] | app rotate-secret N --finish
  user list
  message status ID
  dlq list | dlq redrive   (undelivered messages, expired ones included)";

pub struct Admin {
    pub store: DynamoStore,
    pub sqs: aws_sdk_sqs::Client,
    pub delivery_queue_url: String,
    pub dead_letter_queue_url: Option<String>,
    /// Webhook URLs may be plain http on loopback (the local stack).
    pub local: bool,
    /// The local stack's FChat simulator (`FCHAT_SIMULATOR_URL`): a group's FChat chat is
    /// created there when a group gets a `beatchat_id`, as it exists in the real FChat.
    pub simulator_url: Option<String>,
    pub now: fn() -> UnixTime,
}

/// What a command did: for scripts, and for people.
pub struct Output {
    pub json: Value,
    pub text: String,
}

/// A JSON value as a person reads it: strings without quotes, `null` as "none".
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn output(json: Value, text: impl Into<String>) -> Result<Output> {
    Ok(Output {
        json,
        text: text.into(),
    })
}

/// A command's words: positional arguments and `--flag value` / `--switch` options.
struct Words {
    positional: Vec<String>,
    options: HashMap<String, Option<String>>,
}

const SWITCHES: [&str; 4] = ["--user-messaging", "--inactive", "--finish", "--force"];

impl Words {
    fn parse(args: &[String]) -> Result<Words> {
        let mut words = Words {
            positional: Vec::new(),
            options: HashMap::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if SWITCHES.contains(&arg.as_str()) {
                words.options.insert(arg.clone(), None);
            } else if arg.starts_with("--") {
                let value = args
                    .next()
                    .with_context(|| format!("{arg} needs a value"))?;
                words.options.insert(arg.clone(), Some(value.clone()));
            } else {
                words.positional.push(arg.clone());
            }
        }
        Ok(words)
    }

    fn value(&self, flag: &str) -> Option<&str> {
        self.options.get(flag).and_then(|v| v.as_deref())
    }

    fn required(&self, flag: &str) -> Result<&str> {
        self.value(flag)
            .with_context(|| format!("{flag} is required"))
    }

    fn switch(&self, flag: &str) -> bool {
        self.options.contains_key(flag)
    }

    fn number(&self, flag: &str) -> Result<Option<u64>> {
        self.value(flag)
            .map(|v| {
                v.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{flag} must be a positive whole number"))
            })
            .transpose()
    }

    /// The one positional argument after the command's two words.
    fn subject(&self, what: &str) -> Result<&str> {
        self.positional
            .get(2)
            .map(String::as_str)
            .with_context(|| format!("which {what}?"))
    }

    /// Refuses positional arguments after the command's two words and `n` more.
    fn at_most(&self, n: usize) -> Result<()> {
        match self.positional.get(2 + n) {
            Some(extra) => bail!("unexpected argument {extra:?}"),
            None => Ok(()),
        }
    }

    fn allow_only(&self, allowed: &[&str]) -> Result<()> {
        match self.options.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => bail!("unknown option {unknown}"),
            None => Ok(()),
        }
    }
}

/// An app as an operator sees it: never a hash or a secret. `unsubscribed`: the topics SNS
/// confirmed unsubscribing it from, and when ([`ContextStore::sns_unsubscriptions`]).
pub fn app_view(app: &App, unsubscribed: &BTreeMap<String, UnixTime>, now: UnixTime) -> Value {
    json!({
        "name": app.name,
        "group": app.group_id,
        "user_messaging": app.user_messaging,
        "webhook_url": app.webhook_url,
        "webhook_secrets": app.signing_secrets(now).len(),
        "context_ttl_seconds": app.context_ttl_seconds,
        "delivery_window_seconds": app.delivery_window_seconds,
        "active": app.active,
        "previous_token_valid_until": app.previous_token.as_ref().map(|(_, until)| *until).filter(|until| *until > now),
        "alert_templates": app.alert_templates.keys().collect::<Vec<_>>(),
        "alert_reminders": app.alerting.reminders,
        "alertmanager": app.alerting.alertmanager.as_ref().map(|link| json!({
            "url": link.url,
            "auth": match &link.auth {
                None => "none",
                Some(AlertmanagerAuth::Bearer(_)) => "bearer",
                Some(AlertmanagerAuth::Basic { .. }) => "basic",
            },
        })),
        "sns_topics": app.sns.allowed_topics,
        "sns_unsubscribed": unsubscribed,
    })
}

fn group_view(group: &Group) -> Value {
    json!({"id": group.id, "beatchat_id": group.beatchat_id, "name": group.name, "active": group.active})
}

fn context_view(context: &Context, now: UnixTime) -> Value {
    let response = gateway::http::HttpResponse::status(context, now);
    serde_json::from_str::<Value>(&response.body)
        .map(|v| v["context"].clone())
        .unwrap_or(Value::Null)
}

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

/// The SOURCE word of the template commands: an alert source or an AWS event kind.
fn alert_source(words: &Words) -> Result<TemplateKind> {
    let names = TemplateKind::names().join(", ");
    let name = words
        .positional
        .get(3)
        .with_context(|| format!("which source? ({names})"))?;
    TemplateKind::from_name(name).with_context(|| format!("no template source {name:?}: {names}"))
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

/// An SNS topic's ARN, checked.
fn topic_arn(words: &Words) -> Result<String> {
    let arn = words
        .positional
        .get(3)
        .context("which topic? (its ARN, arn:aws:sns:REGION:ACCOUNT:NAME)")?;
    if !is_topic_arn(arn) {
        bail!("{arn:?} is not an SNS topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME)");
    }
    Ok(arn.clone())
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
    if gateway::domain::alerts::is_source_name(token) {
        bail!("{token:?} names an alert route and cannot be a token");
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
    };
    apps.put_app(&app).await?;
    Ok(app)
}

impl Admin {
    pub async fn run(&self, args: &[String]) -> Result<Output> {
        let words = Words::parse(args)?;
        let command: Vec<&str> = words
            .positional
            .iter()
            .take(2)
            .map(String::as_str)
            .collect();
        match command.as_slice() {
            ["group", "create"] => self.group_create(&words).await,
            ["group", "set-beatchat"] => self.group_set_beatchat(&words).await,
            ["group", "delete"] => self.group_delete(&words).await,
            ["group", verb @ ("activate" | "deactivate")] => {
                self.group_activate(&words, *verb == "activate").await
            }
            ["group", "list"] => {
                let groups: Vec<Value> = self
                    .store
                    .all_groups()
                    .await?
                    .iter()
                    .map(group_view)
                    .collect();
                let text = groups
                    .iter()
                    .map(|g| {
                        format!(
                            "{} {} active={}",
                            plain(&g["id"]),
                            plain(&g["beatchat_id"]),
                            g["active"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                output(json!(groups), text)
            }
            ["app", "create"] => self.app_create(&words).await,
            ["app", "list"] => {
                let now = (self.now)();
                let mut apps: Vec<Value> = Vec::new();
                for app in self.store.all_apps().await? {
                    let unsubscribed = self.store.sns_unsubscriptions(&app.name, now).await?;
                    apps.push(app_view(&app, &unsubscribed, now));
                }
                let text = apps
                    .iter()
                    .map(|a| {
                        format!(
                            "{} group={} active={}",
                            plain(&a["name"]),
                            plain(&a["group"]),
                            a["active"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                output(json!(apps), text)
            }
            ["app", "show"] => {
                let app = self.app(words.subject("app")?).await?;
                let view = self.view(&app).await?;
                output(view.clone(), serde_json::to_string_pretty(&view)?)
            }
            ["app", verb @ ("disable" | "enable")] => {
                words.allow_only(&[])?;
                let mut app = self.app(words.subject("app")?).await?;
                app.active = *verb == "enable";
                self.store.put_app(&app).await?;
                output(self.view(&app).await?, format!("app {} {verb}d", app.name))
            }
            ["app", "set-webhook"] => {
                let mut app = self.app(words.subject("app")?).await?;
                let url = words.positional.get(3).context("which URL?")?;
                check_webhook_url(url, self.local)?;
                app.webhook_url = Some(url.clone());
                self.store.put_app(&app).await?;
                output(
                    self.view(&app).await?,
                    format!("app {} now posts events to {url}", app.name),
                )
            }
            ["app", "set-delivery-window"] => {
                let mut app = self.app(words.subject("app")?).await?;
                let seconds = words
                    .positional
                    .get(3)
                    .and_then(|s| s.parse().ok())
                    .context("how many seconds?")?;
                app.delivery_window_seconds = check_delivery_window(seconds)?;
                self.store.put_app(&app).await?;
                output(
                    self.view(&app).await?,
                    format!(
                        "app {}: new messages are retried for {seconds} s until FChat takes them",
                        app.name
                    ),
                )
            }
            ["app", "set-template"] => self.set_template(&words).await,
            ["app", "clear-template"] => {
                words.allow_only(&[])?;
                words.at_most(2)?;
                let mut app = self.app(words.subject("app")?).await?;
                let source = alert_source(&words)?;
                let had = app.alert_templates.remove(source.name()).is_some();
                self.store.put_app(&app).await?;
                output(
                    self.view(&app).await?,
                    if had {
                        format!(
                            "app {}: {source} alerts use the built-in template again",
                            app.name
                        )
                    } else {
                        format!(
                            "app {} had no {source} template: the built-in one is used",
                            app.name
                        )
                    },
                )
            }
            ["app", "render-template"] => {
                words.allow_only(&["--payload"])?;
                words.at_most(3)?;
                let app = self.app(words.subject("app")?).await?;
                let source = alert_source(&words)?;
                let template = match words.positional.get(4) {
                    Some(file) => Some(read_template(source, file)?),
                    None => app.alert_templates.get(source.name()).cloned(),
                };
                let text = match words.value("--payload") {
                    Some(file) => {
                        let body = std::fs::read(file)
                            .with_context(|| format!("cannot read the payload {file}"))?;
                        source
                            .render_payload(&body, template.as_deref())
                            .map_err(|e| anyhow!("{file}: {e}"))?
                    }
                    None => render_sample(source, template.as_deref()),
                };
                output(
                    json!({"app": app.name, "source": source.name(), "custom": template.is_some(), "text": text}),
                    text,
                )
            }
            ["app", "set-alertmanager"] => self.set_alertmanager(&words).await,
            ["app", "clear-alertmanager"] => {
                words.allow_only(&[])?;
                words.at_most(1)?;
                let mut app = self.app(words.subject("app")?).await?;
                app.alerting.alertmanager = None;
                self.store.put_app(&app).await?;
                output(
                    self.view(&app).await?,
                    format!("app {}: no silence buttons any more", app.name),
                )
            }
            ["app", "set-reminders"] => {
                words.allow_only(&[])?;
                words.at_most(2)?;
                let mut app = self.app(words.subject("app")?).await?;
                app.alerting.reminders = match words.positional.get(3).map(String::as_str) {
                    Some("on") => true,
                    Some("off") => false,
                    _ => bail!("on or off?"),
                };
                self.store.put_app(&app).await?;
                output(
                    self.view(&app).await?,
                    if app.alerting.reminders {
                        format!(
                            "app {}: a repeat of a firing group posts a reminder reply",
                            app.name
                        )
                    } else {
                        format!("app {}: a repeat of a firing group posts nothing", app.name)
                    },
                )
            }
            ["app", verb @ ("allow-topic" | "disallow-topic")] => {
                words.allow_only(&[])?;
                words.at_most(2)?;
                let mut app = self.app(words.subject("app")?).await?;
                let arn = topic_arn(&words)?;
                let text = if *verb == "allow-topic" {
                    app.sns.allowed_topics.insert(arn.clone());
                    format!("app {} accepts SNS messages of {arn}", app.name)
                } else if app.sns.allowed_topics.remove(&arn) {
                    if app.sns.allowed_topics.is_empty() {
                        format!("app {} accepts SNS messages of any topic again", app.name)
                    } else {
                        format!("app {} no longer accepts SNS messages of {arn}", app.name)
                    }
                } else {
                    bail!("app {} does not list {arn}", app.name);
                };
                self.store.put_app(&app).await?;
                output(self.view(&app).await?, text)
            }
            ["app", "topics"] => {
                words.allow_only(&[])?;
                words.at_most(1)?;
                let app = self.app(words.subject("app")?).await?;
                let text = if app.sns.allowed_topics.is_empty() {
                    format!("app {} accepts SNS messages of any topic", app.name)
                } else {
                    app.sns
                        .allowed_topics
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                let unsubscribed = self
                    .store
                    .sns_unsubscriptions(&app.name, (self.now)())
                    .await?;
                output(
                    json!({"app": app.name, "sns_topics": app.sns.allowed_topics, "sns_unsubscribed": unsubscribed}),
                    text,
                )
            }
            ["app", "rotate-token"] => self.rotate_token(&words).await,
            ["app", "rotate-secret"] => self.rotate_secret(&words).await,
            ["user", "list"] => {
                let users: Vec<Value> = self
                    .store
                    .all_users()
                    .await?
                    .iter()
                    .map(|u| json!({"email": u.email, "fchat_id": u.fchat_id, "name": u.name, "created_at": u.created_at}))
                    .collect();
                let text = users
                    .iter()
                    .map(|u| format!("{} {}", plain(&u["email"]), plain(&u["fchat_id"])))
                    .collect::<Vec<_>>()
                    .join("\n");
                output(json!(users), text)
            }
            ["message", "status"] => {
                let id = words.subject("message (context id)")?;
                let context = self
                    .store
                    .context_record(id)
                    .await?
                    .with_context(|| format!("no message {id}"))?;
                let view = context_view(&context, (self.now)());
                let text = format!(
                    "{id}: {} after {} attempt(s); FChat id {}; last error {}",
                    plain(&view["status"]),
                    view["attempts"],
                    plain(&view["fchat_message_id"]),
                    plain(&view["last_error"])
                );
                output(view, text)
            }
            ["dlq", "list"] => self.dlq_list().await,
            ["dlq", "redrive"] => self.dlq_redrive().await,
            _ => bail!("unknown command\n{USAGE}"),
        }
    }

    async fn set_alertmanager(&self, words: &Words) -> Result<Output> {
        words.allow_only(&["--bearer-env", "--basic-user", "--password-env"])?;
        words.at_most(2)?;
        let mut app = self.app(words.subject("app")?).await?;
        let url = words
            .positional
            .get(3)
            .context("which URL? (app set-alertmanager N URL)")?;
        check_url(
            url,
            OutboundPolicy {
                allow_loopback: self.local,
            },
        )
        .map_err(|e| anyhow!("invalid Alertmanager URL {url:?}: {e}"))?;
        let from_env = |flag: &str| -> Result<String> {
            let variable = words.required(flag)?;
            std::env::var(variable)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("{flag}: the environment variable {variable} is not set"))
        };
        let auth = match (
            words.value("--bearer-env"),
            words.value("--basic-user"),
            words.value("--password-env"),
        ) {
            (None, None, None) => None,
            (Some(_), None, None) => Some(AlertmanagerAuth::Bearer(from_env("--bearer-env")?)),
            (None, Some(user), Some(_)) => Some(AlertmanagerAuth::Basic {
                user: user.to_owned(),
                password: from_env("--password-env")?,
            }),
            _ => bail!("give either --bearer-env VAR, or --basic-user U with --password-env VAR"),
        };
        app.alerting.alertmanager = Some(AlertmanagerLink {
            url: url.trim_end_matches('/').to_owned(),
            auth,
        });
        self.store.put_app(&app).await?;
        output(
            self.view(&app).await?,
            format!(
                "app {}: firing Alertmanager groups can be silenced from the chat through {url}",
                app.name
            ),
        )
    }

    async fn set_template(&self, words: &Words) -> Result<Output> {
        words.allow_only(&[])?;
        words.at_most(3)?;
        let mut app = self.app(words.subject("app")?).await?;
        let source = alert_source(words)?;
        let file = words
            .positional
            .get(4)
            .context("which template file? (app set-template N SOURCE FILE)")?;
        let template = read_template(source, file)?;
        app.alert_templates.insert(source.name().into(), template);
        self.store.put_app(&app).await?;
        output(
            self.view(&app).await?,
            format!(
                "app {}: {source} alerts now use the template from {file} (try `app render-template {} {source}`)",
                app.name, app.name
            ),
        )
    }

    /// [`app_view`], with the app's SNS unsubscriptions read from where ingest notes them.
    async fn view(&self, app: &App) -> Result<Value> {
        let now = (self.now)();
        let unsubscribed = self.store.sns_unsubscriptions(&app.name, now).await?;
        Ok(app_view(app, &unsubscribed, now))
    }

    async fn app(&self, name: &str) -> Result<App> {
        self.store
            .app_by_name(name)
            .await?
            .with_context(|| format!("no app {name}"))
    }

    async fn group_create(&self, words: &Words) -> Result<Output> {
        words.allow_only(&["--id", "--beatchat-id", "--name", "--inactive"])?;
        words.at_most(0)?;
        let group = Group {
            id: words.required("--id")?.to_owned(),
            beatchat_id: words.value("--beatchat-id").map(str::to_owned),
            active: !words.switch("--inactive"),
            name: words.value("--name").map(str::to_owned),
        };
        check_id("a group id", &group.id)?;
        if let Some(beatchat_id) = &group.beatchat_id {
            check_id("a beatchat id", beatchat_id)?;
        }
        if self.store.group(&group.id).await?.is_some() {
            bail!("group {} exists already", group.id);
        }
        // FChat's side first: if the simulator cannot be told, nothing is stored.
        if let Some(beatchat_id) = &group.beatchat_id {
            self.tell_simulator(beatchat_id).await?;
        }
        create_group(&self.store, group.clone()).await?;
        let text = match &group.beatchat_id {
            Some(beatchat_id) => format!("group {} created; it posts to FChat chat {beatchat_id}", group.id),
            None => format!(
                "group {} created without an FChat group: its messages answer 400 until `group set-beatchat {} B`",
                group.id, group.id
            ),
        };
        output(group_view(&group), text)
    }

    /// A group's id from the command line, checked, and the group.
    async fn existing_group(&self, words: &Words) -> Result<Group> {
        let id = words.subject("group")?;
        check_id("a group id", id)?;
        self.store
            .group(id)
            .await?
            .with_context(|| format!("no group {id}"))
    }

    async fn group_set_beatchat(&self, words: &Words) -> Result<Output> {
        words.allow_only(&[])?;
        words.at_most(2)?;
        let mut group = self.existing_group(words).await?;
        let beatchat_id = words
            .positional
            .get(3)
            .context("which beatchat id? (group set-beatchat G B)")?;
        check_id("a beatchat id", beatchat_id)?;
        self.tell_simulator(beatchat_id).await?;
        group.beatchat_id = Some(beatchat_id.clone());
        self.store.put_group(&group).await?;
        output(
            group_view(&group),
            format!("group {} now posts to FChat chat {beatchat_id}", group.id),
        )
    }

    /// Deletes a group. Apps assigned to it keep the assignment, and their group messages
    /// answer the contract's `404 Group not found`: so a group with apps is deleted only with
    /// `--force`.
    async fn group_delete(&self, words: &Words) -> Result<Output> {
        words.allow_only(&["--force"])?;
        words.at_most(1)?;
        let group = self.existing_group(words).await?;
        let apps: Vec<String> = self
            .store
            .apps_by_group(&group.id)
            .await?
            .into_iter()
            .map(|app| app.name)
            .collect();
        if !apps.is_empty() && !words.switch("--force") {
            bail!(
                "group {} is assigned to {}: the group messages of these apps would answer 404 Group \
                 not found; pass --force to delete it anyway",
                group.id,
                apps.join(", ")
            );
        }
        self.store.delete_group(&group.id).await?;
        let text = if apps.is_empty() {
            format!("group {} deleted", group.id)
        } else {
            format!(
                "group {} deleted; the group messages of {} answer 404 Group not found until it is created again",
                group.id,
                apps.join(", ")
            )
        };
        output(json!({"deleted": group.id, "apps": apps}), text)
    }

    /// Creates the FChat group chat `chat_id` in the local stack's simulator, when there is
    /// one: the real FChat has its groups already.
    async fn tell_simulator(&self, chat_id: &str) -> Result<()> {
        let Some(base) = &self.simulator_url else {
            return Ok(());
        };
        use http_body_util::BodyExt;
        let url = format!("{}/_sim/groups", base.trim_end_matches('/'));
        let request = hyper::Request::post(&url)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                json!({"id": chat_id}).to_string(),
            )))
            .with_context(|| format!("FCHAT_SIMULATOR_URL {base:?} is not a URL"))?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let exchange = async {
            let response = client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(SIMULATOR_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow!("the FChat simulator at {base} did not answer"))?
            .with_context(|| {
                format!("telling the FChat simulator at {base} about chat {chat_id}")
            })?;
        if !status.is_success() {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            bail!(
                "the FChat simulator at {base} refused chat {chat_id}: {}",
                plain(&answer["description"])
            );
        }
        Ok(())
    }

    async fn group_activate(&self, words: &Words, active: bool) -> Result<Output> {
        words.at_most(1)?;
        let mut group = self.existing_group(words).await?;
        let id = group.id.clone();
        group.active = active;
        self.store.put_group(&group).await?;
        output(
            group_view(&group),
            format!(
                "group {id} {}",
                if active { "activated" } else { "deactivated" }
            ),
        )
    }

    async fn app_create(&self, words: &Words) -> Result<Output> {
        words.allow_only(&[
            "--name",
            "--group",
            "--user-messaging",
            "--webhook-url",
            "--context-ttl",
            "--delivery-window",
        ])?;
        let new = NewApp {
            name: words.required("--name")?.to_owned(),
            group: words.value("--group").map(str::to_owned),
            user_messaging: words.switch("--user-messaging"),
            webhook_url: words.value("--webhook-url").map(str::to_owned),
            context_ttl_seconds: words.number("--context-ttl")?,
            delivery_window_seconds: words.number("--delivery-window")?,
        };
        let token = generate_token();
        let secret = generate_webhook_secret();
        let app = create_app(&self.store, &self.store, new, &token, &secret, self.local).await?;
        let mut view = self.view(&app).await?;
        view["token"] = json!(token);
        view["webhook_secret"] = json!(secret);
        let text = format!(
            "app {} created. Shown once, keep them safe:\n  token:          {token}\n  webhook secret: {secret}",
            app.name
        );
        output(view, text)
    }

    async fn rotate_token(&self, words: &Words) -> Result<Output> {
        words.allow_only(&["--grace"])?;
        let mut app = self.app(words.subject("app")?).await?;
        let grace = words.number("--grace")?.unwrap_or(DEFAULT_GRACE_SECONDS);
        let token = generate_token();
        let until = (self.now)() + grace;
        app.previous_token = Some((app.token_hash.clone(), until));
        app.token_hash = sha256_hex(token.as_bytes());
        self.store.put_app(&app).await?;
        let mut view = self.view(&app).await?;
        view["token"] = json!(token);
        let text = format!(
            "app {}: new token (shown once): {token}\nthe old token works for {grace} more seconds",
            app.name
        );
        output(view, text)
    }

    async fn rotate_secret(&self, words: &Words) -> Result<Output> {
        words.allow_only(&["--finish", "--grace"])?;
        let mut app = self.app(words.subject("app")?).await?;
        if words.switch("--finish") {
            app.webhook_secrets.truncate(1);
            app.older_secrets_until = None;
            self.store.put_app(&app).await?;
            return output(
                self.view(&app).await?,
                format!("app {}: only the newest webhook secret signs now", app.name),
            );
        }
        let grace = words.number("--grace")?.unwrap_or(DEFAULT_GRACE_SECONDS);
        let secret = generate_webhook_secret();
        // Both secrets sign until the grace period ends: the app switches when it is ready.
        app.webhook_secrets.insert(0, secret.clone());
        app.webhook_secrets.truncate(2);
        app.older_secrets_until = Some((self.now)() + grace);
        self.store.put_app(&app).await?;
        let mut view = self.view(&app).await?;
        view["webhook_secret"] = json!(secret);
        let text = format!(
            "app {}: new webhook secret (shown once): {secret}\nevents carry both signatures for {grace} more seconds (or until `app rotate-secret {} --finish`)",
            app.name, app.name
        );
        output(view, text)
    }

    /// The context a queued job delivers, if it is a send job whose context still exists.
    async fn job_context(&self, body: &str) -> Result<Option<Context>> {
        let Some(id) = Job::from_json(body)
            .ok()
            .and_then(|job| job.context_id().map(str::to_owned))
        else {
            return Ok(None);
        };
        Ok(self.store.context_record(&id).await?)
    }

    /// `queued` again, with the app's delivery window from now (a gone app's: the default).
    async fn give_new_window(&self, context: &Context) -> Result<()> {
        let window = self
            .store
            .app_by_name(&context.app)
            .await?
            .map_or(DEFAULT_DELIVERY_WINDOW_SECONDS, |app| {
                app.delivery_window_seconds
            });
        let deliver_by = (self.now)() + window;
        self.store
            .requeue(
                &context.id,
                deliver_by,
                deliver_by + context.reply_window_seconds,
            )
            .await?;
        Ok(())
    }

    fn dead_letter_queue(&self) -> Result<&str> {
        self.dead_letter_queue_url
            .as_deref()
            .context("DELIVERY_DLQ_URL is not set (the stack's DeliveryDeadLetterQueueUrl output)")
    }

    async fn dlq_list(&self) -> Result<Output> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(self.dead_letter_queue()?)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        let mut jobs = Vec::new();
        for m in received.messages.unwrap_or_default() {
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned();
            // A message's job: whether and why it was not delivered.
            let context = match self.job_context(m.body.as_deref().unwrap_or("")).await? {
                Some(context) => context_view(&context, (self.now)()),
                None => Value::Null,
            };
            jobs.push(json!({"message_id": m.message_id, "receive_count": count, "context": context, "body": m.body}));
        }
        let text = jobs
            .iter()
            .map(|j| {
                let about = match j["context"]["id"].as_str() {
                    Some(id) => format!(
                        "message {id} {}: {}",
                        plain(&j["context"]["status"]),
                        plain(&j["context"]["last_error"])
                    ),
                    None => j["body"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(120)
                        .collect::<String>(),
                };
                format!(
                    "{} received {} times: {about}",
                    plain(&j["message_id"]),
                    plain(&j["receive_count"]),
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        output(
            json!(jobs),
            if text.is_empty() {
                "the DLQ is empty".into()
            } else {
                text
            },
        )
    }

    /// Every job of the DLQ goes back to the delivery queue: sent there first, then deleted.
    async fn dlq_redrive(&self) -> Result<Output> {
        let dlq = self.dead_letter_queue()?;
        let mut moved = 0;
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                // A message that was not delivered gets a new delivery window first.
                if let Some(context) = self
                    .job_context(message.body.as_deref().unwrap_or(""))
                    .await?
                {
                    self.give_new_window(&context).await?;
                }
                self.sqs
                    .send_message()
                    .queue_url(&self.delivery_queue_url)
                    .message_body(message.body.clone().unwrap_or_default())
                    .send()
                    .await?;
                self.sqs
                    .delete_message()
                    .queue_url(dlq)
                    .receipt_handle(message.receipt_handle.unwrap_or_default())
                    .send()
                    .await?;
                moved += 1;
            }
        }
        output(
            json!({"redriven": moved}),
            format!("{moved} job(s) back on the delivery queue"),
        )
    }
}
