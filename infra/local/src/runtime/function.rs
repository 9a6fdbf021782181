//! One function: its instances and its invocations. An invocation waits for a free instance
//! (at most `max_instances` run), is handed to an idle one or a new one, and ends with the
//! function's answer, its error, the process's exit, or a timeout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::error::InvokeError;
use super::instance::{Event, Instance, Pending, Status};
use super::lock;
use super::spec::{function_arn, FunctionSpec};

/// One function: its spec, its running instances, and what they have done.
pub(super) struct Function {
    pub(super) spec: FunctionSpec,
    pub(super) arn: String,
    /// One per instance that may run: an invocation holds one from choosing an instance to
    /// its end, so at most `max_instances` run; waiters are served in order.
    pub(super) permits: Arc<Semaphore>,
    /// The running instances, oldest first. An instance leaves when its process exits.
    pub(super) instances: Mutex<Vec<Arc<Instance>>>,
    /// Instances started so far (cold starts).
    pub(super) started: AtomicU64,
    /// Set when the host is dropped: no more instances start.
    pub(super) stopped: AtomicBool,
    /// The status of the instance that exited last.
    pub(super) last_exit: Mutex<Option<Status>>,
    /// How long each completed invocation took, from `/next` handing it out to its answer:
    /// what Lambda bills as the invocation's duration.
    pub(super) durations: Mutex<Vec<Duration>>,
    /// Bytes the function has written to its standard output (its logs).
    pub(super) output_bytes: AtomicU64,
    /// The latest EMF documents of its output (CloudWatch's metrics), at most
    /// [`super::host::KEPT_METRIC_LINES`].
    pub(super) metric_lines: Mutex<std::collections::VecDeque<String>>,
    /// When the function last started or finished an invocation (or an instance started).
    pub(super) last_progress: Mutex<Instant>,
    pub(super) completed: AtomicU64,
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
    pub(super) fn new(spec: FunctionSpec) -> Self {
        Function {
            arn: function_arn(&spec.name),
            permits: Arc::new(Semaphore::new(spec.max_instances.max(1))),
            instances: Mutex::new(Vec::new()),
            started: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            last_exit: Mutex::new(None),
            durations: Mutex::new(Vec::new()),
            output_bytes: AtomicU64::new(0),
            metric_lines: Mutex::new(std::collections::VecDeque::new()),
            last_progress: Mutex::new(Instant::now()),
            completed: AtomicU64::new(0),
            spec,
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(super) fn failure(&self, status: &Status) -> Option<InvokeError> {
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

    pub(super) fn touch(&self) {
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
    pub(super) fn shut_down(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for instance in lock(&self.instances).iter() {
            instance.stop();
        }
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

    pub(super) fn remove(&self, instance: &Arc<Instance>) {
        lock(&self.instances).retain(|i| !Arc::ptr_eq(i, instance));
    }

    /// Runs an invocation in its own task, so that it ends properly (its instance freed or
    /// stopped) even when the caller stops waiting.
    pub(super) async fn invoke(self: &Arc<Self>, payload: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        if payload.len() > super::MAX_REQUEST_PAYLOAD {
            return Err(InvokeError::RequestTooLarge {
                function: self.name().to_owned(),
                size: payload.len(),
            });
        }
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
