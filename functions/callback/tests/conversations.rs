//! Conversations end to end over real sockets: the real `ingest`, `callback` and `delivery`
//! binaries behind the local API gateway, on moto under the IAM gate, the delivery queue
//! polled as Lambda's event source polls it, the FChat simulator playing the chat's users and
//! the demo receiver playing the app's webhook. Every app, group, user and token is named anew
//! on each run.
//!
//! - a group approval on a single-use keyboard, two users clicking at once: one forward, one
//!   edit of the message, one "Already answered" notice;
//! - a webhook answer with `notice` and `edit`: the clicker sees the notice, the message is
//!   edited;
//! - edits and a deletion through the send API, one sent right after the send;
//! - bad edits and bad answers: a clear 4xx, or an answered click, and nothing changed.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fchat_local::harness::{sibling_binary, FunctionOptions, Stack};
use fchat_local::seed::Seed;
use fchat_simulator::receiver::{Receiver, ReceiverApp, ReceiverConfig};
use fchat_simulator::{ButtonRef, ReceivedMessage};
use serde_json::{json, Value};

const SECRET: &str = "whsec_Y29udmVyc2F0aW9ucy1hcmUtbm90LWZpeGVkLW9uY2Utc2VudA==";
/// How long a step may take to show.
const STEP_LIMIT: Duration = Duration::from_secs(30);

struct World {
    stack: Stack,
    app: Receiver,
    name: String,
    token: String,
    room: String,
    /// The group's members, as FChat knows them: (email, name).
    members: Vec<(String, String)>,
    _poller: tokio::task::JoinHandle<()>,
}

/// GIVEN an app of this run's own, its group with an FChat room, two members of the room and
/// the app's webhook on the demo receiver; the stack's functions two instances each, so that
/// two clicks are handled at once.
async fn world() -> World {
    let run = gateway::domain::new_context_id();
    let short = &run[..8];
    let name = format!("deploys-{short}");
    let token = format!("tk{run}");
    let group = format!("release-{short}");
    let room = format!("room-{short}");
    let members = vec![
        (format!("ana.{short}@corp.test"), format!("Ana {short}")),
        (format!("binh.{short}@corp.test"), format!("Bình {short}")),
    ];
    let app = Receiver::on_loopback(ReceiverConfig {
        apps: vec![ReceiverApp {
            name: name.clone(),
            secrets: vec![SECRET.into()],
        }],
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let users: Vec<Value> = members
        .iter()
        .enumerate()
        .map(|(i, (email, display))| json!({"email": email, "fchat_id": format!("fc-{short}-{i}"), "name": display}))
        .collect();
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": group, "beatchat_id": room}],
        "apps": [{"name": name, "token": token, "group": group, "user_messaging": true,
                  "webhook_url": app.app_url(&name), "webhook_secret": SECRET,
                  "context_ttl_seconds": 3600}],
        "users": users,
    }))
    .unwrap();
    let callback = Path::new(env!("CARGO_BIN_EXE_callback"));
    let (aws, fchat) = Stack::start_services(&seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let stack = Stack::start_functions_with(
        aws,
        fchat,
        &[
            ("ingest", &sibling_binary(callback, "ingest")),
            ("callback", callback),
            ("delivery", &sibling_binary(callback, "delivery")),
        ],
        HashMap::new(),
        FunctionOptions {
            max_instances: 2,
            ..FunctionOptions::default()
        },
    )
    .await
    .unwrap();
    stack.route_callbacks_here();
    let poller = tokio::spawn(stack.delivery_poller().await.run());
    World {
        stack,
        app,
        name,
        token,
        room,
        members,
        _poller: poller,
    }
}

impl World {
    /// THEN every function kept to its policy in `template.yaml`.
    fn assert_no_denials(&self) {
        let denials = self.stack.aws.gate.denials();
        assert!(denials.is_empty(), "{denials:?}");
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, answer, _) = self
            .stack
            .request(method, path, body.as_ref(), &[])
            .await
            .unwrap();
        (status, answer)
    }

    /// Sends into the app's group through the API; the context id.
    async fn send_to_group(&self, body: Value) -> String {
        let (status, answer) = self
            .call(
                "POST",
                &format!("/webhooks/{}/{}", self.name, self.token),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["context"]["id"].as_str().unwrap().to_owned()
    }

    async fn status(&self, id: &str) -> Value {
        let (status, answer) = self
            .call("GET", &format!("/{}/messages/{id}", self.token), None)
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["context"].clone()
    }

    /// Waits until the context's status satisfies `done`; answers it.
    async fn status_until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let status = self.status(id).await;
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < STEP_LIMIT,
                "not {what} within {STEP_LIMIT:?}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// FChat's record of the context's message, once it satisfies `done`.
    async fn message_until(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&ReceivedMessage) -> bool,
    ) -> ReceivedMessage {
        let started = Instant::now();
        loop {
            let found = self
                .stack
                .fchat
                .messages()
                .into_iter()
                .find(|m| m.client_message_id.as_deref() == Some(id));
            if let Some(message) = found.filter(|m| done(m)) {
                return message;
            }
            assert!(
                started.elapsed() < STEP_LIMIT,
                "FChat did not show {what} within {STEP_LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The app's webhook events, once there are `count`.
    async fn events(&self, count: usize) -> Vec<Value> {
        let started = Instant::now();
        while self.app.events().len() < count && started.elapsed() < STEP_LIMIT {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.app.events().into_iter().map(|e| e.body).collect()
    }

    /// The notice FChat showed on the click of `email` on `message_id`, once there is one.
    async fn notice_of(&self, message_id: &str, email: &str) -> fchat_simulator::ClickNotice {
        let started = Instant::now();
        loop {
            let notice = self
                .stack
                .fchat
                .actions()
                .into_iter()
                .filter(|a| a.kind == "click" && a.message_id.as_deref() == Some(message_id))
                .find(|a| a.user.email == email)
                .and_then(|a| a.notice);
            if let Some(notice) = notice {
                return notice;
            }
            assert!(
                started.elapsed() < STEP_LIMIT,
                "the click of {email} was not answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn approval(single_use: bool) -> Value {
    json!({"text": "Deploy 42 to production?", "reply_markup": {"singleUse": single_use, "inlineKeyboard": [[
        {"text": "Approve", "callbackData": {"action": "approve", "data": "deploy-42"}},
        {"text": "Reject", "callbackData": {"action": "reject", "data": "deploy-42"}}]]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_members_click_a_single_use_approval_at_once_and_one_wins() {
    let w = world().await;
    let id = w.send_to_group(approval(true)).await;
    let message = w.message_until(&id, "the approval", |_| true).await;
    assert_eq!(message.chat_id, w.room);
    assert!(
        message.reply_markup.is_some(),
        "the group message has its buttons"
    );

    // WHEN both members click at once, one Approve, the other Reject.
    let ((ana, ana_name), (binh, _)) = (&w.members[0], &w.members[1]);
    let (a, b) = tokio::join!(
        w.stack.fchat.act_click(
            &message.message_id,
            ButtonRef::Text("Approve".into()),
            Some(ana)
        ),
        w.stack.fchat.act_click(
            &message.message_id,
            ButtonRef::Text("Reject".into()),
            Some(binh)
        ),
    );
    assert_eq!((a.unwrap().0, b.unwrap().0), (200, 200));

    // THEN one click reached the app: the winner's.
    let events = w.events(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.app.events().len(), 1, "both clicks were forwarded");
    let winner = events[0]["message"]["user"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let (loser, button) = if winner == *ana {
        (binh, "Approve")
    } else {
        (ana, "Reject")
    };
    let winner_name = w
        .members
        .iter()
        .find(|(email, _)| *email == winner)
        .map(|(_, name)| name.clone())
        .unwrap();
    assert_eq!(events[0]["event"], "callback_query");
    assert_eq!(events[0]["app"], w.name.as_str());
    assert_eq!(events[0]["message"]["chat"]["type"], "group");
    assert!(w.app.events()[0].verified);

    // AND the message lost its buttons and says who answered, once.
    let edited = w
        .message_until(&id, "the answered approval", |m| !m.edits.is_empty())
        .await;
    assert_eq!(
        edited.text,
        format!("Deploy 42 to production?\n\n✓ {button} by {winner_name}")
    );
    assert!(edited
        .reply_markup
        .as_ref()
        .is_none_or(|m| m["inline_keyboard"] == json!([])));
    assert_eq!(edited.edits.len(), 1);
    // AND the other click was told who answered first; the winner's spinner stopped.
    assert_eq!(
        w.notice_of(&message.message_id, loser).await.text,
        format!("Already answered by {winner_name}")
    );
    assert_eq!(w.notice_of(&message.message_id, &winner).await.text, "");
    let status = w.status(&id).await;
    assert_eq!(
        (status["version"].clone(), status["status"].clone()),
        (json!(2), json!("sent"))
    );
    let _ = ana_name;
    w.assert_no_denials();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhooks_answer_notifies_the_clicker_and_edits_the_clicked_message() {
    let w = world().await;
    let id = w.send_to_group(approval(false)).await;
    let message = w.message_until(&id, "the approval", |_| true).await;
    let (ana, _) = &w.members[0];
    w.app.set_answer(
        200,
        Some(json!({
            "notice": "Approved, thanks",
            "edit": {"text": format!("Deploy 42: approved by {ana}"), "reply_markup": null},
        })),
    );
    let (status, _) = w
        .stack
        .fchat
        .act_click(&message.message_id, ButtonRef::Index(0), Some(ana))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let notice = w.notice_of(&message.message_id, ana).await;
    assert_eq!(
        (notice.text.as_str(), notice.show_alert),
        ("Approved, thanks", false)
    );
    let edited = w
        .message_until(&id, "the edit", |m| !m.edits.is_empty())
        .await;
    assert_eq!(edited.text, format!("Deploy 42: approved by {ana}"));
    assert_eq!(edited.edits[0].text, "Deploy 42 to production?");
    assert!(edited
        .reply_markup
        .as_ref()
        .is_none_or(|m| m["inline_keyboard"] == json!([])));
    assert_eq!(w.status(&id).await["version"], 2);
    w.assert_no_denials();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_edits_and_deletes_what_it_sent_in_order_after_the_send() {
    let w = world().await;
    // An edit sent right after the send: it waits for FChat to take the message.
    let id = w.send_to_group(json!({"text": "Deploying 42..."})).await;
    let path = format!("/{}/messages/{id}", w.token);
    let (status, answer) = w
        .call(
            "PATCH",
            &format!("/webhooks{path}"),
            Some(json!({"text": "Deploying 42... done",
            "reply_markup": {"inlineKeyboard": [[{"text": "Logs", "callbackData": "logs-42"}]]}})),
        )
        .await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"ok": true, "error_code": 200, "description": "Edit sent to queue", "context": {"id": id}})
        )
    );
    let edited = w
        .message_until(&id, "the edit", |m| m.text == "Deploying 42... done")
        .await;
    assert_eq!(edited.edits.len(), 1);
    assert_eq!(edited.edits[0].text, "Deploying 42...");
    assert_eq!(
        edited.reply_markup,
        Some(json!({"inline_keyboard": [[{"text": "Logs", "callback_data": "logs-42"}]]}))
    );
    let status = w
        .status_until(&id, "edited", |s| {
            s["changes_pending"] == 0 && s["version"] == 2
        })
        .await;
    assert_eq!(status["deleted"], false);

    // The buttons alone: the text stays.
    let (status, _) = w
        .call("PATCH", &path, Some(json!({"reply_markup": null})))
        .await;
    assert_eq!(status, 200);
    let edited = w
        .message_until(&id, "no buttons", |m| m.edits.len() == 2)
        .await;
    assert_eq!(edited.text, "Deploying 42... done");

    // A deletion, retried with its Idempotency-Key: applied once, and the record says so.
    let key = [("Idempotency-Key", "delete-deploy-42")];
    let (first, body, _) = w.stack.request("DELETE", &path, None, &key).await.unwrap();
    let (again, replayed, headers) = w.stack.request("DELETE", &path, None, &key).await.unwrap();
    assert_eq!((first, again), (200, 200));
    assert_eq!(body, replayed);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(body["description"], "Deletion sent to queue");
    let deleted = w.message_until(&id, "the deletion", |m| m.deleted).await;
    assert_eq!(deleted.text, "Deploying 42... done");
    let status = w
        .status_until(&id, "deleted", |s| s["deleted"] == true)
        .await;
    assert_eq!(
        (status["version"].clone(), status["changes_pending"].clone()),
        (json!(3), json!(0))
    );
    assert_eq!(
        w.call("PATCH", &path, Some(json!({"text": "too late"})))
            .await,
        (
            410,
            json!({"ok": false, "error_code": 410, "description": "Gone: the message is deleted"})
        )
    );
    w.assert_no_denials();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_edits_and_bad_answers_change_nothing() {
    let w = world().await;
    let id = w.send_to_group(approval(false)).await;
    let message = w.message_until(&id, "the approval", |_| true).await;
    let path = format!("/{}/messages/{id}", w.token);
    let many: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
    for (body, status, description) in [
        (
            json!({"text": ""}),
            400,
            "Bad Request: message text is empty",
        ),
        (
            json!({"text": "   "}),
            400,
            "Bad Request: message text is empty",
        ),
        (
            json!({"reply_markup": {"inlineKeyboard": [many.clone()]}}),
            400,
            "Limit 30 buttons",
        ),
        (
            json!({"text": 42}),
            400,
            "Bad Request: text must be a string",
        ),
    ] {
        assert_eq!(
            w.call("PATCH", &path, Some(body.clone())).await,
            (
                status,
                json!({"ok": false, "error_code": status, "description": description})
            ),
            "{body}"
        );
    }
    // Another app's message id: the same 404 as an id that does not exist.
    let other = w
        .call(
            "POST",
            &format!("/{}/{}", w.name, w.token),
            Some(json!({"text": "mine"})),
        )
        .await
        .1["context"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = w
        .call(
            "PATCH",
            &format!("/not-{}/messages/{other}", w.token),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(
        (status, answer["description"].clone()),
        (404, json!("channel or token not found"))
    );
    for missing in ["0123456789abcdef0123456789abcdef", &"z".repeat(3000)] {
        let (status, answer) = w
            .call("DELETE", &format!("/{}/messages/{missing}", w.token), None)
            .await;
        assert_eq!(
            (status, answer),
            (
                404,
                json!({"ok": false, "error_code": 404, "description": "Not Found: no such message"})
            )
        );
    }

    // A webhook answer whose notice is too long and whose edit has 31 buttons: the click is
    // answered all the same, the message stays as it is, and the forward is not retried.
    let (ana, _) = &w.members[0];
    w.app.set_answer(
        200,
        Some(json!({"notice": "n".repeat(201), "edit": {"reply_markup": {"inlineKeyboard": [many]}}})),
    );
    w.stack
        .fchat
        .act_click(&message.message_id, ButtonRef::Index(1), Some(ana))
        .await
        .unwrap();
    assert_eq!(w.notice_of(&message.message_id, ana).await.text, "");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(w.app.events().len(), 1, "the forward was retried");
    let unchanged = w.message_until(&id, "the approval", |_| true).await;
    assert!(unchanged.edits.is_empty());
    assert_eq!(unchanged.reply_markup, message.reply_markup);
    let status = w.status(&id).await;
    assert_eq!(
        (status["version"].clone(), status["changes_pending"].clone()),
        (json!(1), json!(0))
    );
    w.assert_no_denials();
}
