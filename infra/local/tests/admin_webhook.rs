//! `fchat-admin app test-webhook`: a signed ping to an app's webhook, against the demo
//! receiver (`fchat-webhook-receiver`'s code) and against webhooks that fail at each step of
//! the checklist, over real sockets on loopback; the app is stored in moto.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fchat_local::admin::{Admin, Output};
use fchat_local::harness::LocalAws;
use fchat_simulator::receiver::{Receiver, ReceiverApp, ReceiverConfig};
use gateway::adapters::webhook::guard::HostLookup;
use serde_json::Value;

const NOW: u64 = 1_800_000_000;

/// A name per test and run.
fn app_name(what: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Names resolve as the test says: `*.resolves-private.test` to 10.0.0.7, anything else
/// nowhere (no query leaves the machine).
struct TestLookup;

impl HostLookup for TestLookup {
    fn lookup(
        &self,
        host: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
    {
        Box::pin(async move {
            if host.ends_with(".resolves-private.test") {
                Ok(vec![IpAddr::from([10, 0, 0, 7])])
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no such host {host}"),
                ))
            }
        })
    }
}

/// `fchat-admin` as under `make dev` (loopback webhooks allowed), with the test's resolver.
async fn admin() -> (LocalAws, Admin) {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let admin = Admin {
        local: true,
        lookup: Arc::new(TestLookup),
        ..aws.admin(|| NOW).await
    };
    (aws, admin)
}

async fn run(admin: &Admin, line: &str) -> anyhow::Result<Output> {
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    admin.run(&args).await
}

/// Creates an app posting to `url`; answers its webhook secret.
async fn app_with_webhook(admin: &Admin, name: &str, url: &str) -> String {
    let created = run(
        admin,
        &format!("app create --name {name} --webhook-url {url}"),
    )
    .await
    .unwrap();
    created.json["webhook_secret"].as_str().unwrap().to_owned()
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {report}"))
}

#[tokio::test]
async fn the_demo_receiver_gets_a_signed_ping_and_echoes_that_it_verified() {
    let (_aws, admin) = admin().await;
    let name = app_name("pinged");
    // The app is made first (its secret is new), then the receiver that knows the secret.
    let placeholder = "http://127.0.0.1:9/webhook";
    let secret = app_with_webhook(&admin, &name, placeholder).await;
    let receiver = Receiver::on_loopback(ReceiverConfig {
        apps: vec![ReceiverApp {
            name: name.clone(),
            secrets: vec![secret],
        }],
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    run(
        &admin,
        &format!("app set-webhook {name} {}", receiver.app_url(&name)),
    )
    .await
    .unwrap();

    let tested = run(&admin, &format!("app test-webhook {name}"))
        .await
        .unwrap();
    let report = &tested.json;
    assert!(tested.success, "{}", tested.text);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["failed_step"], Value::Null);
    assert_eq!(report["status"], 200);
    assert_eq!(report["answer"]["signature_verified"], true, "{report}");
    for passed in ["url", "connect", "timeout", "status", "signature"] {
        assert_eq!(step(report, passed)["result"], "ok", "{passed}: {report}");
    }
    // An IP address is not looked up; plain http has no TLS.
    for skipped in ["dns", "tls"] {
        assert_eq!(step(report, skipped)["result"], "skipped", "{report}");
    }
    assert!(report["elapsed_ms"].as_u64().unwrap() < 5_000);
    assert!(tested.text.contains("the webhook works"), "{}", tested.text);

    // The receiver got one ping, signed with the app's secret, naming the app.
    let events = receiver.events();
    assert_eq!(events.len(), 1);
    assert!(events[0].verified, "{:?}", events[0]);
    assert_eq!(events[0].body["event"], "ping");
    assert_eq!(events[0].body["app"], name.as_str());
    assert!(events[0]
        .header("webhook-signature")
        .unwrap()
        .starts_with("v1,"));
}

#[tokio::test]
async fn a_receiver_with_another_secret_fails_at_the_status_step() {
    let (_aws, admin) = admin().await;
    let name = app_name("wrong-secret");
    let receiver = Receiver::on_loopback(ReceiverConfig {
        apps: vec![ReceiverApp {
            name: name.clone(),
            secrets: vec!["whsec_b3RoZXItc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmch".into()],
        }],
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    app_with_webhook(&admin, &name, &receiver.app_url(&name)).await;
    let tested = run(&admin, &format!("app test-webhook {name}"))
        .await
        .unwrap();
    assert!(!tested.success);
    assert_eq!(tested.json["failed_step"], "status", "{}", tested.json);
    assert_eq!(tested.json["status"], 401);
    assert!(
        step(&tested.json, "status")["detail"]
            .as_str()
            .unwrap()
            .contains("webhook secret"),
        "{}",
        tested.json
    );
    assert_eq!(step(&tested.json, "signature")["result"], "skipped");
    assert!(!receiver.events()[0].verified);
}

#[tokio::test]
async fn each_failing_webhook_names_the_step_of_the_checklist_that_failed() {
    let (_aws, admin) = admin().await;
    // Nothing listens on a port just closed.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    // A server that speaks plain HTTP where TLS is expected.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let answering = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = plain.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    // A receiver that says it is gone.
    let gone = Receiver::on_loopback(ReceiverConfig::default())
        .await
        .unwrap();
    gone.set_answer(410, None);

    let cases = [
        (
            "dns",
            "https://hooks.nowhere.test/fchat".to_owned(),
            "does not resolve",
        ),
        (
            "dns",
            "https://hooks.resolves-private.test/fchat".to_owned(),
            "10.0.0.7",
        ),
        (
            "connect",
            format!("http://127.0.0.1:{closed_port}/hook"),
            "no server accepts",
        ),
        ("tls", format!("https://127.0.0.1:{plain_port}/hook"), "TLS"),
        (
            "timeout",
            format!("http://127.0.0.1:{silent_port}/hook"),
            "no answer within 1 s",
        ),
        ("status", gone.app_url("any"), "410"),
    ];
    for (failed, url, detail) in cases {
        let name = app_name(failed);
        app_with_webhook(&admin, &name, &url).await;
        let started = std::time::Instant::now();
        let tested = run(&admin, &format!("app test-webhook {name} --timeout 1"))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "{url}");
        assert!(!tested.success, "{url}");
        assert_eq!(tested.json["failed_step"], failed, "{url}: {}", tested.json);
        let said = step(&tested.json, failed)["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(said.contains(detail), "{url}: {said}");
        assert!(
            tested
                .text
                .contains(&format!("the webhook failed at {failed}")),
            "{}",
            tested.text
        );
    }
    // An app without a webhook is an error, not a report.
    let name = app_name("no-hook");
    run(&admin, &format!("app create --name {name}"))
        .await
        .unwrap();
    let error = run(&admin, &format!("app test-webhook {name}"))
        .await
        .err()
        .expect("refused");
    assert!(format!("{error:#}").contains("no webhook URL"), "{error:#}");
    held.abort();
    answering.abort();
}
