//! `fchat-local functions`, as `make dev` runs it: the template's functions from binaries
//! already built, with their timeouts and the env file's environment, behind the Invoke API
//! once they have initialized; a function process that dies is started again. The functions
//! here are small Runtime API clients in bash, so that the test needs no build of its own.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fchat_local::harness::RUNTIME_API_PRELUDE;
use fchat_local::invoke::Invoker;
use tokio::io::{AsyncBufReadExt, BufReader};

/// After [`RUNTIME_API_PRELUDE`]: waits 0.5 s (its init), marks `$ROOT/<name>.initialized`,
/// then answers each invocation with its process id, its deadline's distance in ms, and
/// `$GREETING`.
const FUNCTION: &str = r#"sleep 0.5
touch "$ROOT/$AWS_LAMBDA_FUNCTION_NAME.initialized"
while next; do
  DEADLINE=$(tr -d '\r' < "$DIR/headers" | awk -F': ' 'tolower($1)=="lambda-runtime-deadline-ms" {print $2}')
  NOW=$(date +%s%3N)
  printf '{"pid":%s,"deadline_in_ms":%s,"greeting":"%s"}' "$$" "$((DEADLINE - NOW))" "${GREETING:-}" \
    | respond response
done
"#;

const TEMPLATE: &str = r#"Globals:
  Function:
    Timeout: 7
Resources:
  QuickFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: quick-fn
    Properties:
      CodeUri: .
      Timeout: 4
  PatientFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: patient-fn
    Properties:
      CodeUri: .
"#;

struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn new(binaries: &[&str]) -> Workspace {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "fchat-functions-test-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("template.yaml"), TEMPLATE).unwrap();
        std::fs::write(
            dir.join("functions.env"),
            "GREETING='hello from the env file'\nAWS_LAMBDA_LOG_FORMAT='JSON'\n",
        )
        .unwrap();
        for binary in binaries {
            let path = dir.join(binary);
            std::fs::write(&path, format!("{RUNTIME_API_PRELUDE}{FUNCTION}")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Workspace { dir }
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_fchat-local"));
        command
            .arg("functions")
            .arg("--template")
            .arg(self.dir.join("template.yaml"))
            .arg("--env-file")
            .arg(self.dir.join("functions.env"))
            .arg("--bin-dir")
            .arg(&self.dir)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops the command and the function processes it started (its process group).
struct Running(tokio::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    }
}

async fn invoke(invoker: &Invoker, function: &str) -> serde_json::Value {
    let answer = invoker
        .invoke(function, &serde_json::json!({}))
        .await
        .unwrap();
    serde_json::from_slice(&answer).unwrap()
}

fn initialized(dir: &Path, function: &str) -> bool {
    dir.join(format!("{function}.initialized")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_template_functions_once_initialized_and_restarts_a_dead_one() {
    let workspace = Workspace::new(&["quick-fn", "patient-fn"]);
    let mut child = workspace.command().spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("fchat-local functions did not get ready")
        .unwrap()
        .expect("fchat-local functions ended");
    // Ready means initialized: the Invoke API is announced after each function's init.
    assert!(started.elapsed() >= Duration::from_millis(400), "{line}");
    assert!(initialized(&workspace.dir, "quick-fn"), "{line}");
    assert!(initialized(&workspace.dir, "patient-fn"), "{line}");
    assert!(
        line.contains("quick-fn (4 s)") && line.contains("patient-fn (7 s)"),
        "{line}"
    );
    let base = line
        .split("Invoke API on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim();
    let invoker = Invoker::new(base);
    invoker.dry_run("quick-fn").await.unwrap();
    assert!(invoker.dry_run("no-such-fn").await.is_err());

    // Each function has its template timeout (its own, else the globals') and the env file.
    let quick = invoke(&invoker, "quick-fn").await;
    let patient = invoke(&invoker, "patient-fn").await;
    assert_eq!(quick["greeting"], "hello from the env file");
    let deadline_in = |answer: &serde_json::Value| answer["deadline_in_ms"].as_i64().unwrap();
    assert!((3_000..=4_000).contains(&deadline_in(&quick)), "{quick}");
    assert!(
        (6_000..=7_000).contains(&deadline_in(&patient)),
        "{patient}"
    );

    // Killed (as by the out-of-memory killer): the next invocation gets a new process.
    let first = quick["pid"].as_i64().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Once the death is known (the process reaped), as Lambda knows a dead environment: an
    // invocation racing the kill fails like Lambda's in-flight one (Runtime.ExitError).
    let reaped = Instant::now();
    while std::process::Command::new("kill")
        .args(["-0", &first.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            reaped.elapsed() < Duration::from_secs(5),
            "the killed process lingers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = invoke(&invoker, "quick-fn").await;
    assert_ne!(again["pid"].as_i64().unwrap(), first);
    assert_eq!(again["greeting"], "hello from the env file");
    drop(running);
}

#[tokio::test]
async fn refuses_to_start_without_a_built_binary() {
    let workspace = Workspace::new(&["quick-fn"]);
    let output = tokio::time::timeout(Duration::from_secs(20), workspace.command().output())
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("patient-fn not found") && stderr.contains("cargo build -p patient-fn"),
        "{stderr}"
    );
}
