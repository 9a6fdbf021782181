//! The send API: authenticate, validate, write a context, queue one job.
//!
//! Nothing is written for a request that is refused, and a request whose job cannot be queued
//! leaves no context behind.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::api::http::{HttpRequest, HttpResponse, Route};
use crate::api::validate::{
    alert_recipient, bearer_token, parse_alerts, parse_group_message, parse_user_message,
};
use crate::domain::conversation::Conversation;
use crate::domain::credentials::{mask_email, sha256_hex, token_matches};
use crate::domain::message::MessageContent;
use crate::domain::sources::alert_thread::ThreadStep;
use crate::domain::sources::alerts;
use crate::domain::{App, Context, IdempotencyRecord, Target, User, IDEMPOTENCY_TTL_SECONDS};
use crate::ports::{
    AppStore, Clock, ContextStore, FChat, GroupStore, IdempotencyClaim, JobQueue, SnsGate,
    UserStore,
};
use crate::services::outbox::{self, queue_message};

mod aws_sources;
mod hooks;
mod message_changes;
pub use aws_sources::API_KEY_HEADER;

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Set on an answer that repeats the first answer to the same `Idempotency-Key`.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// What the ingest function needs, built once per cold start.
#[derive(Clone)]
pub struct Ingest {
    pub apps: Arc<dyn AppStore>,
    pub groups: Arc<dyn GroupStore>,
    pub users: Arc<dyn UserStore>,
    pub contexts: Arc<dyn ContextStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Asked, briefly, about emails the gateway has not messaged yet.
    pub fchat: Arc<dyn FChat>,
    pub clock: Arc<dyn Clock>,
    /// Amazon SNS's signing certificates and subscription confirmations.
    pub sns: Arc<dyn SnsGate>,
}

/// How long FChat's "no such user" is believed.
pub const UNKNOWN_USER_MEMORY_SECONDS: u64 = 10 * 60;

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
            Ok(Route::MessageStatus { token, context_id }) => {
                log.route = "message_status";
                self.status(&token, &context_id, &mut log).await
            }
            Ok(Route::Sns { app, token }) => {
                log.route = "sns";
                self.sns(&app, &token, request, &mut log).await
            }
            Ok(route @ (Route::EditMessage { .. } | Route::DeleteMessage { .. })) => {
                log.route = route.name();
                self.change(route, request, &mut log).await
            }
            Ok(route) => {
                log.route = route.name();
                self.send(route, request, &mut log).await.map(|accepted| {
                    let mut response =
                        HttpResponse::accepted(&accepted.context_id, &accepted.parameters);
                    if accepted.replayed {
                        response
                            .headers
                            .push((REPLAYED_HEADER.to_ascii_lowercase(), "true".into()));
                    }
                    response
                })
            }
            Err(error) => Err(error),
        };
        let outcome = match &result {
            Ok(_) if log.replayed => "replayed",
            Ok(_) if log.route == "message_status" => "answered",
            // An SNS subscription confirmed or an unsubscription noted: nothing queued.
            Ok(_) if log.context_id.is_none() => "answered",
            Ok(_) => "queued",
            Err(error) => error.outcome(),
        };
        crate::metrics::events::request(
            log.route,
            outcome,
            result.as_ref().err(),
            log.app.as_deref(),
        );
        let response = result.unwrap_or_else(|error| HttpResponse::error(&error));
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
                let pending = Pending {
                    target: self.group_target(&app).await?,
                    content: message.content,
                    parameters: message.parameters,
                    thread: None,
                    single_use: message.single_use,
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
                self.check_user_exists(&message.email).await?;
                let pending = Pending {
                    target: Target::User(message.email),
                    content: message.content,
                    parameters: message.parameters,
                    thread: None,
                    single_use: message.single_use,
                };
                self.accept(&app, pending, idempotency_key, request, log)
                    .await
            }
            Route::Alerts { app, token, source } => {
                let token = match &token {
                    Some(token) => token.as_str(),
                    None => bearer_token(request.header("authorization"))?,
                };
                let app = self.app_by_name(&app, token).await?;
                log.app = Some(app.name.clone());
                let recipient = alert_recipient(&request.query)?;
                let notification = parse_alerts(source, &request.body)?;
                let target = self.source_target(&app, recipient, log).await?;
                let template = app.alert_templates.get(source.name()).map(String::as_str);
                let thread = notification.thread_step(
                    &thread_scope(&app, &target),
                    app.alerting.reminders,
                    received_at_ms(),
                );
                let keyboard = alert_keyboard(&app, &notification, thread.as_ref());
                let pending = Pending {
                    target,
                    content: MessageContent {
                        text: alerts::render(&notification, template),
                        keyboard,
                    },
                    parameters: Map::new(),
                    thread,
                    single_use: false,
                };
                self.accept(&app, pending, idempotency_key, request, log)
                    .await
            }
            Route::Events { app, token } => self.events(&app, &token, request, log).await,
            Route::Hook { app, token, name } => {
                self.hook(&app, &token, &name, idempotency_key, request, log)
                    .await
            }
            Route::MessageStatus { .. }
            | Route::Sns { .. }
            | Route::EditMessage { .. }
            | Route::DeleteMessage { .. } => Err(ApiError::RouteNotFound),
        }
    }

    /// The app's group, as the group route checks it: assigned, existing, active, and with
    /// its FChat chat id.
    async fn group_target(&self, app: &App) -> Result<Target, ApiError> {
        let group_id = app.group_id.clone().ok_or(ApiError::NoGroupAssigned)?;
        let group = self
            .groups
            .group(&group_id)
            .await?
            .ok_or(ApiError::GroupNotFound)?;
        if !group.active {
            return Err(ApiError::GroupInactive);
        }
        if group.beatchat_id.as_deref().unwrap_or("").trim().is_empty() {
            return Err(ApiError::GroupWithoutBeatchatId);
        }
        Ok(Target::Group(group_id))
    }

    /// Where a source's message goes: the app's group, or `?email=`'s user as the user route
    /// allows it (the app may message users, and FChat knows the user).
    async fn source_target(
        &self,
        app: &App,
        recipient: Option<String>,
        log: &mut RequestLog,
    ) -> Result<Target, ApiError> {
        match recipient {
            Some(email) => {
                if !app.user_messaging {
                    return Err(ApiError::NoUserPermission);
                }
                log.email = Some(email.clone());
                self.check_user_exists(&email).await?;
                Ok(Target::User(email))
            }
            None => self.group_target(app).await,
        }
    }

    /// `GET /{token}/messages/{id}`: the delivery status, to the app that sent it only.
    async fn status(
        &self,
        token: &str,
        context_id: &str,
        log: &mut RequestLog,
    ) -> Result<HttpResponse, ApiError> {
        let app = self.app_by_token(token).await?;
        log.app = Some(app.name.clone());
        // The id is the caller's until it is found: bounded and escaped in the log line.
        log.context_id = Some(crate::logging::loggable(context_id));
        let context = self
            .contexts
            .context_record(context_id)
            .await?
            .filter(|c| c.app == app.name)
            .ok_or(ApiError::MessageNotFound)?;
        Ok(HttpResponse::status(&context, self.clock.now()))
    }

    /// The contract's `User {email} not found!`, asked of FChat only for an email the gateway
    /// has not messaged yet. If FChat cannot answer, the message is accepted and delivery
    /// decides.
    async fn check_user_exists(&self, email: &str) -> Result<(), ApiError> {
        if self.users.user(email).await?.is_some() {
            return Ok(());
        }
        let now = self.clock.now();
        if self.users.known_unknown(email, now).await? {
            return Err(ApiError::UserNotFound(email.to_owned()));
        }
        match self.fchat.find_user(email).await {
            Ok(Some(found)) => {
                let user = User {
                    email: email.to_owned(),
                    fchat_id: found.id,
                    name: found.name,
                    created_at: now,
                    last_context_id: None,
                };
                self.users.put_user(&user).await?;
                Ok(())
            }
            Ok(None) => {
                self.users
                    .remember_unknown(email, now + UNKNOWN_USER_MEMORY_SECONDS)
                    .await?;
                Err(ApiError::UserNotFound(email.to_owned()))
            }
            Err(error) => {
                tracing::warn!(%error, "FChat could not say whether the user exists; accepting");
                Ok(())
            }
        }
    }

    async fn app_by_name(&self, name: &str, token: &str) -> Result<App, ApiError> {
        let app = self.apps.app_by_name(name).await?;
        // The token is hashed and compared even for an unknown app, so that timing does not
        // tell which app names exist.
        let now = self.clock.now();
        let token_ok = match &app {
            Some(app) => app.accepts_token(token, now),
            None => token_matches(token, ""),
        };
        match app {
            Some(app) if token_ok && app.active => Ok(app),
            _ => Err(ApiError::GroupRouteNotAuthenticated),
        }
    }

    async fn app_by_token(&self, token: &str) -> Result<App, ApiError> {
        let hash = sha256_hex(token.as_bytes());
        match self.apps.app_by_token_hash(&hash).await? {
            Some(app) if app.active && app.accepts_token_hash(&hash, self.clock.now()) => Ok(app),
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
        let mut context = Context::queued(app, pending.target, pending.parameters, now);
        context.conversation = Conversation::new(
            &pending.content,
            pending.single_use,
            pending.thread.is_some(),
        );
        // A message the queue could not take is refused before anything is written.
        let job = outbox::job(&context, pending.content, pending.thread)?;
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
                match self.contexts.claim_idempotency(&record, now).await? {
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

        if let Err(error) =
            queue_message(self.contexts.as_ref(), self.queue.as_ref(), &context, job).await
        {
            self.release(claim.as_ref()).await;
            return Err(error);
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
    /// For an alert notification with a group key: how it moves its group's message.
    thread: Option<ThreadStep>,
    /// `reply_markup.singleUse`: the first click answers the buttons for everyone.
    single_use: bool,
}

/// The buttons of an alert group's message: "Silence 1h" and "Silence 24h" while it fires,
/// when the app has an Alertmanager to silence it in; "Acknowledge" for the app's webhook,
/// when it has one.
fn alert_keyboard(
    app: &App,
    notification: &alerts::AlertNotification,
    thread: Option<&ThreadStep>,
) -> Vec<Vec<crate::domain::message::Button>> {
    let mut row = Vec::new();
    let silenceable = notification.source == alerts::AlertSource::Alertmanager
        && app.alerting.alertmanager.is_some()
        && !notification.resolved();
    if let Some(thread) = thread.filter(|t| silenceable && !t.labels.is_empty()) {
        row.extend(alerts::silence_buttons(&thread.key));
    }
    if app.webhook_url.is_some() && !notification.resolved() {
        row.push(crate::domain::message::Button {
            text: "Acknowledge".into(),
            callback_data: serde_json::json!({
                "action": "acknowledge",
                "data": notification.group_key().unwrap_or_default(),
            }),
        });
    }
    if row.is_empty() {
        Vec::new()
    } else {
        vec![row]
    }
}

/// What keeps two apps' (or two recipients') messages of the same alert group apart.
fn thread_scope(app: &App, target: &Target) -> String {
    match target {
        Target::Group(group_id) => format!("{}\ngroup\n{group_id}", app.name),
        Target::User(email) => format!("{}\nuser\n{email}", app.name),
    }
}

/// Now, in milliseconds: orders the notifications of one alert group. Strictly increasing
/// within one instance, so that two notifications it accepts in the same millisecond (a
/// firing and its resolution, say) keep the order in which they were answered.
fn received_at_ms() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = crate::metrics::now_ms();
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or_default();
    now.max(previous + 1)
}

fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, ApiError> {
    match request.header(IDEMPOTENCY_HEADER) {
        None => Ok(None),
        Some(key)
            if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key))
        }
        Some(_) => Err(ApiError::IdempotencyKeyInvalid),
    }
}

/// Ties an idempotency key to the route and body it was first used with.
fn request_fingerprint(request: &HttpRequest) -> String {
    let mut material = request.path.as_bytes().to_vec();
    if !request.query.is_empty() {
        material.push(b'?');
        material.extend_from_slice(request.query.as_bytes());
    }
    material.push(b'\n');
    material.extend_from_slice(&request.body);
    sha256_hex(&material)
}

#[cfg(test)]
mod tests;
