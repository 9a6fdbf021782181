//! The send API's request log, in a test binary of its own: tracing caches which call sites
//! are enabled process-wide, so a log captured while other tests run in parallel can be lost.

use std::sync::{Arc, Mutex};

use gateway::credentials::sha256_hex;
use gateway::domain::App;
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::memory::{FixedClock, MemoryQueue, MemoryStore};
use gateway::ports::AppStore;
use serde_json::{json, Value};
use tracing::instrument::WithSubscriber;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_is_logged_once_as_json_without_the_token_and_with_the_email_masked() {
    // GIVEN an app allowed to message users
    let store = Arc::new(MemoryStore::default());
    store
        .put_app(&App {
            name: "alerts".into(),
            token_hash: sha256_hex(b"tok-alerts"),
            group_id: None,
            user_messaging: true,
            webhook_url: None,
            webhook_secrets: vec![],
            context_ttl_seconds: 300,
            delivery_window_seconds: 86_400,
            active: true,
            previous_token: None,
            older_secrets_until: None,
            alert_templates: Default::default(),
            alerting: Default::default(),
            sns: Default::default(),
            hooks: Default::default(),
        })
        .await
        .unwrap();
    let ingest = Ingest {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        fchat: {
            let fchat = gateway::memory::MemoryFChat::default();
            fchat.add_user("secret.person@example.com", "fchat-1");
            Arc::new(fchat)
        },
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::at(1_800_000_000)),
        sns: Arc::new(gateway::adapters::sns::SnsClient::new(false)),
    };
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();

    // WHEN it sends a message
    let request = HttpRequest {
        query: String::new(),
        method: "POST".into(),
        path: "/tok-alerts/fchat".into(),
        headers: vec![],
        body: json!({"email": "secret.person@example.com", "text": "x"})
            .to_string()
            .into_bytes(),
    };
    let response = async { ingest.handle(&request).await }
        .with_subscriber(subscriber)
        .await;
    assert_eq!(response.status, 200);
    let body: Value = serde_json::from_str(&response.body).unwrap();

    // THEN one JSON line tells what happened, with no secret in it
    let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{logged}");
    let fields = &lines[0]["fields"];
    assert_eq!(fields["route"], "user_message");
    assert_eq!(fields["app"], "alerts");
    assert_eq!(fields["outcome"], "queued");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["context_id"], body["context"]["id"]);
    assert_eq!(fields["email"], "s***@example.com");
    assert!(fields["latency_ms"].is_number());
    assert!(
        !logged.contains("tok-alerts"),
        "the token was logged: {logged}"
    );
    assert!(
        !logged.contains("secret.person"),
        "the email was logged: {logged}"
    );
}
