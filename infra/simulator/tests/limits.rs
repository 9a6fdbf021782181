//! FChat's rate limits in the simulator, over real loopback sockets: off by default, turned on
//! and off through `/_sim/limits`, answered as FChat answers them.

use std::time::Duration;

use bytes::Bytes;
use fchat_simulator::{Limits, SimUser, Simulator, SimulatorConfig};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use serde_json::{json, Value};

mod common;
use common::client;

/// Names nobody wrote twice: each run's chats, user and token differ.
fn fresh(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{nanos:x}")
}

struct World {
    sim: Simulator,
    token: String,
    group: String,
    user: String,
}

async fn world() -> World {
    let token = fresh("bot");
    let group = fresh("room ops");
    let user = fresh("fchat-user");
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimulatorConfig {
            bot_token: token.clone(),
            users: vec![SimUser {
                email: format!("{}@example.org", fresh("someone")),
                id: user.clone(),
                name: None,
            }],
            groups: vec![group.clone()],
        },
    )
    .await
    .expect("the simulator starts");
    World {
        sim,
        token,
        group,
        user,
    }
}

/// One bounded request: the status, the `Retry-After` header, the JSON body.
async fn call(
    w: &World,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", w.sim.url()))
        .header("authorization", format!("Bearer {}", w.token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let exchange = async {
        let response = client().request(request).await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry_after, serde_json::from_slice(&bytes).unwrap())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the simulator answers")
}

async fn send(w: &World, chat: &str, text: &str) -> (u16, Option<String>, Value) {
    call(
        w,
        Method::POST,
        "/sendMessage",
        Some(json!({"chat_id": chat, "text": text})),
    )
    .await
}

#[tokio::test]
async fn limits_are_off_until_turned_on() {
    let w = world().await;
    let (status, _, shown) = call(&w, Method::GET, "/_sim/limits", None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["refused"], 0);
    for i in 0..7 {
        assert_eq!(send(&w, &w.group, &format!("burst {i}")).await.0, 200);
    }
    assert_eq!(w.sim.messages().len(), 7);
    assert_eq!(w.sim.limits().refused, 0);
}

#[tokio::test]
async fn a_chat_over_its_limit_gets_429_with_retry_after_and_nothing_changes() {
    let w = world().await;
    // Left-out fields take FChat's documented values.
    let (status, _, set) = call(
        &w,
        Method::PUT,
        "/_sim/limits",
        Some(json!({"per_group_per_minute": 3})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        set,
        json!({"enabled": true, "per_chat_per_second": 1, "per_group_per_minute": 3,
               "global_per_second": 30, "refused": 0})
    );

    let (status, _, first) = send(&w, &w.group, "first").await;
    assert_eq!(status, 200);
    // The same chat within the second: refused, FChat's way.
    let (status, retry_after, refused) = send(&w, &w.group, "too soon").await;
    assert_eq!(status, 429);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error_code"], 429);
    assert_eq!(refused["parameters"]["retry_after"], 1);
    // Another chat is not held back.
    assert_eq!(send(&w, &w.user, "elsewhere").await.0, 200);
    // An edit counts as a send.
    let message_id = first["result"]["message_id"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        &w,
        Method::POST,
        "/editMessageText",
        Some(json!({"chat_id": w.group, "message_id": message_id, "text": "edited"})),
    )
    .await;
    assert_eq!(status, 429);
    let texts: Vec<String> = w.sim.messages().iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, ["first", "elsewhere"], "refusals change nothing");

    // A second later the chat may post again; the group's minute allows three.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(send(&w, &w.group, "second").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(send(&w, &w.group, "third").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (status, _, minute) = send(&w, &w.group, "fourth").await;
    assert_eq!(status, 429);
    let wait = minute["parameters"]["retry_after"].as_u64().unwrap();
    assert!((50..=60).contains(&wait), "{minute}");

    let (_, _, shown) = call(&w, Method::GET, "/_sim/limits", None).await;
    assert_eq!(shown["refused"], 3);
    assert_eq!(w.sim.limits().refused, 3);

    // Off: everything goes again, and the count stays readable.
    let (status, _, off) = call(&w, Method::DELETE, "/_sim/limits", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (off["enabled"].clone(), off["refused"].clone()),
        (json!(false), json!(3))
    );
    assert_eq!(send(&w, &w.group, "fourth").await.0, 200);
}

#[tokio::test]
async fn bad_limits_are_refused_and_change_nothing() {
    let w = world().await;
    w.sim.set_limits(Some(Limits {
        per_chat_per_second: 2,
        ..Limits::default()
    }));
    for body in [
        json!({"per_chat_per_second": -1}),
        json!({"per_chat_per_second": "one"}),
        json!({"per_chat": 1}),
        json!("on"),
    ] {
        let (status, _, answer) = call(&w, Method::PUT, "/_sim/limits", Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["ok"], false);
    }
    assert_eq!(w.sim.limits().per_chat_per_second, Some(2));
    let (status, _, _) = call(&w, Method::POST, "/_sim/limits", Some(json!({}))).await;
    assert_eq!(status, 405);
}
