//! The tenants every benchmark uses: one app with a group and user messaging, one user.

use std::sync::Arc;

use gateway::api::validate::parse_user_message;
use gateway::credentials::sha256_hex;
use gateway::domain::{App, Group, User};
use gateway::domain::{Context, Target};
use gateway::ingest::Ingest;
use gateway::memory::{MemoryFChat, MemoryQueue, MemoryStore};
use gateway::ports::{AppStore, Clock, ContextStore, GroupStore, SystemClock, UserStore};
use gateway::services::outbox::{self, queue_message};
use serde_json::{json, Value};

pub const APP: &str = "BENCH_APP";
pub const TOKEN: &str = "BENCH_TOKEN";
pub const GROUP: &str = "ops";
pub const BEATCHAT_ID: &str = "beatchat-bench-001";
pub const EMAIL: &str = "user@example.com";
pub const FCHAT_ID: &str = "fchat-user-1001";

pub fn app(webhook_url: Option<String>) -> App {
    App {
        name: APP.into(),
        token_hash: sha256_hex(TOKEN.as_bytes()),
        group_id: Some(GROUP.into()),
        user_messaging: true,
        webhook_url,
        webhook_secrets: vec![],
        context_ttl_seconds: 3600,
        delivery_window_seconds: 86_400,
        active: true,
        previous_token: None,
        older_secrets_until: None,
        alert_templates: Default::default(),
        alerting: Default::default(),
        sns: Default::default(),
        hooks: Default::default(),
    }
}

pub fn group() -> Group {
    Group {
        id: GROUP.into(),
        beatchat_id: Some(BEATCHAT_ID.into()),
        active: true,
        name: Some("Ops".into()),
    }
}

pub fn user() -> User {
    User {
        email: EMAIL.into(),
        fchat_id: FCHAT_ID.into(),
        name: Some("Example User".into()),
        created_at: 0,
        last_context_id: None,
    }
}

/// A memory store holding the app, its group and the user.
pub async fn memory_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    store.put_app(&app(None)).await.expect("memory store");
    store.put_group(&group()).await.expect("memory store");
    store.put_user(&user()).await.expect("memory store");
    store
}

/// The send API on in-memory ports.
pub async fn memory_ingest() -> (Ingest, Arc<MemoryStore>, Arc<MemoryQueue>) {
    let store = memory_store().await;
    let queue = Arc::new(MemoryQueue::default());
    let ingest = Ingest {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        queue: queue.clone(),
        fchat: Arc::new(MemoryFChat::default()),
        clock: Arc::new(SystemClock),
        sns: Arc::new(gateway::adapters::sns::SnsClient::new(false)),
    };
    (ingest, store, queue)
}

/// The user route's path for the bench app.
pub fn user_path() -> String {
    format!("/webhooks/{TOKEN}/fchat")
}

/// A typical user message: a question, two buttons, two parameters.
pub fn typical_user_message() -> Value {
    json!({
        "email": EMAIL,
        "text": "Deploy api-server v2.14.1 to production? Requested by ci@example.com",
        "reply_markup": {"inlineKeyboard": [[
            {"text": "Approve", "callbackData": {"action": "deploy", "data": "approve"}},
            {"text": "Reject", "callbackData": {"action": "deploy", "data": "reject"}}
        ]]},
        "parameters": {"pipeline": "api-server", "run": 4812}
    })
}

/// The longest text the contract allows (2000 characters, some of them multi-byte).
pub fn longest_text_message() -> Value {
    let text: String = "Nguyễn Văn An: disk usage 97% on db-3. "
        .chars()
        .cycle()
        .take(gateway::message::MAX_TEXT_CHARS)
        .collect();
    json!({"email": EMAIL, "text": text})
}

/// The most buttons the contract allows (30), in rows of three.
pub fn most_buttons_message() -> Value {
    let buttons: Vec<Value> = (0..gateway::message::MAX_BUTTONS)
        .map(|i| json!({"text": format!("Option {i}"), "callbackData": {"action": "pick", "data": i}}))
        .collect();
    let rows: Vec<Value> = buttons
        .chunks(3)
        .map(|row| Value::from(row.to_vec()))
        .collect();
    json!({"email": EMAIL, "text": "Pick one", "reply_markup": {"inlineKeyboard": rows}})
}

/// A typical user message accepted the way the send API accepts it: its context recorded in
/// `contexts`. Answers the context's id and the body of its job, as the queue carries it.
pub async fn accept_typical_message(
    contexts: &dyn ContextStore,
) -> anyhow::Result<(String, String)> {
    let body = serde_json::to_vec(&typical_user_message())?;
    let message = parse_user_message(&body).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let context = Context::queued(
        &app(None),
        Target::User(message.email),
        message.parameters,
        SystemClock.now(),
    );
    let queue = MemoryQueue::default();
    let job = outbox::job(&context, message.content, None).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    queue_message(contexts, &queue, &context, job)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let job = queue
        .jobs()
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no job queued"))?;
    Ok((context.id, job.to_json()))
}
