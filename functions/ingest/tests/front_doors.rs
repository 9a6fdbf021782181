//! One `ingest` binary behind every front door `lambda_http` serves: the HTTP API (payload
//! 2.0), a REST API (payload 1.0), an ALB and a function URL. Each door's event is invoked on
//! the real binary under the Lambda Runtime API emulator, on moto; each answer comes back in
//! that door's shape, carrying the contract's body.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use serde_json::{json, Value};

/// A tenant nobody wrote into the fixtures: its name and token differ on every run.
fn stranger() -> (String, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (
        format!("app-{nanos:x}"),
        format!("tok{nanos}Zq-_{}", std::process::id()),
    )
}

async fn stack(app: &str, token: &str) -> Stack {
    let seed = json!({
        "groups": [{"id": "grp-7", "beatchat_id": "bc-77", "active": true}],
        "apps": [{"name": app, "token": token, "group": "grp-7", "user_messaging": true}],
        "users": [{"email": "user@example.com", "fchat_id": "fu-1"}]
    });
    let dir = std::env::temp_dir().join(format!("front-doors-{token}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    let seed = Seed::load(&path).unwrap();
    Stack::start_one(Path::new(env!("CARGO_BIN_EXE_ingest")), &seed)
        .await
        .expect("the local stack starts (run `make venv` first)")
}

/// A door's fixture with the stranger's token in its path.
fn event(fixture: &str, token: &str) -> Value {
    let path = fchat_local::workspace_root()
        .join("shared/tests/fixtures")
        .join(fixture);
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text.replace("MY_TOKEN", token)).unwrap()
}

#[tokio::test]
async fn every_front_door_gets_the_contracts_answer_in_its_own_shape() {
    let (app, token) = stranger();
    let stack = stack(&app, &token).await;
    let mut contexts = Vec::new();
    for (door, fixture) in [
        ("HTTP API", "http-api-user-message.json"),
        ("REST API", "rest-api-user-message.json"),
        ("ALB", "alb-user-message.json"),
        ("function URL", "function-url-user-message.json"),
    ] {
        let answer = stack
            .invoker
            .invoke("ingest", &event(fixture, &token))
            .await
            .unwrap_or_else(|e| panic!("{door}: {e}"));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["statusCode"], 200, "{door}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["ok"], true, "{door}");
        assert_eq!(body["error_code"], 200, "{door}");
        assert_eq!(body["description"], "Message sent to queue", "{door}");
        contexts.push(body["context"]["id"].as_str().unwrap().to_owned());
        match door {
            // An ALB needs the status line's text.
            "ALB" => assert_eq!(answer["statusDescription"], "200 OK"),
            _ => assert!(answer.get("statusDescription").is_none(), "{door}"),
        }
        // A REST API takes its headers as lists.
        let content_type = match door {
            "REST API" => answer["multiValueHeaders"]["content-type"][0].as_str(),
            _ => answer["headers"]["content-type"].as_str(),
        };
        assert_eq!(content_type, Some("application/json"), "{door}: {answer}");
    }
    // The four events carry the same request and `Idempotency-Key`: the services saw one
    // request four times, so one message was queued and every door answered its context.
    contexts.dedup();
    assert_eq!(contexts.len(), 1, "{contexts:?}");
    let jobs = stack
        .aws
        .peek(&stack.aws.config.delivery_queue_url)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
}

#[tokio::test]
async fn a_refusal_keeps_the_contracts_error_format_behind_every_door() {
    let (app, token) = stranger();
    let stack = stack(&app, &token).await;
    for (door, fixture) in [
        ("HTTP API", "http-api-user-message.json"),
        ("REST API", "rest-api-user-message.json"),
        ("ALB", "alb-user-message.json"),
        ("function URL", "function-url-user-message.json"),
    ] {
        // A token nobody has.
        let mut request = event(fixture, &format!("{token}x"));
        if door == "ALB" {
            request["httpMethod"] = json!("GET");
        }
        let answer = stack.invoker.invoke("ingest", &request).await.unwrap();
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        let status = answer["statusCode"].as_u64().unwrap();
        assert_eq!(body["ok"], false, "{door}: {answer}");
        assert_eq!(body["error_code"].as_u64(), Some(status), "{door}");
        let expected = if door == "ALB" { 405 } else { 404 };
        assert_eq!(status, expected, "{door}: {body}");
    }
    let jobs = stack
        .aws
        .peek(&stack.aws.config.delivery_queue_url)
        .await
        .unwrap();
    assert!(jobs.is_empty(), "a refusal queued {jobs:?}");
}
