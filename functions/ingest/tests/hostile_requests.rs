//! Requests no HTTP API sends a function, against the real `ingest` binary under the Lambda
//! Runtime API emulator, on moto: `OPTIONS *` over a real socket through the local API
//! gateway (answered by the gateway, as API Gateway routes paths only), and the events that
//! panicked `lambda_http` 1.3.2's conversion (a release build aborts on a panic, and the
//! process with it) invoked on the function directly, as another door or a test event could.
//! Each is answered 4xx, the process that answered is the one that started, and the next
//! request is served as usual.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A tenant nobody wrote into the fixtures: its name and token differ on every run.
fn stranger() -> (String, String, u16) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (
        format!("app-{nanos:x}"),
        format!("tok{nanos}Hq_{}", std::process::id()),
        1024 + ((nanos ^ std::process::id()) % 60_000) as u16,
    )
}

async fn stack(app: &str, token: &str) -> Stack {
    let seed = json!({
        "groups": [{"id": "grp-h", "beatchat_id": "bc-h", "active": true}],
        "apps": [{"name": app, "token": token, "group": "grp-h", "user_messaging": false}],
        "users": []
    });
    let dir = std::env::temp_dir().join(format!("hostile-{token}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    let seed = Seed::load(&path).unwrap();
    let stack = Stack::start_one(Path::new(env!("CARGO_BIN_EXE_ingest")), &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let _ = std::fs::remove_dir_all(&dir);
    stack
}

/// Writes `request` as it is over a new connection; the status and body of the answer.
async fn raw(addr: SocketAddr, request: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A door's fixture, changed.
fn event(fixture: &str, change: impl FnOnce(&mut Value)) -> Value {
    let path = fchat_local::workspace_root()
        .join("shared/tests/fixtures")
        .join(fixture);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut event);
    event
}

#[tokio::test]
async fn hostile_requests_get_4xx_and_the_function_lives_on() {
    let (app, token, port) = stranger();
    let stack = stack(&app, &token).await;
    let api: SocketAddr = stack.api.trim_start_matches("http://").parse().unwrap();
    let pid = stack.host.pid("ingest").expect("ingest runs");

    // Through the local API gateway, over a real socket.
    let (status, body) = raw(
        api,
        &format!("OPTIONS * HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!((status, body), (400, json!({"message": "Bad Request"})));

    // On the function itself: the events lambda_http panicked on, one per door.
    let malformed = json!({
        "ok": false,
        "error_code": 400,
        "description": "Bad Request: the request's target, Host header or body encoding is malformed",
    });
    for (door, event) in [
        (
            "HTTP API",
            event("http-api-user-message.json", |e| {
                e["rawPath"] = json!("*");
                e["requestContext"]["http"]["method"] = json!("OPTIONS");
                e["headers"]["host"] = json!(format!("127.0.0.1:{port}"));
            }),
        ),
        (
            "ALB",
            event("alb-user-message.json", |e| {
                e["headers"]["host"] = json!(format!("lb.internal:{}", 65_536 + u32::from(port)));
            }),
        ),
        (
            "function URL",
            event("function-url-user-message.json", |e| {
                e["headers"]["x-forwarded-proto"] = json!(format!("no scheme {port}"));
            }),
        ),
    ] {
        let answer = stack
            .invoker
            .invoke("ingest", &event)
            .await
            .unwrap_or_else(|e| panic!("{door}: {e}"));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["statusCode"], 400, "{door}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, malformed, "{door}");
    }

    // The same process answered everything and serves the next message.
    let (status, body) = stack
        .post(
            &format!("/{app}/{token}"),
            &json!({"text": format!("still here {port}")}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(stack.host.pid("ingest"), Some(pid));
    assert_eq!(stack.host.instances_started("ingest"), Some(1));
}
