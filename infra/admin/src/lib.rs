//! `fchat-admin`: what an operator does to a deployed FChat gateway (and to the local stack,
//! which runs it under the same policy). Every command answers JSON (`--json`) and a line of
//! text for people; bad input is an error that names it and changes nothing.
//!
//! - [`cli`]: the command line (clap): global options, and errors that name the bad argument.
//! - [`commands`]: one file per command, each registered once in `commands/mod.rs`.
//! - [`checks`]: what is checked before anything is written; the writes `make dev`'s seed
//!   shares with the commands ([`create_group`], [`create_app`]).
//! - [`views`]: records as an operator sees them, never a hash or a secret.
//! - [`webhook_check`]: `app test-webhook`'s checklist.
//! - [`environment`]: the stack's names from the environment or `--env-file`, and the AWS
//!   configuration.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use gateway::adapters::webhook::guard::HostLookup;
use gateway::domain::{App, Context, Group, UnixTime, DEFAULT_DELIVERY_WINDOW_SECONDS};
use gateway::dynamo::DynamoStore;
use gateway::job::Job;
use gateway::ports::{AppStore, ContextStore, GroupStore};
use serde_json::Value;

pub mod checks;
pub mod cli;
pub mod commands;
pub mod environment;
mod simulator;
pub mod views;
pub mod webhook_check;

pub use checks::{
    check_delivery_window, check_id, check_webhook_url, create_app, create_group, read_template,
    render_sample, NewApp, DEFAULT_GRACE_SECONDS, MAX_ID_CHARS,
};
pub use views::app_view;

/// What the commands work on: the stack's tables and queues, and how it is reached.
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
    /// How `app test-webhook` looks names up (the system's resolver; tests give their own).
    pub lookup: Arc<dyn HostLookup>,
}

/// What a command did: for scripts, and for people.
pub struct Output {
    pub json: Value,
    pub text: String,
    /// False when the command ran but what it checked failed (`app test-webhook`): the
    /// binary exits non-zero, after printing the report.
    pub success: bool,
}

/// A command's answer.
pub fn output(json: Value, text: impl Into<String>) -> Result<Output> {
    Ok(Output {
        json,
        text: text.into(),
        success: true,
    })
}

impl Admin {
    /// Runs one command line (without the program's name): `["group", "list"]`.
    pub async fn run(&self, args: &[String]) -> Result<Output> {
        match cli::parse(args)? {
            cli::Parsed::Help(text) => output(serde_json::json!({ "help": text }), text),
            cli::Parsed::Run(cli) => self.execute(cli.command).await,
        }
    }

    /// Runs a parsed command.
    pub async fn execute(&self, command: commands::Command) -> Result<Output> {
        commands::Run::run(command, self).await
    }

    pub(crate) async fn app(&self, name: &str) -> Result<App> {
        self.store
            .app_by_name(name)
            .await?
            .with_context(|| format!("no app {name}"))
    }

    /// [`app_view`], with the app's SNS unsubscriptions read from where ingest notes them.
    pub(crate) async fn view(&self, app: &App) -> Result<Value> {
        let now = (self.now)();
        let unsubscribed = self.store.sns_unsubscriptions(&app.name, now).await?;
        Ok(app_view(app, &unsubscribed, now))
    }

    /// A group by its id, checked first.
    pub(crate) async fn existing_group(&self, id: &str) -> Result<Group> {
        check_id("a group id", id)?;
        self.store
            .group(id)
            .await?
            .with_context(|| format!("no group {id}"))
    }

    /// Creates the FChat group chat `chat_id` in the local stack's simulator, when there is
    /// one: the real FChat has its groups already.
    pub(crate) async fn tell_simulator(&self, chat_id: &str) -> Result<()> {
        match &self.simulator_url {
            Some(base) => simulator::create_chat(base, chat_id).await,
            None => Ok(()),
        }
    }

    /// The context a queued job delivers, if it is a send job whose context still exists.
    pub(crate) async fn job_context(&self, body: &str) -> Result<Option<Context>> {
        let Some(id) = Job::from_json(body)
            .ok()
            .and_then(|job| job.context_id().map(str::to_owned))
        else {
            return Ok(None);
        };
        Ok(self.store.context_record(&id).await?)
    }

    /// `queued` again, with the app's delivery window from now (a gone app's: the default).
    pub(crate) async fn give_new_window(&self, context: &Context) -> Result<()> {
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

    pub(crate) fn dead_letter_queue(&self) -> Result<&str> {
        self.dead_letter_queue_url
            .as_deref()
            .context("DELIVERY_DLQ_URL is not set (the stack's DeliveryDeadLetterQueueUrl output)")
    }
}
