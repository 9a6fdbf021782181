//! The send API: authenticate, validate, write a context, queue one job.
//!
//! Nothing is written for a request that is refused, and a request whose job cannot be queued
//! leaves no context behind.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::credentials::{mask_email, sha256_hex, token_matches};
use crate::domain::{
    new_context_id, App, Context, DeliveryStatus, IdempotencyRecord, Target,
    IDEMPOTENCY_TTL_SECONDS,
};
use crate::error::ApiError;
use crate::http::{HttpRequest, HttpResponse, Route};
use crate::job::{Job, JobKind};
use crate::message::{parse_group_message, parse_user_message, MessageContent};
use crate::ports::{
    AppStore, Clock, ContextStore, GroupStore, IdempotencyClaim, JobQueue, StoreError,
};

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Set on an answer that repeats the first answer to the same `Idempotency-Key`.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// What the ingest function needs, built once per cold start.
#[derive(Clone)]
pub struct Ingest {
    pub apps: Arc<dyn AppStore>,
    pub groups: Arc<dyn GroupStore>,
    pub contexts: Arc<dyn ContextStore>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
}

/// What one request did, logged once when it ends.
#[derive(Default)]
struct RequestLog {
    route: &'static str,
    app: Option<String>,
    email: Option<String>,
    context_id: Option<String>,
    replayed: bool,
}

struct Accepted {
    context_id: String,
    parameters: Map<String, Value>,
    replayed: bool,
}

impl Ingest {
    pub async fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let started = Instant::now();
        let mut log = RequestLog {
            route: "unknown",
            ..Default::default()
        };
        let result = match Route::parse(&request.method, &request.path) {
            Ok(route) => {
                log.route = route.name();
                self.send(route, request, &mut log).await
            }
            Err(error) => Err(error),
        };
        let response = match &result {
            Ok(accepted) => {
                let mut response =
                    HttpResponse::accepted(&accepted.context_id, &accepted.parameters);
                if accepted.replayed {
                    response
                        .headers
                        .push((REPLAYED_HEADER.to_ascii_lowercase(), "true".into()));
                }
                response
            }
            Err(error) => HttpResponse::error(error),
        };
        let outcome = match &result {
            Ok(accepted) if accepted.replayed => "replayed",
            Ok(_) => "queued",
            Err(error) => error.outcome(),
        };
        tracing::info!(
            route = log.route,
            app = log.app.as_deref().unwrap_or(""),
            email = log.email.as_deref().map(mask_email).unwrap_or_default(),
            outcome,
            status = response.status,
            context_id = log.context_id.as_deref().unwrap_or(""),
            replayed = log.replayed,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "send request"
        );
        response
    }

    async fn send(
        &self,
        route: Route,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<Accepted, ApiError> {
        let idempotency_key = idempotency_key(request)?;
        match route {
            Route::GroupMessage { app, token } => {
                let app = self.app_by_name(&app, &token).await?;
                log.app = Some(app.name.clone());
                let message = parse_group_message(&request.body)?;
                let group_id = app.group_id.clone().ok_or(ApiError::NoGroupAssigned)?;
                let group = self
                    .groups
                    .group(&group_id)
                    .await
                    .map_err(internal)?
                    .ok_or(ApiError::GroupNotFound)?;
                if !group.active {
                    return Err(ApiError::GroupInactive);
                }
                if group.beatchat_id.as_deref().unwrap_or("").trim().is_empty() {
                    return Err(ApiError::GroupWithoutBeatchatId);
                }
                let pending = Pending {
                    target: Target::Group(group_id),
                    content: message.content,
                    parameters: message.parameters,
                };
                self.accept(&app, pending, idempotency_key, request, log)
                    .await
            }
            Route::UserMessage { token } => {
                let app = self.app_by_token(&token).await?;
                log.app = Some(app.name.clone());
                if !app.user_messaging {
                    return Err(ApiError::NoUserPermission);
                }
                let message = parse_user_message(&request.body)?;
                log.email = Some(message.email.clone());
                let pending = Pending {
                    target: Target::User(message.email),
                    content: message.content,
                    parameters: message.parameters,
                };
                self.accept(&app, pending, idempotency_key, request, log)
                    .await
            }
        }
    }

    async fn app_by_name(&self, name: &str, token: &str) -> Result<App, ApiError> {
        let app = self.apps.app_by_name(name).await.map_err(internal)?;
        // The token is hashed and compared even for an unknown app, so that timing does not
        // tell which app names exist.
        let stored_hash = app.as_ref().map(|a| a.token_hash.as_str()).unwrap_or("");
        let token_ok = token_matches(token, stored_hash);
        match app {
            Some(app) if token_ok && app.active => Ok(app),
            _ => Err(ApiError::GroupRouteNotAuthenticated),
        }
    }

    async fn app_by_token(&self, token: &str) -> Result<App, ApiError> {
        let hash = sha256_hex(token.as_bytes());
        match self.apps.app_by_token_hash(&hash).await.map_err(internal)? {
            Some(app) if app.active && token_matches(token, &app.token_hash) => Ok(app),
            _ => Err(ApiError::UserRouteNotAuthenticated),
        }
    }

    async fn accept(
        &self,
        app: &App,
        pending: Pending,
        idempotency_key: Option<&str>,
        request: &HttpRequest,
        log: &mut RequestLog,
    ) -> Result<Accepted, ApiError> {
        let now = self.clock.now();
        let context = Context {
            id: new_context_id(),
            app: app.name.clone(),
            target: pending.target,
            parameters: pending.parameters,
            status: DeliveryStatus::Queued,
            attempts: 0,
            last_error: None,
            fchat_message_id: None,
            created_at: now,
            expires_at: now + app.context_ttl_seconds,
        };
        let claim = match idempotency_key {
            Some(key) => {
                let record = IdempotencyRecord {
                    app: app.name.clone(),
                    key_hash: sha256_hex(key.as_bytes()),
                    request_hash: request_fingerprint(request),
                    context_id: context.id.clone(),
                    parameters: context.parameters.clone(),
                    expires_at: now + IDEMPOTENCY_TTL_SECONDS,
                };
                match self
                    .contexts
                    .claim_idempotency(&record, now)
                    .await
                    .map_err(internal)?
                {
                    IdempotencyClaim::Claimed => Some(record),
                    IdempotencyClaim::Existing(first) => {
                        if first.request_hash != record.request_hash {
                            return Err(ApiError::IdempotencyKeyReused);
                        }
                        log.context_id = Some(first.context_id.clone());
                        log.replayed = true;
                        return Ok(Accepted {
                            context_id: first.context_id,
                            parameters: first.parameters,
                            replayed: true,
                        });
                    }
                }
            }
            None => None,
        };
        log.context_id = Some(context.id.clone());

        if let Err(error) = self.contexts.create_context(&context).await {
            self.release(claim.as_ref()).await;
            return Err(internal(error));
        }
        let job = Job::new(job_kind(&context, pending.content));
        if let Err(error) = self.queue.enqueue(&job).await {
            tracing::error!(%error, context_id = %context.id, "queueing failed; withdrawing the context");
            if let Err(error) = self.contexts.delete_context(&context.id).await {
                tracing::error!(%error, context_id = %context.id, "could not withdraw the context");
            }
            self.release(claim.as_ref()).await;
            return Err(ApiError::QueueUnavailable);
        }
        Ok(Accepted {
            context_id: context.id,
            parameters: context.parameters,
            replayed: false,
        })
    }

    async fn release(&self, claim: Option<&IdempotencyRecord>) {
        if let Some(record) = claim {
            if let Err(error) = self
                .contexts
                .release_idempotency(&record.app, &record.key_hash)
                .await
            {
                tracing::error!(%error, "could not release an idempotency key");
            }
        }
    }
}

struct Pending {
    target: Target,
    content: MessageContent,
    parameters: Map<String, Value>,
}

fn job_kind(context: &Context, content: MessageContent) -> JobKind {
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

fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, ApiError> {
    match request.header(IDEMPOTENCY_HEADER) {
        None => Ok(None),
        Some(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        Some(_) => Err(ApiError::IdempotencyKeyInvalid),
    }
}

/// Ties an idempotency key to the route and body it was first used with.
fn request_fingerprint(request: &HttpRequest) -> String {
    let mut material = request.path.as_bytes().to_vec();
    material.push(b'\n');
    material.extend_from_slice(&request.body);
    sha256_hex(&material)
}

fn internal(error: StoreError) -> ApiError {
    tracing::error!(%error, "storage failure");
    ApiError::Internal
}
