//! `fchat-local`: the local stack's commands.
//!
//! ```text
//! fchat-local setup   [--template template.yaml] [--seed infra/local/seed.json] [--env-file .dev/functions.env] [--param Name=Value]...
//!                     [--webhook-receiver http://127.0.0.1:9002] [--simulator http://127.0.0.1:9001]
//! fchat-local gateway [--template template.yaml] [--port 9000] [--invoke http://127.0.0.1:9010]
//! fchat-local poller  [--template template.yaml] [--invoke http://127.0.0.1:9010] [--param Name=Value]... [--ready-file F]
//! fchat-local functions [--template template.yaml] [--env-file .dev/functions.env] [--port 9010] [--bin-dir DIR] [--max-instances 10]
//! fchat-local iam     [--template template.yaml] [--port 4566] --upstream http://127.0.0.1:4567 [--param Name=Value]...
//! fchat-local console [--port 9003] [--api http://127.0.0.1:9000] [--simulator http://127.0.0.1:9001]
//!                     [--receiver http://127.0.0.1:9002] [--seed infra/local/seed.json]
//! ```
//! `setup` needs `AWS_ENDPOINT_URL` (the emulator): it never provisions a real account. With
//! `--webhook-receiver`, the seed's apps without a `webhook_url` get their path on the demo
//! receiver there; `--simulator` writes `FCHAT_SIMULATOR_URL` to the env file, for
//! `fchat-admin` to create groups' FChat chats in the simulator.
//!
//! `functions` runs the template's functions from the binaries already built (by default
//! those beside `fchat-local`, e.g. `target/debug`) under the Lambda Runtime API emulator,
//! each with its template `Timeout` and the environment `setup` wrote, and serves the Invoke
//! API once every function has initialized. A function process that dies is started again
//! for the next invocation.
//!
//! `setup` puts the secrets into the emulator's SSM Parameter Store; the env file gets their names only,
//! and the operator's access key, so that `fchat-admin --env-file` runs under the operator's policy.
//!
//! `iam` serves the IAM gate ([`fchat_local::iam`]) in front of moto at `--upstream`: every call
//! is held to the policy in the template of whoever signed it; `functions` gives each function
//! its own key and the poller signs as the function it feeds.
//!
//! `console` serves the local stack's web console on loopback (see [`fchat_local::console`]);
//! it sends for the seed's apps with their tokens and checks their webhooks' signatures with
//! their `webhook_secret`s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use fchat_local::console::{Console, ConsoleApp, ConsoleConfig};
use fchat_local::gateway::LocalGateway;
use fchat_local::iam::{function_credentials, IamGate, Identities, OPERATOR_ACCESS_KEY};
use fchat_local::invoke::Invoker;
use fchat_local::moto::{local_aws_environment, local_sdk_config, local_sdk_config_as};
use fchat_local::poller::{Poller, DEFAULT_CONCURRENCY, INVOKE_MARGIN};
use fchat_local::provision::provision;
use fchat_local::runtime::{FunctionSpec, LambdaHost, INIT_LIMIT};
use fchat_local::seed::Seed;
use fchat_local::template::Template;
use gateway::config::Config;
use gateway::dynamo::DynamoStore;

const USAGE: &str = "usage: fchat-local setup [--template F] [--seed F] [--env-file F] [--param Name=Value]... [--webhook-receiver URL] [--simulator URL]
       fchat-local gateway [--template F] [--port N] [--invoke URL]
       fchat-local poller [--template F] [--invoke URL] [--param Name=Value]... [--ready-file F]
       fchat-local functions [--template F] [--env-file F] [--port N] [--bin-dir DIR] [--max-instances N]
       fchat-local iam [--template F] [--port N] --upstream URL [--param Name=Value]...
       fchat-local console [--port N] [--api URL] [--simulator URL] [--receiver URL] [--functions URL] [--seed F]";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(error) = run(args).await {
        eprintln!("fchat-local: {error:#}");
        std::process::exit(1);
    }
}

async fn run(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    let options = Options::parse(rest)?;
    let template = options.path("--template", "template.yaml");
    match command.as_str() {
        "setup" => setup(&template, &options).await,
        "gateway" => {
            let routes = Template::load(&template)?.http_routes()?;
            let port: u16 = options
                .get("--port")
                .unwrap_or("9000")
                .parse()
                .context("--port")?;
            let invoke = options.get("--invoke").unwrap_or("http://127.0.0.1:9010");
            let bound = LocalGateway::new(routes, Invoker::new(invoke))
                .serve(SocketAddr::from(([127, 0, 0, 1], port)))
                .await
                .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
            println!("local API gateway on http://{bound}, invoking functions at {invoke}");
            std::future::pending::<()>().await;
            Ok(())
        }
        "poller" => {
            let endpoint = std::env::var("AWS_ENDPOINT_URL").context(
                "AWS_ENDPOINT_URL is not set: the poller serves the local emulator only",
            )?;
            let invoker = Invoker::new(options.get("--invoke").unwrap_or("http://127.0.0.1:9010"));
            let template = Template::load(&template)?;
            let functions = template.functions()?;
            let mut pollers = tokio::task::JoinSet::new();
            for source in template.queue_sources_with(&options.params)? {
                // The event source mapping polls with the function's role; finding the queue
                // from its ARN is the Lambda service's own business, not the role's.
                let sdk =
                    local_sdk_config_as(&endpoint, &function_credentials(&source.function)).await;
                let sqs = aws_sdk_sqs::Client::new(&sdk);
                let service = aws_sdk_sqs::Client::new(&local_sdk_config(&endpoint).await);
                let timeout = functions
                    .iter()
                    .find(|f| f.binary == source.function)
                    .map(|f| f.timeout)
                    .with_context(|| format!("no function {}", source.function))?;
                invoker
                    .dry_run(&source.function)
                    .await
                    .with_context(|| format!("finding function {}", source.function))?;
                let queue_url = service
                    .get_queue_url()
                    .queue_name(&source.queue)
                    .send()
                    .await
                    .with_context(|| format!("finding queue {}", source.queue))?
                    .queue_url
                    .unwrap_or_default();
                let queue_arn = sqs
                    .get_queue_attributes()
                    .queue_url(&queue_url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send()
                    .await?
                    .attributes
                    .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                    .unwrap_or_default();
                let concurrency = source.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY);
                println!(
                    "local poller: {} -> {}, up to {concurrency} batches of {} at once, each given {} s",
                    source.queue,
                    source.function,
                    source.batch_size,
                    (timeout + INVOKE_MARGIN).as_secs()
                );
                pollers.spawn(
                    Poller {
                        sqs: sqs.clone(),
                        queue_url,
                        queue_arn,
                        function: source.function,
                        invoker: invoker.clone(),
                        batch_size: source.batch_size,
                        concurrency,
                        invoke_timeout: timeout + INVOKE_MARGIN,
                    }
                    .run(),
                );
            }
            if let Some(ready) = options.get("--ready-file") {
                std::fs::write(ready, "ready\n").with_context(|| format!("writing {ready}"))?;
            }
            while pollers.join_next().await.is_some() {}
            Ok(())
        }
        "functions" => functions(&template, &options).await,
        "iam" => iam(&template, &options).await,
        "console" => console(&options).await,
        _ => bail!("unknown command {command:?}\n{USAGE}"),
    }
}

async fn setup(template: &Path, options: &Options) -> Result<()> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .context("AWS_ENDPOINT_URL is not set: setup only provisions a local emulator")?;
    let mut seed = Seed::load(&options.path("--seed", "infra/local/seed.json"))?;
    if let Some(receiver) = options.get("--webhook-receiver") {
        seed.point_webhooks_at(receiver);
    }
    let sdk = local_sdk_config(&endpoint).await;
    let provisioned = provision(&sdk, &Template::load(template)?, "", &options.params).await?;
    let config = Config::from_vars(&provisioned.environment)?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.tables,
    ));
    seed.load_into(store.as_ref(), store.as_ref()).await?;

    let mut environment: HashMap<String, String> = provisioned.environment;
    // fchat-admin --env-file signs as the operator; `functions` gives each function its own key.
    environment.extend(local_aws_environment(&endpoint, OPERATOR_ACCESS_KEY));
    // For fchat-admin: new groups' FChat chats are created in the simulator.
    if let Some(url) = options.get("--simulator") {
        environment.insert("FCHAT_SIMULATOR_URL".into(), url.to_owned());
    }
    environment.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    // Delivery paces each chat to FChat's limits when the local FChat enforces them
    // (`make dev FCHAT_LIMITS=on`); without limits, messages go as fast as FChat takes them.
    let limits_on = std::env::var("FCHAT_LIMITS").is_ok_and(|v| v == "on");
    environment.insert(
        "FCHAT_PACING".into(),
        if limits_on { "on" } else { "off" }.into(),
    );
    // The local demo app's webhook is plain http on loopback; never set in a deployment.
    environment.insert("WEBHOOK_ALLOW_LOOPBACK".into(), "true".into());
    // SNS's certificate and SubscribeURL may be served on 127.0.0.1 over http (a test's own
    // SNS); a deployment never sets it, and then only SNS's hosts over https are fetched.
    environment.insert("SNS_ALLOW_LOOPBACK".into(), "true".into());
    // Single quotes: dotenv takes the value literally (spaces, `$`, `#` included).
    if let Some((name, _)) = environment.iter().find(|(_, v)| v.contains('\'')) {
        bail!("{name}: a value with a single quote cannot be written to the env file");
    }
    let mut lines: Vec<String> = environment
        .iter()
        .map(|(k, v)| format!("{k}='{v}'"))
        .collect();
    lines.sort();
    let env_file = options.path("--env-file", ".dev/functions.env");
    if let Some(parent) = env_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&env_file, lines.join("\n") + "\n")
        .with_context(|| format!("writing {}", env_file.display()))?;
    println!(
        "provisioned {} tables, {} queues and the SecureString parameters {}; loaded {} groups, {} apps, {} users; environment in {}",
        provisioned.table_names.len(),
        provisioned.queue_urls.len(),
        provisioned.secure_parameters.join(", "),
        seed.groups.len(),
        seed.apps.len(),
        seed.users.len(),
        env_file.display()
    );
    Ok(())
}

/// `fchat-local console`: see the module docs.
async fn console(options: &Options) -> Result<()> {
    let port: u16 = options
        .get("--port")
        .unwrap_or("9003")
        .parse()
        .context("--port")?;
    let seed = Seed::load(&options.path("--seed", "infra/local/seed.json"))?;
    let apps = seed
        .apps
        .iter()
        .map(|app| ConsoleApp {
            name: app.name.clone(),
            token: app.token.clone(),
            webhook_secrets: app.webhook_secret.clone().into_iter().collect(),
        })
        .collect();
    let config = ConsoleConfig {
        api: options
            .get("--api")
            .unwrap_or("http://127.0.0.1:9000")
            .to_owned(),
        simulator: options
            .get("--simulator")
            .unwrap_or("http://127.0.0.1:9001")
            .to_owned(),
        receiver: Some(
            options
                .get("--receiver")
                .unwrap_or("http://127.0.0.1:9002")
                .to_owned(),
        ),
        functions: options.get("--functions").map(str::to_owned),
        apps,
    };
    let console = Console::start(SocketAddr::from(([127, 0, 0, 1], port)), config)
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    println!("console on {}", console.url());
    std::future::pending::<()>().await;
    Ok(())
}

/// `fchat-local iam`: see the module docs.
async fn iam(template: &Path, options: &Options) -> Result<()> {
    let port: u16 = options
        .get("--port")
        .unwrap_or("4566")
        .parse()
        .context("--port")?;
    let upstream = options
        .get("--upstream")
        .context("--upstream: moto's URL is needed")?;
    let identities = Identities::from_template(&Template::load(template)?, &options.params, "")?;
    let gate = IamGate::start(
        SocketAddr::from(([127, 0, 0, 1], port)),
        upstream,
        identities,
    )
    .await
    .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    println!(
        "IAM gate on {}: each function under its role from {}, in front of {upstream}",
        gate.url(),
        template.display()
    );
    std::future::pending::<()>().await;
    Ok(())
}

/// `fchat-local functions`: see the module docs.
async fn functions(template: &Path, options: &Options) -> Result<()> {
    let bin_dir = match options.get("--bin-dir") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .context("finding fchat-local's directory")?
            .parent()
            .map(Path::to_path_buf)
            .context("finding fchat-local's directory")?,
    };
    let env_file = options.path("--env-file", ".dev/functions.env");
    let env = fchat_local::read_env_file(&env_file)?;
    let port: u16 = options
        .get("--port")
        .unwrap_or("9010")
        .parse()
        .context("--port")?;
    let max_instances: usize = options
        .get("--max-instances")
        .unwrap_or("10")
        .parse()
        .context("--max-instances")?;
    let mut specs = Vec::new();
    for function in Template::load(template)?.functions()? {
        let binary = bin_dir.join(&function.binary);
        if !binary.is_file() {
            bail!(
                "{} not found: build the functions first (cargo build -p {})",
                binary.display(),
                function.binary
            );
        }
        let mut env = env.clone();
        // Each function signs with its own key: the IAM gate holds it to its role.
        let endpoint = env.get("AWS_ENDPOINT_URL").cloned().unwrap_or_default();
        env.extend(local_aws_environment(
            &endpoint,
            &function_credentials(&function.binary),
        ));
        specs.push(FunctionSpec {
            name: function.binary,
            binary,
            env,
            timeout: function.timeout,
            max_instances,
        });
    }
    let described: Vec<String> = specs
        .iter()
        .map(|s| format!("{} ({} s)", s.name, s.timeout.as_secs()))
        .collect();
    let host = Arc::new(LambdaHost::start(specs).await?);
    host.ready(INIT_LIMIT).await?;
    let bound = host
        .serve_invoke_api(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    println!(
        "functions {} from {}, Invoke API on http://{bound}",
        described.join(", "),
        bin_dir.display()
    );
    std::future::pending::<()>().await;
    Ok(())
}

struct Options {
    flags: HashMap<String, String>,
    /// `--param Name=Value`, repeatable: template parameters, and the values of the secrets
    /// the template names (`--param FCHAT_BOT_TOKEN=...` for `FCHAT_BOT_TOKEN_PARAMETER`).
    params: HashMap<String, String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Options {
            flags: HashMap::new(),
            params: HashMap::new(),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if !flag.starts_with("--") {
                bail!("unexpected argument {flag:?}\n{USAGE}");
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            if flag == "--param" {
                let (name, value) = value
                    .split_once('=')
                    .with_context(|| format!("--param {value}: expected Name=Value"))?;
                options.params.insert(name.to_owned(), value.to_owned());
            } else {
                options.flags.insert(flag.clone(), value.clone());
            }
        }
        Ok(options)
    }

    fn get(&self, flag: &str) -> Option<&str> {
        self.flags.get(flag).map(String::as_str)
    }

    fn path(&self, flag: &str, default: &str) -> PathBuf {
        PathBuf::from(self.get(flag).unwrap_or(default))
    }
}
