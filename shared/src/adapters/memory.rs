//! In-memory adapters of every port, for fast unit tests of the domain and for benchmarks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

mod conversation;
mod fchat;
pub use fchat::MemoryFChat;

use crate::domain::job::Job;
use crate::domain::sources::alert_thread::AlertThread;
use crate::domain::sources::aws_events::SNS_UNSUBSCRIPTION_RETENTION_SECONDS;
use crate::domain::AlertmanagerLink;
use crate::domain::{
    App, Context, DeliveryStatus, Group, IdempotencyRecord, UnixTime, User,
    UNDELIVERED_RETENTION_SECONDS,
};
use crate::ports::{
    AppStore, AttemptOutcome, Clock, ContextStore, GroupStore, IdempotencyClaim, JobQueue,
    SendClaim, SilenceError, SilenceRequest, Silencer, StoreError, UserStore, WebhookOutcome,
    WebhookSender,
};

#[derive(Default)]
pub struct MemoryStore {
    apps: Mutex<HashMap<String, App>>,
    groups: Mutex<HashMap<String, Group>>,
    users: Mutex<HashMap<String, User>>,
    contexts: Mutex<HashMap<String, Context>>,
    unknown_users: Mutex<HashMap<String, UnixTime>>,
    updates: Mutex<HashMap<String, UnixTime>>,
    bot_states: Mutex<HashMap<String, String>>,
    idempotency: Mutex<HashMap<(String, String), IdempotencyRecord>>,
    faults: Mutex<HashMap<Fault, String>>,
    /// Contexts whose FChat message id is kept out of the index (sent without buttons).
    unindexed: Mutex<std::collections::HashSet<String>>,
    threads: Mutex<HashMap<String, AlertThread>>,
    thread_locks: Mutex<HashMap<String, UnixTime>>,
    /// Per app: the topics SNS confirmed unsubscribing it from, and when.
    sns_unsubscriptions: Mutex<HashMap<String, BTreeMap<String, UnixTime>>>,
}

/// What a test can make fail: a whole table, as an outage or a missing permission does, or
/// only the recording of attempts' outcomes, as a crash between FChat's answer and that write
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Apps,
    Groups,
    Users,
    Contexts,
    FinishSending,
}

impl MemoryStore {
    pub fn contexts(&self) -> Vec<Context> {
        self.contexts.lock().unwrap().values().cloned().collect()
    }

    /// From now on, what `fault` names fails with `StoreError::Unavailable(message)`.
    pub fn fail(&self, fault: Fault, message: &str) {
        self.faults
            .lock()
            .unwrap()
            .insert(fault, message.to_owned());
    }

    /// What `fault` names works again.
    pub fn heal(&self, fault: Fault) {
        self.faults.lock().unwrap().remove(&fault);
    }

    fn check(&self, fault: Fault) -> Result<(), StoreError> {
        match self.faults.lock().unwrap().get(&fault) {
            Some(message) => Err(StoreError::Unavailable(message.clone())),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl AppStore for MemoryStore {
    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError> {
        self.check(Fault::Apps)?;
        Ok(self.apps.lock().unwrap().get(name).cloned())
    }

    async fn app_by_token_hash(&self, token_hash: &str) -> Result<Option<App>, StoreError> {
        self.check(Fault::Apps)?;
        let apps = self.apps.lock().unwrap();
        let found = apps.values().find(|a| {
            a.token_hash == token_hash
                || a.previous_token
                    .as_ref()
                    .is_some_and(|(hash, _)| hash == token_hash)
        });
        Ok(found.cloned())
    }

    async fn put_app(&self, app: &App) -> Result<(), StoreError> {
        self.check(Fault::Apps)?;
        self.apps
            .lock()
            .unwrap()
            .insert(app.name.clone(), app.clone());
        Ok(())
    }

    async fn apps_by_group(&self, group_id: &str) -> Result<Vec<App>, StoreError> {
        self.check(Fault::Apps)?;
        let apps = self.apps.lock().unwrap();
        let mut found: Vec<App> = apps
            .values()
            .filter(|a| a.group_id.as_deref() == Some(group_id))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn group(&self, id: &str) -> Result<Option<Group>, StoreError> {
        self.check(Fault::Groups)?;
        Ok(self.groups.lock().unwrap().get(id).cloned())
    }

    async fn put_group(&self, group: &Group) -> Result<(), StoreError> {
        self.check(Fault::Groups)?;
        self.groups
            .lock()
            .unwrap()
            .insert(group.id.clone(), group.clone());
        Ok(())
    }

    async fn delete_group(&self, id: &str) -> Result<(), StoreError> {
        self.check(Fault::Groups)?;
        self.groups.lock().unwrap().remove(id);
        Ok(())
    }

    async fn groups_by_beatchat_id(&self, beatchat_id: &str) -> Result<Vec<Group>, StoreError> {
        self.check(Fault::Groups)?;
        let groups = self.groups.lock().unwrap();
        Ok(groups
            .values()
            .filter(|g| g.beatchat_id.as_deref() == Some(beatchat_id))
            .cloned()
            .collect())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn user(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.check(Fault::Users)?;
        Ok(self.users.lock().unwrap().get(email).cloned())
    }

    async fn put_user(&self, user: &User) -> Result<(), StoreError> {
        self.check(Fault::Users)?;
        self.users
            .lock()
            .unwrap()
            .insert(user.email.clone(), user.clone());
        Ok(())
    }

    async fn remember_unknown(&self, email: &str, until: UnixTime) -> Result<(), StoreError> {
        self.check(Fault::Users)?;
        self.unknown_users
            .lock()
            .unwrap()
            .insert(email.into(), until);
        Ok(())
    }

    async fn known_unknown(&self, email: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.check(Fault::Users)?;
        let unknown = self.unknown_users.lock().unwrap();
        Ok(unknown.get(email).is_some_and(|until| *until > now))
    }

    async fn set_last_context(&self, email: &str, context_id: &str) -> Result<(), StoreError> {
        self.check(Fault::Users)?;
        if let Some(user) = self.users.lock().unwrap().get_mut(email) {
            user.last_context_id = Some(context_id.to_owned());
        }
        Ok(())
    }
}

#[async_trait]
impl ContextStore for MemoryStore {
    async fn create_context(&self, context: &Context) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        self.contexts
            .lock()
            .unwrap()
            .insert(context.id.clone(), context.clone());
        Ok(())
    }

    async fn context(&self, id: &str, now: UnixTime) -> Result<Option<Context>, StoreError> {
        self.check(Fault::Contexts)?;
        let contexts = self.contexts.lock().unwrap();
        Ok(contexts.get(id).filter(|c| c.expires_at > now).cloned())
    }

    async fn delete_context(&self, id: &str) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        self.contexts.lock().unwrap().remove(id);
        Ok(())
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: UnixTime,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.check(Fault::Contexts)?;
        let mut records = self.idempotency.lock().unwrap();
        let key = (record.app.clone(), record.key_hash.clone());
        match records.get(&key) {
            Some(existing) if existing.expires_at > now => {
                Ok(IdempotencyClaim::Existing(existing.clone()))
            }
            _ => {
                records.insert(key, record.clone());
                Ok(IdempotencyClaim::Claimed)
            }
        }
    }

    async fn release_idempotency(&self, app: &str, key_hash: &str) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        let key = (app.to_owned(), key_hash.to_owned());
        self.idempotency.lock().unwrap().remove(&key);
        Ok(())
    }

    async fn context_record(&self, id: &str) -> Result<Option<Context>, StoreError> {
        self.check(Fault::Contexts)?;
        Ok(self.contexts.lock().unwrap().get(id).cloned())
    }

    async fn begin_sending(
        &self,
        id: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<SendClaim, StoreError> {
        self.check(Fault::Contexts)?;
        let mut contexts = self.contexts.lock().unwrap();
        let Some(context) = contexts.get_mut(id) else {
            return Ok(SendClaim::Gone);
        };
        if let Err(refusal) = context.may_send(now) {
            return Ok(SendClaim::refused(context.clone(), refusal));
        }
        context.status = DeliveryStatus::Sending;
        context.lease_until = Some(lease_until);
        context.attempts += 1;
        Ok(SendClaim::Claimed(context.clone()))
    }

    async fn finish_sending(
        &self,
        id: &str,
        outcome: &AttemptOutcome,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.check(Fault::Contexts)?;
        self.check(Fault::FinishSending)?;
        let mut contexts = self.contexts.lock().unwrap();
        let Some(context) = contexts.get_mut(id) else {
            return Ok(false);
        };
        let sending = context.status == DeliveryStatus::Sending;
        let unsettled = sending || context.status == DeliveryStatus::Queued;
        match outcome {
            AttemptOutcome::Sent {
                fchat_message_id,
                reply_until,
                clickable,
            } if sending => {
                if !clickable {
                    self.unindexed.lock().unwrap().insert(id.to_owned());
                }
                context.status = DeliveryStatus::Sent;
                context.fchat_message_id = Some(fchat_message_id.clone());
                context.last_error = None;
                context.expires_at = *reply_until;
            }
            AttemptOutcome::WillRetry { error } if sending => {
                context.status = DeliveryStatus::Queued;
                context.last_error = Some(error.clone());
            }
            AttemptOutcome::Failed { error } | AttemptOutcome::Expired { error } if unsettled => {
                context.status = match outcome {
                    AttemptOutcome::Failed { .. } => DeliveryStatus::Failed,
                    _ => DeliveryStatus::Expired,
                };
                context.last_error = Some(error.clone());
                context.expires_at = now + UNDELIVERED_RETENTION_SECONDS;
            }
            _ => return Ok(false),
        }
        context.lease_until = None;
        Ok(true)
    }

    async fn requeue(
        &self,
        id: &str,
        deliver_by: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        self.check(Fault::Contexts)?;
        let mut contexts = self.contexts.lock().unwrap();
        match contexts.get_mut(id) {
            Some(context) if context.status != DeliveryStatus::Sent => {
                context.status = DeliveryStatus::Queued;
                context.deliver_by = deliver_by;
                context.expires_at = expires_at;
                context.lease_until = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn context_by_message_id(
        &self,
        fchat_message_id: &str,
    ) -> Result<Option<Context>, StoreError> {
        self.check(Fault::Contexts)?;
        let contexts = self.contexts.lock().unwrap();
        let unindexed = self.unindexed.lock().unwrap();
        Ok(contexts
            .values()
            .find(|c| {
                c.fchat_message_id.as_deref() == Some(fchat_message_id)
                    && !unindexed.contains(&c.id)
            })
            .cloned())
    }

    async fn claim_update(
        &self,
        update_id: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.check(Fault::Contexts)?;
        let mut updates = self.updates.lock().unwrap();
        if updates.get(update_id).is_some_and(|seen| *seen > now) {
            return Ok(false);
        }
        updates.insert(update_id.to_owned(), until);
        Ok(true)
    }

    async fn release_update(&self, update_id: &str) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        self.updates.lock().unwrap().remove(update_id);
        Ok(())
    }

    async fn bot_state(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        self.check(Fault::Contexts)?;
        Ok(self.bot_states.lock().unwrap().get(chat_id).cloned())
    }

    async fn set_bot_state(&self, chat_id: &str, state: Option<&str>) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        let mut states = self.bot_states.lock().unwrap();
        match state {
            Some(state) => states.insert(chat_id.to_owned(), state.to_owned()),
            None => states.remove(chat_id),
        };
        Ok(())
    }

    async fn alert_thread(
        &self,
        key: &str,
        now: UnixTime,
    ) -> Result<Option<AlertThread>, StoreError> {
        self.check(Fault::Contexts)?;
        let threads = self.threads.lock().unwrap();
        Ok(threads.get(key).filter(|t| t.expires_at > now).cloned())
    }

    async fn put_alert_thread(&self, thread: &AlertThread) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        self.threads
            .lock()
            .unwrap()
            .insert(thread.key.clone(), thread.clone());
        Ok(())
    }

    async fn lock_alert_thread(
        &self,
        key: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.check(Fault::Contexts)?;
        let mut locks = self.thread_locks.lock().unwrap();
        if locks.get(key).is_some_and(|held| *held > now) {
            return Ok(false);
        }
        locks.insert(key.to_owned(), until);
        Ok(true)
    }

    async fn unlock_alert_thread(&self, key: &str) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        self.thread_locks.lock().unwrap().remove(key);
        Ok(())
    }

    async fn note_sns_unsubscription(
        &self,
        app: &str,
        topic_arn: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.check(Fault::Contexts)?;
        self.sns_unsubscriptions
            .lock()
            .unwrap()
            .entry(app.to_owned())
            .or_default()
            .insert(topic_arn.to_owned(), at);
        Ok(())
    }

    async fn sns_unsubscriptions(
        &self,
        app: &str,
        now: UnixTime,
    ) -> Result<BTreeMap<String, UnixTime>, StoreError> {
        self.check(Fault::Contexts)?;
        let notes = self.sns_unsubscriptions.lock().unwrap();
        Ok(notes
            .get(app)
            .map(|topics| {
                topics
                    .iter()
                    .filter(|(_, at)| at.saturating_add(SNS_UNSUBSCRIPTION_RETENTION_SECONDS) > now)
                    .map(|(topic, at)| (topic.clone(), *at))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// A queue that keeps what it is given, and can be told to fail.
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<Vec<Job>>,
    failing: AtomicBool,
}

impl MemoryQueue {
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().clone()
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the queue is switched off".into()));
        }
        self.jobs.lock().unwrap().push(job.clone());
        Ok(())
    }

    async fn enqueue_after(
        &self,
        job: &Job,
        _delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.enqueue(job).await
    }
}

/// App webhooks in memory: what was posted, and scripted outcomes (by default a 200 with
/// `{"ok":true}`).
#[derive(Default)]
pub struct MemoryWebhooks {
    posts: Mutex<Vec<(String, String, serde_json::Value)>>,
    outcomes: Mutex<VecDeque<WebhookOutcome>>,
}

impl MemoryWebhooks {
    /// The next posts end like this, in order.
    pub fn answer(&self, outcomes: impl IntoIterator<Item = WebhookOutcome>) {
        self.outcomes.lock().unwrap().extend(outcomes);
    }

    /// `(url, webhook id, body)` of every post.
    pub fn posts(&self) -> Vec<(String, String, serde_json::Value)> {
        self.posts.lock().unwrap().clone()
    }
}

#[async_trait]
impl WebhookSender for MemoryWebhooks {
    async fn post(
        &self,
        url: &str,
        _secrets: &[String],
        webhook_id: &str,
        body: &[u8],
    ) -> WebhookOutcome {
        let body = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        self.posts
            .lock()
            .unwrap()
            .push((url.to_owned(), webhook_id.to_owned(), body));
        self.outcomes
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(WebhookOutcome::Delivered {
                status: 200,
                body: br#"{"ok":true}"#.to_vec(),
            })
    }
}

/// A clock the test moves by hand.
pub struct FixedClock(pub AtomicU64);

impl FixedClock {
    pub fn at(now: UnixTime) -> Self {
        FixedClock(AtomicU64::new(now))
    }

    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}

/// Alertmanager in memory: the silences it created, and scripted failures.
#[derive(Default)]
pub struct MemorySilencer {
    created: Mutex<Vec<(String, SilenceRequest)>>,
    failures: Mutex<VecDeque<SilenceError>>,
}

impl MemorySilencer {
    /// `(Alertmanager URL, silence)` of each silence created.
    pub fn created(&self) -> Vec<(String, SilenceRequest)> {
        self.created.lock().unwrap().clone()
    }

    /// The next silences fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = SilenceError>) {
        self.failures.lock().unwrap().extend(errors);
    }
}

#[async_trait]
impl Silencer for MemorySilencer {
    async fn create_silence(
        &self,
        alertmanager: &AlertmanagerLink,
        silence: &SilenceRequest,
    ) -> Result<String, SilenceError> {
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        let mut created = self.created.lock().unwrap();
        created.push((alertmanager.url.clone(), silence.clone()));
        Ok(format!("silence-{}", created.len()))
    }
}
