//! `fchat-simulator`: FChat's bot API on loopback for the local stack.
//!
//! ```text
//! fchat-simulator [--port 9001] [--seed infra/local/seed.json] [--token local-bot-token]
//!                 [--callback-url http://127.0.0.1:9000/callback/fchat]
//!                 [--callback-secret local-callback-secret]
//! ```
//! The directory comes from the seed's `users` and its group chats from the seed's groups'
//! `beatchat_id`s (the same file `fchat-local setup` loads, so the gateway and the simulator
//! agree on what exists); `POST /_sim/groups` adds a group chat later, as `fchat-admin` does
//! under the local stack. The token defaults to `FCHAT_BOT_TOKEN`,
//! then `local-bot-token`, the gateway's local defaults. Faults are set at runtime through
//! `PUT /_sim/faults`.
//!
//! Users act through `POST /_sim/act/text`, `/_sim/act/click` and `/_sim/act/room`, which post
//! updates to the callback URL with the callback secret (default `FCHAT_CALLBACK_SECRET`, then
//! `local-callback-secret`); `PUT /_sim/callback` changes both at runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use fchat_simulator::{ReceivedMessage, SimUser, Simulator, SimulatorConfig};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

const USAGE: &str = "usage: fchat-simulator [--port N] [--seed PATH] [--token T] \
[--callback-url URL] [--callback-secret S]";
const DEFAULT_SEED: &str = "infra/local/seed.json";
const DEFAULT_CALLBACK_URL: &str = "http://127.0.0.1:9000/callback/fchat";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(error) = run(args).await {
        eprintln!("fchat-simulator: {error:#}");
        std::process::exit(1);
    }
}

struct Options {
    port: u16,
    seed: Option<PathBuf>,
    token: Option<String>,
    callback_url: String,
    callback_secret: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            port: 9001,
            seed: None,
            token: None,
            callback_url: DEFAULT_CALLBACK_URL.to_owned(),
            callback_secret: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            if matches!(name, "-h" | "--help") {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let mut value = || -> Result<String> {
                match inline.clone().or_else(|| args.next().cloned()) {
                    Some(value) => Ok(value),
                    None => bail!("{name} needs a value\n{USAGE}"),
                }
            };
            match name {
                "--port" => options.port = value()?.parse().context("--port")?,
                "--seed" => options.seed = Some(PathBuf::from(value()?)),
                "--token" => options.token = Some(value()?),
                "--callback-url" => options.callback_url = value()?,
                "--callback-secret" => options.callback_secret = Some(value()?),
                _ => bail!("unknown argument {arg:?}\n{USAGE}"),
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

/// An explicit `--seed` must exist; the default is also looked for next to this crate, so
/// that the binary works when started from somewhere other than the workspace root.
fn seed_path(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(path) = explicit {
        return path;
    }
    let beside_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../local/seed.json");
    if !Path::new(DEFAULT_SEED).exists() && beside_crate.exists() {
        return beside_crate;
    }
    PathBuf::from(DEFAULT_SEED)
}

/// The seed's users and group chats.
fn load_seed(path: &Path) -> Result<(Vec<SimUser>, Vec<String>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let seed: Seed =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
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

async fn run(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    let seed = seed_path(options.seed);
    let (users, groups) = load_seed(&seed)?;
    let user_count = users.len();
    let bot_token = options
        .token
        .or_else(|| {
            std::env::var("FCHAT_BOT_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        })
        .unwrap_or_else(|| "local-bot-token".to_owned());
    let callback_secret = options
        .callback_secret
        .or_else(|| {
            std::env::var("FCHAT_CALLBACK_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "local-callback-secret".to_owned());
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
    println!(
        "FChat simulator on {} with {user_count} users and {} group chats from {}; users act towards {}",
        simulator.url(),
        simulator.groups().len(),
        seed.display(),
        options.callback_url
    );

    let mut received = simulator.subscribe();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            message = received.recv() => match message {
                Ok(message) => println!("{}", log_line(&message)),
                Err(RecvError::Lagged(missed)) => println!("({missed} messages not logged)"),
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = &mut stop => return Ok(()),
        }
    }
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
