//! Group messages reach FChat whatever the groups' FChat ids look like: the seed's, and one an
//! operator sets later with `fchat-admin group set-beatchat`. The real `delivery` binary fed
//! by the local poller, the FChat simulator knowing the groups as FChat would.

use std::path::Path;
use std::time::{Duration, Instant};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use gateway::domain::DeliveryStatus;
use gateway::http::HttpRequest;
use gateway::ports::ContextStore;
use serde_json::json;

#[tokio::test]
async fn group_messages_reach_the_seeds_chats_and_chats_set_later() {
    let seed: Seed = serde_json::from_value(json!({
        "groups": [
            {"id": "night-ops", "beatchat_id": "bc-1"},
            {"id": "reports"}
        ],
        "apps": [
            {"name": "watchdog", "token": "wd-token", "group": "night-ops"},
            {"name": "reporter", "token": "rp-token", "group": "reports"}
        ]
    }))
    .unwrap();
    let stack = Stack::start_one(Path::new(env!("CARGO_BIN_EXE_delivery")), &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let ingest = stack.aws.ingest().await.unwrap();
    let store = stack.aws.store();
    let poller = stack.delivery_poller().await;
    let send = |path: &str, text: &str| {
        let request = HttpRequest {
            query: String::new(),
            method: "POST".into(),
            path: path.into(),
            headers: vec![],
            body: json!({"text": text}).to_string().into_bytes(),
        };
        let ingest = &ingest;
        async move {
            let response = ingest.handle(&request).await;
            assert_eq!(response.status, 200, "{}", response.body);
            let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
            body["context"]["id"].as_str().unwrap().to_owned()
        }
    };
    // Delivers until the message `id` is no longer queued: it must have been sent.
    let delivered = |id: String| {
        let (store, poller) = (&store, &poller);
        async move {
            let started = Instant::now();
            loop {
                let context = store.context_record(&id).await.unwrap().unwrap();
                if context.status != DeliveryStatus::Queued {
                    assert_eq!(
                        context.status,
                        DeliveryStatus::Sent,
                        "{:?}",
                        context.last_error
                    );
                    return;
                }
                assert!(started.elapsed() < Duration::from_secs(20), "not delivered");
                poller.poll_once(Duration::from_secs(1)).await.unwrap();
            }
        }
    };

    let first = send("/watchdog/wd-token", "disk 91% on db-2").await;
    delivered(first).await;

    // The operator gives the other group its FChat group; fchat-admin creates the chat in
    // the simulator, as it exists in FChat.
    let args: Vec<String> = ["group", "set-beatchat", "reports", "Phòng báo cáo"]
        .map(str::to_owned)
        .to_vec();
    stack
        .admin(|| 1_800_000_000)
        .await
        .run(&args)
        .await
        .unwrap();
    let second = send("/reporter/rp-token", "weekly report ready").await;
    delivered(second).await;

    let shown: Vec<(String, String)> = stack
        .fchat
        .messages()
        .into_iter()
        .map(|m| (m.chat_id, m.text))
        .collect();
    assert_eq!(
        shown,
        [
            ("bc-1".to_owned(), "disk 91% on db-2".to_owned()),
            ("Phòng báo cáo".to_owned(), "weekly report ready".to_owned()),
        ]
    );
}
