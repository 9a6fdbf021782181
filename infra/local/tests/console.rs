//! The console in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `make chromium`) drives the page over the DevTools protocol against the whole local stack
//! (the real `ingest`, `delivery` and `callback` binaries, moto, the FChat simulator, an app's
//! webhook on the demo receiver). Sends a message with buttons from the page's form, sees it in
//! the user's chat, clicks "Yes" and sees the click arrive in the webhook inspector with its
//! signature verified; writes as the user and sees the app's bot reply in the chat and linked
//! from its event in the inspector; sees both messages sent in the Delivery tab; makes FChat
//! refuse the next send with a fault switch and sees the next message failed in the chat, with
//! FChat's answer. Leaves a screenshot in `target/console.png`.
//!
//! Also: the console's own routes answer bad requests in the contract's error format.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use fchat_local::console::{Console, ConsoleApp, ConsoleConfig};
use fchat_local::harness::Stack;
use fchat_local::seed::{Seed, SeedApp, SeedGroup, SeedUser};
use fchat_simulator::receiver::{Receiver, ReceiverApp, ReceiverConfig};
use futures_util::StreamExt;
use serde_json::{json, Value};

/// The whole test's bound: the stack starts in seconds, the browser in one or two.
const TEST_LIMIT: Duration = Duration::from_secs(180);
/// How long the page may take to show what a step expects.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// Names this run invents: nothing depends on the seed's or any other fixture's names.
struct Names {
    app: String,
    token: String,
    secret: String,
    email: String,
    user_id: String,
    user_name: String,
    text: String,
    reply: String,
    refused: String,
}

impl Names {
    fn invent() -> Names {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let short = &run[..8];
        Names {
            app: format!("approvals-{short}"),
            token: format!("tok{run}"),
            secret: gateway::credentials::generate_webhook_secret(),
            email: format!("reviewer.{short}@example.com"),
            user_id: format!("fchat-{short}"),
            user_name: format!("Reviewer {short}"),
            text: format!("Approve deployment {short}?"),
            reply: format!("Ship {short} after lunch"),
            refused: format!("Rollback {short}?"),
        }
    }
}

fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|path| path.is_file())
        .expect("no chromium on the PATH: run `make chromium` (make test does)")
}

/// `target/`, where the test binary was built (`target/debug/deps/console-...`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
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

/// Clicks the element `selector` finds, as a mouse would.
async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
        .click()
        .await
        .unwrap();
}

async fn evaluate(page: &Page, expression: &str) -> Value {
    page.evaluate(expression)
        .await
        .unwrap()
        .into_value()
        .unwrap_or(Value::Null)
}

/// A string as a JavaScript literal.
fn js(text: &str) -> String {
    json!(text).to_string()
}

#[tokio::test]
async fn a_message_sent_from_the_page_is_clicked_and_the_click_reaches_the_webhook_signed() {
    tokio::time::timeout(TEST_LIMIT, round_trip())
        .await
        .expect("the round trip finished in time");
}

async fn round_trip() {
    let names = Names::invent();
    // GIVEN an app whose webhook is the demo receiver, which knows its secret.
    let receiver = Receiver::on_loopback(ReceiverConfig {
        apps: vec![ReceiverApp {
            name: names.app.clone(),
            secrets: vec![names.secret.clone()],
        }],
        // A bot: a user's message is answered "You said: ...".
        echo: true,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let group = format!("team-{}", &names.user_id[6..]);
    let seed = Seed {
        groups: vec![SeedGroup {
            id: group.clone(),
            beatchat_id: Some(format!("room-{group}")),
            active: true,
            name: None,
        }],
        apps: vec![SeedApp {
            name: names.app.clone(),
            token: names.token.clone(),
            group: Some(group),
            user_messaging: true,
            webhook_url: Some(receiver.app_url(&names.app)),
            webhook_secret: Some(names.secret.clone()),
            context_ttl_seconds: None,
            delivery_window_seconds: None,
        }],
        users: vec![SeedUser {
            email: names.email.clone(),
            fchat_id: names.user_id.clone(),
            name: Some(names.user_name.clone()),
        }],
    };
    // AND the whole stack, with its delivery queue polled, and the console in front of it.
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
                name: names.app.clone(),
                token: names.token.clone(),
                webhook_secrets: vec![names.secret.clone()],
            }],
        },
    )
    .await
    .unwrap();

    // AND headless Chromium on the console's page.
    let profile = std::env::temp_dir().join(format!("fchat-console-{}", names.user_id));
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
    let page = browser.new_page(console.url()).await.unwrap();

    // WHEN the page's form sends a message with Yes and No buttons to the user.
    wait_for(
        &page,
        "the app in the form",
        &format!(
            "[...document.querySelectorAll('#send-app option')].some(o => o.value === {})",
            js(&names.app)
        ),
    )
    .await;
    evaluate(
        &page,
        &format!(
            "document.getElementById('send-app').value = {app};
             document.getElementById('send-email').value = {email};
             document.getElementById('send-text').value = '';
             document.getElementById('send-buttons').value = 'Yes = yes | No = no';
             true",
            app = js(&names.app),
            email = js(&names.email)
        ),
    )
    .await;
    page.find_element("#send-text")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(&names.text)
        .await
        .unwrap();
    click(&page, "#send-submit").await;
    wait_for(
        &page,
        "the send API's answer",
        "document.getElementById('send-result').textContent.startsWith('Queued')",
    )
    .await;

    // THEN it shows in the user's chat, with its buttons, once delivered.
    let in_chat = format!(
        "[...document.querySelectorAll('#messages .msg')].find(m =>
            m.querySelector('.text').textContent === {text} &&
            m.querySelector('.status.sent') &&
            [...m.querySelectorAll('button.kb')].map(b => b.textContent).join() === 'Yes,No')",
        text = js(&names.text)
    );
    wait_for(
        &page,
        "the message in the user's chat, sent",
        &format!(
            "document.querySelector('#chat-list [aria-current=\"true\"]')?.dataset.chat === {user}
             && Boolean({in_chat})",
            user = js(&names.user_id)
        ),
    )
    .await;
    let message_id = evaluate(&page, &format!("({in_chat}).dataset.messageId")).await;
    let message_id = message_id.as_str().unwrap().to_owned();
    let delivered = stack.fchat.messages();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].message_id, message_id);
    assert_eq!(delivered[0].chat_id, names.user_id);
    assert_eq!(delivered[0].text, names.text);

    // WHEN the user clicks "Yes" on the page.
    page.find_element(format!(
        "#messages .msg[data-message-id={}] button.kb[data-button=\"0\"]",
        js(&message_id)
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();

    // THEN the click shows in the chat, answered by the gateway,
    wait_for(
        &page,
        "the click in the chat",
        "[...document.querySelectorAll('#messages .click-note')].some(n =>
            n.textContent.includes('clicked “Yes”') && n.textContent.includes('gateway 200'))",
    )
    .await;
    // AND it arrives in the webhook inspector with its signature verified by the console.
    click(&page, "#tab-inspector").await;
    wait_for(
        &page,
        "the click in the webhook inspector, verified",
        &format!(
            "[...document.querySelectorAll('#events .event[data-event=\"callback_query\"]')].some(e =>
                e.dataset.verdict === 'verified' && e.textContent.includes({app})
                && e.textContent.includes('answered 200'))",
            app = js(&names.app)
        ),
    )
    .await;
    let received = receiver.events();
    assert_eq!(received.len(), 1, "{received:?}");
    let clicked = received[0].clone();
    assert!(clicked.verified, "the receiver's own check agrees");
    assert_eq!(clicked.body["event"], "callback_query");
    let data: Value = serde_json::from_str(
        clicked.body["message"]["callback_query"]["data"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data, json!({"action": "confirm", "data": "yes"}));

    // WHEN the user writes in the chat from the page's composer,
    page.find_element("#compose-text")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(&names.reply)
        .await
        .unwrap()
        .press_key("Enter")
        .await
        .unwrap();
    // THEN the message shows as the user's, and the app's bot answer (the echo) as the bot's,
    wait_for(
        &page,
        "the user's message and the bot's reply in the chat",
        &format!(
            "[...document.querySelectorAll('#messages .msg.me .text')].some(t => t.textContent === {mine})
             && [...document.querySelectorAll('#messages .msg:not(.me)')].some(m =>
                m.querySelector('.text').textContent === {echo} && m.querySelector('.status.sent'))",
            mine = js(&names.reply),
            echo = js(&format!("You said: {}", names.reply))
        ),
    )
    .await;
    // AND the inspector links the event to the bot reply it caused.
    wait_for(
        &page,
        "the message event with its bot reply in the inspector",
        &format!(
            "[...document.querySelectorAll('#events .event[data-event=\"message\"]')].some(e =>
                e.dataset.verdict === 'verified' && e.textContent.includes('bot reply: m-')
                && e.textContent.includes({echo}))",
            echo = js(&format!("You said: {}", names.reply))
        ),
    )
    .await;
    assert_eq!(receiver.events().len(), 2);

    // The Delivery tab lists both messages as the status route has them.
    click(&page, "#tab-delivery").await;
    wait_for(
        &page,
        "both messages sent in the Delivery tab",
        "[...document.querySelectorAll('#deliveries tr[data-context]')].filter(r =>
            r.querySelector('.status.sent') && r.textContent.includes('m-')).length === 2",
    )
    .await;

    // WHEN a fault switch in the Faults tab makes FChat refuse the next send for good,
    click(&page, "#tab-faults").await;
    click(&page, "#fault-fail").await;
    evaluate(
        &page,
        "document.getElementById('fault-fail-next').value = '1';
         document.getElementById('fault-fail-status').value = '400'; true",
    )
    .await;
    click(&page, "#faults-form button[type=submit]").await;
    wait_for(
        &page,
        "the failure pending",
        "document.getElementById('faults-now').textContent.includes('1 failures (400) pending')",
    )
    .await;
    let faults = stack.fchat.faults();
    assert_eq!((faults.fail_next, faults.fail_status), (1, 400));
    // AND the form sends another message,
    click(&page, "#tab-send").await;
    evaluate(
        &page,
        &format!(
            "document.getElementById('send-text').value = {text};
             document.getElementById('send-buttons').value = ''; true",
            text = js(&names.refused)
        ),
    )
    .await;
    click(&page, "#send-submit").await;
    // THEN the chat shows it as failed, with FChat's answer, though FChat does not have it.
    wait_for(
        &page,
        "the refused message in the chat, failed",
        &format!(
            "[...document.querySelectorAll('#messages .msg.pending')].some(m =>
                m.querySelector('.text').textContent === {text}
                && m.querySelector('.status.failed') && m.querySelector('.error').textContent.includes('400'))",
            text = js(&names.refused)
        ),
    )
    .await;
    assert_eq!(stack.fchat.messages().len(), 2);
    // AND "Back to normal" turns every switch off.
    click(&page, "#tab-faults").await;
    click(&page, "#faults-reset").await;
    wait_for(
        &page,
        "FChat back to normal",
        "document.getElementById('faults-now').textContent.includes('behaves normally')",
    )
    .await;
    // The page may read "normal" once the refused send used the switch up: the reset itself
    // reaches the simulator a moment later.
    let reset = Instant::now();
    while stack.fchat.faults() != fchat_simulator::Faults::default()
        && reset.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stack.fchat.faults(), fchat_simulator::Faults::default());
    // AND the rate-limit switch turns FChat's limits on, and the page shows them.
    click(&page, "#limits-on").await;
    wait_for(
        &page,
        "the rate limits on",
        "document.getElementById('limits-now').textContent.includes('20/min per group')",
    )
    .await;
    assert!(stack.fchat.limits().enabled);
    click(&page, "#limits-on").await;
    wait_for(
        &page,
        "the rate limits off",
        "document.getElementById('limits-now').textContent.includes('off')",
    )
    .await;
    assert!(!stack.fchat.limits().enabled);
    click(&page, "#tab-inspector").await;

    // The screenshot shows the chat and the inspector with the click's event opened.
    evaluate(
        &page,
        "document.querySelector('#events .event[data-event=\"callback_query\"] details').open = true; true",
    )
    .await;
    let screenshot = target_dir().join("console.png");
    page.save_screenshot(ScreenshotParams::builder().build(), &screenshot)
        .await
        .unwrap();
    println!("screenshot: {}", screenshot.display());

    browser.close().await.ok();
    browser.wait().await.ok();
    events.abort();
    poller.abort();
    std::fs::remove_dir_all(&profile).ok();
}

/// One request to the console (as its page sends them: JSON); answers the status and the
/// JSON body.
async fn console_call(url: &str, method: &str, body: &str) -> (u16, Value) {
    console_call_with(url, method, body, &[("content-type", "application/json")]).await
}

async fn console_call_with(
    url: &str,
    method: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_consoles_routes_refuse_bad_requests_clearly_and_survive_a_stack_that_is_down() {
    let names = Names::invent();
    // Nothing listens where the console looks for the stack.
    let nowhere = "http://127.0.0.1:9".to_owned();
    let console = Console::start(
        ([127, 0, 0, 1], 0).into(),
        ConsoleConfig {
            api: nowhere.clone(),
            simulator: nowhere.clone(),
            receiver: Some(nowhere),
            functions: None,
            apps: vec![ConsoleApp {
                name: names.app.clone(),
                token: names.token.clone(),
                webhook_secrets: vec![],
            }],
        },
    )
    .await
    .unwrap();
    let base = console.url();

    let (status, page) = console_call(&base, "GET", "").await;
    assert_eq!((status, page), (200, Value::Null), "the page is HTML");
    // The state still answers, each missing part saying why; the token is never in it.
    let (status, state) = console_call(&format!("{base}/api/state"), "GET", "").await;
    assert_eq!(status, 200);
    assert_eq!(state["apps"], json!([{"name": names.app, "signed": false}]));
    assert!(!state.to_string().contains(&names.token));
    let problems = state["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 7, "{problems:?}");
    assert!(problems
        .iter()
        .all(|p| p.as_str().unwrap().contains("127.0.0.1:9")));

    let error = |code: u16, description: &str| json!({"ok": false, "error_code": code, "description": description});
    let send = format!("{base}/api/send");
    let (status, answer) = console_call(&send, "POST", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["error_code"], 400);
    let unknown = json!({"app": format!("{}-other", names.app), "text": "hi"}).to_string();
    assert_eq!(
        console_call(&send, "POST", &unknown).await,
        (
            400,
            error(
                400,
                "Bad Request: the console does not know this app's token: give it"
            )
        )
    );
    let known = json!({"app": names.app, "text": "hi"}).to_string();
    let (status, answer) = console_call(&send, "POST", &known).await;
    assert_eq!(status, 502);
    assert!(answer["description"]
        .as_str()
        .unwrap()
        .starts_with("Bad Gateway: the send API at http://127.0.0.1:9: "));
    assert!(!answer.to_string().contains(&names.token), "{answer}");
    let (status, _) = console_call(&send, "POST", &"x".repeat(100_000)).await;
    assert_eq!(status, 413);
    assert_eq!(
        console_call(&format!("{base}/api/faults"), "PUT", "[1]").await,
        (400, error(400, "Bad Request: faults are an object"))
    );
    assert_eq!(
        console_call(&format!("{base}/api/limits"), "PUT", "\"on\"").await,
        (400, error(400, "Bad Request: limits are an object"))
    );
    assert_eq!(
        console_call(&send, "GET", "").await,
        (405, error(405, "Method Not Allowed"))
    );
    assert_eq!(
        console_call(&format!("{base}/api/elsewhere"), "GET", "").await,
        (404, error(404, "Not Found"))
    );
    // Another site's form (no JSON content type) and DNS rebinding (another host) get nothing.
    let form = [("content-type", "text/plain")];
    assert_eq!(console_call_with(&send, "POST", &known, &form).await.0, 415);
    let rebound = [
        ("content-type", "application/json"),
        ("host", "attacker.example:9003"),
    ];
    assert_eq!(
        console_call_with(&format!("{base}/api/state"), "GET", "", &rebound)
            .await
            .0,
        403
    );
    let root = base.trim_end_matches("/_console");
    assert_eq!(
        console_call(root, "GET", "").await,
        (404, error(404, "Not Found"))
    );
}
