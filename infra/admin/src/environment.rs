//! Where `fchat-admin` finds the stack: the functions' own variables (table names, queue URLs),
//! from the environment or an env file, and the AWS configuration to reach it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use gateway::adapters::webhook::guard::SystemLookup;
use gateway::dynamo::DynamoStore;
use gateway::tables::TableNames;

use crate::Admin;

/// The region the local stack answers for when none is set.
const LOCAL_REGION: &str = "us-east-1";
/// The key that signs when the local stack's env file names none: the emulator's
/// administrator.
const LOCAL_DEFAULT_KEY: &str = "testing";

/// The variables of an env file (dotenv's format, `NAME='value'`, as `fchat-local setup`
/// writes it).
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>> {
    dotenvy::from_path_iter(path)
        .and_then(|lines| lines.collect::<Result<HashMap<_, _>, _>>())
        .with_context(|| format!("reading {}", path.display()))
}

/// The process's environment, with `env_file`'s variables over it.
pub fn variables(env_file: Option<&Path>) -> Result<HashMap<String, String>> {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    if let Some(path) = env_file {
        env.extend(read_env_file(path)?);
    }
    Ok(env)
}

/// The stack `env` names: against AWS (the standard profile and region), or the local stack
/// when `AWS_ENDPOINT_URL` is set (signed with the env's key, the operator's under `make dev`).
pub async fn admin(env: &HashMap<String, String>) -> Result<Admin> {
    let var = |name: &str| {
        env.get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .with_context(|| format!("{name} is not set (the deployment's table names; `make dev` writes them to .dev/functions.env)"))
    };
    let endpoint = env.get("AWS_ENDPOINT_URL").filter(|v| !v.is_empty());
    let sdk = match endpoint {
        Some(endpoint) => {
            let key = env
                .get("AWS_ACCESS_KEY_ID")
                .map(String::as_str)
                .unwrap_or(LOCAL_DEFAULT_KEY);
            let secret = env
                .get("AWS_SECRET_ACCESS_KEY")
                .map(String::as_str)
                .unwrap_or(LOCAL_DEFAULT_KEY);
            let region = env
                .get("AWS_REGION")
                .cloned()
                .unwrap_or_else(|| LOCAL_REGION.to_owned());
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(aws_config::Region::new(region))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    key, secret, None, None, "env-file",
                ))
                .load()
                .await
        }
        None => gateway::wiring::sdk_config().await,
    };
    let tables = TableNames {
        apps: var("APPS_TABLE")?,
        groups: var("GROUPS_TABLE")?,
        users: var("USERS_TABLE")?,
        contexts: var("CONTEXTS_TABLE")?,
    };
    Ok(Admin {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        delivery_queue_url: var("DELIVERY_QUEUE_URL")?,
        dead_letter_queue_url: env.get("DELIVERY_DLQ_URL").cloned(),
        local: endpoint.is_some(),
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
        lookup: Arc::new(SystemLookup),
    })
}
