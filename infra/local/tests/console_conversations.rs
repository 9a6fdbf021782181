//! An approval flow in the console, in headless Chromium (Debian's `chromium`, as
//! `console.rs`), against the whole local stack: the page's form sends a single-use approval
//! to the app's group; a member clicks "Approve" on the page; the app's webhook answers with a
//! `notice` and an `edit`. The page shows the click with the notice its user saw, and the
//! message edited without its buttons; deleted through the send API, it shows deleted.
//! Every name is made up for the run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::Page;
use fchat_local::console::{Console, ConsoleApp, ConsoleConfig};
use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use fchat_simulator::receiver::{Receiver, ReceiverApp, ReceiverConfig};
use futures_util::StreamExt;
use serde_json::{json, Value};

const TEST_LIMIT: Duration = Duration::from_secs(180);
const STEP_LIMIT: Duration = Duration::from_secs(30);

fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|path| path.is_file())
        .expect("no chromium on the PATH: run `make chromium` (make test does)")
}

/// Evaluates `expression` in the page until it is `true`.
async fn wait_for(page: &Page, what: &str, expression: &str) {
    let started = Instant::now();
    loop {
        let value: Value = page
            .evaluate(expression)
            .await
            .ok()
            .and_then(|result| result.into_value().ok())
            .unwrap_or(Value::Null);
        if value == Value::Bool(true) {
            return;
        }
        assert!(
            started.elapsed() < STEP_LIMIT,
            "the page did not show {what} within {STEP_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn evaluate(page: &Page, expression: &str) -> Value {
    page.evaluate(expression)
        .await
        .unwrap()
        .into_value()
        .unwrap_or(Value::Null)
}

async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
        .click()
        .await
        .unwrap();
}

/// A string as a JavaScript literal.
fn js(text: &str) -> String {
    json!(text).to_string()
}

#[tokio::test]
async fn the_console_shows_a_clicks_notice_the_edited_message_and_its_deletion() {
    tokio::time::timeout(TEST_LIMIT, approval_flow())
        .await
        .expect("the approval flow finished in time");
}

async fn approval_flow() {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let short = &run[..8];
    let (app, token) = (format!("releases-{short}"), format!("tk{run}"));
    let secret = gateway::credentials::generate_webhook_secret();
    let (room, email, member) = (
        format!("room-{short}"),
        format!("lead.{short}@corp.test"),
        format!("Lead {short}"),
    );
    let question = format!("Release {short} to production?");
    let answered = format!("Release {short}: approved by {email}");
    // GIVEN an app whose webhook (the demo receiver) answers a click with a notice and an edit.
    let receiver = Receiver::on_loopback(ReceiverConfig {
        apps: vec![ReceiverApp {
            name: app.clone(),
            secrets: vec![secret.clone()],
        }],
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    receiver.set_answer(
        200,
        Some(
            json!({"notice": "Approved, thanks", "edit": {"text": answered, "reply_markup": null}}),
        ),
    );
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": format!("team-{short}"), "beatchat_id": room}],
        "apps": [{"name": app, "token": token, "group": format!("team-{short}"),
                  "webhook_url": receiver.app_url(&app), "webhook_secret": secret}],
        "users": [{"email": email, "fchat_id": format!("fc-{short}"), "name": member}],
    }))
    .unwrap();
    let built = Path::new(env!("CARGO_BIN_EXE_fchat-local"));
    let stack = Stack::start_all(built, &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let poller = tokio::spawn(stack.delivery_poller().await.run());
    let console = Console::start(
        ([127, 0, 0, 1], 0).into(),
        ConsoleConfig {
            api: stack.api.clone(),
            simulator: stack.fchat.url(),
            receiver: Some(format!("http://{}", receiver.addr())),
            functions: None,
            apps: vec![ConsoleApp {
                name: app.clone(),
                token: token.clone(),
                webhook_secrets: vec![secret.clone()],
            }],
        },
    )
    .await
    .unwrap();
    let profile = std::env::temp_dir().join(format!("fchat-console-conversations-{short}"));
    let (mut browser, mut handler) = Browser::launch(
        BrowserConfig::builder()
            .chrome_executable(chromium())
            .no_sandbox()
            .user_data_dir(&profile)
            .window_size(1440, 900)
            .viewport(Viewport {
                width: 1440,
                height: 900,
                ..Viewport::default()
            })
            .build()
            .unwrap(),
    )
    .await
    .expect("chromium starts");
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = browser
        .new_page(format!("{}#chat={room}", console.url()))
        .await
        .unwrap();

    // WHEN the page's form sends a single-use approval to the app's group.
    wait_for(
        &page,
        "the app in the form",
        &format!(
            "[...document.querySelectorAll('#send-app option')].some(o => o.value === {})",
            js(&app)
        ),
    )
    .await;
    evaluate(
        &page,
        &format!(
            "document.getElementById('send-app').value = {app};
             document.getElementById('send-to-group').checked = true;
             document.getElementById('send-text').value = {question};
             document.getElementById('send-buttons').value = 'Approve = approve | Reject = reject';
             document.getElementById('send-single-use').checked = true;
             true",
            app = js(&app),
            question = js(&question)
        ),
    )
    .await;
    click(&page, "#send-submit").await;
    let in_chat = format!(
        "[...document.querySelectorAll('#messages .msg')].find(m =>
            m.querySelector('.text').textContent === {question} && m.querySelector('.status.sent') &&
            [...m.querySelectorAll('button.kb')].map(b => b.textContent).join() === 'Approve,Reject')",
        question = js(&question)
    );
    wait_for(
        &page,
        "the approval in the group, sent",
        &format!("Boolean({in_chat})"),
    )
    .await;
    let message_id = evaluate(&page, &format!("({in_chat}).dataset.messageId")).await;
    let message_id = message_id.as_str().unwrap().to_owned();

    // AND the member clicks "Approve" on the page.
    evaluate(
        &page,
        &format!(
            "document.getElementById('room-user').value = {}; true",
            js(&email)
        ),
    )
    .await;
    click(
        &page,
        &format!(
            "#messages .msg[data-message-id={}] button.kb[data-button=\"0\"]",
            js(&message_id)
        ),
    )
    .await;

    // THEN the click shows with the notice its user alone saw,
    wait_for(
        &page,
        "the click with its notice",
        "[...document.querySelectorAll('#messages .click-note')].some(n =>
            n.textContent.includes('clicked “Approve”') && n.querySelector('.notice')
            && n.querySelector('.notice').textContent.includes('“Approved, thanks”'))",
    )
    .await;
    // AND the message as the app's answer edited it: no buttons, marked edited.
    wait_for(
        &page,
        "the edited message",
        &format!(
            "(() => {{ const m = document.querySelector('#messages .msg[data-message-id=' + {id} + ']');
                return Boolean(m) && m.querySelector('.text').textContent === {answered}
                  && m.querySelectorAll('button.kb').length === 0 && Boolean(m.querySelector('.edited')); }})()",
            id = js(&format!("\"{message_id}\"")),
            answered = js(&answered)
        ),
    )
    .await;
    let clicks = stack.fchat.actions();
    let notice = clicks.last().and_then(|a| a.notice.clone()).unwrap();
    assert_eq!(notice.text, "Approved, thanks");
    assert_eq!(receiver.events().len(), 1);

    // WHEN the app deletes the message through the send API,
    let context = stack
        .fchat
        .messages()
        .into_iter()
        .find(|m| m.message_id == message_id)
        .and_then(|m| m.client_message_id)
        .unwrap();
    let (status, answer, _) = stack
        .request("DELETE", &format!("/{token}/messages/{context}"), None, &[])
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    // THEN the page shows it deleted.
    wait_for(
        &page,
        "the deleted message",
        &format!(
            "(() => {{ const m = document.querySelector('#messages .msg[data-message-id=' + {id} + ']');
                return Boolean(m) && m.dataset.deleted === 'true'
                  && m.querySelector('.text').textContent === 'This message was deleted.'; }})()",
            id = js(&format!("\"{message_id}\""))
        ),
    )
    .await;
    assert!(
        stack.aws.gate.denials().is_empty(),
        "{:?}",
        stack.aws.gate.denials()
    );

    browser.close().await.ok();
    events.abort();
    poller.abort();
    std::fs::remove_dir_all(&profile).ok();
}
