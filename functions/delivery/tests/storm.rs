//! A burst to one group within FChat's limits, end to end: the simulator enforces FChat's
//! limits (docs/fchat-api.md#limits), the real `delivery` binary paces each chat
//! (`FCHAT_PACING=on`) off a FIFO queue with one message group per chat. The burst reaches its
//! group in the order it was accepted, provoking (almost) no 429, and messages to other chats
//! are not held behind it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use fchat_simulator::Limits;
use gateway::http::HttpRequest;
use serde_json::{json, Value};

/// Names nobody wrote: each run's app, token, group, chat and users differ.
struct Names {
    app: String,
    token: String,
    group: String,
    chat: String,
    users: Vec<(String, String)>,
}

fn names() -> Names {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let pid = std::process::id();
    Names {
        app: format!("pager.{nanos:x}"),
        token: format!("tok{pid}_{nanos}"),
        group: format!("sre {pid}"),
        chat: format!("bc/{nanos:x}-{pid}"),
        users: (0..3)
            .map(|i| {
                (
                    format!("on-call.{i}.{nanos:x}@example.net"),
                    format!("fc-{pid}-{i}"),
                )
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_burst_to_one_group_arrives_in_order_within_fchats_limits_and_other_chats_go_on() {
    let n = names();
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": n.group, "beatchat_id": n.chat, "active": true}],
        "apps": [{"name": n.app, "token": n.token, "group": n.group, "user_messaging": true}],
        "users": n.users.iter().map(|(email, id)| json!({"email": email, "fchat_id": id}))
            .collect::<Vec<_>>(),
    }))
    .unwrap();
    let (aws, fchat) = Stack::start_services(&seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    fchat.set_limits(Some(Limits::default()));
    let stack = Stack::start_functions(
        aws,
        fchat,
        &[("delivery", Path::new(env!("CARGO_BIN_EXE_delivery")))],
        HashMap::from([("FCHAT_PACING".to_owned(), "on".to_owned())]),
    )
    .await
    .unwrap();
    let ingest = stack.aws.ingest().await.unwrap();
    let accept = |path: String, body: Value| {
        let ingest = &ingest;
        async move {
            let request = HttpRequest {
                query: String::new(),
                method: "POST".into(),
                path,
                headers: vec![],
                body: body.to_string().into_bytes(),
            };
            let answer = ingest.handle(&request).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            Instant::now()
        }
    };

    // A monitoring script fires a burst at the group, then one message to each of three users.
    let burst = 7;
    let texts: Vec<String> = (1..=burst)
        .map(|i| format!("[FIRING] disk {i} of {burst} on {}", n.chat))
        .collect();
    for text in &texts {
        accept(format!("/{}/{}", n.app, n.token), json!({"text": text})).await;
    }
    let mut asked = Vec::new();
    for (email, _) in &n.users {
        let text = format!("page for {email}");
        let at = accept(
            format!("/{}/fchat", n.token),
            json!({"email": email, "text": text}),
        )
        .await;
        asked.push((text, at));
    }

    let poller = tokio::spawn(stack.delivery_poller().await.run());
    let started = Instant::now();
    let mut seen_at: HashMap<String, Instant> = HashMap::new();
    loop {
        for message in stack.fchat.messages() {
            seen_at.entry(message.text).or_insert_with(Instant::now);
        }
        if seen_at.len() == texts.len() + asked.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not all delivered: {:?}",
            seen_at.keys()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    poller.abort();

    // The group shows the burst in the order it was accepted, each once.
    let in_group: Vec<String> = stack
        .fchat
        .messages()
        .into_iter()
        .filter(|m| m.chat_id == n.chat)
        .map(|m| m.text)
        .collect();
    assert_eq!(in_group, texts);
    // Paced: FChat refused at most 5% of the sends.
    let limits = stack.fchat.limits();
    let attempts = stack.fchat.send_attempts() as u64;
    assert!(
        limits.refused * 20 <= attempts,
        "{} of {attempts} sends refused",
        limits.refused
    );
    // The users' messages did not wait for the burst: each arrived while it still drained.
    let last_of_burst = seen_at[texts.last().unwrap()];
    for (text, _) in &asked {
        assert!(
            seen_at[text] < last_of_burst,
            "{text:?} waited behind the burst"
        );
    }
}
