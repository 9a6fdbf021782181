//! Custom sources end to end: the operator adds GitHub's example template with
//! `fchat-admin app add-source`, as documented in docs/sources/; GitHub-signed deliveries go
//! through the local API gateway to the real `ingest`, and `delivery` posts, edits and resolves
//! one message per pull request in the simulator. Every refusal changes nothing.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use fchat_simulator::ReceivedMessage;
use serde_json::json;

/// Names nobody wrote into the fixtures: they differ on every run.
struct Tenant {
    app: String,
    token: String,
    room: String,
    github: String,
    deploys: String,
    nanos: u32,
}

/// A refused request: path, extra headers, body, the status and description it answers.
type Refusal<'a> = (String, Vec<(String, String)>, Vec<u8>, u16, &'a str);

fn tenant() -> Tenant {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let pid = std::process::id();
    Tenant {
        app: format!("eng.{nanos:x}"),
        token: format!("T{nanos}_{pid}-k"),
        room: format!("bc-{pid}-{nanos:x}"),
        github: format!("gh-{:x}", nanos % 4096),
        deploys: format!("ship_{pid}"),
        nanos,
    }
}

fn docs(file: &str) -> String {
    fchat_local::workspace_root()
        .join("docs/sources")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(docs(file)).unwrap()
}

/// GitHub's `X-Hub-Signature-256`, computed apart from the gateway's own code.
fn github_signature(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A Standard Webhooks `webhook-signature` for `whsec_` secret `secret`.
fn standard_signature(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &raw);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = aws_lc_rs::hmac::sign(&key, &signed);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn wait_for<T>(
    stack: &Stack,
    what: &str,
    found: impl Fn(&[ReceivedMessage]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = found(&stack.fchat.messages()) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never came: {:#?}",
            stack.fchat.messages()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_github_webhook_becomes_one_message_per_pull_request() {
    let t = tenant();
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": format!("grp {}", t.nanos), "beatchat_id": t.room}],
        "apps": [{"name": t.app, "token": t.token, "group": format!("grp {}", t.nanos)}],
        "users": [],
    }))
    .unwrap();
    let stack = Stack::start_all(Path::new(env!("CARGO_BIN_EXE_ingest")), &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");

    // The operator adds the sources, secrets from the environment, as docs/sources/ shows.
    let github_secret = format!("gh-secret-{}", t.nanos);
    let standard_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let github_var = format!("FCHAT_TEST_GH_{}", t.nanos);
    let standard_var = format!("FCHAT_TEST_SW_{}", t.nanos);
    std::env::set_var(&github_var, &github_secret);
    std::env::set_var(&standard_var, standard_secret);
    let admin = stack.admin(now).await;
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let added = admin
        .run(&args(&[
            "app",
            "add-source",
            &t.app,
            &t.github,
            "--template",
            &docs("github.j2"),
            "--sample",
            &docs("github-pull-request-opened.json"),
            "--sample-header",
            "X-GitHub-Event: pull_request",
            "--verify",
            "hmac-sha256:X-Hub-Signature-256",
            "--secret-env",
            &github_var,
            "--group-by",
            &read("github-group-by.j2"),
            "--resolved-when",
            &read("github-resolved-when.j2"),
        ]))
        .await
        .unwrap();
    assert!(
        added.text.contains("PR #1347 opened"),
        "the preview renders the sample: {}",
        added.text
    );
    assert!(!added.json.to_string().contains(&github_secret));
    let deploys_template = std::env::temp_dir().join(format!("deploys-{}.j2", t.nanos));
    std::fs::write(
        &deploys_template,
        "🚀 {{ body.service }} {{ body.version }} → {{ body.env }}",
    )
    .unwrap();
    let deploys_sample = std::env::temp_dir().join(format!("deploys-{}.json", t.nanos));
    std::fs::write(
        &deploys_sample,
        r#"{"service": "ledger", "version": "v1", "env": "prod"}"#,
    )
    .unwrap();
    admin
        .run(&args(&[
            "app",
            "add-source",
            &t.app,
            &t.deploys,
            "--template",
            deploys_template.to_str().unwrap(),
            "--sample",
            deploys_sample.to_str().unwrap(),
            "--verify",
            "standard-webhooks",
            "--secret-env",
            &standard_var,
        ]))
        .await
        .unwrap();
    // A template that does not compile is refused with its line, and the app is unchanged.
    std::fs::write(&deploys_template, "ok\n{{ body.service ").unwrap();
    let refused = admin
        .run(&args(&[
            "app",
            "add-source",
            &t.app,
            "broken",
            "--template",
            deploys_template.to_str().unwrap(),
            "--sample",
            deploys_sample.to_str().unwrap(),
        ]))
        .await
        .err()
        .expect("a broken template is refused");
    assert!(format!("{refused:#}").contains("line 2"), "{refused:#}");

    let opened = std::fs::read(docs("github-pull-request-opened.json")).unwrap();
    let closed = std::fs::read(docs("github-pull-request-closed.json")).unwrap();
    let path = format!("/{}/{}/hooks/{}", t.app, t.token, t.github);
    let pr_event = [("x-github-event", "pull_request")];
    let signed = |body: &[u8]| github_signature(&github_secret, body);

    // Refusals first, before any delivery runs: each answers in the contract's format.
    let cases: Vec<Refusal> = vec![
        (
            path.clone(),
            vec![(
                "x-hub-signature-256".into(),
                github_signature("wrong", &opened),
            )],
            opened.clone(),
            403,
            "Forbidden: the webhook's signature does not verify",
        ),
        (
            path.clone(),
            vec![],
            opened.clone(),
            403,
            "Forbidden: the webhook's signature does not verify",
        ),
        (
            path.clone(),
            vec![("x-hub-signature-256".into(), signed(b"{not json"))],
            b"{not json".to_vec(),
            400,
            "Bad Request: body is not valid JSON",
        ),
        (
            format!("/{}/{}/hooks/no-such-{}", t.app, t.token, t.nanos),
            vec![("x-hub-signature-256".into(), signed(&opened))],
            opened.clone(),
            404,
            "Not Found: this app has no such source",
        ),
        (
            format!("/{}/wrong-token/hooks/{}", t.app, t.github),
            vec![("x-hub-signature-256".into(), signed(&opened))],
            opened.clone(),
            404,
            "Channel or token not found",
        ),
    ];
    for (path, headers, body, status, description) in cases {
        let mut all: Vec<(&str, &str)> = vec![("x-github-event", "pull_request")];
        all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (got, answer, _) = stack
            .request_bytes("POST", &path, &body, &all)
            .await
            .unwrap();
        assert_eq!(
            (got, answer),
            (
                status,
                json!({"ok": false, "error_code": status, "description": description})
            ),
            "{path}"
        );
    }
    assert!(
        stack.aws.queued_jobs().await.unwrap().is_empty(),
        "a refused request queued a job"
    );

    let poller = tokio::spawn(stack.delivery_poller().await.run());
    let ours = |messages: &[ReceivedMessage]| {
        messages
            .iter()
            .filter(|m| m.chat_id == t.room)
            .cloned()
            .collect::<Vec<_>>()
    };

    // The pull request opens: one message.
    let signature = signed(&opened);
    let mut headers = pr_event.to_vec();
    headers.push(("x-hub-signature-256", signature.as_str()));
    let (status, answer, _) = stack
        .request_bytes("POST", &path, &opened, &headers)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    let first = wait_for(&stack, "the pull request's message", |messages| {
        ours(messages)
            .into_iter()
            .find(|m| m.text.contains("PR #1347 opened"))
    })
    .await;
    assert!(first
        .text
        .contains("https://github.com/kestrel-labs/ledger-api/pull/1347"));

    // It is merged: the same message is edited, and a reply says it resolved. This one
    // authenticates with a Bearer token instead of the path's.
    let signature = signed(&closed);
    let bearer = format!("Bearer {}", t.token);
    let mut headers = pr_event.to_vec();
    headers.push(("x-hub-signature-256", signature.as_str()));
    headers.push(("authorization", bearer.as_str()));
    let (status, answer, _) = stack
        .request_bytes(
            "POST",
            &format!("/webhooks/{}/hooks/{}", t.app, t.github),
            &closed,
            &headers,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    let edited = wait_for(&stack, "the merged edit", |messages| {
        ours(messages)
            .into_iter()
            .find(|m| m.message_id == first.message_id && m.text.contains("merged"))
    })
    .await;
    assert_eq!(edited.edits.len(), 1);
    assert!(edited.edits[0].text.contains("PR #1347 opened"));
    let reply = wait_for(&stack, "the resolved reply", |messages| {
        ours(messages).into_iter().find(|m| {
            m.reply_to_message_id.as_deref() == Some(first.message_id.as_str())
                && m.text.starts_with("✅ Resolved")
        })
    })
    .await;
    assert!(reply.text.contains("PR #1347"), "{}", reply.text);

    // A Standard Webhooks sender's retry (same webhook-id) is answered as the first time and
    // posts nothing more.
    let body = br#"{"service": "ledger", "version": "v2.41.0", "env": "prod"}"#;
    let sent_at = now().to_string();
    let id = format!("msg_{}", t.nanos);
    let signature = standard_signature(standard_secret, &id, now(), body);
    let deploys = format!("/{}/{}/hooks/{}", t.app, t.token, t.deploys);
    let headers = [
        ("webhook-id", id.as_str()),
        ("webhook-timestamp", sent_at.as_str()),
        ("webhook-signature", signature.as_str()),
    ];
    let (status, first_answer, _) = stack
        .request_bytes("POST", &deploys, body, &headers)
        .await
        .unwrap();
    assert_eq!(status, 200, "{first_answer}");
    let (status, again, replayed) = stack
        .request_bytes("POST", &deploys, body, &headers)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(again["context"]["id"], first_answer["context"]["id"]);
    assert_eq!(replayed["idempotent-replayed"], "true");
    wait_for(&stack, "the deploy message", |messages| {
        ours(messages)
            .into_iter()
            .find(|m| m.text == "🚀 ledger v2.41.0 → prod")
    })
    .await;
    // A timestamp from an hour ago is a replay: refused.
    let stale = (now() - 3600).to_string();
    let old_signature = standard_signature(standard_secret, &id, now() - 3600, body);
    let (status, _, _) = stack
        .request_bytes(
            "POST",
            &deploys,
            body,
            &[
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", stale.as_str()),
                ("webhook-signature", old_signature.as_str()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, 403);

    tokio::time::sleep(Duration::from_millis(500)).await;
    // The pull request's message, its reply, and the deploy: nothing else was posted.
    assert_eq!(ours(&stack.fchat.messages()).len(), 3);
    let denials = stack.aws.gate.denials();
    assert!(denials.is_empty(), "{denials:?}");
    poller.abort();
}
