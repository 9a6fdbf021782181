//! One execution environment: a process and its Runtime API listener, running one invocation
//! at a time, and what passes between an invocation and the instance running it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::lock;

/// One execution environment: a process and its Runtime API listener. It runs one
/// invocation at a time.
pub(super) struct Instance {
    pub(super) runtime_api: SocketAddr,
    pub(super) pid: Option<u32>,
    /// The invocation handed to this instance, waiting for its `/next`.
    pub(super) queue_tx: mpsc::UnboundedSender<Pending>,
    pub(super) queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    /// Invocations handed out by `/next`, by request id, waiting for `/response` or `/error`.
    /// With the moment `/next` handed each one out.
    pub(super) inflight: Mutex<HashMap<String, (mpsc::UnboundedSender<Event>, Instant)>>,
    pub(super) status: watch::Sender<Status>,
    /// Whether an invocation holds this instance (guarded by the function's `instances`).
    pub(super) busy: AtomicBool,
    /// Taking (or dropping) it makes the process watcher kill the process.
    pub(super) kill: Mutex<Option<oneshot::Sender<()>>>,
    /// The Runtime API server: aborted when the process exits.
    pub(super) listener: Mutex<Option<JoinHandle<()>>>,
}

/// How an instance's process is doing, watched by the invocations it holds.
#[derive(Debug, Default, Clone)]
pub(super) struct Status {
    /// It has asked for its first invocation (`/next`).
    pub(super) initialized: bool,
    pub(super) init_error: Option<String>,
    pub(super) exited: Option<String>,
}

/// An invocation handed to an instance, and where to tell its invoker what happened.
pub(super) struct Pending {
    pub(super) payload: Bytes,
    pub(super) events: mpsc::UnboundedSender<Event>,
}

/// What the invoker hears: the invocation was handed out (with its deadline), or its answer.
pub(super) enum Event {
    Dispatched { deadline: Instant },
    Done(Result<Vec<u8>, Vec<u8>>),
}

impl Instance {
    pub(super) fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::SeqCst);
    }

    /// Kills the process (its watcher records the exit).
    pub(super) fn stop(&self) {
        if let Some(kill) = lock(&self.kill).take() {
            let _ = kill.send(());
        }
    }
}
