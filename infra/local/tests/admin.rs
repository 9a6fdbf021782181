//! `fchat-admin` against moto over real sockets, with the tables and queues of template.yaml.

use fchat_local::admin::{Admin, Output};
use fchat_local::harness::LocalAws;
use gateway::credentials::sha256_hex;
use gateway::domain::{App, Context, Target};
use gateway::ports::{AppStore, ContextStore, GroupStore};
use serde_json::{json, Map};
use std::path::PathBuf;

const NOW: u64 = 1_800_000_000;

async fn admin() -> (LocalAws, Admin) {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let admin = aws.admin(|| NOW).await;
    (aws, admin)
}

/// The app `name` as stored.
async fn stored_app(admin: &Admin, name: &str) -> App {
    admin.store.app_by_name(name).await.unwrap().unwrap()
}

/// The groups as `group list --json` shows them.
async fn groups(admin: &Admin) -> serde_json::Value {
    run(admin, "group list").await.unwrap().json
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
        "group create --beatchat-id b",
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
    let stored = stored_app(&admin, "alerts").await;
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
    let stored = stored_app(&admin, "pager-7").await;
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
    let app = stored_app(&admin, "alerts").await;
    assert!(!app.accepts_token(&old, NOW + 60));
    assert!(app.accepts_token(&new, NOW + 60));

    run(&admin, "app rotate-secret alerts").await.unwrap();
    assert_eq!(stored_app(&admin, "alerts").await.webhook_secrets.len(), 2);
    run(&admin, "app rotate-secret alerts --finish")
        .await
        .unwrap();
    assert_eq!(stored_app(&admin, "alerts").await.webhook_secrets.len(), 1);

    run(&admin, "app disable alerts").await.unwrap();
    assert!(!stored_app(&admin, "alerts").await.active);
}

#[tokio::test]
async fn message_status_and_the_dlq() {
    let (aws, admin) = admin().await;
    run(&admin, "app create --name alerts").await.unwrap();
    let app = stored_app(&admin, "alerts").await;
    let mut context = Context::queued(&app, Target::Group("ops".into()), Map::new(), NOW);
    context.id = "c-1".into();
    // The gateway recorded it (the operator may only read and requeue records).
    aws.store().create_context(&context).await.unwrap();
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
        .message_group_id("broken")
        .message_deduplication_id("broken-1")
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

#[tokio::test]
async fn a_group_can_wait_for_its_fchat_group_and_get_it_later() {
    let (aws, admin) = admin().await;
    let created = run(&admin, "group create --id night-shift --name Night")
        .await
        .unwrap();
    assert_eq!(
        created.json,
        json!({"id": "night-shift", "beatchat_id": null, "name": "Night", "active": true})
    );
    assert!(created.text.contains("set-beatchat"), "{}", created.text);
    let stored = admin.store.group("night-shift").await.unwrap().unwrap();
    assert_eq!(stored.beatchat_id, None);

    let set = run(&admin, "group set-beatchat night-shift room-7")
        .await
        .unwrap();
    assert_eq!(set.json["beatchat_id"], "room-7");
    let stored = admin.store.group("night-shift").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.beatchat_id.as_deref(),
            stored.active,
            stored.name.as_deref()
        ),
        (Some("room-7"), true, Some("Night"))
    );
    // The room index (the callback function's) finds it by its new id.
    let found = aws.store().groups_by_beatchat_id("room-7").await.unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_group_with_apps_is_deleted_only_when_forced() {
    let (_aws, admin) = admin().await;
    run(&admin, "group create --id payments --beatchat-id pay-9")
        .await
        .unwrap();
    run(&admin, "group create --id spare").await.unwrap();
    run(&admin, "app create --name ledger --group payments")
        .await
        .unwrap();

    let refused = run(&admin, "group delete payments")
        .await
        .err()
        .expect("refused");
    let refused = format!("{refused:#}");
    assert!(
        refused.contains("ledger") && refused.contains("--force"),
        "{refused}"
    );
    assert!(admin.store.group("payments").await.unwrap().is_some());

    let deleted = run(&admin, "group delete payments --force").await.unwrap();
    assert_eq!(
        deleted.json,
        json!({"deleted": "payments", "apps": ["ledger"]})
    );
    assert!(admin.store.group("payments").await.unwrap().is_none());
    // The app keeps its assignment: its group sends answer 404 Group not found.
    let app = stored_app(&admin, "ledger").await;
    assert_eq!(app.group_id.as_deref(), Some("payments"));

    // A group no app uses goes without --force; a deleted one is gone.
    run(&admin, "group delete spare").await.unwrap();
    assert_eq!(groups(&admin).await, json!([]));
    let error = run(&admin, "group delete spare")
        .await
        .err()
        .expect("refused");
    assert!(format!("{error:#}").contains("no group spare"));
}

#[tokio::test]
async fn bad_group_input_is_refused_and_changes_nothing() {
    let (_aws, admin) = admin().await;
    run(
        &admin,
        "group create --id ops --beatchat-id room-1 --name Ops",
    )
    .await
    .unwrap();
    run(&admin, "app create --name alerts --group ops")
        .await
        .unwrap();
    let before = groups(&admin).await;
    let long = "g".repeat(257);
    let refused: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["group", "set-beatchat", "nope", "room-2"],
            "no group nope",
        ),
        (vec!["group", "set-beatchat", "ops"], "which beatchat id"),
        (
            vec!["group", "set-beatchat", "ops", ""],
            "must not be empty",
        ),
        (
            vec!["group", "set-beatchat", "ops", "  "],
            "must not be empty",
        ),
        (
            vec!["group", "set-beatchat", "ops", "room\n2"],
            "control characters",
        ),
        (
            vec!["group", "set-beatchat", "ops", " room-2"],
            "spaces around",
        ),
        (
            vec!["group", "set-beatchat", "ops", &long],
            "longer than 256",
        ),
        (
            vec!["group", "set-beatchat", "ops", "room-2", "room-3"],
            "unexpected argument",
        ),
        (
            vec!["group", "set-beatchat", "ops", "room-2", "--force"],
            "unknown option",
        ),
        (
            vec!["group", "set-beatchat", "", "room-2"],
            "must not be empty",
        ),
        (vec!["group", "delete"], "which group"),
        (vec!["group", "delete", "nope"], "no group nope"),
        (vec!["group", "delete", ""], "must not be empty"),
        (vec!["group", "delete", &long], "longer than 256"),
        (
            vec!["group", "delete", "ops", "extra"],
            "unexpected argument",
        ),
        (vec!["group", "delete", "ops"], "--force"),
        (vec!["group", "activate", ""], "must not be empty"),
        (vec!["group", "create", "--id", ""], "must not be empty"),
        (vec!["group", "create", "--id", &long], "longer than 256"),
        (
            vec!["group", "create", "--id", "new", "--beatchat-id", ""],
            "must not be empty",
        ),
        (
            vec!["group", "create", "--id", "new", "--beatchat-id", "a\tb"],
            "control characters",
        ),
        (vec!["group", "create", "--id", "ops"], "exists already"),
        (
            vec!["group", "create", "--id", "new", "stray"],
            "unexpected argument",
        ),
    ];
    for (line, reason) in refused {
        let args: Vec<String> = line.iter().map(|a| a.to_string()).collect();
        let error = admin
            .run(&args)
            .await
            .err()
            .unwrap_or_else(|| panic!("{line:?} was accepted"));
        assert!(format!("{error:#}").contains(reason), "{line:?}: {error:#}");
    }
    assert_eq!(groups(&admin).await, before);
    let app = stored_app(&admin, "alerts").await;
    assert_eq!(app.group_id.as_deref(), Some("ops"));
}

#[tokio::test]
async fn under_the_local_stack_a_groups_fchat_chat_is_created_in_the_simulator() {
    let (aws, mut admin) = admin().await;
    let simulator = fchat_simulator::Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        fchat_simulator::SimulatorConfig {
            bot_token: "t".into(),
            users: vec![],
            groups: vec![],
        },
    )
    .await
    .unwrap();
    admin.simulator_url = Some(simulator.url());

    run(&admin, "group create --id support --beatchat-id sup-room")
        .await
        .unwrap();
    run(&admin, "group create --id later").await.unwrap();
    assert_eq!(simulator.groups(), ["sup-room"]);
    run(&admin, "group set-beatchat later Phòng-2")
        .await
        .unwrap();
    assert_eq!(simulator.groups(), ["Phòng-2", "sup-room"]);

    // A simulator that cannot be reached: an error, and nothing is stored.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let before = groups(&admin).await;
    let unreachable = Admin {
        local: true,
        simulator_url: Some(gone),
        ..aws.admin(|| NOW).await
    };
    for line in [
        "group create --id third --beatchat-id room-3",
        "group set-beatchat later room-4",
    ] {
        let error = run(&unreachable, line).await.err().expect("refused");
        assert!(
            format!("{error:#}").contains("simulator"),
            "{line}: {error:#}"
        );
    }
    assert_eq!(groups(&admin).await, before);
}

/// A seed file of this test, removed when dropped.
struct SeedFile(PathBuf);

impl Drop for SeedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn a_seed_may_have_groups_without_fchat_groups_and_apps_without_webhooks() {
    let (_aws, admin) = admin().await;
    let file =
        SeedFile(std::env::temp_dir().join(format!("fchat-seed-{}.json", std::process::id())));
    std::fs::write(
        &file.0,
        json!({
            "groups": [{"id": "pending"}, {"id": "live", "beatchat_id": "bc-1"}],
            "apps": [
                {"name": "ci bot", "token": "ci-token", "group": "pending"},
                {"name": "pager", "token": "pager-token", "group": "live",
                 "webhook_url": "http://127.0.0.1:7777/hooks/pager"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let mut seed = fchat_local::seed::Seed::load(&file.0).unwrap();
    seed.point_webhooks_at("http://127.0.0.1:4321");
    seed.load_into(&admin.store, &admin.store).await.unwrap();

    let pending = admin.store.group("pending").await.unwrap().unwrap();
    assert_eq!(pending.beatchat_id, None);
    let webhook = |name: &'static str| {
        let store = &admin.store;
        async move { store.app_by_name(name).await.unwrap().unwrap().webhook_url }
    };
    // The app without a webhook gets its own path on the local receiver; the other keeps its.
    assert_eq!(
        webhook("ci bot").await.as_deref(),
        Some("http://127.0.0.1:4321/webhook/ci%20bot")
    );
    assert_eq!(
        webhook("pager").await.as_deref(),
        Some("http://127.0.0.1:7777/hooks/pager")
    );
}

#[tokio::test]
async fn an_apps_alert_template_is_checked_set_rendered_and_cleared() {
    let (_aws, admin) = admin().await;
    run(&admin, "group create --id noc-grp --beatchat-id bc-noc")
        .await
        .unwrap();
    run(&admin, "app create --name pager-x9 --group noc-grp")
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("alert-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.j2");
    std::fs::write(
        &good,
        "{{ status|upper }} {{ alertname }}: {% for a in alerts %}{{ a.labels.instance }} {% endfor %}",
    )
    .unwrap();
    let broken = dir.join("broken.j2");
    std::fs::write(
        &broken,
        "first line\n{% for a in alerts %}\n{{ a.status }\n",
    )
    .unwrap();

    // The built-in template, before any is set.
    let dry = run(&admin, "app render-template pager-x9 alertmanager")
        .await
        .unwrap();
    assert!(
        dry.text.starts_with("[FIRING:2] DiskAlmostFull (critical)"),
        "{}",
        dry.text
    );
    assert_eq!(dry.json["custom"], false);

    // A syntax error is refused with its line, and nothing is stored.
    let error = run(
        &admin,
        &format!(
            "app set-template pager-x9 alertmanager {}",
            broken.display()
        ),
    )
    .await
    .err()
    .expect("a broken template is refused")
    .to_string();
    assert!(error.contains("line 3"), "{error}");
    let stored = admin.store.app_by_name("pager-x9").await.unwrap().unwrap();
    assert!(stored.alert_templates.is_empty());

    // A file tried before it is set, then set.
    let tried = run(
        &admin,
        &format!(
            "app render-template pager-x9 alertmanager {}",
            good.display()
        ),
    )
    .await
    .unwrap();
    assert_eq!(tried.text, "FIRING DiskAlmostFull: db-1:9100 db-2:9100");
    run(
        &admin,
        &format!("app set-template pager-x9 alertmanager {}", good.display()),
    )
    .await
    .unwrap();
    let stored = admin.store.app_by_name("pager-x9").await.unwrap().unwrap();
    assert_eq!(
        stored.alert_templates.keys().collect::<Vec<_>>(),
        ["alertmanager"]
    );
    let shown = run(&admin, "app render-template pager-x9 alertmanager")
        .await
        .unwrap();
    assert_eq!(shown.text, tried.text);
    // Grafana's stays the built-in one.
    let grafana = run(&admin, "app render-template pager-x9 grafana")
        .await
        .unwrap();
    assert!(
        grafana.text.starts_with("[FIRING:1] CPU above 90%"),
        "{}",
        grafana.text
    );

    for bad in [
        "app set-template pager-x9 prometheus /dev/null",
        "app set-template pager-x9 grafana",
        "app set-template nobody-here grafana /dev/null",
        "app clear-template pager-x9",
    ] {
        assert!(run(&admin, bad).await.is_err(), "{bad}");
    }

    run(&admin, "app clear-template pager-x9 alertmanager")
        .await
        .unwrap();
    let stored = admin.store.app_by_name("pager-x9").await.unwrap().unwrap();
    assert!(stored.alert_templates.is_empty());
    let back = run(&admin, "app render-template pager-x9 alertmanager")
        .await
        .unwrap();
    assert_eq!(back.text, dry.text);

    // A dry run of the operator's own payload; a payload of another source is refused.
    let payload = dir.join("mine.json");
    let mut mine: serde_json::Value = serde_json::from_str(
        gateway::domain::sources::alerts::AlertSource::Alertmanager.sample_payload(),
    )
    .unwrap();
    mine["commonLabels"]["alertname"] = "BackupLate".into();
    mine["alerts"][0]["labels"]["instance"] = "vault-3".into();
    std::fs::write(&payload, mine.to_string()).unwrap();
    let theirs = run(
        &admin,
        &format!(
            "app render-template pager-x9 alertmanager {} --payload {}",
            good.display(),
            payload.display()
        ),
    )
    .await
    .unwrap();
    assert_eq!(theirs.text, "FIRING BackupLate: vault-3 db-2:9100");
    assert!(run(
        &admin,
        &format!(
            "app render-template pager-x9 grafana --payload {}",
            payload.display()
        )
    )
    .await
    .is_err());
}

#[tokio::test]
async fn an_apps_alertmanager_and_reminders_are_set_shown_without_secrets_and_cleared() {
    let (_aws, admin) = admin().await;
    run(&admin, "group create --id am-grp --beatchat-id bc-am")
        .await
        .unwrap();
    run(&admin, "app create --name am-ệ7 --group am-grp")
        .await
        .unwrap();
    let variable = format!("AM_SECRET_{}", std::process::id());
    std::env::set_var(&variable, "s3cret-am-token");

    let set = run(
        &admin,
        &format!(
            "app set-alertmanager am-ệ7 https://am-ệ.example.com:9093/ --bearer-env {variable}"
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        set.json["alertmanager"],
        json!({"url": "https://am-ệ.example.com:9093", "auth": "bearer"})
    );
    assert!(!set.text.contains("s3cret") && !set.json.to_string().contains("s3cret"));
    let stored = admin.store.app_by_name("am-ệ7").await.unwrap().unwrap();
    assert!(
        stored.alerting.alertmanager.unwrap().auth
            == Some(gateway::domain::AlertmanagerAuth::Bearer(
                "s3cret-am-token".into()
            )),
        "the credentials are stored as given"
    );

    for bad in [
        "app set-alertmanager am-ệ7 ftp://am.example.com".to_owned(),
        "app set-alertmanager am-ệ7 http://10.0.0.8:9093".to_owned(),
        "app set-alertmanager am-ệ7 https://am.example.com --bearer-env NOT_SET_ANYWHERE_X".to_owned(),
        format!("app set-alertmanager am-ệ7 https://am.example.com --basic-user ops --bearer-env {variable}"),
        "app set-alertmanager nobody https://am.example.com".to_owned(),
        "app set-reminders am-ệ7 sometimes".to_owned(),
    ] {
        assert!(run(&admin, &bad).await.is_err(), "{bad}");
    }
    let stored = admin.store.app_by_name("am-ệ7").await.unwrap().unwrap();
    assert_eq!(
        stored.alerting.alertmanager.unwrap().url,
        "https://am-ệ.example.com:9093",
        "refusals change nothing"
    );

    run(&admin, "app set-reminders am-ệ7 on").await.unwrap();
    run(&admin, "app clear-alertmanager am-ệ7").await.unwrap();
    let shown = run(&admin, "app show am-ệ7").await.unwrap();
    assert_eq!(shown.json["alert_reminders"], true);
    assert_eq!(shown.json["alertmanager"], serde_json::Value::Null);
}

#[tokio::test]
async fn no_sources_segment_is_ever_a_token() {
    let (_aws, admin) = admin().await;
    // Every source's segment, as the registry names them: none may be a token.
    for (i, source) in gateway::api::sources::SOURCES.iter().enumerate() {
        let name = format!("seeded-{i}-{}", source.segment);
        let token = source.segment;
        let new = fchat_local::admin::NewApp {
            name: name.clone(),
            group: None,
            user_messaging: false,
            webhook_url: None,
            context_ttl_seconds: None,
            delivery_window_seconds: None,
        };
        let error = fchat_local::admin::create_app(
            &admin.store,
            &admin.store,
            new,
            token,
            "whsec_dGVzdA==",
            false,
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("source's route"), "{error}");
        assert_eq!(admin.store.app_by_name(&name).await.unwrap(), None);
    }
}

#[tokio::test]
async fn aws_event_templates_and_sns_topics_are_managed_per_app() {
    let (aws, admin) = admin().await;
    let app = format!("cloud-{}", std::process::id());
    run(&admin, &format!("app create --name {app}"))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("aws-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("alarm.j2");
    std::fs::write(&good, "{{ alarm.name }} went {{ alarm.state }}").unwrap();

    // Every AWS kind has a built-in template with a sample.
    let dry = run(
        &admin,
        &format!("app render-template {app} aws-cloudwatch-alarm"),
    )
    .await
    .unwrap();
    assert!(
        dry.text.starts_with("[ALARM] api-high-cpu (was OK)"),
        "{}",
        dry.text
    );
    run(
        &admin,
        &format!(
            "app set-template {app} aws-cloudwatch-alarm {}",
            good.display()
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        stored_app(&admin, &app)
            .await
            .alert_templates
            .keys()
            .collect::<Vec<_>>(),
        ["aws-cloudwatch-alarm"]
    );
    let shown = run(
        &admin,
        &format!("app render-template {app} aws-cloudwatch-alarm"),
    )
    .await
    .unwrap();
    assert_eq!(shown.text, "api-high-cpu went ALARM");
    run(
        &admin,
        &format!("app clear-template {app} aws-cloudwatch-alarm"),
    )
    .await
    .unwrap();
    assert!(stored_app(&admin, &app).await.alert_templates.is_empty());

    // Topics: allowed, listed, removed; a malformed ARN changes nothing.
    let topic = "arn:aws:sns:eu-west-1:123456789012:ops-alarms";
    let listed = run(&admin, &format!("app topics {app}")).await.unwrap();
    assert!(listed.text.contains("any topic"), "{}", listed.text);
    run(&admin, &format!("app allow-topic {app} {topic}"))
        .await
        .unwrap();
    let listed = run(&admin, &format!("app topics {app}")).await.unwrap();
    assert_eq!(listed.text, topic);
    assert_eq!(listed.json["sns_topics"], json!([topic]));
    assert_eq!(listed.json["sns_unsubscribed"], json!({}));
    // An unsubscription SNS confirmed (ingest notes it beside the app, not on its record)
    // shows with the app's topics and in `app show`.
    aws.store()
        .note_sns_unsubscription(&app, topic, NOW - 60)
        .await
        .unwrap();
    for command in ["topics", "show"] {
        let shown = run(&admin, &format!("app {command} {app}")).await.unwrap();
        assert_eq!(shown.json["sns_unsubscribed"], json!({topic: NOW - 60}));
    }
    for bad in [
        format!("app allow-topic {app} not-an-arn"),
        format!("app allow-topic {app} arn:aws:sqs:eu-west-1:123456789012:q"),
        format!("app disallow-topic {app} arn:aws:sns:eu-west-1:123456789012:never"),
        format!("app set-template {app} aws-nothing {}", good.display()),
        "app topics nobody-here".to_owned(),
    ] {
        assert!(run(&admin, &bad).await.is_err(), "{bad}");
    }
    assert_eq!(
        stored_app(&admin, &app)
            .await
            .sns
            .allowed_topics
            .into_iter()
            .collect::<Vec<_>>(),
        [topic]
    );
    run(&admin, &format!("app disallow-topic {app} {topic}"))
        .await
        .unwrap();
    assert!(stored_app(&admin, &app).await.sns.allowed_topics.is_empty());
}
