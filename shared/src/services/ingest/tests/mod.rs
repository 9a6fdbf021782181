use super::*;
use crate::adapters::memory::{FixedClock, MemoryFChat, MemoryQueue, MemoryStore};
use crate::domain::job::{Job, JobKind};
use crate::domain::{DeliveryStatus, Group};
use crate::ports::{AttemptOutcome, UserStore};
use serde_json::json;

const NOW: u64 = 1_800_000_000;

struct World {
    ingest: Ingest,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    fchat: Arc<MemoryFChat>,
    clock: Arc<FixedClock>,
}

fn app(name: &str, token: &str, group: Option<&str>, user_messaging: bool) -> App {
    App {
        name: name.into(),
        token_hash: sha256_hex(token.as_bytes()),
        group_id: group.map(Into::into),
        user_messaging,
        webhook_url: None,
        webhook_secrets: vec![],
        context_ttl_seconds: 600,
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

fn group(id: &str, beatchat_id: Option<&str>, active: bool) -> Group {
    Group {
        id: id.into(),
        beatchat_id: beatchat_id.map(Into::into),
        active,
        name: None,
    }
}

/// GIVEN apps for every prerequisite the contract names.
async fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    for a in [
        app("alerts", "tok-alerts", Some("ops"), true),
        app("groupless", "tok-groupless", None, false),
        app("orphan", "tok-orphan", Some("missing"), false),
        app("sleepy", "tok-sleepy", Some("archive"), false),
        app("nameless", "tok-nameless", Some("no-beatchat"), false),
        app("grouponly", "tok-grouponly", Some("ops"), false),
        App {
            active: false,
            ..app("disabled", "tok-disabled", Some("ops"), true)
        },
    ] {
        store.put_app(&a).await.unwrap();
    }
    for g in [
        group("ops", Some("beatchat-1"), true),
        group("archive", Some("beatchat-2"), false),
        group("no-beatchat", None, true),
    ] {
        store.put_group(&g).await.unwrap();
    }
    let queue = Arc::new(MemoryQueue::default());
    let clock = Arc::new(FixedClock::at(NOW));
    let fchat = Arc::new(MemoryFChat::default());
    for email in ["a@b.co", "user@example.com", "secret.person@example.com"] {
        fchat.add_user(email, &format!("fchat-{email}"));
    }
    let ingest = Ingest {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        fchat: fchat.clone(),
        clock: clock.clone(),
        sns: Arc::new(crate::adapters::sns::SnsClient::new(false)),
    };
    World {
        ingest,
        store,
        queue,
        fchat,
        clock,
    }
}

fn post(path: &str, body: Value) -> HttpRequest {
    HttpRequest {
        query: String::new(),
        method: "POST".into(),
        path: path.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn with_key(mut request: HttpRequest, key: &str) -> HttpRequest {
    request.headers.push(("Idempotency-Key".into(), key.into()));
    request
}

fn answer(response: &HttpResponse) -> (u16, Value) {
    (
        response.status,
        serde_json::from_str(&response.body).unwrap(),
    )
}

fn error(status: u16, description: &str) -> (u16, Value) {
    (
        status,
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

impl World {
    async fn send(&self, request: HttpRequest) -> (u16, Value) {
        answer(&self.ingest.handle(&request).await)
    }

    /// THEN nothing was written and nothing queued.
    fn assert_unchanged(&self) {
        assert!(self.store.contexts().is_empty(), "a context was written");
        assert!(self.queue.jobs().is_empty(), "a job was queued");
    }
}

#[tokio::test]
async fn a_group_message_writes_a_context_and_queues_one_job() {
    let w = world().await;
    let (status, body) = w
        .send(post(
            "/alerts/tok-alerts",
            json!({"text": "disk full", "parameters": {"host": "db1"}}),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["description"], "Message sent to queue");
    assert_eq!(body["context"]["parameters"], json!({"host": "db1"}));
    let id = body["context"]["id"].as_str().unwrap();

    let contexts = w.store.contexts();
    assert_eq!(contexts.len(), 1);
    let context = &contexts[0];
    assert_eq!(context.id, id);
    assert_eq!(context.app, "alerts");
    assert_eq!(context.target, Target::Group("ops".into()));
    assert_eq!(context.status, DeliveryStatus::Queued);
    // Retried for the app's delivery window, then answerable for its reply window.
    assert_eq!(context.deliver_by, NOW + 86_400);
    assert_eq!(context.reply_window_seconds, 600);
    assert_eq!(context.expires_at, NOW + 86_400 + 600);

    assert_eq!(
        w.queue.jobs(),
        vec![Job::new(JobKind::SendGroup {
            context_id: id.into(),
            app: "alerts".into(),
            group_id: "ops".into(),
            content: MessageContent {
                text: "disk full".into(),
                keyboard: vec![]
            },
        })]
    );
}

#[tokio::test]
async fn a_user_message_with_buttons_is_queued_for_the_lowercased_email() {
    let w = world().await;
    let body = json!({
        "email": " User@Example.com ", "text": "Approve this request?",
        "reply_markup": {"inlineKeyboard": [[
            {"text": "Yes", "callbackData": {"action": "confirm", "data": "yes"}},
            {"text": "No", "callbackData": {"action": "confirm", "data": "no"}}]]}
    });
    let (status, _) = w.send(post("/webhooks/tok-alerts/fchat", body)).await;
    // The user was looked up once and is now the gateway's.
    assert_eq!(w.fchat.lookups(), 1);
    assert!(w.store.user("user@example.com").await.unwrap().is_some());
    assert_eq!(status, 200);
    let jobs = w.queue.jobs();
    let JobKind::SendUser { email, content, .. } = &jobs[0].kind else {
        panic!("not a user job: {jobs:?}");
    };
    assert_eq!(email, "user@example.com");
    assert_eq!(content.keyboard[0].len(), 2);
    assert_eq!(
        w.store.contexts()[0].target,
        Target::User("user@example.com".into())
    );
}

#[tokio::test]
async fn every_group_error_of_the_contract_answers_its_status_and_changes_nothing() {
    let text = json!({"text": "hello"});
    let cases = [
        (
            "/nobody/tok-alerts",
            text.clone(),
            error(404, "Channel or token not found"),
        ),
        (
            "/alerts/wrong-token",
            text.clone(),
            error(404, "Channel or token not found"),
        ),
        (
            "/disabled/tok-disabled",
            text.clone(),
            error(404, "Channel or token not found"),
        ),
        (
            "/groupless/tok-groupless",
            text.clone(),
            error(404, "Application does not have a group assigned"),
        ),
        (
            "/orphan/tok-orphan",
            text.clone(),
            error(404, "Group not found"),
        ),
        (
            "/sleepy/tok-sleepy",
            text.clone(),
            error(400, "Bad Request: group is not active"),
        ),
        (
            "/nameless/tok-nameless",
            text.clone(),
            error(400, "Bad Request: beatchat group id not found"),
        ),
        (
            "/alerts/tok-alerts",
            json!({"text": ""}),
            error(400, "Bad Request: message text is empty"),
        ),
        (
            "/alerts/tok-alerts",
            json!({"text": "x".repeat(2001)}),
            error(400, "Bad Request: message is too long"),
        ),
    ];
    for (path, body, expected) in cases {
        let w = world().await;
        assert_eq!(
            w.send(post(path, body.clone())).await,
            expected,
            "{path} {body}"
        );
        w.assert_unchanged();
    }
}

#[tokio::test]
async fn every_user_error_of_the_contract_answers_its_status_and_changes_nothing() {
    let thirty_one: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
    let cases = [
        (
            "/wrong/fchat",
            json!({"email": "a@b.co", "text": "x"}),
            error(404, "channel or token not found"),
        ),
        (
            "/tok-disabled/fchat",
            json!({"email": "a@b.co", "text": "x"}),
            error(404, "channel or token not found"),
        ),
        (
            "/tok-grouponly/fchat",
            json!({"email": "a@b.co", "text": "x"}),
            error(404, "this app have not permission to send fchat message"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"text": "x"}),
            error(400, "Bad Request: email is empty"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "a@b.co"}),
            error(400, "Bad Request: message text is empty"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "a@b.co", "message": "ệ".repeat(2001)}),
            error(400, "Bad Request: message is too long"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "a@b.co", "text": "x", "reply_markup": []}),
            error(400, "Bad Request: reply_markup must be a dictionary"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [1]}}),
            error(
                400,
                "Bad Request: inlineKeyboard must be a list of list of dicts",
            ),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [thirty_one]}}),
            error(400, "Limit 30 buttons"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "a@b.co", "text": "x", "buttons": "a"}),
            error(400, "Bad Request: invalid request"),
        ),
        (
            "/tok-alerts/fchat",
            json!({"email": "ghost@example.com", "text": "x"}),
            error(404, "User ghost@example.com not found!"),
        ),
    ];
    for (path, body, expected) in cases {
        let w = world().await;
        assert_eq!(
            w.send(post(path, body.clone())).await,
            expected,
            "{path} {body}"
        );
        w.assert_unchanged();
    }
}

#[tokio::test]
async fn input_the_contract_does_not_list_gets_a_clear_4xx() {
    let w = world().await;
    let raw = |path: &str, body: &[u8]| HttpRequest {
        query: String::new(),
        method: "POST".into(),
        path: path.into(),
        headers: vec![],
        body: body.to_vec(),
    };
    let cases = [
        (
            raw("/alerts/tok-alerts", b"{oops"),
            error(400, "Bad Request: body is not valid JSON"),
        ),
        (
            raw("/tok-alerts/fchat", b"[]"),
            error(400, "Bad Request: body must be a JSON object"),
        ),
        (
            raw("/tok-alerts/fchat", br#"{"email":"nope","text":"x"}"#),
            error(400, "Bad Request: email is not a valid email address"),
        ),
        (
            raw("/tok-alerts/fchat", &vec![b' '; 70_000]),
            error(413, "Payload Too Large: body exceeds 65536 bytes"),
        ),
        (raw("/a/b/c", b"{}"), error(404, "Not Found: no such route")),
        (
            HttpRequest {
                query: String::new(),
                method: "GET".into(),
                ..raw("/alerts/tok-alerts", b"")
            },
            error(405, "Method Not Allowed: this route accepts POST only"),
        ),
        (
            with_key(raw("/alerts/tok-alerts", br#"{"text":"x"}"#), "bad key"),
            error(
                400,
                "Bad Request: Idempotency-Key must be 1 to 255 printable ASCII characters",
            ),
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(
            w.send(request.clone()).await,
            expected,
            "{} {}",
            request.method,
            request.path
        );
    }
    w.assert_unchanged();
}

#[tokio::test]
async fn a_queue_failure_answers_503_and_leaves_no_context() {
    let w = world().await;
    w.queue.fail(true);
    let request = with_key(post("/alerts/tok-alerts", json!({"text": "x"})), "k-1");
    assert_eq!(
        w.send(request.clone()).await,
        error(
            503,
            "Service Unavailable: the message could not be queued, please retry"
        )
    );
    w.assert_unchanged();

    // The same Idempotency-Key goes through once the queue is back.
    w.queue.fail(false);
    assert_eq!(w.send(request).await.0, 200);
    assert_eq!(w.queue.jobs().len(), 1);
    assert_eq!(w.store.contexts().len(), 1);
}

#[tokio::test]
async fn a_retried_idempotent_request_returns_the_first_context_without_queueing() {
    let w = world().await;
    let request = with_key(
        post(
            "/tok-alerts/fchat",
            json!({"email": "a@b.co", "text": "x", "parameters": {"n": 1}}),
        ),
        "order-7",
    );
    let first = w.ingest.handle(&request).await;
    let again = w.ingest.handle(&request).await;
    assert_eq!(first.body, again.body);
    assert!(again
        .headers
        .contains(&("idempotent-replayed".into(), "true".into())));
    assert!(!first
        .headers
        .iter()
        .any(|(name, _)| name == "idempotent-replayed"));
    assert_eq!(w.queue.jobs().len(), 1);
    assert_eq!(w.store.contexts().len(), 1);

    // The same key with another body is refused.
    let other = with_key(
        post("/tok-alerts/fchat", json!({"email": "a@b.co", "text": "y"})),
        "order-7",
    );
    assert_eq!(
        w.send(other).await,
        error(
            422,
            "Unprocessable Entity: Idempotency-Key was already used with a different request"
        )
    );

    // After 24 hours the key is forgotten.
    w.clock.advance(IDEMPOTENCY_TTL_SECONDS);
    let later = w.ingest.handle(&request).await;
    assert_eq!(later.status, 200);
    assert_ne!(later.body, first.body);
    assert_eq!(w.queue.jobs().len(), 2);
}

#[tokio::test]
async fn an_unknown_email_is_remembered_so_fchat_is_asked_once() {
    let w = world().await;
    let request = post(
        "/tok-alerts/fchat",
        json!({"email": "typo@example.con", "text": "x"}),
    );
    for _ in 0..3 {
        assert_eq!(
            w.send(request.clone()).await,
            error(404, "User typo@example.con not found!")
        );
    }
    assert_eq!(w.fchat.lookups(), 1);
    w.assert_unchanged();
    // Briefly: after ten minutes FChat is asked again.
    w.clock.advance(UNKNOWN_USER_MEMORY_SECONDS);
    w.send(request).await;
    assert_eq!(w.fchat.lookups(), 2);
}

#[tokio::test]
async fn when_fchat_cannot_be_reached_the_message_is_accepted_for_delivery_to_decide() {
    let w = world().await;
    w.fchat.set_unreachable(true);
    let (status, _) = w
        .send(post(
            "/tok-alerts/fchat",
            json!({"email": "new@example.com", "text": "x"}),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.queue.jobs().len(), 1);
}

#[tokio::test]
async fn the_status_route_reports_delivery_to_the_sending_app_only() {
    let w = world().await;
    let (_, body) = w
        .send(post(
            "/alerts/tok-alerts",
            json!({"text": "x", "parameters": {"k": 1}}),
        ))
        .await;
    let id = body["context"]["id"].as_str().unwrap().to_owned();
    let get = |path: String| HttpRequest {
        query: String::new(),
        method: "GET".into(),
        path,
        headers: vec![],
        body: vec![],
    };

    let (status, body) = w.send(get(format!("/tok-alerts/messages/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["context"]["status"], "queued");
    assert_eq!(body["context"]["parameters"], json!({"k": 1}));

    w.store.begin_sending(&id, NOW, NOW + 30).await.unwrap();
    w.store
        .finish_sending(
            &id,
            &AttemptOutcome::Sent {
                fchat_message_id: "m-9".into(),
                reply_until: NOW + 600,
                clickable: false,
            },
            NOW,
        )
        .await
        .unwrap();
    let (_, body) = w
        .send(get(format!("/webhooks/tok-alerts/messages/{id}")))
        .await;
    assert_eq!(body["context"]["status"], "sent");
    assert_eq!(body["context"]["fchat_message_id"], "m-9");
    assert_eq!(body["context"]["attempts"], 1);

    // Another app, a wrong token, an unknown id.
    assert_eq!(
        w.send(get(format!("/tok-grouponly/messages/{id}"))).await,
        error(404, "Not Found: no such message")
    );
    assert_eq!(
        w.send(get(format!("/nope/messages/{id}"))).await,
        error(404, "channel or token not found")
    );
    assert_eq!(
        w.send(get("/tok-alerts/messages/unknown".into())).await,
        error(404, "Not Found: no such message")
    );
}

#[tokio::test]
async fn a_message_still_queued_when_its_delivery_window_ends_reads_expired() {
    let w = world().await;
    let (_, body) = w
        .send(post("/alerts/tok-alerts", json!({"text": "x"})))
        .await;
    let id = body["context"]["id"].as_str().unwrap();
    w.clock.advance(86_400);
    let request = HttpRequest {
        query: String::new(),
        method: "GET".into(),
        path: format!("/tok-alerts/messages/{id}"),
        headers: vec![],
        body: vec![],
    };
    let (_, body) = w.send(request).await;
    assert_eq!(body["context"]["status"], "expired");
}

#[tokio::test]
async fn a_rotated_token_keeps_working_for_its_grace_period_only() {
    let w = world().await;
    let mut alerts = w.store.app_by_name("alerts").await.unwrap().unwrap();
    alerts.previous_token = Some((alerts.token_hash.clone(), NOW + 60));
    alerts.token_hash = sha256_hex(b"tok-new");
    w.store.put_app(&alerts).await.unwrap();
    let body = json!({"email": "a@b.co", "text": "x"});
    for path in ["/tok-new/fchat", "/tok-alerts/fchat"] {
        assert_eq!(w.send(post(path, body.clone())).await.0, 200, "{path}");
    }
    assert_eq!(
        w.send(post("/alerts/tok-alerts", json!({"text": "x"})))
            .await
            .0,
        200
    );
    w.clock.advance(60);
    assert_eq!(
        w.send(post("/tok-alerts/fchat", body.clone())).await,
        error(404, "channel or token not found")
    );
    assert_eq!(
        w.send(post("/alerts/tok-alerts", json!({"text": "x"})))
            .await,
        error(404, "Channel or token not found")
    );
    assert_eq!(w.send(post("/tok-new/fchat", body)).await.0, 200);
}

mod alerts;

#[test]
fn notifications_received_in_one_millisecond_keep_their_order() {
    let stamps: Vec<u64> = (0..1000).map(|_| super::received_at_ms()).collect();
    assert!(
        stamps.windows(2).all(|pair| pair[0] < pair[1]),
        "{:?}",
        &stamps[..10]
    );
}
