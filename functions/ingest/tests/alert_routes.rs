//! The alert routes end to end, over HTTP: Alertmanager's and Grafana's own payloads posted
//! through the local API gateway to the real `ingest` binary, on moto, each becoming one queued
//! message in the app's group (or to one user), and their errors in the contract's format.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use gateway::domain::Target;
use gateway::job::JobKind;
use serde_json::{json, Value};

/// Names nobody wrote into the fixtures: they differ on every run.
struct Tenant {
    app: String,
    token: String,
    /// An app of the same group that may not message users.
    group_only: String,
    group_only_token: String,
    group: String,
}

fn tenant() -> Tenant {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let pid = std::process::id();
    Tenant {
        app: format!("noc.{nanos:x}"),
        token: format!("tk{nanos}-{pid}_A"),
        group_only: format!("ro-{pid}-{nanos:x}"),
        group_only_token: format!("ro{nanos}x{pid}"),
        group: format!("g/{nanos:x} ops"),
    }
}

async fn stack(tenant: &Tenant) -> Stack {
    let seed = json!({
        "groups": [{"id": tenant.group, "beatchat_id": format!("bc-{}", tenant.token), "active": true}],
        "apps": [
            {"name": tenant.app, "token": tenant.token, "group": tenant.group, "user_messaging": true},
            {"name": tenant.group_only, "token": tenant.group_only_token, "group": tenant.group}
        ],
        "users": [{"email": "on.call@example.org", "fchat_id": "fu-oncall"}]
    });
    let dir = std::env::temp_dir().join(format!("alert-routes-{}", tenant.token));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    let seed = Seed::load(&path).unwrap();
    Stack::start(
        &[("ingest", Path::new(env!("CARGO_BIN_EXE_ingest")))],
        &seed,
    )
    .await
    .expect("the local stack starts (run `make venv` first)")
}

fn fixture(name: &str) -> Value {
    let path = fchat_local::workspace_root()
        .join("shared/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn error(status: u16, description: &str) -> (u16, Value) {
    (
        status,
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

/// A path segment as a client writes it.
fn segment(text: &str) -> String {
    text.replace('%', "%25")
        .replace('/', "%2F")
        .replace(' ', "%20")
}

#[tokio::test]
async fn alertmanager_and_grafana_post_natively_and_each_notification_is_one_message() {
    let tenant = tenant();
    let stack = stack(&tenant).await;
    let app = segment(&tenant.app);
    let bearer = format!("Bearer {}", tenant.token);
    let post = |path: String, body: Value, headers: Vec<(&'static str, String)>| {
        let stack = &stack;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body, headers) = stack
                .request("POST", &path, Some(&body), &headers)
                .await
                .unwrap();
            (status, body, headers)
        }
    };

    // Alertmanager, the token in the path, with the contract's base path.
    let (status, am, _) = post(
        format!("/webhooks/{app}/{}/alertmanager", tenant.token),
        fixture("alertmanager-firing.json"),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{am}");
    assert_eq!(am["ok"], true);
    assert_eq!(am["description"], "Message sent to queue");
    assert_eq!(am["context"]["parameters"], json!({}));

    // Grafana, the token in the header, without the base path.
    let (status, grafana, _) = post(
        format!("/{app}/grafana"),
        fixture("grafana-firing.json"),
        vec![("authorization", bearer.clone())],
    )
    .await;
    assert_eq!(status, 200, "{grafana}");

    // To one user instead of the group; an Idempotency-Key replays the first answer.
    let resolved = fixture("alertmanager-resolved.json");
    let key = format!("am-retry-{}", tenant.token);
    let mut user_answers = Vec::new();
    for _ in 0..2 {
        let (status, body, headers) = post(
            format!("/{app}/alertmanager?email=On.Call%40example.org"),
            resolved.clone(),
            vec![
                ("authorization", bearer.clone()),
                ("idempotency-key", key.clone()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        user_answers.push((body, headers.get("idempotent-replayed").is_some()));
    }
    assert_eq!(user_answers[0].0, user_answers[1].0);
    assert_eq!((user_answers[0].1, user_answers[1].1), (false, true));
    let user = &user_answers[0].0;

    // A group of many alerts is shortened, never refused.
    let mut many = fixture("alertmanager-firing.json");
    let template = many["alerts"][0].clone();
    many["alerts"] = (0..400)
        .map(|i| {
            let mut alert = template.clone();
            alert["labels"]["instance"] = Value::from(format!("node-{i}:9100"));
            alert["annotations"]["summary"] = Value::from(format!("Disk on node-{i} is full"));
            alert
        })
        .collect();
    let (status, large, _) = post(
        format!("/{app}/{}/alertmanager", tenant.token),
        many,
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{large}");

    // Errors, in the contract's format; none queues anything.
    let grafana_body = fixture("grafana-firing.json");
    let am_body = fixture("alertmanager-firing.json");
    for (path, body, headers, expected) in [
        (
            format!("/{app}/alertmanager"),
            am_body.clone(),
            vec![],
            error(
                401,
                "Unauthorized: send the app's token as Authorization: Bearer <token>",
            ),
        ),
        (
            format!("/{app}/grafana"),
            grafana_body.clone(),
            vec![("authorization", format!("Basic {}", tenant.token))],
            error(
                401,
                "Unauthorized: send the app's token as Authorization: Bearer <token>",
            ),
        ),
        (
            format!("/{app}/grafana"),
            grafana_body.clone(),
            vec![(
                "authorization",
                format!("Bearer {}", tenant.group_only_token),
            )],
            error(404, "Channel or token not found"),
        ),
        (
            format!("/{app}/wrong-{}/grafana", tenant.token),
            grafana_body.clone(),
            vec![],
            error(404, "Channel or token not found"),
        ),
        (
            format!("/{app}/{}/alertmanager", tenant.token),
            grafana_body.clone(),
            vec![],
            error(
                400,
                "Bad Request: body is not an Alertmanager webhook payload (version 4)",
            ),
        ),
        (
            format!("/{app}/{}/grafana", tenant.token),
            json!({"text": "not an alert"}),
            vec![],
            error(
                400,
                "Bad Request: body is not a Grafana webhook payload (unified alerting)",
            ),
        ),
        (
            format!(
                "/{}/{}/grafana?email=on.call%40example.org",
                segment(&tenant.group_only),
                tenant.group_only_token
            ),
            grafana_body.clone(),
            vec![],
            error(404, "this app have not permission to send fchat message"),
        ),
        (
            format!(
                "/{app}/{}/grafana?email=nobody.{}%40example.org",
                tenant.token, tenant.token
            ),
            grafana_body.clone(),
            vec![],
            error(
                404,
                &format!(
                    "User nobody.{}@example.org not found!",
                    tenant.token.to_lowercase()
                ),
            ),
        ),
        (
            format!("/{app}/{}/grafana?email=not-an-address", tenant.token),
            grafana_body.clone(),
            vec![],
            error(400, "Bad Request: email is not a valid email address"),
        ),
    ] {
        let (status, body, _) = post(path.clone(), body, headers).await;
        assert_eq!((status, body), expected, "{path}");
    }
    let (status, body, _) = stack
        .request(
            "GET",
            &format!("/{app}/{}/alertmanager", tenant.token),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(status, 405, "{body}");

    // One job per accepted notification, with readable text.
    let jobs = stack.aws.queued_jobs().await.unwrap();
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    let job = |answer: &Value| {
        jobs.iter()
            .find(|j| j.context_id() == answer["context"]["id"].as_str())
            .unwrap_or_else(|| panic!("no job for {answer}"))
            .kind
            .clone()
    };
    // Each notification carries its alert group's step (one message per group).
    let JobKind::SendAlert {
        app: sender,
        target: Target::Group(group_id),
        content,
        thread,
        ..
    } = job(&am)
    else {
        panic!("Alertmanager's notification is not a group message");
    };
    assert_eq!(
        (sender.as_str(), group_id.as_str()),
        (tenant.app.as_str(), tenant.group.as_str())
    );
    assert!(!thread.resolved);
    assert_eq!(thread.key.len(), 64, "a hash, whatever the group key");
    assert_eq!(
        thread.labels.get("alertname").map(String::as_str),
        Some("DiskAlmostFull")
    );
    assert!(content.keyboard.is_empty());
    assert!(
        content
            .text
            .starts_with("[FIRING:2] DiskAlmostFull (critical)\nenv=prod, job=node\n\nFIRING: Disk /var on db-1 is 93% full"),
        "{}",
        content.text
    );
    assert!(content
        .text
        .contains("\nSilence: http://alertmanager.example.com:9093/#/silences/new?filter="));

    let JobKind::SendAlert {
        target: Target::Group(_),
        content,
        ..
    } = job(&grafana)
    else {
        panic!("Grafana's notification is not a group message");
    };
    assert!(
        content
            .text
            .starts_with("[FIRING:1] CPU above 90%, 1 resolved\n"),
        "{}",
        content.text
    );
    assert!(content.text.contains("\nDashboard: https://grafana.example.com/d/hosts?orgId=1\nPanel: https://grafana.example.com/d/hosts?orgId=1&viewPanel=4\n"), "{}", content.text);

    let JobKind::SendAlert {
        target: Target::User(email),
        content,
        ..
    } = job(user)
    else {
        panic!("?email= did not send to the user");
    };
    assert_eq!(email, "on.call@example.org");
    assert!(
        content
            .text
            .starts_with("[RESOLVED:1] HighRequestLatency (warning)"),
        "{}",
        content.text
    );
    assert!(
        content
            .text
            .ends_with("...and 3 more (3 left out by Alertmanager)"),
        "{}",
        content.text
    );

    let JobKind::SendAlert {
        target: Target::Group(_),
        content,
        ..
    } = job(&large)
    else {
        panic!("the large group is not a group message");
    };
    let chars = content.text.chars().count();
    assert!(chars <= 2000, "{chars}");
    assert!(
        content.text.starts_with("[FIRING:400] DiskAlmostFull"),
        "{}",
        content.text
    );
    let shown = content.text.matches("FIRING: Disk on node-").count();
    assert!((1..400).contains(&shown), "{shown}");
    assert!(
        content
            .text
            .contains(&format!("...and {} more", 400 - shown)),
        "{}",
        content.text
    );
}
