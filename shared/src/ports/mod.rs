//! The ports the domain depends on. Adapters: `dynamo` and `sqs` for AWS, `memory` for tests.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

pub mod conversation;
pub use conversation::{AcceptedChange, ConversationStore, RecordedChange};

use crate::domain::job::Job;
use crate::domain::sources::alert_thread::AlertThread;
use crate::domain::{
    AlertmanagerLink, App, Context, DeliveryStatus, Group, IdempotencyRecord, SendRefusal,
    UnixTime, User,
};

/// A storage or queue failure. Its text is for logs; callers answer a generic 5xx.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait AppStore: Send + Sync {
    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError>;
    /// Looks an app up by the hash of its token, without a scan.
    async fn app_by_token_hash(&self, token_hash: &str) -> Result<Option<App>, StoreError>;
    async fn put_app(&self, app: &App) -> Result<(), StoreError>;
    /// The apps assigned to a group, through an index.
    async fn apps_by_group(&self, group_id: &str) -> Result<Vec<App>, StoreError>;
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn group(&self, id: &str) -> Result<Option<Group>, StoreError>;
    async fn put_group(&self, group: &Group) -> Result<(), StoreError>;
    /// Removes a group; removing one that does not exist is not an error. Apps assigned to it
    /// keep their assignment (their group sends then answer `404 Group not found`).
    async fn delete_group(&self, id: &str) -> Result<(), StoreError>;
    /// The groups of an FChat room, through an index.
    async fn groups_by_beatchat_id(&self, beatchat_id: &str) -> Result<Vec<Group>, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn put_user(&self, user: &User) -> Result<(), StoreError>;
    /// Remembers that FChat does not know `email`, until `until`, so that a typo cannot make
    /// every request ask FChat again.
    async fn remember_unknown(&self, email: &str, until: UnixTime) -> Result<(), StoreError>;
    async fn known_unknown(&self, email: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// The user's latest conversation: the context of the last message sent to them.
    async fn set_last_context(&self, email: &str, context_id: &str) -> Result<(), StoreError>;
}

/// The outcome of claiming an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The key is new (or its record expired): this request goes ahead.
    Claimed,
    /// The key was used before; this is what the first request recorded.
    Existing(IdempotencyRecord),
}

/// The contexts table: contexts and what shares it. A context's conversation
/// ([`ConversationStore`]) is part of it.
#[async_trait]
pub trait ContextStore: ConversationStore + Send + Sync {
    async fn create_context(&self, context: &Context) -> Result<(), StoreError>;
    /// The context, or `None` if it does not exist or expired before `now`.
    async fn context(&self, id: &str, now: UnixTime) -> Result<Option<Context>, StoreError>;
    async fn delete_context(&self, id: &str) -> Result<(), StoreError>;
    /// Records the key unless an unexpired record of it exists, atomically.
    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: UnixTime,
    ) -> Result<IdempotencyClaim, StoreError>;
    async fn release_idempotency(&self, app: &str, key_hash: &str) -> Result<(), StoreError>;

    /// The context as stored, even past its expiry (until the store purges it): for status
    /// reports only.
    async fn context_record(&self, id: &str) -> Result<Option<Context>, StoreError>;
    /// Takes the right to send: `queued`, or `sending` whose lease ran out, becomes `sending`
    /// until `lease_until`, with one more attempt counted. Atomic.
    async fn begin_sending(
        &self,
        id: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<SendClaim, StoreError>;
    /// Records how an attempt ended. Only a context that is `sending` (or, for `Failed` and
    /// `Expired`, still `queued`) changes; answers whether it did. A message that was not
    /// delivered stays readable for [`crate::domain::UNDELIVERED_RETENTION_SECONDS`].
    async fn finish_sending(
        &self,
        id: &str,
        outcome: &AttemptOutcome,
        now: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Gives a message that was not sent a new delivery window (the operator's redrive):
    /// it is `queued` again until `deliver_by`, and kept until `expires_at`. Answers `false`
    /// for a context that is gone or already sent.
    async fn requeue(
        &self,
        id: &str,
        deliver_by: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// The context of the message FChat knows by this id, even past its expiry, through an
    /// index (no scan).
    async fn context_by_message_id(
        &self,
        fchat_message_id: &str,
    ) -> Result<Option<Context>, StoreError>;
    /// Records that an FChat update was seen; `false` if it was seen before (and the record
    /// has not expired).
    async fn claim_update(
        &self,
        update_id: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    async fn release_update(&self, update_id: &str) -> Result<(), StoreError>;
    /// A chat's bot state, as an app's webhook last set it.
    async fn bot_state(&self, chat_id: &str) -> Result<Option<String>, StoreError>;
    async fn set_bot_state(&self, chat_id: &str, state: Option<&str>) -> Result<(), StoreError>;
    /// An alert group's message, or `None` if it is unknown or expired before `now`.
    async fn alert_thread(
        &self,
        key: &str,
        now: UnixTime,
    ) -> Result<Option<AlertThread>, StoreError>;
    /// Remembers an alert group's message until its `expires_at`.
    async fn put_alert_thread(&self, thread: &AlertThread) -> Result<(), StoreError>;
    /// Takes the right to change an alert group's message until `until`, atomically: `false`
    /// while another delivery holds it (and its hold has not expired).
    async fn lock_alert_thread(
        &self,
        key: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    async fn unlock_alert_thread(&self, key: &str) -> Result<(), StoreError>;
    /// Notes that SNS confirmed unsubscribing `app` from `topic_arn` at `at`: one write, no
    /// read, and never to the app's record. A topic noted again keeps its latest time. A note
    /// is kept for
    /// [`SNS_UNSUBSCRIPTION_RETENTION_SECONDS`](crate::domain::sources::aws_events::SNS_UNSUBSCRIPTION_RETENTION_SECONDS).
    async fn note_sns_unsubscription(
        &self,
        app: &str,
        topic_arn: &str,
        at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The topics SNS confirmed unsubscribing `app` from, each with when it was last noted;
    /// a note whose retention ended by `now` is absent.
    async fn sns_unsubscriptions(
        &self,
        app: &str,
        now: UnixTime,
    ) -> Result<std::collections::BTreeMap<String, UnixTime>, StoreError>;
}

/// What `begin_sending` found.
#[derive(Debug, Clone, PartialEq)]
pub enum SendClaim {
    /// This attempt may send; the context as it is now.
    Claimed(Context),
    /// Nothing to do: the context is `sent`, `failed` or `expired` already.
    Settled(DeliveryStatus),
    /// Another attempt holds the lease until then.
    Leased(UnixTime),
    /// Its delivery window passed before FChat took it; the context as it is now (still
    /// `queued` or `sending`): the caller records why.
    WindowPassed(Context),
    /// The context is gone.
    Gone,
}

impl SendClaim {
    /// The answer to an attempt that [`Context::may_send`] refuses.
    pub fn refused(context: Context, refusal: SendRefusal) -> SendClaim {
        match refusal {
            SendRefusal::Leased(until) => SendClaim::Leased(until),
            SendRefusal::WindowPassed => SendClaim::WindowPassed(context),
            SendRefusal::Settled(status) => SendClaim::Settled(status),
        }
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Sent {
        fchat_message_id: String,
        /// The end of its reply window.
        reply_until: UnixTime,
        /// Whether a click can come back to it (it has buttons). Only then is it found by its
        /// FChat message id ([`ContextStore::context_by_message_id`]); its status shows the id
        /// either way.
        clickable: bool,
    },
    /// Back to `queued`, to be retried.
    WillRetry {
        error: String,
    },
    Failed {
        error: String,
    },
    /// Its delivery window passed.
    Expired {
        error: String,
    },
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> Result<(), StoreError>;
    /// Queues a job that becomes visible after `delay` (at most 15 minutes).
    async fn enqueue_after(&self, job: &Job, delay: std::time::Duration) -> Result<(), StoreError>;
}

/// SQS keeps a message invisible for at most 12 hours.
pub const MAX_VISIBILITY_DELAY: std::time::Duration = std::time::Duration::from_secs(12 * 60 * 60);

/// One message of a queue batch.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    pub message_id: String,
    /// How many times the queue has handed this message out, this time included.
    pub receive_count: u32,
    pub receipt_handle: String,
    pub body: String,
    /// When it was queued (SQS's `SentTimestamp`, in ms): the delivery latency's start.
    pub sent_at_ms: Option<u64>,
}

/// What becomes of a received message that is not done (SQS: its visibility timeout, a new
/// message, the dead-letter queue).
#[async_trait::async_trait]
pub trait Redelivery: Send + Sync {
    /// Makes the message visible again after `delay`.
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError>;
    /// Queues the job again as a new message, visible after `delay` (at most 15 minutes): its
    /// receive count starts over.
    async fn requeue(&self, body: &str, delay: std::time::Duration) -> Result<(), StoreError>;
    /// Moves the job to the dead-letter queue.
    async fn dead_letter(&self, body: &str) -> Result<(), StoreError>;
}

/// How a POST to an app's webhook ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// A 2xx answer, with its body (a bot's reply, perhaps).
    Delivered { status: u16, body: Vec<u8> },
    /// 410: the app does not want these events any more.
    Gone,
    /// Worth retrying: another status, a timeout, a connection error.
    Failed(String),
    /// Never worth retrying: the URL is refused (not https, a private address) or unsigned.
    Refused(String),
}

/// Signed POSTs to apps' webhooks.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(
        &self,
        url: &str,
        secrets: &[String],
        webhook_id: &str,
        body: &[u8],
    ) -> WebhookOutcome;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> UnixTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }
}

/// A message for FChat: where, what, and the id that makes a repeated send harmless.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub chat_id: String,
    pub content: crate::domain::message::MessageContent,
    /// The context id: FChat shows one message per `client_message_id`.
    pub client_message_id: String,
    /// The message this one answers, in the same chat.
    pub reply_to_message_id: Option<String>,
}

/// New text and buttons for a message the bot sent.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEdit {
    pub chat_id: String,
    pub message_id: String,
    pub content: crate::domain::message::MessageContent,
}

/// A person as FChat knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct FChatUser {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FChatError {
    /// Worth retrying: 5xx, 408, 429, timeouts, connection errors.
    #[error("FChat is unavailable: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<u64>,
    },
    /// Retrying would fail the same way.
    #[error("FChat refused the message: {reason}")]
    Permanent { reason: String },
    /// FChat answered 404: what it was asked about does not exist (`getUserByEmail`'s unknown
    /// user). Retrying would fail the same way.
    #[error("FChat does not know it: {reason}")]
    NotFound { reason: String },
    /// FChat cannot edit this message (too old, or gone): post a new one instead.
    #[error("FChat cannot edit the message: {reason}")]
    CannotEdit { reason: String },
}

/// FChat's bot API. `docs/fchat-api.md` is its contract.
#[async_trait]
pub trait FChat: Send + Sync {
    /// Sends a message and answers FChat's message id.
    async fn send_message(&self, message: &OutgoingMessage) -> Result<String, FChatError>;
    /// The user with this (lower-cased) email, or `None` if FChat does not know them.
    async fn find_user(&self, email: &str) -> Result<Option<FChatUser>, FChatError>;
    /// Replaces a message's text and buttons. An edit to what the message already shows
    /// succeeds.
    async fn edit_message(&self, edit: &MessageEdit) -> Result<(), FChatError>;
    /// Replaces a message's buttons alone (none: `keyboard` empty), its text as it is. An
    /// edit to what the message already shows succeeds.
    async fn edit_buttons(
        &self,
        chat_id: &str,
        message_id: &str,
        keyboard: &crate::domain::message::InlineKeyboard,
    ) -> Result<(), FChatError>;
    /// Deletes a message the bot sent; deleting one that is gone already succeeds.
    async fn delete_message(&self, chat_id: &str, message_id: &str) -> Result<(), FChatError>;
    /// Answers a button click (its `callback_query.id`) with a notice shown to the clicker
    /// alone; an empty notice only tells their client the click was taken.
    async fn answer_click(
        &self,
        query_id: &str,
        notice: &crate::domain::conversation::Notice,
    ) -> Result<(), FChatError>;
}

/// A silence for an app's Alertmanager (its API v2).
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRequest {
    /// Equality matchers: label name → value.
    pub matchers: std::collections::BTreeMap<String, String>,
    pub starts_at: UnixTime,
    pub ends_at: UnixTime,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilenceError {
    /// Worth retrying: 5xx, 429, timeouts, connection errors.
    #[error("Alertmanager is unavailable: {0}")]
    Transient(String),
    /// Retrying would fail the same way (a refused URL, 4xx).
    #[error("Alertmanager refused the silence: {0}")]
    Permanent(String),
}

/// Creates silences in apps' Alertmanagers.
#[async_trait]
pub trait Silencer: Send + Sync {
    /// Answers the silence's id.
    async fn create_silence(
        &self,
        alertmanager: &AlertmanagerLink,
        silence: &SilenceRequest,
    ) -> Result<String, SilenceError>;
}

/// Why an SNS message is not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnsRefusal {
    /// The signature does not verify, or its certificate or `SubscribeURL` is not SNS's:
    /// answered 403, nothing changes.
    #[error("forged or foreign: {0}")]
    Forged(String),
    /// SNS's certificate or confirmation URL could not be fetched now: SNS retries.
    #[error("SNS could not be reached: {0}")]
    Unavailable(String),
}

/// Amazon SNS as the gateway needs it: checking a message's signature against SNS's signing
/// certificate, and confirming a subscription.
#[async_trait]
pub trait SnsGate: Send + Sync {
    async fn verify(
        &self,
        envelope: &crate::domain::sources::sns::SnsEnvelope,
    ) -> Result<(), SnsRefusal>;
    /// Fetches the `SubscribeURL` of a verified `SubscriptionConfirmation`.
    async fn confirm(
        &self,
        envelope: &crate::domain::sources::sns::SnsEnvelope,
    ) -> Result<(), SnsRefusal>;
}
