//! What the crate's two binaries, `fchat-simulator` and `fchat-webhook-receiver`, share: their
//! `main`, their flags, the seed file they read, and printing what they receive until Ctrl-C.

use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// The seed file `make dev` gives both binaries, relative to the workspace root.
pub const DEFAULT_SEED: &str = "infra/local/seed.json";

/// A binary's `main`: `run` with the command line's arguments (without the program's name);
/// an error is printed as `{name}: {error}` and exits with status 1.
pub async fn main<R>(name: &str, run: impl FnOnce(Vec<String>) -> R)
where
    R: Future<Output = Result<()>>,
{
    if let Err(error) = run(std::env::args().skip(1).collect()).await {
        eprintln!("{name}: {error:#}");
        std::process::exit(1);
    }
}

/// A binary's flags, `--name value` or `--name=value`, one at a time.
pub struct Flags<'a> {
    args: std::slice::Iter<'a, String>,
    usage: &'static str,
    /// The flag being read: the argument as given, its name, and the value after `=`.
    current: Option<(&'a str, String, Option<String>)>,
}

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String], usage: &'static str) -> Flags<'a> {
        Flags {
            args: args.iter(),
            usage,
            current: None,
        }
    }

    /// The next flag's name (`--port` of `--port=9001`). `-h` and `--help` print the usage
    /// and exit.
    pub fn next_flag(&mut self) -> Option<String> {
        let arg = self.args.next()?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        if matches!(name, "-h" | "--help") {
            println!("{}", self.usage);
            std::process::exit(0);
        }
        self.current = Some((arg, name.to_owned(), inline));
        Some(name.to_owned())
    }

    /// Whether the current flag came without `=value`: how a switch (`--echo`) is given.
    pub fn is_switch(&self) -> bool {
        matches!(&self.current, Some((_, _, None)))
    }

    /// The current flag's value: what follows `=`, else the next argument.
    pub fn value(&mut self) -> Result<String> {
        let Some((_, name, inline)) = &self.current else {
            bail!("no flag has been read");
        };
        match inline.clone().or_else(|| self.args.next().cloned()) {
            Some(value) => Ok(value),
            None => bail!("{name} needs a value\n{}", self.usage),
        }
    }

    /// The error for a flag the binary does not know.
    pub fn unknown(&self) -> anyhow::Error {
        let arg = self.current.as_ref().map_or("", |(arg, _, _)| *arg);
        anyhow!("unknown argument {arg:?}\n{}", self.usage)
    }
}

/// [`DEFAULT_SEED`] when it exists, else the same file looked for next to this crate (so that
/// the binaries work when started from somewhere other than the workspace root), else none.
pub fn default_seed() -> Option<PathBuf> {
    let beside_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../local/seed.json");
    [PathBuf::from(DEFAULT_SEED), beside_crate]
        .into_iter()
        .find(|path| path.exists())
}

/// The part of a seed file a binary reads (`T` ignores the rest).
pub fn read_seed<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Prints `line(item)` for everything `received` gets, until Ctrl-C or until the server is
/// gone; items the printing fell behind on are counted as `({n} {skipped})`.
pub async fn print_until_stopped<T: Clone>(
    mut received: broadcast::Receiver<T>,
    line: impl Fn(&T) -> String,
    skipped: &str,
) -> Result<()> {
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            item = received.recv() => match item {
                Ok(item) => println!("{}", line(&item)),
                Err(RecvError::Lagged(missed)) => println!("({missed} {skipped})"),
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = &mut stop => return Ok(()),
        }
    }
}
