//! Every kind of EMF document the services write, checked against the Embedded Metric Format
//! specification: its rules (`gateway::metrics::spec`) and its JSON schema
//! (`fixtures/emf/schema.json`, with Python's `jsonschema` from `.venv`).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use gateway::api::error::ApiError;
use gateway::domain::sources::alert_thread::ThreadAction;
use gateway::domain::Target;
use gateway::metrics::catalogue::ALL;
use gateway::metrics::{events, spec, Capture};
use gateway::ports::WebhookOutcome;
use serde_json::Value;

/// Every event the services report, once each way.
fn every_kind_of_document() -> Vec<String> {
    let capture = Capture::start();
    let app = Some("billing-ệ");
    events::request::<ApiError>("group_message", "queued", None, app);
    events::request::<ApiError>("user_message", "replayed", None, app);
    events::request::<ApiError>("alertmanager", "queued", None, app);
    events::request(
        "user_message",
        "rejected",
        Some(&ApiError::UserNotFound("a@b.co".into())),
        app,
    );
    events::request("sns", "rejected", Some(&ApiError::SnsSignatureInvalid), app);
    events::request::<ApiError>("unknown", "rejected", Some(&ApiError::RouteNotFound), None);
    events::request::<ApiError>("message_status", "answered", None, app);
    events::sns_confirmed("billing-ệ");
    let source = events::source(&Target::User("a@b.co".into()), false);
    events::delivered(source, 1_800_000_000, "billing-ệ", "c-1");
    for (throttled, storage) in [(true, false), (false, true), (false, false)] {
        events::will_retry(throttled, storage, "billing-ệ", "c-2");
    }
    events::failed("billing-ệ", "c-3");
    events::expired("billing-ệ", "c-4");
    events::dead_lettered("unreadable", None);
    events::dead_lettered("forward_exhausted", app);
    for action in [
        ThreadAction::Post,
        ThreadAction::Edit { reply: true },
        ThreadAction::Reply,
        ThreadAction::Remind,
        ThreadAction::Nothing,
        ThreadAction::Stale,
    ] {
        events::alert_action(&action);
    }
    for outcome in [
        WebhookOutcome::Delivered {
            status: 200,
            body: vec![],
        },
        WebhookOutcome::Failed("503".into()),
        WebhookOutcome::Gone,
        WebhookOutcome::Refused("http".into()),
    ] {
        events::webhook(&outcome, Duration::from_millis(42), "billing-ệ");
    }
    events::bot_reply("billing-ệ");
    events::silence_created();
    capture.lines()
}

#[tokio::test]
async fn every_document_follows_the_specification() {
    gateway::metrics::init("delivery");
    let lines = every_kind_of_document();
    let mut seen = BTreeSet::new();
    for line in &lines {
        let document = spec::check_line(line).unwrap_or_else(|why| panic!("{why}: {line}"));
        assert_eq!(document["Function"], "delivery");
        for directive in document["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], "FChatGateway");
            for metric in directive["Metrics"].as_array().unwrap() {
                seen.insert(metric["Name"].as_str().unwrap().to_owned());
            }
        }
        // The app is a field, never a dimension.
        let dimensions = document["_aws"].to_string();
        assert!(!dimensions.contains("billing"), "{line}");
    }
    let all: BTreeSet<String> = ALL.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(seen, all, "every metric, in some document");
    // A status request accepted nothing: no document.
    assert_eq!(lines.len(), 6 + 1 + 1 + 3 + 1 + 1 + 2 + 6 + 4 + 2);
    // A refusal names the catalogue's entry, not what it carries.
    let refused: Value = serde_json::from_str(&lines[3]).unwrap();
    assert_eq!(refused["Reason"], "UserNotFound");
    assert!(!lines[3].contains("a@b.co"));

    // The published schema, with an independent validator.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../.venv/bin/python");
    assert!(python.exists(), "run `make venv` first");
    let checked = std::process::Command::new(python)
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             lines = [l for l in sys.stdin.read().split('\\n') if l]\n\
             for line in lines: jsonschema.validate(json.loads(line), schema)\n\
             print(len(lines))",
        )
        .arg(root.join("tests/fixtures/emf/schema.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    checked
        .stdin
        .as_ref()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    let output = checked.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        lines.len().to_string()
    );
}

#[test]
fn the_checker_refuses_what_the_specification_refuses() {
    let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Function"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"Function":"ingest","M":1}"#;
    spec::check_line(good).unwrap();
    for bad in [
        // nested under fields: no _aws at the root
        r#"{"fields":{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}}"#,
        r#"{"_aws":{"Timestamp":"1","CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[]}]}}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Function"]],"Metrics":[{"Name":"M"}]}]},"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Function"]],"Metrics":[{"Name":"M"}]}]},"Function":3,"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Requests"}]}]},"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":"1"}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"","Dimensions":[[]],"Metrics":[]}]}}"#,
        r#"prefix {"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}"#,
    ] {
        assert!(spec::check_line(bad).is_err(), "{bad}");
    }
}
