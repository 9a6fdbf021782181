//! What the send API's validated input can make of an SQS job (256 KiB, `MAX_JOB_BYTES`) and of
//! a DynamoDB item (400 KB), just under and just over each limit.
//!
//! A JSON body never grows when it is written back, except through its numbers: `1e15` (4
//! bytes) is written `1000000000000000.0` (18). That is the most any number token grows (the
//! first test searches the short ones), so a 64 KiB body carries at most about 3.8 times its
//! size in button `callbackData`, and `parameters` are bounded as stored. The alert routes take
//! 1 MiB bodies, whose group key and labels go into the job: that job is what is refused.

mod common;

use std::sync::Arc;

use gateway::api::validate::parse_user_message;
use gateway::domain::{Context, Group, Target};
use gateway::error::{ApiError, MAX_BODY_BYTES, MAX_PARAMETERS_BYTES};
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::job::{Forward, Job, JobKind, MAX_JOB_BYTES};
use gateway::memory::{FixedClock, MemoryFChat, MemoryQueue, MemoryStore, MemoryWebhooks};
use gateway::ports::{AppStore, ContextStore, GroupStore, IdempotencyClaim, WebhookOutcome};
use gateway::services::forwarding::{Forwarded, Forwarder};
use gateway::services::outbox;
use serde_json::{json, Value};

/// DynamoDB's item size: "400 KB", counted here as 400,000 bytes to be safe (AWS's own
/// measure is 400 KiB).
const MAX_ITEM_BYTES: usize = 400_000;

/// A number that differs between runs, below `modulo`.
fn jitter(modulo: u32) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    ((nanos ^ std::process::id()) % modulo) as usize
}

/// Bytes as written back by `serde_json` (how jobs and items are stored).
fn stored(value: &Value) -> usize {
    serde_json::to_string(value).unwrap().len()
}

/// How much a number token grows when written back, per byte with its separator (a comma).
fn growth(token: &str) -> Option<f64> {
    match serde_json::from_str::<Value>(token) {
        Ok(value @ Value::Number(_)) => {
            Some((stored(&value) + 1) as f64 / (token.len() + 1) as f64)
        }
        _ => None,
    }
}

/// The number tokens that grow most: every token of up to four characters, and the
/// five-character ones of a few digits. `serde_json` (without `float_roundtrip`) reads
/// `5e90` as a neighbour of 5×10⁹⁰ and writes it back in 22 bytes: 4.6 times its 5 bytes
/// with a comma. `1e15` (written `1000000000000000.0`) is the most a correctly read number
/// grows: 3.8 times.
#[test]
fn the_numbers_that_grow_most() {
    let mut best = (0.0f64, String::new());
    let mut consider = |token: String| {
        if let Some(ratio) = growth(&token) {
            if ratio > best.0 {
                best = (ratio, token);
            }
        }
    };
    let all = "0123456789eE.-+";
    let few = "0159e.-";
    let mut tokens: Vec<String> = vec![String::new()];
    for length in 1..=5 {
        let alphabet = if length <= 4 { all } else { few };
        tokens = tokens
            .iter()
            .flat_map(|t| alphabet.chars().map(move |c| format!("{t}{c}")))
            .filter(|t| length < 5 || t.chars().all(|c| few.contains(c)))
            .collect();
        for token in &tokens {
            consider(token.clone());
        }
        if length == 4 {
            tokens.retain(|t| t.chars().all(|c| few.contains(c)));
        }
    }
    eprintln!("the number that grows most: {best:?}");
    assert!(best.0 <= 4.8, "{best:?}");
    assert_eq!(growth("5e90"), Some(4.6));
    assert_eq!(growth("1e15"), Some(3.8));
}

/// `[1e15,...]` with `count` numbers, written as sent (not as `serde_json` writes it).
fn numbers(count: usize) -> String {
    numbers_of("1e15", count)
}

fn numbers_of(token: &str, count: usize) -> String {
    format!("[{}]", vec![token; count].join(","))
}

/// A user message whose `parameters` are exactly `size` bytes as stored, in a body within
/// the send API's 64 KiB.
fn body_with_parameters(size: usize) -> Vec<u8> {
    let count = 3000 + jitter(100);
    let base = format!(r#"{{"n":{},"p":""}}"#, numbers(count));
    let grown = stored(&serde_json::from_str(&base).unwrap());
    let parameters = format!(
        r#"{{"n":{},"p":"{}"}}"#,
        numbers(count),
        "p".repeat(size - grown)
    );
    let body = format!(r#"{{"email":"u@example.com","text":"x","parameters":{parameters}}}"#);
    assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
    body.into_bytes()
}

#[test]
fn parameters_are_kept_up_to_their_stored_limit() {
    let message = parse_user_message(&body_with_parameters(MAX_PARAMETERS_BYTES)).unwrap();
    assert_eq!(
        stored(&Value::Object(message.parameters)),
        MAX_PARAMETERS_BYTES
    );
    assert_eq!(
        parse_user_message(&body_with_parameters(MAX_PARAMETERS_BYTES + 1)),
        Err(ApiError::ParametersTooLarge)
    );
}

/// A job of `size` bytes exactly is queued; one byte more is refused.
#[test]
fn a_job_is_made_up_to_the_queues_limit() {
    let app = common::app(&format!("app{}", jitter(1000)), "tok");
    let context = Context::queued(
        &app,
        Target::User("u@example.com".into()),
        Default::default(),
        0,
    );
    let content = |filler: usize| gateway::message::MessageContent {
        text: "x".into(),
        keyboard: vec![vec![gateway::message::Button {
            text: "t".into(),
            callback_data: json!("d".repeat(filler)),
        }]],
    };
    let base = outbox::job(&context, content(0), None)
        .unwrap()
        .to_json()
        .len();
    let at_limit = outbox::job(&context, content(MAX_JOB_BYTES - base), None).unwrap();
    assert_eq!(at_limit.to_json().len(), MAX_JOB_BYTES);
    assert_eq!(
        outbox::job(&context, content(MAX_JOB_BYTES - base + 1), None).unwrap_err(),
        ApiError::JobTooLarge
    );
}

struct World {
    ingest: Ingest,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
}

async fn world(app: &gateway::domain::App) -> World {
    world_knowing(app, &[]).await
}

/// [`world`] where FChat knows `emails`.
async fn world_knowing(app: &gateway::domain::App, emails: &[&str]) -> World {
    let fchat = MemoryFChat::default();
    for email in emails {
        fchat.add_user(email, &format!("fchat-{email}"));
    }
    let store = Arc::new(MemoryStore::default());
    store.put_app(app).await.unwrap();
    store
        .put_group(&Group {
            id: "ops".into(),
            beatchat_id: Some("bc-ops".into()),
            active: true,
            name: None,
        })
        .await
        .unwrap();
    let queue = Arc::new(MemoryQueue::default());
    let ingest = Ingest {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        fchat: Arc::new(fchat),
        clock: Arc::new(FixedClock::at(common::NOW)),
        sns: Arc::new(gateway::adapters::sns::SnsClient::new(false)),
    };
    World {
        ingest,
        store,
        queue,
    }
}

/// Button data that grows when written back can take a 64 KiB user message past the queue's
/// limit: such a message is answered 413 and changes nothing; one whose job is exactly the
/// limit is queued.
#[tokio::test]
async fn a_user_message_whose_job_would_not_fit_the_queue_is_refused() {
    let token = format!("tok{}", jitter(1 << 20));
    let app = common::app(&format!("buttons{}", jitter(1000)), &token);
    let email = format!("u{}@example.com", jitter(1000));
    let world = world_knowing(&app, &[&email]).await;
    let token_grows = stored(&serde_json::from_str::<Value>("5e90").unwrap()) + 1;
    let body = |count: usize, filler: usize| {
        format!(
            r#"{{"email":"{email}","text":"x","reply_markup":{{"inlineKeyboard":[[{{"text":"t","callbackData":{{"n":{},"f":"{}"}}}}]]}}}}"#,
            numbers_of("5e90", count),
            "f".repeat(filler)
        )
    };
    let post = |body: String| HttpRequest {
        method: "POST".into(),
        path: format!("/{token}/fchat"),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    };
    let refused = serde_json::to_value(ApiError::JobTooLarge.body()).unwrap();

    // As many numbers as 64 KiB holds: the job would be about 300 KB.
    let most = (MAX_BODY_BYTES - body(0, 0).len()) / 5;
    assert!(body(most, 0).len() <= MAX_BODY_BYTES);
    let answer = world.ingest.handle(&post(body(most, 0))).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        refused
    );
    let would_be = Job::new(JobKind::SendUser {
        context_id: gateway::domain::new_context_id(),
        app: app.name.clone(),
        email: email.clone(),
        content: parse_user_message(body(most, 0).as_bytes())
            .unwrap()
            .content,
    });
    eprintln!(
        "the send API's largest job: {} bytes from a {}-byte body",
        would_be.to_json().len(),
        body(most, 0).len()
    );
    assert!(world.store.contexts().is_empty() && world.queue.jobs().is_empty());

    // Exactly the limit, then one byte more.
    let first = 1000 + jitter(1000);
    let answer = world.ingest.handle(&post(body(first, 0))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let grown = world.queue.jobs().last().unwrap().to_json().len();
    let count = first + (MAX_JOB_BYTES - grown) / token_grows;
    let filler = MAX_JOB_BYTES - grown - (count - first) * token_grows;
    assert!(body(count, filler + 1).len() <= MAX_BODY_BYTES);
    let answer = world.ingest.handle(&post(body(count, filler))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        world.queue.jobs().last().unwrap().to_json().len(),
        MAX_JOB_BYTES
    );
    let (contexts, jobs) = (world.store.contexts().len(), world.queue.jobs().len());
    let answer = world.ingest.handle(&post(body(count, filler + 1))).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        refused
    );
    assert_eq!(
        (world.store.contexts().len(), world.queue.jobs().len()),
        (contexts, jobs)
    );
}

/// Alertmanager's notification with one group label `label_bytes` long.
fn alert(label_bytes: usize) -> Vec<u8> {
    let path = fchat_local::workspace_root().join("shared/tests/fixtures/alertmanager-firing.json");
    let mut payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    payload["groupLabels"]["team"] = json!("t".repeat(label_bytes));
    serde_json::to_vec(&payload).unwrap()
}

/// An alert group's labels (and key) go into its job: a notification whose job is exactly the
/// queue's limit is queued; one byte more is answered 413 and changes nothing. The message the
/// delivery then remembers for the group stays well within a DynamoDB item.
#[tokio::test]
async fn an_alert_whose_job_would_not_fit_the_queue_is_refused_before_anything_is_written() {
    let token = format!("tok{}", jitter(1 << 20));
    let app = common::app(&format!("alerts{}", jitter(1000)), &token);
    let world = world(&app).await;
    let post = |label_bytes: usize| HttpRequest {
        method: "POST".into(),
        path: format!("/{}/{token}/alertmanager", app.name),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: alert(label_bytes),
    };
    let first = 100_000 + jitter(10_000);
    let answer = world.ingest.handle(&post(first)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let grown = world.queue.jobs().last().unwrap().to_json().len();
    let at_limit = first + MAX_JOB_BYTES - grown;

    let answer = world.ingest.handle(&post(at_limit)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let job = world.queue.jobs().last().unwrap().clone();
    assert_eq!(job.to_json().len(), MAX_JOB_BYTES);
    let (contexts, jobs) = (world.store.contexts().len(), world.queue.jobs().len());

    let answer = world.ingest.handle(&post(at_limit + 1)).await;
    assert_eq!(answer.status, 413);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        serde_json::to_value(ApiError::JobTooLarge.body()).unwrap()
    );
    assert_eq!(
        world.store.contexts().len(),
        contexts,
        "a context was written"
    );
    assert_eq!(world.queue.jobs().len(), jobs, "a job was queued");

    // The group's message as delivery remembers it, from the largest job.
    let JobKind::SendAlert {
        content, thread, ..
    } = job.kind
    else {
        panic!("not an alert job");
    };
    let remembered = thread.remembered(&app.name, "bc-ops", "m-1", &content, None, common::NOW);
    let item = serde_json::to_string(&remembered).unwrap().len() + 200;
    eprintln!("the largest alert thread item: about {item} bytes");
    assert!(item < MAX_ITEM_BYTES, "{item}");
}

/// A forward that failed and could not be queued for a retry is given up at once; a smaller
/// one is queued.
#[tokio::test]
async fn a_forward_too_large_to_retry_is_dropped() {
    let app = common::app(&format!("hooks{}", jitter(1000)), "tok");
    let world = world(&app).await;
    let webhooks = Arc::new(MemoryWebhooks::default());
    let forwarder = Forwarder {
        apps: world.store.clone(),
        contexts: world.store.clone(),
        queue: world.queue.clone(),
        webhooks: webhooks.clone(),
        clock: Arc::new(FixedClock::at(common::NOW)),
        fchat: Arc::new(gateway::memory::MemoryFChat::default()),
    };
    let forward = |filler: usize| Forward {
        app: app.name.clone(),
        webhook_id: "u-1".into(),
        chat_id: "fchat-1".into(),
        reply_to: None,
        payload: json!({"event": "message", "context": {"parameters": {"p": "p".repeat(filler)}}}),
        click: None,
    };
    let base = Job::new(JobKind::Forward(forward(0))).to_json().len();
    for (filler, queued) in [(MAX_JOB_BYTES - base, 1), (MAX_JOB_BYTES - base + 1, 0)] {
        let before = world.queue.jobs().len();
        webhooks.answer([WebhookOutcome::Failed("503".into())]);
        let outcome = forwarder.forward_or_queue(forward(filler)).await.unwrap();
        assert_eq!(world.queue.jobs().len() - before, queued, "{outcome:?}");
        match queued {
            1 => assert_eq!(outcome, Forwarded::Failed("503".into())),
            _ => {
                assert!(matches!(outcome, Forwarded::Dropped(ref why) if why.contains("too large")))
            }
        }
    }
}

/// The largest context and idempotency record the send API writes (parameters at their
/// limit, a 254-character email) are far from DynamoDB's item size: moto takes them.
#[tokio::test]
async fn the_largest_context_and_idempotency_record_fit_a_dynamodb_item() {
    let (_aws, store) = common::dynamo().await;
    let message = parse_user_message(&body_with_parameters(MAX_PARAMETERS_BYTES)).unwrap();
    let app = common::app(&format!("big{}", jitter(1000)), "tok");
    let email = format!(
        "{}@{}.example.com",
        "u".repeat(64),
        "d".repeat(254 - 64 - 13)
    );
    assert_eq!(email.len(), 254);
    let context = Context::queued(&app, Target::User(email), message.parameters, common::NOW);
    store.create_context(&context).await.unwrap();
    let read = store.context_record(&context.id).await.unwrap().unwrap();
    assert_eq!(
        stored(&Value::Object(read.parameters.clone())),
        MAX_PARAMETERS_BYTES
    );
    let record = gateway::domain::IdempotencyRecord {
        app: app.name.clone(),
        key_hash: "k".repeat(64),
        request_hash: "r".repeat(64),
        context_id: context.id.clone(),
        parameters: read.parameters,
        expires_at: common::NOW + 60,
    };
    let claim = store.claim_idempotency(&record, common::NOW).await.unwrap();
    assert!(matches!(claim, IdempotencyClaim::Claimed));
}
