//! Fan-out: one delivery batch of ten messages to ten chats against FChat (the simulator)
//! answering each send after 100 ms, against a batch of one. Sequential sends would take ten
//! times as long. (One chat's messages do run one after the other, in order and paced.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use gateway::delivery::{deliver_batch, Delivery};
use gateway::domain::DeliveryStatus;
use gateway::fchat::FChatClient;
use gateway::memory::{MemoryQueue, MemoryStore, MemoryWebhooks};
use gateway::ports::{Clock, ContextStore, StoreError, SystemClock, UserStore};
use gateway::ports::{QueuedJob, Redelivery};
use gateway::services::forwarding::Forwarder;

use crate::stats::median;
use crate::world;

pub const LATENCY_MS: u64 = 100;

pub struct FanoutResult {
    pub single_ms: f64,
    pub batch_ms: f64,
    pub batch_size: usize,
}

impl FanoutResult {
    pub fn ratio(&self) -> f64 {
        self.batch_ms / self.single_ms
    }
}

/// A retry would mean FChat refused a send: the benchmark stops rather than report it.
struct NoRetries;

#[async_trait::async_trait]
impl Redelivery for NoRetries {
    async fn redeliver_after(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("a send was not accepted".into()))
    }
    async fn requeue(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("a send was not accepted".into()))
    }
    async fn dead_letter(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("a job was parked".into()))
    }
}

pub async fn measure(rounds: usize, batch_size: usize) -> Result<FanoutResult> {
    const BOT_TOKEN: &str = "bench-bot-token";
    let simulator = fchat_simulator::Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        fchat_simulator::SimulatorConfig {
            bot_token: BOT_TOKEN.into(),
            // A batch's messages go to as many users: one chat's messages run one after the
            // other (in order, paced), so fan-out is across chats.
            users: (0..batch_size)
                .map(|i| fchat_simulator::SimUser {
                    email: recipient(i),
                    id: format!("{}-{i}", world::FCHAT_ID),
                    name: None,
                })
                .collect(),
            groups: vec![world::BEATCHAT_ID.into()],
        },
    )
    .await?;
    simulator.set_faults(fchat_simulator::Faults {
        latency_ms: LATENCY_MS,
        ..Default::default()
    });
    let store = world::memory_store().await;
    for i in 0..batch_size {
        store
            .put_user(&gateway::domain::User {
                email: recipient(i),
                fchat_id: format!("{}-{i}", world::FCHAT_ID),
                name: None,
                created_at: SystemClock.now(),
                last_context_id: None,
            })
            .await?;
    }
    let queue = Arc::new(MemoryQueue::default());
    let fchat: Arc<dyn gateway::ports::FChat> = Arc::new(
        FChatClient::new(&simulator.url(), BOT_TOKEN, Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let delivery = Delivery {
        contexts: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        apps: store.clone(),
        silencer: Arc::new(gateway::memory::MemorySilencer::default()),
        fchat: fchat.clone(),
        clock: Arc::new(SystemClock),
        lease: Duration::from_secs(30),
        max_retry_delay: Duration::from_secs(1),
        forwarder: Forwarder {
            apps: store.clone(),
            contexts: store.clone(),
            queue: queue.clone(),
            webhooks: Arc::new(MemoryWebhooks::default()),
            clock: Arc::new(SystemClock),
            fchat,
        },
        max_forward_delay: Duration::from_secs(1),
        pacing: gateway::delivery::Pacing::OFF,
    };

    let mut single = Vec::new();
    let mut batch = Vec::new();
    // Round 0 opens the connections a warm function already has.
    for round in 0..=rounds {
        for size in [1, batch_size] {
            let jobs = queue_jobs(&store, size).await?;
            let started = Instant::now();
            let failed = deliver_batch(&delivery, &NoRetries, &jobs).await;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            ensure!(failed.is_empty(), "deliveries failed: {failed:?}");
            for job in &jobs {
                let id = job.message_id.as_str();
                let context = store.context_record(id).await?;
                ensure!(
                    context.is_some_and(|c| c.status == DeliveryStatus::Sent),
                    "context {id} was not sent"
                );
            }
            if round > 0 {
                if size == 1 { &mut single } else { &mut batch }.push(elapsed);
            }
        }
    }
    Ok(FanoutResult {
        single_ms: median(&single),
        batch_ms: median(&batch),
        batch_size,
    })
}

/// The `i`th user of a batch.
fn recipient(i: usize) -> String {
    format!("fan-{i}@example.com")
}

/// `count` accepted user messages, each to a user of its own, as the queue would hand them to
/// the delivery function.
async fn queue_jobs(store: &MemoryStore, count: usize) -> Result<Vec<QueuedJob>> {
    let mut jobs = Vec::with_capacity(count);
    for i in 0..count {
        let (context_id, body) = world::accept_typical_message(store).await?;
        let mut job: serde_json::Value = serde_json::from_str(&body)?;
        job["email"] = recipient(i).into();
        let body = job.to_string();
        jobs.push(QueuedJob {
            message_id: context_id.clone(),
            receive_count: 1,
            receipt_handle: context_id,
            body,
            sent_at_ms: None,
        });
    }
    Ok(jobs)
}
