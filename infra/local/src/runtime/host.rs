//! The [`LambdaHost`] handle: starts the functions, waits for them to be ready, invokes
//! them, serves the Invoke API, and tells what they did.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::TcpListener;

use super::error::InvokeError;
use super::function::Function;
use super::invoke_api::invoke_api;
use super::lock;
use super::spec::FunctionSpec;

/// How many EMF documents a function's output keeps (the latest).
pub const KEPT_METRIC_LINES: usize = 5_000;
/// The longest line read as an EMF document (a CloudWatch Logs event's limit).
pub const MAX_METRIC_LINE_BYTES: usize = 256 * 1024;

/// Runs function binaries against an emulated Runtime API; see the [module docs](super).
///
/// Dropping the host kills the function processes and stops their Runtime API listeners.
pub struct LambdaHost {
    pub(super) functions: HashMap<String, Arc<Function>>,
}

impl Drop for LambdaHost {
    fn drop(&mut self) {
        for function in self.functions.values() {
            function.shut_down();
        }
    }
}

impl fmt::Debug for LambdaHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.functions.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("LambdaHost")
            .field("functions", &names)
            .finish()
    }
}

impl LambdaHost {
    /// Starts one instance of each function: a Runtime API listener on `127.0.0.1:0` and the
    /// binary with `AWS_LAMBDA_RUNTIME_API` pointing at it, the variables `lambda_runtime`
    /// needs, and `spec.env` (which may override any of them but `AWS_LAMBDA_RUNTIME_API`).
    /// More instances start when invocations need them (up to `spec.max_instances`), and
    /// instead of one whose process died. The children pass their stdout on to ours (counted:
    /// [`LambdaHost::output_bytes`]), inherit stderr, and are killed when the host is dropped.
    pub async fn start(functions: Vec<FunctionSpec>) -> anyhow::Result<LambdaHost> {
        let mut host = LambdaHost {
            functions: HashMap::new(),
        };
        for spec in functions {
            anyhow::ensure!(
                !host.functions.contains_key(&spec.name),
                "function `{}` is declared twice",
                spec.name
            );
            anyhow::ensure!(
                !spec.name.is_empty() && !spec.name.contains('/'),
                "invalid function name `{}`",
                spec.name
            );
            let function = Arc::new(Function::new(spec));
            host.functions
                .insert(function.spec.name.clone(), function.clone());
            let instance = function.start_instance().await.map_err(|error| {
                anyhow::anyhow!(
                    "starting function `{}` from {}: {error}",
                    function.spec.name,
                    function.spec.binary.display()
                )
            })?;
            instance.set_busy(false);
        }
        Ok(host)
    }

    /// Waits until the first instance of every function has initialized (asked for its first
    /// invocation), at most `limit`. Fails if one reported an init error, exited, or took longer.
    pub async fn ready(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        for name in self.function_names() {
            let function = &self.functions[&name];
            let Some(instance) = lock(&function.instances).first().cloned() else {
                let last = lock(&function.last_exit).clone().unwrap_or_default();
                return Err(match function.failure(&last) {
                    Some(failure) => failure.into(),
                    None => anyhow::anyhow!("function `{name}` has no running instance"),
                });
            };
            let mut status = instance.status.subscribe();
            loop {
                let current = status.borrow_and_update().clone();
                if let Some(failure) = function.failure(&current) {
                    return Err(failure.into());
                }
                if current.initialized {
                    break;
                }
                match tokio::time::timeout_at(deadline.into(), status.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => anyhow::bail!("function `{name}` is gone"),
                    Err(_) => anyhow::bail!(
                        "function `{name}` did not initialize within {:.0} seconds",
                        limit.as_secs_f64()
                    ),
                }
            }
        }
        Ok(())
    }

    /// Invokes a function: hands the payload to an idle instance (or to a new one, up to
    /// `max_instances`; otherwise it waits for one to be free) and waits for its `/response`
    /// (`Ok(body)`) or `/error` (`Err` whose text is the error body). The error is an
    /// [`InvokeError`]:
    /// - the function does not answer within its timeout from picking the invocation up (or a
    ///   new instance does not pick it up within [`INIT_LIMIT`] or the timeout, whichever is
    ///   longer): `Timeout`, and the instance is stopped, as Lambda resets the environment;
    /// - its process exits meanwhile: `Exited` at once (Lambda's `Runtime.ExitError`); the next
    ///   invocation gets a new instance;
    /// - it reports an init error: `InitError`;
    /// - while it waits for a free instance, it waits as long as the function makes progress
    ///   at least once per timeout (or [`INIT_LIMIT`]), then fails with `Timeout`.
    ///
    /// An invocation runs to its end even if the caller stops waiting.
    ///
    /// [`INIT_LIMIT`]: super::INIT_LIMIT
    pub async fn invoke(&self, function: &str, payload: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        Ok(self.invoke_typed(function, payload).await?)
    }

    /// [`LambdaHost::invoke`] with its error type.
    pub async fn invoke_typed(
        &self,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, InvokeError> {
        match self.functions.get(function) {
            Some(f) => f.invoke(payload).await,
            None => Err(InvokeError::UnknownFunction(function.to_owned())),
        }
    }

    /// Serves AWS Lambda's Invoke API on `addr` in a background task (which keeps the host
    /// alive) and returns the bound address:
    /// `POST /2015-03-31/functions/{name or ARN}/invocations` with the event as the body.
    ///
    /// - a response: 200 with the function's response body;
    /// - a function error: 200 with `X-Amz-Function-Error: Unhandled` and the error body, as
    ///   AWS does; also when the process has exited (`Runtime.ExitError`) or failed to
    ///   initialize;
    /// - an unknown function: 404 (`ResourceNotFoundException`);
    /// - a timeout: 504 (`{"errorType":"Sandbox.Timedout",...}`).
    ///
    /// `X-Amz-Invocation-Type: Event` answers 202 at once and invokes in the background;
    /// `DryRun` answers 204.
    pub async fn serve_invoke_api(self: Arc<Self>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the Invoke API on {addr}"))?;
        let bound = listener.local_addr()?;
        fchat_loopback::spawn(listener, move |req, _peer| {
            let host = self.clone();
            async move { Ok::<_, Infallible>(invoke_api(host, req).await) }
        });
        Ok(bound)
    }

    /// The process id of a function's longest-running instance (`None` when none runs, or
    /// for an unknown function).
    pub fn pid(&self, function: &str) -> Option<u32> {
        self.pids(function)?.first().copied()
    }

    /// The process ids of a function's running instances, oldest first.
    pub fn pids(&self, function: &str) -> Option<Vec<u32>> {
        let f = self.functions.get(function)?;
        Some(
            lock(&f.instances)
                .iter()
                .filter(|i| i.status.borrow().exited.is_none())
                .filter_map(|i| i.pid)
                .collect(),
        )
    }

    /// How many instances (processes) of a function have been started: its cold starts.
    pub fn instances_started(&self, function: &str) -> Option<u64> {
        Some(
            self.functions
                .get(function)?
                .started
                .load(Ordering::Relaxed),
        )
    }

    /// How many invocations a function has completed (answered with `/response` or `/error`),
    /// including answers that came after the invoker had given up.
    pub fn invocations(&self, function: &str) -> Option<u64> {
        Some(
            self.functions
                .get(function)?
                .completed
                .load(Ordering::Relaxed),
        )
    }

    /// The duration of each invocation a function has completed, in order: from `/next`
    /// handing the event out to `/response` or `/error` (Lambda's billed duration).
    pub fn durations(&self, function: &str) -> Option<Vec<Duration>> {
        Some(lock(&self.functions.get(function)?.durations).clone())
    }

    /// How many bytes a function has written to its standard output: its log lines, which
    /// CloudWatch Logs would ingest. They are passed on to this process's standard output.
    pub fn output_bytes(&self, function: &str) -> Option<u64> {
        Some(
            self.functions
                .get(function)?
                .output_bytes
                .load(Ordering::Relaxed),
        )
    }

    /// The EMF documents (metrics) the functions wrote lately, each function's in order, with
    /// its name: what CloudWatch would extract.
    pub fn metric_lines(&self) -> Vec<(String, String)> {
        let mut names: Vec<&String> = self.functions.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| {
                lock(&self.functions[name].metric_lines)
                    .iter()
                    .map(|line| (name.clone(), line.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The address of the Runtime API listener of a function's longest-running instance.
    pub fn runtime_api_addr(&self, function: &str) -> Option<SocketAddr> {
        let f = self.functions.get(function)?;
        let instances = lock(&f.instances);
        instances.first().map(|i| i.runtime_api)
    }

    /// The names of the functions, sorted.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.functions.keys().cloned().collect();
        names.sort_unstable();
        names
    }
}
