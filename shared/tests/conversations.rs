//! Conversations through the services on in-memory ports: the send API's edits and deletions
//! (checked, queued, applied in order after the send), single-use keyboards and a click's
//! answer (`notice`, `edit`) through the callback. Every FChat call and every write is seen.
//! The same flows run end to end over the local stack in `functions/callback/tests`.

use std::sync::Arc;
use std::time::Duration;

use gateway::callback::{Callback, SECRET_HEADER};
use gateway::credentials::sha256_hex;
use gateway::delivery::{Delivery, JobOutcome};
use gateway::domain::conversation::Notice;
use gateway::domain::job::{Job, JobKind};
use gateway::domain::{App, Group, User};
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::memory::{
    FixedClock, MemoryFChat, MemoryQueue, MemorySilencer, MemoryStore, MemoryWebhooks,
};
use gateway::ports::{AppStore, ContextStore, GroupStore, UserStore, WebhookOutcome};
use gateway::services::forwarding::Forwarder;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const SECRET: &str = "callback-secret";

struct World {
    ingest: Ingest,
    delivery: Delivery,
    callback: Callback,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    fchat: Arc<MemoryFChat>,
    webhooks: Arc<MemoryWebhooks>,
    /// Jobs of the queue already delivered.
    delivered: std::sync::Mutex<usize>,
    app: String,
    token: String,
    chat: String,
}

/// A name no other test uses.
fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", &gateway::domain::new_context_id()[..10])
}

fn app(name: &str, token: &str, group: &str) -> App {
    App {
        name: name.into(),
        token_hash: sha256_hex(token.as_bytes()),
        group_id: Some(group.into()),
        user_messaging: true,
        webhook_url: Some(format!("https://hooks.example.com/{name}")),
        webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        context_ttl_seconds: 3_600,
        delivery_window_seconds: 86_400,
        active: true,
        previous_token: None,
        older_secrets_until: None,
        alert_templates: Default::default(),
        alerting: Default::default(),
        sns: Default::default(),
        hooks: Default::default(),
    }
}

/// GIVEN an app, its active group with an FChat chat, and a second app in the same group.
async fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    let (name, token, group, chat) = (fresh("app"), fresh("tok"), fresh("grp"), fresh("chat"));
    store.put_app(&app(&name, &token, &group)).await.unwrap();
    store
        .put_app(&app("another-app", "another-token", &group))
        .await
        .unwrap();
    store
        .put_group(&Group {
            id: group.clone(),
            beatchat_id: Some(chat.clone()),
            active: true,
            name: None,
        })
        .await
        .unwrap();
    let queue = Arc::new(MemoryQueue::default());
    let fchat = Arc::new(MemoryFChat::default());
    let webhooks = Arc::new(MemoryWebhooks::default());
    let clock = Arc::new(FixedClock::at(NOW));
    let forwarder = Forwarder {
        apps: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        webhooks: webhooks.clone(),
        clock: clock.clone(),
        fchat: fchat.clone(),
    };
    World {
        ingest: Ingest {
            apps: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            contexts: store.clone(),
            queue: queue.clone(),
            fchat: fchat.clone(),
            clock: clock.clone(),
            sns: Arc::new(gateway::adapters::sns::SnsClient::new(false)),
        },
        delivery: Delivery {
            contexts: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            apps: store.clone(),
            fchat: fchat.clone(),
            silencer: Arc::new(MemorySilencer::default()),
            clock: clock.clone(),
            lease: Duration::from_secs(30),
            max_retry_delay: Duration::from_secs(60),
            forwarder: forwarder.clone(),
            max_forward_delay: Duration::from_secs(60),
            pacing: gateway::delivery::Pacing::OFF,
        },
        callback: Callback {
            apps: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            contexts: store.clone(),
            fchat: fchat.clone(),
            forwarder,
            clock,
            secret: SECRET.into(),
            expired_text: "This action has expired.".into(),
        },
        store,
        queue,
        fchat,
        webhooks,
        delivered: std::sync::Mutex::new(0),
        app: name,
        token,
        chat,
    }
}

fn request(method: &str, path: &str, body: Value, headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
    }
}

impl World {
    async fn call(&self, request: HttpRequest) -> (u16, Value) {
        let response = self.ingest.handle(&request).await;
        (
            response.status,
            serde_json::from_str(&response.body).unwrap(),
        )
    }

    /// Sends into the app's group; the context id.
    async fn send(&self, body: Value) -> String {
        let (status, answer) = self
            .call(request(
                "POST",
                &format!("/{}/{}", self.app, self.token),
                body,
                &[],
            ))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["context"]["id"].as_str().unwrap().to_owned()
    }

    async fn edit(&self, id: &str, body: Value) -> (u16, Value) {
        self.call(request(
            "PATCH",
            &format!("/webhooks/{}/messages/{id}", self.token),
            body,
            &[],
        ))
        .await
    }

    async fn status(&self, id: &str) -> Value {
        let (status, answer) = self
            .call(request(
                "GET",
                &format!("/{}/messages/{id}", self.token),
                Value::Null,
                &[],
            ))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["context"].clone()
    }

    /// The jobs queued since the last call.
    fn new_jobs(&self) -> Vec<Job> {
        let jobs = self.queue.jobs();
        let mut delivered = self.delivered.lock().unwrap();
        let new = jobs[*delivered..].to_vec();
        *delivered = jobs.len();
        new
    }

    async fn deliver(&self, job: &Job) -> JobOutcome {
        self.delivery.deliver(&job.to_json(), 1).await
    }

    /// Delivers every new job, in order, until none is left; each must be done.
    async fn deliver_all(&self) {
        loop {
            let jobs = self.new_jobs();
            if jobs.is_empty() {
                return;
            }
            for job in jobs {
                assert_eq!(self.deliver(&job).await, JobOutcome::Done, "{job:?}");
            }
        }
    }

    /// FChat's id of the context's message.
    async fn message_id(&self, id: &str) -> String {
        let context = self.store.context_record(id).await.unwrap().unwrap();
        context.fchat_message_id.expect("delivered")
    }

    async fn click(&self, update: &str, message_id: &str, data: &str, who: &str) -> u16 {
        let body = json!({
            "update_id": update,
            "message": {
                "text": "Deploy 42?",
                "user": {"id": format!("fchat-{who}"), "email": format!("{who}@example.com"), "name": who},
                "chat": {"id": self.chat, "type": "group"},
                "callback_query": {"id": format!("cq-{update}"), "data": data, "message": {"message_id": message_id}},
            }
        });
        let request = request("POST", "/callback/fchat", body, &[(SECRET_HEADER, SECRET)]);
        self.callback.handle(&request).await.status
    }

    /// The notice each click got, by its update.
    fn notice_of(&self, update: &str) -> Option<Notice> {
        self.fchat
            .answers()
            .into_iter()
            .find(|(query, _)| *query == format!("cq-{update}"))
            .map(|(_, notice)| notice)
    }
}

/// The log lines written while a test holds the subscriber, as JSON.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn approval(single_use: bool) -> Value {
    json!({"text": "Deploy 42?", "reply_markup": {"singleUse": single_use, "inlineKeyboard": [[
        {"text": "Approve", "callbackData": {"action": "approve", "data": "42"}},
        {"text": "Reject", "callbackData": {"action": "reject", "data": "42"}}]]}})
}

const APPROVE: &str = r#"{"action":"approve","data":"42"}"#;
const REJECT: &str = r#"{"action":"reject","data":"42"}"#;

#[tokio::test]
async fn an_edit_sent_right_after_the_send_waits_for_it_and_keeps_the_buttons() {
    let w = world().await;
    let id = w.send(approval(false)).await;
    let (status, answer) = w
        .edit(&id, json!({"text": "Deploy 42: waiting for approval"}))
        .await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"ok": true, "error_code": 200, "description": "Edit sent to queue", "context": {"id": id}})
        )
    );
    let jobs = w.new_jobs();
    assert_eq!(jobs.len(), 2);
    assert!(matches!(&jobs[1].kind, JobKind::Change(change) if change.seq == Some(1)));
    // The edit comes first off the queue: it waits for the send.
    assert!(matches!(
        w.deliver(&jobs[1]).await,
        JobOutcome::RetryAfter(_)
    ));
    assert_eq!(w.deliver(&jobs[0]).await, JobOutcome::Done);
    assert_eq!(w.status(&id).await["changes_pending"], 1);
    assert_eq!(w.deliver(&jobs[1]).await, JobOutcome::Done);
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].content.text, "Deploy 42: waiting for approval");
    assert_eq!(
        edits[0].content.keyboard[0][1].text, "Reject",
        "the buttons stay"
    );
    let status = w.status(&id).await;
    assert_eq!(
        (
            status["version"].clone(),
            status["deleted"].clone(),
            status["changes_pending"].clone()
        ),
        (json!(2), json!(false), json!(0))
    );
    // A copy of the same job changes nothing more.
    assert_eq!(w.deliver(&jobs[1]).await, JobOutcome::Done);
    assert_eq!(w.fchat.edits().len(), 1);
}

#[tokio::test]
async fn the_apps_changes_apply_in_the_order_they_were_accepted() {
    let w = world().await;
    let id = w.send(json!({"text": "Deploying..."})).await;
    w.deliver_all().await;
    for body in [
        json!({"reply_markup": {"inlineKeyboard": [[{"text": "Logs", "callbackData": "logs"}]]}}),
        json!({"text": "Deploying... done"}),
    ] {
        assert_eq!(w.edit(&id, body).await.0, 200);
    }
    let (status, answer) = w
        .call(request(
            "DELETE",
            &format!("/{}/messages/{id}", w.token),
            Value::Null,
            &[],
        ))
        .await;
    assert_eq!(
        (status, answer["description"].clone()),
        (200, json!("Deletion sent to queue"))
    );
    let jobs = w.new_jobs();
    assert_eq!(jobs.len(), 3);
    // Taken off the queue in reverse: each waits for the one before.
    assert!(matches!(
        w.deliver(&jobs[2]).await,
        JobOutcome::RetryAfter(_)
    ));
    assert!(matches!(
        w.deliver(&jobs[1]).await,
        JobOutcome::RetryAfter(_)
    ));
    for job in &jobs {
        assert_eq!(w.deliver(job).await, JobOutcome::Done);
    }
    let message_id = w.message_id(&id).await;
    // The buttons alone, then the text under them (the text was never kept), then gone.
    let buttons = w.fchat.button_edits();
    assert_eq!(buttons.len(), 1);
    assert_eq!(
        (buttons[0].0.as_str(), buttons[0].1.as_str()),
        (w.chat.as_str(), message_id.as_str())
    );
    let edits = w.fchat.edits();
    assert_eq!(edits[0].content.text, "Deploying... done");
    assert_eq!(edits[0].content.keyboard[0][0].text, "Logs");
    assert!(w.fchat.is_deleted(&message_id));
    let status = w.status(&id).await;
    assert_eq!(
        (status["deleted"].clone(), status["version"].clone()),
        (json!(true), json!(3))
    );
    // A deleted message takes no more changes.
    assert_eq!(
        w.edit(&id, json!({"text": "again"})).await,
        (
            410,
            json!({"ok": false, "error_code": 410, "description": "Gone: the message is deleted"})
        )
    );
}

#[tokio::test]
async fn bad_edits_and_strangers_get_a_clear_answer_and_change_nothing() {
    let w = world().await;
    let id = w.send(approval(false)).await;
    w.deliver_all().await;
    let many: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
    for (body, status, description) in [
        (
            json!({"text": ""}),
            400,
            "Bad Request: message text is empty",
        ),
        (
            json!({"text": "x".repeat(2001)}),
            400,
            "Bad Request: message is too long",
        ),
        (
            json!({"reply_markup": {"inlineKeyboard": [many]}}),
            400,
            "Limit 30 buttons",
        ),
        (
            json!({}),
            400,
            "Bad Request: an edit needs text, message, reply_markup or buttons",
        ),
        (
            json!({"reply_markup": {"inlineKeyboard": [], "singleUse": 1}}),
            400,
            "Bad Request: singleUse must be true or false",
        ),
    ] {
        assert_eq!(
            w.edit(&id, body.clone()).await,
            (
                status,
                json!({"ok": false, "error_code": status, "description": description})
            ),
            "{body}"
        );
    }
    // Another app's token, an unknown id, a wrong token: the 404s of the status route.
    let path = format!("/another-token/messages/{id}");
    for (request, status, description) in [
        (
            request("PATCH", &path, json!({"text": "mine now"}), &[]),
            404,
            "Not Found: no such message",
        ),
        (
            request("DELETE", &path, Value::Null, &[]),
            404,
            "Not Found: no such message",
        ),
        (
            request(
                "DELETE",
                &format!("/{}/messages/nope", w.token),
                Value::Null,
                &[],
            ),
            404,
            "Not Found: no such message",
        ),
        (
            request("DELETE", &format!("/wrong/messages/{id}"), Value::Null, &[]),
            404,
            "channel or token not found",
        ),
        (
            request(
                "POST",
                &format!("/{}/messages/{id}", w.token),
                json!({}),
                &[],
            ),
            405,
            "Method Not Allowed: this route accepts GET, PATCH, DELETE only",
        ),
    ] {
        assert_eq!(
            w.call(request).await,
            (
                status,
                json!({"ok": false, "error_code": status, "description": description})
            )
        );
    }
    assert!(w.new_jobs().is_empty(), "a refused change was queued");
    let status = w.status(&id).await;
    assert_eq!(
        (status["version"].clone(), status["changes_pending"].clone()),
        (json!(1), json!(0))
    );
}

#[tokio::test]
async fn a_retried_change_is_queued_once_and_one_the_queue_refused_never_blocks_the_next() {
    let w = world().await;
    let id = w.send(json!({"text": "v1"})).await;
    w.deliver_all().await;
    let key = [("Idempotency-Key", "edit-v2")];
    let path = format!("/{}/messages/{id}", w.token);
    let first = w
        .ingest
        .handle(&request("PATCH", &path, json!({"text": "v2"}), &key))
        .await;
    let again = w
        .ingest
        .handle(&request("PATCH", &path, json!({"text": "v2"}), &key))
        .await;
    assert_eq!((first.status, &first.body), (again.status, &again.body));
    assert!(again
        .headers
        .contains(&("idempotent-replayed".into(), "true".into())));
    let queued = w.new_jobs();
    assert_eq!(queued.len(), 1);
    assert_eq!(w.deliver(&queued[0]).await, JobOutcome::Done);
    let other = w
        .call(request("PATCH", &path, json!({"text": "v3"}), &key))
        .await;
    assert_eq!(other.0, 422);

    // The queue is down: 503, and the change is voided.
    w.queue.fail(true);
    let (status, _) = w.edit(&id, json!({"text": "lost"})).await;
    assert_eq!(status, 503);
    w.queue.fail(false);
    assert_eq!(w.edit(&id, json!({"text": "v4"})).await.0, 200);
    w.deliver_all().await;
    let texts: Vec<String> = w
        .fchat
        .edits()
        .into_iter()
        .map(|e| e.content.text)
        .collect();
    assert_eq!(texts, vec!["v2", "v4"]);
    assert_eq!(w.status(&id).await["changes_pending"], 0);
}

#[tokio::test]
async fn the_first_click_on_a_single_use_keyboard_wins_and_later_ones_are_told() {
    let w = world().await;
    let id = w.send(approval(true)).await;
    w.deliver_all().await;
    let message_id = w.message_id(&id).await;
    assert_eq!(w.click("u-1", &message_id, APPROVE, "ann").await, 200);
    assert_eq!(w.click("u-2", &message_id, REJECT, "bob").await, 200);
    assert_eq!(w.click("u-3", &message_id, APPROVE, "ann").await, 200);

    // One forward, Ann's; the message says who answered, without its buttons.
    let posts = w.webhooks.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].2["message"]["user"]["name"], "ann");
    assert_eq!(posts[0].2["message"]["chat"]["type"], "group");
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].content.text, "Deploy 42?\n\n✓ Approve by ann");
    assert!(edits[0].content.keyboard.is_empty());
    // Every click is answered; the later ones with who answered first.
    assert_eq!(w.notice_of("u-1"), Some(Notice::default()));
    for later in ["u-2", "u-3"] {
        assert_eq!(
            w.notice_of(later).map(|n| n.text),
            Some("Already answered by ann".to_owned())
        );
    }
    // FChat's repeat of the winning click changes nothing.
    assert_eq!(w.click("u-1", &message_id, APPROVE, "ann").await, 200);
    assert_eq!((w.webhooks.posts().len(), w.fchat.edits().len()), (1, 1));
    assert_eq!(w.status(&id).await["version"], 2);
}

#[tokio::test]
async fn a_clicks_answer_notifies_the_clicker_and_edits_the_message() {
    let w = world().await;
    let id = w.send(approval(false)).await;
    w.deliver_all().await;
    let message_id = w.message_id(&id).await;
    w.webhooks.answer([WebhookOutcome::Delivered {
        status: 200,
        body: json!({"notice": "Approved, thanks",
                     "edit": {"text": "Deploy 42: approved by ann@example.com", "reply_markup": null},
                     "text": "Deploying now"})
        .to_string()
        .into_bytes(),
    }]);
    assert_eq!(w.click("u-7", &message_id, APPROVE, "ann").await, 200);
    assert_eq!(
        w.notice_of("u-7"),
        Some(Notice {
            text: "Approved, thanks".into(),
            show_alert: false
        })
    );
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(
        edits[0].content.text,
        "Deploy 42: approved by ann@example.com"
    );
    assert!(edits[0].content.keyboard.is_empty());
    // The bot reply comes after the edit, as a new message into the group.
    let jobs = w.new_jobs();
    assert_eq!(jobs.len(), 1);
    assert!(
        matches!(&jobs[0].kind, JobKind::SendGroup { content, .. } if content.text == "Deploying now")
    );
    assert_eq!(w.status(&id).await["version"], 2);
}

#[tokio::test]
async fn an_answer_that_breaks_the_rules_is_acted_on_as_far_as_it_is_valid_and_never_retried() {
    let w = world().await;
    let id = w.send(approval(false)).await;
    w.deliver_all().await;
    let message_id = w.message_id(&id).await;
    let many: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
    w.webhooks.answer([
        WebhookOutcome::Delivered {
            status: 200,
            body: json!({"notice": "n".repeat(201), "edit": {"reply_markup": {"inlineKeyboard": [many]}}})
                .to_string()
                .into_bytes(),
        },
        WebhookOutcome::Delivered {
            status: 200,
            body: json!({"notice": "Noted", "edit": {"text": ""}}).to_string().into_bytes(),
        },
        WebhookOutcome::Delivered {
            status: 200,
            body: b"not json".to_vec(),
        },
    ]);
    let logs = Logs::default();
    let _capture = tracing::subscriber::set_default(gateway::logging::json_subscriber(
        tracing_subscriber::filter::LevelFilter::WARN,
        logs.clone(),
    ));
    for update in ["u-1", "u-2", "u-3"] {
        assert_eq!(w.click(update, &message_id, REJECT, "bob").await, 200);
    }
    // Each part left out is logged with why.
    let lines = logs.lines();
    let left_out: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            line["fields"]["message"] == "part of the webhook's answer to a click is left out"
        })
        .collect();
    let problems: Vec<&str> = left_out
        .iter()
        .map(|line| line["fields"]["problem"].as_str().unwrap())
        .collect();
    assert_eq!(
        problems,
        vec![
            "Bad Request: notice must be a string of at most 200 characters, or {text, show_alert}",
            "Limit 30 buttons",
            "Bad Request: message text is empty",
        ]
    );
    assert!(left_out.iter().all(|line| line["level"] == "WARN"));
    // Each click answered (an empty notice where the answer had no valid one), nothing edited,
    // nothing queued to retry.
    assert_eq!(w.notice_of("u-1"), Some(Notice::default()));
    assert_eq!(w.notice_of("u-2").map(|n| n.text), Some("Noted".to_owned()));
    assert_eq!(w.notice_of("u-3"), Some(Notice::default()));
    assert!(w.fchat.edits().is_empty() && w.fchat.button_edits().is_empty());
    assert!(w.new_jobs().is_empty());
    assert_eq!(w.status(&id).await["version"], 1);
}

#[tokio::test]
async fn a_click_whose_forward_fails_is_answered_now_and_its_retry_shows_no_notice() {
    let w = world().await;
    let id = w.send(approval(false)).await;
    w.deliver_all().await;
    let message_id = w.message_id(&id).await;
    w.webhooks.answer([
        WebhookOutcome::Failed("503".into()),
        WebhookOutcome::Delivered {
            status: 200,
            body: json!({"notice": "late", "edit": {"text": "Deploy 42: rejected"}})
                .to_string()
                .into_bytes(),
        },
    ]);
    assert_eq!(w.click("u-9", &message_id, REJECT, "bob").await, 200);
    assert_eq!(w.notice_of("u-9"), Some(Notice::default()));
    let retry = w.new_jobs();
    assert_eq!(retry.len(), 1);
    assert_eq!(w.deliver(&retry[0]).await, JobOutcome::Done);
    // The retry's edit is applied; its notice could no longer be shown.
    assert_eq!(w.fchat.answers().len(), 1);
    assert_eq!(w.fchat.edits()[0].content.text, "Deploy 42: rejected");
}

#[tokio::test]
async fn the_group_route_keeps_its_buttons_and_a_group_click_says_who_clicked() {
    let w = world().await;
    let user = User {
        email: "ann@example.com".into(),
        fchat_id: "fchat-ann".into(),
        name: Some("Ann".into()),
        created_at: NOW,
        last_context_id: None,
    };
    w.store.put_user(&user).await.unwrap();
    let id = w
        .send(json!({"text": "Pick", "buttons": [{"title": "A", "payload": "a"}]}))
        .await;
    let jobs = w.new_jobs();
    assert!(
        matches!(&jobs[0].kind, JobKind::SendGroup { content, .. } if content.keyboard[0][0].text == "A")
    );
    assert_eq!(w.deliver(&jobs[0]).await, JobOutcome::Done);
    let message_id = w.message_id(&id).await;
    assert_eq!(w.click("u-5", &message_id, "a", "ann").await, 200);
    let posts = w.webhooks.posts();
    assert_eq!(posts[0].2["app"], w.app.as_str());
    assert_eq!(posts[0].2["message"]["user"]["email"], "ann@example.com");
}
