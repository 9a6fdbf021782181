//! `fchat-simulator`: FChat's bot API on loopback for the local stack.
//!
//! ```text
//! fchat-simulator [--port 9001] [--seed infra/local/seed.json] [--token local-bot-token]
//!                 [--callback-url http://127.0.0.1:9000/callback/fchat]
//!                 [--callback-secret local-callback-secret] [--limits on|off]
//! ```
//! The directory comes from the seed's `users` and its group chats from the seed's groups'
//! `beatchat_id`s (the same file `fchat-local setup` loads, so the gateway and the simulator
//! agree on what exists); `POST /_sim/groups` adds a group chat later, as `fchat-admin` does
//! under the local stack. The token defaults to `FCHAT_BOT_TOKEN`,
//! then `local-bot-token`, the gateway's local defaults. Faults are set at runtime through
//! `PUT /_sim/faults`. FChat's rate limits are off unless `--limits on` (or `FCHAT_LIMITS=on`)
//! turns them on with FChat's documented values; `PUT` and `DELETE /_sim/limits` change them
//! at runtime.
//!
//! Users act through `POST /_sim/act/text`, `/_sim/act/click` and `/_sim/act/room`, which post
//! updates to the callback URL with the callback secret (default `FCHAT_CALLBACK_SECRET`, then
//! `local-callback-secret`); `PUT /_sim/callback` changes both at runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use fchat_simulator::cli::{
    self, default_seed, print_until_stopped, read_seed, Flags, DEFAULT_SEED,
};
use fchat_simulator::{Limits, ReceivedMessage, SimUser, Simulator, SimulatorConfig};
use serde::Deserialize;

const USAGE: &str = "usage: fchat-simulator [--port N] [--seed PATH] [--token T] \
[--callback-url URL] [--callback-secret S] [--limits on|off]";
const DEFAULT_CALLBACK_URL: &str = "http://127.0.0.1:9000/callback/fchat";

#[tokio::main]
async fn main() {
    cli::main("fchat-simulator", run).await
}

struct Options {
    port: u16,
    seed: Option<PathBuf>,
    token: Option<String>,
    callback_url: String,
    callback_secret: Option<String>,
    limits: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            port: 9001,
            seed: None,
            token: None,
            callback_url: DEFAULT_CALLBACK_URL.to_owned(),
            callback_secret: None,
            limits: None,
        };
        let mut flags = Flags::new(args, USAGE);
        while let Some(name) = flags.next_flag() {
            match name.as_str() {
                "--port" => options.port = flags.value()?.parse().context("--port")?,
                "--seed" => options.seed = Some(PathBuf::from(flags.value()?)),
                "--token" => options.token = Some(flags.value()?),
                "--callback-url" => options.callback_url = flags.value()?,
                "--callback-secret" => options.callback_secret = Some(flags.value()?),
                "--limits" => options.limits = Some(flags.value()?),
                _ => return Err(flags.unknown()),
            }
        }
        Ok(options)
    }
}

#[derive(Deserialize)]
struct Seed {
    #[serde(default)]
    users: Vec<SeedUser>,
    #[serde(default)]
    groups: Vec<SeedGroup>,
}

/// A gateway group: its `beatchat_id`, when it has one, is a group chat FChat has.
#[derive(Deserialize)]
struct SeedGroup {
    beatchat_id: Option<String>,
}

#[derive(Deserialize)]
struct SeedUser {
    email: String,
    fchat_id: String,
    name: Option<String>,
}

/// An explicit `--seed` must exist; so must the default, wherever it is looked for.
fn seed_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(default_seed)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SEED))
}

/// The seed's users and group chats.
fn load_seed(path: &Path) -> Result<(Vec<SimUser>, Vec<String>)> {
    let seed: Seed = read_seed(path)?;
    let users = seed
        .users
        .into_iter()
        .map(|user| SimUser {
            email: user.email,
            id: user.fchat_id,
            name: user.name,
        })
        .collect();
    let groups = seed
        .groups
        .into_iter()
        .filter_map(|group| group.beatchat_id)
        .filter(|id| !id.trim().is_empty())
        .collect();
    Ok((users, groups))
}

/// The flag's value, else the environment variable `var` when set and not empty, else
/// `default`.
fn flag_or_env(flag: Option<String>, var: &str, default: &str) -> String {
    flag.or_else(|| std::env::var(var).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| default.to_owned())
}

async fn run(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    let seed = seed_path(options.seed);
    let (users, groups) = load_seed(&seed)?;
    let user_count = users.len();
    let bot_token = flag_or_env(options.token, "FCHAT_BOT_TOKEN", "local-bot-token");
    let callback_secret = flag_or_env(
        options.callback_secret,
        "FCHAT_CALLBACK_SECRET",
        "local-callback-secret",
    );
    let simulator = Simulator::start(
        SocketAddr::from(([127, 0, 0, 1], options.port)),
        SimulatorConfig {
            bot_token,
            users,
            groups,
        },
    )
    .await
    .with_context(|| format!("listening on 127.0.0.1:{}", options.port))?;
    simulator.set_callback(options.callback_url.clone(), callback_secret);
    let limits = match flag_or_env(options.limits, "FCHAT_LIMITS", "off").as_str() {
        "on" => Some(Limits::default()),
        "off" => None,
        other => anyhow::bail!("--limits (or FCHAT_LIMITS) is on or off, not {other:?}\n{USAGE}"),
    };
    simulator.set_limits(limits);
    println!(
        "FChat simulator on {} with {user_count} users and {} group chats from {}; users act towards {}",
        simulator.url(),
        simulator.groups().len(),
        seed.display(),
        options.callback_url
    );
    let status = simulator.limits();
    match (status.per_chat_per_second, status.per_group_per_minute, status.global_per_second) {
        (Some(chat), Some(group), Some(all)) => println!(
            "FChat's rate limits on: {chat}/s per chat, {group}/min per group, {all}/s per bot (GET /_sim/limits counts refusals)"
        ),
        _ => println!("FChat's rate limits off (make dev FCHAT_LIMITS=on, or PUT /_sim/limits)"),
    }
    print_until_stopped(simulator.subscribe(), log_line, "messages not logged").await
}

fn log_line(message: &ReceivedMessage) -> String {
    let buttons: usize = message
        .reply_markup
        .as_ref()
        .and_then(|markup| markup["inline_keyboard"].as_array())
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row.as_array())
                .map(Vec::len)
                .sum()
        })
        .unwrap_or(0);
    format!(
        "sendMessage chat={} text={:?} buttons={buttons} -> {}",
        message.chat_id, message.text, message.message_id
    )
}
