//! The real `ingest` binary held to its policy in `template.yaml` by the local stack's IAM
//! gate: with a statement taken out of a copy of the template, the flow it covers fails with
//! AWS's AccessDenied, and nothing is queued.

use std::path::{Path, PathBuf};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use serde_json::json;

/// A seed with names of this run's own: an app sending to a group and to users.
fn seed(dir: &Path) -> (Seed, String, String) {
    let n = std::process::id() % 10_000;
    let app = format!("billing-{n}");
    let token = format!("tok.{n}-{}", n * 7 + 3);
    let text = json!({
        "groups": [{"id": format!("grp-{n}"), "beatchat_id": format!("room-{n}"), "active": true}],
        "apps": [{"name": app, "token": token, "group": format!("grp-{n}"), "user_messaging": true}],
        "users": [{"email": format!("ops{n}@example.org"), "fchat_id": format!("fc-{n}")}]
    });
    let path = dir.join("seed.json");
    std::fs::write(&path, text.to_string()).unwrap();
    (Seed::load(&path).unwrap(), app, token)
}

/// `template.yaml` without the statement `sid` of the function `function`.
fn template_without(dir: &Path, function: &str, sid: &str) -> PathBuf {
    let text =
        std::fs::read_to_string(fchat_local::workspace_root().join("template.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start_of_function = lines
        .iter()
        .position(|l| *l == format!("  {function}:"))
        .unwrap_or_else(|| panic!("no {function} in template.yaml"));
    let start = start_of_function
        + lines[start_of_function..]
            .iter()
            .position(|l| l.trim() == format!("- Sid: {sid}"))
            .unwrap_or_else(|| panic!("{function} has no statement {sid}"));
    let indent = lines[start].len() - lines[start].trim_start().len();
    let end = start
        + 1
        + lines[start + 1..]
            .iter()
            .position(|l| {
                let own = l.len() - l.trim_start().len();
                let comment_or_item =
                    l.trim_start().starts_with('#') || l.trim_start().starts_with("- ");
                !l.trim().is_empty() && (own < indent || (own == indent && comment_or_item))
            })
            .unwrap();
    let kept: Vec<&str> = lines[..start]
        .iter()
        .chain(&lines[end..])
        .copied()
        .collect();
    assert_eq!(kept.len() + (end - start), lines.len());
    let path = dir.join(format!("template-without-{sid}.yaml"));
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    path
}

async fn stack(template: &Path, seed: &Seed) -> Stack {
    let (aws, fchat) = Stack::start_services_with_template(seed, template)
        .await
        .expect("the local stack starts (run `make venv` first)");
    Stack::start_functions(
        aws,
        fchat,
        &[("ingest", Path::new(env!("CARGO_BIN_EXE_ingest")))],
        Default::default(),
    )
    .await
    .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fchat-iam-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn without_its_queue_statement_ingest_is_refused_by_sqs_and_queues_nothing() {
    let dir = scratch("queue");
    let (seed, app, token) = seed(&dir);
    let send = format!("/{app}/{token}");
    let body = json!({"text": "disk 91% on db-7"});

    // The template as it is: accepted and queued.
    let full = stack(&fchat_local::workspace_root().join("template.yaml"), &seed).await;
    let (status, answer) = full.post(&send, &body).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(full.aws.queued_jobs().await.unwrap().len(), 1);
    assert!(
        full.aws.gate.denials().is_empty(),
        "{:?}",
        full.aws.gate.denials()
    );
    drop(full);

    // Without QueueJobs: SQS refuses ingest's SendMessage, as AWS would.
    let template = template_without(&dir, "IngestFunction", "QueueJobs");
    let cut = stack(&template, &seed).await;
    let (status, answer) = cut.post(&send, &body).await.unwrap();
    assert!(status >= 500, "{status} {answer}");
    assert_eq!(answer["ok"], false, "{answer}");
    let denials = cut.aws.gate.denials();
    assert!(
        denials.iter().any(|d| d.action == "sqs:SendMessage"
            && d.resource.ends_with(":DeliveryQueue.fifo")
            && d.principal.contains("IngestFunctionRole")),
        "{denials:?}"
    );
    assert!(cut.aws.queued_jobs().await.unwrap().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn without_its_index_statement_ingest_cannot_find_an_app_by_token() {
    let dir = scratch("index");
    let (seed, _app, token) = seed(&dir);
    let template = template_without(&dir, "IngestFunction", "FindAppsByToken");
    let stack = stack(&template, &seed).await;
    let n = std::process::id() % 10_000;
    let (status, answer) = stack
        .post(
            &format!("/{token}/fchat"),
            &json!({"email": format!("ops{n}@example.org"), "text": "hi"}),
        )
        .await
        .unwrap();
    assert!(status >= 500, "{status} {answer}");
    let denials = stack.aws.gate.denials();
    assert!(
        denials
            .iter()
            .any(|d| d.action == "dynamodb:Query" && d.resource.contains("/index/by-")),
        "{denials:?}"
    );
    assert!(stack.aws.queued_jobs().await.unwrap().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
