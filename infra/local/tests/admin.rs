//! `fchat-admin` against moto over real sockets, with the tables and queues of template.yaml.

use fchat_local::admin::{Admin, Output};
use fchat_local::harness::LocalAws;
use gateway::credentials::sha256_hex;
use gateway::domain::{Context, Target};
use gateway::dynamo::DynamoStore;
use gateway::ports::{AppStore, ContextStore, GroupStore};
use serde_json::{json, Map};

const NOW: u64 = 1_800_000_000;

async fn admin() -> (LocalAws, Admin) {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let admin = Admin {
        store: DynamoStore::new(aws.dynamodb(), aws.config.tables.clone()),
        sqs: aws.sqs(),
        delivery_queue_url: aws.config.delivery_queue_url.clone(),
        dead_letter_queue_url: Some(aws.provisioned.queue_urls["DeliveryDeadLetterQueue"].clone()),
        local: false,
        now: || NOW,
    };
    (aws, admin)
}

async fn run(admin: &Admin, line: &str) -> anyhow::Result<Output> {
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    admin.run(&args).await
}

#[tokio::test]
async fn groups_are_created_listed_and_switched() {
    let (_aws, admin) = admin().await;
    let created = run(
        &admin,
        "group create --id ops --beatchat-id beatchat-1 --name Ops",
    )
    .await
    .unwrap();
    assert_eq!(
        created.json,
        json!({"id": "ops", "beatchat_id": "beatchat-1", "name": "Ops", "active": true})
    );
    run(&admin, "group deactivate ops").await.unwrap();
    assert!(!admin.store.group("ops").await.unwrap().unwrap().active);
    run(&admin, "group activate ops").await.unwrap();
    let listed = run(&admin, "group list").await.unwrap();
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    assert_eq!(listed.json[0]["active"], true);

    for bad in [
        "group create --id ops --beatchat-id other",
        "group create --id x",
        "group activate nope",
        "group create --id y --beatchat-id b --colour red",
    ] {
        assert!(run(&admin, bad).await.is_err(), "{bad}");
    }
    assert_eq!(
        run(&admin, "group list")
            .await
            .unwrap()
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_app_is_created_with_credentials_shown_once_and_stored_hashed() {
    let (_aws, admin) = admin().await;
    run(&admin, "group create --id ops --beatchat-id beatchat-1")
        .await
        .unwrap();
    let created = run(
        &admin,
        "app create --name alerts --group ops --user-messaging --webhook-url https://hooks.example.com/fchat --context-ttl 600",
    )
    .await
    .unwrap();
    let token = created.json["token"].as_str().unwrap().to_owned();
    let secret = created.json["webhook_secret"].as_str().unwrap().to_owned();
    assert!(created.text.contains(&token) && created.text.contains(&secret));
    assert!(secret.starts_with("whsec_"));
    let stored = admin.store.app_by_name("alerts").await.unwrap().unwrap();
    assert_eq!(stored.token_hash, sha256_hex(token.as_bytes()));
    assert_eq!(
        (stored.context_ttl_seconds, stored.user_messaging),
        (600, true)
    );

    let shown = run(&admin, "app show alerts").await.unwrap();
    let text = shown.json.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&secret) && !text.contains(&stored.token_hash)
    );
    assert_eq!(shown.json["webhook_secrets"], 1);
    assert_eq!(
        run(&admin, "app list").await.unwrap().json[0]["name"],
        "alerts"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (_aws, admin) = admin().await;
    run(&admin, "group create --id ops --beatchat-id beatchat-1")
        .await
        .unwrap();
    run(&admin, "app create --name alerts --group ops")
        .await
        .unwrap();
    let refused = [
        ("app create --name alerts", "exists already"),
        (
            "app create --name other --group missing",
            "no group missing",
        ),
        (
            "app create --name other --webhook-url http://hooks.example.com/x",
            "invalid webhook URL",
        ),
        (
            "app create --name other --webhook-url https://10.0.0.1/x",
            "invalid webhook URL",
        ),
        (
            "app create --name other --context-ttl soon",
            "positive whole number",
        ),
        ("app show nobody", "no app nobody"),
        (
            "app create --name other --delivery-window 0",
            "positive whole number",
        ),
        (
            "app create --name other --delivery-window 604801",
            "a delivery window is 1 to 604800 seconds",
        ),
        ("app set-delivery-window alerts", "how many seconds?"),
        ("app set-delivery-window alerts never", "how many seconds?"),
        (
            "app set-delivery-window alerts 9999999",
            "a delivery window is 1 to 604800 seconds",
        ),
        ("app set-delivery-window nobody 60", "no app nobody"),
        ("app set-webhook alerts not-a-url", "invalid webhook URL"),
        ("app frobnicate alerts", "unknown command"),
        ("message status nothing", "no message nothing"),
    ];
    for (line, reason) in refused {
        let error = run(&admin, line)
            .await
            .err()
            .unwrap_or_else(|| panic!("{line} was accepted"));
        assert!(format!("{error:#}").contains(reason), "{line}: {error:#}");
    }
    let apps = run(&admin, "app list").await.unwrap().json;
    assert_eq!(apps.as_array().unwrap().len(), 1);
    assert_eq!(apps[0]["webhook_url"], serde_json::Value::Null);
    assert_eq!(apps[0]["delivery_window_seconds"], 86_400);
}

#[tokio::test]
async fn an_apps_delivery_window_is_set_at_creation_and_changed_later() {
    let (_aws, admin) = admin().await;
    let created = run(&admin, "app create --name pager-7 --delivery-window 5400")
        .await
        .unwrap();
    assert_eq!(created.json["delivery_window_seconds"], 5_400);
    let changed = run(&admin, "app set-delivery-window pager-7 172800")
        .await
        .unwrap();
    assert_eq!(changed.json["delivery_window_seconds"], 172_800);
    let stored = admin.store.app_by_name("pager-7").await.unwrap().unwrap();
    assert_eq!(stored.delivery_window_seconds, 172_800);
}

#[tokio::test]
async fn rotated_credentials_keep_working_for_a_grace_period() {
    let (_aws, admin) = admin().await;
    let created = run(&admin, "app create --name alerts --user-messaging")
        .await
        .unwrap();
    let old = created.json["token"].as_str().unwrap().to_owned();
    let rotated = run(&admin, "app rotate-token alerts --grace 60")
        .await
        .unwrap();
    let new = rotated.json["token"].as_str().unwrap().to_owned();
    assert_eq!(rotated.json["previous_token_valid_until"], NOW + 60);

    // Both tokens find the app through the index, and it accepts both until the grace ends.
    for token in [&old, &new] {
        let app = admin
            .store
            .app_by_token_hash(&sha256_hex(token.as_bytes()))
            .await
            .unwrap()
            .unwrap();
        assert!(app.accepts_token(token, NOW + 59), "{token}");
    }
    let app = admin.store.app_by_name("alerts").await.unwrap().unwrap();
    assert!(!app.accepts_token(&old, NOW + 60));
    assert!(app.accepts_token(&new, NOW + 60));

    run(&admin, "app rotate-secret alerts").await.unwrap();
    assert_eq!(
        admin
            .store
            .app_by_name("alerts")
            .await
            .unwrap()
            .unwrap()
            .webhook_secrets
            .len(),
        2
    );
    run(&admin, "app rotate-secret alerts --finish")
        .await
        .unwrap();
    assert_eq!(
        admin
            .store
            .app_by_name("alerts")
            .await
            .unwrap()
            .unwrap()
            .webhook_secrets
            .len(),
        1
    );

    run(&admin, "app disable alerts").await.unwrap();
    assert!(
        !admin
            .store
            .app_by_name("alerts")
            .await
            .unwrap()
            .unwrap()
            .active
    );
}

#[tokio::test]
async fn message_status_and_the_dlq() {
    let (aws, admin) = admin().await;
    run(&admin, "app create --name alerts").await.unwrap();
    let app = admin.store.app_by_name("alerts").await.unwrap().unwrap();
    let mut context = Context::queued(&app, Target::Group("ops".into()), Map::new(), NOW);
    context.id = "c-1".into();
    admin.store.create_context(&context).await.unwrap();
    let status = run(&admin, "message status c-1").await.unwrap();
    assert_eq!(
        (
            status.json["status"].as_str(),
            status.json["attempts"].as_u64()
        ),
        (Some("queued"), Some(0))
    );

    let dlq = aws.provisioned.queue_urls["DeliveryDeadLetterQueue"].clone();
    assert_eq!(run(&admin, "dlq list").await.unwrap().json, json!([]));
    aws.sqs()
        .send_message()
        .queue_url(&dlq)
        .message_body("{\"v\":1,\"kind\":\"broken\"}")
        .send()
        .await
        .unwrap();
    let listed = run(&admin, "dlq list").await.unwrap();
    assert_eq!(listed.json[0]["body"], "{\"v\":1,\"kind\":\"broken\"}");
    let redriven = run(&admin, "dlq redrive").await.unwrap();
    assert_eq!(redriven.json, json!({"redriven": 1}));
    assert_eq!(run(&admin, "dlq list").await.unwrap().json, json!([]));
    assert_eq!(
        aws.peek(&aws.config.delivery_queue_url).await.unwrap(),
        vec!["{\"v\":1,\"kind\":\"broken\"}".to_owned()]
    );
}
