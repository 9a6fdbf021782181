//! In-memory adapters of every port, for fast unit tests of the domain and for benchmarks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{App, Context, Group, IdempotencyRecord, UnixTime, User};
use crate::job::Job;
use crate::ports::{
    AppStore, Clock, ContextStore, GroupStore, IdempotencyClaim, JobQueue, StoreError, UserStore,
};

#[derive(Default)]
pub struct MemoryStore {
    apps: Mutex<HashMap<String, App>>,
    groups: Mutex<HashMap<String, Group>>,
    users: Mutex<HashMap<String, User>>,
    contexts: Mutex<HashMap<String, Context>>,
    idempotency: Mutex<HashMap<(String, String), IdempotencyRecord>>,
}

impl MemoryStore {
    pub fn contexts(&self) -> Vec<Context> {
        self.contexts.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl AppStore for MemoryStore {
    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError> {
        Ok(self.apps.lock().unwrap().get(name).cloned())
    }

    async fn app_by_token_hash(&self, token_hash: &str) -> Result<Option<App>, StoreError> {
        let apps = self.apps.lock().unwrap();
        Ok(apps.values().find(|a| a.token_hash == token_hash).cloned())
    }

    async fn put_app(&self, app: &App) -> Result<(), StoreError> {
        self.apps.lock().unwrap().insert(app.name.clone(), app.clone());
        Ok(())
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn group(&self, id: &str) -> Result<Option<Group>, StoreError> {
        Ok(self.groups.lock().unwrap().get(id).cloned())
    }

    async fn put_group(&self, group: &Group) -> Result<(), StoreError> {
        self.groups.lock().unwrap().insert(group.id.clone(), group.clone());
        Ok(())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn user(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self.users.lock().unwrap().get(email).cloned())
    }

    async fn put_user(&self, user: &User) -> Result<(), StoreError> {
        self.users.lock().unwrap().insert(user.email.clone(), user.clone());
        Ok(())
    }
}

#[async_trait]
impl ContextStore for MemoryStore {
    async fn create_context(&self, context: &Context) -> Result<(), StoreError> {
        self.contexts
            .lock()
            .unwrap()
            .insert(context.id.clone(), context.clone());
        Ok(())
    }

    async fn context(&self, id: &str, now: UnixTime) -> Result<Option<Context>, StoreError> {
        let contexts = self.contexts.lock().unwrap();
        Ok(contexts.get(id).filter(|c| c.expires_at > now).cloned())
    }

    async fn delete_context(&self, id: &str) -> Result<(), StoreError> {
        self.contexts.lock().unwrap().remove(id);
        Ok(())
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: UnixTime,
    ) -> Result<IdempotencyClaim, StoreError> {
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
        let key = (app.to_owned(), key_hash.to_owned());
        self.idempotency.lock().unwrap().remove(&key);
        Ok(())
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
