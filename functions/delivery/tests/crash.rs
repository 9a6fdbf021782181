//! Delivery processes killed mid-batch (SIGKILL, as the out-of-memory killer would) on the
//! local stack: the real `delivery` binary under the Lambda Runtime API emulator, fed by the
//! queue poller with more than one batch in flight, on moto, against the FChat simulator
//! answering slowly so that the batches are in flight when the kill comes. As on Lambda, the
//! invocations fail at once, the next ones get new processes, the killed batches reappear
//! after the queue's visibility timeout, and every message reaches FChat exactly once.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fchat_local::harness::{FunctionOptions, Stack};
use fchat_local::seed::Seed;
use fchat_simulator::Faults;
use gateway::domain::DeliveryStatus;
use gateway::http::HttpRequest;
use gateway::ports::ContextStore;
use serde_json::json;

/// The delivery function's timeout here, and so its lease on a context.
const TIMEOUT_SECONDS: u64 = 4;
/// The delivery queue's visibility timeout here (the template's is 180 s).
const VISIBILITY_SECONDS: u64 = 4;

fn tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}",
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
    )
}

/// The users the messages go to.
const USERS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_process_killed_mid_batch_is_replaced_and_every_message_arrives_once() {
    let tag = tag();
    let (app, token, email) = (
        format!("billing-{tag}"),
        format!("tok-{tag}-x"),
        format!("oncall.{tag}@example.org"),
    );
    let seed: Seed = serde_json::from_value(json!({
        // The simulator takes every `beatchat-` chat id for a group chat.
        "groups": [{"id": format!("finance-{tag}"), "beatchat_id": format!("beatchat-room-{tag}")}],
        "apps": [{"name": app, "token": token, "group": format!("finance-{tag}"),
                  "user_messaging": true}],
        // A chat is one message group of the FIFO queue, in flight in one batch at a time:
        // the messages go to many chats, so that several batches can be in flight at once.
        "users": (0..USERS)
            .map(|u| json!({"email": format!("{u}.{email}"), "fchat_id": format!("fchat-{tag}-{u}")}))
            .collect::<Vec<_>>(),
    }))
    .unwrap();
    let (aws, fchat) = Stack::start_services(&seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let stack = Stack::start_functions_with(
        aws,
        fchat,
        &[("delivery", Path::new(env!("CARGO_BIN_EXE_delivery")))],
        HashMap::from([(
            "DELIVERY_TIMEOUT_SECONDS".to_owned(),
            TIMEOUT_SECONDS.to_string(),
        )]),
        FunctionOptions {
            timeout: Duration::from_secs(TIMEOUT_SECONDS),
            max_instances: 3,
        },
    )
    .await
    .unwrap();
    let queue_url = stack.aws.config.delivery_queue_url.clone();
    stack
        .aws
        .set_visibility_timeout(&queue_url, VISIBILITY_SECONDS)
        .await
        .unwrap();
    let ingest = stack.aws.ingest().await.unwrap();
    let store = stack.aws.store();

    // 24 messages, to the group and to the users: more than two batches of 10.
    let mut ids = Vec::new();
    for i in 0..24 {
        let (path, body) = if i % 4 != 0 {
            (
                format!("/{token}/fchat"),
                json!({"email": format!("{}.{email}", i % USERS), "text": format!("Invoice {i} needs approval")}),
            )
        } else {
            (
                format!("/{app}/{token}"),
                json!({"text": format!("Payment run {i} finished")}),
            )
        };
        let response = ingest
            .handle(&HttpRequest {
                query: String::new(),
                method: "POST".into(),
                path,
                headers: vec![],
                body: body.to_string().into_bytes(),
            })
            .await;
        assert_eq!(response.status, 200, "{}", response.body);
        let answer: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        ids.push(answer["context"]["id"].as_str().unwrap().to_owned());
    }

    // FChat answers after 800 ms, so that the batches are in flight when the kill comes.
    stack.fchat.set_faults(Faults {
        latency_ms: 800,
        ..Faults::default()
    });
    let poller = stack.delivery_poller().await;
    assert_eq!(poller.concurrency, 3);
    let polling = tokio::spawn(poller.run());

    // Wait until at least two batches are in flight and FChat has been called.
    let started = Instant::now();
    while stack.host.pids("delivery").unwrap().len() < 2 || stack.fchat.send_attempts() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "two batches were never in flight at once"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every delivery process dies at once, each with its batch.
    let victims = stack.host.pids("delivery").unwrap();
    let started_before = stack.host.instances_started("delivery").unwrap();
    for victim in &victims {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert!(
        stack.fchat.messages().len() < ids.len(),
        "the kill came after everything was delivered"
    );

    // Everything ends delivered, within a few visibility timeouts.
    let limit = Duration::from_secs(45);
    let killed = Instant::now();
    loop {
        let mut pending = 0;
        for id in &ids {
            let context = store.context_record(id).await.unwrap().unwrap();
            assert!(
                !matches!(
                    context.status,
                    DeliveryStatus::Failed | DeliveryStatus::Expired
                ),
                "{id}: {:?} ({:?})",
                context.status,
                context.last_error
            );
            pending += usize::from(context.status != DeliveryStatus::Sent);
        }
        if pending == 0 {
            break;
        }
        assert!(
            killed.elapsed() < limit,
            "{pending} messages not delivered {limit:?} after the kill"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Exactly once each at FChat.
    let shown = stack.fchat.messages();
    let shown_ids: Vec<&str> = shown
        .iter()
        .filter_map(|m| m.client_message_id.as_deref())
        .collect();
    assert_eq!(shown.len(), ids.len());
    assert_eq!(
        shown_ids.iter().copied().collect::<HashSet<_>>(),
        ids.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    for message in &shown {
        let id = message.client_message_id.as_deref().unwrap();
        let context = store.context_record(id).await.unwrap().unwrap();
        assert_eq!(
            context.fchat_message_id.as_deref(),
            Some(message.message_id.as_str())
        );
    }

    // The killed processes are gone and new ones took over; the queue is empty.
    for victim in &victims {
        assert!(!Path::new(&format!("/proc/{victim}")).exists());
        assert!(!stack.host.pids("delivery").unwrap().contains(victim));
    }
    assert!(stack.host.instances_started("delivery").unwrap() > started_before);
    polling.abort();
    stack.fchat.set_faults(Faults::default());
    assert_eq!(
        stack.aws.peek(&queue_url).await.unwrap(),
        Vec::<String>::new()
    );
    let dlq = &stack.aws.provisioned.queue_urls["DeliveryDeadLetterQueue"];
    assert_eq!(stack.aws.peek(dlq).await.unwrap(), Vec::<String>::new());
}
