//! The ports the domain depends on. Adapters: `dynamo` and `sqs` for AWS, `memory` for tests.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::domain::{App, Context, Group, IdempotencyRecord, UnixTime, User};
use crate::job::Job;

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
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn group(&self, id: &str) -> Result<Option<Group>, StoreError>;
    async fn put_group(&self, group: &Group) -> Result<(), StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn put_user(&self, user: &User) -> Result<(), StoreError>;
}

/// The outcome of claiming an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The key is new (or its record expired): this request goes ahead.
    Claimed,
    /// The key was used before; this is what the first request recorded.
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait ContextStore: Send + Sync {
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
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> Result<(), StoreError>;
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
