//! The public API against its description, `docs/openapi.yaml`: schemathesis (from `.venv`)
//! generates requests from the document, valid and invalid, sends them to the local stack (the
//! real `ingest` and `callback` binaries behind the local API gateway, on moto) and checks that
//! every answer is one the document gives (status, content type, headers, body) and that none
//! is a server error. The app it sends as, its group and its user are made up for each run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fchat_local::harness::{sibling_binary, Stack, LOCAL_CALLBACK_SECRET};
use fchat_local::seed::{Seed, SeedApp, SeedGroup, SeedUser};
use gateway::credentials::generate_token;
use gateway::ports::AppStore;

/// Test cases per operation and phase (`OPENAPI_MAX_EXAMPLES` for a longer run): the run
/// takes under a minute.
const MAX_EXAMPLES: u32 = 50;
/// Whatever happens, the run is stopped after this long (`OPENAPI_MAX_EXAMPLES` lifts it).
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The checks: every answer conforms to the document, none is a 5xx; invalid input is refused,
/// valid input accepted; methods a route does not have get a 405 with `Allow`; the callback
/// route refuses requests without its secret.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
positive_data_acceptance,missing_required_header,unsupported_method,allow_header_conformance,\
ignored_auth";

fn schemathesis() -> PathBuf {
    std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fchat_local::workspace_root().join(".venv/bin/st"))
}

/// A word of `n` random URL-safe characters.
fn random(n: usize) -> String {
    generate_token().chars().take(n).collect()
}

/// TOML's basic strings are JSON's strings.
fn toml_string(value: &str) -> String {
    serde_json::to_string(value).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_of_the_running_api_is_one_its_openapi_document_gives() {
    let st = schemathesis();
    assert!(
        st.exists(),
        "{} not found: run `make venv` (or set SCHEMATHESIS)",
        st.display()
    );
    // GIVEN an app allowed to message users, with an active group that has an FChat group,
    // and a user FChat knows, all with names made up for this run.
    let (app, token, group) = (
        format!("app-{}", random(8)),
        generate_token(),
        format!("group-{}", random(8)),
    );
    let email = format!("user.{}@example.com", random(8).to_lowercase());
    let seed = Seed {
        groups: vec![SeedGroup {
            id: group.clone(),
            beatchat_id: Some(format!("bc-{}", random(8))),
            active: true,
            name: None,
        }],
        apps: vec![SeedApp {
            name: app.clone(),
            token: token.clone(),
            group: Some(group),
            user_messaging: true,
            webhook_url: None,
            webhook_secret: None,
            context_ttl_seconds: None,
            delivery_window_seconds: None,
        }],
        users: vec![SeedUser {
            email: email.clone(),
            fchat_id: format!("fchat-{}", random(8)),
            name: None,
        }],
    };
    let ingest = Path::new(env!("CARGO_BIN_EXE_ingest"));
    let stack = Stack::start(
        &[
            ("ingest", ingest),
            ("callback", &sibling_binary(ingest, "callback")),
        ],
        &seed,
    )
    .await
    .expect("the local stack starts (run `make venv` first)");

    // The app has one custom source, as `app add-source` makes it: any JSON object renders.
    let source = format!("src-{}", random(6).to_lowercase());
    let store = stack.aws.store();
    let mut stored = store.app_by_name(&app).await.unwrap().unwrap();
    stored.hooks.insert(
        source.clone(),
        gateway::domain::sources::hooks::HookSource {
            name: source.clone(),
            template: "{{ body | tojson }}".into(),
            verify: None,
            group_by: None,
            resolved_when: None,
        },
    );
    gateway::ports::AppStore::put_app(&store, &stored)
        .await
        .unwrap();

    // schemathesis sends as that app (its name and token in every path that has them), gives
    // the callback route its secret, and sometimes sends to the user FChat knows.
    let dir = std::env::temp_dir().join(format!("fchat-openapi-{}", random(12)));
    std::fs::create_dir_all(&dir).unwrap();
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_hooks.py");
    let config = format!(
        r#"hooks = {hooks}

[parameters]
"path.app_name" = {app}
"path.token" = {token}
"path.source" = {source}
"header.x-api-key" = {token}
"body.email" = {{ dictionary = "emails", probability = 0.5 }}

[dictionaries.emails]
values = [{email}]

[auth.openapi.FChatSecret]
api_key = {secret}

# Valid input may still be refused for what it is, as the document says: an address FChat does
# not know or a message id that is none of the app's (404), an Idempotency-Key used before with
# another body (422), a message that cannot change (409: an alert group's, or not delivered) or
# that is deleted (410).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "410", "422"]

# SNS's deliveries are signed by SNS: a body made up here never verifies (403), and any URL
# it names is fetched only from SNS's hosts. src/services/aws_sources.rs and tests/aws_routes.rs
# test that route with messages signed by the tests' own key.
[[operations]]
include-path = "/{{app_name}}/{{token}}/sns"
enabled = false

# Whatever no route matches answers 404 with any method, QUERY included: it has no 405.
[[operations]]
include-path = "/"
phases.coverage.unexpected-methods = []
"#,
        hooks = toml_string(&hooks.display().to_string()),
        app = toml_string(&app),
        token = toml_string(&token),
        source = toml_string(&source),
        email = toml_string(&email),
        secret = toml_string(LOCAL_CALLBACK_SECRET),
    );
    std::fs::write(dir.join("schemathesis.toml"), config).unwrap();

    // WHEN schemathesis runs the document against the stack.
    let (max_examples, limit) = match std::env::var("OPENAPI_MAX_EXAMPLES") {
        Ok(n) => (n, Duration::from_secs(3600)),
        Err(_) => (MAX_EXAMPLES.to_string(), RUN_LIMIT),
    };
    let document = fchat_local::workspace_root().join("docs/openapi.yaml");
    let run = tokio::process::Command::new(&st)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .arg("run")
        .arg(&document)
        .args(["--url", &stack.api])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &max_examples])
        .args(["--workers", "1", "--request-timeout", "15"])
        .args([
            "--generation-database",
            "none",
            "--warnings",
            "off",
            "--no-color",
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran for more than {limit:?}"))
        .expect("schemathesis starts");
    std::fs::remove_dir_all(&dir).ok();

    // THEN every check passed.
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found answers the document does not give ({}):\n{report}",
        output.status
    );
    println!("{report}");
}
