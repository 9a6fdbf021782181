use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::adapters::memory::{FixedClock, MemoryFChat, MemoryQueue, MemoryStore};
use crate::adapters::sns::tests::{sign_v2, MemoryFetch, TEST_CERT_URL};
use crate::adapters::sns::SnsClient;
use crate::domain::job::JobKind;
use crate::domain::Group;
use crate::ports::StoreError;

const NOW: u64 = 1_800_000_000;
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ops-alarms";

struct World {
    ingest: Ingest,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    fetch: Arc<MemoryFetch>,
}

/// The apps as the ingest function may use them: it is not allowed to write the table
/// (its IAM policy reads only), whatever an SNS message says.
struct ReadOnlyApps(Arc<MemoryStore>);

#[async_trait::async_trait]
impl AppStore for ReadOnlyApps {
    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError> {
        self.0.app_by_name(name).await
    }

    async fn app_by_token_hash(&self, hash: &str) -> Result<Option<App>, StoreError> {
        self.0.app_by_token_hash(hash).await
    }

    async fn put_app(&self, app: &App) -> Result<(), StoreError> {
        panic!("ingest wrote the app {}", app.name)
    }

    async fn apps_by_group(&self, group_id: &str) -> Result<Vec<App>, StoreError> {
        self.0.apps_by_group(group_id).await
    }
}

/// GIVEN an app `cloud-ops` (token `tk-cloud`) posting to an active group.
async fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    store
        .put_app(&App {
            name: "cloud-ops".into(),
            token_hash: sha256_hex(b"tk-cloud"),
            group_id: Some("oncall".into()),
            user_messaging: false,
            webhook_url: None,
            webhook_secrets: vec![],
            context_ttl_seconds: 300,
            delivery_window_seconds: 86_400,
            active: true,
            previous_token: None,
            older_secrets_until: None,
            alert_templates: Default::default(),
            sns: Default::default(),
            hooks: Default::default(),
            alerting: Default::default(),
        })
        .await
        .unwrap();
    store
        .put_group(&Group {
            id: "oncall".into(),
            beatchat_id: Some("bc-oncall".into()),
            active: true,
            name: None,
        })
        .await
        .unwrap();
    let queue = Arc::new(MemoryQueue::default());
    let fetch = MemoryFetch::serving_test_certificate();
    let ingest = Ingest {
        apps: Arc::new(ReadOnlyApps(store.clone())),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        fchat: Arc::new(MemoryFChat::default()),
        clock: Arc::new(FixedClock::at(NOW)),
        sns: Arc::new(SnsClient::with_fetch(fetch.clone(), false)),
    };
    World {
        ingest,
        store,
        queue,
        fetch,
    }
}

fn request(path: &str, body: &[u8], headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

impl World {
    async fn post(&self, request: HttpRequest) -> (u16, Value, Vec<(String, String)>) {
        let response = self.ingest.handle(&request).await;
        (
            response.status,
            serde_json::from_str(&response.body).unwrap(),
            response.headers,
        )
    }

    fn assert_unchanged(&self) {
        assert!(self.store.contexts().is_empty(), "a context was written");
        assert!(self.queue.jobs().is_empty(), "a job was queued");
    }

    fn texts(&self) -> Vec<String> {
        self.queue
            .jobs()
            .into_iter()
            .map(|job| match job.kind {
                JobKind::SendGroup { content, .. } => content.text,
                // An alarm's states, or a thread's messages, share one message.
                JobKind::SendAlert {
                    target: Target::Group(_),
                    content,
                    ..
                } => content.text,
                other => panic!("not a group message: {other:?}"),
            })
            .collect()
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// An SNS message as SNS posts it, signed with the tests' key.
fn sns_body(kind: SnsType, message: &str, edit: impl FnOnce(&mut SnsEnvelope)) -> Vec<u8> {
    let mut envelope = SnsEnvelope {
        kind,
        message_id: "5e3d6a2b-aaaa-4bbb-8ccc-0c2f1e9b8a71".into(),
        topic_arn: TOPIC.into(),
        subject: Some("ALARM: \"api-high-cpu\" in EU (Ireland)".into()),
        message: message.into(),
        timestamp: "2026-11-24T05:30:12.512Z".into(),
        signature_version: crate::domain::sources::sns::SignatureVersion::Sha256,
        signature: String::new(),
        signing_cert_url: TEST_CERT_URL.into(),
        subscribe_url: None,
        token: None,
    };
    if kind != SnsType::Notification {
        envelope.subject = None;
        envelope.token = Some("2336412f37fb687f5d51e6e2425c464de".into());
        envelope.subscribe_url = Some(format!(
            "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425c464de"
        ));
    }
    edit(&mut envelope);
    sign_v2(&mut envelope);
    envelope_json(&envelope)
}

fn envelope_json(envelope: &SnsEnvelope) -> Vec<u8> {
    let mut body = json!({
        "Type": envelope.kind.name(), "MessageId": envelope.message_id,
        "TopicArn": envelope.topic_arn, "Message": envelope.message,
        "Timestamp": envelope.timestamp, "SignatureVersion": "2",
        "Signature": envelope.signature, "SigningCertURL": envelope.signing_cert_url,
    });
    if let Some(subject) = &envelope.subject {
        body["Subject"] = subject.as_str().into();
    }
    if let Some(url) = &envelope.subscribe_url {
        body["SubscribeURL"] = url.as_str().into();
        body["Token"] = envelope.token.clone().unwrap().into();
    }
    body.to_string().into_bytes()
}

fn forbidden() -> Value {
    json!({"ok": false, "error_code": 403, "description": "Forbidden: SNS signature does not verify"})
}

#[tokio::test]
async fn a_signed_alarm_notification_becomes_one_message_and_a_repeat_is_dropped() {
    let w = world().await;
    let body = sns_body(
        SnsType::Notification,
        &fixture("aws/cloudwatch-alarm-sns.json"),
        |_| {},
    );
    let path = "/cloud-ops/tk-cloud/sns";
    let (status, first, _) = w.post(request(path, &body, &[])).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["description"], "Message sent to queue");
    // SNS delivers at least once: the same MessageId again changes nothing.
    let (status, again, headers) = w.post(request(path, &body, &[])).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    assert!(headers.contains(&("idempotent-replayed".into(), "true".into())));
    let texts = w.texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with("[ALARM] api-high-cpu (was OK)\nCPU of the API instance"),
        "{}",
        texts[0]
    );
    // The certificate was fetched once.
    assert_eq!(w.fetch.requests(), vec![TEST_CERT_URL.to_owned()]);
    // Another subscription of the same topic (another URL) delivers it too, once.
    for _ in 0..2 {
        let (status, answer, _) = w
            .post(request("/webhooks/cloud-ops/tk-cloud/sns", &body, &[]))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(w.texts().len(), 2);
}

#[tokio::test]
async fn a_bad_sns_message_is_refused_and_changes_nothing() {
    let w = world().await;
    let alarm = fixture("aws/cloudwatch-alarm-sns.json");
    let signed = sns_body(SnsType::Notification, &alarm, |_| {});
    let mut tampered: Value = serde_json::from_slice(&signed).unwrap();
    tampered["Message"] = alarm.replace("ALARM", "OK").into();
    let mut unsigned = tampered.clone();
    unsigned.as_object_mut().unwrap().remove("Signature");
    // Signed correctly, but its certificate is elsewhere.
    let elsewhere = sns_body(SnsType::Notification, &alarm, |e| {
        e.signing_cert_url = "https://certs.attacker.example/SimpleNotificationService.pem".into()
    });
    for body in [
        tampered.to_string().into_bytes(),
        unsigned.to_string().into_bytes(),
        elsewhere,
    ] {
        let (status, answer, _) = w.post(request("/cloud-ops/tk-cloud/sns", &body, &[])).await;
        assert_eq!((status, answer), (403, forbidden()));
    }
    for (body, expected) in [
        (
            b"{not json".to_vec(),
            json!({"ok": false, "error_code": 400, "description": "Bad Request: body is not valid JSON"}),
        ),
        (
            br#"{"text":"hi"}"#.to_vec(),
            json!({"ok": false, "error_code": 400, "description": "Bad Request: body is not an SNS message"}),
        ),
    ] {
        let (status, answer, _) = w.post(request("/cloud-ops/tk-cloud/sns", &body, &[])).await;
        assert_eq!((status, answer), (400, expected));
    }
    let (status, _, _) = w.post(request("/cloud-ops/wrong/sns", &signed, &[])).await;
    assert_eq!(status, 404);
    w.assert_unchanged();
    // Only SNS's host was ever asked for anything.
    assert!(w
        .fetch
        .requests()
        .iter()
        .all(|url| url.starts_with("https://sns.eu-west-1.amazonaws.com/")));
}

#[tokio::test]
async fn subscriptions_are_confirmed_on_sns_hosts_only() {
    let w = world().await;
    let body = sns_body(
        SnsType::SubscriptionConfirmation,
        "You have chosen to subscribe to the topic.",
        |_| {},
    );
    let (status, answer, _) = w.post(request("/cloud-ops/tk-cloud/sns", &body, &[])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["description"], "Subscription confirmed");
    assert!(w
        .fetch
        .requests()
        .iter()
        .any(|url| url.contains("Action=ConfirmSubscription")));

    // Signed, but its SubscribeURL is not SNS's: never fetched.
    let w = world().await;
    let body = sns_body(SnsType::SubscriptionConfirmation, "m", |e| {
        e.subscribe_url = Some("https://internal.example/?Action=ConfirmSubscription".into())
    });
    let (status, answer, _) = w.post(request("/cloud-ops/tk-cloud/sns", &body, &[])).await;
    assert_eq!((status, answer), (403, forbidden()));
    assert_eq!(w.fetch.requests(), vec![TEST_CERT_URL.to_owned()]);
    w.assert_unchanged();
}

#[tokio::test]
async fn an_app_may_accept_only_its_topics_and_unsubscriptions_are_noted() {
    let w = world().await;
    let mut app = w.store.app_by_name("cloud-ops").await.unwrap().unwrap();
    app.sns
        .allowed_topics
        .insert("arn:aws:sns:eu-west-1:123456789012:other".into());
    w.store.put_app(&app).await.unwrap();
    let body = sns_body(SnsType::Notification, "plain text", |_| {});
    let (status, answer, _) = w.post(request("/cloud-ops/tk-cloud/sns", &body, &[])).await;
    assert_eq!(
        (status, answer),
        (
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: this app does not accept this SNS topic"})
        )
    );
    w.assert_unchanged();
    // Not even the certificate was fetched for a topic the app does not take.
    assert!(w.fetch.requests().is_empty());

    app.sns.allowed_topics.insert(TOPIC.into());
    w.store.put_app(&app).await.unwrap();
    let body = sns_body(
        SnsType::UnsubscribeConfirmation,
        "You have unsubscribed",
        |_| {},
    );
    let (status, answer, _) = w
        .post(request(
            "/cloud-ops/sns",
            &body,
            &[("x-api-key", "tk-cloud")],
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["description"], "Unsubscribe noted");
    assert_eq!(
        w.store.sns_unsubscriptions("cloud-ops", NOW).await.unwrap(),
        [(TOPIC.to_owned(), NOW)].into()
    );
    // Noted beside the app: its record is as the operator left it.
    assert_eq!(w.store.app_by_name("cloud-ops").await.unwrap(), Some(app));
    w.assert_unchanged();
}

#[tokio::test]
async fn eventbridge_events_take_the_token_in_a_header_and_render() {
    let w = world().await;
    let guardduty = fixture("aws/eventbridge-guardduty-finding.json");
    let ec2 = fixture("aws/eventbridge-ec2-state-change.json");
    for (path, headers) in [
        (
            "/cloud-ops/events",
            vec![("Authorization", "Bearer tk-cloud")],
        ),
        ("/cloud-ops/events", vec![("X-API-Key", "tk-cloud")]),
    ] {
        let (status, answer, _) = w.post(request(path, guardduty.as_bytes(), &headers)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer, _) = w
        .post(request(
            "/webhooks/cloud-ops/tk-cloud/events",
            ec2.as_bytes(),
            &[],
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    // The second GuardDuty post was the same event (its id): dropped.
    let texts = w.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("[GuardDuty High 8] 198.51.100.7"),
        "{}",
        texts[0]
    );
    assert!(texts[1].starts_with("[EC2] Instance i-0a1b2c3d4e5f67890 is stopped"));
}

#[tokio::test]
async fn refused_events_change_nothing_and_a_full_queue_asks_eventbridge_to_wait() {
    let w = world().await;
    let ec2 = fixture("aws/eventbridge-ec2-state-change.json");
    for (path, body, headers, status, description) in [
        (
            "/cloud-ops/events",
            ec2.as_str(),
            vec![],
            401,
            "Unauthorized: send the app's token as Authorization: Bearer <token> or x-api-key",
        ),
        (
            "/cloud-ops/events",
            ec2.as_str(),
            vec![("x-api-key", "nope")],
            404,
            "Channel or token not found",
        ),
        (
            "/cloud-ops/tk-cloud/events",
            "[1, 2]",
            vec![],
            400,
            "Bad Request: body is not an EventBridge event",
        ),
        (
            "/cloud-ops/tk-cloud/events",
            "",
            vec![],
            400,
            "Bad Request: body is not an EventBridge event",
        ),
        (
            "/cloud-ops/tk-cloud/events",
            "plain words",
            vec![],
            400,
            "Bad Request: body is not valid JSON",
        ),
    ] {
        let (got, answer, _) = w.post(request(path, body.as_bytes(), &headers)).await;
        assert_eq!(
            (got, answer),
            (
                status,
                json!({"ok": false, "error_code": status, "description": description})
            ),
            "{path} {body}"
        );
    }
    w.queue.fail(true);
    let (status, answer, headers) = w
        .post(request("/cloud-ops/tk-cloud/events", ec2.as_bytes(), &[]))
        .await;
    assert_eq!(status, 429, "{answer}");
    assert!(headers.contains(&("retry-after".into(), "5".into())));
    w.queue.fail(false);
    w.assert_unchanged();
    // The retry EventBridge makes then goes through.
    let (status, _, _) = w
        .post(request("/cloud-ops/tk-cloud/events", ec2.as_bytes(), &[]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.texts().len(), 1);
}

#[tokio::test]
async fn an_input_transformers_text_is_sent_as_it_is() {
    let w = world().await;
    let (status, _, _) = w
        .post(request(
            "/cloud-ops/tk-cloud/events",
            b"Instance i-7 is running",
            &[("Content-Type", "text/plain; charset=utf-8")],
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.texts(), vec!["Instance i-7 is running".to_owned()]);
}

#[tokio::test]
async fn an_apps_template_for_a_kind_is_used() {
    let w = world().await;
    let mut app = w.store.app_by_name("cloud-ops").await.unwrap().unwrap();
    app.alert_templates.insert(
        "aws-cloudwatch-alarm".into(),
        "{{ alarm.name }}: {{ alarm.state }}".into(),
    );
    w.store.put_app(&app).await.unwrap();
    let body = fixture("aws/eventbridge-cloudwatch-alarm.json");
    let (status, _, _) = w
        .post(request("/cloud-ops/tk-cloud/events", body.as_bytes(), &[]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.texts(), vec!["orders-5xx: ALARM".to_owned()]);
}
