//! An alert group's life in one FChat message, on the in-memory adapters: ingest's alert
//! route, delivery, and the callback's silence clicks.

use std::sync::Arc;

use gateway::adapters::memory::{
    FixedClock, MemoryFChat, MemoryQueue, MemorySilencer, MemoryStore, MemoryWebhooks,
};
use gateway::api::http::HttpRequest;
use gateway::callback::Callback;
use gateway::delivery::{Delivery, JobOutcome};
use gateway::domain::{AlertmanagerAuth, AlertmanagerLink, Group};
use gateway::ingest::Ingest;
use gateway::ports::{AppStore, GroupStore, SilenceError};
use gateway::services::forwarding::Forwarder;
use serde_json::{json, Value};

mod common;

const SECRET: &str = "callback-secret";

struct World {
    ingest: Ingest,
    delivery: Delivery,
    callback: Callback,
    queue: Arc<MemoryQueue>,
    fchat: Arc<MemoryFChat>,
    silencer: Arc<MemorySilencer>,
    store: Arc<MemoryStore>,
    /// Jobs already delivered.
    done: usize,
    app: String,
    token: String,
    chat: String,
}

/// A world with one app named anew, its group and FChat chat, and an Alertmanager.
async fn world(tag: &str) -> World {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    let fchat = Arc::new(MemoryFChat::default());
    let silencer = Arc::new(MemorySilencer::default());
    let clock = Arc::new(FixedClock::at(common::NOW));
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let app_name = format!("{tag}-{}", &suffix[..8]);
    let token = format!("tok-{suffix}");
    let chat = format!("room {tag} {}", &suffix[8..14]);
    let mut app = common::app(&app_name, &token);
    app.group_id = Some(format!("g-{suffix}"));
    app.alerting.alertmanager = Some(AlertmanagerLink {
        url: "https://alertmanager.example.com".into(),
        auth: Some(AlertmanagerAuth::Bearer("am-token".into())),
    });
    store.put_app(&app).await.unwrap();
    store
        .put_group(&Group {
            id: format!("g-{suffix}"),
            beatchat_id: Some(chat.clone()),
            active: true,
            name: None,
        })
        .await
        .unwrap();
    let forwarder = Forwarder {
        apps: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        webhooks: Arc::new(MemoryWebhooks::default()),
        clock: clock.clone(),
        fchat: fchat.clone(),
    };
    World {
        ingest: Ingest {
            apps: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            contexts: store.clone(),
            queue: queue.clone(),
            fchat: fchat.clone(),
            clock: clock.clone(),
            // No SNS message comes here; a client that would refuse any is enough.
            sns: Arc::new(gateway::adapters::sns::SnsClient::new(false)),
        },
        delivery: Delivery {
            contexts: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            apps: store.clone(),
            fchat: fchat.clone(),
            silencer: silencer.clone(),
            clock: clock.clone(),
            lease: std::time::Duration::from_secs(30),
            max_retry_delay: std::time::Duration::from_secs(60),
            forwarder: forwarder.clone(),
            max_forward_delay: std::time::Duration::from_secs(60),
            pacing: gateway::delivery::Pacing::OFF,
        },
        callback: Callback {
            apps: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            contexts: store.clone(),
            fchat: fchat.clone(),
            forwarder,
            clock,
            secret: SECRET.into(),
            expired_text: "expired".into(),
        },
        queue,
        fchat,
        silencer,
        store,
        done: 0,
        app: app_name,
        token,
        chat,
    }
}

/// An Alertmanager notification of the group `group_key` with these `(instance, status)`
/// alerts.
fn notification(group_key: &str, alerts: &[(&str, &str)]) -> Value {
    let status = if alerts.iter().all(|(_, s)| *s == "resolved") {
        "resolved"
    } else {
        "firing"
    };
    json!({
        "version": "4",
        "groupKey": group_key,
        "status": status,
        "receiver": "chat",
        "groupLabels": {"alertname": "QueueBacklog", "cluster": "c-7"},
        "commonLabels": {"alertname": "QueueBacklog", "cluster": "c-7", "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://am.example.com",
        "truncatedAlerts": 0,
        "alerts": alerts.iter().map(|(instance, status)| json!({
            "status": status,
            "labels": {"alertname": "QueueBacklog", "cluster": "c-7", "instance": instance},
            "annotations": {"summary": format!("backlog on {instance}")},
            "startsAt": "2026-11-24T03:10:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": format!("fp-{instance}"),
        })).collect::<Vec<_>>(),
    })
}

impl World {
    async fn notify(&self, body: &Value) {
        let request = HttpRequest {
            method: "POST".into(),
            path: format!("/{}/alertmanager", self.app),
            query: String::new(),
            headers: vec![("Authorization".into(), format!("Bearer {}", self.token))],
            body: body.to_string().into_bytes(),
        };
        let response = self.ingest.handle(&request).await;
        assert_eq!(response.status, 200, "{}", response.body);
    }

    /// An EventBridge event, the token in `x-api-key`.
    async fn event(&self, body: &Value) {
        let request = HttpRequest {
            method: "POST".into(),
            path: format!("/{}/events", self.app),
            query: String::new(),
            headers: vec![
                ("x-api-key".into(), self.token.clone()),
                ("content-type".into(), "application/json".into()),
            ],
            body: body.to_string().into_bytes(),
        };
        let response = self.ingest.handle(&request).await;
        assert_eq!(response.status, 200, "{}", response.body);
    }

    /// Delivers every job queued since the last call.
    async fn deliver(&mut self) -> Vec<JobOutcome> {
        let jobs = self.queue.jobs();
        let mut outcomes = Vec::new();
        for job in &jobs[self.done..] {
            outcomes.push(self.delivery.deliver(&job.to_json(), 1).await);
        }
        self.done = jobs.len();
        outcomes
    }

    async fn click(&self, update_id: &str, message_id: &str, data: &str) -> u16 {
        let update = json!({
            "update_id": update_id,
            "message": {
                "text": "x",
                "user": {"id": "fchat-42", "email": "oncall@example.com"},
                "chat": {"id": self.chat, "type": "group"},
                "callback_query": {"id": "cq-1", "data": data, "message": {"message_id": message_id}},
            }
        });
        let request = HttpRequest {
            method: "POST".into(),
            path: "/callback/fchat".into(),
            query: String::new(),
            headers: vec![("X-FChat-Secret".into(), SECRET.into())],
            body: update.to_string().into_bytes(),
        };
        self.callback.handle(&request).await.status
    }
}

fn button_data(keyboard: &[Vec<gateway::message::Button>], text: &str) -> Option<String> {
    keyboard
        .iter()
        .flatten()
        .find(|b| b.text == text)
        .map(|b| gateway::fchat::callback_data(&b.callback_data))
}

#[tokio::test]
async fn a_group_posts_once_edits_on_change_and_replies_when_resolved() {
    let mut w = world("lifecycle").await;
    let key = format!("{{}}:{{alertname=\"QueueBacklog\", n=\"{}\"}}", w.app);

    w.notify(&notification(&key, &[("a", "firing")])).await;
    assert_eq!(w.deliver().await, vec![JobOutcome::Done]);
    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 1);
    let (first_id, first) = &shown[0];
    assert_eq!(first.chat_id, w.chat);
    assert!(
        first.content.text.contains("FIRING"),
        "{}",
        first.content.text
    );
    assert!(button_data(&first.content.keyboard, "Silence 1h").is_some());
    assert!(button_data(&first.content.keyboard, "Acknowledge").is_some());

    // Alertmanager's repeat: nothing new, nothing edited.
    w.notify(&notification(&key, &[("a", "firing")])).await;
    w.deliver().await;
    assert_eq!(w.fchat.shown().len(), 1);
    assert!(w.fchat.edits().is_empty());

    // Another alert joins the group: the message is edited in place.
    w.notify(&notification(&key, &[("a", "firing"), ("b", "firing")]))
        .await;
    w.deliver().await;
    assert_eq!(w.fchat.shown().len(), 1);
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(&edits[0].message_id, first_id);
    assert!(edits[0].content.text.contains("backlog on b"));

    // Everything resolves: edited to resolved, and a reply tells the chat.
    w.notify(&notification(&key, &[("a", "resolved"), ("b", "resolved")]))
        .await;
    w.deliver().await;
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 2);
    assert!(
        edits[1].content.text.contains("RESOLVED"),
        "{}",
        edits[1].content.text
    );
    assert!(
        edits[1].content.keyboard.is_empty(),
        "no buttons once resolved"
    );
    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 2);
    assert_eq!(
        shown[1].1.reply_to_message_id.as_deref(),
        Some(first_id.as_str())
    );
    assert!(shown[1].1.content.text.contains("Resolved: QueueBacklog"));

    // A repeat of the resolution posts nothing more.
    w.notify(&notification(&key, &[("a", "resolved"), ("b", "resolved")]))
        .await;
    w.deliver().await;
    assert_eq!(w.fchat.shown().len(), 2);
    assert_eq!(w.fchat.edits().len(), 2);

    // Another group of the same app has its own message.
    w.notify(&notification(&format!("{key}-other"), &[("a", "firing")]))
        .await;
    w.deliver().await;
    assert_eq!(w.fchat.shown().len(), 3);
}

/// A queue message's settlement, unused: every job here ends at once.
struct NoRedelivery;

#[async_trait::async_trait]
impl gateway::ports::Redelivery for NoRedelivery {
    async fn redeliver_after(
        &self,
        _: &str,
        _: std::time::Duration,
    ) -> Result<(), gateway::ports::StoreError> {
        Ok(())
    }
    async fn requeue(
        &self,
        _: &str,
        _: std::time::Duration,
    ) -> Result<(), gateway::ports::StoreError> {
        Ok(())
    }
    async fn dead_letter(&self, _: &str) -> Result<(), gateway::ports::StoreError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_groups_firing_and_resolution_in_one_batch_run_in_order() {
    let w = world("batch").await;
    let key = format!("batch-{}", w.app);
    w.notify(&notification(&key, &[("a", "firing")])).await;
    w.notify(&notification(&key, &[("a", "resolved")])).await;
    // Another group in the same batch is delivered beside them.
    w.notify(&notification(&format!("{key}-2"), &[("z", "firing")]))
        .await;
    let mut jobs: Vec<gateway::ports::QueuedJob> = w
        .queue
        .jobs()
        .iter()
        .enumerate()
        .map(|(i, job)| gateway::ports::QueuedJob {
            message_id: format!("q-{i}"),
            receive_count: 1,
            receipt_handle: format!("r-{i}"),
            body: job.to_json(),
            sent_at_ms: None,
        })
        .collect();
    // The queue hands the resolution out first.
    jobs.swap(0, 1);
    let left = gateway::delivery::deliver_batch(&w.delivery, &NoRedelivery, &jobs).await;
    assert!(left.is_empty(), "{left:?}");
    let shown = w.fchat.shown();
    assert_eq!(
        shown.len(),
        3,
        "two groups' messages and one reply: {shown:#?}"
    );
    let group = shown
        .iter()
        .find(|(_, m)| m.content.text.contains("backlog on a") && m.reply_to_message_id.is_none())
        .unwrap();
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].message_id, group.0);
    assert!(edits[0].content.text.contains("RESOLVED"));
    assert!(shown
        .iter()
        .any(|(_, m)| m.reply_to_message_id.as_deref() == Some(group.0.as_str())));
}

#[tokio::test]
async fn a_message_fchat_cannot_edit_is_replaced_by_a_reply_and_reminders_are_replies() {
    let mut w = world("noedit").await;
    let key = format!("group-{}", w.app);
    w.notify(&notification(&key, &[("x", "firing")])).await;
    w.deliver().await;
    let first_id = w.fchat.shown()[0].0.clone();

    w.fchat.set_refuse_edits(true);
    w.notify(&notification(&key, &[("x", "firing"), ("y", "firing")]))
        .await;
    w.deliver().await;
    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 2, "a new message in place of the old");
    assert_eq!(
        shown[1].1.reply_to_message_id.as_deref(),
        Some(first_id.as_str())
    );
    assert!(shown[1].1.content.text.contains("backlog on y"));
    let second_id = shown[1].0.clone();

    // The group now lives in the new message; with reminders on, a repeat replies to it.
    w.fchat.set_refuse_edits(false);
    let mut app = w.store.app_by_name(&w.app).await.unwrap().unwrap();
    app.alerting.reminders = true;
    w.store.put_app(&app).await.unwrap();
    w.notify(&notification(&key, &[("x", "firing"), ("y", "firing")]))
        .await;
    w.deliver().await;
    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 3);
    assert_eq!(
        shown[2].1.reply_to_message_id.as_deref(),
        Some(second_id.as_str())
    );
    assert!(
        shown[2].1.content.text.contains("Still firing"),
        "{}",
        shown[2].1.content.text
    );
}

#[tokio::test]
async fn a_silence_click_silences_the_group_once_and_edits_the_message() {
    let mut w = world("silence").await;
    let key = format!("{{}}/{{}}:{{cluster=\"{}\"}}", w.app);
    w.notify(&notification(&key, &[("a", "firing")])).await;
    w.deliver().await;
    let (message_id, first) = w.fchat.shown()[0].clone();
    let data = button_data(&first.content.keyboard, "Silence 1h").unwrap();

    assert_eq!(w.click("u-silence-1", &message_id, &data).await, 200);
    // FChat delivers the click twice: one silence.
    assert_eq!(w.click("u-silence-1", &message_id, &data).await, 200);
    assert_eq!(w.deliver().await, vec![JobOutcome::Done]);
    let created = w.silencer.created();
    assert_eq!(created.len(), 1);
    let (url, silence) = &created[0];
    assert_eq!(url, "https://alertmanager.example.com");
    assert_eq!(
        silence
            .matchers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        vec![("alertname", "QueueBacklog"), ("cluster", "c-7")]
    );
    assert_eq!(silence.created_by, "oncall@example.com");
    assert_eq!(silence.ends_at - silence.starts_at, 3600);
    let edit = w.fchat.edits().last().cloned().unwrap();
    assert_eq!(edit.message_id, message_id);
    assert!(
        edit.content
            .text
            .contains("Silenced by oncall@example.com for 1h"),
        "{}",
        edit.content.text
    );
    assert!(button_data(&edit.content.keyboard, "Silence 1h").is_none());
    assert!(button_data(&edit.content.keyboard, "Acknowledge").is_some());

    // While silenced, a change keeps the note and shows no silence buttons.
    w.notify(&notification(&key, &[("a", "firing"), ("b", "firing")]))
        .await;
    w.deliver().await;
    let edit = w.fchat.edits().last().cloned().unwrap();
    assert!(edit.content.text.contains("backlog on b"));
    assert!(edit.content.text.contains("Silenced by oncall@example.com"));
    assert!(button_data(&edit.content.keyboard, "Silence 24h").is_none());
}

#[tokio::test]
async fn silences_that_cannot_be_made_are_told_and_forged_buttons_do_nothing() {
    let mut w = world("refused").await;
    let key = format!("k-{}", w.app);
    w.notify(&notification(&key, &[("a", "firing")])).await;
    w.deliver().await;
    let (message_id, first) = w.fchat.shown()[0].clone();
    let data = button_data(&first.content.keyboard, "Silence 24h").unwrap();

    // A transient failure is retried; a refusal is told in the chat, not retried.
    w.silencer
        .fail_next([SilenceError::Transient("503".into())]);
    w.click("u-1", &message_id, &data).await;
    let outcomes = w.deliver().await;
    assert!(
        matches!(outcomes[..], [JobOutcome::RetryAfter(_)]),
        "{outcomes:?}"
    );
    w.silencer.fail_next([SilenceError::Permanent(
        "Alertmanager answered 400: bad matcher".into(),
    )]);
    w.click("u-2", &message_id, &data).await;
    assert_eq!(w.deliver().await, vec![JobOutcome::Done]);
    let told = w.fchat.shown().last().cloned().unwrap().1;
    assert!(
        told.content.text.contains("Could not silence"),
        "{}",
        told.content.text
    );
    assert_eq!(
        told.reply_to_message_id.as_deref(),
        Some(message_id.as_str())
    );
    assert!(w.silencer.created().is_empty());

    // Lengths the buttons do not offer, and keys that are not a group's, are plain clicks
    // (forwarded to the app's webhook like any other), never silences.
    for forged in [
        data.replace("86400", "31536000"),
        json!({"gateway": "silence", "seconds": 3600, "group": "../x"}).to_string(),
    ] {
        w.click(&format!("u-{forged}"), &message_id, &forged).await;
    }
    w.deliver().await;
    assert!(w.silencer.created().is_empty());
}

#[tokio::test]
async fn an_alarms_states_share_a_message_and_a_chatbot_thread_is_replies() {
    let mut w = world("aws").await;
    let fixture = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/tests/fixtures/aws/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap()
    };

    // A custom notification's thread: the first is posted, the next replies to it.
    let mut first = fixture("chatbot-custom-notification.json");
    let thread = format!("thread-{}", w.app);
    first["metadata"]["threadId"] = thread.clone().into();
    first["id"] = "c-1".into();
    let mut second = first.clone();
    second["id"] = "c-2".into();
    second["content"]["title"] = "Backlog draining".into();
    w.event(&first).await;
    w.deliver().await;
    w.event(&second).await;
    w.deliver().await;

    // An alarm's ALARM and then its OK: one message, edited, and a reply.
    let mut alarm = fixture("eventbridge-cloudwatch-alarm.json");
    let arn = format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{}", w.app);
    alarm["resources"] = serde_json::json!([arn]);
    alarm["id"] = "e-1".into();
    alarm["detail"]["state"]["value"] = "ALARM".into();
    let mut ok = alarm.clone();
    ok["id"] = "e-2".into();
    ok["detail"]["state"]["value"] = "OK".into();
    ok["detail"]["previousState"]["value"] = "ALARM".into();
    w.event(&alarm).await;
    w.deliver().await;
    w.event(&ok).await;
    w.deliver().await;

    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 4, "{shown:#?}");
    let (thread_first, _) = &shown[0];
    assert!(
        shown[1].1.content.text.contains("Backlog draining"),
        "{shown:#?}"
    );
    assert_eq!(
        shown[1].1.reply_to_message_id.as_deref(),
        Some(thread_first.as_str())
    );
    let (alarm_id, alarm_message) = &shown[2];
    assert!(
        alarm_message.content.text.starts_with("[ALARM]"),
        "{}",
        alarm_message.content.text
    );
    let edits = w.fchat.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(&edits[0].message_id, alarm_id);
    assert!(
        edits[0].content.text.starts_with("[OK]"),
        "{}",
        edits[0].content.text
    );
    assert_eq!(
        shown[3].1.reply_to_message_id.as_deref(),
        Some(alarm_id.as_str())
    );
    assert!(
        shown[3].1.content.text.starts_with("✅ OK: "),
        "{}",
        shown[3].1.content.text
    );
}
