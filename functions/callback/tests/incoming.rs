//! Incoming events end to end over real sockets: the FChat simulator acts as a user towards
//! the local API gateway's callback route, served by the real `callback` binary; events reach
//! a demo app webhook that verifies signatures with its own implementation of the Standard
//! Webhooks spec; retries and bot replies go through the real `delivery` binary.

use std::path::Path;
use std::time::{Duration, Instant};

use fchat_local::harness::{dev_seed, Stack};
use fchat_local::poller::Poller;
use fchat_simulator::receiver::{Receiver, ReceiverConfig};
use fchat_simulator::ButtonRef;
use gateway::domain::App;
use gateway::dynamo::DynamoStore;
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::ports::AppStore;
use serde_json::{json, Value};

const SECRET: &str = "whsec_O0PrM7LIUOD/7Mw/aWYEcHrYT84mdpo07/YwJNBFDuM=";

struct World {
    stack: Stack,
    ingest: Ingest,
    store: DynamoStore,
    poller: Poller,
    app: Receiver,
}

/// GIVEN the local stack with `make dev`'s seed, MY_APP's webhook being the demo receiver.
async fn world(echo: bool, context_ttl_seconds: u64) -> World {
    let stack = Stack::start_with_callback(
        Path::new(env!("CARGO_BIN_EXE_callback")),
        &dev_seed().unwrap(),
    )
    .await
    .expect("the local stack starts (run `make venv` first)");
    let app = Receiver::on_loopback(ReceiverConfig {
        echo,
        ..ReceiverConfig::checked_with(SECRET)
    })
    .await
    .unwrap();
    let store = stack.aws.store();
    let mine = store.app_by_name("MY_APP").await.unwrap().unwrap();
    store
        .put_app(&App {
            webhook_url: Some(app.url()),
            context_ttl_seconds,
            ..mine
        })
        .await
        .unwrap();
    World {
        ingest: stack.aws.ingest().await.unwrap(),
        poller: stack.delivery_poller().await,
        stack,
        store,
        app,
    }
}

impl World {
    /// Sends a message with buttons to user@example.com and delivers it; answers FChat's id.
    async fn delivered_message_with_buttons(&self) -> String {
        let body = json!({"email": "user@example.com", "text": "Approve this request?",
            "parameters": {"ticket": 42},
            "reply_markup": {"inlineKeyboard": [[
                {"text": "Yes", "callbackData": {"action": "confirm", "data": "yes"}},
                {"text": "No", "callbackData": {"action": "confirm", "data": "no"}}]]}});
        let request = HttpRequest {
            query: String::new(),
            method: "POST".into(),
            path: "/MY_TOKEN/fchat".into(),
            headers: vec![],
            body: body.to_string().into_bytes(),
        };
        let answer = self.ingest.handle(&request).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        self.deliver_until(|w| !w.stack.fchat.messages().is_empty())
            .await;
        self.stack.fchat.messages()[0].message_id.clone()
    }

    /// Runs the delivery queue until `done`, for at most 30 s.
    async fn deliver_until(&self, done: impl Fn(&World) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not done within 30 s"
            );
            self.poller.poll_once(Duration::from_secs(1)).await.unwrap();
        }
    }

    /// The events the app received, waiting a little for them.
    async fn events_after(&self, count: usize) -> Vec<fchat_simulator::receiver::ReceivedEvent> {
        let started = Instant::now();
        while self.app.events().len() < count && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.app.events()
    }
}

#[tokio::test]
async fn a_click_reaches_the_app_once_signed_with_the_contracts_payload_and_its_context() {
    let w = world(false, 300).await;
    let message_id = w.delivered_message_with_buttons().await;

    let (status, answer) = w
        .stack
        .fchat
        .act_click(&message_id, ButtonRef::Text("Yes".into()), None)
        .await
        .unwrap();
    assert_eq!((status, answer), (200, json!({"ok": true})));
    let events = w.events_after(1).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(event.verified, "the signature did not verify");
    let body = &event.body;
    assert_eq!(body["event"], "callback_query");
    assert_eq!(body["app"], "MY_APP");
    assert_eq!(body["context"]["parameters"], json!({"ticket": 42}));
    assert_eq!(body["message"]["user"]["email"], "user@example.com");
    assert_eq!(body["message"]["chat"]["type"], "private");
    assert_eq!(
        body["message"]["callback_query"]["message"]["message_id"],
        message_id.as_str()
    );
    let data: Value =
        serde_json::from_str(body["message"]["callback_query"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({"action": "confirm", "data": "yes"}));

    // FChat delivering the same update again changes nothing.
    let mut again = body.clone();
    for added in ["event", "app", "context", "botState"] {
        again.as_object_mut().unwrap().remove(added);
    }
    assert_eq!(w.stack.fchat.post_callback(again).await.unwrap().0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.app.events().len(), 1);
}

#[tokio::test]
async fn a_text_reply_follows_the_conversation_and_a_room_event_its_group() {
    let w = world(false, 300).await;
    w.delivered_message_with_buttons().await;
    assert_eq!(
        w.stack
            .fchat
            .act_text("user@example.com", "Approved, go ahead")
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        w.stack
            .fchat
            .act_room(
                "beatchat-ops-001",
                "JOIN_ROOM",
                Some("user@example.com"),
                None
            )
            .await
            .unwrap()
            .0,
        200
    );
    let events = w.events_after(2).await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.verified));
    let text = events
        .iter()
        .find(|e| e.body["event"] == "message")
        .unwrap();
    assert_eq!(text.body["message"]["text"], "Approved, go ahead");
    assert_eq!(text.body["context"]["parameters"]["ticket"], 42);
    let room = events
        .iter()
        .find(|e| e.body["event"] == "JOIN_ROOM")
        .unwrap();
    assert_eq!(room.body["roomID"], "beatchat-ops-001");
    assert_eq!(room.body["app"], "MY_APP");
}

#[tokio::test]
async fn a_click_on_an_expired_message_is_not_forwarded_and_the_user_is_told() {
    let w = world(false, 2).await;
    let message_id = w.delivered_message_with_buttons().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        w.stack
            .fchat
            .act_click(&message_id, ButtonRef::Index(1), None)
            .await
            .unwrap()
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.app.events().is_empty());
    let told = w.stack.fchat.messages();
    assert_eq!(told.len(), 2);
    assert_eq!(
        (told[1].chat_id.as_str(), told[1].text.as_str()),
        ("fchat-user-1001", "This action has expired.")
    );
}

#[tokio::test]
async fn a_spoofed_update_is_refused() {
    let w = world(false, 300).await;
    let message_id = w.delivered_message_with_buttons().await;
    w.stack.fchat.set_callback(
        format!("{}/callback/fchat", w.stack.api),
        "not-the-secret".into(),
    );
    let (status, answer) = w
        .stack
        .fchat
        .act_click(&message_id, ButtonRef::Index(0), None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        answer["description"],
        "Unauthorized: wrong or missing X-FChat-Secret"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.app.events().is_empty());
}

#[tokio::test]
async fn when_the_app_is_down_the_event_is_queued_retried_and_delivered_once() {
    let w = world(false, 300).await;
    let message_id = w.delivered_message_with_buttons().await;
    w.app.set_answer(503, None);
    let (status, _) = w
        .stack
        .fchat
        .act_click(&message_id, ButtonRef::Text("No".into()), None)
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "FChat gets its answer once the event is queued"
    );
    assert_eq!(w.events_after(1).await.len(), 1);

    w.app.set_answer(200, None);
    w.deliver_until(|w| w.app.events().len() >= 2).await;
    let events = w.app.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].headers, events[0].headers);
    let id = |e: &fchat_simulator::receiver::ReceivedEvent| {
        e.headers
            .iter()
            .find(|(k, _)| k == "webhook-id")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        id(&events[0]),
        id(&events[1]),
        "a retry carries the same webhook-id"
    );
    assert!(events[1].verified);
    // Nothing more comes.
    assert_eq!(
        w.poller.poll_once(Duration::from_secs(1)).await.unwrap(),
        (0, 0)
    );
}

#[tokio::test]
async fn a_bot_reply_becomes_a_message_in_the_same_chat() {
    let w = world(true, 300).await;
    w.delivered_message_with_buttons().await;
    assert_eq!(
        w.stack
            .fchat
            .act_text("user@example.com", "ping")
            .await
            .unwrap()
            .0,
        200
    );
    w.deliver_until(|w| w.stack.fchat.messages().len() >= 2)
        .await;
    let reply = &w.stack.fchat.messages()[1];
    assert_eq!(
        (reply.chat_id.as_str(), reply.text.as_str()),
        ("fchat-user-1001", "You said: ping")
    );
}

#[tokio::test]
async fn a_webhook_on_a_private_address_is_never_called() {
    let w = world(false, 300).await;
    let message_id = w.delivered_message_with_buttons().await;
    let mine = w.store.app_by_name("MY_APP").await.unwrap().unwrap();
    w.store
        .put_app(&App {
            webhook_url: Some("http://10.0.0.1:9002/webhook".into()),
            ..mine
        })
        .await
        .unwrap();
    assert_eq!(
        w.stack
            .fchat
            .act_click(&message_id, ButtonRef::Index(0), None)
            .await
            .unwrap()
            .0,
        200
    );
    // Refused, not retried: nothing is queued.
    assert_eq!(
        w.poller.poll_once(Duration::from_secs(1)).await.unwrap(),
        (0, 0)
    );
}

/// A click on `message_id` by user@example.com, as FChat sends it, with the given update id.
fn click_update(update_id: &str, message_id: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "text": "Approve this request?",
        "user": {"id": "fchat-user-1001", "email": "user@example.com", "name": "Example User"},
        "chat": {"id": "fchat-user-1001", "type": "private"},
        "callback_query": {"id": "cq-77", "data": "{\"action\":\"confirm\",\"data\":\"yes\"}",
                           "message": {"message_id": message_id}}
    }})
}

/// A private text from user@example.com, as FChat sends it, with the given update id.
fn text_update(update_id: &str, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": "m-900", "text": text,
        "user": {"id": "fchat-user-1001", "email": "user@example.com", "name": "Example User"},
        "chat": {"id": "fchat-user-1001", "type": "private"}}})
}

/// A room event in the ops group's room, as FChat sends it, with the given update id.
fn room_update(update_id: &str, event: &str) -> Value {
    json!({"update_id": update_id, "appID": "fchat", "clientID": "fchat-user-1001",
           "roomID": "beatchat-ops-001", "event": event,
           "data": {"room": "beatchat-ops-001", "members": [{"id": "fchat-user-1001"}]}})
}

impl World {
    /// Posts each update twice (FChat repeating it) and checks that each reached the app once,
    /// signed, at once, with its own stable `webhook-id`; answers the events.
    async fn each_reaches_the_app_once(
        &self,
        updates: &[Value],
    ) -> Vec<fchat_simulator::receiver::ReceivedEvent> {
        for update in updates {
            for attempt in ["first", "FChat's repeat"] {
                assert_eq!(
                    self.stack
                        .fchat
                        .post_callback(update.clone())
                        .await
                        .unwrap(),
                    (200, json!({"ok": true})),
                    "{attempt} of {}",
                    update["update_id"]
                );
            }
        }
        let events = self.events_after(updates.len()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(self.app.events().len(), updates.len(), "each update once");
        let mut ids = Vec::new();
        for (event, update) in events.iter().zip(updates) {
            assert_eq!(event.body["update_id"], update["update_id"]);
            assert!(event.verified, "{:?}", event.invalid_reason);
            let id = event
                .headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.clone())
                .unwrap();
            assert!(
                id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()),
                "{id}"
            );
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), updates.len(), "one webhook-id per event");
        // Delivered at once: nothing was left to retry.
        assert_eq!(
            self.poller.poll_once(Duration::from_secs(1)).await.unwrap(),
            (0, 0)
        );
        events
    }
}

#[tokio::test]
async fn update_ids_longer_than_a_storage_key_reach_the_app_signed_once() {
    let w = world(false, 300).await;
    let message_id = w.delivered_message_with_buttons().await;
    // Longer than DynamoDB's 2048-byte keys.
    let click = format!("upd-{}", "42".repeat(1100));
    let text = format!("u-{}", "ệ".repeat(700));
    let events = w
        .each_reaches_the_app_once(&[
            click_update(&click, &message_id),
            text_update(&text, "Long ids are fine"),
        ])
        .await;
    assert_eq!(events[0].body["context"]["parameters"]["ticket"], 42);
    assert_eq!(events[1].body["message"]["text"], "Long ids are fine");
}

#[tokio::test]
async fn update_ids_with_control_characters_reach_the_app_signed_once() {
    let w = world(false, 300).await;
    let message_id = w.delivered_message_with_buttons().await;
    // Characters no header can carry.
    let events = w
        .each_reaches_the_app_once(&[
            text_update("u-\u{0}\n-text\r\n", "Sent with a strange id"),
            room_update("room\u{7}\u{0}event\n", "ADD_MEMBERS"),
            click_update("\n", &message_id),
        ])
        .await;
    assert_eq!(events[0].body["message"]["text"], "Sent with a strange id");
    assert_eq!(events[1].body["event"], "ADD_MEMBERS");
    assert_eq!(events[2].body["event"], "callback_query");
}

#[tokio::test]
async fn updates_naming_nothing_that_can_exist_are_acknowledged_and_go_nowhere() {
    let w = world(false, 300).await;
    w.delivered_message_with_buttons().await;
    let huge = "x".repeat(3000);
    let updates = [
        // A click on a message id that cannot be a key: empty, or too long.
        click_update("u-empty-message", ""),
        click_update("u-huge-message", &huge),
        // A private text from an empty or oversized address.
        json!({"update_id": "u-empty-email", "message": {"message_id": "m-901", "text": "hi",
            "user": {"id": "fchat-user-1001", "email": " ", "name": "?"},
            "chat": {"id": "fchat-user-1001", "type": "private"}}}),
        json!({"update_id": "u-huge-email", "message": {"message_id": "m-902", "text": "hi",
            "user": {"id": "fchat-user-1001", "email": format!("{huge}@example.com"), "name": "?"},
            "chat": {"id": "fchat-user-1001", "type": "private"}}}),
        // Room events in rooms that cannot be a group's.
        json!({"update_id": "u-empty-room", "roomID": "", "event": "JOIN_ROOM", "data": {}}),
        json!({"update_id": "u-huge-room", "roomID": huge, "event": "JOIN_ROOM", "data": {}}),
        // A text in a group chat whose id is too long.
        json!({"update_id": "u-huge-chat", "message": {"message_id": "m-903", "text": "hi",
            "user": {"id": "fchat-user-1001", "email": "user@example.com"},
            "chat": {"id": huge, "type": "group"}}}),
    ];
    for update in updates {
        assert_eq!(
            w.stack.fchat.post_callback(update.clone()).await.unwrap(),
            (200, json!({"ok": true})),
            "{}",
            update["update_id"]
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.app.events().is_empty());
    assert_eq!(
        w.poller.poll_once(Duration::from_secs(1)).await.unwrap(),
        (0, 0)
    );
}
