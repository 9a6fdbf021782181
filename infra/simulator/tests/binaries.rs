//! The `fchat-simulator` and `fchat-webhook-receiver` binaries as `make dev` starts them, with
//! seed files of every shape: they start whatever the seed holds, and know what it holds.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A seed file of this test, removed when dropped.
struct SeedFile(PathBuf);

impl SeedFile {
    fn new(seed: &Value) -> SeedFile {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "fchat-binaries-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, seed.to_string()).unwrap();
        SeedFile(path)
    }
}

impl Drop for SeedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts a binary on a free port (`--port 0`) and answers it with the base URL its first
/// line announces. The process is killed when the handle is dropped.
async fn start(binary: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(binary)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the binary announces itself")
        .unwrap();
    let Some(first) = first else {
        let mut stderr = String::new();
        use tokio::io::AsyncReadExt;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        panic!("{binary} {args:?} did not start: {stderr}");
    };
    let url = first
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"));
    let base = url
        .trim_end_matches("/webhook")
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .to_owned();
    // The rest of its output is not read: drain it so that the binary never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let exchange = async {
        let response = Client::builder(TokioExecutor::new())
            .build_http()
            .request(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("answered in time")
}

#[tokio::test]
async fn the_receiver_starts_with_any_seed_and_serves_each_app_at_its_path() {
    let receiver = env!("CARGO_BIN_EXE_fchat-webhook-receiver");
    let event = json!({"event": "message", "app": "x", "message": {"text": "hi"}});

    // No apps at all, and the README's seed whose app has no webhook_secret.
    let empty = SeedFile::new(&json!({}));
    let readme = SeedFile::new(&json!({
        "groups": [{"id": "sec", "active": true}],
        "apps": [{"name": "siem", "token": "T0K3N", "group": "sec", "user_messaging": true,
                  "context_ttl_seconds": 300}],
        "users": [{"email": "an@example.com", "fchat_id": "u-1", "name": "An"}]
    }));
    for seed in [&empty, &readme] {
        let (_child, base) = start(receiver, &["--seed", seed.0.to_str().unwrap()]).await;
        let (status, answer) = post(&format!("{base}/webhook/siem"), &[], &event).await;
        assert_eq!((status, answer), (200, json!({"ok": true})), "{:?}", seed.0);
    }

    // An app with a secret is checked: an unsigned request to it is refused.
    let signed = SeedFile::new(&json!({
        "apps": [{"name": "billing bot", "token": "b", "webhook_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
    }));
    let (_child, base) = start(receiver, &["--seed", signed.0.to_str().unwrap(), "--echo"]).await;
    let (status, _) = post(&format!("{base}/webhook/billing%20bot"), &[], &event).await;
    assert_eq!(status, 401);
    let (status, answer) = post(&format!("{base}/webhook/someone-else"), &[], &event).await;
    assert_eq!((status, answer), (200, json!({"text": "You said: hi"})));
}

#[tokio::test]
async fn the_simulator_knows_the_seeds_group_chats_by_their_ids() {
    let simulator = env!("CARGO_BIN_EXE_fchat-simulator");
    let seed = SeedFile::new(&json!({
        "groups": [
            {"id": "nightly", "beatchat_id": "bc-1", "active": true},
            {"id": "draft", "active": true}
        ],
        "users": [{"email": "an@example.com", "fchat_id": "u-1"}]
    }));
    let (_child, base) = start(
        simulator,
        &["--seed", seed.0.to_str().unwrap(), "--token", "t-42"],
    )
    .await;
    let send = |chat: &str| json!({"chat_id": chat, "text": "deploy done"});
    let auth = [("authorization", "Bearer t-42")];
    let (status, answer) = post(&format!("{base}/sendMessage"), &auth, &send("bc-1")).await;
    assert_eq!(status, 200, "{answer}");
    for chat in ["draft", "nightly", "beatchat-draft"] {
        let (status, answer) = post(&format!("{base}/sendMessage"), &auth, &send(chat)).await;
        assert_eq!(
            (status, answer["description"].as_str()),
            (400, Some("Bad Request: chat not found")),
            "{chat}"
        );
    }
    // A group chat created later, as fchat-admin does under `make dev`.
    let (status, _) = post(
        &format!("{base}/_sim/groups"),
        &[],
        &json!({"id": "draft-room"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(&format!("{base}/sendMessage"), &auth, &send("draft-room")).await;
    assert_eq!(status, 200);
}
