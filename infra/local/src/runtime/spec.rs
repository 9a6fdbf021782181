//! What a function is: its spec (binary, environment, timeout, concurrency), its ARN, and the
//! command and environment its process starts with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use super::ids::log_stream_name;

/// The account id in the ARNs the emulator hands out.
pub const ACCOUNT_ID: &str = "000000000000";
/// The region in the ARNs, and the `AWS_REGION` functions get when none is set.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Lambda's own default function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// One function to run: its binary, its environment and its timeout.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name, e.g. `ingest`; invocations address it by this name.
    pub name: String,
    /// The path of the compiled function binary.
    pub binary: PathBuf,
    /// Extra environment for the process (on top of the inherited one and the Lambda variables).
    pub env: HashMap<String, String>,
    /// The per-invocation deadline (`Lambda-Runtime-Deadline-Ms`, and how long `invoke` waits).
    pub timeout: Duration,
    /// How many instances may run at once (at least one): the function's concurrency.
    pub max_instances: usize,
}

impl FunctionSpec {
    /// A function with no extra environment, Lambda's default timeout (3 seconds) and one
    /// instance at a time.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        FunctionSpec {
            name: name.into(),
            binary: binary.into(),
            env: HashMap::new(),
            timeout: DEFAULT_TIMEOUT,
            max_instances: 1,
        }
    }

    /// Adds one environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many instances may run at once.
    pub fn with_max_instances(mut self, max_instances: usize) -> Self {
        self.max_instances = max_instances.max(1);
        self
    }
}

/// The ARN the emulator gives a function.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{DEFAULT_REGION}:{ACCOUNT_ID}:function:{name}")
}

pub(super) fn lambda_command(spec: &FunctionSpec, runtime_api: SocketAddr) -> Command {
    let mut command = Command::new(&spec.binary);
    let has = |key: &str| spec.env.contains_key(key) || std::env::var_os(key).is_some();
    let region = spec
        .env
        .get("AWS_REGION")
        .cloned()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    command
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name())
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
        .env_remove("_X_AMZN_TRACE_ID");
    if !has("AWS_REGION") {
        command.env("AWS_REGION", &region);
    }
    if !has("AWS_DEFAULT_REGION") {
        command.env("AWS_DEFAULT_REGION", &region);
    }
    command
        .envs(&spec.env)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    command
}
