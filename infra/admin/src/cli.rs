//! The command line: `fchat-admin [--json] [--env-file FILE] COMMAND ...`, parsed by clap.
//!
//! clap's errors are turned into the sentences the commands have always answered ("which
//! group?", "unknown option --colour", "unexpected argument", "unknown command"), each naming
//! the bad argument and followed by the command's usage.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

use crate::commands::Command;

/// fchat-admin: operate an FChat gateway (its apps, groups, users, messages and dead-letter
/// queue), deployed on AWS or under `make dev`.
#[derive(Parser, Debug)]
#[command(
    name = "fchat-admin",
    version,
    max_term_width = 100,
    after_help = "The stack's names come from the environment or --env-file: APPS_TABLE, GROUPS_TABLE, \
USERS_TABLE, CONTEXTS_TABLE, DELIVERY_QUEUE_URL, DELIVERY_DLQ_URL (the stack's outputs). Against AWS \
it signs with the standard profile and region, under the stack's OperatorPolicy; with AWS_ENDPOINT_URL \
set (make dev writes .dev/functions.env) it talks to the local stack.\n\nEvery command: \
fchat-admin COMMAND --help. Shell completions: fchat-admin completions bash."
)]
pub struct Cli {
    /// Answer JSON, for scripts (errors too: {"error": ...})
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the stack's variables from FILE (dotenv format; `make dev` writes .dev/functions.env)
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// A command line understood: a command to run, or help to show.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Cli>),
    Help(String),
}

/// Parses a command line without the program's name.
pub fn parse(args: &[String]) -> Result<Parsed> {
    let words = std::iter::once("fchat-admin".to_owned()).chain(args.iter().cloned());
    match Cli::try_parse_from(words) {
        Ok(cli) => Ok(Parsed::Run(Box::new(cli))),
        Err(error) => match error.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                Ok(Parsed::Help(error.render().to_string()))
            }
            _ => Err(explain(&error)),
        },
    }
}

/// The whole command tree, for help and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// clap's error as a sentence naming the bad argument, then the usage.
fn explain(error: &clap::Error) -> anyhow::Error {
    let invalid: Vec<String> = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => vec![arg.clone()],
        Some(ContextValue::Strings(args)) => args.clone(),
        _ => Vec::new(),
    };
    let first = invalid.first().cloned().unwrap_or_default();
    let sentence = match error.kind() {
        ErrorKind::InvalidSubcommand => {
            let name = match error.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(name)) => name.clone(),
                _ => first,
            };
            format!("unknown command {name:?}")
        }
        ErrorKind::UnknownArgument if first.starts_with('-') => {
            format!(
                "unknown option {}",
                first.split('=').next().unwrap_or(&first)
            )
        }
        ErrorKind::UnknownArgument => format!("unexpected argument {first:?}"),
        ErrorKind::MissingRequiredArgument => invalid
            .iter()
            .map(|arg| missing(arg))
            .collect::<Vec<_>>()
            .join("; "),
        ErrorKind::MissingSubcommand => "which command?".to_owned(),
        ErrorKind::InvalidValue => {
            let rendered = error.render().to_string();
            let line = rendered.lines().next().unwrap_or_default();
            let line = line.strip_prefix("error: ").unwrap_or(line);
            match error.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(values)) => {
                    format!("{line}: one of {}", values.join(", "))
                }
                _ => line.to_owned(),
            }
        }
        _ => {
            let rendered = error.render().to_string();
            let line = rendered.lines().next().unwrap_or_default();
            line.strip_prefix("error: ").unwrap_or(line).to_owned()
        }
    };
    let rendered = error.render().to_string();
    match rendered.find("Usage:") {
        Some(at) => anyhow!("{sentence}\n\n{}", rendered[at..].trim_end()),
        None => anyhow!("{sentence}"),
    }
}

/// What a missing argument asks for: `--id <GROUP>` is "--id is required", `<BEATCHAT_ID>`
/// "which beatchat id?".
fn missing(arg: &str) -> String {
    if arg.starts_with('-') {
        let flag = arg.split_whitespace().next().unwrap_or(arg);
        return format!("{flag} is required");
    }
    let name = arg
        .trim_matches(|c| c == '<' || c == '>' || c == '.')
        .to_lowercase()
        .replace('_', " ");
    match name.as_str() {
        "seconds" => "how many seconds?".to_owned(),
        _ => format!("which {name}? ({arg} is missing)"),
    }
}

/// A positive whole number of seconds (`--grace`, `--context-ttl`, `--delivery-window`).
pub fn positive(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "must be a positive whole number".to_owned())
}

/// A whole number of seconds, any (the command checks its range).
pub fn seconds(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .map_err(|_| "how many seconds? (a whole number)".to_owned())
}

/// A template's SOURCE: the template kinds of the sources registry, which `--help` lists.
pub fn template_kind(
) -> impl clap::builder::TypedValueParser<Value = gateway::domain::sources::aws_events::TemplateKind>
{
    use gateway::domain::sources::aws_events::TemplateKind;
    let mut names: Vec<&'static str> = Vec::new();
    for kind in gateway::api::sources::SOURCES
        .iter()
        .flat_map(|source| source.template_kinds())
    {
        if !names.contains(&kind) {
            names.push(kind);
        }
    }
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names).map(|name: String| {
        TemplateKind::from_name(&name).expect("the registry names template kinds only")
    })
}

/// An SNS topic's ARN.
pub fn topic_arn(value: &str) -> Result<String, String> {
    if gateway::domain::sources::sns::is_topic_arn(value) {
        Ok(value.to_owned())
    } else {
        Err("not an SNS topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn refused(line: &str) -> String {
        format!("{:#}", parse(&words(line)).unwrap_err())
    }

    #[test]
    fn the_command_tree_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn errors_name_the_bad_argument_and_show_the_usage() {
        let error = refused("group set-beatchat ops");
        assert!(
            error.starts_with("which beatchat id? (<BEATCHAT_ID> is missing)"),
            "{error}"
        );
        assert!(
            error.contains("Usage: fchat-admin group set-beatchat <GROUP> <BEATCHAT_ID>"),
            "{error}"
        );
        assert!(refused("group create --id y --colour red").starts_with("unknown option --colour"));
        assert!(refused("group delete ops extra").starts_with("unexpected argument \"extra\""));
        assert!(refused("app frobnicate x").starts_with("unknown command \"frobnicate\""));
        assert!(refused("group create --beatchat-id b").starts_with("--id is required"));
        assert!(refused("app set-delivery-window a").starts_with("how many seconds?"));
        let error = refused("app create --name a --context-ttl soon");
        assert!(
            error.contains("'--context-ttl <SECONDS>'") && error.contains("positive whole number"),
            "{error}"
        );
        let error = refused("app set-template a prometheus f");
        assert!(
            error.contains("<SOURCE>") && error.contains("aws-cloudwatch-alarm"),
            "{error}"
        );
    }

    #[test]
    fn the_template_commands_list_every_template_kind_of_the_registry() {
        for command in ["set-template", "clear-template", "render-template"] {
            let Ok(Parsed::Help(text)) = parse(&["app".into(), command.into(), "--help".into()])
            else {
                panic!("app {command} shows no help");
            };
            for kind in gateway::domain::sources::aws_events::TemplateKind::names() {
                assert!(
                    text.contains(kind),
                    "app {command} --help never names {kind}"
                );
            }
        }
    }

    #[test]
    fn every_command_has_its_help() {
        fn walk(command: &clap::Command, path: Vec<String>, seen: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let mut path = path.clone();
                path.push(sub.get_name().to_owned());
                if sub.has_subcommands() {
                    walk(sub, path, seen);
                    continue;
                }
                let mut line = path.clone();
                line.push("--help".into());
                let Ok(Parsed::Help(text)) = parse(&line) else {
                    panic!("{line:?} shows no help");
                };
                assert!(text.contains("Usage: fchat-admin"), "{text}");
                assert!(
                    sub.get_about()
                        .is_some_and(|about| about.to_string().len() > 10),
                    "{path:?} has no description"
                );
                seen.push(path.join(" "));
            }
        }
        let mut seen = Vec::new();
        walk(&command(), Vec::new(), &mut seen);
        for expected in [
            "group create",
            "app test-webhook",
            "dlq redrive",
            "completions",
        ] {
            assert!(seen.iter().any(|s| s == expected), "{expected}: {seen:?}");
        }
    }
}
