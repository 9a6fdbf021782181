//! The simulator's conversation methods over real loopback sockets: buttons edited alone,
//! messages deleted (kept in the record, marked), and clicks answered with a notice that goes
//! on the click in `GET /_sim/actions`. Chats, users and tokens are named anew on each run.

use std::time::Duration;

use bytes::Bytes;
use fchat_simulator::receiver::{Receiver, ReceiverConfig};
use fchat_simulator::{ButtonRef, Faults, SimUser, Simulator, SimulatorConfig};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

mod common;
use common::client;

struct World {
    sim: Simulator,
    token: String,
    group: String,
    user: SimUser,
    /// Where the simulator's users' updates go: a receiver that answers 200.
    _gateway: Receiver,
}

/// A name no other run uses.
fn fresh(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

async fn world() -> World {
    let (token, group) = (fresh("token"), fresh("room"));
    let user = SimUser {
        email: format!("{}@example.org", fresh("clicker")),
        id: fresh("fchat-id"),
        name: Some("Clicking Person".into()),
    };
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimulatorConfig {
            bot_token: token.clone(),
            users: vec![user.clone()],
            groups: vec![group.clone()],
        },
    )
    .await
    .unwrap();
    let gateway = Receiver::on_loopback(ReceiverConfig::default())
        .await
        .unwrap();
    sim.set_callback(gateway.url(), "secret".into());
    World {
        sim,
        token,
        group,
        user,
        _gateway: gateway,
    }
}

impl World {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.sim.url()))
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let exchange = async {
            let response = client()
                .request(request.body(Full::new(Bytes::from(body))).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice(&bytes).unwrap())
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .expect("the simulator answers")
    }

    async fn post(&self, method: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, &format!("/{method}"), Some(body))
            .await
    }

    /// A message with Yes and No buttons in the group chat; its id.
    async fn question(&self) -> String {
        let (status, answer) = self
            .post(
                "sendMessage",
                json!({"chat_id": self.group, "text": "Ship it?", "reply_markup": {"inline_keyboard": [[
                    {"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]]}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["result"]["message_id"].as_str().unwrap().to_owned()
    }
}

fn description(answer: &Value) -> &str {
    answer["description"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn buttons_are_edited_alone_and_the_text_stays() {
    let w = world().await;
    let id = w.question().await;
    let undo = json!({"inline_keyboard": [[{"text": "Undo", "callback_data": "undo"}]]});
    let (status, answer) = w
        .post(
            "editMessageReplyMarkup",
            json!({"chat_id": w.group, "message_id": id, "reply_markup": undo}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"]["message_id"], id.as_str());
    let message = w
        .sim
        .messages()
        .into_iter()
        .find(|m| m.message_id == id)
        .unwrap();
    assert_eq!(message.text, "Ship it?");
    assert_eq!(message.reply_markup, Some(undo.clone()));
    assert_eq!(message.edits.len(), 1);
    assert!(message.edited_at_ms.is_some());

    // The same buttons again change nothing; none at all, twice, neither.
    let same = json!({"chat_id": w.group, "message_id": id, "reply_markup": undo});
    let (status, answer) = w.post("editMessageReplyMarkup", same).await;
    assert_eq!(
        (status, description(&answer)),
        (
            StatusCode::BAD_REQUEST,
            "Bad Request: message is not modified"
        )
    );
    let none =
        json!({"chat_id": w.group, "message_id": id, "reply_markup": {"inline_keyboard": []}});
    assert_eq!(
        w.post("editMessageReplyMarkup", none.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        w.post(
            "editMessageReplyMarkup",
            json!({"chat_id": w.group, "message_id": id})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    // FChat refusing edits refuses these too, and the faults apply.
    w.sim.set_faults(Faults {
        refuse_edits: true,
        ..Faults::default()
    });
    let again = json!({"chat_id": w.group, "message_id": id, "reply_markup": undo});
    let (status, answer) = w.post("editMessageReplyMarkup", again.clone()).await;
    assert_eq!(
        (status, description(&answer)),
        (
            StatusCode::BAD_REQUEST,
            "Bad Request: message can't be edited"
        )
    );
    w.sim.set_faults(Faults {
        fail_next: 1,
        fail_status: 503,
        ..Faults::default()
    });
    assert_eq!(
        w.post("editMessageReplyMarkup", again.clone()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        w.post("editMessageReplyMarkup", again).await.0,
        StatusCode::OK
    );
    let (status, answer) = w
        .post(
            "editMessageReplyMarkup",
            json!({"chat_id": w.group, "message_id": "m-999", "reply_markup": undo}),
        )
        .await;
    assert_eq!(
        (status, description(&answer)),
        (
            StatusCode::BAD_REQUEST,
            "Bad Request: message to edit not found"
        )
    );
}

#[tokio::test]
async fn a_deleted_message_stays_in_the_record_marked_and_can_no_longer_change() {
    let w = world().await;
    let id = w.question().await;
    let delete = json!({"chat_id": w.group, "message_id": id});
    let (status, answer) = w.post("deleteMessage", delete.clone()).await;
    assert_eq!(
        (status, answer.clone()),
        (StatusCode::OK, json!({"ok": true, "result": true}))
    );
    let (status, answer) = w.post("deleteMessage", delete).await;
    assert_eq!(
        (status, description(&answer)),
        (
            StatusCode::BAD_REQUEST,
            "Bad Request: message to delete not found"
        )
    );
    let (status, messages) = w.call(Method::GET, "/_sim/messages", None).await;
    assert_eq!(status, StatusCode::OK);
    let recorded = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == id.as_str())
        .unwrap();
    assert_eq!(recorded["deleted"], true);
    assert!(recorded["deleted_at_ms"].as_u64().is_some());
    assert_eq!(recorded["text"], "Ship it?");

    let (status, answer) = w
        .post(
            "editMessageText",
            json!({"chat_id": w.group, "message_id": id, "text": "too late"}),
        )
        .await;
    assert_eq!(
        (status, description(&answer)),
        (
            StatusCode::BAD_REQUEST,
            "Bad Request: message to edit not found"
        )
    );
    let (status, answer) = w
        .post(
            "sendMessage",
            json!({"chat_id": w.group, "text": "re", "reply_to_message_id": id}),
        )
        .await;
    assert_eq!(
        (status, description(&answer)),
        (
            StatusCode::BAD_REQUEST,
            "Bad Request: message to reply not found"
        )
    );
    let clicked = w
        .sim
        .act_click(&id, ButtonRef::Index(0), Some(&w.user.email))
        .await;
    assert!(clicked.is_err(), "a deleted message was clicked");
    let (status, _) = w
        .post(
            "deleteMessage",
            json!({"chat_id": "no-such-chat", "message_id": id}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_clicks_notice_goes_on_the_click_once() {
    let w = world().await;
    let id = w.question().await;
    let (status, _) = w
        .sim
        .act_click(&id, ButtonRef::Text("Yes".into()), Some(&w.user.email))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let click = w.sim.actions().pop().unwrap();
    assert_eq!(click.kind, "click");
    let query = click
        .callback_query_id
        .clone()
        .expect("the click's query id");
    assert_eq!(click.notice, None);

    let (status, answer) = w
        .post(
            "answerCallbackQuery",
            json!({"callback_query_id": query, "text": "Approved, thanks"}),
        )
        .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"ok": true, "result": true}))
    );
    let (_, actions) = w.call(Method::GET, "/_sim/actions", None).await;
    let recorded = actions.as_array().unwrap().last().unwrap().clone();
    assert_eq!(recorded["callback_query_id"], query.as_str());
    assert_eq!(recorded["notice"]["text"], "Approved, thanks");
    assert_eq!(recorded["notice"]["show_alert"], false);

    // A click is answered once; an unknown query, a long text or a stranger are refused.
    for (body, expected) in [
        (
            json!({"callback_query_id": query}),
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        ),
        (
            json!({"callback_query_id": "cq-unknown"}),
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        ),
        (
            json!({"callback_query_id": query, "text": "n".repeat(201)}),
            "Bad Request: text is longer than 200 characters",
        ),
        (
            json!({"text": "no id"}),
            "Bad Request: callback_query_id is required",
        ),
    ] {
        let (status, answer) = w.post("answerCallbackQuery", body).await;
        assert_eq!(
            (status, description(&answer)),
            (StatusCode::BAD_REQUEST, expected)
        );
    }
    let (status, _) = w.call(Method::GET, "/answerCallbackQuery", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // An empty answer stops the spinner of another click; an alert is shown as one.
    w.sim
        .act_click(&id, ButtonRef::Text("No".into()), Some(&w.user.email))
        .await
        .unwrap();
    let second = w.sim.actions().pop().unwrap().callback_query_id.unwrap();
    assert_ne!(second, query);
    let (status, _) = w
        .post(
            "answerCallbackQuery",
            json!({"callback_query_id": second, "text": "Careful", "show_alert": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let notice = w.sim.actions().pop().unwrap().notice.unwrap();
    assert!(notice.show_alert);
    assert_eq!(notice.text, "Careful");
}

#[tokio::test]
async fn the_receivers_answer_is_set_over_http_and_reset() {
    let receiver = Receiver::on_loopback(ReceiverConfig::default())
        .await
        .unwrap();
    let base = format!("http://{}", receiver.addr());
    let call = |method: Method, path: &str, body: Option<Value>| {
        let request = Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        async move {
            let response = client().request(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let answer = json!({"notice": "Approved, thanks", "edit": {"reply_markup": null}});
    let (status, _) = call(
        Method::PUT,
        "/_receiver/answer",
        Some(json!({"status": 200, "body": answer})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        Method::POST,
        "/webhook",
        Some(json!({"event": "callback_query"})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, answer));
    for bad in [json!({"status": 99}), json!({"body": {}}), json!("x")] {
        let (status, _) = call(Method::PUT, "/_receiver/answer", Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        call(Method::GET, "/_receiver/answer", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(Method::DELETE, "/_receiver/answer", None).await.0,
        StatusCode::OK
    );
    let (_, body) = call(
        Method::POST,
        "/webhook",
        Some(json!({"event": "callback_query"})),
    )
    .await;
    assert_eq!(body, json!({"ok": true}));
}
