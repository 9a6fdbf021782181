//! The product's records, free of any storage or AWS type.

pub mod conversation;
pub mod credentials;
pub mod job;
pub mod message;
pub mod sources;
pub mod template;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Seconds since the Unix epoch.
pub type UnixTime = u64;

/// How long a context lives when the app does not say otherwise (the contract's 5 minutes).
pub const DEFAULT_CONTEXT_TTL_SECONDS: u64 = 300;
/// How long the gateway keeps trying to hand a message to FChat when the app does not say
/// otherwise: an FChat outage shorter than this loses nothing.
pub const DEFAULT_DELIVERY_WINDOW_SECONDS: u64 = 24 * 60 * 60;
/// The longest delivery window an app may have (the queue keeps a job for 14 days).
pub const MAX_DELIVERY_WINDOW_SECONDS: u64 = 7 * 24 * 60 * 60;
/// How long a message that was never delivered (`failed`, `expired`) stays readable on the
/// status route, and redrivable by the operator: as long as the dead-letter queue keeps jobs.
pub const UNDELIVERED_RETENTION_SECONDS: u64 = 14 * 24 * 60 * 60;
/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 60 * 60;

/// An application allowed to send: it authenticates with its name and token.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub name: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub token_hash: String,
    pub group_id: Option<String>,
    pub user_messaging: bool,
    pub webhook_url: Option<String>,
    /// `whsec_...` secrets; two during a rotation.
    pub webhook_secrets: Vec<String>,
    /// The reply window: how long clicks and replies reach the app, from when FChat took
    /// the message.
    pub context_ttl_seconds: u64,
    /// The delivery window: how long a message is retried until FChat takes it.
    pub delivery_window_seconds: u64,
    pub active: bool,
    /// After a token rotation: the old token's hash and until when it still works.
    pub previous_token: Option<(String, UnixTime)>,
    /// After a secret rotation: until when the older secrets still sign (`None`: for good).
    pub older_secrets_until: Option<UnixTime>,
    /// The app's own message templates for alert notifications, by source name
    /// (`alertmanager`, `grafana`); a source without one uses the built-in template.
    pub alert_templates: std::collections::BTreeMap<String, String>,
    /// How the app's alert groups behave in the chat: reminders, silences.
    pub alerting: Alerting,
    /// Amazon SNS: the topics the app accepts. (The unsubscriptions SNS confirmed are noted
    /// apart from the app: [`crate::ports::ContextStore::sns_unsubscriptions`].)
    pub sns: crate::domain::sources::aws_events::SnsSettings,
    /// The app's custom sources (any JSON webhook through its own template), by name.
    pub hooks: std::collections::BTreeMap<String, sources::hooks::HookSource>,
}

/// An app's alert settings beyond its templates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alerting {
    /// A repeat notification of a firing group posts a reminder reply instead of nothing.
    pub reminders: bool,
    /// The Alertmanager that silences the app's alert groups from the chat.
    pub alertmanager: Option<AlertmanagerLink>,
}

/// Where an app's Alertmanager answers, and how the gateway authenticates to it.
#[derive(Clone, PartialEq)]
pub struct AlertmanagerLink {
    /// Its base URL (`https://alertmanager.example.com`); `/api/v2/silences` is below it.
    pub url: String,
    /// `Authorization` for its API, when it wants one.
    pub auth: Option<AlertmanagerAuth>,
}

#[derive(Clone, PartialEq)]
pub enum AlertmanagerAuth {
    Bearer(String),
    Basic { user: String, password: String },
}

impl std::fmt::Debug for AlertmanagerLink {
    /// The credentials never show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            None => "none",
            Some(AlertmanagerAuth::Bearer(_)) => "bearer <redacted>",
            Some(AlertmanagerAuth::Basic { .. }) => "basic <redacted>",
        };
        f.debug_struct("AlertmanagerLink")
            .field("url", &self.url)
            .field("auth", &auth)
            .finish()
    }
}

impl App {
    /// Whether `token` is this app's token, or its previous one still in its grace period.
    /// Both are compared in constant time, whatever the outcome.
    pub fn accepts_token(&self, token: &str, now: UnixTime) -> bool {
        self.accepts_token_hash(
            &crate::domain::credentials::sha256_hex(token.as_bytes()),
            now,
        )
    }

    /// [`App::accepts_token`] for a token already hashed with
    /// [`crate::domain::credentials::sha256_hex`]. Both hashes are compared, in constant time, whether
    /// or not a rotation is under way.
    pub fn accepts_token_hash(&self, token_hash: &str, now: UnixTime) -> bool {
        use crate::domain::credentials::hashes_match;
        let current = hashes_match(token_hash, &self.token_hash);
        let previous = match &self.previous_token {
            Some((hash, until)) => hashes_match(token_hash, hash) && *until > now,
            None => hashes_match(token_hash, ""),
        };
        current | previous
    }

    /// The secrets that sign an event now: the newest, and the older ones during a rotation.
    pub fn signing_secrets(&self, now: UnixTime) -> &[String] {
        match self.older_secrets_until {
            Some(until) if until <= now => {
                &self.webhook_secrets[..self.webhook_secrets.len().min(1)]
            }
            _ => &self.webhook_secrets,
        }
    }
}

/// An FChat group an app may be assigned to.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub beatchat_id: Option<String>,
    pub active: bool,
    pub name: Option<String>,
}

/// An FChat user the gateway has messaged.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Lower-cased.
    pub email: String,
    pub fchat_id: String,
    pub name: Option<String>,
    pub created_at: UnixTime,
    /// The context of the last message sent to them: their replies go to its app.
    pub last_context_id: Option<String>,
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Group(String),
    User(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sending,
    Sent,
    Failed,
    Expired,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => DeliveryStatus::Queued,
            "sending" => DeliveryStatus::Sending,
            "sent" => DeliveryStatus::Sent,
            "failed" => DeliveryStatus::Failed,
            "expired" => DeliveryStatus::Expired,
            _ => return None,
        })
    }
}

/// One accepted message and everything that follows from it: its delivery and the
/// conversation it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub id: String,
    pub app: String,
    pub target: Target,
    pub parameters: Map<String, Value>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub fchat_message_id: Option<String>,
    pub created_at: UnixTime,
    /// When the context is gone (the store's TTL): the end of its delivery window plus a
    /// reply window while it waits, the end of its reply window once FChat took it.
    pub expires_at: UnixTime,
    /// The end of the delivery window: no attempt is made after it.
    pub deliver_by: UnixTime,
    /// The app's reply window, counted from when FChat takes the message.
    pub reply_window_seconds: u64,
    /// While `sending`: when the attempt's lease runs out.
    pub lease_until: Option<UnixTime>,
    /// What it shows, its first answer and the app's changes to it.
    pub conversation: conversation::Conversation,
}

impl Context {
    /// A new context for a message of `app` to `target`, queued at `now`: it may be delivered
    /// within the app's delivery window, and answered within its reply window after that.
    pub fn queued(
        app: &App,
        target: Target,
        parameters: Map<String, Value>,
        now: UnixTime,
    ) -> Self {
        Context {
            id: new_context_id(),
            app: app.name.clone(),
            target,
            parameters,
            status: DeliveryStatus::Queued,
            attempts: 0,
            last_error: None,
            fchat_message_id: None,
            created_at: now,
            expires_at: now + app.delivery_window_seconds + app.context_ttl_seconds,
            deliver_by: now + app.delivery_window_seconds,
            reply_window_seconds: app.context_ttl_seconds,
            lease_until: None,
            conversation: conversation::Conversation::default(),
        }
    }

    pub fn expired(&self, now: UnixTime) -> bool {
        self.expires_at <= now
    }

    /// Whether it is still waiting for FChat (`queued`, or `sending` under an attempt).
    pub fn unsettled(&self) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Queued | DeliveryStatus::Sending
        )
    }

    /// Whether its delivery window passed while it was still waiting for FChat.
    pub fn delivery_window_passed(&self, now: UnixTime) -> bool {
        self.unsettled() && self.deliver_by <= now
    }

    /// Whether an attempt may take the lease and send it now: the one rule every store
    /// follows. Another attempt's unexpired lease comes first, then the delivery window, then
    /// whether it still waits for FChat.
    pub fn may_send(&self, now: UnixTime) -> Result<(), SendRefusal> {
        match (self.status, self.lease_until) {
            (DeliveryStatus::Sending, Some(until)) if until > now => {
                Err(SendRefusal::Leased(until))
            }
            _ if self.delivery_window_passed(now) => Err(SendRefusal::WindowPassed),
            (DeliveryStatus::Queued | DeliveryStatus::Sending, _) => Ok(()),
            (settled, _) => Err(SendRefusal::Settled(settled)),
        }
    }
}

/// Why an attempt may not send a context now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// Another attempt holds the lease until then.
    Leased(UnixTime),
    /// Its delivery window passed before FChat took it.
    WindowPassed,
    /// It is `sent`, `failed` or `expired` already.
    Settled(DeliveryStatus),
}

/// What a retried request with the same `Idempotency-Key` is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub app: String,
    /// Hex SHA-256 of the key as the client sent it.
    pub key_hash: String,
    /// Hex SHA-256 of the route and body, to refuse a key reused for another request.
    pub request_hash: String,
    pub context_id: String,
    pub parameters: Map<String, Value>,
    pub expires_at: UnixTime,
}

/// A new context id: 128 random bits, hex, no dashes.
pub fn new_context_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
