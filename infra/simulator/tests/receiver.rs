//! The demo app webhook over real loopback sockets, fed requests signed here by a hand-written
//! HMAC-SHA256 (RFC 2104 over `sha2`), independent of the receiver's `hmac`-based check.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use fchat_simulator::receiver::{Receiver, ReceiverApp, ReceiverConfig};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod common;
use common::{assert_stopped, client};

/// The seed's app secret (`infra/local/seed.json`).
const SECRET: &str = "whsec_O0PrM7LIUOD/7Mw/aWYEcHrYT84mdpo07/YwJNBFDuM=";
const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// HMAC-SHA256 as RFC 2104 defines it, for keys up to the 64-byte block.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    assert!(key.len() <= 64);
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// `v1,<base64>` for `{id}.{timestamp}.{body}` under a `whsec_` secret.
fn signature(secret: &str, id: &str, timestamp: u64, body: &str) -> String {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mac = hmac_sha256(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(mac))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_hand_written_hmac_matches_a_known_answer() {
    // The Standard Webhooks libraries' documented example, also recomputed with Python.
    assert_eq!(
        signature(
            OTHER_SECRET,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

async fn receiver(echo: bool) -> Receiver {
    Receiver::on_loopback(ReceiverConfig {
        echo,
        ..ReceiverConfig::checked_with(SECRET)
    })
    .await
    .expect("the receiver starts")
}

/// POSTs `body` with the given signature headers; answers the status and the JSON body
/// (`null` when empty). Bounded in time.
async fn post(url: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let exchange = async {
        let response = client().request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        (status, body)
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("the receiver answers in time")
}

/// POSTs `body` signed with `secret` as the gateway would, now.
async fn post_signed(url: &str, secret: &str, id: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let timestamp = now();
    let headers = [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature(secret, id, timestamp, &body)),
    ];
    post(url, &headers, &body).await
}

fn click_event() -> Value {
    json!({
        "update_id": "u-3",
        "event": "callback_query",
        "app": "MY_APP",
        "context": {"id": "ctx-1", "parameters": {}},
        "botState": null,
        "message": {
            "text": "Approve this request?",
            "callback_query": {"id": "cq-1", "data": "yes", "message": {"message_id": "m-1"}}
        }
    })
}

fn message_event(text: &str) -> Value {
    json!({
        "update_id": "u-4",
        "event": "message",
        "app": "MY_APP",
        "context": {"id": "ctx-1", "parameters": {}},
        "message": {"message_id": "m-2", "text": text}
    })
}

#[tokio::test]
async fn a_signed_request_is_verified_and_recorded() {
    let receiver = receiver(false).await;
    assert!(receiver.url().ends_with("/webhook"));
    assert!(receiver.url().starts_with("http://127.0.0.1:"));
    let mut live = receiver.subscribe();

    let answer = post_signed(&receiver.url(), SECRET, "u-3.MY_APP", &click_event()).await;
    assert_eq!(answer, (200, json!({"ok": true})));

    let events = receiver.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(event.verified);
    assert_eq!(event.invalid_reason, None);
    assert_eq!(event.body, click_event());
    assert_eq!(event.header("webhook-id"), Some("u-3.MY_APP"));
    assert!(event
        .header("webhook-signature")
        .unwrap()
        .starts_with("v1,"));
    assert!(event.received_at_ms > 1_700_000_000_000);
    let streamed = tokio::time::timeout(Duration::from_secs(1), live.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&streamed, event);

    receiver.clear_events();
    assert!(receiver.events().is_empty());
}

#[tokio::test]
async fn a_wrong_signature_is_401_and_recorded_unverified() {
    let receiver = receiver(false).await;
    let invalid = json!({"ok": false, "error": "invalid signature"});

    let answer = post_signed(&receiver.url(), OTHER_SECRET, "u-3.MY_APP", &click_event()).await;
    assert_eq!(answer, (401, invalid.clone()));

    // Right secret, but the body changed after signing.
    let timestamp = now();
    let signed = click_event().to_string();
    let headers = [
        ("webhook-id", "u-3.MY_APP".to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature(SECRET, "u-3.MY_APP", timestamp, &signed),
        ),
    ];
    let tampered = signed.replace("yes", "no");
    assert_eq!(
        post(&receiver.url(), &headers, &tampered).await,
        (401, invalid.clone())
    );

    // Right secret and body, but signed ten minutes ago: a replay.
    let old = now() - 600;
    let headers = [
        ("webhook-id", "u-3.MY_APP".to_owned()),
        ("webhook-timestamp", old.to_string()),
        (
            "webhook-signature",
            signature(SECRET, "u-3.MY_APP", old, &signed),
        ),
    ];
    assert_eq!(
        post(&receiver.url(), &headers, &signed).await,
        (401, invalid.clone())
    );

    // No signature at all.
    assert_eq!(
        post(&receiver.url(), &[], &signed).await,
        (401, invalid.clone())
    );

    let events = receiver.events();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| !e.verified));
    assert!(events.iter().all(|e| e.invalid_reason.is_some()));
    assert_eq!(
        events[2].invalid_reason.as_deref(),
        Some("webhook-timestamp is too old")
    );
    assert_eq!(
        events[3].invalid_reason.as_deref(),
        Some("no webhook-id header")
    );
    // Recorded as received, tampering included.
    assert_eq!(events[1].body["message"]["callback_query"]["data"], "no");
}

#[tokio::test]
async fn a_second_listed_signature_may_be_the_matching_one() {
    let receiver = receiver(false).await;
    let body = click_event().to_string();
    let timestamp = now();
    let id = "u-3.MY_APP";
    let both = format!(
        "{} {}",
        signature(OTHER_SECRET, id, timestamp, &body),
        signature(SECRET, id, timestamp, &body)
    );
    let headers = [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", both),
    ];
    assert_eq!(
        post(&receiver.url(), &headers, &body).await,
        (200, json!({"ok": true}))
    );
    assert!(receiver.events()[0].verified);
}

#[tokio::test]
async fn set_answer_plays_an_app_that_is_down_or_gone() {
    let receiver = receiver(false).await;
    receiver.set_answer(503, None);
    for _ in 0..2 {
        let answer = post_signed(&receiver.url(), SECRET, "u-3.MY_APP", &click_event()).await;
        assert_eq!(answer, (503, Value::Null));
    }
    receiver.set_answer(410, Some(json!({"error": "gone"})));
    let answer = post_signed(&receiver.url(), SECRET, "u-3.MY_APP", &click_event()).await;
    assert_eq!(answer, (410, json!({"error": "gone"})));
    // A bad signature is refused whatever the app would answer.
    let answer = post_signed(&receiver.url(), OTHER_SECRET, "u-3.MY_APP", &click_event()).await;
    assert_eq!(answer.0, 401);
    receiver.reset_answer();
    let answer = post_signed(&receiver.url(), SECRET, "u-3.MY_APP", &click_event()).await;
    assert_eq!(answer, (200, json!({"ok": true})));
    // Every request is recorded, whatever it was answered.
    let verified: Vec<bool> = receiver.events().iter().map(|e| e.verified).collect();
    assert_eq!(verified, [true, true, true, false, true]);
}

#[tokio::test]
async fn echo_mode_replies_to_users_messages() {
    let receiver = receiver(true).await;
    let answer = post_signed(
        &receiver.url(),
        SECRET,
        "u-4.MY_APP",
        &message_event("Xin chào"),
    )
    .await;
    assert_eq!(answer, (200, json!({"text": "You said: Xin chào"})));
    // Not a message: the plain acknowledgement.
    let answer = post_signed(&receiver.url(), SECRET, "u-3.MY_APP", &click_event()).await;
    assert_eq!(answer, (200, json!({"ok": true})));
    // Unverified messages get no reply.
    let answer = post_signed(
        &receiver.url(),
        OTHER_SECRET,
        "u-5.MY_APP",
        &message_event("hi"),
    )
    .await;
    assert_eq!(answer.0, 401);
    // An answer that was set wins over the echo.
    receiver.set_answer(200, Some(json!({"ok": true, "note": "busy"})));
    let answer = post_signed(&receiver.url(), SECRET, "u-6.MY_APP", &message_event("hi")).await;
    assert_eq!(answer, (200, json!({"ok": true, "note": "busy"})));

    // Without echo, a message is only acknowledged.
    let quiet = self::receiver(false).await;
    let answer = post_signed(&quiet.url(), SECRET, "u-4.MY_APP", &message_event("hi")).await;
    assert_eq!(answer, (200, json!({"ok": true})));
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_and_not_recorded() {
    let receiver = receiver(false).await;
    let base = format!("http://{}", receiver.addr());
    let (status, _) = post(&format!("{base}/elsewhere"), &[], "{}").await;
    assert_eq!(status, 404);
    let request = Request::builder()
        .uri(receiver.url())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), client().request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(receiver.events().is_empty());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let receiver = receiver(false).await;
    let addr = receiver.addr();
    drop(receiver);
    assert_stopped(addr).await;
}

#[tokio::test]
async fn every_app_has_its_own_path_checked_with_its_own_secret() {
    let receiver = Receiver::on_loopback(ReceiverConfig {
        apps: vec![
            ReceiverApp {
                name: "billing".into(),
                secrets: vec![SECRET.into()],
            },
            ReceiverApp {
                name: "Đội vận hành #2".into(),
                secrets: vec![OTHER_SECRET.into()],
            },
            ReceiverApp {
                name: "no-secret-app".into(),
                secrets: vec![],
            },
        ],
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let billing = receiver.app_url("billing");
    let team = receiver.app_url("Đội vận hành #2");
    assert!(billing.ends_with("/webhook/billing"), "{billing}");
    assert!(
        team.ends_with("/webhook/%C4%90%E1%BB%99i%20v%E1%BA%ADn%20h%C3%A0nh%20%232"),
        "{team}"
    );

    // Each app verifies with its own secret, and only with it.
    let invalid = (401, json!({"ok": false, "error": "invalid signature"}));
    assert_eq!(
        post_signed(&billing, SECRET, "u-1.billing", &click_event()).await,
        (200, json!({"ok": true}))
    );
    assert_eq!(
        post_signed(&billing, OTHER_SECRET, "u-2.billing", &click_event()).await,
        invalid
    );
    assert_eq!(
        post_signed(&team, OTHER_SECRET, "u-3.team", &click_event()).await,
        (200, json!({"ok": true}))
    );
    assert_eq!(
        post_signed(&team, SECRET, "u-4.team", &click_event()).await,
        invalid
    );
    // An app without a secret, or one the receiver was not told about (created later), is
    // served without a check.
    for name in ["no-secret-app", "created later"] {
        let (status, _) = post(&receiver.app_url(name), &[], &click_event().to_string()).await;
        assert_eq!(status, 200, "{name}");
    }

    let events = receiver.events();
    let seen: Vec<(Option<&str>, bool, bool)> = events
        .iter()
        .map(|e| (e.app.as_deref(), e.signature_checked, e.verified))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("billing"), true, true),
            (Some("billing"), true, false),
            (Some("Đội vận hành #2"), true, true),
            (Some("Đội vận hành #2"), true, false),
            (Some("no-secret-app"), false, false),
            (Some("created later"), false, false),
        ]
    );
    assert_eq!(events[4].invalid_reason, None);
    assert!(events[1].invalid_reason.is_some());

    // Paths no app can have are not served; `/webhook` has no secret here, so it is unchecked.
    let base = format!("http://{}", receiver.addr());
    for path in [
        "/webhook/",
        "/webhook/a/b",
        "/webhook/a%2Fb",
        "/webhook/%FF",
        "/webhooks/x",
    ] {
        let (status, _) = post(&format!("{base}{path}"), &[], "{}").await;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(receiver.events().len(), 6);
    let (status, _) = post(&receiver.url(), &[], "{}").await;
    assert_eq!(status, 200);
    assert_eq!(receiver.events()[6].app, None);
    assert!(!receiver.events()[6].signature_checked);
}

#[tokio::test]
async fn each_request_is_kept_with_its_raw_body_and_answer_and_listed_over_http() {
    let receiver = receiver(true).await;
    let body = message_event("Xin chào");
    post_signed(&receiver.url(), SECRET, "u-4.MY_APP", &body).await;
    post_signed(&receiver.url(), OTHER_SECRET, "u-5.MY_APP", &click_event()).await;
    let events = receiver.events();
    assert_eq!(events[0].raw_body, body.to_string());
    assert_eq!(
        (events[0].answer_status, &events[0].answer_body),
        (200, &json!({"text": "You said: Xin chào"}))
    );
    assert_eq!(
        (events[1].answer_status, &events[1].answer_body),
        (401, &json!({"ok": false, "error": "invalid signature"}))
    );

    let url = format!(
        "http://{}{}",
        receiver.addr(),
        fchat_simulator::receiver::EVENTS_PATH
    );
    let request = Request::builder()
        .uri(&url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), client().request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let listed: Vec<fchat_simulator::receiver::ReceivedEvent> =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(listed, events);
    // Listing is not receiving: a POST there is refused and nothing is recorded.
    let (status, _) = post(&url, &[], "{}").await;
    assert_eq!(status, 405);
    assert_eq!(receiver.events().len(), 2);
}
