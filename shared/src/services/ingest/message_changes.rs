//! `PATCH` and `DELETE /{token}/messages/{id}`: the app that sent a message edits or deletes
//! it. A change is checked as a send is, takes its place in the message's line of changes by
//! one conditional write, and is queued like a send; delivery applies it after the send and
//! the app's earlier changes. Another app's token gets the 404 an unknown id gets.

use super::*;
use crate::api::changes::parse_edit;
use crate::domain::conversation::{ChangeRefusal, MessageChange};
use crate::domain::job::{ChangeJob, Job, JobKind, MAX_JOB_BYTES};
use crate::logging::loggable;

impl Ingest {
    pub(super) async fn change(
        &self,
        route: Route,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<HttpResponse, ApiError> {
        let (token, context_id, delete) = match route {
            Route::EditMessage { token, context_id } => (token, context_id, false),
            Route::DeleteMessage { token, context_id } => (token, context_id, true),
            _ => return Err(ApiError::RouteNotFound),
        };
        let idempotency_key = idempotency_key(request)?;
        let app = self.app_by_token(&token).await?;
        log.app = Some(app.name.clone());
        // The id is the caller's until it is found: bounded and escaped in the log line.
        log.context_id = Some(loggable(&context_id));
        let change = if delete {
            MessageChange::Delete
        } else {
            MessageChange::Edit(parse_edit(&request.body)?)
        };
        let job = |seq: u32| {
            Job::new(JobKind::Change(ChangeJob {
                context_id: context_id.clone(),
                app: app.name.clone(),
                seq: Some(seq),
                change: change.clone(),
            }))
        };
        // A change the queue could not take is refused before anything is written.
        if job(u32::MAX).to_json().len() > MAX_JOB_BYTES {
            return Err(ApiError::JobTooLarge);
        }
        let now = self.clock.now();
        let claim = match idempotency_key {
            Some(key) => {
                let record = IdempotencyRecord {
                    app: app.name.clone(),
                    key_hash: sha256_hex(key.as_bytes()),
                    // The method too: a PATCH and a DELETE of one message are two requests.
                    request_hash: sha256_hex(
                        format!("{}\n{}", request.method, request_fingerprint(request)).as_bytes(),
                    ),
                    context_id: context_id.clone(),
                    parameters: Map::new(),
                    expires_at: now + IDEMPOTENCY_TTL_SECONDS,
                };
                match self.contexts.claim_idempotency(&record, now).await? {
                    IdempotencyClaim::Claimed => Some(record),
                    IdempotencyClaim::Existing(first)
                        if first.request_hash != record.request_hash =>
                    {
                        return Err(ApiError::IdempotencyKeyReused)
                    }
                    IdempotencyClaim::Existing(first) => {
                        log.replayed = true;
                        let mut response = HttpResponse::change_accepted(&first.context_id, delete);
                        response
                            .headers
                            .push((REPLAYED_HEADER.to_ascii_lowercase(), "true".into()));
                        return Ok(response);
                    }
                }
            }
            None => None,
        };
        let accepted = match self
            .contexts
            .accept_change(&context_id, &app.name, delete, now)
            .await
        {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(refusal)) => {
                self.release(claim.as_ref()).await;
                return Err(match refusal {
                    ChangeRefusal::NotFound => ApiError::MessageNotFound,
                    ChangeRefusal::NotDelivered => ApiError::MessageNotDelivered,
                    ChangeRefusal::Deleted => ApiError::MessageDeleted,
                    ChangeRefusal::AlertGroup => ApiError::AlertMessageUnchangeable,
                });
            }
            Err(error) => {
                self.release(claim.as_ref()).await;
                return Err(error.into());
            }
        };
        if let Err(error) = self.queue.enqueue(&job(accepted.seq)).await {
            // Answered 503: the change never applies, and those after it do not wait for it.
            tracing::error!(%error, context_id = %loggable(&context_id), seq = accepted.seq, "queueing a change failed; voiding it");
            if let Err(error) = self
                .contexts
                .void_change(&context_id, accepted.seq, delete)
                .await
            {
                tracing::error!(%error, "could not void the change");
            }
            self.release(claim.as_ref()).await;
            return Err(ApiError::QueueUnavailable);
        }
        Ok(HttpResponse::change_accepted(&context_id, delete))
    }
}
