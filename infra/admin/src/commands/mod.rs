//! Every command, one file each, registered once below: its line in a `commands!` list makes
//! it a subcommand (clap's name is the variant's, in kebab-case; its help is the struct's
//! documentation) and routes it to its `run`.

use anyhow::Result;

use crate::{Admin, Output};

pub mod app;
pub mod completions;
pub mod dlq;
pub mod group;
pub mod message;
pub mod user;

/// What a command does.
pub(crate) trait Run {
    async fn run(self, admin: &Admin) -> Result<Output>;
}

/// Declares a clap subcommand enum whose variants each hold one command, and its dispatch.
macro_rules! commands {
    ($(#[$meta:meta])* $name:ident { $($variant:ident($command:ty),)* }) => {
        $(#[$meta])*
        #[derive(clap::Subcommand, Debug)]
        pub enum $name {
            $($variant($command),)*
        }

        impl $crate::commands::Run for $name {
            async fn run(self, admin: &$crate::Admin) -> anyhow::Result<$crate::Output> {
                match self {
                    $(Self::$variant(command) => command.run(admin).await,)*
                }
            }
        }
    };
}
pub(crate) use commands;

/// The top level: a kind of record, then what to do with it.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Groups: the FChat group chats apps post to
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Apps: their tokens, webhooks, templates, Alertmanager and SNS topics
    #[command(subcommand)]
    App(app::AppCommand),
    /// The FChat users the gateway has messaged
    #[command(subcommand)]
    User(user::UserCommand),
    /// A message's delivery status
    #[command(subcommand)]
    Message(message::MessageCommand),
    /// The delivery queue's dead-letter queue
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    Completions(completions::Completions),
}

impl Run for Command {
    async fn run(self, admin: &Admin) -> Result<Output> {
        match self {
            Command::Group(command) => command.run(admin).await,
            Command::App(command) => command.run(admin).await,
            Command::User(command) => command.run(admin).await,
            Command::Message(command) => command.run(admin).await,
            Command::Dlq(command) => command.run(admin).await,
            Command::Completions(command) => command.run(admin).await,
        }
    }
}
