use super::*;
use crate::adapters::memory::{Fault, FixedClock, MemoryFChat, MemoryStore};
use crate::domain::message::Button;
use crate::domain::{Context, DeliveryStatus, Group};
use crate::ports::{ContextStore, GroupStore, QueuedJob, Redelivery, UserStore};
use async_trait::async_trait;
use serde_json::{json, Map};
use std::sync::Mutex;

const NOW: u64 = 1_800_000_000;
/// The delivery window and reply window of the test's messages.
const WINDOW: u64 = 3 * 60 * 60;
const REPLY_WINDOW: u64 = 300;

#[test]
fn retry_delays_grow_with_jitter_and_honour_retry_after() {
    for _ in 0..50 {
        let first = retry_delay(1, None, MAX_RETRY_DELAY);
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "{first:?}"
        );
        let fourth = retry_delay(4, None, MAX_RETRY_DELAY);
        assert!(
            fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16),
            "{fourth:?}"
        );
        assert!(retry_delay(40, None, MAX_RETRY_DELAY) <= MAX_RETRY_DELAY);
        assert_eq!(
            retry_delay(9, None, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert!(retry_delay(1, Some(30), MAX_RETRY_DELAY) >= Duration::from_secs(30));
    }
}

struct World {
    delivery: Delivery,
    store: Arc<MemoryStore>,
    fchat: Arc<MemoryFChat>,
    clock: Arc<FixedClock>,
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    for (id, beatchat, active) in [
        ("ops", Some("beatchat-1"), true),
        ("archive", Some("beatchat-2"), false),
    ] {
        let group = Group {
            id: id.into(),
            beatchat_id: beatchat.map(Into::into),
            active,
            name: None,
        };
        store.put_group(&group).await.unwrap();
    }
    let fchat = Arc::new(MemoryFChat::default());
    fchat.add_user("known@example.com", "fchat-7");
    let clock = Arc::new(FixedClock::at(NOW));
    let silencer = Arc::new(crate::adapters::memory::MemorySilencer::default());
    let forwarder = Forwarder {
        apps: store.clone(),
        contexts: store.clone(),
        queue: Arc::new(crate::adapters::memory::MemoryQueue::default()),
        webhooks: Arc::new(crate::adapters::memory::MemoryWebhooks::default()),
        clock: clock.clone(),
        fchat: fchat.clone(),
    };
    let delivery = Delivery {
        contexts: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        apps: store.clone(),
        fchat: fchat.clone(),
        silencer: silencer.clone(),
        clock: clock.clone(),
        lease: Duration::from_secs(30),
        max_retry_delay: MAX_RETRY_DELAY,
        forwarder,
        max_forward_delay: crate::services::forwarding::FORWARD_RETRY_DELAYS[4],
        pacing: crate::services::delivery::Pacing::OFF,
    };
    World {
        delivery,
        store,
        fchat,
        clock,
    }
}

impl World {
    /// GIVEN an accepted message: its context and its job.
    async fn accepted(&self, id: &str, target: Target) -> String {
        let context = Context {
            id: id.into(),
            app: "alerts".into(),
            target: target.clone(),
            parameters: Map::new(),
            status: DeliveryStatus::Queued,
            attempts: 0,
            last_error: None,
            fchat_message_id: None,
            created_at: NOW,
            expires_at: NOW + WINDOW + REPLY_WINDOW,
            deliver_by: NOW + WINDOW,
            reply_window_seconds: REPLY_WINDOW,
            lease_until: None,
            conversation: Default::default(),
        };
        self.store.create_context(&context).await.unwrap();
        let content = MessageContent {
            text: "Approve?".into(),
            keyboard: vec![vec![Button {
                text: "Yes".into(),
                callback_data: json!({"a": 1}),
            }]],
        };
        let kind = match target {
            Target::Group(group_id) => JobKind::SendGroup {
                context_id: id.into(),
                app: "alerts".into(),
                group_id,
                content,
            },
            Target::User(email) => JobKind::SendUser {
                context_id: id.into(),
                app: "alerts".into(),
                email,
                content,
            },
        };
        Job::new(kind).to_json()
    }

    async fn context(&self, id: &str) -> Context {
        self.store.context_record(id).await.unwrap().unwrap()
    }
}

fn transient(retry_after: Option<u64>) -> FChatError {
    FChatError::Transient {
        reason: "503 Service Unavailable".into(),
        retry_after,
    }
}

#[tokio::test]
async fn a_group_message_is_sent_to_the_groups_beatchat_and_marked_sent() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].1.chat_id, "beatchat-1");
    assert_eq!(shown[0].1.client_message_id, "c1");
    assert_eq!(shown[0].1.content.keyboard[0][0].text, "Yes");
    let context = w.context("c1").await;
    assert_eq!(context.status, DeliveryStatus::Sent);
    assert_eq!(context.fchat_message_id.as_deref(), Some("m-1"));
    assert_eq!((context.attempts, context.lease_until), (1, None));
}

#[tokio::test]
async fn a_user_known_to_fchat_but_not_to_the_gateway_is_created_then_messaged() {
    let w = world().await;
    let job = w
        .accepted("c1", Target::User("known@example.com".into()))
        .await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(w.fchat.shown()[0].1.chat_id, "fchat-7");
    let user = w.store.user("known@example.com").await.unwrap().unwrap();
    assert_eq!((user.fchat_id.as_str(), user.created_at), ("fchat-7", NOW));

    // The second message needs no lookup.
    let job = w
        .accepted("c2", Target::User("known@example.com".into()))
        .await;
    w.delivery.deliver(&job, 1).await;
    assert_eq!(w.fchat.lookups(), 1);
    assert_eq!(w.fchat.shown().len(), 2);
}

#[tokio::test]
async fn a_user_fchat_does_not_know_fails_the_message_for_good() {
    let w = world().await;
    let job = w
        .accepted("c1", Target::User("nobody@example.com".into()))
        .await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    let context = w.context("c1").await;
    assert_eq!(context.status, DeliveryStatus::Failed);
    assert_eq!(
        context.last_error.as_deref(),
        Some("User nobody@example.com not found!")
    );
    assert_eq!(w.fchat.send_calls(), 0);
}

#[tokio::test]
async fn rate_limited_then_sent_waits_at_least_retry_after() {
    let w = world().await;
    w.fchat.fail_next([transient(Some(20))]);
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, 1).await else {
        panic!("not retried")
    };
    assert!(delay >= Duration::from_secs(20));
    let waiting = w.context("c1").await;
    assert_eq!(
        (waiting.status, waiting.last_error.as_deref()),
        (DeliveryStatus::Queued, Some("503 Service Unavailable"))
    );

    w.clock.advance(20);
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    let context = w.context("c1").await;
    assert_eq!(
        (context.status, context.attempts),
        (DeliveryStatus::Sent, 2)
    );
}

#[tokio::test]
async fn three_server_errors_then_success_show_exactly_one_message() {
    let w = world().await;
    w.fchat
        .fail_next([transient(None), transient(None), transient(None)]);
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    for _ in 0..3 {
        assert!(matches!(
            w.delivery.deliver(&job, 1).await,
            JobOutcome::RetryAfter(_)
        ));
    }
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(w.fchat.shown().len(), 1);
    assert_eq!(w.fchat.send_calls(), 4);
    assert_eq!(w.context("c1").await.attempts, 4);
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_message_without_retry() {
    let w = world().await;
    w.fchat.fail_next([FChatError::Permanent {
        reason: "400 Bad Request: chat not found".into(),
    }]);
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    let context = w.context("c1").await;
    assert_eq!(context.status, DeliveryStatus::Failed);
    assert_eq!(
        context.last_error.as_deref(),
        Some("400 Bad Request: chat not found")
    );
    // A duplicate of the job changes nothing.
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(w.fchat.send_calls(), 1);
}

#[tokio::test]
async fn a_group_deactivated_or_deleted_after_queueing_is_not_sent_to() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("archive".into())).await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(
        w.context("c1").await.last_error.as_deref(),
        Some("group archive is not active")
    );
    let job = w.accepted("c2", Target::Group("gone".into())).await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(w.context("c2").await.status, DeliveryStatus::Failed);
    assert_eq!(w.fchat.send_calls(), 0);
}

#[tokio::test]
async fn a_duplicate_of_a_sent_job_sends_nothing() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    w.delivery.deliver(&job, 1).await;
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(w.fchat.send_calls(), 1);
}

#[tokio::test]
async fn a_crash_after_fchat_accepted_shows_the_message_once() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    // FChat shows the message, then the attempt dies before recording it.
    w.store.fail(Fault::FinishSending, "the function crashed");
    assert!(matches!(
        w.delivery.deliver(&job, 1).await,
        JobOutcome::RetryAfter(_)
    ));
    w.store.heal(Fault::FinishSending);
    assert_eq!(w.context("c1").await.status, DeliveryStatus::Sending);

    // While the lease holds, a redelivered copy waits.
    let JobOutcome::RetryAfter(wait) = w.delivery.deliver(&job, 1).await else {
        panic!("not leased")
    };
    assert!(wait <= Duration::from_secs(30));
    // After it, the job is taken over; FChat recognises the context id.
    w.clock.advance(31);
    assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
    assert_eq!(w.fchat.shown().len(), 1);
    assert_eq!(w.fchat.send_calls(), 2);
    assert_eq!(
        w.context("c1").await.fchat_message_id.as_deref(),
        Some("m-1")
    );
}

#[tokio::test]
async fn a_message_whose_delivery_window_passed_is_expired_with_why_and_parked() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    w.fchat.fail_next([transient(None)]);
    assert!(matches!(
        w.delivery.deliver(&job, 1).await,
        JobOutcome::RetryAfter(_)
    ));
    w.clock.advance(WINDOW);
    let JobOutcome::DeadLetter(reason) = w.delivery.deliver(&job, 2).await else {
        panic!("not parked")
    };
    let context = w.context("c1").await;
    assert_eq!(context.status, DeliveryStatus::Expired);
    assert_eq!(context.last_error.as_deref(), Some(reason.as_str()));
    assert!(
        reason.contains("delivery window") && reason.contains("503 Service Unavailable"),
        "{reason}"
    );
    // It stays readable (and redrivable) long after its reply window would have ended.
    assert!(context.expires_at >= NOW + WINDOW + crate::domain::UNDELIVERED_RETENTION_SECONDS);
    assert_eq!(w.fchat.send_calls(), 1);
    // A duplicate of the job changes nothing.
    assert_eq!(w.delivery.deliver(&job, 3).await, JobOutcome::Done);
}

#[tokio::test]
async fn fchat_down_for_hours_loses_nothing_and_the_reply_window_starts_when_it_is_taken() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    // FChat refuses every send for two hours: far beyond the old eight attempts.
    let mut receives = 0;
    let mut waited = 0;
    while waited < 2 * 60 * 60 {
        w.fchat.fail_next([transient(None)]);
        receives += 1;
        let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, receives).await else {
            panic!("gave up after {receives} receives")
        };
        assert!(delay <= MAX_VISIBILITY_DELAY);
        w.clock.advance(delay.as_secs());
        waited += delay.as_secs();
    }
    assert!(receives > 8 && receives < MAX_RECEIVE_COUNT, "{receives}");
    assert_eq!(w.context("c1").await.status, DeliveryStatus::Queued);
    // FChat is back: the message is shown once, and replies reach the app for the whole
    // reply window from now.
    assert_eq!(
        w.delivery.deliver(&job, receives + 1).await,
        JobOutcome::Done
    );
    assert_eq!(w.fchat.shown().len(), 1);
    let sent = w.context("c1").await;
    assert_eq!(sent.status, DeliveryStatus::Sent);
    assert_eq!(sent.expires_at, w.clock.now() + REPLY_WINDOW);
    assert!(w
        .store
        .context("c1", w.clock.now() + REPLY_WINDOW - 1)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn the_last_retry_comes_as_the_window_ends_and_retry_after_is_honoured() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    w.clock.advance(WINDOW - 5);
    w.fchat.fail_next([transient(None)]);
    let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, 30).await else {
        panic!("not retried")
    };
    assert!(delay <= Duration::from_secs(6), "{delay:?}");
    // FChat's retry_after is never cut short, even past the window's end.
    w.fchat.fail_next([transient(Some(60))]);
    let JobOutcome::RetryAfter(delay) = w.delivery.deliver(&job, 31).await else {
        panic!("not retried")
    };
    assert!(delay >= Duration::from_secs(60), "{delay:?}");
}

#[test]
fn every_delivery_window_fits_the_queues_receive_count() {
    // The slowest schedule: every delay at the bottom of its jitter.
    for window in [
        60,
        300,
        3_600,
        86_400,
        crate::domain::MAX_DELIVERY_WINDOW_SECONDS,
    ] {
        let ceiling = retry_ceiling(Duration::from_secs(window), MAX_RETRY_DELAY);
        assert!(ceiling <= MAX_VISIBILITY_DELAY);
        let (mut attempts, mut covered) = (0u32, Duration::ZERO);
        while covered < Duration::from_secs(window) {
            attempts += 1;
            let exponent = attempts.saturating_sub(1).min(16);
            covered += FIRST_RETRY_DELAY
                .saturating_mul(1 << exponent)
                .min(ceiling)
                .mul_f64(0.5)
                .max(Duration::from_secs(1));
        }
        // Room to spare for leases and storage trouble before the redrive policy.
        assert!(
            attempts + 20 <= MAX_RECEIVE_COUNT,
            "a {window} s window takes {attempts} attempts"
        );
    }
}

#[tokio::test]
async fn a_storage_error_never_reaches_the_app_in_its_text() {
    let w = world().await;
    w.store.fail(
        Fault::Groups,
        "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/delivery is not authorized",
    );
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    assert!(matches!(
        w.delivery.deliver(&job, 1).await,
        JobOutcome::RetryAfter(_)
    ));
    let context = w.context("c1").await;
    assert_eq!(context.last_error.as_deref(), Some(STORAGE_UNAVAILABLE));
}

/// What became of each job that was not done.
#[derive(Default)]
struct Delays {
    delayed: Mutex<Vec<(String, Duration)>>,
    requeued: Mutex<Vec<String>>,
    dead: Mutex<Vec<String>>,
}

#[async_trait]
impl Redelivery for Delays {
    async fn redeliver_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        self.delayed.lock().unwrap().push((receipt.into(), delay));
        Ok(())
    }
    async fn requeue(&self, body: &str, _: Duration) -> Result<(), StoreError> {
        self.requeued.lock().unwrap().push(body.into());
        Ok(())
    }
    async fn dead_letter(&self, body: &str) -> Result<(), StoreError> {
        self.dead.lock().unwrap().push(body.into());
        Ok(())
    }
}

#[tokio::test]
async fn a_job_near_its_last_receive_with_time_left_is_queued_afresh() {
    let w = world().await;
    let job = w.accepted("c1", Target::Group("ops".into())).await;
    w.fchat.fail_next([transient(None), transient(None)]);
    let queued = |receive_count| QueuedJob {
        message_id: "1".into(),
        receive_count,
        receipt_handle: "r-1".into(),
        body: job.clone(),
        sent_at_ms: None,
    };
    let delays = Delays::default();
    assert_eq!(
        deliver_batch(&w.delivery, &delays, &[queued(MAX_RECEIVE_COUNT - 2)]).await,
        vec!["1"]
    );
    assert!(delays.requeued.lock().unwrap().is_empty());
    // The next receive would be the last before the redrive policy parks it.
    assert!(
        deliver_batch(&w.delivery, &delays, &[queued(MAX_RECEIVE_COUNT - 1)])
            .await
            .is_empty()
    );
    assert_eq!(*delays.requeued.lock().unwrap(), vec![job.clone()]);
    assert_eq!(w.context("c1").await.status, DeliveryStatus::Queued);
}

#[tokio::test]
async fn a_batch_parks_its_poison_and_reports_only_its_retried_jobs() {
    let w = world().await;
    let good = w.accepted("c1", Target::Group("ops".into())).await;
    let also_good = w
        .accepted("c2", Target::User("known@example.com".into()))
        .await;
    let blocked = w.accepted("c3", Target::Group("ops".into())).await;
    w.store.begin_sending("c3", NOW, NOW + 30).await.unwrap();
    let job = |id: &str, body: &str| QueuedJob {
        message_id: id.into(),
        receive_count: 1,
        receipt_handle: format!("r-{id}"),
        body: body.into(),
        sent_at_ms: None,
    };
    let batch = [
        job("1", &good),
        job("2", "{\"v\":1,\"kind\":\"nonsense\"}"),
        job("3", &also_good),
        job("4", &blocked),
        job("5", "not even json"),
    ];
    let delays = Delays::default();
    let mut failed = deliver_batch(&w.delivery, &delays, &batch).await;
    failed.sort();
    assert_eq!(failed, vec!["4"]);
    assert_eq!(w.fchat.shown().len(), 2);
    // Poison goes to the DLQ at once; only the retried job had its visibility changed.
    let mut dead = delays.dead.lock().unwrap().clone();
    dead.sort();
    assert_eq!(
        dead,
        vec!["not even json", "{\"v\":1,\"kind\":\"nonsense\"}"]
    );
    let delays = delays.delayed.lock().unwrap().clone();
    assert_eq!(delays.len(), 1);
    assert_eq!(delays[0].0, "r-4");
    assert!(delays[0].1 <= Duration::from_secs(30));
}

/// A job as the queue hands it out, received once.
fn received(id: &str, body: &str) -> QueuedJob {
    QueuedJob {
        message_id: id.into(),
        receive_count: 1,
        receipt_handle: format!("r-{id}"),
        body: body.into(),
        sent_at_ms: None,
    }
}

/// A second active group with its own chat, named anew.
async fn another_group(w: &World, id: &str) -> String {
    let chat = format!("beatchat-{id}");
    let group = Group {
        id: id.into(),
        beatchat_id: Some(chat.clone()),
        active: true,
        name: None,
    };
    w.store.put_group(&group).await.unwrap();
    chat
}

#[tokio::test]
async fn a_chat_fchat_asks_to_wait_is_paused_as_one_and_the_others_go_on() {
    let w = world().await;
    let other_chat = another_group(&w, "dev-9").await;
    let first = w.accepted("c1", Target::Group("ops".into())).await;
    let second = w.accepted("c2", Target::Group("ops".into())).await;
    let elsewhere = w.accepted("c3", Target::Group("dev-9".into())).await;
    // FChat answers the ops chat's first message 429, retry after 7 s.
    w.fchat.fail_next([transient(Some(7))]);
    let delays = Delays::default();
    let batch = [
        received("1", &first),
        received("2", &second),
        received("3", &elsewhere),
    ];
    let mut left = deliver_batch(&w.delivery, &delays, &batch).await;
    left.sort();
    assert_eq!(left, vec!["1", "2"]);
    // The other chat's message went; the paused chat's second was never tried.
    let shown = w.fchat.shown();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].1.chat_id, other_chat);
    assert_eq!(w.context("c2").await.attempts, 0);
    assert_eq!(w.context("c2").await.status, DeliveryStatus::Queued);
    // The first waits at least FChat's retry_after; the second is released behind it (its
    // group is blocked while the first is in flight).
    let delayed = delays.delayed.lock().unwrap().clone();
    assert_eq!(delayed.len(), 2, "{delayed:?}");
    assert_eq!(delayed[0].0, "r-1");
    assert!(delayed[0].1 >= Duration::from_secs(7), "{delayed:?}");
    assert_eq!(delayed[1], ("r-2".to_owned(), Duration::ZERO));
}

#[tokio::test]
async fn with_pacing_a_chats_next_message_waits_fchats_interval_untried() {
    let mut w = world().await;
    w.delivery.pacing = Pacing::FCHAT;
    another_group(&w, "noc.2").await;
    let bodies = [
        w.accepted("c1", Target::Group("ops".into())).await,
        w.accepted("c2", Target::Group("ops".into())).await,
        w.accepted("c3", Target::Group("ops".into())).await,
        w.accepted("c4", Target::Group("noc.2".into())).await,
    ];
    let batch: Vec<QueuedJob> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| received(&(i + 1).to_string(), body))
        .collect();
    let delays = Delays::default();
    let mut left = deliver_batch(&w.delivery, &delays, &batch).await;
    left.sort();
    assert_eq!(left, vec!["2", "3"]);
    assert_eq!(w.fchat.shown().len(), 2);
    assert_eq!(w.context("c1").await.status, DeliveryStatus::Sent);
    assert_eq!(w.context("c4").await.status, DeliveryStatus::Sent);
    for id in ["c2", "c3"] {
        assert_eq!(w.context(id).await.attempts, 0, "{id}");
    }
    let delayed = delays.delayed.lock().unwrap().clone();
    assert_eq!(
        delayed,
        vec![
            ("r-2".to_owned(), Pacing::FCHAT.group),
            ("r-3".to_owned(), Duration::ZERO)
        ]
    );
    // Without pacing, the same chat's messages go in one batch, in order.
    let w = world().await;
    let bodies = [
        w.accepted("d1", Target::Group("ops".into())).await,
        w.accepted("d2", Target::Group("ops".into())).await,
    ];
    let batch = [received("1", &bodies[0]), received("2", &bodies[1])];
    assert!(deliver_batch(&w.delivery, &Delays::default(), &batch)
        .await
        .is_empty());
    let order: Vec<String> = w
        .fchat
        .shown()
        .into_iter()
        .map(|(_, m)| m.client_message_id)
        .collect();
    assert_eq!(order, ["d1", "d2"]);
}

#[tokio::test]
async fn a_job_not_due_yet_waits_and_holds_its_chat() {
    let w = world().await;
    let mut early = Job::from_json(&w.accepted("c1", Target::Group("ops".into())).await).unwrap();
    early.not_before_ms = Some((NOW + 5) * 1000);
    let behind = w.accepted("c2", Target::Group("ops".into())).await;
    let delays = Delays::default();
    let batch = [received("1", &early.to_json()), received("2", &behind)];
    let mut left = deliver_batch(&w.delivery, &delays, &batch).await;
    left.sort();
    assert_eq!(left, vec!["1", "2"]);
    assert!(w.fchat.shown().is_empty());
    let delayed = delays.delayed.lock().unwrap().clone();
    assert_eq!(
        delayed,
        vec![
            ("r-1".to_owned(), Duration::from_secs(5)),
            ("r-2".to_owned(), Duration::ZERO)
        ]
    );
    // Due, it goes.
    w.clock.advance(5);
    let left = deliver_batch(&w.delivery, &delays, &batch).await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(w.fchat.shown().len(), 2);
}
