use super::*;
use crate::adapters::memory::{FixedClock, MemoryFChat, MemoryQueue, MemoryStore, MemoryWebhooks};
use crate::domain::credentials::sha256_hex;
use crate::domain::job::{Job, JobKind};
use crate::domain::{App, DeliveryStatus, Group, User};
use crate::ports::WebhookOutcome;

const NOW: u64 = 1_800_000_000;
const SECRET: &str = "callback-secret-123";

struct World {
    callback: Callback,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    fchat: Arc<MemoryFChat>,
    webhooks: Arc<MemoryWebhooks>,
    clock: Arc<FixedClock>,
}

fn app(name: &str) -> App {
    App {
        name: name.into(),
        token_hash: sha256_hex(name.as_bytes()),
        group_id: Some("ops".into()),
        user_messaging: true,
        webhook_url: Some(format!("https://hooks.example.com/{name}")),
        webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        context_ttl_seconds: 300,
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

/// GIVEN two apps in the ops group, a message of `alerts` sent to a user as FChat's m-1.
async fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    store.put_app(&app("alerts")).await.unwrap();
    store.put_app(&app("siem")).await.unwrap();
    let group = Group {
        id: "ops".into(),
        beatchat_id: Some("beatchat-1".into()),
        active: true,
        name: None,
    };
    store.put_group(&group).await.unwrap();
    let mut parameters = Map::new();
    parameters.insert("ticket".into(), json!(42));
    let mut context = Context::queued(
        &app("alerts"),
        Target::User("user@example.com".into()),
        parameters,
        NOW,
    );
    context.id = "c-1".into();
    context.status = DeliveryStatus::Sent;
    context.fchat_message_id = Some("m-1".into());
    // FChat took it at NOW: its reply window runs from then.
    context.expires_at = NOW + context.reply_window_seconds;
    store.create_context(&context).await.unwrap();
    let user = User {
        email: "user@example.com".into(),
        fchat_id: "fchat-1".into(),
        name: None,
        created_at: NOW,
        last_context_id: Some("c-1".into()),
    };
    store.put_user(&user).await.unwrap();
    let queue = Arc::new(MemoryQueue::default());
    let fchat = Arc::new(MemoryFChat::default());
    let webhooks = Arc::new(MemoryWebhooks::default());
    let clock = Arc::new(FixedClock::at(NOW + 10));
    let forwarder = Forwarder {
        apps: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        webhooks: webhooks.clone(),
        clock: clock.clone(),
        fchat: fchat.clone(),
    };
    let callback = Callback {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        fchat: fchat.clone(),
        forwarder,
        clock: clock.clone(),
        secret: SECRET.into(),
        expired_text: "This action has expired.".into(),
    };
    World {
        callback,
        store,
        queue,
        fchat,
        webhooks,
        clock,
    }
}

fn click(update_id: &str, message_id: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "text": "Approve this request?",
        "user": {"id": "fchat-1", "email": "User@Example.com", "name": "User"},
        "chat": {"id": "fchat-1", "type": "private"},
        "callback_query": {"id": "cq-1", "data": "{\"action\":\"approve\"}", "message": {"message_id": message_id}}
    }})
}

fn text(update_id: &str, words: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": "m-50", "text": words,
        "user": {"id": "fchat-1", "email": "user@example.com", "name": "User"},
        "chat": {"id": "fchat-1", "type": "private"}
    }})
}

fn room(update_id: &str, event: &str) -> Value {
    json!({"update_id": update_id, "appID": "fchat", "clientID": "fchat-1", "roomID": "beatchat-1", "event": event,
           "data": {"room": "beatchat-1", "sender": {"id": "fchat-1"}, "members": [{"id": "fchat-1"}]}})
}

fn request(body: &Value, secret: Option<&str>) -> HttpRequest {
    HttpRequest {
        query: String::new(),
        method: "POST".into(),
        path: "/callback/fchat".into(),
        headers: secret
            .map(|s| vec![(SECRET_HEADER.to_owned(), s.to_owned())])
            .unwrap_or_default(),
        body: body.to_string().into_bytes(),
    }
}

impl World {
    async fn receive(&self, body: Value) -> u16 {
        self.callback
            .handle(&request(&body, Some(SECRET)))
            .await
            .status
    }
}

#[tokio::test]
async fn a_click_is_forwarded_once_to_the_app_that_sent_the_message() {
    let w = world().await;
    assert_eq!(w.receive(click("u-1", "m-1")).await, 200);
    assert_eq!(
        w.receive(click("u-1", "m-1")).await,
        200,
        "a repeated update is acknowledged"
    );
    let posts = w.webhooks.posts();
    assert_eq!(posts.len(), 1);
    let (url, webhook_id, body) = &posts[0];
    assert_eq!(url, "https://hooks.example.com/alerts");
    assert_eq!(webhook_id, &super::webhook_id("u-1", "alerts"));
    assert_eq!(body["event"], "callback_query");
    assert_eq!(body["app"], "alerts");
    assert_eq!(
        body["context"],
        json!({"id": "c-1", "parameters": {"ticket": 42}})
    );
    assert_eq!(body["botState"], Value::Null);
    assert_eq!(
        body["message"]["callback_query"]["data"],
        "{\"action\":\"approve\"}"
    );
    assert_eq!(body["message"]["user"]["email"], "User@Example.com");
}

#[tokio::test]
async fn a_users_text_goes_to_the_app_of_their_latest_conversation() {
    let w = world().await;
    assert_eq!(w.receive(text("u-2", "looks good")).await, 200);
    let posts = w.webhooks.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].2["event"], "message");
    assert_eq!(posts[0].2["context"]["id"], "c-1");
    assert_eq!(posts[0].2["message"]["text"], "looks good");
}

#[tokio::test]
async fn a_room_event_goes_to_every_app_of_the_rooms_group() {
    let w = world().await;
    assert_eq!(w.receive(room("u-3", "JOIN_ROOM")).await, 200);
    let posts = w.webhooks.posts();
    let apps: Vec<&str> = posts
        .iter()
        .map(|(_, _, body)| body["app"].as_str().unwrap())
        .collect();
    assert_eq!(apps, vec!["alerts", "siem"]);
    assert_eq!(posts[0].2["event"], "JOIN_ROOM");
    assert_eq!(posts[0].2["roomID"], "beatchat-1");
    assert_eq!(posts[0].2["context"], Value::Null);
    assert_eq!(posts[1].1, webhook_id("u-3", "siem"));
}

#[tokio::test]
async fn an_expired_context_is_not_forwarded_and_the_user_is_told() {
    let w = world().await;
    w.clock.advance(300);
    assert_eq!(w.receive(click("u-4", "m-1")).await, 200);
    assert!(w.webhooks.posts().is_empty());
    let told = w.fchat.shown();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].1.chat_id, "fchat-1");
    assert_eq!(told[0].1.content.text, "This action has expired.");
}

#[tokio::test]
async fn events_no_app_claims_are_acknowledged() {
    let w = world().await;
    assert_eq!(w.receive(click("u-5", "m-unknown")).await, 200);
    let mut stranger = text("u-6", "hello?");
    stranger["message"]["user"]["email"] = json!("stranger@example.com");
    assert_eq!(w.receive(stranger).await, 200);
    let mut elsewhere = room("u-7", "ADD_MEMBERS");
    elsewhere["roomID"] = json!("beatchat-other");
    assert_eq!(w.receive(elsewhere).await, 200);
    assert!(w.webhooks.posts().is_empty());
    assert!(w.queue.jobs().is_empty());
}

#[tokio::test]
async fn a_spoofed_or_malformed_update_is_refused_and_changes_nothing() {
    let w = world().await;
    for secret in [None, Some("wrong"), Some("")] {
        let response = w
            .callback
            .handle(&request(&click("u-8", "m-1"), secret))
            .await;
        assert_eq!(response.status, 401);
        assert_eq!(
            serde_json::from_str::<Value>(&response.body).unwrap(),
            json!({"ok": false, "error_code": 401, "description": "Unauthorized: wrong or missing X-FChat-Secret"})
        );
    }
    assert!(w.webhooks.posts().is_empty());
    // The refused update was not recorded: the real one goes through.
    assert_eq!(w.receive(click("u-8", "m-1")).await, 200);
    assert_eq!(w.webhooks.posts().len(), 1);

    assert_eq!(w.receive(json!({"hello": "world"})).await, 400);
    assert_eq!(
        w.receive(json!({"roomID": "beatchat-1", "event": "EXPLODE"}))
            .await,
        400
    );
    let garbage = HttpRequest {
        query: String::new(),
        body: b"{nope".to_vec(),
        ..request(&json!({}), Some(SECRET))
    };
    assert_eq!(w.callback.handle(&garbage).await.status, 400);
}

#[tokio::test]
async fn a_failed_forward_is_queued_for_retry_and_a_410_is_not() {
    let w = world().await;
    w.webhooks
        .answer([WebhookOutcome::Failed("the webhook answered 503".into())]);
    assert_eq!(w.receive(click("u-9", "m-1")).await, 200);
    let jobs = w.queue.jobs();
    let [Job {
        kind: JobKind::Forward(forward),
        ..
    }] = jobs.as_slice()
    else {
        panic!("no forward job: {jobs:?}");
    };
    assert_eq!(
        (forward.app.as_str(), forward.webhook_id.clone()),
        ("alerts", webhook_id("u-9", "alerts"))
    );
    assert_eq!(
        forward.reply_to,
        Some(Target::User("user@example.com".into()))
    );

    w.webhooks.answer([WebhookOutcome::Gone]);
    assert_eq!(w.receive(click("u-10", "m-1")).await, 200);
    assert_eq!(w.queue.jobs().len(), 1, "a 410 is not retried");
}

#[test]
fn webhook_ids_are_header_values_stable_and_distinct_for_any_update_id() {
    let long = "u".repeat(3000);
    for update_id in ["u-1", "u\n1", "u\u{0}1", "ệ\r\n", long.as_str()] {
        let id = webhook_id(update_id, "alerts");
        assert!(
            reqwest::header::HeaderValue::from_str(&id).is_ok(),
            "{id:?}"
        );
        assert!(id.starts_with("msg_") && id.len() == 68, "{id}");
        assert_eq!(id, webhook_id(update_id, "alerts"), "the same on a retry");
        assert_ne!(id, webhook_id(update_id, "siem"));
    }
    assert_ne!(webhook_id("u-1", "alerts"), webhook_id("u-2", "alerts"));
    assert_ne!(webhook_id("a.b", "c"), webhook_id("a", "b.c"));
}

#[tokio::test]
async fn updates_with_hostile_ids_are_forwarded_once() {
    let w = world().await;
    let long = format!("u-{}", "9".repeat(3000));
    for update_id in [long.as_str(), "u-\u{0}\n-1"] {
        assert_eq!(w.receive(click(update_id, "m-1")).await, 200);
        assert_eq!(w.receive(click(update_id, "m-1")).await, 200);
    }
    let posts = w.webhooks.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].1, webhook_id(&long, "alerts"));
    assert_eq!(posts[1].2["update_id"], "u-\u{0}\n-1");
}

#[tokio::test]
async fn a_bot_reply_is_sent_into_the_same_chat_and_its_state_comes_back() {
    let w = world().await;
    let reply = json!({"senderID": "robot", "toBotState": "awaiting_reason",
                       "data": {"message": "Why do you approve?", "messageType": "text"}});
    w.webhooks.answer([WebhookOutcome::Delivered {
        status: 200,
        body: reply.to_string().into_bytes(),
    }]);
    assert_eq!(w.receive(click("u-11", "m-1")).await, 200);

    let jobs = w.queue.jobs();
    let [Job {
        kind:
            JobKind::SendUser {
                email,
                content,
                context_id,
                app,
            },
        ..
    }] = jobs.as_slice()
    else {
        panic!("no reply job: {jobs:?}");
    };
    assert_eq!(
        (email.as_str(), app.as_str()),
        ("user@example.com", "alerts")
    );
    assert_eq!(content.text, "Why do you approve?");
    assert_ne!(context_id, "c-1", "the reply has its own context");
    assert!(w
        .store
        .context(context_id, NOW + 10)
        .await
        .unwrap()
        .is_some());

    assert_eq!(w.receive(text("u-12", "because")).await, 200);
    assert_eq!(w.webhooks.posts()[1].2["botState"], "awaiting_reason");
}
