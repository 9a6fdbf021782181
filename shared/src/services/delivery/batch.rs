//! A batch of jobs from the delivery queue: one lane per chat, run one job after the other in
//! the order the queue holds them, every lane beside the others.
//!
//! The queue is FIFO with one message group per chat ([`Job::queue_group`]): it hands a
//! chat's jobs out in order, one batch at a time. A lane keeps that order and holds the rest
//! of its chat's jobs, untried, behind a job that must wait:
//! - a job that stays on the queue for a retry (FChat down, or a 429 with its `retry_after`):
//!   what follows it in its chat waits as long, so the chat is paused as one and the others
//!   are not;
//! - a job not due yet (its `not_before_ms`, how a FIFO queue delays a job);
//! - with pacing on, a message just sent: the chat's next one waits out FChat's interval for
//!   that chat ([`Pacing`], [`Pacer`]), so that a storm provokes no 429.
//!
//! The first job that must wait stays on the queue with the wait as its visibility, and the
//! jobs behind it are released at once: as the queue hands nothing else of their group out
//! while one is in flight, nothing overtakes it.

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::job::{chat_key, Job, JobKind};
use crate::domain::Target;
use crate::ports::{QueuedJob, Redelivery, MAX_VISIBILITY_DELAY};

use super::{Delivery, JobOutcome, MAX_RECEIVE_COUNT};

/// FChat's limits as the gateway paces itself to them (docs/fchat-api.md#limits): the least
/// time between two messages to one chat. Off, messages to a chat go as fast as FChat takes
/// them (and a 429 still pauses the chat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Between two messages to a user: FChat takes 1 a second per chat.
    pub user: Duration,
    /// Between two messages to a group: FChat takes 20 a minute per group.
    pub group: Duration,
}

impl Pacing {
    /// FChat's documented limits.
    pub const FCHAT: Pacing = Pacing {
        user: Duration::from_secs(1),
        group: Duration::from_secs(3),
    };
    /// No pacing.
    pub const OFF: Pacing = Pacing {
        user: Duration::ZERO,
        group: Duration::ZERO,
    };

    fn interval(&self, chat: &Target) -> Duration {
        match chat {
            Target::Group(_) => self.group,
            Target::User(_) => self.user,
        }
    }
}

/// When this instance last sent to each chat: the pacing of a chat's next message, in the same
/// batch or a later one, as far as one instance sees. Another instance's send shows as a 429,
/// which pauses the chat as well.
#[derive(Default)]
pub struct Pacer(std::sync::Mutex<HashMap<String, std::time::Instant>>);

/// Chats remembered before those sent to over a minute ago are forgotten.
const PACER_CHATS: usize = 10_000;

impl Pacer {
    /// How long `chat` must still wait for `interval` to have passed since its last message.
    fn wait(&self, chat: &str, interval: Duration) -> Option<Duration> {
        let last = *self.lock().get(chat)?;
        interval
            .checked_sub(last.elapsed())
            .filter(|left| !left.is_zero())
    }

    fn sent(&self, chat: String) {
        let now = std::time::Instant::now();
        let mut sent = self.lock();
        sent.insert(chat, now);
        if sent.len() > PACER_CHATS {
            sent.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, std::time::Instant>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A queued job as a lane sees it.
struct Entry<'a> {
    queued: &'a QueuedJob,
    job: Option<Job>,
}

impl Entry<'_> {
    /// The alert group it changes and when its notification arrived (a silence comes after
    /// every notification of its group in the batch).
    fn alert_group(&self) -> Option<(&str, u64)> {
        match &self.job.as_ref()?.kind {
            JobKind::SendAlert { thread, .. } => Some((&thread.key, thread.at_ms)),
            JobKind::Silence(silence) => Some((&silence.group, u64::MAX)),
            _ => None,
        }
    }

    /// The lane it belongs to: its queue message group's (its chat's, or its sent message's);
    /// one of its own for a job that cannot be read.
    fn lane(&self) -> Option<String> {
        self.job.as_ref().map(Job::queue_group)
    }
}

/// Delivers a batch and answers the ids of the messages that stay on the queue (SQS's partial
/// batch failures). One chat's trouble never holds back another's.
pub async fn deliver_batch(
    delivery: &Delivery,
    redelivery: &dyn Redelivery,
    jobs: &[QueuedJob],
) -> Vec<String> {
    let entries: Vec<Entry> = jobs
        .iter()
        .map(|queued| Entry {
            queued,
            job: Job::from_json(&queued.body).ok(),
        })
        .collect();
    let outcomes = futures_util::future::join_all(
        lanes(entries)
            .into_iter()
            .map(|lane| run_lane(delivery, redelivery, lane)),
    )
    .await;
    outcomes.into_iter().flatten().collect()
}

/// The batch's lanes, each in the queue's order, but for the notifications of one alert group,
/// which run oldest first (a silence last) in the places the group's jobs hold.
fn lanes(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut lanes: Vec<Vec<Entry>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    // A silence joins the lane of its group's notifications, when the batch holds any.
    let mut by_alert_group: HashMap<String, usize> = HashMap::new();
    let (silences, others): (Vec<Entry>, Vec<Entry>) = entries
        .into_iter()
        .partition(|e| matches!(e.job.as_ref().map(|j| &j.kind), Some(JobKind::Silence(_))));
    for entry in others {
        let lane = match entry.lane() {
            Some(key) => *by_key.entry(key).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            }),
            None => {
                lanes.push(Vec::new());
                lanes.len() - 1
            }
        };
        if let Some((group, _)) = entry.alert_group() {
            by_alert_group.insert(group.to_owned(), lane);
        }
        lanes[lane].push(entry);
    }
    for entry in silences {
        match entry.alert_group().and_then(|(g, _)| by_alert_group.get(g)) {
            Some(lane) => lanes[*lane].push(entry),
            None => lanes.push(vec![entry]),
        }
    }
    lanes.into_iter().map(order_alert_groups).collect()
}

/// Puts each alert group's jobs of a lane in the order their notifications arrived, within
/// the places they hold; other jobs keep theirs.
fn order_alert_groups(lane: Vec<Entry>) -> Vec<Entry> {
    let mut places: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, entry) in lane.iter().enumerate() {
        if let Some((group, _)) = entry.alert_group() {
            places.entry(group.to_owned()).or_default().push(i);
        }
    }
    let mut order: Vec<usize> = (0..lane.len()).collect();
    for slots in places.values() {
        let mut arrived = slots.clone();
        arrived.sort_by_key(|&i| lane[i].alert_group().map(|(_, at)| at));
        for (&slot, from) in slots.iter().zip(arrived) {
            order[slot] = from;
        }
    }
    let mut lane: Vec<Option<Entry>> = lane.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| lane[i].take()).collect()
}

/// Runs a lane's jobs one after the other; answers the ids that stay on the queue.
///
/// The first job that must wait keeps the wait as its visibility; the jobs behind it are
/// released at once (visibility 0): their group stays blocked while the waiting job is in
/// flight, and when it comes back the queue hands them out after it, in order.
async fn run_lane(
    delivery: &Delivery,
    redelivery: &dyn Redelivery,
    lane: Vec<Entry<'_>>,
) -> Vec<String> {
    let mut left = Vec::new();
    // The chat waits behind a job already left on the queue with its wait.
    let mut blocked = false;
    for entry in lane {
        let job = entry.queued;
        if blocked {
            left.extend(keep(redelivery, job, Duration::ZERO).await);
            continue;
        }
        // A message to a chat, with pacing on: its chat's key and FChat's interval for it.
        let paced = entry.job.as_ref().and_then(Job::chat).and_then(|chat| {
            let interval = delivery.pacing.interval(&chat);
            (!interval.is_zero()).then(|| (chat_key(&chat), interval))
        });
        let wait = not_due(entry.job.as_ref(), delivery.clock.now() * 1000).or_else(|| {
            let (chat, interval) = paced.as_ref()?;
            delivery.pacer.wait(chat, *interval)
        });
        if let Some(wait) = wait {
            blocked = true;
            left.extend(keep(redelivery, job, wait).await);
            continue;
        }
        let delivered = delivery.deliver(&job.body, job.receive_count);
        match crate::metrics::with_queued_at(job.sent_at_ms, delivered).await {
            JobOutcome::Done => {
                if let Some((chat, _)) = paced {
                    delivery.pacer.sent(chat);
                }
            }
            JobOutcome::RetryAfter(delay) => {
                blocked = true;
                left.extend(keep(redelivery, job, delay).await);
            }
            JobOutcome::DeadLetter(_) => match redelivery.dead_letter(&job.body).await {
                Ok(()) => {}
                Err(error) => {
                    // Left on the queue, the redrive policy parks it after its receives.
                    tracing::error!(%error, message_id = %job.message_id, "could not move the job to the DLQ");
                    left.push(job.message_id.clone());
                }
            },
        }
    }
    left
}

/// How long until a job is due, when it is not yet.
fn not_due(job: Option<&Job>, now_ms: u64) -> Option<Duration> {
    let not_before = job?.not_before_ms?;
    (not_before > now_ms).then(|| Duration::from_millis(not_before - now_ms))
}

/// Leaves a job on the queue, to come back after `delay`, rounded up to whole seconds as SQS
/// counts them (so that it never comes back early), or at once for a job released behind a
/// waiting one. Answers its id unless a fresh copy replaced it.
async fn keep(redelivery: &dyn Redelivery, job: &QueuedJob, delay: Duration) -> Option<String> {
    let delay = Duration::from_secs(delay.as_secs_f64().ceil() as u64).min(MAX_VISIBILITY_DELAY);
    if job.receive_count + 1 >= MAX_RECEIVE_COUNT {
        // One more receive and the redrive policy would park a job that still has time: a
        // fresh copy starts the count over.
        match redelivery.requeue(&job.body, delay).await {
            Ok(()) => return None,
            Err(error) => {
                tracing::warn!(%error, message_id = %job.message_id, "could not queue the job afresh")
            }
        }
    }
    if let Err(error) = redelivery.redeliver_after(&job.receipt_handle, delay).await {
        // It comes back after the queue's own visibility timeout instead.
        tracing::warn!(%error, message_id = %job.message_id, "could not delay the retry");
    }
    Some(job.message_id.clone())
}
