//! Cold start: a function binary started from nothing under a small Runtime API stub on
//! loopback, timed from exec to its first `GET /next` (its init), then its first request and a
//! second one (warm), each from `/next` handing the event out to its `/response`.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One cold start's timings, in milliseconds, and the process's peak RSS after them.
#[derive(Debug, Clone)]
pub struct ColdStart {
    pub init_ms: f64,
    pub first_ms: f64,
    pub warm_ms: f64,
    pub peak_rss_kib: u64,
}

#[derive(Default)]
struct StubState {
    events: VecDeque<Bytes>,
    next_at: Vec<Instant>,
    answered_at: Vec<Instant>,
    answers: Vec<(bool, Bytes)>,
    init_error: Option<String>,
}

struct Stub {
    state: Mutex<StubState>,
    changed: Notify,
}

const PREFIX: &str = "/2018-06-01/runtime";

/// Starts `binary` with `env` (and nothing else of this process's environment), hands it
/// `events` one by one, and answers its timings and answers.
pub async fn run(
    name: &str,
    binary: &Path,
    env: &HashMap<String, String>,
    events: Vec<Bytes>,
) -> Result<(ColdStart, Vec<Bytes>)> {
    let count = events.len();
    let stub = Arc::new(Stub {
        state: Mutex::new(StubState {
            events: events.into(),
            ..Default::default()
        }),
        changed: Notify::new(),
    });
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let served = stub.clone();
    let server = fchat_loopback::spawn(listener, move |request, _peer| {
        handle(request, served.clone())
    });

    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let notified = stub.changed.notified();
        {
            let state = stub.state.lock().expect("stub");
            if let Some(error) = &state.init_error {
                bail!("{name} failed to initialise: {error}");
            }
            if state.answered_at.len() >= count {
                break;
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited ({status}) before answering {count} events");
        }
        if tokio::time::timeout_at(deadline.into(), notified)
            .await
            .is_err()
        {
            bail!("{name} did not answer {count} events within 30 s");
        }
    }
    let peak_rss_kib = pid.map(crate::rss::peak_rss_kib).unwrap_or(0);
    let _ = child.kill().await;
    server.abort();

    let state = stub.state.lock().expect("stub");
    let ms = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64() * 1000.0;
    let mut answers = Vec::new();
    for (failed, body) in &state.answers {
        if *failed {
            bail!(
                "{name} answered an error: {}",
                String::from_utf8_lossy(body)
            );
        }
        answers.push(body.clone());
    }
    let timing = ColdStart {
        init_ms: ms(started, state.next_at[0]),
        first_ms: ms(state.next_at[0], state.answered_at[0]),
        warm_ms: if count > 1 {
            ms(state.next_at[1], state.answered_at[1])
        } else {
            0.0
        },
        peak_rss_kib,
    };
    Ok((timing, answers))
}

async fn handle(
    request: Request<Incoming>,
    stub: Arc<Stub>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    if method == Method::GET && rest == "/invocation/next" {
        let event = {
            let mut state = stub.state.lock().expect("stub");
            state.next_at.push(arrived);
            state.events.pop_front()
        };
        stub.changed.notify_waiters();
        let Some(event) = event else {
            // No more events: the process waits here until it is killed.
            std::future::pending::<()>().await;
            unreachable!();
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 30_000;
        let mut response = Response::new(Full::new(event));
        let headers = response.headers_mut();
        // A random (v4) UUID, as Lambda's request ids are.
        let request_id = uuid::Uuid::new_v4().to_string();
        headers.insert(
            "lambda-runtime-aws-request-id",
            request_id.parse().expect("header"),
        );
        headers.insert(
            "lambda-runtime-deadline-ms",
            deadline.to_string().parse().expect("header"),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:bench"
                .parse()
                .expect("header"),
        );
        return Ok(response);
    }
    if method == Method::POST && rest == "/init/error" {
        stub.state.lock().expect("stub").init_error =
            Some(String::from_utf8_lossy(&body).into_owned());
        stub.changed.notify_waiters();
        return Ok(status(StatusCode::ACCEPTED));
    }
    if method == Method::POST && rest.starts_with("/invocation/") {
        let failed = rest.ends_with("/error");
        {
            let mut state = stub.state.lock().expect("stub");
            state.answered_at.push(arrived);
            state.answers.push((failed, body));
        }
        stub.changed.notify_waiters();
        return Ok(status(StatusCode::ACCEPTED));
    }
    Ok(status(StatusCode::NOT_FOUND))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
