//! `fchat-webhook-receiver`: a demo app webhook for the local stack, which checks the
//! gateway's signatures and prints what it receives.
//!
//! ```text
//! fchat-webhook-receiver [--port 9002] [--seed infra/local/seed.json] [--secret whsec_...]... [--echo]
//! ```
//! Every app of the seed is served at its own path, `/webhook/{app name}` (what `fchat-local
//! setup --webhook-receiver` gives the seed's apps that have no `webhook_url`), and checked
//! with its `webhook_secret`; an app without one, or any other name, is served without a
//! check ("unsigned / no secret"). `--secret` also serves one app at `/webhook`. Without
//! `--seed` or `--secret` the seed is `infra/local/seed.json` when there is one. With `--echo`
//! it plays a bot that answers a user's message with "You said: ...".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use fchat_simulator::cli::{self, default_seed, print_until_stopped, read_seed, Flags};
use fchat_simulator::receiver::{ReceivedEvent, Receiver, ReceiverApp, ReceiverConfig};
use serde::Deserialize;
use serde_json::Value;

const USAGE: &str =
    "usage: fchat-webhook-receiver [--port N] [--seed PATH] [--secret whsec_...]... [--echo]";

#[tokio::main]
async fn main() {
    cli::main("fchat-webhook-receiver", run).await
}

struct Options {
    port: u16,
    secrets: Vec<String>,
    seed: Option<PathBuf>,
    echo: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            port: 9002,
            secrets: Vec::new(),
            seed: None,
            echo: false,
        };
        let mut flags = Flags::new(args, USAGE);
        while let Some(name) = flags.next_flag() {
            match name.as_str() {
                "--echo" if flags.is_switch() => options.echo = true,
                "--port" => options.port = flags.value()?.parse().context("--port")?,
                "--secret" => options.secrets.push(flags.value()?),
                "--seed" => options.seed = Some(PathBuf::from(flags.value()?)),
                _ => return Err(flags.unknown()),
            }
        }
        Ok(options)
    }
}

/// The part of a seed file the receiver reads; the rest is `fchat-local setup`'s business.
#[derive(Deserialize)]
struct Seed {
    #[serde(default)]
    apps: Vec<SeedApp>,
}

#[derive(Deserialize)]
struct SeedApp {
    name: String,
    webhook_secret: Option<String>,
}

/// An explicit `--seed` must exist. Without it (and without `--secret`) the default is used
/// when it exists.
fn seed_path(options: &Options) -> Option<PathBuf> {
    if let Some(path) = &options.seed {
        return Some(path.clone());
    }
    if !options.secrets.is_empty() {
        return None;
    }
    default_seed()
}

fn load_apps(path: &Path) -> Result<Vec<ReceiverApp>> {
    let seed: Seed = read_seed(path)?;
    Ok(seed
        .apps
        .into_iter()
        .map(|app| ReceiverApp {
            name: app.name,
            secrets: app
                .webhook_secret
                .filter(|s| !s.trim().is_empty())
                .into_iter()
                .collect(),
        })
        .collect())
}

async fn run(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    let seed = seed_path(&options);
    let apps = match &seed {
        Some(path) => load_apps(path)?,
        None => Vec::new(),
    };
    let receiver = Receiver::start(
        SocketAddr::from(([127, 0, 0, 1], options.port)),
        ReceiverConfig {
            secrets: options.secrets.clone(),
            apps: apps.clone(),
            echo: options.echo,
        },
    )
    .await
    .with_context(|| format!("listening on 127.0.0.1:{}", options.port))?;
    println!(
        "webhook receiver on http://{} serving {} app(s){}{}",
        receiver.addr(),
        apps.len(),
        seed.map(|path| format!(" from {}", path.display()))
            .unwrap_or_default(),
        if options.echo { ", echoing" } else { "" }
    );
    if !options.secrets.is_empty() {
        println!(
            "  {}  checked with {} secret(s) from --secret",
            receiver.url(),
            options.secrets.len()
        );
    }
    for app in &apps {
        let check = if app.secrets.is_empty() {
            "unsigned / no secret: no webhook_secret in the seed, signatures not checked"
        } else {
            "checked with its webhook_secret"
        };
        println!("  {}  {:?}: {check}", receiver.app_url(&app.name), app.name);
    }
    println!("  (any other {}/NAME is served unchecked)", receiver.url());

    print_until_stopped(receiver.subscribe(), block, "requests not printed").await
}

/// One request: a summary line, then the body pretty-printed.
fn block(event: &ReceivedEvent) -> String {
    let verdict = match (&event.invalid_reason, event.signature_checked) {
        (_, false) => "[unsigned / no secret: signature not checked]".to_owned(),
        (None, true) => "[signature ok]".to_owned(),
        (Some(reason), true) => format!("[signature INVALID: {reason}]"),
    };
    let field = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let body = serde_json::to_string_pretty(&event.body).unwrap_or_default();
    format!(
        "{verdict} to={:?} event={} app={} context={} id={}\n{body}",
        event.app.as_deref().unwrap_or("/webhook"),
        field(&event.body["event"]),
        field(&event.body["app"]),
        field(&event.body["context"]["id"]),
        event.header("webhook-id").unwrap_or("-"),
    )
}
