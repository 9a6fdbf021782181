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
use crate::domain::alerts;
use crate::domain::conversation::Conversation;
use crate::domain::credentials::{mask_email, sha256_hex, token_matches};
use crate::domain::message::MessageContent;
use crate::domain::thread::ThreadStep;
use crate::domain::{App, Context, IdempotencyRecord, Target, User, IDEMPOTENCY_TTL_SECONDS};
use crate::ports::{
    AppStore, Clock, ContextStore, FChat, GroupStore, IdempotencyClaim, JobQueue, SnsGate,
    UserStore,
};
use crate::services::outbox::{self, queue_message};

mod aws_sources;
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
                let target = match recipient {
                    // As the user route: the app may message users, and FChat knows the user.
                    Some(email) => {
                        if !app.user_messaging {
                            return Err(ApiError::NoUserPermission);
                        }
                        log.email = Some(email.clone());
                        self.check_user_exists(&email).await?;
                        Target::User(email)
                    }
                    None => self.group_target(&app).await?,
                };
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

/// Now, in milliseconds: orders the notifications of one alert group.
fn received_at_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
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
mod tests {
    use super::*;
    use crate::adapters::memory::{FixedClock, MemoryFChat, MemoryQueue, MemoryStore};
    use crate::domain::job::{Job, JobKind};
    use crate::domain::{DeliveryStatus, Group};
    use crate::ports::{AttemptOutcome, UserStore};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    struct World {
        ingest: Ingest,
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        fchat: Arc<MemoryFChat>,
        clock: Arc<FixedClock>,
    }

    fn app(name: &str, token: &str, group: Option<&str>, user_messaging: bool) -> App {
        App {
            name: name.into(),
            token_hash: sha256_hex(token.as_bytes()),
            group_id: group.map(Into::into),
            user_messaging,
            webhook_url: None,
            webhook_secrets: vec![],
            context_ttl_seconds: 600,
            delivery_window_seconds: 86_400,
            active: true,
            previous_token: None,
            older_secrets_until: None,
            alert_templates: Default::default(),
            alerting: Default::default(),
            sns: Default::default(),
        }
    }

    fn group(id: &str, beatchat_id: Option<&str>, active: bool) -> Group {
        Group {
            id: id.into(),
            beatchat_id: beatchat_id.map(Into::into),
            active,
            name: None,
        }
    }

    /// GIVEN apps for every prerequisite the contract names.
    async fn world() -> World {
        let store = Arc::new(MemoryStore::default());
        for a in [
            app("alerts", "tok-alerts", Some("ops"), true),
            app("groupless", "tok-groupless", None, false),
            app("orphan", "tok-orphan", Some("missing"), false),
            app("sleepy", "tok-sleepy", Some("archive"), false),
            app("nameless", "tok-nameless", Some("no-beatchat"), false),
            app("grouponly", "tok-grouponly", Some("ops"), false),
            App {
                active: false,
                ..app("disabled", "tok-disabled", Some("ops"), true)
            },
        ] {
            store.put_app(&a).await.unwrap();
        }
        for g in [
            group("ops", Some("beatchat-1"), true),
            group("archive", Some("beatchat-2"), false),
            group("no-beatchat", None, true),
        ] {
            store.put_group(&g).await.unwrap();
        }
        let queue = Arc::new(MemoryQueue::default());
        let clock = Arc::new(FixedClock::at(NOW));
        let fchat = Arc::new(MemoryFChat::default());
        for email in ["a@b.co", "user@example.com", "secret.person@example.com"] {
            fchat.add_user(email, &format!("fchat-{email}"));
        }
        let ingest = Ingest {
            apps: store.clone(),
            groups: store.clone(),
            users: store.clone(),
            contexts: store.clone(),
            queue: queue.clone(),
            fchat: fchat.clone(),
            clock: clock.clone(),
            sns: Arc::new(crate::adapters::sns::SnsClient::new(false)),
        };
        World {
            ingest,
            store,
            queue,
            fchat,
            clock,
        }
    }

    fn post(path: &str, body: Value) -> HttpRequest {
        HttpRequest {
            query: String::new(),
            method: "POST".into(),
            path: path.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn with_key(mut request: HttpRequest, key: &str) -> HttpRequest {
        request.headers.push(("Idempotency-Key".into(), key.into()));
        request
    }

    fn answer(response: &HttpResponse) -> (u16, Value) {
        (
            response.status,
            serde_json::from_str(&response.body).unwrap(),
        )
    }

    fn error(status: u16, description: &str) -> (u16, Value) {
        (
            status,
            json!({"ok": false, "error_code": status, "description": description}),
        )
    }

    impl World {
        async fn send(&self, request: HttpRequest) -> (u16, Value) {
            answer(&self.ingest.handle(&request).await)
        }

        /// THEN nothing was written and nothing queued.
        fn assert_unchanged(&self) {
            assert!(self.store.contexts().is_empty(), "a context was written");
            assert!(self.queue.jobs().is_empty(), "a job was queued");
        }
    }

    fn alert_post(path: &str, body: &str, bearer: Option<&str>) -> HttpRequest {
        let mut request = post(path, Value::Null);
        request.body = body.as_bytes().to_vec();
        if let Some(token) = bearer {
            request
                .headers
                .push(("Authorization".into(), format!("Bearer {token}")));
        }
        request
    }

    fn job_text(job: &Job) -> &str {
        match &job.kind {
            JobKind::SendGroup { content, .. }
            | JobKind::SendUser { content, .. }
            | JobKind::SendAlert { content, .. } => &content.text,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_alert_uses_the_apps_own_template_for_its_source_only() {
        let w = world().await;
        let mut app = w.store.app_by_name("grouponly").await.unwrap().unwrap();
        app.alert_templates.insert(
            "grafana".into(),
            "{{ status }} on {% for a in alerts %}{{ a.labels.host }};{% endfor %}".into(),
        );
        w.store.put_app(&app).await.unwrap();
        let grafana = crate::domain::alerts::AlertSource::Grafana.sample_payload();
        let am = crate::domain::alerts::AlertSource::Alertmanager.sample_payload();
        let (status, body) = w
            .send(alert_post(
                "/grouponly/grafana",
                grafana,
                Some("tok-grouponly"),
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = w
            .send(alert_post(
                "/webhooks/grouponly/tok-grouponly/alertmanager",
                am,
                None,
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let jobs = w.queue.jobs();
        assert_eq!(jobs.len(), 2);
        assert_eq!(job_text(&jobs[0]), "firing on web-3;web-5;");
        assert!(job_text(&jobs[1]).starts_with("[FIRING:2] DiskAlmostFull (critical)"));
    }

    #[tokio::test]
    async fn a_refused_alert_changes_nothing() {
        let w = world().await;
        let am = crate::domain::alerts::AlertSource::Alertmanager.sample_payload();
        for (request, expected) in [
            (
                alert_post("/alerts/alertmanager", am, None),
                error(
                    401,
                    "Unauthorized: send the app's token as Authorization: Bearer <token>",
                ),
            ),
            (
                alert_post("/alerts/alertmanager", am, Some("tok-grouponly")),
                error(404, "Channel or token not found"),
            ),
            (
                alert_post("/disabled/tok-disabled/alertmanager", am, None),
                error(404, "Channel or token not found"),
            ),
            (
                alert_post("/groupless/tok-groupless/alertmanager", am, None),
                error(404, "Application does not have a group assigned"),
            ),
            (
                alert_post("/orphan/tok-orphan/alertmanager", am, None),
                error(404, "Group not found"),
            ),
            (
                alert_post("/sleepy/tok-sleepy/alertmanager", am, None),
                error(400, "Bad Request: group is not active"),
            ),
            (
                alert_post("/nameless/tok-nameless/alertmanager", am, None),
                error(400, "Bad Request: beatchat group id not found"),
            ),
            (
                alert_post("/alerts/tok-alerts/grafana", am, None),
                error(
                    400,
                    "Bad Request: body is not a Grafana webhook payload (unified alerting)",
                ),
            ),
            (
                HttpRequest {
                    query: "email=ghost%40example.com".into(),
                    ..alert_post("/alerts/tok-alerts/alertmanager", am, None)
                },
                error(404, "User ghost@example.com not found!"),
            ),
            (
                HttpRequest {
                    query: "email=a%40b.co".into(),
                    ..alert_post("/grouponly/tok-grouponly/alertmanager", am, None)
                },
                error(404, "this app have not permission to send fchat message"),
            ),
        ] {
            let path = request.path.clone();
            assert_eq!(w.send(request).await, expected, "{path}");
        }
        w.assert_unchanged();
    }

    #[tokio::test]
    async fn a_group_message_writes_a_context_and_queues_one_job() {
        let w = world().await;
        let (status, body) = w
            .send(post(
                "/alerts/tok-alerts",
                json!({"text": "disk full", "parameters": {"host": "db1"}}),
            ))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["description"], "Message sent to queue");
        assert_eq!(body["context"]["parameters"], json!({"host": "db1"}));
        let id = body["context"]["id"].as_str().unwrap();

        let contexts = w.store.contexts();
        assert_eq!(contexts.len(), 1);
        let context = &contexts[0];
        assert_eq!(context.id, id);
        assert_eq!(context.app, "alerts");
        assert_eq!(context.target, Target::Group("ops".into()));
        assert_eq!(context.status, DeliveryStatus::Queued);
        // Retried for the app's delivery window, then answerable for its reply window.
        assert_eq!(context.deliver_by, NOW + 86_400);
        assert_eq!(context.reply_window_seconds, 600);
        assert_eq!(context.expires_at, NOW + 86_400 + 600);

        assert_eq!(
            w.queue.jobs(),
            vec![Job::new(JobKind::SendGroup {
                context_id: id.into(),
                app: "alerts".into(),
                group_id: "ops".into(),
                content: MessageContent {
                    text: "disk full".into(),
                    keyboard: vec![]
                },
            })]
        );
    }

    #[tokio::test]
    async fn a_user_message_with_buttons_is_queued_for_the_lowercased_email() {
        let w = world().await;
        let body = json!({
            "email": " User@Example.com ", "text": "Approve this request?",
            "reply_markup": {"inlineKeyboard": [[
                {"text": "Yes", "callbackData": {"action": "confirm", "data": "yes"}},
                {"text": "No", "callbackData": {"action": "confirm", "data": "no"}}]]}
        });
        let (status, _) = w.send(post("/webhooks/tok-alerts/fchat", body)).await;
        // The user was looked up once and is now the gateway's.
        assert_eq!(w.fchat.lookups(), 1);
        assert!(w.store.user("user@example.com").await.unwrap().is_some());
        assert_eq!(status, 200);
        let jobs = w.queue.jobs();
        let JobKind::SendUser { email, content, .. } = &jobs[0].kind else {
            panic!("not a user job: {jobs:?}");
        };
        assert_eq!(email, "user@example.com");
        assert_eq!(content.keyboard[0].len(), 2);
        assert_eq!(
            w.store.contexts()[0].target,
            Target::User("user@example.com".into())
        );
    }

    #[tokio::test]
    async fn every_group_error_of_the_contract_answers_its_status_and_changes_nothing() {
        let text = json!({"text": "hello"});
        let cases = [
            (
                "/nobody/tok-alerts",
                text.clone(),
                error(404, "Channel or token not found"),
            ),
            (
                "/alerts/wrong-token",
                text.clone(),
                error(404, "Channel or token not found"),
            ),
            (
                "/disabled/tok-disabled",
                text.clone(),
                error(404, "Channel or token not found"),
            ),
            (
                "/groupless/tok-groupless",
                text.clone(),
                error(404, "Application does not have a group assigned"),
            ),
            (
                "/orphan/tok-orphan",
                text.clone(),
                error(404, "Group not found"),
            ),
            (
                "/sleepy/tok-sleepy",
                text.clone(),
                error(400, "Bad Request: group is not active"),
            ),
            (
                "/nameless/tok-nameless",
                text.clone(),
                error(400, "Bad Request: beatchat group id not found"),
            ),
            (
                "/alerts/tok-alerts",
                json!({"text": ""}),
                error(400, "Bad Request: message text is empty"),
            ),
            (
                "/alerts/tok-alerts",
                json!({"text": "x".repeat(2001)}),
                error(400, "Bad Request: message is too long"),
            ),
        ];
        for (path, body, expected) in cases {
            let w = world().await;
            assert_eq!(
                w.send(post(path, body.clone())).await,
                expected,
                "{path} {body}"
            );
            w.assert_unchanged();
        }
    }

    #[tokio::test]
    async fn every_user_error_of_the_contract_answers_its_status_and_changes_nothing() {
        let thirty_one: Vec<Value> = (0..31).map(|i| json!({"text": format!("b{i}")})).collect();
        let cases = [
            (
                "/wrong/fchat",
                json!({"email": "a@b.co", "text": "x"}),
                error(404, "channel or token not found"),
            ),
            (
                "/tok-disabled/fchat",
                json!({"email": "a@b.co", "text": "x"}),
                error(404, "channel or token not found"),
            ),
            (
                "/tok-grouponly/fchat",
                json!({"email": "a@b.co", "text": "x"}),
                error(404, "this app have not permission to send fchat message"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"text": "x"}),
                error(400, "Bad Request: email is empty"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "a@b.co"}),
                error(400, "Bad Request: message text is empty"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "a@b.co", "message": "ệ".repeat(2001)}),
                error(400, "Bad Request: message is too long"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "a@b.co", "text": "x", "reply_markup": []}),
                error(400, "Bad Request: reply_markup must be a dictionary"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [1]}}),
                error(
                    400,
                    "Bad Request: inlineKeyboard must be a list of list of dicts",
                ),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "a@b.co", "text": "x", "reply_markup": {"inlineKeyboard": [thirty_one]}}),
                error(400, "Limit 30 buttons"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "a@b.co", "text": "x", "buttons": "a"}),
                error(400, "Bad Request: invalid request"),
            ),
            (
                "/tok-alerts/fchat",
                json!({"email": "ghost@example.com", "text": "x"}),
                error(404, "User ghost@example.com not found!"),
            ),
        ];
        for (path, body, expected) in cases {
            let w = world().await;
            assert_eq!(
                w.send(post(path, body.clone())).await,
                expected,
                "{path} {body}"
            );
            w.assert_unchanged();
        }
    }

    #[tokio::test]
    async fn input_the_contract_does_not_list_gets_a_clear_4xx() {
        let w = world().await;
        let raw = |path: &str, body: &[u8]| HttpRequest {
            query: String::new(),
            method: "POST".into(),
            path: path.into(),
            headers: vec![],
            body: body.to_vec(),
        };
        let cases = [
            (
                raw("/alerts/tok-alerts", b"{oops"),
                error(400, "Bad Request: body is not valid JSON"),
            ),
            (
                raw("/tok-alerts/fchat", b"[]"),
                error(400, "Bad Request: body must be a JSON object"),
            ),
            (
                raw("/tok-alerts/fchat", br#"{"email":"nope","text":"x"}"#),
                error(400, "Bad Request: email is not a valid email address"),
            ),
            (
                raw("/tok-alerts/fchat", &vec![b' '; 70_000]),
                error(413, "Payload Too Large: body exceeds 65536 bytes"),
            ),
            (raw("/a/b/c", b"{}"), error(404, "Not Found: no such route")),
            (
                HttpRequest {
                    query: String::new(),
                    method: "GET".into(),
                    ..raw("/alerts/tok-alerts", b"")
                },
                error(405, "Method Not Allowed: this route accepts POST only"),
            ),
            (
                with_key(raw("/alerts/tok-alerts", br#"{"text":"x"}"#), "bad key"),
                error(
                    400,
                    "Bad Request: Idempotency-Key must be 1 to 255 printable ASCII characters",
                ),
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(
                w.send(request.clone()).await,
                expected,
                "{} {}",
                request.method,
                request.path
            );
        }
        w.assert_unchanged();
    }

    #[tokio::test]
    async fn a_queue_failure_answers_503_and_leaves_no_context() {
        let w = world().await;
        w.queue.fail(true);
        let request = with_key(post("/alerts/tok-alerts", json!({"text": "x"})), "k-1");
        assert_eq!(
            w.send(request.clone()).await,
            error(
                503,
                "Service Unavailable: the message could not be queued, please retry"
            )
        );
        w.assert_unchanged();

        // The same Idempotency-Key goes through once the queue is back.
        w.queue.fail(false);
        assert_eq!(w.send(request).await.0, 200);
        assert_eq!(w.queue.jobs().len(), 1);
        assert_eq!(w.store.contexts().len(), 1);
    }

    #[tokio::test]
    async fn a_retried_idempotent_request_returns_the_first_context_without_queueing() {
        let w = world().await;
        let request = with_key(
            post(
                "/tok-alerts/fchat",
                json!({"email": "a@b.co", "text": "x", "parameters": {"n": 1}}),
            ),
            "order-7",
        );
        let first = w.ingest.handle(&request).await;
        let again = w.ingest.handle(&request).await;
        assert_eq!(first.body, again.body);
        assert!(again
            .headers
            .contains(&("idempotent-replayed".into(), "true".into())));
        assert!(!first
            .headers
            .iter()
            .any(|(name, _)| name == "idempotent-replayed"));
        assert_eq!(w.queue.jobs().len(), 1);
        assert_eq!(w.store.contexts().len(), 1);

        // The same key with another body is refused.
        let other = with_key(
            post("/tok-alerts/fchat", json!({"email": "a@b.co", "text": "y"})),
            "order-7",
        );
        assert_eq!(
            w.send(other).await,
            error(
                422,
                "Unprocessable Entity: Idempotency-Key was already used with a different request"
            )
        );

        // After 24 hours the key is forgotten.
        w.clock.advance(IDEMPOTENCY_TTL_SECONDS);
        let later = w.ingest.handle(&request).await;
        assert_eq!(later.status, 200);
        assert_ne!(later.body, first.body);
        assert_eq!(w.queue.jobs().len(), 2);
    }

    #[tokio::test]
    async fn an_unknown_email_is_remembered_so_fchat_is_asked_once() {
        let w = world().await;
        let request = post(
            "/tok-alerts/fchat",
            json!({"email": "typo@example.con", "text": "x"}),
        );
        for _ in 0..3 {
            assert_eq!(
                w.send(request.clone()).await,
                error(404, "User typo@example.con not found!")
            );
        }
        assert_eq!(w.fchat.lookups(), 1);
        w.assert_unchanged();
        // Briefly: after ten minutes FChat is asked again.
        w.clock.advance(UNKNOWN_USER_MEMORY_SECONDS);
        w.send(request).await;
        assert_eq!(w.fchat.lookups(), 2);
    }

    #[tokio::test]
    async fn when_fchat_cannot_be_reached_the_message_is_accepted_for_delivery_to_decide() {
        let w = world().await;
        w.fchat.set_unreachable(true);
        let (status, _) = w
            .send(post(
                "/tok-alerts/fchat",
                json!({"email": "new@example.com", "text": "x"}),
            ))
            .await;
        assert_eq!(status, 200);
        assert_eq!(w.queue.jobs().len(), 1);
    }

    #[tokio::test]
    async fn the_status_route_reports_delivery_to_the_sending_app_only() {
        let w = world().await;
        let (_, body) = w
            .send(post(
                "/alerts/tok-alerts",
                json!({"text": "x", "parameters": {"k": 1}}),
            ))
            .await;
        let id = body["context"]["id"].as_str().unwrap().to_owned();
        let get = |path: String| HttpRequest {
            query: String::new(),
            method: "GET".into(),
            path,
            headers: vec![],
            body: vec![],
        };

        let (status, body) = w.send(get(format!("/tok-alerts/messages/{id}"))).await;
        assert_eq!(status, 200);
        assert_eq!(body["context"]["status"], "queued");
        assert_eq!(body["context"]["parameters"], json!({"k": 1}));

        w.store.begin_sending(&id, NOW, NOW + 30).await.unwrap();
        w.store
            .finish_sending(
                &id,
                &AttemptOutcome::Sent {
                    fchat_message_id: "m-9".into(),
                    reply_until: NOW + 600,
                    clickable: false,
                },
                NOW,
            )
            .await
            .unwrap();
        let (_, body) = w
            .send(get(format!("/webhooks/tok-alerts/messages/{id}")))
            .await;
        assert_eq!(body["context"]["status"], "sent");
        assert_eq!(body["context"]["fchat_message_id"], "m-9");
        assert_eq!(body["context"]["attempts"], 1);

        // Another app, a wrong token, an unknown id.
        assert_eq!(
            w.send(get(format!("/tok-grouponly/messages/{id}"))).await,
            error(404, "Not Found: no such message")
        );
        assert_eq!(
            w.send(get(format!("/nope/messages/{id}"))).await,
            error(404, "channel or token not found")
        );
        assert_eq!(
            w.send(get("/tok-alerts/messages/unknown".into())).await,
            error(404, "Not Found: no such message")
        );
    }

    #[tokio::test]
    async fn a_message_still_queued_when_its_delivery_window_ends_reads_expired() {
        let w = world().await;
        let (_, body) = w
            .send(post("/alerts/tok-alerts", json!({"text": "x"})))
            .await;
        let id = body["context"]["id"].as_str().unwrap();
        w.clock.advance(86_400);
        let request = HttpRequest {
            query: String::new(),
            method: "GET".into(),
            path: format!("/tok-alerts/messages/{id}"),
            headers: vec![],
            body: vec![],
        };
        let (_, body) = w.send(request).await;
        assert_eq!(body["context"]["status"], "expired");
    }

    #[tokio::test]
    async fn a_rotated_token_keeps_working_for_its_grace_period_only() {
        let w = world().await;
        let mut alerts = w.store.app_by_name("alerts").await.unwrap().unwrap();
        alerts.previous_token = Some((alerts.token_hash.clone(), NOW + 60));
        alerts.token_hash = sha256_hex(b"tok-new");
        w.store.put_app(&alerts).await.unwrap();
        let body = json!({"email": "a@b.co", "text": "x"});
        for path in ["/tok-new/fchat", "/tok-alerts/fchat"] {
            assert_eq!(w.send(post(path, body.clone())).await.0, 200, "{path}");
        }
        assert_eq!(
            w.send(post("/alerts/tok-alerts", json!({"text": "x"})))
                .await
                .0,
            200
        );
        w.clock.advance(60);
        assert_eq!(
            w.send(post("/tok-alerts/fchat", body.clone())).await,
            error(404, "channel or token not found")
        );
        assert_eq!(
            w.send(post("/alerts/tok-alerts", json!({"text": "x"})))
                .await,
            error(404, "Channel or token not found")
        );
        assert_eq!(w.send(post("/tok-new/fchat", body)).await.0, 200);
    }
}
