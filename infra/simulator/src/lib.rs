//! The FChat side of `docs/fchat-api.md`, served on loopback.
//!
//! FChat's bot API is not public, so the gateway is developed and tested against this
//! simulator: it answers `POST /sendMessage` and `GET /getUserByEmail` as the contract says,
//! records what it accepted, and can be told to misbehave ([`Faults`]) so that the gateway's
//! retry, backoff and once-only delivery can be exercised without the real service.
//!
//! It also plays FChat's users towards the gateway: [`Simulator::act_text`],
//! [`Simulator::act_click`] and [`Simulator::act_room`] post the updates of the contract's
//! last section ("FChat calls the gateway back") to the gateway's callback route.
//!
//! Tests drive it through the [`Simulator`] handle; a running binary is driven over HTTP
//! through the `/_sim/...` control endpoints, which mirror the handle's methods.
//!
//! The [`receiver`] module is the other end of the gateway: a demo app webhook that checks
//! the gateway's signatures.

pub mod receiver;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

/// Bigger bodies are refused: nothing the gateway sends comes close, and a bound keeps a
/// runaway client from exhausting memory.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a "hung" call holds its connection: longer than any sane client timeout, short
/// enough that a forgotten simulator does not pile up connections forever.
const HANG: Duration = Duration::from_secs(60);

/// The longest chat id `POST /_sim/groups` takes: ids end up in DynamoDB keys and URLs.
const MAX_CHAT_ID_CHARS: usize = 256;

/// How long the gateway may take to answer an update: it forwards to an app's webhook (5 s at
/// most) before answering, so this leaves room for a slow local stack.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The header carrying the shared callback secret.
const CALLBACK_SECRET_HEADER: &str = "x-fchat-secret";

/// The room events of the contract.
const ROOM_EVENTS: [&str; 4] = ["JOIN_ROOM", "ADD_MEMBERS", "DELETE_MEMBERS", "MESSAGE"];

/// Someone FChat knows, as `getUserByEmail` returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    pub email: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a simulator starts with.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// The only token accepted in `Authorization: Bearer <token>`.
    pub bot_token: String,
    /// The directory `getUserByEmail` searches; their ids are also valid `chat_id`s.
    pub users: Vec<SimUser>,
    /// The group chats that exist (rooms, a gateway group's `beatchat_id`), by id; any other
    /// `chat_id` that is not a user's is "chat not found", as in FChat.
    pub groups: Vec<String>,
}

/// A message `sendMessage` accepted: what a test asserts the gateway delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub chat_id: String,
    pub text: String,
    pub reply_markup: Option<Value>,
    pub client_message_id: Option<String>,
    pub received_at_ms: u64,
}

/// Misbehaviour to inject, so the gateway's handling of a flaky FChat can be tested.
///
/// Counters apply to `sendMessage` only and are consumed one per call: after the latency, the
/// first non-zero of `drop_next`, `hang_next`, `rate_limit_next`, `fail_next` (in that order)
/// decides the call's fate and is decremented. They act before authentication and validation,
/// as an overloaded or broken front end would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Added to every FChat API request (not to the `/_sim/` control endpoints, so that a
    /// test can always reset a slow simulator quickly).
    #[serde(default)]
    pub latency_ms: u64,
    /// The next N `sendMessage` calls fail with `fail_status`.
    #[serde(default)]
    pub fail_next: u32,
    /// Status of a simulated failure; an invalid HTTP status falls back to 500.
    #[serde(default = "default_fail_status")]
    pub fail_status: u16,
    /// The next N `sendMessage` calls answer 429 with `parameters.retry_after`.
    #[serde(default)]
    pub rate_limit_next: u32,
    /// Seconds announced by a simulated 429.
    #[serde(default = "default_retry_after")]
    pub retry_after: u64,
    /// The next N `sendMessage` calls close the connection without any answer.
    #[serde(default)]
    pub drop_next: u32,
    /// The next N `sendMessage` calls never answer: the connection is held open about 60 s.
    #[serde(default)]
    pub hang_next: u32,
}

fn default_fail_status() -> u16 {
    500
}

fn default_retry_after() -> u64 {
    1
}

/// Written by hand rather than derived so that `Faults { fail_next: 1, ..Default::default() }`
/// fails with 500 and rate-limits for 1 s, exactly like the same JSON without those fields.
impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            fail_next: 0,
            fail_status: default_fail_status(),
            rate_limit_next: 0,
            retry_after: default_retry_after(),
            drop_next: 0,
            hang_next: 0,
        }
    }
}

/// Which button of a recorded message a user clicks.
///
/// In JSON (`POST /_sim/act/click`) a string is a button's text and a number its index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ButtonRef {
    /// The first button with exactly this text.
    Text(String),
    /// The position in the keyboard read row by row, from 0.
    Index(usize),
}

impl From<&str> for ButtonRef {
    fn from(text: &str) -> Self {
        ButtonRef::Text(text.to_owned())
    }
}

impl From<String> for ButtonRef {
    fn from(text: String) -> Self {
        ButtonRef::Text(text)
    }
}

impl From<usize> for ButtonRef {
    fn from(index: usize) -> Self {
        ButtonRef::Index(index)
    }
}

impl fmt::Display for ButtonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ButtonRef::Text(text) => write!(f, "{text:?}"),
            ButtonRef::Index(index) => write!(f, "#{index}"),
        }
    }
}

/// A running simulator. Dropping it stops the server and closes its connections, so a test's
/// simulator never outlives the test.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    _shutdown: watch::Sender<()>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds `addr` (tests use `127.0.0.1:0`), serves in a background tokio task and returns
    /// the handle with the bound address.
    pub async fn start(addr: SocketAddr, config: SimulatorConfig) -> anyhow::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (events, _) = broadcast::channel(1024);
        let state = Arc::new(State {
            token: config.bot_token,
            users: Mutex::new(Vec::new()),
            groups: Mutex::new(config.groups.into_iter().collect()),
            log: Mutex::new(Log::default()),
            faults: Mutex::new(Faults::default()),
            attempts: AtomicUsize::new(0),
            events,
            callback: Mutex::new(None),
            client: http_client(),
            last_update: AtomicU64::new(0),
            last_query: AtomicU64::new(0),
        });
        for user in config.users {
            state.add_user(user);
        }
        let (shutdown, stopped) = watch::channel(());
        let served = state.clone();
        tokio::spawn(serve(
            listener,
            move |request, peer| {
                let state = served.clone();
                async move { state.handle(request, peer).await }
            },
            stopped,
        ));
        Ok(Simulator {
            addr,
            state,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give the gateway as `FCHAT_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `sendMessage` accepted, in order; a repeated `client_message_id` appears once.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.state.log).messages.clone()
    }

    /// Forgets the recorded messages and the `client_message_id`s seen, as a fresh simulator
    /// would; message ids keep counting so that no id is ever handed out twice.
    pub fn clear_messages(&self) {
        lock(&self.state.log).clear();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.state.faults) = faults;
    }

    /// The faults still pending (counters go down as calls consume them).
    pub fn faults(&self) -> Faults {
        lock(&self.state.faults).clone()
    }

    /// Every `sendMessage` request received, including failed, faulted and duplicate ones:
    /// how a test sees retries that left no record.
    pub fn send_attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// Adds someone to the directory, replacing whoever had the same email.
    pub fn add_user(&self, user: SimUser) {
        self.state.add_user(user);
    }

    /// Creates a group chat with this id (nothing happens if it exists): from now on
    /// `sendMessage` accepts it and users can act in it. Fails for an empty or overlong id.
    pub fn add_group(&self, id: &str) -> anyhow::Result<()> {
        Ok(self.state.add_group(id)?)
    }

    /// The group chats that exist, sorted by id.
    pub fn groups(&self) -> Vec<String> {
        lock(&self.state.groups).iter().cloned().collect()
    }

    /// Each message as it is accepted, for live logs (the binary prints them).
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedMessage> {
        self.state.events.subscribe()
    }

    /// Where the `act_*` updates go: the gateway's callback route (for example
    /// `http://127.0.0.1:9000/callback/fchat`) and the shared secret sent in `X-FChat-Secret`.
    /// Tests call it once the gateway is up; until then every `act_*` call fails.
    pub fn set_callback(&self, url: String, secret: String) {
        *lock(&self.state.callback) = Some(Callback { url, secret });
    }

    /// A known user writes `text` to the bot in their private chat. The message gets a fresh
    /// `message_id` from the counter of sent messages, and is recorded nowhere.
    ///
    /// Answers the gateway's status and JSON body; fails for an unknown email, without a
    /// callback, or when the gateway cannot be reached.
    pub async fn act_text(&self, email: &str, text: &str) -> anyhow::Result<(u16, Value)> {
        Ok(self.state.act_text(email, text).await?)
    }

    /// A user clicks `button` of the recorded message `message_id`; the update carries the
    /// button's `callback_data`. The clicking user is the chat's user when the message went to
    /// a known user's private chat (`email` is then ignored), otherwise the known user with
    /// `email`, which a group chat requires.
    ///
    /// Fails for an unknown message, button or user, and as [`Simulator::act_text`] does.
    pub async fn act_click(
        &self,
        message_id: &str,
        button: ButtonRef,
        email: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        Ok(self.state.act_click(message_id, &button, email).await?)
    }

    /// Something happens in the group chat `room_id` (a group's `beatchat_id`, which must
    /// exist: [`SimulatorConfig::groups`], [`Simulator::add_group`]): `event` is one of
    /// `JOIN_ROOM`, `ADD_MEMBERS`, `DELETE_MEMBERS`, `MESSAGE`. The sender (also the only
    /// member listed) is the known user with `email`, or the first known user. `text` is the
    /// message of a `MESSAGE`, which needs one, and is refused for the other events.
    ///
    /// Fails for an unknown room, event or user, and as [`Simulator::act_text`] does.
    pub async fn act_room(
        &self,
        room_id: &str,
        event: &str,
        email: Option<&str>,
        text: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        Ok(self.state.act_room(room_id, event, email, text).await?)
    }

    /// Posts `payload` as it is to the callback, with the secret: what the `act_*` methods
    /// use, and how a test sends a hand-made or repeated update. Answers the gateway's status
    /// and body (`null` when empty, a JSON string when not JSON).
    pub async fn post_callback(&self, payload: Value) -> anyhow::Result<(u16, Value)> {
        Ok(self.state.post_callback(&payload).await?)
    }
}

/// Serves HTTP/1 on `listener`, each request through `handle`, until `stopped` fires; then
/// open connections are closed too.
async fn serve<H, F>(listener: TcpListener, handle: H, mut stopped: watch::Receiver<()>)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Answer, DropConnection>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handle = handle.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, peer));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

/// Returned by the service to make hyper close the connection without writing an answer:
/// this is how `drop_next` and the end of a hang look to the client.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

type Answer = Response<Full<Bytes>>;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A fresh connection per request: the simulator posts rarely, and a pooled connection the
/// gateway has meanwhile closed would fail an update for nothing.
fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

struct State {
    token: String,
    users: Mutex<Vec<SimUser>>,
    groups: Mutex<BTreeSet<String>>,
    log: Mutex<Log>,
    faults: Mutex<Faults>,
    attempts: AtomicUsize,
    events: broadcast::Sender<ReceivedMessage>,
    callback: Mutex<Option<Callback>>,
    client: HttpClient,
    /// Counters of `update_id`s ("u-N") and `callback_query.id`s ("cq-N").
    last_update: AtomicU64,
    last_query: AtomicU64,
}

/// Where updates are posted.
#[derive(Clone)]
struct Callback {
    url: String,
    secret: String,
}

/// Why an `act_*` call failed; the control endpoints answer it with its status.
#[derive(Debug)]
enum ActError {
    /// 400: the request makes no sense (or no callback is set).
    BadRequest(String),
    /// 404: an unknown user, message or button.
    NotFound(String),
    /// 502: the gateway could not be reached or did not answer in time.
    Gateway(String),
}

impl fmt::Display for ActError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActError::BadRequest(why) | ActError::NotFound(why) | ActError::Gateway(why) => {
                f.write_str(why)
            }
        }
    }
}

impl std::error::Error for ActError {}

impl ActError {
    fn answer(&self) -> Answer {
        match self {
            ActError::BadRequest(why) => {
                error(StatusCode::BAD_REQUEST, &format!("Bad Request: {why}"))
            }
            ActError::NotFound(why) => error(StatusCode::NOT_FOUND, &format!("Not Found: {why}")),
            ActError::Gateway(why) => {
                error(StatusCode::BAD_GATEWAY, &format!("Bad Gateway: {why}"))
            }
        }
    }
}

#[derive(Default)]
struct Log {
    messages: Vec<ReceivedMessage>,
    /// `client_message_id` → the answer its first send got.
    by_client_id: HashMap<String, Value>,
    last_id: u64,
}

impl Log {
    fn clear(&mut self) {
        self.messages.clear();
        self.by_client_id.clear();
    }
}

/// What a `sendMessage` call turns into once the faults have had their say.
enum Fate {
    Drop,
    Hang,
    RateLimit(u64),
    Fail(u16),
    Serve,
}

/// Locks through poisoning: state stays consistent between statements, and a panic in one
/// request must not turn every later request into another panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn add_user(&self, user: SimUser) {
        let mut users = lock(&self.users);
        let email = user.email.to_lowercase();
        users.retain(|known| known.email.to_lowercase() != email);
        users.push(user);
    }

    fn add_group(&self, id: &str) -> Result<(), ActError> {
        if id.trim().is_empty() {
            return Err(ActError::BadRequest("a group needs an id".into()));
        }
        if id.chars().count() > MAX_CHAT_ID_CHARS || id.chars().any(char::is_control) {
            return Err(ActError::BadRequest(format!(
                "a group id is at most {MAX_CHAT_ID_CHARS} characters, none of them control characters"
            )));
        }
        lock(&self.groups).insert(id.to_owned());
        Ok(())
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Answer, DropConnection> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        match path.as_str() {
            "/sendMessage" if method == Method::POST => self.send_message(request).await,
            "/getUserByEmail" if method == Method::GET => Ok(self.get_user_by_email(request).await),
            "/sendMessage" | "/getUserByEmail" => Ok(method_not_allowed()),
            _ if path.starts_with("/_sim/") => Ok(self.control(request, peer).await),
            _ => Ok(error(StatusCode::NOT_FOUND, "Not Found")),
        }
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(value) = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        match value.trim().split_once(' ') {
            Some((scheme, token)) => {
                scheme.eq_ignore_ascii_case("bearer") && token.trim() == self.token
            }
            None => false,
        }
    }

    async fn latency(&self) {
        let latency_ms = lock(&self.faults).latency_ms;
        if latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
        }
    }

    fn fate(&self) -> Fate {
        let mut faults = lock(&self.faults);
        if faults.drop_next > 0 {
            faults.drop_next -= 1;
            Fate::Drop
        } else if faults.hang_next > 0 {
            faults.hang_next -= 1;
            Fate::Hang
        } else if faults.rate_limit_next > 0 {
            faults.rate_limit_next -= 1;
            Fate::RateLimit(faults.retry_after)
        } else if faults.fail_next > 0 {
            faults.fail_next -= 1;
            Fate::Fail(faults.fail_status)
        } else {
            Fate::Serve
        }
    }

    async fn send_message(&self, request: Request<Incoming>) -> Result<Answer, DropConnection> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let authorized = self.authorized(&request);
        // The whole request is read before any fault: a dropped call then looks like a server
        // that took the request and died, not like a refused upload.
        let body = read_body(request).await;
        self.latency().await;
        match self.fate() {
            Fate::Drop => return Err(DropConnection),
            Fate::Hang => {
                tokio::time::sleep(HANG).await;
                return Err(DropConnection);
            }
            Fate::RateLimit(seconds) => return Ok(rate_limited(seconds)),
            Fate::Fail(status) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(error(status, "Simulated failure"));
            }
            Fate::Serve => {}
        }
        if !authorized {
            return Ok(unauthorized());
        }
        let body = match body {
            Ok(body) => body,
            Err(answer) => return Ok(answer),
        };
        Ok(self.accept_message(&body))
    }

    fn accept_message(&self, body: &[u8]) -> Answer {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "Bad Request: invalid JSON");
        };
        let Value::Object(body) = body else {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: the body must be a JSON object",
            );
        };
        let chat_id = match body.get("chat_id") {
            Some(Value::String(chat_id)) if !chat_id.is_empty() && self.chat_exists(chat_id) => {
                chat_id.clone()
            }
            _ => return error(StatusCode::BAD_REQUEST, "Bad Request: chat not found"),
        };
        let text = match body.get("text") {
            Some(Value::String(text)) if !text.is_empty() => text.clone(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: message text is empty",
                )
            }
        };
        let reply_markup = match body.get("reply_markup") {
            None | Some(Value::Null) => None,
            Some(markup) if valid_reply_markup(markup) => Some(markup.clone()),
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: reply_markup.inline_keyboard must be a list of rows of {text, callback_data} buttons",
                )
            }
        };
        let client_message_id = match body.get("client_message_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: client_message_id must be a string",
                )
            }
        };

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut log = lock(&self.log);
        if let Some(first) = client_message_id
            .as_ref()
            .and_then(|id| log.by_client_id.get(id))
        {
            return ok(first.clone());
        }
        log.last_id += 1;
        let message = ReceivedMessage {
            message_id: format!("m-{}", log.last_id),
            chat_id,
            text,
            reply_markup,
            client_message_id,
            received_at_ms: now.as_millis() as u64,
        };
        let result = json!({
            "message_id": message.message_id,
            "chat_id": message.chat_id,
            "date": now.as_secs(),
        });
        if let Some(id) = &message.client_message_id {
            log.by_client_id.insert(id.clone(), result.clone());
        }
        log.messages.push(message.clone());
        drop(log);
        // Nobody listening is fine: the log is for people, the record above is for tests.
        let _ = self.events.send(message);
        ok(result)
    }

    fn chat_exists(&self, chat_id: &str) -> bool {
        lock(&self.groups).contains(chat_id)
            || lock(&self.users).iter().any(|user| user.id == chat_id)
    }

    async fn get_user_by_email(&self, request: Request<Incoming>) -> Answer {
        self.latency().await;
        if !self.authorized(&request) {
            return unauthorized();
        }
        let email = request
            .uri()
            .query()
            .and_then(|query| query_param(query, "email"));
        let email = match email {
            Some(email) if !email.trim().is_empty() => email.trim().to_lowercase(),
            _ => return error(StatusCode::BAD_REQUEST, "Bad Request: email is required"),
        };
        let users = lock(&self.users);
        match users.iter().find(|user| user.email.to_lowercase() == email) {
            Some(user) => ok(user_json(user)),
            None => error(StatusCode::NOT_FOUND, "Not Found: user not found"),
        }
    }

    fn user_by_email(&self, email: &str) -> Result<SimUser, ActError> {
        let wanted = email.trim().to_lowercase();
        lock(&self.users)
            .iter()
            .find(|user| user.email.to_lowercase() == wanted)
            .cloned()
            .ok_or_else(|| ActError::NotFound(format!("user {email:?} not found")))
    }

    fn user_by_id(&self, id: &str) -> Option<SimUser> {
        lock(&self.users).iter().find(|user| user.id == id).cloned()
    }

    /// The next `message_id`, from the same counter as accepted messages.
    fn next_message_id(&self) -> String {
        let mut log = lock(&self.log);
        log.last_id += 1;
        format!("m-{}", log.last_id)
    }

    fn next_update_id(&self) -> String {
        format!("u-{}", self.last_update.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn act_text(&self, email: &str, text: &str) -> Result<(u16, Value), ActError> {
        let user = self.user_by_email(email)?;
        let update = json!({
            "update_id": self.next_update_id(),
            "message": {
                "message_id": self.next_message_id(),
                "text": text,
                "user": user_json(&user),
                "chat": {"id": user.id, "type": "private"},
            },
        });
        self.post_callback(&update).await
    }

    async fn act_click(
        &self,
        message_id: &str,
        button: &ButtonRef,
        email: Option<&str>,
    ) -> Result<(u16, Value), ActError> {
        let message = lock(&self.log)
            .messages
            .iter()
            .find(|message| message.message_id == message_id)
            .cloned()
            .ok_or_else(|| ActError::NotFound(format!("message {message_id:?} not found")))?;
        let buttons: Vec<&Value> = message
            .reply_markup
            .as_ref()
            .and_then(|markup| markup["inline_keyboard"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .collect();
        let clicked = match button {
            ButtonRef::Text(text) => buttons.iter().find(|b| b["text"] == text.as_str()),
            ButtonRef::Index(index) => buttons.get(*index),
        };
        let data = clicked
            .and_then(|b| b["callback_data"].as_str())
            .ok_or_else(|| {
                ActError::NotFound(format!("message {message_id} has no button {button}"))
            })?
            .to_owned();
        let (user, chat_type) = match self.user_by_id(&message.chat_id) {
            Some(user) => (user, "private"),
            None => match email {
                Some(email) => (self.user_by_email(email)?, "group"),
                None => {
                    return Err(ActError::BadRequest(format!(
                        "message {message_id} went to the group {}: say which user clicks (email)",
                        message.chat_id
                    )))
                }
            },
        };
        let update = json!({
            "update_id": self.next_update_id(),
            "message": {
                "text": message.text,
                "user": user_json(&user),
                "chat": {"id": message.chat_id, "type": chat_type},
                "callback_query": {
                    "id": format!("cq-{}", self.last_query.fetch_add(1, Ordering::SeqCst) + 1),
                    "data": data,
                    "message": {"message_id": message.message_id},
                },
            },
        });
        self.post_callback(&update).await
    }

    async fn act_room(
        &self,
        room_id: &str,
        event: &str,
        email: Option<&str>,
        text: Option<&str>,
    ) -> Result<(u16, Value), ActError> {
        if room_id.is_empty() {
            return Err(ActError::BadRequest("room_id is empty".into()));
        }
        if !lock(&self.groups).contains(room_id) {
            return Err(ActError::NotFound(format!("room {room_id:?} not found")));
        }
        if !ROOM_EVENTS.contains(&event) {
            return Err(ActError::BadRequest(format!(
                "event {event:?} is not one of {}",
                ROOM_EVENTS.join(", ")
            )));
        }
        let text = match (event, text) {
            ("MESSAGE", Some(text)) => Some(text),
            ("MESSAGE", None) => return Err(ActError::BadRequest("a MESSAGE needs a text".into())),
            (_, Some(_)) => {
                return Err(ActError::BadRequest(format!(
                    "only a MESSAGE has a text, not {event}"
                )))
            }
            (_, None) => None,
        };
        let sender = match email {
            Some(email) => self.user_by_email(email)?,
            None => lock(&self.users)
                .first()
                .cloned()
                .ok_or_else(|| ActError::NotFound("no user is known to send it".into()))?,
        };
        let member = json!({
            "_id": sender.id,
            "id": sender.id,
            "nickname": sender.name.as_deref().unwrap_or(&sender.email),
            "isRobot": false,
        });
        let mut data = json!({"room": room_id, "sender": member, "members": [member]});
        if let Some(text) = text {
            let message_id = self.next_message_id();
            data["message"] = json!(text);
            data["messageType"] = json!("text");
            data["id"] = json!(message_id);
            data["_id"] = json!(message_id);
        }
        let update = json!({
            "update_id": self.next_update_id(),
            "appID": "fchat",
            "clientID": sender.id,
            "roomID": room_id,
            "event": event,
            "data": data,
        });
        self.post_callback(&update).await
    }

    async fn post_callback(&self, payload: &Value) -> Result<(u16, Value), ActError> {
        let Some(Callback { url, secret }) = lock(&self.callback).clone() else {
            return Err(ActError::BadRequest(
                "no callback is set (set_callback or PUT /_sim/callback)".into(),
            ));
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(CONTENT_TYPE, "application/json")
            .header(CALLBACK_SECRET_HEADER, secret)
            .body(Full::new(Bytes::from(payload.to_string())))
            .map_err(|e| ActError::BadRequest(format!("cannot post to {url:?}: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                // The root cause (connection refused, ...) is what a developer needs.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    why = format!("{why}: {cause}");
                    source = cause.source();
                }
                why
            })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, answer_body(&body)))
        };
        match tokio::time::timeout(CALLBACK_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(why)) => Err(ActError::Gateway(format!("POST {url}: {why}"))),
            Err(_) => Err(ActError::Gateway(format!(
                "POST {url}: no answer within {} s",
                CALLBACK_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The answer of a control endpoint that acts as a user.
    fn acted(outcome: Result<(u16, Value), ActError>) -> Answer {
        match outcome {
            Ok((status, body)) => {
                json_answer(StatusCode::OK, &json!({"status": status, "body": body}))
            }
            Err(e) => e.answer(),
        }
    }

    /// The `/_sim/` endpoints: the HTTP face of the [`Simulator`] handle, for a simulator
    /// running as a separate process. Loopback peers only, since they need no token.
    async fn control(&self, request: Request<Incoming>, peer: SocketAddr) -> Answer {
        if !peer.ip().is_loopback() {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: control endpoints answer loopback only",
            );
        }
        let method = request.method().clone();
        let path = request.uri().path().trim_end_matches('/').to_owned();
        match (path.as_str(), method) {
            ("/_sim/health", Method::GET) => {
                let messages = lock(&self.log).messages.len();
                let users = lock(&self.users).len();
                let groups = lock(&self.groups).len();
                let attempts = self.attempts.load(Ordering::SeqCst);
                ok(
                    json!({"messages": messages, "users": users, "groups": groups, "send_attempts": attempts}),
                )
            }
            ("/_sim/messages", Method::GET) => {
                json_answer(StatusCode::OK, &lock(&self.log).messages)
            }
            ("/_sim/messages", Method::DELETE) => {
                lock(&self.log).clear();
                ok(json!(true))
            }
            ("/_sim/faults", Method::GET) => json_answer(StatusCode::OK, &*lock(&self.faults)),
            ("/_sim/faults", Method::PUT) => match read_json::<Faults>(request).await {
                Ok(faults) => {
                    *lock(&self.faults) = faults.clone();
                    json_answer(StatusCode::OK, &faults)
                }
                Err(answer) => answer,
            },
            ("/_sim/faults", Method::DELETE) => {
                *lock(&self.faults) = Faults::default();
                ok(json!(true))
            }
            ("/_sim/users", Method::POST) => match read_json::<SimUser>(request).await {
                Ok(user) if user.email.trim().is_empty() || user.id.is_empty() => error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: a user needs an email and an id",
                ),
                Ok(user) => {
                    self.add_user(user.clone());
                    ok(json!(user))
                }
                Err(answer) => answer,
            },
            ("/_sim/groups", Method::GET) => {
                ok(json!(lock(&self.groups).iter().collect::<Vec<_>>()))
            }
            ("/_sim/groups", Method::POST) => match read_json::<GroupRequest>(request).await {
                Ok(group) => match self.add_group(&group.id) {
                    Ok(()) => ok(json!({"id": group.id})),
                    Err(e) => e.answer(),
                },
                Err(answer) => answer,
            },
            ("/_sim/callback", Method::PUT) => match read_json::<CallbackRequest>(request).await {
                Ok(callback) => match callback.url.parse::<Uri>() {
                    Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {
                        *lock(&self.callback) = Some(Callback {
                            url: callback.url.clone(),
                            secret: callback.secret,
                        });
                        ok(json!({"url": callback.url}))
                    }
                    _ => error(
                        StatusCode::BAD_REQUEST,
                        "Bad Request: url must be an http:// URL",
                    ),
                },
                Err(answer) => answer,
            },
            ("/_sim/act/text", Method::POST) => match read_json::<TextRequest>(request).await {
                Ok(act) => Self::acted(self.act_text(&act.email, &act.text).await),
                Err(answer) => answer,
            },
            ("/_sim/act/click", Method::POST) => match read_json::<ClickRequest>(request).await {
                Ok(act) => Self::acted(
                    self.act_click(&act.message_id, &act.button, act.email.as_deref())
                        .await,
                ),
                Err(answer) => answer,
            },
            ("/_sim/act/room", Method::POST) => match read_json::<RoomRequest>(request).await {
                Ok(act) => Self::acted(
                    self.act_room(
                        &act.room_id,
                        &act.event,
                        act.email.as_deref(),
                        act.text.as_deref(),
                    )
                    .await,
                ),
                Err(answer) => answer,
            },
            (
                "/_sim/health" | "/_sim/messages" | "/_sim/faults" | "/_sim/users" | "/_sim/groups"
                | "/_sim/callback" | "/_sim/act/text" | "/_sim/act/click" | "/_sim/act/room",
                _,
            ) => method_not_allowed(),
            _ => error(StatusCode::NOT_FOUND, "Not Found"),
        }
    }
}

/// `POST /_sim/groups`.
#[derive(Deserialize)]
struct GroupRequest {
    id: String,
}

/// `PUT /_sim/callback`.
#[derive(Deserialize)]
struct CallbackRequest {
    url: String,
    secret: String,
}

/// `POST /_sim/act/text`.
#[derive(Deserialize)]
struct TextRequest {
    email: String,
    text: String,
}

/// `POST /_sim/act/click`.
#[derive(Deserialize)]
struct ClickRequest {
    message_id: String,
    button: ButtonRef,
    #[serde(default)]
    email: Option<String>,
}

/// `POST /_sim/act/room`.
#[derive(Deserialize)]
struct RoomRequest {
    room_id: String,
    event: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// A user as updates and `getUserByEmail` show them.
fn user_json(user: &SimUser) -> Value {
    json!({"id": user.id, "email": user.email, "name": user.name})
}

/// The gateway's answer body as JSON: `null` when empty, a string when not JSON, so that a
/// test still sees what came back.
fn answer_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn valid_reply_markup(markup: &Value) -> bool {
    let Some(Value::Array(rows)) = markup.get("inline_keyboard") else {
        return false;
    };
    rows.iter().all(|row| match row {
        Value::Array(buttons) => buttons.iter().all(|button| {
            matches!(button.get("text"), Some(Value::String(_)))
                && matches!(button.get("callback_data"), Some(Value::String(_)))
        }),
        _ => false,
    })
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, Answer> {
    match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large",
        )),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "Bad Request: could not read the body",
        )),
    }
}

async fn read_json<T: for<'de> Deserialize<'de>>(request: Request<Incoming>) -> Result<T, Answer> {
    let body = read_body(request).await?;
    serde_json::from_slice(&body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "Bad Request: invalid JSON"))
}

/// The first value of `name` in a query string, form-decoded (`+` is a space and `%40` an
/// `@`), as HTTP clients encode query parameters.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key) == name).then(|| form_decode(value))
    })
}

/// Lenient on purpose: a malformed escape is kept as written and invalid UTF-8 becomes
/// U+FFFD, so that no query can make the simulator fail.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    decoded.push(high << 4 | low);
                    i += 3;
                }
                _ => {
                    decoded.push(b'%');
                    i += 1;
                }
            },
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex(digit: &u8) -> Option<u8> {
    (*digit as char).to_digit(16).map(|value| value as u8)
}

fn json_answer<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Answer {
    // Serialising these types cannot fail (string keys, no custom serialisers).
    let body = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

fn ok(result: Value) -> Answer {
    json_answer(StatusCode::OK, &json!({"ok": true, "result": result}))
}

fn error(status: StatusCode, description: &str) -> Answer {
    json_answer(
        status,
        &json!({"ok": false, "error_code": status.as_u16(), "description": description}),
    )
}

fn unauthorized() -> Answer {
    error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

fn method_not_allowed() -> Answer {
    error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

fn rate_limited(seconds: u64) -> Answer {
    let mut answer = json_answer(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({
            "ok": false,
            "error_code": 429,
            "description": format!("Too Many Requests: retry after {seconds}"),
            "parameters": {"retry_after": seconds},
        }),
    );
    answer
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_is_lenient() {
        assert_eq!(form_decode("user%40example.com"), "user@example.com");
        assert_eq!(form_decode("a+b%2Bc"), "a b+c");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%ff"), "\u{fffd}");
        assert_eq!(
            query_param("x=1&email=A%40B.c", "email").as_deref(),
            Some("A@B.c")
        );
        assert_eq!(query_param("email", "email").as_deref(), Some(""));
        assert_eq!(query_param("x=1", "email"), None);
    }

    #[test]
    fn faults_default_like_their_json() {
        let from_json: Faults = serde_json::from_str("{}").unwrap();
        assert_eq!(from_json, Faults::default());
        assert_eq!(Faults::default().fail_status, 500);
        assert_eq!(Faults::default().retry_after, 1);
    }

    #[test]
    fn reply_markup_shape() {
        assert!(valid_reply_markup(
            &json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}], []]})
        ));
        assert!(!valid_reply_markup(
            &json!({"inline_keyboard": [{"text": "Yes"}]})
        ));
        assert!(!valid_reply_markup(
            &json!({"inline_keyboard": [[{"text": "Yes", "callback_data": {"a": 1}}]]})
        ));
        assert!(!valid_reply_markup(&json!([])));
    }
}
