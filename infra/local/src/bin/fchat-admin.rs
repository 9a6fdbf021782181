//! `fchat-admin`: the operator's CLI. See `fchat_local::admin` and the README.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use fchat_local::admin::{Admin, USAGE};
use gateway::dynamo::DynamoStore;
use gateway::tables::TableNames;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    match run(args).await {
        Ok(output) if json => println!(
            "{}",
            serde_json::to_string_pretty(&output.json).unwrap_or_default()
        ),
        Ok(output) => println!("{}", output.text),
        Err(error) => {
            if json {
                println!("{}", serde_json::json!({"error": format!("{error:#}")}));
            }
            eprintln!("fchat-admin: {error:#}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Vec<String>) -> Result<fchat_local::admin::Output> {
    let mut rest = Vec::new();
    let mut env: HashMap<String, String> = std::env::vars().collect();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => {}
            "-h" | "--help" => anyhow::bail!("{USAGE}"),
            "--env-file" => {
                let path = args.next().context("--env-file needs a path")?;
                env.extend(fchat_local::read_env_file(std::path::Path::new(&path))?);
            }
            _ => rest.push(arg),
        }
    }
    let var = |name: &str| {
        env.get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .with_context(|| format!("{name} is not set (the deployment's table names; `make dev` writes them to .dev/functions.env)"))
    };
    let local = env.contains_key("AWS_ENDPOINT_URL");
    let sdk = match env.get("AWS_ENDPOINT_URL") {
        // The local stack: signed with the env file's key (the operator's, held to its policy
        // by the IAM gate), else as the emulator's administrator.
        Some(endpoint) => {
            let key = env
                .get("AWS_ACCESS_KEY_ID")
                .map(String::as_str)
                .unwrap_or(fchat_local::iam::ROOT_ACCESS_KEY);
            fchat_local::moto::local_sdk_config_as(endpoint, key).await
        }
        None => gateway::wiring::sdk_config().await,
    };
    let tables = TableNames {
        apps: var("APPS_TABLE")?,
        groups: var("GROUPS_TABLE")?,
        users: var("USERS_TABLE")?,
        contexts: var("CONTEXTS_TABLE")?,
    };
    let admin = Admin {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        delivery_queue_url: var("DELIVERY_QUEUE_URL")?,
        dead_letter_queue_url: env.get("DELIVERY_DLQ_URL").cloned(),
        local,
        simulator_url: env
            .get("FCHAT_SIMULATOR_URL")
            .filter(|v| !v.is_empty())
            .cloned(),
        now: || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        },
    };
    admin.run(&rest).await
}
