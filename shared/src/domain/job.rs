//! The delivery queue's job envelope: one versioned JSON document per SQS message.
//! This is the only place its shape is defined.

use serde::{Deserialize, Serialize};

use crate::domain::message::MessageContent;
use crate::domain::sources::alert_thread::ThreadStep;

/// The envelope version this code writes and reads.
pub const JOB_VERSION: u8 = 1;

/// The largest job the gateway queues, in bytes of its JSON: SQS's message size of 256 KiB.
/// AWS raised SQS's maximum (and a queue's default `MaximumMessageSize`) to 1 MiB in 2025;
/// the gateway keeps to 256 KiB all the same, so that it runs on a queue that keeps the old
/// size and a batch of ten jobs (2.5 MiB) stays far inside the delivery function's 6 MiB
/// invocation payload. What a request would queue above it is refused at once with
/// `413` (`ApiError::JobTooLarge`), before anything is written.
pub const MAX_JOB_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub v: u8,
    /// Not to be tried before this time (Unix milliseconds): how a job is delayed on a queue
    /// that takes no per-message delay (SQS FIFO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<u64>,
    #[serde(flatten)]
    pub kind: JobKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Send into the app's group; the group is read again at delivery time.
    SendGroup {
        context_id: String,
        app: String,
        group_id: String,
        #[serde(flatten)]
        content: MessageContent,
    },
    /// Send to one FChat user by email.
    SendUser {
        context_id: String,
        app: String,
        email: String,
        #[serde(flatten)]
        content: MessageContent,
    },
    /// An alert notification: its group's message is posted, edited, or left as it is
    /// (`crate::domain::sources::alert_thread`).
    SendAlert {
        context_id: String,
        app: String,
        target: crate::domain::Target,
        #[serde(flatten)]
        content: MessageContent,
        thread: ThreadStep,
    },
    /// Post an FChat event to an app's webhook again, after a failed attempt.
    Forward(Forward),
    /// Silence an alert group in its app's Alertmanager, as a user asked from the chat.
    Silence(SilenceJob),
    /// Edit or delete a message that was sent (`crate::domain::conversation`).
    Change(ChangeJob),
}

/// A change to a sent message: one of its app's (`PATCH` or `DELETE` of the send API), or
/// one a click made that FChat could not take at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeJob {
    pub context_id: String,
    pub app: String,
    /// Its place among the app's changes of the message, from 1: they apply in this order,
    /// after the send. `None`: a click's change, applied on top of what the message shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    pub change: crate::domain::conversation::MessageChange,
}

/// The click a forwarded event is: its message, and FChat's callback query while it waits
/// for its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickRef {
    pub context_id: String,
    /// The clicked message, and its chat.
    pub message_id: String,
    /// FChat's `callback_query.id`, until the click is answered: the first attempt answers
    /// it (with the webhook's notice); a retried forward finds it answered already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
}

/// A click on a silence button of an alert group's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceJob {
    /// The group's thread key.
    pub group: String,
    pub seconds: u64,
    /// The click's FChat update: one silence per click, however often the job runs.
    pub update_id: String,
    /// Who clicked: their email, or their FChat id when FChat gave no email.
    pub user: String,
    /// The clicked message, and its chat.
    pub message_id: String,
    pub chat_id: String,
}

/// An FChat event for one app's webhook: the payload is signed and posted as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    pub app: String,
    /// The Standard Webhooks `webhook-id`: the same for every attempt.
    pub webhook_id: String,
    /// The chat the event happened in: a bot reply goes there, and its bot state is kept.
    pub chat_id: String,
    /// Where a bot reply is sent.
    pub reply_to: Option<crate::domain::Target>,
    pub payload: serde_json::Value,
    /// For a click: what its answer (`notice`, `edit`) acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<ClickRef>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job is not valid JSON of a known kind: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("job envelope version {0} is not supported")]
    UnsupportedVersion(u8),
}

impl Job {
    pub fn new(kind: JobKind) -> Self {
        Job {
            v: JOB_VERSION,
            not_before_ms: None,
            kind,
        }
    }

    /// The queue's message group of this job (SQS FIFO's `MessageGroupId`): the jobs of one
    /// group are handed out in the order they were queued, one batch at a time. A message to a
    /// chat is in that chat's group, so that its chat sees messages in order and is paced and
    /// paused as one; a change of a sent message is in its message's; forwards and silences
    /// are each a group of their own, so that one app's failing webhook holds nothing else.
    /// At most 45 characters of `[a-z0-9-]`, whatever the job holds.
    pub fn queue_group(&self) -> String {
        use crate::domain::credentials::sha256_hex;
        let hashed =
            |prefix: &str, key: &str| format!("{prefix}-{}", &sha256_hex(key.as_bytes())[..40]);
        match (&self.kind, self.chat()) {
            (_, Some(chat)) => hashed("chat", &chat_key(&chat)),
            (JobKind::Change(change), None) => hashed("msg", &change.context_id),
            _ => own_queue_group(),
        }
    }

    /// The chat a send goes to, when the job says (changes and forwards do not).
    pub fn chat(&self) -> Option<crate::domain::Target> {
        match &self.kind {
            JobKind::SendGroup { group_id, .. } => {
                Some(crate::domain::Target::Group(group_id.clone()))
            }
            JobKind::SendUser { email, .. } => Some(crate::domain::Target::User(email.clone())),
            JobKind::SendAlert { target, .. } => Some(target.clone()),
            _ => None,
        }
    }

    /// The context a send job delivers (forwards have none).
    pub fn context_id(&self) -> Option<&str> {
        match &self.kind {
            JobKind::SendGroup { context_id, .. }
            | JobKind::SendUser { context_id, .. }
            | JobKind::SendAlert { context_id, .. } => Some(context_id),
            JobKind::Forward(_) | JobKind::Silence(_) | JobKind::Change(_) => None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job always serialises")
    }

    pub fn from_json(body: &str) -> Result<Self, JobError> {
        let job: Job = serde_json::from_str(body)?;
        if job.v != JOB_VERSION {
            return Err(JobError::UnsupportedVersion(job.v));
        }
        Ok(job)
    }
}

/// The queue's message group of a job's body as it travels: its job's, or, for a body that is
/// no job (only the dead-letter queue takes those), a group of its own.
pub fn queue_group_of(body: &str) -> String {
    Job::from_json(body)
        .map(|job| job.queue_group())
        .unwrap_or_else(|_| own_queue_group())
}

/// A message group of one: a job that waits for nothing and holds nothing up.
fn own_queue_group() -> String {
    format!("job-{}", uuid::Uuid::new_v4().simple())
}

/// One chat's key, whatever way the job names it: a group by its id, a user by their email
/// in lower case.
pub fn chat_key(target: &crate::domain::Target) -> String {
    match target {
        crate::domain::Target::Group(id) => format!("group\n{id}"),
        crate::domain::Target::User(email) => format!("user\n{}", email.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Button;
    use serde_json::json;

    #[test]
    fn envelope_is_flat_versioned_json() {
        let job = Job::new(JobKind::SendUser {
            context_id: "c1".into(),
            app: "ops".into(),
            email: "u@x.io".into(),
            content: MessageContent {
                text: "hi".into(),
                keyboard: vec![vec![Button {
                    text: "Yes".into(),
                    callback_data: json!({"a": 1}),
                }]],
            },
        });
        let value: serde_json::Value = serde_json::from_str(&job.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"v": 1, "kind": "send_user", "context_id": "c1", "app": "ops", "email": "u@x.io",
                   "text": "hi", "keyboard": [[{"text": "Yes", "callbackData": {"a": 1}}]]})
        );
        assert_eq!(Job::from_json(&job.to_json()).unwrap(), job);
    }

    #[test]
    fn a_forward_carries_its_payload() {
        let job = Job::new(JobKind::Forward(Forward {
            app: "ops".into(),
            webhook_id: "u-1.ops".into(),
            chat_id: "fchat-1".into(),
            reply_to: Some(crate::domain::Target::User("u@x.io".into())),
            payload: json!({"event": "message", "message": {"text": "hi"}}),
            click: None,
        }));
        let value: serde_json::Value = serde_json::from_str(&job.to_json()).unwrap();
        assert_eq!(value["kind"], "forward");
        assert_eq!(value["reply_to"], json!({"kind": "user", "id": "u@x.io"}));
        assert_eq!(Job::from_json(&job.to_json()).unwrap(), job);
        assert_eq!(job.context_id(), None);
    }

    #[test]
    fn unknown_versions_and_kinds_are_refused() {
        let future =
            r#"{"v":2,"kind":"send_group","context_id":"c","app":"a","group_id":"g","text":"t"}"#;
        assert!(matches!(
            Job::from_json(future),
            Err(JobError::UnsupportedVersion(2))
        ));
        assert!(Job::from_json(r#"{"v":1,"kind":"teleport"}"#).is_err());
        assert!(Job::from_json("not json").is_err());
    }
}
