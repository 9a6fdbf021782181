//! The emulator against test doubles: bash scripts that speak the Runtime API with curl.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;

use super::ids::epoch_millis;
use super::*;
use crate::harness::RUNTIME_API_PRELUDE;

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

const FAIL: &str =
    r#"while next; do printf '{"errorType":"Boom","errorMessage":"kaboom"}' | respond error; done"#;

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
        std::fs::write(&path, format!("{RUNTIME_API_PRELUDE}{body}\n")).unwrap();
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
        let pid = |answer: Vec<u8>| -> u32 { String::from_utf8(answer).unwrap().parse().unwrap() };
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
            for (key, value) in aws.function_environment("ingest") {
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
