//! Delivery end to end over real sockets: messages accepted by the send API (in process, on
//! the same DynamoDB and SQS), the delivery queue's poller feeding the real `delivery` binary
//! under the Lambda Runtime API emulator, and the FChat simulator with its fault switches.

use std::path::Path;
use std::time::{Duration, Instant};

use fchat_local::harness::{dev_seed, Stack, LOCAL_BOT_TOKEN};
use fchat_local::poller::Poller;
use fchat_simulator::Faults;
use gateway::domain::{Context, DeliveryStatus};
use gateway::dynamo::DynamoStore;
use gateway::fchat::FChatClient;
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::message::MessageContent;
use gateway::ports::{ContextStore, FChat, OutgoingMessage, UserStore};
use serde_json::{json, Value};

struct World {
    stack: Stack,
    ingest: Ingest,
    store: DynamoStore,
    poller: Poller,
}

async fn world() -> World {
    let stack = Stack::start_one(
        Path::new(env!("CARGO_BIN_EXE_delivery")),
        &dev_seed().unwrap(),
    )
    .await
    .expect("the local stack starts (run `make venv` first)");
    World {
        ingest: stack.aws.ingest().await.unwrap(),
        store: stack.aws.store(),
        poller: stack.delivery_poller().await,
        stack,
    }
}

impl World {
    /// Sends through the send API; answers the status and body.
    async fn send(&self, path: &str, body: Value) -> (u16, Value) {
        let request = HttpRequest {
            query: String::new(),
            method: "POST".into(),
            path: path.into(),
            headers: vec![],
            body: body.to_string().into_bytes(),
        };
        let response = self.ingest.handle(&request).await;
        (
            response.status,
            serde_json::from_str(&response.body).unwrap(),
        )
    }

    async fn accept(&self, path: &str, body: Value) -> String {
        let (status, answer) = self.send(path, body).await;
        assert_eq!(status, 200, "{answer}");
        answer["context"]["id"].as_str().unwrap().to_owned()
    }

    async fn context(&self, id: &str) -> Context {
        self.store.context_record(id).await.unwrap().unwrap()
    }

    /// FChat fails the next `count` sends with `status`.
    fn fail_next(&self, count: u32, status: u16) {
        self.stack.fchat.set_faults(Faults {
            fail_next: count,
            fail_status: status,
            ..Faults::default()
        });
    }

    /// Delivers until the context `id` is settled (or fails after `limit`); answers it.
    async fn settled(&self, id: &str, limit: Duration) -> Context {
        self.deliver_until_settled(&[id], limit).await;
        self.context(id).await
    }

    /// Polls and delivers until every listed context is settled, or fails after `limit`.
    async fn deliver_until_settled(&self, ids: &[&str], limit: Duration) {
        let started = Instant::now();
        loop {
            let mut settled = true;
            for id in ids {
                let status = self.context(id).await.status;
                settled &= matches!(
                    status,
                    DeliveryStatus::Sent | DeliveryStatus::Failed | DeliveryStatus::Expired
                );
            }
            if settled {
                return;
            }
            assert!(started.elapsed() < limit, "not settled within {limit:?}");
            self.poller.poll_once(Duration::from_secs(1)).await.unwrap();
        }
    }
}

#[tokio::test]
async fn group_and_user_messages_with_buttons_reach_fchat_once_and_read_sent() {
    let w = world().await;
    let group = w
        .accept(
            "/MY_APP/MY_TOKEN",
            json!({"text": "System notification: All services running"}),
        )
        .await;
    let user = w
        .accept(
            "/MY_TOKEN/fchat",
            json!({"email": "user@example.com", "text": "Approve this request?",
                   "reply_markup": {"inlineKeyboard": [[
                       {"text": "Yes", "callbackData": {"action": "confirm", "data": "yes"}},
                       {"text": "No", "callbackData": {"action": "confirm", "data": "no"}}]]}}),
        )
        .await;
    w.deliver_until_settled(&[&group, &user], Duration::from_secs(20))
        .await;

    let shown = w.stack.fchat.messages();
    assert_eq!(shown.len(), 2);
    let to_group = shown
        .iter()
        .find(|m| m.chat_id == "beatchat-ops-001")
        .unwrap();
    assert_eq!(to_group.text, "System notification: All services running");
    assert_eq!(to_group.client_message_id.as_deref(), Some(group.as_str()));
    let to_user = shown
        .iter()
        .find(|m| m.chat_id == "fchat-user-1001")
        .unwrap();
    assert_eq!(
        to_user.reply_markup,
        Some(json!({"inline_keyboard": [[
            {"text": "Yes", "callback_data": "{\"action\":\"confirm\",\"data\":\"yes\"}"},
            {"text": "No", "callback_data": "{\"action\":\"confirm\",\"data\":\"no\"}"}]]}))
    );

    // The status route reports each as sent, with FChat's message id.
    for (id, message) in [(&group, to_group), (&user, to_user)] {
        let request = HttpRequest {
            query: String::new(),
            method: "GET".into(),
            path: format!("/MY_TOKEN/messages/{id}"),
            headers: vec![],
            body: vec![],
        };
        let report: Value = serde_json::from_str(&w.ingest.handle(&request).await.body).unwrap();
        assert_eq!(report["context"]["status"], "sent");
        assert_eq!(
            report["context"]["fchat_message_id"],
            message.message_id.as_str()
        );
    }
    // Nothing is left on the queue.
    assert_eq!(
        w.poller.poll_once(Duration::from_secs(1)).await.unwrap(),
        (0, 0)
    );
}

#[tokio::test]
async fn a_user_known_only_to_fchat_is_created_and_an_unknown_user_is_refused() {
    let w = world().await;
    assert!(w
        .store
        .user("an.nguyen@example.com")
        .await
        .unwrap()
        .is_none());
    let id = w
        .accept(
            "/MY_TOKEN/fchat",
            json!({"email": "An.Nguyen@example.com", "text": "Xin chào"}),
        )
        .await;
    let user = w
        .store
        .user("an.nguyen@example.com")
        .await
        .unwrap()
        .expect("the user was created");
    assert_eq!(user.fchat_id, "fchat-user-1002");
    w.deliver_until_settled(&[&id], Duration::from_secs(20))
        .await;
    assert_eq!(w.stack.fchat.messages()[0].chat_id, "fchat-user-1002");

    assert_eq!(
        w.send(
            "/MY_TOKEN/fchat",
            json!({"email": "ghost@example.com", "text": "x"})
        )
        .await,
        (
            404,
            json!({"ok": false, "error_code": 404, "description": "User ghost@example.com not found!"})
        )
    );
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_waited_out_then_sent() {
    let w = world().await;
    w.stack.fchat.set_faults(Faults {
        rate_limit_next: 1,
        retry_after: 1,
        ..Faults::default()
    });
    let id = w
        .accept("/MY_APP/MY_TOKEN", json!({"text": "after the limit"}))
        .await;
    w.poller.poll_once(Duration::from_secs(1)).await.unwrap();
    let waiting = w.context(&id).await;
    assert_eq!(waiting.status, DeliveryStatus::Queued);
    assert!(waiting.last_error.unwrap().starts_with("429"));
    let context = w.settled(&id, Duration::from_secs(20)).await;
    assert_eq!(
        (context.status, context.attempts),
        (DeliveryStatus::Sent, 2)
    );
    assert_eq!(w.stack.fchat.messages().len(), 1);
}

#[tokio::test]
async fn three_server_errors_then_success_show_exactly_one_message() {
    let w = world().await;
    w.fail_next(3, 503);
    let id = w
        .accept("/MY_APP/MY_TOKEN", json!({"text": "eventually"}))
        .await;
    let context = w.settled(&id, Duration::from_secs(40)).await;
    assert_eq!(
        (context.status, context.attempts),
        (DeliveryStatus::Sent, 4)
    );
    assert_eq!(w.stack.fchat.messages().len(), 1);
    assert_eq!(w.stack.fchat.send_attempts(), 4);
}

#[tokio::test]
async fn a_permanent_refusal_marks_the_message_failed_without_retry() {
    let w = world().await;
    w.fail_next(1, 400);
    let id = w
        .accept("/MY_APP/MY_TOKEN", json!({"text": "refused"}))
        .await;
    let context = w.settled(&id, Duration::from_secs(20)).await;
    assert_eq!(
        (context.status, context.attempts),
        (DeliveryStatus::Failed, 1)
    );
    assert!(context.last_error.unwrap().starts_with("400"));
    // Nothing comes back to be retried.
    assert_eq!(
        w.poller.poll_once(Duration::from_secs(2)).await.unwrap(),
        (0, 0)
    );
    assert_eq!(w.stack.fchat.send_attempts(), 1);
}

#[tokio::test]
async fn a_poison_job_reaches_the_dlq_while_its_batch_mates_are_delivered() {
    let w = world().await;
    let sqs = w.stack.aws.sqs();
    let queue = &w.stack.aws.config.delivery_queue_url;
    // Failed messages come back after a second instead of the template's three minutes; the
    // redrive policy (maxReceiveCount) is the template's.
    w.stack.aws.set_visibility_timeout(queue, 1).await.unwrap();
    sqs.send_message()
        .queue_url(queue)
        .message_group_id("unreadable-1")
        .message_deduplication_id("unreadable-1")
        .message_body("{\"v\":1,\"kind\":\"self_destruct\"}")
        .send()
        .await
        .unwrap();
    let first = w.accept("/MY_APP/MY_TOKEN", json!({"text": "one"})).await;
    let second = w
        .accept(
            "/MY_TOKEN/fchat",
            json!({"email": "user@example.com", "text": "two"}),
        )
        .await;

    let dlq = &w.stack.aws.provisioned.queue_urls["DeliveryDeadLetterQueue"];
    let started = Instant::now();
    let dead = loop {
        w.poller.poll_once(Duration::from_secs(1)).await.unwrap();
        let received = sqs
            .receive_message()
            .queue_url(dlq)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        if let Some(message) = received.messages.unwrap_or_default().pop() {
            break message;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the poison job never reached the DLQ"
        );
    };
    assert_eq!(dead.body(), Some("{\"v\":1,\"kind\":\"self_destruct\"}"));
    assert_eq!(w.context(&first).await.status, DeliveryStatus::Sent);
    assert_eq!(w.context(&second).await.status, DeliveryStatus::Sent);
    assert_eq!(w.stack.fchat.messages().len(), 2);
}

#[tokio::test]
async fn a_job_delivered_again_after_fchat_accepted_it_sends_nothing_twice() {
    let w = world().await;
    let id = w
        .accept("/MY_APP/MY_TOKEN", json!({"text": "exactly once"}))
        .await;
    let job = {
        let received = w
            .stack
            .aws
            .sqs()
            .receive_message()
            .queue_url(&w.stack.aws.config.delivery_queue_url)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        received.messages.unwrap()[0].body().unwrap().to_owned()
    };

    // An earlier attempt reached FChat and then died before recording anything.
    let fchat = FChatClient::new(
        &w.stack.fchat.url(),
        LOCAL_BOT_TOKEN,
        Duration::from_secs(5),
    )
    .unwrap();
    let first_id = fchat
        .send_message(&OutgoingMessage {
            chat_id: "beatchat-ops-001".into(),
            content: MessageContent {
                text: "exactly once".into(),
                keyboard: vec![],
            },
            client_message_id: id.clone(),
            reply_to_message_id: None,
        })
        .await
        .unwrap();

    w.deliver_until_settled(&[&id], Duration::from_secs(20))
        .await;
    assert_eq!(w.context(&id).await.fchat_message_id, Some(first_id));
    assert_eq!(w.stack.fchat.messages().len(), 1);

    // SQS delivers the job once more, as it may: nothing is sent.
    let attempts = w.stack.fchat.send_attempts();
    w.stack
        .aws
        .sqs()
        .send_message()
        .queue_url(&w.stack.aws.config.delivery_queue_url)
        .message_group_id("hand-made")
        .message_deduplication_id(format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ))
        .message_body(job)
        .send()
        .await
        .unwrap();
    assert_eq!(
        w.poller.poll_once(Duration::from_secs(1)).await.unwrap(),
        (1, 0)
    );
    assert_eq!(w.stack.fchat.send_attempts(), attempts);
    assert_eq!(w.stack.fchat.messages().len(), 1);
}
