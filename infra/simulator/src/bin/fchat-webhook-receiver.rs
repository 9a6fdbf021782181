//! `fchat-webhook-receiver`: a demo app webhook for the local stack, which checks the
//! gateway's signatures and prints what it receives.
//!
//! ```text
//! fchat-webhook-receiver [--port 9002] [--secret whsec_...]... [--echo]
//! fchat-webhook-receiver [--port 9002] [--seed infra/local/seed.json] [--app MY_APP] [--echo]
//! ```
//! Without `--secret`, the secret is the seed's `webhook_secret` of the app `--app` (the
//! seed's app already points its webhook at `http://127.0.0.1:9002/webhook`). With `--echo` it
//! plays a bot that answers a user's message with "You said: ...".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use fchat_simulator::receiver::{ReceivedEvent, Receiver, ReceiverConfig};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

const USAGE: &str = "usage: fchat-webhook-receiver [--port N] [--secret whsec_...]... \
[--seed PATH] [--app NAME] [--echo]";
const DEFAULT_SEED: &str = "infra/local/seed.json";
const DEFAULT_APP: &str = "MY_APP";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(error) = run(args).await {
        eprintln!("fchat-webhook-receiver: {error:#}");
        std::process::exit(1);
    }
}

struct Options {
    port: u16,
    secrets: Vec<String>,
    seed: Option<PathBuf>,
    app: String,
    echo: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            port: 9002,
            secrets: Vec::new(),
            seed: None,
            app: DEFAULT_APP.to_owned(),
            echo: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            match name {
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                "--echo" if inline.is_none() => {
                    options.echo = true;
                    continue;
                }
                _ => {}
            }
            let mut value = || -> Result<String> {
                match inline.clone().or_else(|| args.next().cloned()) {
                    Some(value) => Ok(value),
                    None => bail!("{name} needs a value\n{USAGE}"),
                }
            };
            match name {
                "--port" => options.port = value()?.parse().context("--port")?,
                "--secret" => options.secrets.push(value()?),
                "--seed" => options.seed = Some(PathBuf::from(value()?)),
                "--app" => options.app = value()?,
                _ => bail!("unknown argument {arg:?}\n{USAGE}"),
            }
        }
        Ok(options)
    }
}

#[derive(Deserialize)]
struct Seed {
    #[serde(default)]
    apps: Vec<SeedApp>,
}

#[derive(Deserialize)]
struct SeedApp {
    name: String,
    webhook_secret: Option<String>,
    #[serde(default)]
    webhook_secrets: Vec<String>,
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

fn load_secrets(path: &Path, app: &str) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let seed: Seed =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(found) = seed.apps.into_iter().find(|a| a.name == app) else {
        bail!("{} has no app {app:?}", path.display());
    };
    let secrets: Vec<String> = found
        .webhook_secret
        .into_iter()
        .chain(found.webhook_secrets)
        .collect();
    if secrets.is_empty() {
        bail!(
            "the app {app:?} in {} has no webhook_secret",
            path.display()
        );
    }
    Ok(secrets)
}

async fn run(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    let (secrets, source) = if options.secrets.is_empty() {
        let seed = seed_path(options.seed);
        let secrets = load_secrets(&seed, &options.app)?;
        let source = format!("{}'s secret from {}", options.app, seed.display());
        (secrets, source)
    } else {
        let source = format!("{} secret(s) from --secret", options.secrets.len());
        (options.secrets, source)
    };
    let receiver = Receiver::start(
        SocketAddr::from(([127, 0, 0, 1], options.port)),
        ReceiverConfig {
            secrets,
            echo: options.echo,
        },
    )
    .await
    .with_context(|| format!("listening on 127.0.0.1:{}", options.port))?;
    println!(
        "webhook receiver on {} checking {source}{}",
        receiver.url(),
        if options.echo { ", echoing" } else { "" }
    );

    let mut received = receiver.subscribe();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = received.recv() => match event {
                Ok(event) => println!("{}", block(&event)),
                Err(RecvError::Lagged(missed)) => println!("({missed} requests not printed)"),
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = &mut stop => return Ok(()),
        }
    }
}

/// One request: a summary line, then the body pretty-printed.
fn block(event: &ReceivedEvent) -> String {
    let verdict = match &event.invalid_reason {
        None => "[signature ok]".to_owned(),
        Some(reason) => format!("[signature INVALID: {reason}]"),
    };
    let field = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let body = serde_json::to_string_pretty(&event.body).unwrap_or_default();
    format!(
        "{verdict} event={} app={} context={} id={}\n{body}",
        field(&event.body["event"]),
        field(&event.body["app"]),
        field(&event.body["context"]["id"]),
        event.header("webhook-id").unwrap_or("-"),
    )
}
