//! The outbox: a message becomes a context and one queued job, or nothing at all. A job that
//! cannot be queued withdraws its context, so no context waits for a job that never comes.

use crate::api::error::ApiError;
use crate::domain::job::{Job, JobKind, MAX_JOB_BYTES};
use crate::domain::message::MessageContent;
use crate::domain::sources::alert_thread::ThreadStep;
use crate::domain::{Context, Target};
use crate::ports::{ContextStore, JobQueue};

/// The job that delivers `content` for `context` (as a step of an alert group's message, with
/// `thread`); refused when the queue could not take it (over [`MAX_JOB_BYTES`]). Made before
/// anything is written, so that such a message changes nothing.
pub fn job(
    context: &Context,
    content: MessageContent,
    thread: Option<ThreadStep>,
) -> Result<Job, ApiError> {
    let job = Job::new(job_kind(context, content, thread));
    let size = job.to_json().len();
    if size > MAX_JOB_BYTES {
        tracing::warn!(size, app = %context.app, "a message too large to queue; refused");
        return Err(ApiError::JobTooLarge);
    }
    Ok(job)
}

/// Records `context` and queues `job`, made by [`job`] for it. If the job cannot be queued the
/// context is withdrawn, so that nothing is left looking queued.
pub async fn queue_message(
    contexts: &dyn ContextStore,
    queue: &dyn JobQueue,
    context: &Context,
    job: Job,
) -> Result<(), ApiError> {
    contexts.create_context(context).await?;
    if let Err(error) = queue.enqueue(&job).await {
        tracing::error!(%error, context_id = %context.id, "queueing failed; withdrawing the context");
        if let Err(error) = contexts.delete_context(&context.id).await {
            tracing::error!(%error, context_id = %context.id, "could not withdraw the context");
        }
        return Err(ApiError::QueueUnavailable);
    }
    Ok(())
}

fn job_kind(context: &Context, content: MessageContent, thread: Option<ThreadStep>) -> JobKind {
    if let Some(thread) = thread {
        return JobKind::SendAlert {
            context_id: context.id.clone(),
            app: context.app.clone(),
            target: context.target.clone(),
            content,
            thread,
        };
    }
    match &context.target {
        Target::Group(group_id) => JobKind::SendGroup {
            context_id: context.id.clone(),
            app: context.app.clone(),
            group_id: group_id.clone(),
            content,
        },
        Target::User(email) => JobKind::SendUser {
            context_id: context.id.clone(),
            app: context.app.clone(),
            email: email.clone(),
            content,
        },
    }
}
