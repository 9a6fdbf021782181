//! An FChat outage end to end over real sockets: the send API (in process), the delivery
//! queue's poller feeding the real `delivery` binary, the FChat simulator failing every send,
//! and the real `callback` binary routing the clicks that follow. Retries come a second apart
//! (the harness caps retry delays), which compresses hours of outage into seconds.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fchat_local::harness::Stack;
use fchat_local::seed::Seed;
use fchat_simulator::receiver::{Receiver, ReceiverConfig};
use fchat_simulator::{ButtonRef, Faults};
use gateway::dynamo::DynamoStore;
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::ports::ContextStore;
use serde_json::{json, Value};

const SECRET: &str = "whsec_bm90LWEtcmVhbC1zZWNyZXQtYnV0LWxvbmctZW5vdWdo";

struct World {
    stack: Stack,
    ingest: Ingest,
    store: DynamoStore,
    app: Receiver,
    /// The app's name and token, and its user: nobody else's fixture names.
    name: String,
    token: String,
    email: String,
}

/// GIVEN a stack whose one app (a name of this run's own) may message one user, with a
/// reply window of `reply_window` seconds and a delivery window of `delivery_window`.
async fn world(reply_window: u64, delivery_window: Option<u64>) -> World {
    let run = std::process::id();
    let name = format!("approvals-{run}");
    let token = format!("tok{run}x{}", delivery_window.unwrap_or(0));
    let email = format!("duty.officer.{run}@corp.test");
    let app = Receiver::on_loopback(ReceiverConfig::checked_with(SECRET))
        .await
        .unwrap();
    let seed: Seed = serde_json::from_value(json!({
        "apps": [{
            "name": name, "token": token, "user_messaging": true,
            "webhook_url": app.url(), "webhook_secret": SECRET,
            "context_ttl_seconds": reply_window,
            "delivery_window_seconds": delivery_window,
        }],
        "users": [{"email": email, "fchat_id": format!("fc-{run}"), "name": "Duty Officer"}],
    }))
    .unwrap();
    let stack = Stack::start_with_callback(Path::new(env!("CARGO_BIN_EXE_callback")), &seed)
        .await
        .expect("the local stack starts (run `make venv` first)");
    World {
        ingest: stack.aws.ingest().await.unwrap(),
        store: stack.aws.store(),
        stack,
        app,
        name,
        token,
        email,
    }
}

impl World {
    async fn call(&self, method: &str, path: String, body: Value) -> Value {
        let request = HttpRequest {
            query: String::new(),
            method: method.into(),
            path,
            headers: vec![],
            body: if body.is_null() {
                vec![]
            } else {
                body.to_string().into_bytes()
            },
        };
        serde_json::from_str(&self.ingest.handle(&request).await.body).unwrap()
    }

    /// Sends an approval question with buttons; answers its context id.
    async fn ask(&self, ticket: u32) -> String {
        let answer = self
            .call(
                "POST",
                format!("/{}/fchat", self.token),
                json!({"email": self.email, "text": format!("Approve change #{ticket}?"),
                   "parameters": {"ticket": ticket},
                   "reply_markup": {"inlineKeyboard": [[
                       {"text": "Yes", "callbackData": {"action": "approve", "data": ticket.to_string()}},
                       {"text": "No", "callbackData": {"action": "reject", "data": ticket.to_string()}}]]}}),
            )
            .await;
        assert_eq!(answer["ok"], true, "{answer}");
        answer["context"]["id"].as_str().unwrap().to_owned()
    }

    async fn status(&self, id: &str) -> Value {
        self.call("GET", format!("/{}/messages/{id}", self.token), Value::Null)
            .await["context"]
            .clone()
    }

    async fn attempts(&self, ids: &[String]) -> Vec<u32> {
        let mut attempts = Vec::new();
        for id in ids {
            attempts.push(
                self.store
                    .context_record(id)
                    .await
                    .unwrap()
                    .unwrap()
                    .attempts,
            );
        }
        attempts
    }

    /// Polls the delivery queue until `done`, for at most `limit`.
    async fn deliver_until(&self, limit: Duration, done: impl AsyncCheck) {
        let poller = self.stack.delivery_poller().await;
        let started = Instant::now();
        while !done.check(self).await {
            assert!(started.elapsed() < limit, "not done within {limit:?}");
            poller.poll_once(Duration::from_secs(1)).await.unwrap();
        }
    }

    async fn dead_letters(&self) -> Vec<String> {
        let dlq = &self.stack.aws.provisioned.queue_urls["DeliveryDeadLetterQueue"];
        self.stack.aws.peek(dlq).await.unwrap()
    }
}

/// A condition on the world that needs to read it.
trait AsyncCheck {
    async fn check(&self, world: &World) -> bool;
}

struct MoreAttemptsThan<'a>(&'a [String], u32);

impl AsyncCheck for MoreAttemptsThan<'_> {
    async fn check(&self, world: &World) -> bool {
        world.attempts(self.0).await.iter().all(|a| *a > self.1)
    }
}

struct AllRead<'a>(&'a [String], &'static str);

impl AsyncCheck for AllRead<'_> {
    async fn check(&self, world: &World) -> bool {
        for id in self.0 {
            if world.status(id).await["status"] != self.1 {
                return false;
            }
        }
        true
    }
}

/// Something waits in the dead-letter queue.
struct Parked;

impl AsyncCheck for Parked {
    async fn check(&self, world: &World) -> bool {
        !world.dead_letters().await.is_empty()
    }
}

fn down() -> Faults {
    Faults {
        fail_next: u32::MAX,
        fail_status: 503,
        ..Faults::default()
    }
}

#[tokio::test]
async fn fchat_down_beyond_the_old_retry_budget_loses_nothing_and_buttons_still_route() {
    let w = world(120, None).await;
    w.stack.fchat.set_faults(down());
    let mut ids = Vec::new();
    for ticket in [7, 31, 402] {
        ids.push(w.ask(ticket).await);
    }
    // FChat refuses every send for longer than eight attempts: the queue's old redrive policy
    // would have parked them. The three go to one user's chat: the first is tried again and
    // again, the two behind it wait untried, in order.
    w.deliver_until(Duration::from_secs(60), MoreAttemptsThan(&ids[..1], 9))
        .await;
    for (i, id) in ids.iter().enumerate() {
        let status = w.status(id).await;
        assert_eq!(status["status"], "queued", "{status}");
        let last_error = status["last_error"].as_str().unwrap_or_default();
        if i == 0 {
            assert!(last_error.starts_with("503 "), "{status}");
        } else {
            assert_eq!(w.attempts(std::slice::from_ref(id)).await, [0], "{status}");
        }
    }
    assert!(w.dead_letters().await.is_empty());
    assert!(w.stack.fchat.messages().is_empty());

    // FChat recovers: every message is shown exactly once.
    w.stack.fchat.set_faults(Faults::default());
    w.deliver_until(Duration::from_secs(30), AllRead(&ids, "sent"))
        .await;
    let shown = w.stack.fchat.messages();
    assert_eq!(shown.len(), 3);
    // In the order they were accepted.
    let shown_ids: Vec<_> = shown
        .iter()
        .map(|m| m.client_message_id.clone().unwrap())
        .collect();
    assert_eq!(shown_ids, ids);
    // Nothing comes back to be sent again.
    assert_eq!(
        w.stack
            .delivery_poller()
            .await
            .poll_once(Duration::from_secs(1))
            .await
            .unwrap(),
        (0, 0)
    );
    assert_eq!(w.stack.fchat.messages().len(), 3);

    // The reply window runs from when FChat took them: their buttons route to the app.
    for message in &shown {
        let (status, _) = w
            .stack
            .fchat
            .act_click(&message.message_id, ButtonRef::Text("Yes".into()), None)
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let started = Instant::now();
    while w.app.events().len() < 3 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = w.app.events();
    assert_eq!(events.len(), 3);
    let mut tickets: Vec<u64> = events
        .iter()
        .map(|e| {
            assert!(e.verified, "the signature did not verify");
            assert_eq!(e.body["event"], "callback_query");
            assert_eq!(e.body["app"], w.name.as_str());
            e.body["context"]["parameters"]["ticket"].as_u64().unwrap()
        })
        .collect();
    tickets.sort();
    assert_eq!(tickets, vec![7, 31, 402]);
}

#[tokio::test]
async fn a_message_whose_delivery_window_passes_reads_expired_with_why_and_the_operator_redrives_it(
) {
    let w = world(120, Some(4)).await;
    w.stack.fchat.set_faults(down());
    let id = w.ask(99).await;
    w.deliver_until(Duration::from_secs(30), Parked).await;
    assert_eq!(w.status(&id).await["status"], "expired");
    let status = w.status(&id).await;
    let why = status["last_error"].as_str().unwrap();
    assert!(
        why.contains("delivery window") && why.contains("last error: 503 "),
        "{status}"
    );
    // The job waits in the dead-letter queue, where the operator sees why.
    let parked = w.dead_letters().await;
    assert_eq!(parked.len(), 1);
    assert!(parked[0].contains(&id));
    let admin = w
        .stack
        .admin(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        })
        .await;
    let listed = admin.run(&["dlq".into(), "list".into()]).await.unwrap();
    assert_eq!(listed.json[0]["context"]["id"], id.as_str());
    assert_eq!(listed.json[0]["context"]["status"], "expired");
    assert!(listed.text.contains("delivery window"), "{}", listed.text);

    // FChat is back; the operator redrives: a new window, and the message is delivered.
    w.stack.fchat.set_faults(Faults::default());
    let redriven = admin.run(&["dlq".into(), "redrive".into()]).await.unwrap();
    assert_eq!(redriven.json["redriven"], 1);
    assert_eq!(w.status(&id).await["status"], "queued");
    w.deliver_until(
        Duration::from_secs(30),
        AllRead(std::slice::from_ref(&id), "sent"),
    )
    .await;
    assert_eq!(w.stack.fchat.messages().len(), 1);
    assert!(w.dead_letters().await.is_empty());
}
