//! The simulator's state, shared by its handle and its routes: the directory, the group chats,
//! the record of accepted messages, the faults, the callback, and the counters of ids.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::act::ActError;
use crate::faults::Faults;
use crate::http::{rate_limited, Answer};
use crate::limits::Limiter;
use crate::lock;
use crate::model::{ReceivedMessage, SimUser, SimulatorConfig, UserAction};

/// The longest chat id `POST /_sim/groups` takes: ids end up in DynamoDB keys and URLs.
const MAX_CHAT_ID_CHARS: usize = 256;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A fresh connection per request: the simulator posts rarely, and a pooled connection the
/// gateway has meanwhile closed would fail an update for nothing.
pub(crate) fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

pub(crate) struct State {
    pub(crate) token: String,
    pub(crate) users: Mutex<Vec<SimUser>>,
    pub(crate) groups: Mutex<BTreeSet<String>>,
    pub(crate) log: Mutex<Log>,
    pub(crate) faults: Mutex<Faults>,
    /// FChat's rate limits, off unless turned on.
    pub(crate) limits: Mutex<Limiter>,
    pub(crate) attempts: AtomicUsize,
    pub(crate) events: broadcast::Sender<ReceivedMessage>,
    pub(crate) callback: Mutex<Option<Callback>>,
    pub(crate) client: HttpClient,
    /// Counters of `update_id`s ("u-N") and `callback_query.id`s ("cq-N"): numbered like
    /// docs/fchat-api.md's examples and the `m-N` message ids, so that a test can name the
    /// update it expects; the gateway only needs them unique.
    pub(crate) last_update: AtomicU64,
    pub(crate) last_query: AtomicU64,
}

impl State {
    /// A simulator's state as it starts: the config's token, users and group chats, nothing
    /// received yet, no faults, no callback.
    pub(crate) fn new(config: SimulatorConfig) -> State {
        let (events, _) = broadcast::channel(1024);
        let state = State {
            token: config.bot_token,
            users: Mutex::new(Vec::new()),
            groups: Mutex::new(config.groups.into_iter().collect()),
            log: Mutex::new(Log::default()),
            faults: Mutex::new(Faults::default()),
            limits: Mutex::new(Limiter::default()),
            attempts: AtomicUsize::new(0),
            events,
            callback: Mutex::new(None),
            client: http_client(),
            last_update: AtomicU64::new(0),
            last_query: AtomicU64::new(0),
        };
        for user in config.users {
            state.add_user(user);
        }
        state
    }
}

/// Where updates are posted.
#[derive(Clone)]
pub(crate) struct Callback {
    pub(crate) url: String,
    pub(crate) secret: String,
}

#[derive(Default)]
pub(crate) struct Log {
    pub(crate) messages: Vec<ReceivedMessage>,
    /// What users did through the `act_*` calls, in order.
    pub(crate) actions: Vec<UserAction>,
    pub(crate) last_action: u64,
    /// `client_message_id` → the answer its first send got.
    pub(crate) by_client_id: HashMap<String, Value>,
    pub(crate) last_id: u64,
}

impl Log {
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.actions.clear();
        self.by_client_id.clear();
    }
}

impl State {
    pub(crate) fn add_user(&self, user: SimUser) {
        let mut users = lock(&self.users);
        let email = user.email.to_lowercase();
        users.retain(|known| known.email.to_lowercase() != email);
        users.push(user);
    }

    pub(crate) fn add_group(&self, id: &str) -> Result<(), ActError> {
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

    /// Counts a send or an edit in `chat_id` against FChat's limits, when they are on; over
    /// them, the 429 FChat answers (and the call must change nothing).
    pub(crate) fn over_limits(&self, chat_id: &str) -> Option<Answer> {
        let group = lock(&self.groups).contains(chat_id);
        lock(&self.limits)
            .admit(chat_id, group, std::time::Instant::now())
            .err()
            .map(rate_limited)
    }

    pub(crate) fn chat_exists(&self, chat_id: &str) -> bool {
        lock(&self.groups).contains(chat_id)
            || lock(&self.users).iter().any(|user| user.id == chat_id)
    }

    pub(crate) fn user_by_email(&self, email: &str) -> Result<SimUser, ActError> {
        let wanted = email.trim().to_lowercase();
        lock(&self.users)
            .iter()
            .find(|user| user.email.to_lowercase() == wanted)
            .cloned()
            .ok_or_else(|| ActError::NotFound(format!("user {email:?} not found")))
    }

    pub(crate) fn user_by_id(&self, id: &str) -> Option<SimUser> {
        lock(&self.users).iter().find(|user| user.id == id).cloned()
    }

    /// The next `message_id`, from the same counter as accepted messages.
    pub(crate) fn next_message_id(&self) -> String {
        let mut log = lock(&self.log);
        log.last_id += 1;
        format!("m-{}", log.last_id)
    }

    /// Records what a user did (the chat shows it at once) and answers its id, for
    /// [`State::record_answer`].
    pub(crate) fn record_action(
        &self,
        chat_id: &str,
        kind: &str,
        user: &SimUser,
        text: Option<&str>,
        message_id: Option<&str>,
    ) -> String {
        let mut log = lock(&self.log);
        log.last_action += 1;
        let id = format!("a-{}", log.last_action);
        log.actions.push(UserAction {
            id: id.clone(),
            chat_id: chat_id.to_owned(),
            kind: kind.to_owned(),
            user: user.clone(),
            text: text.map(str::to_owned),
            message_id: message_id.map(str::to_owned),
            at_ms: now_ms(),
            status: None,
            answer: None,
            error: None,
            callback_query_id: None,
            notice: None,
        });
        id
    }

    /// Notes the `callback_query.id` of a recorded click, which the bot answers by.
    pub(crate) fn record_query(&self, action: &str, query_id: &str) {
        let mut log = lock(&self.log);
        if let Some(click) = log.actions.iter_mut().find(|a| a.id == action) {
            click.callback_query_id = Some(query_id.to_owned());
        }
    }

    /// Adds the callback route's answer (or why there was none) to a recorded action.
    pub(crate) fn record_answer(&self, id: &str, outcome: &Result<(u16, Value), ActError>) {
        let mut log = lock(&self.log);
        if let Some(action) = log.actions.iter_mut().find(|action| action.id == id) {
            match outcome {
                Ok((status, answer)) => {
                    action.status = Some(*status);
                    action.answer = Some(answer.clone());
                }
                Err(error) => action.error = Some(error.to_string()),
            }
        }
    }

    pub(crate) fn next_update_id(&self) -> String {
        format!("u-{}", self.last_update.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}
