//! Delivery: a queued job becomes an FChat message, at least once from the queue and
//! effectively once towards FChat.
//!
//! A context moves `queued` → `sending` (a lease as long as the function's timeout, so that a
//! crashed attempt is taken over) → `sent`, by conditional writes. A duplicate of a sent job
//! sends nothing; a send repeated after a crash carries the same `client_message_id`, which
//! FChat shows once.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Target, User};
use crate::forward::{forward_retry_delay, Forwarded, Forwarder};
use crate::job::{Forward, Job, JobKind};
use crate::message::MessageContent;
use crate::ports::{
    AttemptOutcome, Clock, ContextStore, FChat, FChatError, GroupStore, OutgoingMessage, SendClaim,
    StoreError, UserStore,
};

/// The first retry's delay; each later one doubles, up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(2);
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
pub struct Delivery {
    pub contexts: Arc<dyn ContextStore>,
    pub groups: Arc<dyn GroupStore>,
    pub users: Arc<dyn UserStore>,
    pub fchat: Arc<dyn FChat>,
    pub clock: Arc<dyn Clock>,
    /// How long an attempt may hold a context: the function's timeout.
    pub lease: Duration,
    /// The longest wait between two attempts (FChat's `retry_after` may ask for longer).
    pub max_retry_delay: Duration,
    /// Posts events to apps' webhooks, for forward jobs.
    pub forwarder: Forwarder,
    /// The longest wait between two attempts of a forward (its schedule runs to 10 hours).
    pub max_forward_delay: Duration,
}

/// What to do with a job's queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Delete it: delivered, failed for good, expired, or a duplicate.
    Done,
    /// Make it visible again after this delay.
    RetryAfter(Duration),
    /// It cannot be processed: leave it to its redrive policy (the DLQ after its attempts).
    Unprocessable(String),
}

/// Why an attempt did not send.
enum Stop {
    Retry {
        error: String,
        retry_after: Option<u64>,
    },
    Fail(String),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Stop::Retry {
            error: error.to_string(),
            retry_after: None,
        }
    }
}

impl Delivery {
    /// Handles one queue message's body, handed out for the `receive_count`-th time.
    pub async fn deliver(&self, body: &str, receive_count: u32) -> JobOutcome {
        let job = match Job::from_json(body) {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(%error, "a job that cannot be read; it goes to the DLQ after its attempts");
                return JobOutcome::Unprocessable(error.to_string());
            }
        };
        let (context_id, target, content) = match job.kind {
            JobKind::SendGroup {
                context_id,
                group_id,
                content,
                ..
            } => (context_id, Target::Group(group_id), content),
            JobKind::SendUser {
                context_id,
                email,
                content,
                ..
            } => (context_id, Target::User(email), content),
            JobKind::Forward(forward) => return self.forward(forward, receive_count).await,
        };
        let outcome = self.deliver_message(&context_id, target, content).await;
        match &outcome {
            JobOutcome::Done => {}
            JobOutcome::RetryAfter(delay) => {
                tracing::info!(
                    context_id,
                    delay_s = delay.as_secs(),
                    "delivery will be retried"
                )
            }
            JobOutcome::Unprocessable(error) => {
                tracing::error!(context_id, error, "delivery cannot proceed")
            }
        }
        outcome
    }

    /// Another attempt at posting an event to an app's webhook.
    async fn forward(&self, forward: Forward, receive_count: u32) -> JobOutcome {
        match self.forwarder.attempt(&forward).await {
            Ok(Forwarded::Delivered) => {
                tracing::info!(app = %forward.app, webhook_id = %forward.webhook_id, receive_count, "forwarded");
                JobOutcome::Done
            }
            Ok(Forwarded::Dropped(reason)) => {
                tracing::warn!(app = %forward.app, webhook_id = %forward.webhook_id, reason, "forward dropped");
                JobOutcome::Done
            }
            Ok(Forwarded::Failed(reason)) => {
                tracing::warn!(app = %forward.app, webhook_id = %forward.webhook_id, reason, receive_count, "forward failed");
                JobOutcome::RetryAfter(
                    forward_retry_delay(receive_count).min(self.max_forward_delay),
                )
            }
            Err(error) => {
                tracing::error!(%error, "forward could not proceed");
                JobOutcome::RetryAfter(retry_delay(1, None, self.max_retry_delay))
            }
        }
    }

    async fn deliver_message(
        &self,
        context_id: &str,
        target: Target,
        content: MessageContent,
    ) -> JobOutcome {
        let now = self.clock.now();
        let lease_until = now + self.lease.as_secs().max(1);
        let context = match self
            .contexts
            .begin_sending(context_id, now, lease_until)
            .await
        {
            Ok(SendClaim::Claimed(context)) => context,
            Ok(SendClaim::Settled(status)) => {
                tracing::info!(
                    context_id,
                    status = status.as_str(),
                    "already settled; nothing sent"
                );
                return JobOutcome::Done;
            }
            Ok(SendClaim::Leased(until)) => {
                return JobOutcome::RetryAfter(Duration::from_secs(
                    until.saturating_sub(now).max(1),
                ))
            }
            Ok(SendClaim::Gone) => {
                tracing::warn!(context_id, "the context expired before delivery; not sent");
                return JobOutcome::Done;
            }
            Err(error) => {
                tracing::error!(%error, context_id, "the context cannot be read");
                return JobOutcome::RetryAfter(retry_delay(1, None, self.max_retry_delay));
            }
        };
        let attempt = self.attempt(&target, content, context_id).await;
        let (outcome, answer) = match attempt {
            Ok(message_id) => {
                tracing::info!(context_id, fchat_message_id = %message_id, attempts = context.attempts, "sent");
                if let Target::User(email) = &target {
                    // The user's replies now belong to this conversation.
                    if let Err(error) = self.users.set_last_context(email, context_id).await {
                        tracing::warn!(%error, context_id, "the user's latest conversation was not recorded");
                    }
                }
                (
                    AttemptOutcome::Sent {
                        fchat_message_id: message_id,
                    },
                    JobOutcome::Done,
                )
            }
            Err(Stop::Retry { error, retry_after }) => {
                let delay = retry_delay(context.attempts, retry_after, self.max_retry_delay);
                (
                    AttemptOutcome::WillRetry { error },
                    JobOutcome::RetryAfter(delay),
                )
            }
            Err(Stop::Fail(error)) => {
                tracing::warn!(context_id, error, "delivery failed for good");
                (AttemptOutcome::Failed { error }, JobOutcome::Done)
            }
        };
        if let Err(error) = self
            .contexts
            .finish_sending(context_id, &outcome, self.clock.now())
            .await
        {
            // The lease runs out and the job comes back; a sent message is not shown twice
            // because FChat keys it by the context id.
            tracing::error!(%error, context_id, "the outcome could not be recorded");
            return JobOutcome::RetryAfter(retry_delay(
                context.attempts,
                None,
                self.max_retry_delay,
            ));
        }
        answer
    }

    async fn attempt(
        &self,
        target: &Target,
        content: MessageContent,
        context_id: &str,
    ) -> Result<String, Stop> {
        let chat_id = match target {
            Target::Group(group_id) => {
                let group = self.groups.group(group_id).await?;
                match group {
                    None => return Err(Stop::Fail(format!("group {group_id} was deleted"))),
                    Some(group) if !group.active => {
                        return Err(Stop::Fail(format!("group {group_id} is not active")))
                    }
                    Some(group) => match group.beatchat_id.filter(|id| !id.trim().is_empty()) {
                        Some(id) => id,
                        None => {
                            return Err(Stop::Fail(format!("group {group_id} has no beatchat id")))
                        }
                    },
                }
            }
            Target::User(email) => self.fchat_user_id(email).await?,
        };
        let message = OutgoingMessage {
            chat_id,
            content,
            client_message_id: context_id.to_owned(),
        };
        self.fchat
            .send_message(&message)
            .await
            .map_err(|error| match error {
                FChatError::Transient {
                    reason,
                    retry_after,
                } => Stop::Retry {
                    error: reason,
                    retry_after,
                },
                FChatError::Permanent { reason } => Stop::Fail(reason),
            })
    }

    /// The user's FChat id, from the gateway's users table or, the first time, from FChat
    /// (the contract's auto-created users).
    async fn fchat_user_id(&self, email: &str) -> Result<String, Stop> {
        if let Some(user) = self.users.user(email).await? {
            return Ok(user.fchat_id);
        }
        match self.fchat.find_user(email).await {
            Ok(Some(found)) => {
                self.users
                    .put_user(&User {
                        email: email.to_owned(),
                        fchat_id: found.id.clone(),
                        name: found.name,
                        created_at: self.clock.now(),
                        last_context_id: None,
                    })
                    .await?;
                tracing::info!(user = %crate::credentials::mask_email(email), "user created from FChat's directory");
                Ok(found.id)
            }
            Ok(None) => Err(Stop::Fail(format!("User {email} not found!"))),
            Err(FChatError::Transient {
                reason,
                retry_after,
            }) => Err(Stop::Retry {
                error: reason,
                retry_after,
            }),
            Err(FChatError::Permanent { reason }) => Err(Stop::Fail(reason)),
        }
    }
}

/// SQS keeps a message invisible for at most 12 hours.
pub const MAX_VISIBILITY_DELAY: Duration = Duration::from_secs(12 * 60 * 60);

/// One message of a queue batch.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    pub message_id: String,
    /// How many times the queue has handed this message out, this time included.
    pub receive_count: u32,
    pub receipt_handle: String,
    pub body: String,
}

/// Puts a received message back on the queue after a delay (SQS: its visibility timeout).
#[async_trait::async_trait]
pub trait Redelivery: Send + Sync {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), StoreError>;
}

/// Delivers a batch concurrently and answers the ids of the messages that stay on the queue
/// (SQS's partial batch failures). One job's trouble never holds back the others.
pub async fn deliver_batch(
    delivery: &Delivery,
    redelivery: &dyn Redelivery,
    jobs: &[QueuedJob],
) -> Vec<String> {
    let outcomes = futures_util::future::join_all(jobs.iter().map(|job| async move {
        match delivery.deliver(&job.body, job.receive_count).await {
            JobOutcome::Done => None,
            JobOutcome::RetryAfter(delay) => {
                let delay = delay.min(MAX_VISIBILITY_DELAY);
                if let Err(error) = redelivery.redeliver_after(&job.receipt_handle, delay).await {
                    // It comes back after the queue's own visibility timeout instead.
                    tracing::warn!(%error, message_id = %job.message_id, "could not delay the retry");
                }
                Some(job.message_id.clone())
            }
            JobOutcome::Unprocessable(_) => Some(job.message_id.clone()),
        }
    }))
    .await;
    outcomes.into_iter().flatten().collect()
}

/// Exponential backoff with jitter, never sooner than FChat's `retry_after`.
pub fn retry_delay(attempts: u32, retry_after: Option<u64>, max: Duration) -> Duration {
    let exponent = attempts.saturating_sub(1).min(16);
    let ceiling = FIRST_RETRY_DELAY.saturating_mul(1 << exponent).min(max);
    // Half the delay is fixed, half random: retries of many jobs spread out.
    let mut random = [0u8; 4];
    let fraction = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    let jittered = ceiling.mul_f64(0.5 + fraction / 2.0);
    let floor = Duration::from_secs(retry_after.unwrap_or(0));
    jittered.max(floor).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Context, DeliveryStatus, Group};
    use crate::memory::{FixedClock, MemoryFChat, MemoryStore};
    use crate::message::Button;
    use crate::ports::{AttemptOutcome, ContextStore, GroupStore, UserStore};
    use async_trait::async_trait;
    use serde_json::{json, Map};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    const NOW: u64 = 1_800_000_000;

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

    /// A context store that loses the outcome of attempts while `broken` is set: a crash
    /// between FChat's answer and recording it.
    struct Forgetful {
        inner: Arc<MemoryStore>,
        broken: AtomicBool,
    }

    #[async_trait]
    impl ContextStore for Forgetful {
        async fn create_context(&self, c: &Context) -> Result<(), StoreError> {
            self.inner.create_context(c).await
        }
        async fn context(&self, id: &str, now: u64) -> Result<Option<Context>, StoreError> {
            self.inner.context(id, now).await
        }
        async fn delete_context(&self, id: &str) -> Result<(), StoreError> {
            self.inner.delete_context(id).await
        }
        async fn claim_idempotency(
            &self,
            r: &crate::domain::IdempotencyRecord,
            now: u64,
        ) -> Result<crate::ports::IdempotencyClaim, StoreError> {
            self.inner.claim_idempotency(r, now).await
        }
        async fn release_idempotency(&self, app: &str, key: &str) -> Result<(), StoreError> {
            self.inner.release_idempotency(app, key).await
        }
        async fn context_record(&self, id: &str) -> Result<Option<Context>, StoreError> {
            self.inner.context_record(id).await
        }
        async fn begin_sending(
            &self,
            id: &str,
            now: u64,
            lease: u64,
        ) -> Result<SendClaim, StoreError> {
            self.inner.begin_sending(id, now, lease).await
        }
        async fn finish_sending(
            &self,
            id: &str,
            o: &AttemptOutcome,
            now: u64,
        ) -> Result<bool, StoreError> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("the function crashed".into()));
            }
            self.inner.finish_sending(id, o, now).await
        }
        async fn context_by_message_id(&self, m: &str) -> Result<Option<Context>, StoreError> {
            self.inner.context_by_message_id(m).await
        }
        async fn claim_update(&self, u: &str, until: u64, now: u64) -> Result<bool, StoreError> {
            self.inner.claim_update(u, until, now).await
        }
        async fn release_update(&self, u: &str) -> Result<(), StoreError> {
            self.inner.release_update(u).await
        }
        async fn bot_state(&self, chat: &str) -> Result<Option<String>, StoreError> {
            self.inner.bot_state(chat).await
        }
        async fn set_bot_state(&self, chat: &str, state: Option<&str>) -> Result<(), StoreError> {
            self.inner.set_bot_state(chat, state).await
        }
    }

    struct World {
        delivery: Delivery,
        store: Arc<MemoryStore>,
        forgetful: Arc<Forgetful>,
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
        let forgetful = Arc::new(Forgetful {
            inner: store.clone(),
            broken: AtomicBool::new(false),
        });
        let forwarder = Forwarder {
            apps: store.clone(),
            contexts: store.clone(),
            queue: Arc::new(crate::memory::MemoryQueue::default()),
            webhooks: Arc::new(crate::memory::MemoryWebhooks::default()),
            clock: clock.clone(),
        };
        let delivery = Delivery {
            contexts: forgetful.clone(),
            groups: store.clone(),
            users: store.clone(),
            fchat: fchat.clone(),
            clock: clock.clone(),
            lease: Duration::from_secs(30),
            max_retry_delay: MAX_RETRY_DELAY,
            forwarder,
            max_forward_delay: crate::forward::FORWARD_RETRY_DELAYS[4],
        };
        World {
            delivery,
            store,
            forgetful,
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
                expires_at: NOW + 300,
                lease_until: None,
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
        w.forgetful.broken.store(true, Ordering::SeqCst);
        assert!(matches!(
            w.delivery.deliver(&job, 1).await,
            JobOutcome::RetryAfter(_)
        ));
        w.forgetful.broken.store(false, Ordering::SeqCst);
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
    async fn a_context_that_expired_before_delivery_is_not_sent() {
        let w = world().await;
        let job = w.accepted("c1", Target::Group("ops".into())).await;
        w.clock.advance(300);
        assert_eq!(w.delivery.deliver(&job, 1).await, JobOutcome::Done);
        assert_eq!(w.context("c1").await.status, DeliveryStatus::Expired);
        assert_eq!(w.fchat.send_calls(), 0);
    }

    #[derive(Default)]
    struct Delays(Mutex<Vec<(String, Duration)>>);

    #[async_trait]
    impl Redelivery for Delays {
        async fn redeliver_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
            self.0.lock().unwrap().push((receipt.into(), delay));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_batch_reports_only_its_poison_and_retried_jobs() {
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
        assert_eq!(failed, vec!["2", "4", "5"]);
        assert_eq!(w.fchat.shown().len(), 2);
        // Only the retried job had its visibility changed; poison keeps the queue's default.
        let delays = delays.0.lock().unwrap().clone();
        assert_eq!(delays.len(), 1);
        assert_eq!(delays[0].0, "r-4");
        assert!(delays[0].1 <= Duration::from_secs(30));
    }
}
