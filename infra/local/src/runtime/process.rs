//! The supervisor of function processes: starting an instance (its Runtime API listener and
//! its process), passing its output on, and retiring it when the process exits or is stopped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};

use super::error::InvokeError;
use super::function::Function;
use super::instance::{Instance, Status};
use super::lock;
use super::runtime_api::runtime_api;
use super::spec::lambda_command;

impl Function {
    /// Starts a new instance, busy (for the invocation that asked for it).
    pub(super) async fn start_instance(self: &Arc<Self>) -> Result<Arc<Instance>, InvokeError> {
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
        // Aborted when the process exits: the listener and its connections end with it.
        *lock(&instance.listener) = Some(fchat_loopback::spawn(listener, move |req, _peer| {
            let (function, instance) = (function.clone(), routed.clone());
            async move { Ok::<_, Infallible>(runtime_api(function, instance, req).await) }
        }));
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
}

/// Passes a function's standard output on to ours, counting its bytes as CloudWatch Logs
/// would ingest them, and keeping its EMF documents (lines with `_aws` at the root) as
/// CloudWatch would extract their metrics.
async fn relay_output(function: Arc<Function>, mut output: tokio::process::ChildStdout) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stdout = tokio::io::stdout();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        match output.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                function.output_bytes.fetch_add(n as u64, Ordering::Relaxed);
                let _ = stdout.write_all(&buffer[..n]).await;
                let _ = stdout.flush().await;
                for byte in &buffer[..n] {
                    if *byte == b'\n' {
                        keep_metric_line(&function, &line);
                        line.clear();
                    } else if line.len() <= super::host::MAX_METRIC_LINE_BYTES {
                        line.push(*byte);
                    }
                }
            }
        }
    }
}

/// Keeps a line that is an EMF document: a JSON object with `_aws` at its root.
fn keep_metric_line(function: &Function, line: &[u8]) {
    if !line.starts_with(b"{") || line.len() > super::host::MAX_METRIC_LINE_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return;
    };
    let is_document = serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|value| value.get("_aws").is_some_and(serde_json::Value::is_object));
    if is_document {
        let mut kept = lock(&function.metric_lines);
        if kept.len() == super::host::KEPT_METRIC_LINES {
            kept.pop_front();
        }
        kept.push_back(text.to_owned());
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
