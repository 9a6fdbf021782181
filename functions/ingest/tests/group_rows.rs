//! The contract's group rows that depend on the operator: `400 Bad Request: beatchat group id
//! not found` for a group whose FChat group is not set yet, and `404 Group not found` after
//! the group is deleted. End to end: the real `ingest` binary behind the local API gateway, on
//! moto, with the group made and changed by `fchat-admin`'s own code.

use std::path::Path;

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use serde_json::{json, Value};

fn error(status: u16, description: &str) -> (u16, Value) {
    (
        status,
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

async fn admin(stack: &Stack, line: &str) {
    let admin = stack.admin(|| 1_800_000_000).await;
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if let Err(e) = admin.run(&args).await {
        panic!("fchat-admin {line}: {e:#}");
    }
}

#[tokio::test]
async fn a_group_without_its_fchat_group_and_a_deleted_group_answer_the_contracts_rows() {
    // A seed whose group has no FChat group yet (no beatchat_id).
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": "release-train", "name": "Releases"}],
        "apps": [{"name": "deployer", "token": "dep-tok-1", "group": "release-train"}]
    }))
    .unwrap();
    let stack = Stack::start_one(Path::new(env!("CARGO_BIN_EXE_ingest")), &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let queue = stack.aws.config.delivery_queue_url.clone();
    let body = json!({"text": "v2.3 is out"});
    let send = || stack.post("/webhooks/deployer/dep-tok-1", &body);

    assert_eq!(
        send().await.unwrap(),
        error(400, "Bad Request: beatchat group id not found")
    );
    assert_eq!(stack.aws.peek(&queue).await.unwrap(), Vec::<String>::new());

    // The operator gives it its FChat group: messages go through.
    admin(&stack, "group set-beatchat release-train rt-room-5").await;
    let (status, accepted) = send().await.unwrap();
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(stack.fchat.groups(), ["rt-room-5"]);
    let queued = stack.aws.peek(&queue).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].contains("release-train"), "{}", queued[0]);

    // The operator deletes the group while the app still points at it.
    admin(&stack, "group delete release-train --force").await;
    assert_eq!(send().await.unwrap(), error(404, "Group not found"));
    assert_eq!(stack.aws.peek(&queue).await.unwrap().len(), 1);
}
