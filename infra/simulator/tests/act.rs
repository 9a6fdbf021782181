//! The simulator acting as FChat's users: the updates it posts to a stand-in gateway must be
//! exactly those of docs/fchat-api.md, "FChat calls the gateway back".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fchat_simulator::{ButtonRef, SimUser, Simulator, SimulatorConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

mod common;
use common::client;

const TOKEN: &str = "test-token";
const SECRET: &str = "callback-s3cret";

/// A request the stand-in gateway received.
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The gateway's callback route, played by a tiny server that records every request and
/// answers what it is told (by default the contract's `200 {"ok": true}`).
struct Gateway {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Recorded>>>,
    answer: Arc<Mutex<(u16, String)>>,
}

impl Gateway {
    async fn start() -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new((200, r#"{"ok":true}"#.to_owned())));
        let (log, told) = (received.clone(), answer.clone());
        fchat_loopback::spawn(listener, move |request: Request<Incoming>, _peer| {
            let (log, told) = (log.clone(), told.clone());
            async move {
                let method = request.method().clone();
                let path = request.uri().path().to_owned();
                let headers = request
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                    .collect();
                let body = request.into_body().collect().await?.to_bytes();
                let body = serde_json::from_slice(&body).expect("the update is JSON");
                log.lock().unwrap().push(Recorded {
                    method,
                    path,
                    headers,
                    body,
                });
                let (status, body) = told.lock().unwrap().clone();
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok::<_, hyper::Error>(response)
            }
        });
        Gateway {
            addr,
            received,
            answer,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/callback/fchat", self.addr)
    }

    fn received(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }

    fn last(&self) -> Value {
        self.received()
            .last()
            .expect("an update arrived")
            .body
            .clone()
    }

    fn answer(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_owned());
    }
}

async fn simulator() -> Simulator {
    Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimulatorConfig {
            bot_token: TOKEN.into(),
            users: vec![
                SimUser {
                    email: "user@example.com".into(),
                    id: "fchat-user-1001".into(),
                    name: Some("Example User".into()),
                },
                SimUser {
                    email: "an.nguyen@example.com".into(),
                    id: "fchat-user-1002".into(),
                    name: Some("Nguyễn Văn An".into()),
                },
            ],
            groups: vec!["beatchat-ops-001".into()],
        },
    )
    .await
    .expect("the simulator starts")
}

/// A simulator whose users act towards a fresh stand-in gateway.
async fn pair() -> (Simulator, Gateway) {
    let sim = simulator().await;
    let gateway = Gateway::start().await;
    sim.set_callback(gateway.url(), SECRET.into());
    (sim, gateway)
}

/// One bounded call to the simulator's HTTP face.
async fn call(sim: &Simulator, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{path}", sim.url()));
    if body.is_some() {
        builder = builder
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let exchange = async {
        let response = client().request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the simulator answers in time")
}

/// Sends a message through `sendMessage`, as the gateway would; answers its `message_id`.
async fn send(sim: &Simulator, chat_id: &str, text: &str, keyboard: Option<Value>) -> String {
    let mut body = json!({"chat_id": chat_id, "text": text});
    if let Some(keyboard) = keyboard {
        body["reply_markup"] = json!({ "inline_keyboard": keyboard });
    }
    let (status, answer) = call(sim, Method::POST, "/sendMessage", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer["result"]["message_id"].as_str().unwrap().to_owned()
}

fn confirm_keyboard() -> Value {
    json!([
        [
            {"text": "Yes", "callback_data": "{\"action\":\"confirm\",\"data\":\"yes\"}"},
            {"text": "No", "callback_data": "{\"action\":\"confirm\",\"data\":\"no\"}"}
        ],
        [{"text": "Later", "callback_data": "later"}]
    ])
}

/// Bounds a library call, so that a hang fails the test instead of blocking it.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("answered in time")
}

#[tokio::test]
async fn act_text_posts_the_documented_text_update() {
    let (sim, gateway) = pair().await;
    // Message ids come from the counter of sent messages.
    assert_eq!(send(&sim, "fchat-user-1001", "Hello", None).await, "m-1");

    let (status, body) = bounded(sim.act_text("User@Example.com", "Looks good to me"))
        .await
        .unwrap();
    assert_eq!((status, body), (200, json!({"ok": true})));

    let received = gateway.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/callback/fchat");
    assert_eq!(request.header("x-fchat-secret"), Some(SECRET));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.body,
        json!({
            "update_id": "u-1",
            "message": {
                "message_id": "m-2",
                "text": "Looks good to me",
                "user": {"id": "fchat-user-1001", "email": "user@example.com", "name": "Example User"},
                "chat": {"id": "fchat-user-1001", "type": "private"}
            }
        })
    );

    bounded(sim.act_text("an.nguyen@example.com", "Xin chào"))
        .await
        .unwrap();
    assert_eq!(
        gateway.last(),
        json!({
            "update_id": "u-2",
            "message": {
                "message_id": "m-3",
                "text": "Xin chào",
                "user": {"id": "fchat-user-1002", "email": "an.nguyen@example.com", "name": "Nguyễn Văn An"},
                "chat": {"id": "fchat-user-1002", "type": "private"}
            }
        })
    );
    // A user's message is not something the bot sent.
    assert_eq!(sim.messages().len(), 1);
    // And the next sent message does not reuse an id.
    assert_eq!(send(&sim, "fchat-user-1001", "Bye", None).await, "m-4");

    let unknown = bounded(sim.act_text("nobody@example.com", "hi")).await;
    assert!(unknown.is_err());
    assert_eq!(gateway.received().len(), 2);
}

#[tokio::test]
async fn act_click_sends_the_buttons_callback_data() {
    let (sim, gateway) = pair().await;
    let message_id = send(
        &sim,
        "fchat-user-1001",
        "Approve this request?",
        Some(confirm_keyboard()),
    )
    .await;

    let (status, body) = bounded(sim.act_click(&message_id, "Yes".into(), None))
        .await
        .unwrap();
    assert_eq!((status, body), (200, json!({"ok": true})));
    let request = &gateway.received()[0];
    assert_eq!(request.header("x-fchat-secret"), Some(SECRET));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.body,
        json!({
            "update_id": "u-1",
            "message": {
                "text": "Approve this request?",
                "user": {"id": "fchat-user-1001", "email": "user@example.com", "name": "Example User"},
                "chat": {"id": "fchat-user-1001", "type": "private"},
                "callback_query": {
                    "id": "cq-1",
                    "data": "{\"action\":\"confirm\",\"data\":\"yes\"}",
                    "message": {"message_id": "m-1"}
                }
            }
        })
    );

    // By index, row by row: 2 is the second row's only button. In a user's chat the email
    // given is ignored: the chat's user clicks.
    bounded(sim.act_click(
        &message_id,
        ButtonRef::Index(2),
        Some("an.nguyen@example.com"),
    ))
    .await
    .unwrap();
    let update = gateway.last();
    assert_eq!(update["update_id"], "u-2");
    assert_eq!(update["message"]["callback_query"]["id"], "cq-2");
    assert_eq!(update["message"]["callback_query"]["data"], "later");
    assert_eq!(update["message"]["user"]["id"], "fchat-user-1001");
    bounded(sim.act_click(&message_id, ButtonRef::Index(1), None))
        .await
        .unwrap();
    assert_eq!(
        gateway.last()["message"]["callback_query"]["data"],
        "{\"action\":\"confirm\",\"data\":\"no\"}"
    );
}

#[tokio::test]
async fn a_click_in_a_group_needs_the_users_email() {
    let (sim, gateway) = pair().await;
    let message_id = send(
        &sim,
        "beatchat-ops-001",
        "Deploy?",
        Some(confirm_keyboard()),
    )
    .await;

    let anonymous = bounded(sim.act_click(&message_id, "Yes".into(), None)).await;
    assert!(anonymous.is_err());
    let stranger = bounded(sim.act_click(&message_id, "Yes".into(), Some("x@example.com"))).await;
    assert!(stranger.is_err());
    assert!(gateway.received().is_empty());

    bounded(sim.act_click(&message_id, "No".into(), Some("AN.NGUYEN@example.com")))
        .await
        .unwrap();
    assert_eq!(
        gateway.last(),
        json!({
            "update_id": "u-1",
            "message": {
                "text": "Deploy?",
                "user": {"id": "fchat-user-1002", "email": "an.nguyen@example.com", "name": "Nguyễn Văn An"},
                "chat": {"id": "beatchat-ops-001", "type": "group"},
                "callback_query": {
                    "id": "cq-1",
                    "data": "{\"action\":\"confirm\",\"data\":\"no\"}",
                    "message": {"message_id": "m-1"}
                }
            }
        })
    );
}

#[tokio::test]
async fn clicks_on_unknown_messages_or_buttons_fail_without_posting() {
    let (sim, gateway) = pair().await;
    let with_buttons = send(&sim, "fchat-user-1001", "Pick", Some(confirm_keyboard())).await;
    let without = send(&sim, "fchat-user-1001", "Just text", None).await;

    let error = bounded(sim.act_click("m-99", "Yes".into(), None))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("m-99"), "{error}");
    for (message_id, button) in [
        (&with_buttons, ButtonRef::from("Maybe")),
        (&with_buttons, ButtonRef::Index(3)),
        (&without, ButtonRef::Index(0)),
    ] {
        let outcome = bounded(sim.act_click(message_id, button.clone(), None)).await;
        assert!(outcome.is_err(), "{message_id} {button:?}");
    }
    // Cleared messages are forgotten.
    sim.clear_messages();
    assert!(bounded(sim.act_click(&with_buttons, "Yes".into(), None))
        .await
        .is_err());
    assert!(gateway.received().is_empty());
}

#[tokio::test]
async fn act_room_posts_the_documented_room_events() {
    let (sim, gateway) = pair().await;
    let (status, _) = bounded(sim.act_room("beatchat-ops-001", "JOIN_ROOM", None, None))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let request = &gateway.received()[0];
    assert_eq!(request.header("x-fchat-secret"), Some(SECRET));
    assert_eq!(request.header("content-type"), Some("application/json"));
    // Without an email, the first known user.
    let example_user = json!({"_id": "fchat-user-1001", "id": "fchat-user-1001", "nickname": "Example User", "isRobot": false});
    assert_eq!(
        request.body,
        json!({
            "update_id": "u-1",
            "appID": "fchat",
            "clientID": "fchat-user-1001",
            "roomID": "beatchat-ops-001",
            "event": "JOIN_ROOM",
            "data": {
                "room": "beatchat-ops-001",
                "sender": example_user,
                "members": [example_user]
            }
        })
    );

    for event in ["ADD_MEMBERS", "DELETE_MEMBERS"] {
        bounded(sim.act_room(
            "beatchat-ops-001",
            event,
            Some("an.nguyen@example.com"),
            None,
        ))
        .await
        .unwrap();
        let update = gateway.last();
        assert_eq!(update["event"], event);
        assert_eq!(update["clientID"], "fchat-user-1002");
        assert_eq!(update["data"]["members"][0]["nickname"], "Nguyễn Văn An");
    }

    bounded(sim.act_room(
        "beatchat-ops-001",
        "MESSAGE",
        Some("an.nguyen@example.com"),
        Some("Server is down"),
    ))
    .await
    .unwrap();
    let an = json!({"_id": "fchat-user-1002", "id": "fchat-user-1002", "nickname": "Nguyễn Văn An", "isRobot": false});
    assert_eq!(
        gateway.last(),
        json!({
            "update_id": "u-4",
            "appID": "fchat",
            "clientID": "fchat-user-1002",
            "roomID": "beatchat-ops-001",
            "event": "MESSAGE",
            "data": {
                "room": "beatchat-ops-001",
                "sender": an,
                "members": [an],
                "message": "Server is down",
                "messageType": "text",
                "id": "m-1",
                "_id": "m-1"
            }
        })
    );

    // Bad input posts nothing.
    for (event, email, text) in [
        ("LEAVE_ROOM", None, None),
        ("MESSAGE", None, None),
        ("JOIN_ROOM", None, Some("hi")),
        ("JOIN_ROOM", Some("nobody@example.com"), None),
    ] {
        let outcome = bounded(sim.act_room("beatchat-ops-001", event, email, text)).await;
        assert!(outcome.is_err(), "{event} {email:?} {text:?}");
    }
    // A room FChat does not have: only its group chats have events.
    let outcome = bounded(sim.act_room("ops-room-2", "JOIN_ROOM", None, None)).await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(gateway.received().len(), 4);
}

#[tokio::test]
async fn the_gateways_answer_comes_back_as_it_is() {
    let (sim, gateway) = pair().await;
    gateway.answer(401, r#"{"ok":false,"error":"unauthorized"}"#);
    let answer = bounded(sim.act_text("user@example.com", "hi"))
        .await
        .unwrap();
    assert_eq!(answer, (401, json!({"ok": false, "error": "unauthorized"})));
    gateway.answer(500, "");
    let answer = bounded(sim.act_text("user@example.com", "hi"))
        .await
        .unwrap();
    assert_eq!(answer, (500, Value::Null));
    gateway.answer(502, "<html>bad gateway</html>");
    let answer = bounded(sim.act_text("user@example.com", "hi"))
        .await
        .unwrap();
    assert_eq!(answer, (502, json!("<html>bad gateway</html>")));
}

#[tokio::test]
async fn post_callback_sends_hand_made_updates_as_they_are() {
    let (sim, gateway) = pair().await;
    let update = json!({"update_id": "u-dup", "message": {"text": "twice"}});
    for _ in 0..2 {
        let answer = bounded(sim.post_callback(update.clone())).await.unwrap();
        assert_eq!(answer, (200, json!({"ok": true})));
    }
    let received = gateway.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.body == update));
    assert!(received
        .iter()
        .all(|r| r.header("x-fchat-secret") == Some(SECRET)));
}

#[tokio::test]
async fn acting_needs_a_reachable_callback() {
    let sim = simulator().await;
    let error = bounded(sim.act_text("user@example.com", "hi"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("callback"), "{error}");

    // A port nobody listens on any more.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    sim.set_callback(format!("http://{addr}/callback/fchat"), SECRET.into());
    let error = bounded(sim.act_text("user@example.com", "hi"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains(&addr.to_string()), "{error}");

    // The callback can change at run time.
    let gateway = Gateway::start().await;
    sim.set_callback(gateway.url(), "other-secret".into());
    bounded(sim.act_text("user@example.com", "hi"))
        .await
        .unwrap();
    assert_eq!(
        gateway.received()[0].header("x-fchat-secret"),
        Some("other-secret")
    );
}

#[tokio::test]
async fn control_endpoints_act_as_users() {
    let sim = simulator().await;
    let gateway = Gateway::start().await;

    // Without a callback: 400 in the error format.
    let (status, answer) = call(
        &sim,
        Method::POST,
        "/_sim/act/text",
        Some(json!({"email": "user@example.com", "text": "hi"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["error_code"], 400);

    let (status, answer) = call(
        &sim,
        Method::PUT,
        "/_sim/callback",
        Some(json!({"url": gateway.url(), "secret": SECRET})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    for bad in [
        json!({"url": "not a url", "secret": "s"}),
        json!({"url": "https://127.0.0.1/x", "secret": "s"}),
        json!({"url": "http://127.0.0.1/x"}),
    ] {
        let (status, _) = call(&sim, Method::PUT, "/_sim/callback", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
    }

    let (status, answer) = call(
        &sim,
        Method::POST,
        "/_sim/act/text",
        Some(json!({"email": "user@example.com", "text": "hi"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"status": 200, "body": {"ok": true}}));
    assert_eq!(gateway.last()["message"]["text"], "hi");
    assert_eq!(gateway.received()[0].header("x-fchat-secret"), Some(SECRET));

    let message_id = send(
        &sim,
        "beatchat-ops-001",
        "Deploy?",
        Some(confirm_keyboard()),
    )
    .await;
    let (status, answer) = call(
        &sim,
        Method::POST,
        "/_sim/act/click",
        Some(json!({"message_id": message_id, "button": 1, "email": "user@example.com"})),
    )
    .await;
    assert_eq!((status, answer["status"].clone()), (200, json!(200)));
    assert_eq!(
        gateway.last()["message"]["callback_query"]["data"],
        "{\"action\":\"confirm\",\"data\":\"no\"}"
    );
    gateway.answer(503, r#"{"ok":false}"#);
    let (status, answer) = call(
        &sim,
        Method::POST,
        "/_sim/act/click",
        Some(json!({"message_id": message_id, "button": "Yes", "email": "user@example.com"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"status": 503, "body": {"ok": false}}));
    assert_eq!(
        gateway.last()["message"]["callback_query"]["data"],
        "{\"action\":\"confirm\",\"data\":\"yes\"}"
    );
    gateway.answer(200, r#"{"ok":true}"#);

    let (status, answer) = call(
        &sim,
        Method::POST,
        "/_sim/act/room",
        Some(json!({"room_id": "beatchat-ops-001", "event": "MESSAGE", "text": "hello room"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], 200);
    assert_eq!(gateway.last()["data"]["message"], "hello room");
    assert_eq!(gateway.last()["data"]["sender"]["id"], "fchat-user-1001");

    // Bad input: unknown things are 404, nonsense is 400, both in the error format.
    let cases = [
        (
            "/_sim/act/click",
            json!({"message_id": "m-99", "button": 0}),
            404,
        ),
        (
            "/_sim/act/click",
            json!({"message_id": message_id, "button": "Maybe", "email": "user@example.com"}),
            404,
        ),
        (
            "/_sim/act/click",
            json!({"message_id": message_id, "button": 0}),
            400,
        ),
        (
            "/_sim/act/click",
            json!({"message_id": message_id, "button": -1}),
            400,
        ),
        (
            "/_sim/act/text",
            json!({"email": "nobody@example.com", "text": "hi"}),
            404,
        ),
        ("/_sim/act/text", json!({"email": "user@example.com"}), 400),
        (
            "/_sim/act/room",
            json!({"room_id": "beatchat-ops-001", "event": "NOPE"}),
            400,
        ),
        (
            "/_sim/act/room",
            json!({"room_id": "beatchat-ops-001", "event": "MESSAGE"}),
            400,
        ),
        (
            "/_sim/act/room",
            json!({"room_id": "no-such-room", "event": "JOIN_ROOM"}),
            404,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = call(&sim, Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, expected, "{path} {body}");
        assert_eq!(answer["ok"], false, "{path} {body}");
        assert_eq!(answer["error_code"], expected, "{path} {body}");
    }
    let (status, _) = call(&sim, Method::GET, "/_sim/act/text", None).await;
    assert_eq!(status, 405);
    let (status, _) = call(&sim, Method::GET, "/_sim/callback", None).await;
    assert_eq!(status, 405);
    assert_eq!(gateway.received().len(), 4);
}

#[tokio::test]
async fn what_users_do_is_recorded_in_their_chats_with_the_gateways_answer() {
    let (sim, gateway) = pair().await;
    let asked = send(&sim, "fchat-user-1001", "Deploy?", Some(confirm_keyboard())).await;
    bounded(sim.act_text("user@example.com", "hello"))
        .await
        .unwrap();
    gateway.answer(503, r#"{"ok":false}"#);
    bounded(sim.act_click(&asked, ButtonRef::Text("No".into()), None))
        .await
        .unwrap();
    gateway.answer(200, r#"{"ok":true}"#);
    bounded(sim.act_room(
        "beatchat-ops-001",
        "MESSAGE",
        Some("an.nguyen@example.com"),
        Some("on it"),
    ))
    .await
    .unwrap();
    bounded(sim.act_room("beatchat-ops-001", "DELETE_MEMBERS", None, None))
        .await
        .unwrap();

    let actions = sim.actions();
    let seen: Vec<_> = actions
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.chat_id.as_str(),
                a.kind.as_str(),
                a.text.as_deref(),
                a.status,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("a-1", "fchat-user-1001", "text", Some("hello"), Some(200)),
            ("a-2", "fchat-user-1001", "click", Some("No"), Some(503)),
            (
                "a-3",
                "beatchat-ops-001",
                "MESSAGE",
                Some("on it"),
                Some(200)
            ),
            ("a-4", "beatchat-ops-001", "DELETE_MEMBERS", None, Some(200)),
        ]
    );
    // The user's message has the id its update carried; a click names the clicked message.
    let updates = gateway.received();
    assert_eq!(
        actions[0].message_id.as_deref(),
        updates[0].body["message"]["message_id"].as_str()
    );
    assert_eq!(actions[1].message_id.as_deref(), Some(asked.as_str()));
    assert_eq!(actions[1].answer, Some(json!({"ok": false})));
    assert_eq!(actions[2].user.email, "an.nguyen@example.com");
    assert_eq!(actions[3].user.email, "user@example.com");
    // They are not FChat's record of what the gateway sent.
    assert_eq!(sim.messages().len(), 1);

    // The bot may answer a user's message; a click is no message to answer.
    let reply = |to: &str| json!({"chat_id": "fchat-user-1001", "text": "noted", "reply_to_message_id": to});
    let users_message = actions[0].message_id.clone().unwrap();
    let (status, answer) = call(
        &sim,
        Method::POST,
        "/sendMessage",
        Some(reply(&users_message)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = call(&sim, Method::POST, "/sendMessage", Some(reply("a-2"))).await;
    assert_eq!(status, 400);

    // Over HTTP too, with the directory.
    let (status, listed) = call(&sim, Method::GET, "/_sim/actions", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert_eq!(listed[1]["kind"], "click");
    let (status, users) = call(&sim, Method::GET, "/_sim/users", None).await;
    assert_eq!(status, 200);
    assert_eq!(users["result"][1]["email"], "an.nguyen@example.com");

    // An action the gateway never answered says why.
    sim.set_callback("http://127.0.0.1:9/callback/fchat".into(), SECRET.into());
    assert!(bounded(sim.act_text("user@example.com", "anyone?"))
        .await
        .is_err());
    let last = sim.actions().pop().unwrap();
    assert_eq!((last.status, last.answer.is_none()), (None, true));
    assert!(last.error.unwrap().contains("127.0.0.1:9"));

    // Forgetting the record forgets them too.
    let (status, _) = call(&sim, Method::DELETE, "/_sim/messages", None).await;
    assert_eq!(status, 200);
    assert!(sim.actions().is_empty());
}
