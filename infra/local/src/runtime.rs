//! A Lambda Runtime API emulator that runs the real function binaries, plus an Invoke API.
//!
//! [`LambdaHost::start`] runs each function binary (built with `lambda_runtime`) as a child
//! process, with its own [Runtime API] listener on loopback: one Lambda instance (execution
//! environment). [`LambdaHost::invoke`] hands an event to an idle instance and waits for its
//! answer; [`LambdaHost::serve_invoke_api`] offers the same over HTTP as AWS Lambda's
//! `POST /2015-03-31/functions/{name}/invocations`, so that local tools can invoke functions by
//! name.
//!
//! As on Lambda, an instance runs one invocation at a time; concurrent invocations start more
//! instances, up to the function's `max_instances` (then they wait their turn). An instance
//! whose process dies fails the invocation it held at once (`Runtime.ExitError`) and is
//! replaced: the next invocation gets a new process (a cold start). One that overruns its
//! timeout is stopped, as Lambda resets the environment after a timeout.
//!
//! What `lambda_runtime` 1.5 needs from its environment and from the Runtime API:
//! - `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme), `AWS_LAMBDA_FUNCTION_NAME`,
//!   `AWS_LAMBDA_FUNCTION_VERSION` and `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (an `i32`) are
//!   mandatory: it panics without them. The log group and stream names are optional.
//! - `AWS_LAMBDA_INITIALIZATION_TYPE` must not be `snap-start` (that would make it call
//!   `/restore/next`), and `AWS_LAMBDA_MAX_CONCURRENCY` is better left unset.
//! - `/next` must answer 200 with `Lambda-Runtime-Aws-Request-Id` and
//!   `Lambda-Runtime-Deadline-Ms` (it panics without them; the deadline must parse as `u64`);
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` are read when present.
//!   Any other status would be taken as an event (in release builds) or skipped (204, debug
//!   builds only), so `/next` long-polls instead of answering early.
//! - It talks HTTP/1.1 with keep-alive through a pooled hyper client: `/next` and
//!   `/response` may come on the same connection, and a `/next` request stays open as long
//!   as no event is queued (no server-side timeouts here).
//!
//! [Runtime API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

/// The account id in the ARNs the emulator hands out.
pub const ACCOUNT_ID: &str = "000000000000";
/// The region in the ARNs, and the `AWS_REGION` functions get when none is set.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Lambda's own default function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";

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

/// Why an invocation did not return a response. [`LambdaHost::invoke`] returns it inside its
/// `anyhow::Error`; `err.downcast_ref::<InvokeError>()` recovers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// No function has that name.
    UnknownFunction(String),
    /// The function reported an error (`/error`); `body` is what it posted, usually
    /// `{"errorType": ..., "errorMessage": ...}`. Displays as the body text.
    Function { function: String, body: Vec<u8> },
    /// The function did not answer within its timeout. `started` tells whether it had picked
    /// up the invocation (otherwise it was stuck on earlier ones, or never called `/next`).
    Timeout {
        function: String,
        timeout: Duration,
        started: bool,
    },
    /// The function reported an initialization error (`/init/error`); `body` is what it posted.
    InitError { function: String, body: String },
    /// The function's process has exited; `status` is its exit status.
    Exited { function: String, status: String },
    /// The emulator lost the invocation (a bug).
    Internal(String),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::UnknownFunction(name) => write!(f, "function not found: {name}"),
            InvokeError::Function { body, .. } => f.write_str(&String::from_utf8_lossy(body)),
            InvokeError::Timeout {
                function,
                timeout,
                started: true,
            } => write!(
                f,
                "function `{function}` timed out: task timed out after {:.2} seconds",
                timeout.as_secs_f64()
            ),
            InvokeError::Timeout {
                function,
                timeout,
                started: false,
            } => write!(
                f,
                "function `{function}` timed out: it did not pick up the invocation \
                 (no progress for {:.2} seconds)",
                timeout.as_secs_f64()
            ),
            InvokeError::InitError { function, body } => {
                write!(f, "function `{function}` failed to initialize: {body}")
            }
            InvokeError::Exited { function, status } => {
                write!(f, "function `{function}` process exited ({status})")
            }
            InvokeError::Internal(message) => write!(f, "lambda emulator: {message}"),
        }
    }
}

impl std::error::Error for InvokeError {}

impl InvokeError {
    /// The body AWS would answer for this error, with `X-Amz-Function-Error: Unhandled`
    /// (or with the status [`InvokeError::http_status`] gives).
    fn aws_body(&self) -> Vec<u8> {
        let json = |error_type: &str, message: String| {
            serde_json::to_vec(&serde_json::json!({
                "errorType": error_type,
                "errorMessage": message,
            }))
            .unwrap_or_default()
        };
        match self {
            InvokeError::UnknownFunction(name) => serde_json::to_vec(&serde_json::json!({
                "Type": "User",
                "message": format!("Function not found: {}", function_arn(name)),
            }))
            .unwrap_or_default(),
            InvokeError::Function { body, .. } => body.clone(),
            InvokeError::InitError { body, .. }
                if serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.is_object()) =>
            {
                body.as_bytes().to_vec()
            }
            InvokeError::InitError { .. } => json("Runtime.InitError", self.to_string()),
            InvokeError::Exited { .. } => json("Runtime.ExitError", self.to_string()),
            InvokeError::Timeout { .. } => json("Sandbox.Timedout", self.to_string()),
            InvokeError::Internal(_) => json("ServiceException", self.to_string()),
        }
    }
}

/// Runs function binaries against an emulated Runtime API; see the [module docs](self).
///
/// Dropping the host kills the function processes and stops their Runtime API listeners.
pub struct LambdaHost {
    functions: HashMap<String, Arc<Function>>,
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
        tokio::spawn(serve(listener, move |req| invoke_api(self.clone(), req)));
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

/// The ARN the emulator gives a function.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{DEFAULT_REGION}:{ACCOUNT_ID}:function:{name}")
}

/* ------------------------------------------------------------------------------------------ */
/*                                     One function's state                                    */
/* ------------------------------------------------------------------------------------------ */

struct Function {
    spec: FunctionSpec,
    arn: String,
    /// One per instance that may run: an invocation holds one from choosing an instance to
    /// its end, so at most `max_instances` run; waiters are served in order.
    permits: Arc<Semaphore>,
    /// The running instances, oldest first. An instance leaves when its process exits.
    instances: Mutex<Vec<Arc<Instance>>>,
    /// Instances started so far (cold starts).
    started: AtomicU64,
    /// Set when the host is dropped: no more instances start.
    stopped: AtomicBool,
    /// The status of the instance that exited last.
    last_exit: Mutex<Option<Status>>,
    /// How long each completed invocation took, from `/next` handing it out to its answer:
    /// what Lambda bills as the invocation's duration.
    durations: Mutex<Vec<Duration>>,
    /// Bytes the function has written to its standard output (its logs).
    output_bytes: AtomicU64,
    /// When the function last started or finished an invocation (or an instance started).
    last_progress: Mutex<Instant>,
    completed: AtomicU64,
}

/// One execution environment: a process and its Runtime API listener. It runs one
/// invocation at a time.
struct Instance {
    runtime_api: SocketAddr,
    pid: Option<u32>,
    /// The invocation handed to this instance, waiting for its `/next`.
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    /// Invocations handed out by `/next`, by request id, waiting for `/response` or `/error`.
    /// With the moment `/next` handed each one out.
    inflight: Mutex<HashMap<String, (mpsc::UnboundedSender<Event>, Instant)>>,
    status: watch::Sender<Status>,
    /// Whether an invocation holds this instance (guarded by the function's `instances`).
    busy: AtomicBool,
    /// Taking (or dropping) it makes the process watcher kill the process.
    kill: Mutex<Option<oneshot::Sender<()>>>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default, Clone)]
struct Status {
    /// It has asked for its first invocation (`/next`).
    initialized: bool,
    init_error: Option<String>,
    exited: Option<String>,
}

struct Pending {
    payload: Bytes,
    events: mpsc::UnboundedSender<Event>,
}

enum Event {
    Dispatched { deadline: Instant },
    Done(Result<Vec<u8>, Vec<u8>>),
}

/// How an invocation's turn on one instance ended.
enum Attempt {
    Answered(Result<Vec<u8>, InvokeError>),
    /// The instance failed before it picked the invocation up.
    NotPickedUp(InvokeError),
    /// It failed (exited, init error, timeout) after picking it up.
    Failed(InvokeError),
}

/// How long a new instance may take to initialize and pick up its first invocation (at
/// least; a longer function timeout is used instead): Lambda's limit on the init phase.
pub const INIT_LIMIT: Duration = Duration::from_secs(10);

impl Function {
    fn new(spec: FunctionSpec) -> Self {
        Function {
            arn: function_arn(&spec.name),
            permits: Arc::new(Semaphore::new(spec.max_instances.max(1))),
            instances: Mutex::new(Vec::new()),
            started: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            last_exit: Mutex::new(None),
            durations: Mutex::new(Vec::new()),
            output_bytes: AtomicU64::new(0),
            last_progress: Mutex::new(Instant::now()),
            completed: AtomicU64::new(0),
            spec,
        }
    }

    fn name(&self) -> &str {
        &self.spec.name
    }

    fn failure(&self, status: &Status) -> Option<InvokeError> {
        if let Some(body) = &status.init_error {
            return Some(InvokeError::InitError {
                function: self.name().to_owned(),
                body: body.clone(),
            });
        }
        status.exited.as_ref().map(|exit| InvokeError::Exited {
            function: self.name().to_owned(),
            status: exit.clone(),
        })
    }

    fn touch(&self) {
        *lock(&self.last_progress) = Instant::now();
    }

    /// How long an invocation may wait for a free instance: one patience past the later of
    /// its arrival and the function's last progress.
    fn queue_limit(&self, enqueued: Instant) -> Instant {
        lock(&self.last_progress).max(enqueued) + self.patience()
    }

    /// How long a new instance may take to pick up its invocation; also how long a waiting
    /// invocation waits without progress.
    fn patience(&self) -> Duration {
        self.spec.timeout.max(INIT_LIMIT)
    }

    /// Kills every instance; no more start.
    fn shut_down(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for instance in lock(&self.instances).iter() {
            instance.stop();
        }
    }

    /// Starts a new instance, busy (for the invocation that asked for it).
    async fn start_instance(self: &Arc<Self>) -> Result<Arc<Instance>, InvokeError> {
        let start_error = |error: String| InvokeError::InitError {
            function: self.name().to_owned(),
            body: error,
        };
        if self.stopped.load(Ordering::SeqCst) {
            return Err(InvokeError::Internal("the host is shutting down".into()));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| start_error(format!("binding a Runtime API listener: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| start_error(format!("binding a Runtime API listener: {e}")))?;
        let mut command = lambda_command(&self.spec, addr);
        let mut child = spawn_retrying(&mut command).await.map_err(|e| {
            start_error(format!(
                "could not start {}: {e}",
                self.spec.binary.display()
            ))
        })?;
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        let instance = Arc::new(Instance {
            runtime_api: addr,
            pid: child.id(),
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            inflight: Mutex::new(HashMap::new()),
            status: watch::Sender::new(Status::default()),
            busy: AtomicBool::new(true),
            kill: Mutex::new(Some(kill_tx)),
            listener: Mutex::new(None),
        });
        let (function, routed) = (self.clone(), instance.clone());
        *lock(&instance.listener) = Some(tokio::spawn(serve(listener, move |req| {
            runtime_api(function.clone(), routed.clone(), req)
        })));
        if let Some(output) = child.stdout.take() {
            tokio::spawn(relay_output(self.clone(), output));
        }
        self.started.fetch_add(1, Ordering::Relaxed);
        self.touch();
        lock(&self.instances).push(instance.clone());
        tokio::spawn(watch_process(
            self.clone(),
            instance.clone(),
            child,
            kill_rx,
        ));
        if self.stopped.load(Ordering::SeqCst) {
            instance.stop();
        }
        Ok(instance)
    }

    /// An idle running instance, now busy: the most recently used one.
    fn take_idle_instance(&self) -> Option<Arc<Instance>> {
        let instances = lock(&self.instances);
        let idle = instances.iter().rev().find(|i| {
            !i.busy.load(Ordering::SeqCst)
                && i.status.borrow().exited.is_none()
                && i.status.borrow().init_error.is_none()
        })?;
        idle.busy.store(true, Ordering::SeqCst);
        Some(idle.clone())
    }

    fn remove(&self, instance: &Arc<Instance>) {
        lock(&self.instances).retain(|i| !Arc::ptr_eq(i, instance));
    }

    /// Runs an invocation in its own task, so that it ends properly (its instance freed or
    /// stopped) even when the caller stops waiting.
    async fn invoke(self: &Arc<Self>, payload: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        let (reply, answer) = oneshot::channel();
        let function = self.clone();
        tokio::spawn(async move {
            let _ = reply.send(function.execute(Bytes::from(payload)).await);
        });
        answer.await.unwrap_or_else(|_| {
            Err(InvokeError::Internal(format!(
                "the invocation of `{}` was lost",
                self.name()
            )))
        })
    }

    async fn execute(self: Arc<Self>, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        let enqueued = Instant::now();
        let acquire = self.permits.clone().acquire_owned();
        tokio::pin!(acquire);
        let _permit = loop {
            let limit = self.queue_limit(enqueued);
            tokio::select! {
                permit = &mut acquire => {
                    break permit.map_err(|_| InvokeError::Internal("the function is gone".into()))?
                }
                _ = tokio::time::sleep_until(limit.into()) => {
                    if self.queue_limit(enqueued) <= Instant::now() {
                        return Err(InvokeError::Timeout {
                            function: self.name().to_owned(),
                            timeout: self.spec.timeout,
                            started: false,
                        });
                    }
                }
            }
        };
        // A warm instance may die between invocations (killed while idle): the invocation
        // then goes to another one, as Lambda would give it to a healthy environment.
        let mut warm_failures = 0;
        loop {
            let (instance, fresh) = match self.take_idle_instance() {
                Some(instance) => (instance, false),
                None => (self.start_instance().await?, true),
            };
            match self.run_on(&instance, payload.clone()).await {
                Attempt::Answered(answer) => {
                    instance.set_busy(false);
                    return answer;
                }
                Attempt::NotPickedUp(error) if !fresh && warm_failures < 3 => {
                    warm_failures += 1;
                    self.discard(&instance);
                    let _ = error;
                }
                Attempt::NotPickedUp(error) | Attempt::Failed(error) => {
                    self.discard(&instance);
                    return Err(error);
                }
            }
        }
    }

    /// Stops an instance that failed and forgets it.
    fn discard(&self, instance: &Arc<Instance>) {
        instance.stop();
        self.remove(instance);
    }

    /// Hands the payload to `instance` and waits for the outcome.
    async fn run_on(&self, instance: &Arc<Instance>, payload: Bytes) -> Attempt {
        let mut status = instance.status.subscribe();
        if let Some(failure) = self.failure(&status.borrow_and_update()) {
            return Attempt::NotPickedUp(failure);
        }
        let (events_tx, mut events) = mpsc::unbounded_channel();
        if instance
            .queue_tx
            .send(Pending {
                payload,
                events: events_tx,
            })
            .is_err()
        {
            return Attempt::NotPickedUp(InvokeError::Internal(
                "the instance's queue is closed".into(),
            ));
        }
        let pick_up_limit = Instant::now() + self.patience();
        let mut deadline: Option<Instant> = None;
        let failed = |error: InvokeError, picked_up: bool| {
            if picked_up {
                Attempt::Failed(error)
            } else {
                Attempt::NotPickedUp(error)
            }
        };
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(Event::Dispatched { deadline: d }) => deadline = Some(d),
                    Some(Event::Done(Ok(body))) => return Attempt::Answered(Ok(body)),
                    Some(Event::Done(Err(body))) => {
                        return Attempt::Answered(Err(InvokeError::Function {
                            function: self.name().to_owned(),
                            body,
                        }))
                    }
                    None => {
                        let error = self.failure(&instance.status.borrow()).unwrap_or_else(|| {
                            InvokeError::Internal(format!("the invocation of `{}` was lost", self.name()))
                        });
                        return failed(error, deadline.is_some());
                    }
                },
                changed = status.changed() => {
                    if changed.is_err() {
                        return failed(InvokeError::Internal("the instance is gone".into()), deadline.is_some());
                    }
                    if let Some(failure) = self.failure(&status.borrow_and_update()) {
                        return failed(failure, deadline.is_some());
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or(pick_up_limit).into()) => {
                    return Attempt::Failed(InvokeError::Timeout {
                        function: self.name().to_owned(),
                        timeout: if deadline.is_some() { self.spec.timeout } else { self.patience() },
                        started: deadline.is_some(),
                    });
                }
            }
        }
    }
}

impl Instance {
    fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::SeqCst);
    }

    /// Kills the process (its watcher records the exit).
    fn stop(&self) {
        if let Some(kill) = lock(&self.kill).take() {
            let _ = kill.send(());
        }
    }

    /// `GET /next`: waits for the invocation handed to this instance, if its invoker still waits.
    async fn next(&self, function: &Function) -> Response<Full<Bytes>> {
        self.status
            .send_if_modified(|s| !std::mem::replace(&mut s.initialized, true));
        let mut queue = self.queue_rx.lock().await;
        loop {
            let Some(pending) = queue.recv().await else {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the invocation queue is closed",
                );
            };
            if pending.events.is_closed() {
                continue; // its invoker gave up while it was queued
            }
            let request_id = uuid_v4();
            let timeout = function.spec.timeout;
            let deadline = Instant::now() + timeout;
            let deadline_ms = epoch_millis() + timeout.as_millis();
            let _ = pending.events.send(Event::Dispatched { deadline });
            lock(&self.inflight).insert(request_id.clone(), (pending.events, Instant::now()));
            function.touch();

            let mut response = Response::new(Full::new(pending.payload));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", request_id);
            set("lambda-runtime-deadline-ms", deadline_ms.to_string());
            set("lambda-runtime-invoked-function-arn", function.arn.clone());
            set("lambda-runtime-trace-id", trace_id());
            return response;
        }
    }

    /// `/response` or `/error` for an invocation.
    fn complete(
        &self,
        function: &Function,
        request_id: &str,
        outcome: Result<Vec<u8>, Vec<u8>>,
    ) -> Response<Full<Bytes>> {
        let Some((events, dispatched)) = lock(&self.inflight).remove(request_id) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                &format!("unknown request id {request_id}"),
            );
        };
        function.completed.fetch_add(1, Ordering::Relaxed);
        lock(&function.durations).push(dispatched.elapsed());
        function.touch();
        if events.send(Event::Done(outcome)).is_err() {
            // The invoker gave up (timeout); lambda_runtime logs 410 as a stale response.
            return json_error(
                StatusCode::GONE,
                "InvocationTimedOut",
                &format!("invocation {request_id} timed out before its response"),
            );
        }
        accepted()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/* ------------------------------------------------------------------------------------------ */
/*                                          Processes                                          */
/* ------------------------------------------------------------------------------------------ */

fn lambda_command(spec: &FunctionSpec, runtime_api: SocketAddr) -> Command {
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
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/[$LATEST]{:016x}{:016x}", random_u64(), random_u64()),
        )
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

/// Passes a function's standard output on to ours, counting its bytes as CloudWatch Logs
/// would ingest them.
async fn relay_output(function: Arc<Function>, mut output: tokio::process::ChildStdout) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stdout = tokio::io::stdout();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match output.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                function.output_bytes.fetch_add(n as u64, Ordering::Relaxed);
                let _ = stdout.write_all(&buffer[..n]).await;
                let _ = stdout.flush().await;
            }
        }
    }
}

/// Spawns, retrying a little on "text file busy" (a binary or script just written, with its
/// write handle still open in a concurrently forked process).
async fn spawn_retrying(command: &mut Command) -> std::io::Result<tokio::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(err) if err.raw_os_error() == Some(ETXTBSY) && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Waits for the process to exit (or to be stopped, then kills it), records the exit, and
/// retires the instance: its listener stops and the next invocation gets a new instance.
async fn watch_process(
    function: Arc<Function>,
    instance: Arc<Instance>,
    mut child: tokio::process::Child,
    kill: oneshot::Receiver<()>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = kill => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let exit = match status {
        Ok(status) => status.to_string(),
        Err(err) => format!("could not wait for it: {err}"),
    };
    function.remove(&instance);
    instance.status.send_modify(|s| s.exited = Some(exit));
    *lock(&function.last_exit) = Some(instance.status.borrow().clone());
    if let Some(listener) = lock(&instance.listener).take() {
        listener.abort();
    }
}

/* ------------------------------------------------------------------------------------------ */
/*                                          HTTP side                                          */
/* ------------------------------------------------------------------------------------------ */

/// Accepts HTTP/1.1 connections (keep-alive, no timeouts) and answers them with `handler`.
/// Aborting this task aborts its connections.
async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                eprintln!("lambda emulator: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let response = handler(req);
                async move { Ok::<_, Infallible>(response.await) }
            });
            // Errors here are clients going away, e.g. a function process that exited.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn runtime_api(
    function: Arc<Function>,
    instance: Arc<Instance>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(route) = path.strip_prefix(RUNTIME_PREFIX) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let method = req.method().clone();
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => instance.next(&function).await,
        (Method::POST, ["invocation", request_id, "response"]) => {
            let request_id = request_id.to_string();
            let outcome = match read_body_with_trailers(req).await {
                Ok(outcome) => outcome,
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
            };
            instance.complete(&function, &request_id, outcome)
        }
        (Method::POST, ["invocation", request_id, "error"]) => {
            let request_id = request_id.to_string();
            let error_type = header_text(&req, "lambda-runtime-function-error-type");
            let body = match req.into_body().collect().await {
                Ok(body) => body.to_bytes().to_vec(),
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
            };
            let body = if body.is_empty() {
                error_json(error_type.as_deref().unwrap_or("Unhandled"), "")
            } else {
                body
            };
            instance.complete(&function, &request_id, Err(body))
        }
        (Method::POST, ["init", "error"]) => {
            let error_type = header_text(&req, "lambda-runtime-function-error-type");
            let body = match req.into_body().collect().await {
                Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
            };
            let body = if body.is_empty() {
                error_type.unwrap_or_else(|| "Runtime.InitError".to_owned())
            } else {
                body
            };
            instance.status.send_modify(|s| {
                s.init_error.get_or_insert(body);
            });
            accepted()
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A `/response` body; a streamed response may end with error trailers instead.
async fn read_body_with_trailers(
    req: Request<Incoming>,
) -> Result<Result<Vec<u8>, Vec<u8>>, hyper::Error> {
    let collected = req.into_body().collect().await?;
    let error_type = collected.trailers().and_then(|t| {
        let error_type = t.get("lambda-runtime-function-error-type")?.to_str().ok()?;
        let body = t
            .get("lambda-runtime-function-error-body")
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .ok()
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Some(error_json(error_type, &body))
    });
    Ok(match error_type {
        Some(error) => Err(error),
        None => Ok(collected.to_bytes().to_vec()),
    })
}

async fn invoke_api(host: Arc<LambdaHost>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(name) = path
        .strip_prefix(INVOKE_PREFIX)
        .and_then(|rest| rest.strip_suffix("/invocations"))
    else {
        return json_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!("unknown operation {} {path}", req.method()),
        );
    };
    if req.method() != Method::POST {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "invoke with POST",
        );
    }
    let name = function_name_from_path(name);
    let invocation_type =
        header_text(&req, "x-amz-invocation-type").unwrap_or_else(|| "RequestResponse".to_owned());
    let payload = match req.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
    };
    let Some(function) = host.functions.get(&name).cloned() else {
        let error = InvokeError::UnknownFunction(name);
        let mut response = bytes_response(StatusCode::NOT_FOUND, error.aws_body());
        response.headers_mut().insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        return response;
    };

    let mut response = match invocation_type.as_str() {
        "RequestResponse" => match function.invoke(payload).await {
            Ok(body) => bytes_response(StatusCode::OK, body),
            Err(error @ InvokeError::Timeout { .. }) => {
                bytes_response(StatusCode::GATEWAY_TIMEOUT, error.aws_body())
            }
            Err(error @ InvokeError::Internal(_)) => {
                bytes_response(StatusCode::INTERNAL_SERVER_ERROR, error.aws_body())
            }
            Err(error) => {
                let mut response = bytes_response(StatusCode::OK, error.aws_body());
                response.headers_mut().insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
                response
            }
        },
        "Event" => {
            tokio::spawn(async move {
                if let Err(err) = function.invoke(payload).await {
                    eprintln!("lambda emulator: asynchronous invocation failed: {err}");
                }
            });
            bytes_response(StatusCode::ACCEPTED, Vec::new())
        }
        "DryRun" => bytes_response(StatusCode::NO_CONTENT, Vec::new()),
        other => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("unsupported X-Amz-Invocation-Type {other}"),
            )
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(id) = HeaderValue::try_from(uuid_v4()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// `ingest`, `ingest:$LATEST`, or an ARN (percent-encoded or not) → `ingest`.
fn function_name_from_path(raw: &str) -> String {
    let decoded = percent_decode(raw);
    let name = match decoded.split_once(":function:") {
        Some((_, rest)) => rest,
        None => decoded.as_str(),
    };
    name.split(':').next().unwrap_or_default().to_owned()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header_text<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn error_json(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "errorType": error_type, "errorMessage": message }))
        .unwrap_or_default()
}

fn json_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    bytes_response(status, error_json(error_type, message))
}

fn accepted() -> Response<Full<Bytes>> {
    bytes_response(StatusCode::ACCEPTED, br#"{"status":"OK"}"#.to_vec())
}

/* ------------------------------------------------------------------------------------------ */
/*                                             Ids                                             */
/* ------------------------------------------------------------------------------------------ */

fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

fn uuid_v4() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn trace_id() -> String {
    let seconds = epoch_millis() / 1000;
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
        seconds as u32,
        random_u64() as u32,
        random_u64(),
        random_u64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::HeaderMap;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::os::unix::fs::PermissionsExt;

    /// The common part of the test doubles: `next` long-polls `/next` into `$DIR/body` and
    /// `$DIR/headers` and sets `$ID`; `respond response|error` posts stdin for `$ID`. `$DIR`
    /// is the process's own directory (instances run side by side) inside `$ROOT`, the
    /// script's.
    const PRELUDE: &str = r#"#!/bin/bash
set -u
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
ROOT="$(dirname "$0")"
DIR="$ROOT/$$"
mkdir -p "$DIR"
next() {
  curl -sS -D "$DIR/headers" -o "$DIR/body" "$API/invocation/next" || exit 1
  ID=$(tr -d '\r' < "$DIR/headers" | awk -F': ' 'tolower($1)=="lambda-runtime-aws-request-id" {print $2}')
}
respond() { curl -sS -o /dev/null -X POST --data-binary @- "$API/invocation/$ID/$1"; }
"#;

    const ECHO: &str =
        r#"while next; do tr '[:lower:]' '[:upper:]' < "$DIR/body" | respond response; done"#;

    const REPORT: &str = r#"while next; do
  {
    tr -d '\r' < "$DIR/headers"
    echo "env-name: $AWS_LAMBDA_FUNCTION_NAME"
    echo "env-version: $AWS_LAMBDA_FUNCTION_VERSION"
    echo "env-memory: $AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
    echo "env-region: $AWS_REGION"
    echo "env-log-group: $AWS_LAMBDA_LOG_GROUP_NAME"
    echo "env-custom: ${CUSTOM:-}"
  } | respond response
done"#;

    const FAIL: &str = r#"while next; do printf '{"errorType":"Boom","errorMessage":"kaboom"}' | respond error; done"#;

    const SLOW: &str = r#"while next; do
  if grep -q slow "$DIR/body"; then sleep 3; fi
  respond response < "$DIR/body"
done"#;

    const INIT_ERROR: &str = r#"printf '{"errorType":"Config","errorMessage":"FCHAT_API_URL is not set"}' \
  | curl -sS -o /dev/null -X POST --data-binary @- "$API/init/error"
exit 1"#;

    /// A test double in its own temporary directory, removed on drop.
    struct Script {
        dir: PathBuf,
        path: PathBuf,
    }

    impl Script {
        fn new(body: &str) -> Script {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "fchat-runtime-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("bootstrap");
            std::fs::write(&path, format!("{PRELUDE}{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            Script { dir, path }
        }

        fn spec(&self, name: &str, timeout: Duration) -> FunctionSpec {
            FunctionSpec::new(name, &self.path).with_timeout(timeout)
        }
    }

    impl Drop for Script {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A host of `functions`, shared as the Invoke API needs it.
    async fn started(functions: Vec<FunctionSpec>) -> Arc<LambdaHost> {
        Arc::new(LambdaHost::start(functions).await.unwrap())
    }

    /// The host's Invoke API on a free loopback port.
    async fn serve(host: &Arc<LambdaHost>) -> SocketAddr {
        host.clone()
            .serve_invoke_api(([127, 0, 0, 1], 0).into())
            .await
            .unwrap()
    }

    async fn bounded<T>(test: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), test)
            .await
            .expect("the test took too long")
    }

    async fn post(addr: SocketAddr, path: &str, body: &str) -> (StatusCode, HeaderMap, String) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = Request::post(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn invoke_path(name: &str) -> String {
        format!("/2015-03-31/functions/{name}/invocations")
    }

    fn invoke_error(err: &anyhow::Error) -> &InvokeError {
        err.downcast_ref::<InvokeError>()
            .unwrap_or_else(|| panic!("not an InvokeError: {err:#}"))
    }

    #[tokio::test]
    async fn invoke_returns_the_response() {
        bounded(async {
            let echo = Script::new(ECHO);
            let host = LambdaHost::start(vec![echo.spec("echo", Duration::from_secs(5))])
                .await
                .unwrap();
            assert!(host.pid("echo").is_some());
            assert_eq!(host.invocations("echo"), Some(0));
            let body = host
                .invoke("echo", br#"{"text":"hello"}"#.to_vec())
                .await
                .unwrap();
            assert_eq!(body, br#"{"TEXT":"HELLO"}"#);
            let body = host.invoke("echo", b"again".to_vec()).await.unwrap();
            assert_eq!(body, b"AGAIN");
            assert_eq!(host.invocations("echo"), Some(2));
            assert_eq!(host.pid("nope"), None);
            assert_eq!(host.invocations("nope"), None);
        })
        .await
    }

    #[tokio::test]
    async fn next_sends_what_lambda_runtime_requires() {
        bounded(async {
            let report = Script::new(REPORT);
            let spec = report
                .spec("report", Duration::from_secs(7))
                .with_env("CUSTOM", "custom value");
            let host = LambdaHost::start(vec![spec]).await.unwrap();
            let before = epoch_millis();
            let body = host.invoke("report", b"{}".to_vec()).await.unwrap();
            let body = String::from_utf8(body).unwrap();
            let fields: HashMap<String, String> = body
                .lines()
                .filter_map(|line| line.split_once(": "))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect();
            assert!(body.starts_with("HTTP/1.1 200"), "{body}");
            let request_id = &fields["lambda-runtime-aws-request-id"];
            assert_eq!(request_id.len(), 36, "{request_id}");
            let deadline: u128 = fields["lambda-runtime-deadline-ms"].parse().unwrap();
            assert!(deadline >= before + 6_000 && deadline <= epoch_millis() + 7_000);
            assert_eq!(
                fields["lambda-runtime-invoked-function-arn"],
                "arn:aws:lambda:us-east-1:000000000000:function:report"
            );
            assert!(fields["lambda-runtime-trace-id"].starts_with("Root=1-"));
            assert_eq!(fields["content-type"], "application/json");
            assert_eq!(fields["env-name"], "report");
            assert_eq!(fields["env-version"], "$LATEST");
            assert_eq!(fields["env-memory"], "128");
            assert!(!fields["env-region"].is_empty());
            assert_eq!(fields["env-log-group"], "/aws/lambda/report");
            assert_eq!(fields["env-custom"], "custom value");

            // Each invocation gets a fresh request id.
            let again =
                String::from_utf8(host.invoke("report", b"{}".to_vec()).await.unwrap()).unwrap();
            assert!(!again.contains(request_id.as_str()));
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durations_and_output_are_counted_per_function() {
        bounded(async {
            let pause = Script::new(
                r#"while next; do echo "slept $(cat "$DIR/body")"; sleep "$(cat "$DIR/body")"; respond response < "$DIR/body"; done"#,
            );
            let host = LambdaHost::start(vec![pause.spec("pause", Duration::from_secs(5))])
                .await
                .unwrap();
            assert_eq!(host.durations("pause"), Some(vec![]));
            host.invoke("pause", b"0.4".to_vec()).await.unwrap();
            host.invoke("pause", b"0".to_vec()).await.unwrap();
            let durations = host.durations("pause").unwrap();
            assert_eq!(durations.len(), 2);
            assert!(durations[0] >= Duration::from_millis(400), "{durations:?}");
            assert!(durations[1] < durations[0], "{durations:?}");
            assert_eq!(host.durations("nope"), None);
            // What the function printed, counted: "slept 0.4\n" and "slept 0\n".
            let relayed = Instant::now();
            while host.output_bytes("pause") != Some(18) && relayed.elapsed() < Duration::from_secs(2) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(host.output_bytes("pause"), Some(18));
            assert_eq!(host.output_bytes("nope"), None);
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_invocations_queue_up_and_all_complete() {
        bounded(async {
            let echo = Script::new(ECHO);
            let host = started(vec![echo.spec("echo", Duration::from_secs(5))]).await;
            let mut invocations = JoinSet::new();
            for i in 0..4 {
                let host = host.clone();
                invocations.spawn(async move {
                    let body = host.invoke("echo", format!("call {i}").into_bytes()).await;
                    (i, body.unwrap())
                });
            }
            let mut seen = Vec::new();
            while let Some(done) = invocations.join_next().await {
                let (i, body) = done.unwrap();
                assert_eq!(body, format!("CALL {i}").into_bytes());
                seen.push(i);
            }
            seen.sort_unstable();
            assert_eq!(seen, vec![0, 1, 2, 3]);
            assert_eq!(host.invocations("echo"), Some(4));
        })
        .await
    }

    #[tokio::test]
    async fn a_function_error_fails_the_invocation() {
        bounded(async {
            let fail = Script::new(FAIL);
            let host = started(vec![fail.spec("fail", Duration::from_secs(5))]).await;
            let err = host.invoke("fail", b"{}".to_vec()).await.unwrap_err();
            assert!(matches!(invoke_error(&err), InvokeError::Function { .. }));
            assert_eq!(
                err.to_string(),
                r#"{"errorType":"Boom","errorMessage":"kaboom"}"#
            );

            let addr = serve(&host).await;
            let (status, headers, body) = post(addr, &invoke_path("fail"), "{}").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["x-amz-function-error"], "Unhandled");
            assert_eq!(body, r#"{"errorType":"Boom","errorMessage":"kaboom"}"#);
            assert_eq!(host.invocations("fail"), Some(2));
        })
        .await
    }

    #[tokio::test]
    async fn the_invoke_api_answers_like_aws() {
        bounded(async {
            let echo = Script::new(ECHO);
            let host = started(vec![echo.spec("echo", Duration::from_secs(5))]).await;
            let addr = serve(&host).await;

            let (status, headers, body) = post(addr, &invoke_path("echo"), r#"{"a":"b"}"#).await;
            assert_eq!(status, StatusCode::OK);
            assert!(headers.get("x-amz-function-error").is_none());
            assert_eq!(body, r#"{"A":"B"}"#);

            // By ARN, percent-encoded as the AWS SDK sends it.
            let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aecho";
            let (status, _, body) = post(addr, &invoke_path(arn), "x").await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "X"));

            let (status, headers, body) = post(addr, &invoke_path("nope"), "{}").await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(headers["x-amzn-errortype"], "ResourceNotFoundException");
            assert!(body.contains("function:nope"), "{body}");

            let err = host.invoke("nope", Vec::new()).await.unwrap_err();
            assert_eq!(
                invoke_error(&err),
                &InvokeError::UnknownFunction("nope".into())
            );
        })
        .await
    }

    #[tokio::test]
    async fn an_exited_process_fails_invocations_at_once() {
        bounded(async {
            let exit = Script::new("exit 3");
            let host = started(vec![exit.spec("crash", Duration::from_secs(30))]).await;
            let started = Instant::now();
            let err = host.invoke("crash", b"{}".to_vec()).await.unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert!(matches!(invoke_error(&err), InvokeError::Exited { .. }));
            let message = err.to_string();
            assert!(
                message.contains("process exited") && message.contains("exit status: 3"),
                "{message}"
            );
            assert_eq!(host.pid("crash"), None);

            // Later invocations fail at once too, also over HTTP (as AWS: 200 + function error).
            let err = host.invoke("crash", b"{}".to_vec()).await.unwrap_err();
            assert!(err.to_string().contains("exit status: 3"));
            let addr = serve(&host).await;
            let (status, headers, body) = post(addr, &invoke_path("crash"), "{}").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["x-amz-function-error"], "Unhandled");
            assert!(body.contains("Runtime.ExitError"), "{body}");
            assert!(started.elapsed() < Duration::from_secs(5));
        })
        .await
    }

    #[tokio::test]
    async fn an_init_error_fails_invocations_with_its_message() {
        bounded(async {
            let script = Script::new(INIT_ERROR);
            let host = LambdaHost::start(vec![script.spec("init", Duration::from_secs(30))])
                .await
                .unwrap();
            let started = Instant::now();
            let err = host.invoke("init", b"{}".to_vec()).await.unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert!(matches!(invoke_error(&err), InvokeError::InitError { .. }));
            assert!(
                err.to_string().contains("FCHAT_API_URL is not set"),
                "{err}"
            );
            let err = host.invoke("init", b"{}".to_vec()).await.unwrap_err();
            assert!(
                err.to_string().contains("FCHAT_API_URL is not set"),
                "{err}"
            );
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_instance_is_stopped_and_the_next_invocation_gets_a_new_one() {
        bounded(async {
            let slow = Script::new(SLOW);
            let host = started(vec![slow.spec("slow", Duration::from_secs(1))]).await;
            let first_pid = host.pid("slow").unwrap();
            let started = Instant::now();
            // A fast invocation queued behind the slow one runs once the slow one times out.
            let queued = {
                let host = host.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    host.invoke("slow", b"fast".to_vec()).await
                })
            };
            let err = host.invoke("slow", b"slow".to_vec()).await.unwrap_err();
            assert!(started.elapsed() < Duration::from_millis(2_800));
            assert!(
                matches!(
                    invoke_error(&err),
                    InvokeError::Timeout { started: true, .. }
                ),
                "{err:#}"
            );
            assert!(err.to_string().contains("timed out"));
            assert_eq!(queued.await.unwrap().unwrap(), b"fast");
            assert!(started.elapsed() < Duration::from_millis(2_800));
            // The stuck process was stopped, as Lambda resets the environment.
            wait_gone(first_pid).await;
            assert_ne!(host.pid("slow"), Some(first_pid));

            // Over HTTP: 504, and again a fresh instance afterwards.
            let addr = serve(&host).await;
            let (status, _, body) = post(addr, &invoke_path("slow"), "slow").await;
            assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
            let (status, _, body) = post(addr, &invoke_path("slow"), "fast").await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "fast"));
            assert_eq!(host.instances_started("slow"), Some(3));
            // The killed ones never answered.
            assert_eq!(host.invocations("slow"), Some(2));
        })
        .await
    }

    /// Picks invocations up, marks `$ROOT/picked`, and answers after sleeping for the body's
    /// seconds, with the process id.
    const PAUSE_PID: &str = r#"while next; do
  touch "$ROOT/picked"
  sleep "$(cat "$DIR/body")"
  echo -n "$$" | respond response
done"#;

    fn kill9(pid: u32) {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -KILL {pid}");
    }

    async fn wait_gone(pid: u32) {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let started = Instant::now();
        while proc.exists() && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!proc.exists(), "process {pid} still runs");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_process_fails_its_invocation_at_once_and_the_next_gets_a_new_process() {
        bounded(async {
            let script = Script::new(PAUSE_PID);
            let host = started(vec![script.spec("worker", Duration::from_secs(15))]).await;
            let addr = serve(&host).await;
            let first_pid = host.pid("worker").unwrap();
            let held = tokio::spawn(async move { post(addr, &invoke_path("worker"), "10").await });
            let picked = script.dir.join("picked");
            while !picked.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Killed mid-invocation, as the out-of-memory killer would.
            let killed = Instant::now();
            kill9(first_pid);
            let (status, headers, body) = held.await.unwrap();
            assert!(killed.elapsed() < Duration::from_secs(2));
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["x-amz-function-error"], "Unhandled");
            assert!(body.contains("Runtime.ExitError"), "{body}");
            assert!(body.contains("SIGKILL"), "{body}");

            // The next invocation gets a new process.
            let answer = host.invoke("worker", b"0".to_vec()).await.unwrap();
            let second_pid: u32 = String::from_utf8(answer).unwrap().parse().unwrap();
            assert_ne!(second_pid, first_pid);
            assert_eq!(host.pid("worker"), Some(second_pid));
            assert_eq!(host.instances_started("worker"), Some(2));
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_killed_while_idle_is_replaced_without_failing_an_invocation() {
        bounded(async {
            let script = Script::new(PAUSE_PID);
            let host = LambdaHost::start(vec![script.spec("worker", Duration::from_secs(5))])
                .await
                .unwrap();
            let pid =
                |answer: Vec<u8>| -> u32 { String::from_utf8(answer).unwrap().parse().unwrap() };
            let first = pid(host.invoke("worker", b"0".to_vec()).await.unwrap());
            // Killed between invocations, and invoked at once, before the host notices.
            kill9(first);
            let second = pid(host.invoke("worker", b"0".to_vec()).await.unwrap());
            assert_ne!(second, first);
            wait_gone(first).await;
            // Killed and noticed: the same.
            kill9(second);
            wait_gone(second).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let third = pid(host.invoke("worker", b"0".to_vec()).await.unwrap());
            assert!(third != first && third != second);
            assert_eq!(host.instances_started("worker"), Some(3));
            assert_eq!(host.invocations("worker"), Some(3));
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_invocations_run_on_up_to_max_instances() {
        bounded(async {
            let script = Script::new(PAUSE_PID);
            let spec = script
                .spec("worker", Duration::from_secs(10))
                .with_max_instances(3);
            let host = Arc::new(LambdaHost::start(vec![spec]).await.unwrap());
            let started = Instant::now();
            let mut invocations = JoinSet::new();
            for _ in 0..6 {
                let host = host.clone();
                invocations.spawn(async move { host.invoke("worker", b"0.6".to_vec()).await });
            }
            let mut pids = std::collections::HashSet::new();
            while let Some(done) = invocations.join_next().await {
                let answer = done.unwrap().unwrap();
                pids.insert(String::from_utf8(answer).unwrap());
            }
            // Three at a time: two rounds of 0.6 s, not six.
            assert_eq!(pids.len(), 3, "{pids:?}");
            assert!(started.elapsed() < Duration::from_millis(3_000));
            assert_eq!(host.instances_started("worker"), Some(3));
            assert_eq!(host.pids("worker").unwrap().len(), 3);
            assert_eq!(host.invocations("worker"), Some(6));
        })
        .await
    }

    #[tokio::test]
    async fn ready_waits_until_every_function_has_initialized() {
        bounded(async {
            let slow_init = Script::new(&format!("sleep 0.5\n{ECHO}"));
            let host = LambdaHost::start(vec![slow_init.spec("late", DEFAULT_TIMEOUT)])
                .await
                .unwrap();
            let started = Instant::now();
            host.ready(Duration::from_secs(5)).await.unwrap();
            assert!(started.elapsed() >= Duration::from_millis(400));

            let init_error = Script::new(INIT_ERROR);
            let host = LambdaHost::start(vec![init_error.spec("broken", DEFAULT_TIMEOUT)])
                .await
                .unwrap();
            let err = host.ready(Duration::from_secs(5)).await.unwrap_err();
            assert!(
                err.to_string().contains("FCHAT_API_URL is not set"),
                "{err:#}"
            );

            let exits = Script::new("exit 4");
            let host = LambdaHost::start(vec![exits.spec("exits", DEFAULT_TIMEOUT)])
                .await
                .unwrap();
            let err = host.ready(Duration::from_secs(5)).await.unwrap_err();
            assert!(err.to_string().contains("exit status: 4"), "{err:#}");

            let silent = Script::new("sleep 30");
            let host = LambdaHost::start(vec![silent.spec("silent", DEFAULT_TIMEOUT)])
                .await
                .unwrap();
            let err = host.ready(Duration::from_millis(500)).await.unwrap_err();
            assert!(err.to_string().contains("did not initialize"), "{err:#}");
        })
        .await
    }

    #[tokio::test]
    async fn dropping_the_host_kills_the_processes() {
        bounded(async {
            let echo = Script::new(ECHO);
            let host = LambdaHost::start(vec![echo.spec("echo", Duration::from_secs(5))])
                .await
                .unwrap();
            host.invoke("echo", b"x".to_vec()).await.unwrap();
            let pid = host.pid("echo").unwrap();
            let proc = PathBuf::from(format!("/proc/{pid}"));
            assert!(proc.exists());
            drop(host);
            let started = Instant::now();
            while proc.exists() && started.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(!proc.exists(), "process {pid} still runs");
        })
        .await
    }

    #[tokio::test]
    async fn start_refuses_a_missing_binary_and_duplicate_names() {
        let err = LambdaHost::start(vec![FunctionSpec::new("x", "/nonexistent/bootstrap")])
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/bootstrap"),
            "{err:#}"
        );
        let echo = Script::new(ECHO);
        let specs = vec![
            echo.spec("a", DEFAULT_TIMEOUT),
            echo.spec("a", DEFAULT_TIMEOUT),
        ];
        let err = LambdaHost::start(specs).await.unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn function_names_come_from_names_and_arns() {
        assert_eq!(function_name_from_path("ingest"), "ingest");
        assert_eq!(function_name_from_path("ingest:%24LATEST"), "ingest");
        assert_eq!(
            function_name_from_path("arn:aws:lambda:us-east-1:000000000000:function:ingest:live"),
            "ingest"
        );
        assert_eq!(function_name_from_path("a%2"), "a%2");
    }

    /// Runs the workspace's real `ingest` binary (`cargo build -p ingest` first):
    /// `cargo test -p fchat-local --lib runtime -- --ignored`.
    #[tokio::test]
    #[ignore = "needs target/debug/ingest"]
    async fn the_real_ingest_binary_speaks_the_runtime_api() {
        bounded(async {
            let binary = crate::workspace_root().join("target/debug/ingest");
            assert!(binary.exists(), "build it first: cargo build -p ingest");
            // The cold start reads the bot token from SSM: moto, with the template's parameters.
            let aws = crate::harness::LocalAws::start().await.unwrap();
            let mut spec = FunctionSpec::new("ingest", &binary).with_timeout(Duration::from_secs(5));
            for (key, value) in aws
                .provisioned
                .environment
                .clone()
                .into_iter()
                .chain(crate::moto::local_aws_environment(&aws.moto.endpoint))
            {
                spec = spec.with_env(key, value);
            }
            let unconfigured = FunctionSpec::new("unconfigured", &binary)
                .with_env("FCHAT_API_URL", "")
                .with_timeout(Duration::from_secs(5));
            let host = LambdaHost::start(vec![spec, unconfigured]).await.unwrap();

            // Not an API Gateway event: lambda_runtime reports it to /error.
            let err = host.invoke("ingest", br#""not an event""#.to_vec()).await.unwrap_err();
            assert!(matches!(invoke_error(&err), InvokeError::Function { .. }), "{err:#}");
            eprintln!("error: {err}");

            // An unroutable request: refused by the handler, answered through /response.
            let event = br#"{"version":"2.0","routeKey":"$default","rawPath":"/nope","rawQueryString":"",
                "headers":{},"isBase64Encoded":false,
                "requestContext":{"http":{"method":"GET","path":"/nope","protocol":"HTTP/1.1",
                "sourceIp":"127.0.0.1","userAgent":"test"},"routeKey":"$default","stage":"$default",
                "accountId":"000000000000","apiId":"local","domainName":"localhost","domainPrefix":"localhost",
                "requestId":"r","time":"01/Jan/2024:00:00:00 +0000","timeEpoch":0}}"#;
            let body = host.invoke("ingest", event.to_vec()).await.unwrap();
            eprintln!("response: {}", String::from_utf8_lossy(&body));
            assert!(String::from_utf8_lossy(&body).contains("statusCode"));
            assert_eq!(host.invocations("ingest"), Some(2));

            let err = host.invoke("unconfigured", b"{}".to_vec()).await.unwrap_err();
            assert!(err.to_string().contains("exit status: 1"), "{err:#}");
        })
        .await
    }
}
