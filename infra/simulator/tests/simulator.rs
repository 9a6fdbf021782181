//! The simulator over real loopback sockets, as the gateway's HTTP client sees it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use fchat_simulator::{Faults, SimUser, Simulator, SimulatorConfig};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

mod common;
use common::{assert_stopped, client};

const TOKEN: &str = "test-token";

async fn simulator() -> Simulator {
    Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimulatorConfig {
            bot_token: TOKEN.into(),
            users: vec![SimUser {
                email: "User@Example.com".into(),
                id: "fchat-user-1001".into(),
                name: Some("Example User".into()),
            }],
            groups: vec!["beatchat-ops-001".into()],
        },
    )
    .await
    .expect("the simulator starts")
}

/// Every call is bounded: a bug that makes the simulator hang fails the test instead.
async fn request(
    sim: &Simulator,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(StatusCode, Value), String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{path}", sim.url()));
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let exchange = async {
        let response = client()
            .request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        let body =
            serde_json::from_slice(&body).map_err(|e| format!("not JSON ({e}): {body:?}"))?;
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| "timed out".to_owned())?
}

async fn call(
    sim: &Simulator,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    request(sim, method, path, token, body, Duration::from_secs(5))
        .await
        .expect("the simulator answers")
}

async fn send(sim: &Simulator, body: Value) -> (StatusCode, Value) {
    call(
        sim,
        Method::POST,
        "/sendMessage",
        Some(TOKEN),
        Some(&body.to_string()),
    )
    .await
}

fn text(chat_id: &str, text: &str) -> Value {
    json!({"chat_id": chat_id, "text": text})
}

#[tokio::test]
async fn send_message_answers_and_records() {
    let sim = simulator().await;
    let keyboard = json!({"inline_keyboard": [[
        {"text": "Yes", "callback_data": "{\"action\":\"confirm\",\"data\":\"yes\"}"},
        {"text": "No", "callback_data": "no"}
    ]]});
    let (status, answer) = send(
        &sim,
        json!({
            "chat_id": "beatchat-ops-001",
            "text": "Approve this request?",
            "reply_markup": keyboard,
            "client_message_id": "ctx-1",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["result"]["message_id"], "m-1");
    assert_eq!(answer["result"]["chat_id"], "beatchat-ops-001");
    assert!(answer["result"]["date"].as_u64().unwrap() > 1_700_000_000);

    // A known user's id is a chat too; `client_message_id: null` is the same as leaving it out.
    let (status, answer) = send(
        &sim,
        json!({"chat_id": "fchat-user-1001", "text": "hi", "client_message_id": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["result"]["message_id"], "m-2");

    let messages = sim.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].message_id, "m-1");
    assert_eq!(messages[0].chat_id, "beatchat-ops-001");
    assert_eq!(messages[0].text, "Approve this request?");
    assert_eq!(messages[0].reply_markup.as_ref(), Some(&keyboard));
    assert_eq!(messages[0].client_message_id.as_deref(), Some("ctx-1"));
    assert!(messages[0].received_at_ms > 1_700_000_000_000);
    assert_eq!(messages[1].chat_id, "fchat-user-1001");
    assert_eq!(messages[1].reply_markup, None);
    assert_eq!(messages[1].client_message_id, None);
    assert_eq!(sim.send_attempts(), 2);
}

#[tokio::test]
async fn a_repeated_client_message_id_answers_the_first_id_and_records_nothing() {
    let sim = simulator().await;
    let message =
        json!({"chat_id": "beatchat-ops-001", "text": "once", "client_message_id": "ctx-7"});
    let (_, first) = send(&sim, message.clone()).await;
    let (status, again) = send(&sim, message).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["result"], first["result"]);
    assert_eq!(again["result"]["message_id"], "m-1");

    let (_, other) = send(
        &sim,
        json!({"chat_id": "beatchat-ops-001", "text": "twice", "client_message_id": "ctx-8"}),
    )
    .await;
    assert_eq!(other["result"]["message_id"], "m-2");
    assert_eq!(sim.messages().len(), 2);
    assert_eq!(sim.send_attempts(), 3);
}

#[tokio::test]
async fn send_message_validates_its_body() {
    let sim = simulator().await;
    let cases = [
        (text("nobody", "hi"), "Bad Request: chat not found"),
        (text("", "hi"), "Bad Request: chat not found"),
        (
            json!({"chat_id": 42, "text": "hi"}),
            "Bad Request: chat not found",
        ),
        (json!({"text": "hi"}), "Bad Request: chat not found"),
        (
            text("beatchat-ops-001", ""),
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": "beatchat-ops-001"}),
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": "beatchat-ops-001", "text": 3}),
            "Bad Request: message text is empty",
        ),
    ];
    for (body, description) in cases {
        let (status, answer) = send(&sim, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            answer,
            json!({"ok": false, "error_code": 400, "description": description}),
            "{body}"
        );
    }
    for body in [
        json!({"chat_id": "beatchat-ops-001", "text": "hi", "reply_markup": {"inline_keyboard": [{"text": "x"}]}}),
        json!({"chat_id": "beatchat-ops-001", "text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": 1}]]}}),
        json!({"chat_id": "beatchat-ops-001", "text": "hi", "reply_markup": []}),
        json!({"chat_id": "beatchat-ops-001", "text": "hi", "client_message_id": 5}),
        json!(["not", "an", "object"]),
    ] {
        let (status, answer) = send(&sim, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["ok"], false);
        assert_eq!(answer["error_code"], 400);
    }
    assert!(sim.messages().is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400_and_the_simulator_lives_on() {
    let sim = simulator().await;
    for body in [
        "{",
        "",
        "not json",
        "\u{0}\u{1}",
        "{\"chat_id\": \"beatchat-x\", \"text\": }",
    ] {
        let (status, answer) =
            call(&sim, Method::POST, "/sendMessage", Some(TOKEN), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(
            answer,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid JSON"})
        );
    }
    // Garbage in the query must not hurt either.
    let (status, _) = call(
        &sim,
        Method::GET,
        "/getUserByEmail?email=%ZZ%&%%",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&sim, text("beatchat-ops-001", "still here")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn get_user_by_email_finds_people_case_insensitively() {
    let sim = simulator().await;
    let (status, answer) = call(
        &sim,
        Method::GET,
        "/getUserByEmail?email=user%40example.com",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["result"]["id"], "fchat-user-1001");
    assert_eq!(answer["result"]["name"], "Example User");
    assert_eq!(answer["result"]["email"], "User@Example.com");

    let (status, answer) = call(
        &sim,
        Method::GET,
        "/getUserByEmail?email=USER@EXAMPLE.COM",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["result"]["id"], "fchat-user-1001");

    let (status, answer) = call(
        &sim,
        Method::GET,
        "/getUserByEmail?email=nobody%40example.com",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer,
        json!({"ok": false, "error_code": 404, "description": "Not Found: user not found"})
    );

    let (status, answer) = call(&sim, Method::GET, "/getUserByEmail", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error_code"], 400);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401() {
    let sim = simulator().await;
    let unauthorized = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
    let body = text("beatchat-ops-001", "hi").to_string();
    for token in [Some("wrong-token"), None] {
        let (status, answer) = call(&sim, Method::POST, "/sendMessage", token, Some(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer, unauthorized);
        let (status, answer) = call(
            &sim,
            Method::GET,
            "/getUserByEmail?email=user%40example.com",
            token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer, unauthorized);
    }
    assert!(sim.messages().is_empty());
    assert_eq!(sim.send_attempts(), 2);
}

#[tokio::test]
async fn fail_next_fails_that_many_calls_then_succeeds() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        fail_next: 3,
        fail_status: 503,
        ..Faults::default()
    });
    for _ in 0..3 {
        let (status, answer) = send(&sim, text("beatchat-ops-001", "hi")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            answer,
            json!({"ok": false, "error_code": 503, "description": "Simulated failure"})
        );
    }
    assert!(sim.messages().is_empty());
    let (status, answer) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["result"]["message_id"], "m-1");
    assert_eq!(sim.messages().len(), 1);
    assert_eq!(sim.send_attempts(), 4);
    assert_eq!(sim.faults().fail_next, 0);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        rate_limit_next: 1,
        retry_after: 7,
        ..Faults::default()
    });
    let (status, answer) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        answer,
        json!({
            "ok": false,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        })
    );
    let (status, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.messages().len(), 1);
}

#[tokio::test]
async fn faults_fire_in_order_one_per_call() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        rate_limit_next: 1,
        fail_next: 1,
        ..Faults::default()
    });
    let (first, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    let (second, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    let (third, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(
        [first, second, third],
        [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::OK
        ]
    );
}

#[tokio::test]
async fn drop_next_closes_the_connection_without_an_answer() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let body = text("beatchat-ops-001", "hi").to_string();
    let started = Instant::now();
    let outcome = request(
        &sim,
        Method::POST,
        "/sendMessage",
        Some(TOKEN),
        Some(&body),
        Duration::from_secs(5),
    )
    .await;
    let error = outcome.expect_err("a dropped call has no answer");
    assert_ne!(
        error, "timed out",
        "the connection must be closed, not held"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(sim.messages().is_empty());

    let (status, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.send_attempts(), 2);
}

#[tokio::test]
async fn a_dropped_connection_sends_no_bytes_at_all() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = simulator().await;
    sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let body = text("beatchat-ops-001", "hi").to_string();
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let head = format!(
        "POST /sendMessage HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the connection is closed promptly");
    // Either a clean close or a reset, but never a byte of answer.
    if read.is_ok() {
        assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    }
}

#[tokio::test]
async fn latency_delays_every_api_call() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    let started = Instant::now();
    let (status, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let (status, _) = call(
        &sim,
        Method::GET,
        "/getUserByEmail?email=user%40example.com",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn hang_next_never_answers() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        hang_next: 1,
        ..Faults::default()
    });
    let body = text("beatchat-ops-001", "hi").to_string();
    let outcome = request(
        &sim,
        Method::POST,
        "/sendMessage",
        Some(TOKEN),
        Some(&body),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(outcome.unwrap_err(), "timed out");
    assert!(sim.messages().is_empty());

    // The hang was used up; the simulator still serves others meanwhile.
    let (status, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.send_attempts(), 2);
}

#[tokio::test]
async fn control_endpoints_drive_the_simulator() {
    let sim = simulator().await;

    let (status, health) = call(&sim, Method::GET, "/_sim/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["ok"], true);
    assert_eq!(health["result"]["users"], 1);

    // Faults: set, read back (defaults filled in), consumed by a call, reset.
    let (status, faults) = call(
        &sim,
        Method::PUT,
        "/_sim/faults",
        None,
        Some(r#"{"fail_next": 2}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(faults["fail_next"], 2);
    assert_eq!(faults["fail_status"], 500);
    assert_eq!(faults["retry_after"], 1);
    let (status, _) = send(&sim, text("beatchat-ops-001", "hi")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (_, faults) = call(&sim, Method::GET, "/_sim/faults", None, None).await;
    assert_eq!(faults["fail_next"], 1);
    let (status, _) = call(&sim, Method::DELETE, "/_sim/faults", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.faults(), Faults::default());
    let (status, answer) = call(&sim, Method::PUT, "/_sim/faults", None, Some("{oops")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["description"], "Bad Request: invalid JSON");

    // Users: a new person is found by email and is a valid chat.
    let user =
        r#"{"email": "new.person@example.com", "id": "fchat-user-2002", "name": "New Person"}"#;
    let (status, _) = call(&sim, Method::POST, "/_sim/users", None, Some(user)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, found) = call(
        &sim,
        Method::GET,
        "/getUserByEmail?email=New.Person%40example.com",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["result"]["id"], "fchat-user-2002");
    let (status, _) = send(&sim, text("fchat-user-2002", "welcome")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &sim,
        Method::POST,
        "/_sim/users",
        None,
        Some(r#"{"email": "x@y.z"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Messages: listed as ReceivedMessage JSON, then cleared.
    let (status, messages) = call(&sim, Method::GET, "/_sim/messages", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["chat_id"], "fchat-user-2002");
    assert_eq!(messages[0]["text"], "welcome");
    assert_eq!(messages[0]["message_id"], "m-1");
    let (status, _) = call(&sim, Method::DELETE, "/_sim/messages", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sim.messages().is_empty());
    let (_, messages) = call(&sim, Method::GET, "/_sim/messages", None, None).await;
    assert_eq!(messages, json!([]));

    // Unknown paths and methods, in the error format.
    let (status, answer) = call(&sim, Method::GET, "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );
    let (status, _) = call(&sim, Method::GET, "/_sim/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = call(&sim, Method::GET, "/sendMessage", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer["error_code"], 405);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let sim = simulator().await;
    let addr = sim.addr();
    drop(sim);
    assert_stopped(addr).await;
}

#[tokio::test]
async fn group_chats_exist_by_their_ids_whatever_they_look_like() {
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimulatorConfig {
            bot_token: TOKEN.into(),
            users: vec![],
            groups: vec!["bc-1".into(), "Phòng trực 7".into()],
        },
    )
    .await
    .unwrap();
    for chat in ["bc-1", "Phòng trực 7"] {
        let (status, answer) = send(&sim, text(chat, "hi")).await;
        assert_eq!(status, StatusCode::OK, "{chat}: {answer}");
    }
    // No prefix makes a chat exist: only the groups it was given or told about.
    for chat in ["beatchat-ops-001", "bc-2", "BC-1"] {
        let (status, answer) = send(&sim, text(chat, "hi")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{chat}");
        assert_eq!(answer["description"], "Bad Request: chat not found");
    }

    // A group chat created later, over HTTP as fchat-admin does, and through the handle.
    let (status, answer) = call(
        &sim,
        Method::POST,
        "/_sim/groups",
        None,
        Some(r#"{"id": "ops-room"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], json!({"id": "ops-room"}));
    sim.add_group("night shift").unwrap();
    for chat in ["ops-room", "night shift"] {
        let (status, _) = send(&sim, text(chat, "hi")).await;
        assert_eq!(status, StatusCode::OK, "{chat}");
    }
    let (status, listed) = call(&sim, Method::GET, "/_sim/groups", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["result"],
        json!(["Phòng trực 7", "bc-1", "night shift", "ops-room"])
    );

    // Bad requests add nothing.
    let long = format!(r#"{{"id": "{}"}}"#, "x".repeat(257));
    for body in [
        r#"{"id": ""}"#,
        r#"{"id": "  "}"#,
        r#"{"name": "x"}"#,
        "[",
        &long,
    ] {
        let (status, answer) = call(&sim, Method::POST, "/_sim/groups", None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["ok"], false);
    }
    assert!(sim.add_group("\n").is_err());
    let (status, _) = call(&sim, Method::DELETE, "/_sim/groups", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(sim.groups().len(), 4);
}

#[tokio::test]
async fn edits_keep_the_old_version_and_replies_name_their_message() {
    let sim = simulator().await;
    let group = "beatchat-ops-001";
    let (_, first) = send(&sim, text(group, "FIRING: disk full")).await;
    let id = first["result"]["message_id"].as_str().unwrap().to_owned();
    let edit = |body: Value| {
        let sim = &sim;
        async move {
            call(
                sim,
                Method::POST,
                "/editMessageText",
                Some(TOKEN),
                Some(&body.to_string()),
            )
            .await
        }
    };

    let (status, answer) =
        edit(json!({"chat_id": group, "message_id": id, "text": "RESOLVED: disk full"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"]["message_id"], id.as_str());
    // The same text again is "not modified", and an unknown message is not found.
    let (status, answer) =
        edit(json!({"chat_id": group, "message_id": id, "text": "RESOLVED: disk full"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["description"],
        "Bad Request: message is not modified"
    );
    let (status, answer) =
        edit(json!({"chat_id": group, "message_id": "m-999", "text": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["description"],
        "Bad Request: message to edit not found"
    );

    let (status, reply) = send(
        &sim,
        json!({"chat_id": group, "text": "Resolved", "reply_to_message_id": id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, answer) = send(
        &sim,
        json!({"chat_id": group, "text": "x", "reply_to_message_id": "m-999"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["description"],
        "Bad Request: message to reply not found"
    );

    let messages = sim.messages();
    assert_eq!(messages.len(), 2, "refused calls record nothing");
    assert_eq!(messages[0].text, "RESOLVED: disk full");
    assert_eq!(messages[0].edits.len(), 1);
    assert_eq!(messages[0].edits[0].text, "FIRING: disk full");
    assert!(messages[0].edited_at_ms.is_some());
    assert_eq!(
        messages[1].reply_to_message_id.as_deref(),
        Some(id.as_str())
    );

    sim.set_faults(Faults {
        refuse_edits: true,
        ..Default::default()
    });
    let (status, answer) = edit(json!({"chat_id": group, "message_id": id, "text": "again"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["description"],
        "Bad Request: message can't be edited"
    );
    assert_eq!(sim.messages()[0].text, "RESOLVED: disk full");
}
