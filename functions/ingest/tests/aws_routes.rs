//! The AWS routes end to end, over HTTP: an SNS topic's subscription confirmed, a CloudWatch
//! alarm firing and resolving, and an EventBridge event, posted through the local API gateway
//! to the real `ingest` binary (on moto) and delivered by the real `delivery` binary into the
//! FChat simulator.
//!
//! The test is its own SNS: it signs messages with the tests' key (shared/tests/fixtures/sns,
//! test-only) and serves the certificate and the `SubscribeURL` on 127.0.0.1, which the local
//! stack's `SNS_ALLOW_LOOPBACK` lets the gateway fetch. A deployment fetches only from SNS's
//! hosts over https.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use fchat_local::harness::{sibling_binary, Stack};
use fchat_local::seed::Seed;
use gateway::domain::sources::sns::{SignatureVersion, SnsEnvelope, SnsType};
use gateway::ports::{Clock as _, SystemClock};
use http_body_util::Full;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const DELIVERY_LIMIT: Duration = Duration::from_secs(60);

fn fixture(path: &str) -> String {
    std::fs::read_to_string(
        fchat_local::workspace_root()
            .join("shared/tests/fixtures")
            .join(path),
    )
    .unwrap()
}

/// A stand-in for SNS's host on 127.0.0.1: it serves the signing certificate at `/cert.pem`,
/// answers confirmations at `/confirm`, and records every path asked for.
struct FakeSns {
    base: String,
    requested: Arc<Mutex<Vec<String>>>,
}

impl FakeSns {
    async fn start() -> FakeSns {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requested = Arc::new(Mutex::new(Vec::new()));
        let seen = requested.clone();
        let certificate = fixture("sns/test-only-signing-cert.pem");
        fchat_loopback::spawn(listener, move |request: hyper::Request<_>, _peer| {
            let (seen, certificate) = (seen.clone(), certificate.clone());
            async move {
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                seen.lock().unwrap().push(path.clone());
                let (status, body) = if path == "/cert.pem" {
                    (200, certificate)
                } else if path.starts_with("/confirm?") {
                    (200, "<ConfirmSubscriptionResponse/>".to_owned())
                } else {
                    (404, String::new())
                };
                let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                Ok::<_, hyper::Error>(response)
            }
        });
        FakeSns { base, requested }
    }

    fn requested(&self) -> Vec<String> {
        self.requested.lock().unwrap().clone()
    }

    /// A message as SNS posts it, signed (SignatureVersion 2) with the tests' key.
    fn message(&self, kind: SnsType, id: &str, topic: &str, message: &str) -> Value {
        let mut envelope = SnsEnvelope {
            kind,
            message_id: id.into(),
            topic_arn: topic.into(),
            subject: None,
            message: message.into(),
            timestamp: "2026-11-24T05:30:12.512Z".into(),
            signature_version: SignatureVersion::Sha256,
            signature: String::new(),
            signing_cert_url: format!("{}/cert.pem", self.base),
            subscribe_url: None,
            token: None,
        };
        if kind != SnsType::Notification {
            envelope.token = Some(format!("tok-{id}"));
            envelope.subscribe_url = Some(format!(
                "{}/confirm?Action=ConfirmSubscription&TopicArn={topic}&Token=tok-{id}",
                self.base
            ));
        }
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(
            fixture("sns/test-only-signing-key.pem").as_bytes(),
        )
        .unwrap();
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(key.secret_der()).unwrap();
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            envelope.string_to_sign().as_bytes(),
            &mut signature,
        )
        .unwrap();
        let mut body = json!({
            "Type": kind.name(), "MessageId": id, "TopicArn": topic, "Message": message,
            "Timestamp": envelope.timestamp, "SignatureVersion": "2",
            "Signature": base64::engine::general_purpose::STANDARD.encode(signature),
            "SigningCertURL": envelope.signing_cert_url,
        });
        if let Some(url) = envelope.subscribe_url {
            body["SubscribeURL"] = url.into();
            body["Token"] = envelope.token.unwrap().into();
        }
        body
    }
}

#[tokio::test]
async fn an_sns_topic_and_an_eventbridge_destination_reach_fchat() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let pid = std::process::id();
    let app = format!("cloud.{nanos:x}");
    let token = format!("aws{nanos}k{pid}");
    let group = format!("platform {pid}");
    let chat = format!("bc-cloud-{nanos:x}");
    let topic = format!("arn:aws:sns:eu-west-1:123456789012:alarms-{nanos:x}");
    let seed: Seed = serde_json::from_value(json!({
        "groups": [{"id": group, "beatchat_id": chat}],
        "apps": [{"name": app, "token": token, "group": group}]
    }))
    .unwrap();
    let ingest = Path::new(env!("CARGO_BIN_EXE_ingest"));
    let delivery = sibling_binary(ingest, "delivery");
    let stack = Stack::start(&[("ingest", ingest), ("delivery", &delivery)], &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    let poller = tokio::spawn(stack.delivery_poller().await.run());
    let sns = FakeSns::start().await;
    let sns_path = format!("/webhooks/{app}/{token}/sns");
    let post = |path: String, body: Value, headers: Vec<(&'static str, String)>| {
        let stack = &stack;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            stack
                .request("POST", &path, Some(&body), &headers)
                .await
                .unwrap()
        }
    };

    // The topic's subscription: the gateway checks the signature, then confirms.
    let confirmation = sns.message(
        SnsType::SubscriptionConfirmation,
        &format!("sub-{nanos}"),
        &topic,
        "You have chosen to subscribe to the topic.",
    );
    let (status, body, _) = post(sns_path.clone(), confirmation, vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["description"], "Subscription confirmed");
    assert!(
        sns.requested()
            .iter()
            .any(|p| p.starts_with("/confirm?Action=ConfirmSubscription")),
        "{:?}",
        sns.requested()
    );

    // The alarm fires, and resolves.
    let alarm = sns.message(
        SnsType::Notification,
        &format!("alarm-{nanos}"),
        &topic,
        &fixture("aws/cloudwatch-alarm-sns.json"),
    );
    let (status, fired, _) = post(sns_path.clone(), alarm.clone(), vec![]).await;
    assert_eq!(status, 200, "{fired}");
    // SNS delivers again: nothing new is queued.
    let (status, again, headers) = post(sns_path.clone(), alarm.clone(), vec![]).await;
    assert_eq!((status, &again), (200, &fired));
    assert!(headers.get("idempotent-replayed").is_some());
    let resolved = sns.message(
        SnsType::Notification,
        &format!("ok-{nanos}"),
        &topic,
        &fixture("aws/cloudwatch-alarm-sns-ok.json"),
    );
    let (status, body, _) = post(sns_path.clone(), resolved, vec![]).await;
    assert_eq!(status, 200, "{body}");

    // A tampered message, and one whose certificate is elsewhere: refused, nothing queued.
    let mut tampered = alarm.clone();
    tampered["MessageId"] = format!("forged-{nanos}").into();
    let mut elsewhere = alarm.clone();
    elsewhere["SigningCertURL"] = "https://certs.example.org/cert.pem".into();
    for forged in [tampered, elsewhere] {
        let (status, body, _) = post(sns_path.clone(), forged, vec![]).await;
        assert_eq!(
            (status, body),
            (
                403,
                json!({"ok": false, "error_code": 403, "description": "Forbidden: SNS signature does not verify"})
            )
        );
    }

    // An EventBridge API destination, its connection sending the token as an API key.
    let event: Value =
        serde_json::from_str(&fixture("aws/eventbridge-ecs-task-state.json")).unwrap();
    let (status, body, _) = post(
        format!("/{app}/events"),
        event,
        vec![("x-api-key", token.clone())],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Three messages reach the app's FChat group, readable: the alarm's (edited from ALARM
    // to OK), the reply that tells the chat it is OK, and the ECS event's.
    let started = Instant::now();
    let messages = loop {
        let messages: Vec<_> = stack
            .fchat
            .messages()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .collect();
        if messages.len() >= 3 && messages.iter().any(|m| !m.edits.is_empty()) {
            break messages;
        }
        assert!(
            started.elapsed() < DELIVERY_LIMIT,
            "only {messages:#?} reached FChat"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let texts: Vec<String> = messages.iter().map(|m| m.text.clone()).collect();
    let find = |head: &str| {
        texts
            .iter()
            .find(|t| t.starts_with(head))
            .unwrap_or_else(|| panic!("no message starting {head:?} in {texts:?}"))
    };
    let alarm = messages
        .iter()
        .find(|m| m.text.starts_with("[OK] api-high-cpu (was ALARM)\n"))
        .unwrap_or_else(|| panic!("the alarm's message is not OK: {messages:#?}"));
    assert_eq!(alarm.edits.len(), 1, "{alarm:#?}");
    let firing = &alarm.edits[0].text;
    assert!(
        firing.starts_with("[ALARM] api-high-cpu (was OK)\n"),
        "{firing}"
    );
    assert!(
        firing.contains("\nMetric: AWS/EC2 CPUUtilization (Average, 300 s) > 80.0\nDimensions: InstanceId=i-0a1b2c3d4e5f67890\n"),
        "{firing}"
    );
    assert!(firing.ends_with("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/api-high-cpu"), "{firing}");
    let reply = messages
        .iter()
        .find(|m| m.reply_to_message_id.as_deref() == Some(alarm.message_id.as_str()))
        .unwrap_or_else(|| panic!("no reply to the alarm's message: {messages:#?}"));
    assert_eq!(reply.text, "✅ OK: api-high-cpu");
    let ecs = find("[ECS] Task b7c1a2e4f0d34c1c8d1d0a9b8e7f6a5b STOPPED\n");
    assert!(ecs.contains("exit code 137"), "{ecs}");

    // SNS confirms the app's unsubscription: the ingest function notes it (with its own
    // role, which may not write the apps table), and the operator sees it on the app.
    let unsubscribed = sns.message(
        SnsType::UnsubscribeConfirmation,
        &format!("unsub-{nanos}"),
        &topic,
        "You have chosen to deactivate subscription.",
    );
    let (status, body, _) = post(sns_path.clone(), unsubscribed, vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["description"], "Unsubscribe noted");
    let now = || SystemClock.now();
    let shown = stack
        .admin(now)
        .await
        .run(&["app".into(), "show".into(), app.clone()])
        .await
        .unwrap();
    let noted = shown.json["sns_unsubscribed"][&topic]
        .as_u64()
        .unwrap_or_else(|| panic!("the unsubscription is not noted: {}", shown.json));
    assert!(noted.abs_diff(now()) < 600, "{noted}");

    // Nothing but the certificate and the one confirmation was asked of "SNS" (an
    // unsubscription's `SubscribeURL`, which would subscribe again, is not fetched).
    let requested = sns.requested();
    assert!(requested
        .iter()
        .all(|p| p == "/cert.pem" || p.starts_with("/confirm?")));
    assert_eq!(
        requested
            .iter()
            .filter(|p| p.starts_with("/confirm?"))
            .count(),
        1,
        "{requested:?}"
    );
    poller.abort();
}
