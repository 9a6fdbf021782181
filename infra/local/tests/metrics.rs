//! The real function binaries' metrics under the local stack: every EMF line they write is a
//! document of its own that passes the EMF specification's check, carries the function and
//! the template's namespace, never the app as a dimension; and the console shows them as
//! series (`GET /_console/api/metrics`), read from `fchat-local functions`' output.

use std::path::Path;
use std::time::{Duration, Instant};

use fchat_local::console::{Console, ConsoleConfig};
use fchat_local::harness::{sibling_binary, Stack};
use fchat_local::seed::{Seed, SeedApp, SeedGroup, SeedUser};
use gateway::metrics::spec;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on the console, as the page asks it.
async fn console_get(console: &Console, path: &str) -> Value {
    let url = console.url();
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut socket = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn the_functions_emf_lines_pass_the_specification_and_show_in_the_console() {
    let run = std::process::id();
    let (app, token, email) = (
        format!("meter-{run}"),
        format!("tok-meter-{run}"),
        format!("m{run}@example.com"),
    );
    let seed = Seed {
        groups: vec![SeedGroup {
            id: format!("grp-{run}"),
            beatchat_id: Some(format!("room-{run}")),
            active: true,
            name: None,
        }],
        apps: vec![SeedApp {
            name: app.clone(),
            token: token.clone(),
            group: Some(format!("grp-{run}")),
            user_messaging: true,
            webhook_url: None,
            webhook_secret: None,
            context_ttl_seconds: None,
            delivery_window_seconds: None,
        }],
        users: vec![SeedUser {
            email: email.clone(),
            fchat_id: format!("fchat-{run}"),
            name: None,
        }],
    };
    let built = Path::new(env!("CARGO_BIN_EXE_fchat-local"));
    let (aws, fchat) = Stack::start_services(&seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let stack = Stack::start_functions(
        aws,
        fchat,
        &[
            ("ingest", &sibling_binary(built, "ingest")),
            ("delivery", &sibling_binary(built, "delivery")),
        ],
        Default::default(),
    )
    .await
    .unwrap();
    let poller = tokio::spawn(stack.delivery_poller().await.run());

    let sent = stack
        .post(
            &format!("/webhooks/{app}/{token}"),
            &json!({"text": "metered"}),
        )
        .await
        .unwrap();
    assert_eq!(sent.0, 200, "{sent:?}");
    let sent = stack
        .post(
            &format!("/{token}/fchat"),
            &json!({"email": email, "text": "hi"}),
        )
        .await
        .unwrap();
    assert_eq!(sent.0, 200, "{sent:?}");
    let refused = stack
        .post(
            &format!("/webhooks/{app}/wrong-token"),
            &json!({"text": "no"}),
        )
        .await
        .unwrap();
    assert_eq!(refused.0, 404);

    // Both messages delivered: the delivery function reported them.
    let started = Instant::now();
    let delivered = |lines: &[(String, String)]| {
        lines
            .iter()
            .filter(|(_, line)| line.contains("\"MessagesDelivered\""))
            .count()
    };
    while delivered(&stack.host.metric_lines()) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            stack.host.metric_lines()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = stack.host.metric_lines();
    let mut names = std::collections::BTreeSet::new();
    for (function, line) in &lines {
        let document = spec::check_line(line).unwrap_or_else(|why| panic!("{why}: {line}"));
        assert_eq!(document["Function"], function.as_str(), "{line}");
        for directive in document["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(
                directive["Namespace"], "FChatGateway",
                "the template's default"
            );
            for metric in directive["Metrics"].as_array().unwrap() {
                names.insert(metric["Name"].as_str().unwrap().to_owned());
            }
        }
        assert!(!document["_aws"].to_string().contains(&app), "{line}");
    }
    for expected in [
        "MessagesAccepted",
        "MessagesRefused",
        "MessagesDelivered",
        "DeliveryLatency",
        "DeliveryAttempts",
    ] {
        assert!(names.contains(expected), "{expected}: {names:?}");
    }
    // The app is a field of the request's document.
    assert!(lines
        .iter()
        .any(|(_, line)| line.contains("\"MessagesAccepted\"")
            && line.contains(&format!("\"app\":\"{app}\""))));

    // The console reads them from the functions' Invoke API and charts them.
    let console = Console::start(
        ([127, 0, 0, 1], 0).into(),
        ConsoleConfig {
            api: stack.api.clone(),
            simulator: stack.fchat.url(),
            receiver: None,
            functions: Some(stack.invoker.base().to_owned()),
            apps: vec![],
        },
    )
    .await
    .unwrap();
    let view = console_get(&console, "/_console/api/metrics").await;
    assert_eq!(view["refused"], 0, "{view}");
    let series = view["series"].as_array().unwrap();
    let find = |metric: &str, dimensions: &str| {
        series
            .iter()
            .find(|s| s["metric"] == metric && s["dimensions"] == dimensions)
            .unwrap_or_else(|| panic!("{metric} {dimensions}: {view}"))
            .clone()
    };
    assert_eq!(
        find(
            "MessagesAccepted",
            "Function=ingest, Route=group_message, Outcome=queued"
        )["sum"],
        1.0
    );
    assert_eq!(
        find(
            "MessagesRefused",
            "Function=ingest, Route=group_message, Reason=GroupRouteNotAuthenticated"
        )["sum"],
        1.0
    );
    let latency = find("DeliveryLatency", "Function=delivery");
    assert_eq!(latency["samples"], 2);
    assert!(latency["p99"].as_f64().unwrap() >= latency["p50"].as_f64().unwrap());
    poller.abort();
}
