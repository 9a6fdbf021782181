//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, installed by
//! `make alertmanager`, which `make test` runs) posts to the gateway as the README configures
//! it: its `webhook_config` points at the local API gateway's `/{app}/alertmanager`, with the
//! app's token in `http_config.authorization`. An alert posted to Alertmanager's API v2 reaches
//! the FChat simulator as one readable message in the app's group, through the real `ingest`
//! and `delivery` binaries.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fchat_local::harness::{sibling_binary, Stack};
use fchat_local::seed::Seed;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the whole exchange may take once Alertmanager is up.
const DELIVERY_LIMIT: Duration = Duration::from_secs(60);

/// `ALERTMANAGER`, else Debian's `prometheus-alertmanager`, else `alertmanager`, on the PATH.
fn alertmanager_binary() -> String {
    if let Ok(binary) = std::env::var("ALERTMANAGER") {
        return binary;
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
            .unwrap_or(false)
    };
    if on_path("prometheus-alertmanager") {
        "prometheus-alertmanager".into()
    } else {
        "alertmanager".into()
    }
}

/// A port the OS has just handed out on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the status and the body.
async fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Alertmanager, stopped when dropped.
struct Alertmanager {
    child: tokio::process::Child,
    port: u16,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Alertmanager {
    async fn start(config: &str, tag: &str) -> Alertmanager {
        let dir = std::env::temp_dir().join(format!("alertmanager-{tag}"));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config_file = dir.join("alertmanager.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = free_port();
        let child = tokio::process::Command::new(alertmanager_binary())
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No high-availability cluster: nothing listens beyond the one loopback port.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("alertmanager.log")).unwrap(),
            ))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): run `make alertmanager` first",
                    alertmanager_binary()
                )
            });
        let mut alertmanager = Alertmanager {
            child,
            port,
            _dir: TempDir(dir),
        };
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = http(port, "GET", "/-/ready", "").await {
                return alertmanager;
            }
            if let Ok(Some(status)) = alertmanager.child.try_wait() {
                panic!("alertmanager exited ({status}): {}", alertmanager.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "alertmanager is not ready: {}",
                alertmanager.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("alertmanager.log")).unwrap_or_default()
    }
}

#[tokio::test]
async fn a_real_alertmanager_posts_an_alert_into_the_apps_group() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let app = format!("sre-{nanos:x}");
    let token = format!("am{nanos}t{}", std::process::id());
    let chat = format!("bc-sre-{nanos:x}");
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": format!("oncall-{nanos}"), "beatchat_id": chat}],
        "apps": [{"name": app, "token": token, "group": format!("oncall-{nanos}")}]
    }))
    .unwrap();
    let ingest = Path::new(env!("CARGO_BIN_EXE_ingest"));
    let delivery = sibling_binary(ingest, "delivery");
    let stack = Stack::start(&[("ingest", ingest), ("delivery", &delivery)], &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let poller = tokio::spawn(stack.delivery_poller().await.run());

    // The README's alertmanager.yml, with short waits.
    let config = format!(
        r#"route:
  receiver: fchat
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fchat
    webhook_configs:
      - url: {api}/webhooks/{app}/alertmanager
        send_resolved: true
        max_alerts: 50
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#,
        api = stack.api
    );
    let alertmanager = Alertmanager::start(&config, &token).await;

    let alertname = format!("PaymentsDown{nanos:x}");
    let alerts = json!([{
        "labels": {"alertname": alertname, "severity": "critical", "service": "payments", "instance": "pay-1:8080"},
        "annotations": {"summary": "payments API answers 503", "description": "Every request failed for 2 minutes."},
        "generatorURL": "http://prometheus.test:9090/graph?g0.expr=up%3D%3D0"
    }]);
    let (status, body) = http(
        alertmanager.port,
        "POST",
        "/api/v2/alerts",
        &alerts.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");

    let started = Instant::now();
    let message = loop {
        if let Some(message) = stack
            .fchat
            .messages()
            .into_iter()
            .find(|m| m.chat_id == chat)
        {
            break message;
        }
        assert!(
            started.elapsed() < DELIVERY_LIMIT,
            "no message in FChat; alertmanager says: {}",
            alertmanager.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let expected_head = format!(
        "[FIRING:1] {alertname} (critical)\ninstance=pay-1:8080, service=payments\n\nFIRING: payments API answers 503\nEvery request failed for 2 minutes.\nSource: http://prometheus.test:9090/graph?g0.expr=up%3D%3D0\n\nSilence: http://"
    );
    assert!(message.text.starts_with(&expected_head), "{}", message.text);
    assert!(
        message.text.contains("/#/silences/new?filter="),
        "{}",
        message.text
    );
    // One notification, one message.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stack
            .fchat
            .messages()
            .iter()
            .filter(|m| m.chat_id == chat)
            .count(),
        1
    );
    poller.abort();
}

/// Waits for `found` to find something in the simulator's record, or fails with `what`.
async fn wait_for<T>(
    stack: &Stack,
    alertmanager: &Alertmanager,
    what: &str,
    found: impl Fn(&[fchat_simulator::ReceivedMessage]) -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = found(&stack.fchat.messages()) {
            return value;
        }
        assert!(
            started.elapsed() < DELIVERY_LIMIT,
            "{what}: not seen. FChat has {:#?}; alertmanager says: {}",
            stack.fchat.messages(),
            alertmanager.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_real_alertmanager_drives_a_groups_message_through_repeat_silence_and_resolution() {
    use gateway::ports::AppStore;

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let app = format!("noc-{nanos:x}");
    let token = format!("lc{nanos}x{}", std::process::id());
    let chat = format!("room-{nanos:x}");
    let email = format!("oncall.{nanos:x}@example.org");
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": format!("g-{nanos}"), "beatchat_id": chat}],
        "apps": [{"name": app, "token": token, "group": format!("g-{nanos}")}],
        "users": [{"email": email, "fchat_id": format!("u-{nanos:x}"), "name": "On Call"}]
    }))
    .unwrap();
    let ingest = Path::new(env!("CARGO_BIN_EXE_ingest"));
    let delivery = sibling_binary(ingest, "delivery");
    let callback = sibling_binary(ingest, "callback");
    let stack = Stack::start(
        &[
            ("ingest", ingest),
            ("delivery", &delivery),
            ("callback", &callback),
        ],
        &seed,
    )
    .await
    .expect("the local stack starts (run `make venv` first)");
    stack.route_callbacks_here();
    let poller = tokio::spawn(stack.delivery_poller().await.run());

    // Repeats every 2 s, so that the test sees several.
    let config = format!(
        r#"route:
  receiver: fchat
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: fchat
    webhook_configs:
      - url: {api}/{app}/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#,
        api = stack.api
    );
    let alertmanager = Alertmanager::start(&config, &format!("lc-{token}")).await;
    // fchat-admin app set-alertmanager, as the operator runs it.
    let store = stack.aws.store();
    let mut stored = store.app_by_name(&app).await.unwrap().unwrap();
    stored.alerting.alertmanager = Some(gateway::domain::AlertmanagerLink {
        url: format!("http://127.0.0.1:{}", alertmanager.port),
        auth: None,
    });
    store.put_app(&stored).await.unwrap();

    let disk = format!("DiskFull{nanos:x}");
    let queue = format!("QueueStuck{nanos:x}");
    let alert = |name: &str, ends_at: Option<&str>| {
        let mut alert = json!({
            "labels": {"alertname": name, "severity": "warning", "instance": "db-1"},
            "annotations": {"summary": format!("{name} on db-1")},
        });
        if let Some(ends_at) = ends_at {
            alert["endsAt"] = json!(ends_at);
        }
        alert
    };
    let post = |alerts: serde_json::Value| {
        let port = alertmanager.port;
        async move {
            let (status, body) = http(port, "POST", "/api/v2/alerts", &alerts.to_string())
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
        }
    };
    post(json!([alert(&disk, None), alert(&queue, None)])).await;

    let in_chat = |name: &str| {
        let name = name.to_owned();
        let chat = chat.clone();
        move |messages: &[fchat_simulator::ReceivedMessage]| {
            messages
                .iter()
                .find(|m| {
                    m.chat_id == chat && m.text.contains(&name) && m.reply_to_message_id.is_none()
                })
                .cloned()
        }
    };
    let disk_message = wait_for(
        &stack,
        &alertmanager,
        "the disk group's message",
        in_chat(&disk),
    )
    .await;
    let queue_message = wait_for(
        &stack,
        &alertmanager,
        "the queue group's message",
        in_chat(&queue),
    )
    .await;
    assert!(
        disk_message.text.contains("FIRING"),
        "{}",
        disk_message.text
    );
    let buttons = disk_message.reply_markup.as_ref().unwrap().to_string();
    assert!(
        buttons.contains("Silence 1h") && buttons.contains("Silence 24h"),
        "{buttons}"
    );

    // Several repeat intervals pass: Alertmanager re-sends, and nothing new is posted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ours = |messages: Vec<fchat_simulator::ReceivedMessage>| {
        messages
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .collect::<Vec<_>>()
    };
    let now = ours(stack.fchat.messages());
    assert_eq!(now.len(), 2, "{now:#?}");
    assert!(now.iter().all(|m| m.edits.is_empty()), "{now:#?}");

    // "Silence 1h" on the queue group: a real silence, and the message says so.
    let (status, answer) = stack
        .fchat
        .act_click(&queue_message.message_id, "Silence 1h".into(), Some(&email))
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    let started = Instant::now();
    let silence = loop {
        let (status, body) = http(alertmanager.port, "GET", "/api/v2/silences", "")
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let silences: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if let Some(silence) = silences
            .into_iter()
            .find(|s| s["createdBy"] == email.as_str())
        {
            break silence;
        }
        assert!(
            started.elapsed() < DELIVERY_LIMIT,
            "no silence in Alertmanager"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(
        silence["matchers"],
        json!([{"name": "alertname", "value": queue, "isRegex": false, "isEqual": true}])
    );
    let silenced = wait_for(&stack, &alertmanager, "the silenced message", |messages| {
        messages
            .iter()
            .find(|m| m.message_id == queue_message.message_id && m.text.contains("Silenced by"))
            .cloned()
    })
    .await;
    assert!(
        silenced
            .text
            .contains(&format!("Silenced by {email} for 1h")),
        "{}",
        silenced.text
    );
    assert!(!silenced
        .reply_markup
        .map(|m| m.to_string())
        .unwrap_or_default()
        .contains("Silence 1h"));

    // The disk alert resolves: its message is edited to resolved, and a reply tells the chat.
    post(json!([alert(&disk, Some("2000-01-01T00:00:00Z"))])).await;
    let reply = wait_for(
        &stack,
        &alertmanager,
        "the resolution's reply",
        |messages| {
            messages
                .iter()
                .find(|m| {
                    m.reply_to_message_id.as_deref() == Some(disk_message.message_id.as_str())
                })
                .cloned()
        },
    )
    .await;
    assert!(
        reply.text.contains(&format!("Resolved: {disk}")),
        "{}",
        reply.text
    );
    let resolved = stack
        .fchat
        .messages()
        .into_iter()
        .find(|m| m.message_id == disk_message.message_id)
        .unwrap();
    assert!(resolved.text.contains("RESOLVED"), "{}", resolved.text);
    assert!(!resolved.edits.is_empty());
    // Two groups, two messages and one reply: nothing else was posted.
    assert_eq!(ours(stack.fchat.messages()).len(), 3);
    poller.abort();
}
