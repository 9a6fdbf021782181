//! The FChat adapter against the FChat simulator over real sockets: how each kind of answer
//! and each fault is classified.

use std::time::{Duration, Instant};

use fchat_simulator::{Faults, SimUser, Simulator, SimulatorConfig};
use gateway::fchat::FChatClient;
use gateway::message::{Button, MessageContent};
use gateway::ports::{FChat, FChatError, MessageEdit, OutgoingMessage};
use serde_json::json;

const TOKEN: &str = "bot-token";

async fn simulator() -> Simulator {
    let users = vec![SimUser {
        email: "user@example.com".into(),
        id: "fchat-1".into(),
        name: Some("User".into()),
    }];
    Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimulatorConfig {
            bot_token: TOKEN.into(),
            users,
            groups: vec!["beatchat-ops-001".into()],
        },
    )
    .await
    .unwrap()
}

fn client(sim: &Simulator, token: &str, timeout: Duration) -> FChatClient {
    FChatClient::new(&sim.url(), token, timeout).unwrap()
}

fn message(client_message_id: &str) -> OutgoingMessage {
    OutgoingMessage {
        chat_id: "beatchat-ops-001".into(),
        content: MessageContent {
            text: "Approve?".into(),
            keyboard: vec![vec![Button {
                text: "Yes".into(),
                callback_data: json!({"a": 1}),
            }]],
        },
        client_message_id: client_message_id.into(),
        reply_to_message_id: None,
    }
}

fn is_transient(result: &Result<String, FChatError>) -> bool {
    matches!(result, Err(FChatError::Transient { .. }))
}

#[tokio::test]
async fn a_message_is_sent_once_per_client_message_id() {
    let sim = simulator().await;
    let fchat = client(&sim, TOKEN, Duration::from_secs(5));
    let first = fchat.send_message(&message("c1")).await.unwrap();
    assert_eq!(fchat.send_message(&message("c1")).await.unwrap(), first);
    let shown = sim.messages();
    assert_eq!(shown.len(), 1);
    assert_eq!(
        shown[0].reply_markup,
        Some(json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "{\"a\":1}"}]]}))
    );
}

#[tokio::test]
async fn edits_replace_a_message_and_replies_name_theirs() {
    let sim = simulator().await;
    let fchat = client(&sim, TOKEN, Duration::from_secs(5));
    let id = fchat.send_message(&message("ctx-edit")).await.unwrap();
    let edit = |text: &str, message_id: &str| MessageEdit {
        chat_id: "beatchat-ops-001".into(),
        message_id: message_id.into(),
        content: MessageContent {
            text: text.into(),
            keyboard: Vec::new(),
        },
    };
    fchat.edit_message(&edit("Approved", &id)).await.unwrap();
    // The same edit again is done, not an error.
    fchat.edit_message(&edit("Approved", &id)).await.unwrap();
    let shown = &sim.messages()[0];
    assert_eq!(shown.text, "Approved");
    assert_eq!(shown.reply_markup, Some(json!({"inline_keyboard": []})));
    assert_eq!(shown.edits.len(), 1);

    let reply = OutgoingMessage {
        reply_to_message_id: Some(id.clone()),
        ..message("ctx-reply")
    };
    fchat.send_message(&reply).await.unwrap();
    assert_eq!(
        sim.messages()[1].reply_to_message_id.as_deref(),
        Some(id.as_str())
    );

    // A message FChat cannot edit, or does not have, asks for a new one.
    assert!(matches!(
        fchat.edit_message(&edit("x", "m-404")).await,
        Err(FChatError::CannotEdit { .. })
    ));
    sim.set_faults(Faults {
        refuse_edits: true,
        ..Default::default()
    });
    assert!(matches!(
        fchat.edit_message(&edit("Later", &id)).await,
        Err(FChatError::CannotEdit { .. })
    ));
    assert_eq!(sim.messages()[0].text, "Approved");
}

#[tokio::test]
async fn users_are_found_by_email_or_not_at_all() {
    let sim = simulator().await;
    let fchat = client(&sim, TOKEN, Duration::from_secs(5));
    let user = fchat.find_user("user@example.com").await.unwrap().unwrap();
    assert_eq!(
        (user.id.as_str(), user.name.as_deref()),
        ("fchat-1", Some("User"))
    );
    assert_eq!(fchat.find_user("ghost@example.com").await.unwrap(), None);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient_with_retry_after() {
    let sim = simulator().await;
    let fchat = client(&sim, TOKEN, Duration::from_secs(5));
    sim.set_faults(Faults {
        rate_limit_next: 1,
        retry_after: 7,
        ..Faults::default()
    });
    match fchat.send_message(&message("c1")).await {
        Err(FChatError::Transient {
            retry_after,
            reason,
        }) => {
            assert_eq!(retry_after, Some(7));
            assert!(reason.starts_with("429"), "{reason}");
        }
        other => panic!("not transient: {other:?}"),
    }
    sim.set_faults(Faults {
        fail_next: 1,
        fail_status: 502,
        ..Faults::default()
    });
    assert!(is_transient(&fchat.send_message(&message("c1")).await));
    assert!(fchat.send_message(&message("c1")).await.is_ok());
}

#[tokio::test]
async fn client_errors_and_a_wrong_token_are_permanent() {
    let sim = simulator().await;
    sim.set_faults(Faults {
        fail_next: 1,
        fail_status: 400,
        ..Faults::default()
    });
    let fchat = client(&sim, TOKEN, Duration::from_secs(5));
    assert!(matches!(
        fchat.send_message(&message("c1")).await,
        Err(FChatError::Permanent { .. })
    ));
    let wrong = client(&sim, "not-the-token", Duration::from_secs(5));
    match wrong.send_message(&message("c2")).await {
        Err(FChatError::Permanent { reason }) => assert!(reason.starts_with("401"), "{reason}"),
        other => panic!("not permanent: {other:?}"),
    }
    assert!(sim.messages().is_empty());
}

#[tokio::test]
async fn a_dropped_connection_and_a_hang_are_transient_and_bounded_by_the_timeout() {
    let sim = simulator().await;
    let fchat = client(&sim, TOKEN, Duration::from_millis(500));
    sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    assert!(is_transient(&fchat.send_message(&message("c1")).await));

    sim.set_faults(Faults {
        hang_next: 1,
        ..Faults::default()
    });
    let started = Instant::now();
    match fchat.send_message(&message("c1")).await {
        Err(FChatError::Transient { reason, .. }) => {
            assert!(reason.starts_with("timed out"), "{reason}")
        }
        other => panic!("not a timeout: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(fchat.send_message(&message("c1")).await.is_ok());
    assert_eq!(sim.messages().len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_a_transient_connection_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fchat = FChatClient::new(
        &format!("http://127.0.0.1:{port}"),
        TOKEN,
        Duration::from_secs(2),
    )
    .unwrap();
    match fchat.send_message(&message("c1")).await {
        Err(FChatError::Transient { reason, .. }) => {
            assert!(reason.starts_with("could not connect"), "{reason}")
        }
        other => panic!("not a connection error: {other:?}"),
    }
}

/// A stand-in for FChat on loopback that answers every request with `status` and `body`.
async fn answering(status: u16, body: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer).await;
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        }
    });
    url
}

#[tokio::test]
async fn fchats_words_are_bounded_and_escaped_before_they_reach_logs_or_a_status() {
    // A description that would forge log lines and fill a context's last_error.
    let description = format!("bad chat\n{{\"level\":\"INFO\"}}\r\n{}", "z".repeat(5_000));
    let body = json!({"ok": false, "error_code": 400, "description": description}).to_string();
    let fchat =
        FChatClient::new(&answering(400, body).await, TOKEN, Duration::from_secs(5)).unwrap();
    match fchat.send_message(&message("c1")).await {
        Err(FChatError::Permanent { reason }) => {
            assert!(reason.starts_with("400 bad chat\\u{a}"), "{reason}");
            assert!(!reason.contains(['\n', '\r']), "{reason}");
            assert!(reason.len() < 300, "{} bytes", reason.len());
        }
        other => panic!("not permanent: {other:?}"),
    }

    // An answer far larger than any of FChat's is not read whole, and is no answer.
    let huge = format!(
        "{{\"ok\": true, \"result\": {{\"message_id\": \"{}\"}}}}",
        "m".repeat(1 << 20)
    );
    let fchat =
        FChatClient::new(&answering(200, huge).await, TOKEN, Duration::from_secs(5)).unwrap();
    assert!(is_transient(&fchat.send_message(&message("c1")).await));
}
