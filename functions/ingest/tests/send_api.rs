//! The send API end to end, over HTTP: the local API gateway, the real `ingest` binary under
//! the Lambda Runtime API emulator, moto with the template's tables and queues, and the FChat
//! simulator, loaded with `make dev`'s own seed. The contract's curl examples are sent as is.

use std::path::Path;

use fchat_local::harness::{dev_seed, Stack, LOCAL_BOT_TOKEN, LOCAL_CALLBACK_SECRET};
use gateway::config::BOT_TOKEN_PARAMETER;
use gateway::job::JobKind;
use serde_json::{json, Value};

async fn stack() -> Stack {
    Stack::start_one(
        Path::new(env!("CARGO_BIN_EXE_ingest")),
        &dev_seed().unwrap(),
    )
    .await
    .expect("the local stack starts (run `make venv` first)")
}

fn error(status: u16, description: &str) -> (u16, Value) {
    (
        status,
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

#[tokio::test]
async fn the_contracts_curl_examples_are_accepted_and_each_leaves_one_job() {
    let stack = stack().await;

    // curl -X POST .../webhooks/MY_APP/MY_TOKEN -d '{"text": "System notification: All services running"}'
    let (status, group) = stack
        .post(
            "/webhooks/MY_APP/MY_TOKEN",
            &json!({"text": "System notification: All services running"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["ok"], true);
    assert_eq!(group["error_code"], 200);
    assert_eq!(group["description"], "Message sent to queue");
    assert_eq!(group["context"]["parameters"], json!({}));

    // curl -X POST .../webhooks/MY_TOKEN/fchat -d '{"email": "user@example.com", "text": "Hello!"}'
    let (status, simple) = stack
        .post(
            "/webhooks/MY_TOKEN/fchat",
            &json!({"email": "user@example.com", "text": "Hello!"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{simple}");

    // The contract's "With Buttons" example.
    let (status, buttons) = stack
        .post(
            "/webhooks/MY_TOKEN/fchat",
            &json!({
                "email": "user@example.com",
                "text": "Approve this request?",
                "reply_markup": {"inlineKeyboard": [[
                    {"text": "Yes", "callbackData": {"action": "confirm", "data": "yes"}},
                    {"text": "No", "callbackData": {"action": "confirm", "data": "no"}}
                ]]}
            }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{buttons}");

    let mut jobs = stack.aws.queued_jobs().await.unwrap();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    jobs.sort_by_key(|job| serde_json::to_string(job).unwrap());
    let by_context = |id: &Value| {
        jobs.iter()
            .find(|j| j.context_id() == id.as_str())
            .unwrap()
            .clone()
    };

    let JobKind::SendGroup {
        app,
        group_id,
        content,
        ..
    } = by_context(&group["context"]["id"]).kind
    else {
        panic!("the group example did not queue a group job");
    };
    assert_eq!((app.as_str(), group_id.as_str()), ("MY_APP", "ops"));
    assert_eq!(content.text, "System notification: All services running");

    let JobKind::SendUser { email, content, .. } = by_context(&simple["context"]["id"]).kind else {
        panic!("the user example did not queue a user job");
    };
    assert_eq!(
        (email.as_str(), content.text.as_str()),
        ("user@example.com", "Hello!")
    );
    assert!(content.keyboard.is_empty());

    let JobKind::SendUser { content, .. } = by_context(&buttons["context"]["id"]).kind else {
        panic!("the buttons example did not queue a user job");
    };
    assert_eq!(content.keyboard.len(), 1);
    assert_eq!(content.keyboard[0][1].text, "No");
    assert_eq!(
        content.keyboard[0][1].callback_data,
        json!({"action": "confirm", "data": "no"})
    );

    // The status route knows them.
    let id = simple["context"]["id"].as_str().unwrap();
    let (status, report) = stack
        .get(&format!("/webhooks/MY_TOKEN/messages/{id}"))
        .await
        .unwrap();
    assert_eq!(
        (status, report["context"]["status"].as_str()),
        (200, Some("queued"))
    );
}

#[tokio::test]
async fn errors_answer_the_contracts_status_and_description_and_queue_nothing() {
    let stack = stack().await;
    let thirty_one: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
    let cases = [
        (
            "/webhooks/MY_APP/WRONG",
            json!({"text": "x"}),
            error(404, "Channel or token not found"),
        ),
        (
            "/webhooks/NOBODY/MY_TOKEN",
            json!({"text": "x"}),
            error(404, "Channel or token not found"),
        ),
        (
            "/webhooks/MY_APP/MY_TOKEN",
            json!({"text": "  "}),
            error(400, "Bad Request: message text is empty"),
        ),
        (
            "/webhooks/MY_APP/MY_TOKEN",
            json!({"text": "ệ".repeat(2001)}),
            error(400, "Bad Request: message is too long"),
        ),
        (
            "/webhooks/WRONG/fchat",
            json!({"email": "user@example.com", "text": "x"}),
            error(404, "channel or token not found"),
        ),
        (
            "/webhooks/MY_TOKEN/fchat",
            json!({"text": "x"}),
            error(400, "Bad Request: email is empty"),
        ),
        (
            "/webhooks/MY_TOKEN/fchat",
            json!({"email": "user@example.com", "text": "x", "reply_markup": "no"}),
            error(400, "Bad Request: reply_markup must be a dictionary"),
        ),
        (
            "/webhooks/MY_TOKEN/fchat",
            json!({"email": "user@example.com", "text": "x", "reply_markup": {"inlineKeyboard": [thirty_one]}}),
            error(400, "Limit 30 buttons"),
        ),
        (
            "/webhooks/MY_TOKEN/fchat",
            json!({"email": "ghost@example.com", "text": "x"}),
            error(404, "User ghost@example.com not found!"),
        ),
        (
            "/webhooks/a/b/c",
            json!({}),
            error(404, "Not Found: no such route"),
        ),
    ];
    for (path, body, expected) in cases {
        assert_eq!(
            stack.post(path, &body).await.unwrap(),
            expected,
            "{path} {body}"
        );
    }
    let (status, body, headers) = stack
        .request("GET", "/webhooks/MY_APP/MY_TOKEN", None, &[])
        .await
        .unwrap();
    assert_eq!((status, body["error_code"].as_u64()), (405, Some(405)));
    assert_eq!(headers["allow"], "POST");

    // 2000 Vietnamese characters are within the limit.
    let (status, _) = stack
        .post(
            "/webhooks/MY_APP/MY_TOKEN",
            &json!({"text": "ệ".repeat(2000)}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        stack.aws.queued_jobs().await.unwrap().len(),
        1,
        "only the valid request queued a job"
    );
}

#[tokio::test]
async fn a_retried_request_with_the_same_idempotency_key_is_queued_once() {
    let stack = stack().await;
    let body = json!({"email": "user@example.com", "text": "Deploy #42 done", "parameters": {"deploy": 42}});
    let key = [("Idempotency-Key", "deploy-42")];
    let (status, first, _) = stack
        .request("POST", "/webhooks/MY_TOKEN/fchat", Some(&body), &key)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, again, headers) = stack
        .request("POST", "/webhooks/MY_TOKEN/fchat", Some(&body), &key)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(first["context"]["parameters"], json!({"deploy": 42}));
    assert_eq!(stack.aws.queued_jobs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_root_and_odd_paths_answer_the_contracts_404_whatever_the_method() {
    let stack = stack().await;
    let not_found = error(404, "Not Found: no such route");
    for path in [
        "/",
        "//",
        "///",
        "/webhooks",
        "/webhooks/",
        "/a//b",
        "/webhooks/x/y/z",
    ] {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let body = (method != "GET").then(|| json!({"text": "x"}));
            let (status, answer, headers) = stack
                .request(method, path, body.as_ref(), &[])
                .await
                .unwrap();
            assert_eq!((status, answer), not_found, "{method} {path}");
            assert_eq!(headers["content-type"], "application/json");
        }
        let (status, _, _) = stack.request("HEAD", path, None, &[]).await.unwrap();
        assert_eq!(status, 404, "HEAD {path}");
    }
    assert!(stack.aws.queued_jobs().await.unwrap().is_empty());
}

/// Starts the real ingest binary as Lambda starts it, with `BOT_TOKEN_PARAMETER` set to
/// `parameter`; it stops before asking the Runtime API for an event. Answers its stderr.
async fn cold_start_with_parameter(
    aws: &fchat_local::harness::LocalAws,
    parameter: &str,
) -> String {
    let mut env = aws.function_environment("ingest");
    env.insert(BOT_TOKEN_PARAMETER.into(), parameter.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_LAMBDA_FUNCTION_NAME", "ingest")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for secret in [LOCAL_BOT_TOKEN, LOCAL_CALLBACK_SECRET] {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stderr.contains(secret) && !stdout.contains(secret));
    }
    stderr
}

#[tokio::test]
async fn a_missing_secret_parameter_stops_the_cold_start_naming_it() {
    let aws = fchat_local::harness::LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    // The parameter the template names and the role may read, never created (deleted here).
    let granted = aws.provisioned.environment[BOT_TOKEN_PARAMETER].clone();
    aws_sdk_ssm::Client::new(&aws.sdk)
        .delete_parameter()
        .name(&granted)
        .send()
        .await
        .unwrap();
    let stderr = cold_start_with_parameter(&aws, &granted).await;
    assert!(stderr.contains(&granted), "{stderr}");
    assert!(stderr.contains(BOT_TOKEN_PARAMETER), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    // A name the role may not read (a variable changed without the policy): AWS refuses it
    // before looking, and the cold start names it with the refusal.
    let elsewhere = format!("/gw-{}/bot-token", std::process::id());
    let stderr = cold_start_with_parameter(&aws, &elsewhere).await;
    assert!(stderr.contains(&elsewhere), "{stderr}");
    assert!(stderr.contains(BOT_TOKEN_PARAMETER), "{stderr}");
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(stderr.contains("ssm:GetParameters"), "{stderr}");
}
