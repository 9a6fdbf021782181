//! The local stack's console: one web page (`/_console`) showing FChat as its users see it,
//! acting as those users, each message's delivery status, every event the apps' webhooks
//! received, FChat's fault switches, and a form for the send API. Local only: it is never
//! deployed, and it listens on loopback.
//!
//! The page is plain HTML, CSS and JavaScript compiled into the binary (`assets/`); it polls
//! the console's own JSON routes on the same origin, which gather what it shows from the
//! FChat simulator (`/_sim/...`), the demo webhook receiver (`/_receiver/events`) and the
//! gateway (the send and status routes), so the browser never talks to several ports.
//!
//! | route | what |
//! |---|---|
//! | `GET /_console` | the page (`/_console/console.css`, `/_console/console.js`) |
//! | `GET /_console/api/state` | everything the page shows, at once |
//! | `POST /_console/api/send` | a message through the send API, with a known app's token |
//! | `POST /_console/api/act/{text,click,room}` | acting as a user, through the simulator |
//! | `PUT`, `DELETE /_console/api/faults` | FChat's fault switches |
//! | `PUT`, `DELETE /_console/api/limits` | FChat's rate limits, on or off |
//! | `GET /_console/api/metrics` | the functions' EMF metrics as series (`metrics`) |
//!
//! - `upstream`: the small HTTP client to the simulator, the receiver and the gateway;
//! - `inspect`: signatures checked with the gateway's own signer, and delivery statuses.

mod inspect;
mod metrics;
mod upstream;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use inspect::{Deliveries, SignatureCheck};
use upstream::Upstream;

/// The page's path; its files and routes are below it.
pub const CONSOLE_PATH: &str = "/_console";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CONSOLE_JS: &str = include_str!("assets/console.js");

/// The largest request body the console's routes take: a message is at most 2000 characters.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Characters escaped in a path segment: everything but URLs' unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An app the console may send for: its name, its token (never shown to the page), and its
/// webhook signing secrets (to check what its webhook received).
#[derive(Clone, Debug, Default)]
pub struct ConsoleApp {
    pub name: String,
    pub token: String,
    pub webhook_secrets: Vec<String>,
}

/// Where the console finds the rest of the local stack.
#[derive(Clone, Debug, Default)]
pub struct ConsoleConfig {
    /// The local API gateway, e.g. `http://127.0.0.1:9000`.
    pub api: String,
    /// The FChat simulator, e.g. `http://127.0.0.1:9001`.
    pub simulator: String,
    /// The demo webhook receiver, e.g. `http://127.0.0.1:9002`; none: no inspector.
    pub receiver: Option<String>,
    /// `fchat-local functions`' Invoke API, e.g. `http://127.0.0.1:9010`, whose
    /// `GET /_local/metrics` has the functions' EMF documents; none: no metrics.
    pub functions: Option<String>,
    pub apps: Vec<ConsoleApp>,
}

/// A running console. Dropping it stops the server.
pub struct Console {
    addr: SocketAddr,
    _shutdown: watch::Sender<()>,
}

impl Console {
    /// Serves on `addr` (loopback; tests use port 0) in a background task.
    pub async fn start(addr: SocketAddr, config: ConsoleConfig) -> Result<Console> {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "the console listens on loopback only, not {addr}"
        );
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ConsoleState::new(config));
        let (shutdown, mut stopped) = watch::channel(());
        tokio::spawn(fchat_loopback::serve(
            listener,
            move |request, peer| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(state.handle(request, peer).await) }
            },
            async move {
                let _ = stopped.changed().await;
            },
        ));
        Ok(Console {
            addr,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address: `http://127.0.0.1:PORT/_console`.
    pub fn url(&self) -> String {
        format!("http://{}{CONSOLE_PATH}", self.addr)
    }
}

type Answer = Response<Full<Bytes>>;

struct ConsoleState {
    config: ConsoleConfig,
    /// Apps added from the page with a token typed in, by name.
    extra_apps: Mutex<Vec<ConsoleApp>>,
    upstream: Upstream,
    deliveries: Deliveries,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ConsoleState {
    fn new(config: ConsoleConfig) -> ConsoleState {
        ConsoleState {
            config,
            extra_apps: Mutex::new(Vec::new()),
            upstream: Upstream::new(),
            deliveries: Deliveries::default(),
        }
    }

    /// The apps the console knows: the configured ones, then those the page added.
    fn apps(&self) -> Vec<ConsoleApp> {
        let mut apps = self.config.apps.clone();
        apps.extend(lock(&self.extra_apps).iter().cloned());
        apps
    }

    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Answer {
        if !peer.ip().is_loopback() {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: the console answers loopback only",
            );
        }
        // A page on another site cannot use the console: DNS rebinding names another host,
        // and a cross-site form cannot send JSON's content type without CORS, which the
        // console never grants.
        if !loopback_host(&request) {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: the console answers requests for 127.0.0.1 or localhost only",
            );
        }
        let method = request.method().clone();
        if method != Method::GET && !json_content(&request) {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type: send Content-Type: application/json",
            );
        }
        let path = request.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(CONSOLE_PATH) else {
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        match (rest, &method) {
            ("" | "/" | "/index.html", &Method::GET) => {
                asset(INDEX_HTML, "text/html; charset=utf-8")
            }
            ("/console.css", &Method::GET) => asset(CONSOLE_CSS, "text/css; charset=utf-8"),
            ("/console.js", &Method::GET) => asset(CONSOLE_JS, "text/javascript; charset=utf-8"),
            ("/api/state", &Method::GET) => self.state().await,
            ("/api/metrics", &Method::GET) => self.metrics().await,
            ("/api/send", &Method::POST) => match read_json::<SendRequest>(request).await {
                Ok(send) => self.send(send).await,
                Err(answer) => answer,
            },
            ("/api/act/text" | "/api/act/click" | "/api/act/room", &Method::POST) => {
                match read_json::<Value>(request).await {
                    Ok(body) => {
                        let url = format!("{}/_sim{}", self.config.simulator, &rest[4..]);
                        self.relay(Method::POST, &url, Some(&body)).await
                    }
                    Err(answer) => answer,
                }
            }
            // FChat's switches, set and reset: the simulator's `/_sim/faults` and `/_sim/limits`.
            (switch @ ("/api/faults" | "/api/limits"), &Method::PUT) => {
                let what = &switch[5..];
                match read_json::<Value>(request).await {
                    Ok(body) if body.is_object() => {
                        let url = format!("{}/_sim/{what}", self.config.simulator);
                        self.relay(Method::PUT, &url, Some(&body)).await
                    }
                    Ok(_) => error(
                        StatusCode::BAD_REQUEST,
                        &format!("Bad Request: {what} are an object"),
                    ),
                    Err(answer) => answer,
                }
            }
            (switch @ ("/api/faults" | "/api/limits"), &Method::DELETE) => {
                let url = format!("{}/_sim/{}", self.config.simulator, &switch[5..]);
                self.relay(Method::DELETE, &url, None).await
            }
            (
                "" | "/" | "/index.html" | "/console.css" | "/console.js" | "/api/state"
                | "/api/metrics" | "/api/send" | "/api/act/text" | "/api/act/click"
                | "/api/act/room" | "/api/faults" | "/api/limits",
                _,
            ) => error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            _ => error(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// `GET /_console/api/metrics`: the functions' EMF documents, as series
    /// ([`metrics::aggregate`]).
    async fn metrics(&self) -> Answer {
        let Some(functions) = &self.config.functions else {
            return json_answer(StatusCode::OK, &metrics::aggregate(&[]));
        };
        let url = format!("{functions}{}", crate::runtime::METRICS_PATH);
        match self.upstream.get(url).await {
            Ok(Value::Array(documents)) => {
                json_answer(StatusCode::OK, &metrics::aggregate(&documents))
            }
            Ok(other) => error(
                StatusCode::BAD_GATEWAY,
                &format!("the functions' metrics are not a list: {other}"),
            ),
            Err(why) => error(StatusCode::BAD_GATEWAY, &why),
        }
    }

    /// Passes a request on to the simulator and its answer back as it is.
    async fn relay(&self, method: Method, url: &str, body: Option<&Value>) -> Answer {
        match self.upstream.call(method.clone(), url, body).await {
            Ok((status, body)) => json_answer(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                &body,
            ),
            Err(why) => error(
                StatusCode::BAD_GATEWAY,
                &format!("Bad Gateway: {method} {url}: {why}"),
            ),
        }
    }

    /// Everything the page shows. A part that cannot be read is left empty and its reason
    /// listed in `problems`, so that one service down does not blank the page.
    async fn state(&self) -> Answer {
        let sim = &self.config.simulator;
        let (messages, actions, users, groups, faults, limits, events) = tokio::join!(
            self.upstream.get(format!("{sim}/_sim/messages")),
            self.upstream.get(format!("{sim}/_sim/actions")),
            self.upstream.get(format!("{sim}/_sim/users")),
            self.upstream.get(format!("{sim}/_sim/groups")),
            self.upstream.get(format!("{sim}/_sim/faults")),
            self.upstream.get(format!("{sim}/_sim/limits")),
            async {
                match &self.config.receiver {
                    Some(receiver) => self
                        .upstream
                        .get(format!(
                            "{receiver}{}",
                            fchat_simulator::receiver::EVENTS_PATH
                        ))
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            },
        );
        let mut problems = Vec::new();
        let mut take = |what: &str, read: Result<Value, String>| match read {
            Ok(value) => value,
            Err(why) => {
                problems.push(format!("{what}: {why}"));
                Value::Null
            }
        };
        let messages = take("the FChat simulator's messages", messages);
        let actions = take("the FChat simulator's users' actions", actions);
        let users = take("the FChat simulator's users", users)["result"].take();
        let groups = take("the FChat simulator's group chats", groups)["result"].take();
        let faults = take("the FChat simulator's faults", faults);
        let limits = take("the FChat simulator's rate limits", limits);
        let events = take(
            "the webhook receiver",
            events.map(|e| e.unwrap_or(Value::Null)),
        );

        let apps = self.apps();
        let context_ids: Vec<String> = messages
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|message| message["client_message_id"].as_str())
            .map(str::to_owned)
            .collect();
        let deliveries = self
            .deliveries
            .refresh(&self.upstream, &self.config.api, &apps, &context_ids)
            .await;
        let events: Vec<Value> = events
            .as_array()
            .into_iter()
            .flatten()
            .map(|event| inspected(event, &apps))
            .collect();
        let app_names: Vec<Value> = apps
            .iter()
            .map(|app| json!({"name": app.name, "signed": !app.webhook_secrets.is_empty()}))
            .collect();
        json_answer(
            StatusCode::OK,
            &json!({
                "apps": app_names,
                "users": users,
                "groups": groups,
                "messages": messages,
                "actions": actions,
                "deliveries": deliveries,
                "events": events,
                "faults": faults,
                "limits": limits,
                "inspector": self.config.receiver.is_some(),
                "problems": problems,
            }),
        )
    }

    /// `POST /_console/api/send`: to a user (`email`) or the app's group, with the app's
    /// token; the answer is the send API's.
    async fn send(&self, send: SendRequest) -> Answer {
        let name = send.app.trim();
        if name.is_empty() || name.chars().count() > 256 {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request: name an app (up to 256 characters)",
            );
        }
        let token = match send
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(token) if token.chars().count() > 256 => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: the token is too long",
                )
            }
            Some(token) => {
                // Remembered for its messages' statuses (in memory, never shown again).
                let mut extra = lock(&self.extra_apps);
                extra.retain(|app| app.name != name);
                extra.push(ConsoleApp {
                    name: name.to_owned(),
                    token: token.to_owned(),
                    webhook_secrets: Vec::new(),
                });
                token.to_owned()
            }
            None => match self.apps().into_iter().rev().find(|app| app.name == name) {
                Some(app) => app.token,
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "Bad Request: the console does not know this app's token: give it",
                    )
                }
            },
        };
        let mut body = Map::new();
        body.insert("text".into(), json!(send.text));
        if let Some(parameters) = send.parameters.filter(|p| !p.is_null()) {
            body.insert("parameters".into(), parameters);
        }
        let api = self.config.api.trim_end_matches('/');
        let token_segment = utf8_percent_encode(&token, SEGMENT);
        let email = send
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        // Buttons go to a user or to the group (the group route's extension).
        if !send.buttons.is_empty() {
            body.insert(
                "reply_markup".into(),
                json!({"inlineKeyboard": send.buttons, "singleUse": send.single_use}),
            );
        }
        let url = match email {
            Some(email) => {
                body.insert("email".into(), json!(email));
                format!("{api}/webhooks/{token_segment}/fchat")
            }
            None => format!(
                "{api}/webhooks/{}/{token_segment}",
                utf8_percent_encode(name, SEGMENT)
            ),
        };
        match self
            .upstream
            .call(Method::POST, &url, Some(&Value::Object(body)))
            .await
        {
            Ok((status, answer)) => {
                if let Some(id) = answer["context"]["id"].as_str() {
                    self.deliveries.track(id, name, email, &send.text);
                }
                json_answer(StatusCode::OK, &json!({"status": status, "body": answer}))
            }
            // Not the URL: it holds the token.
            Err(why) => error(
                StatusCode::BAD_GATEWAY,
                &format!("Bad Gateway: the send API at {api}: {why}"),
            ),
        }
    }
}

/// `POST /_console/api/send`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    app: String,
    /// For an app the console was not started with.
    #[serde(default)]
    token: Option<String>,
    /// A user's email; none: the app's group.
    #[serde(default)]
    email: Option<String>,
    text: String,
    /// Rows of `{text, callbackData}` buttons, as the send API takes them.
    #[serde(default)]
    buttons: Vec<Vec<Value>>,
    /// The buttons are single-use: the first click answers them for everyone.
    #[serde(default, rename = "singleUse")]
    single_use: bool,
    #[serde(default)]
    parameters: Option<Value>,
}

/// A receiver's event with the console's own check of its signature, by the gateway's signer.
fn inspected(event: &Value, apps: &[ConsoleApp]) -> Value {
    let mut event = event.clone();
    let app = event["app"].as_str().map(str::to_owned);
    let secrets = app
        .as_deref()
        .and_then(|name| apps.iter().rev().find(|known| known.name == name))
        .map(|known| known.webhook_secrets.clone())
        .unwrap_or_default();
    let headers: HashMap<String, String> = event["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned())))
        .collect();
    let check = inspect::check_signature(
        &secrets,
        &headers,
        event["raw_body"].as_str().unwrap_or_default(),
        event["received_at_ms"].as_u64().unwrap_or_default() / 1000,
    );
    let (verdict, reason) = match check {
        SignatureCheck::Verified => ("verified", None),
        SignatureCheck::Invalid(why) => ("invalid", Some(why)),
        SignatureCheck::NotChecked(why) => ("unchecked", Some(why)),
    };
    event["signature"] = json!({"verdict": verdict, "reason": reason});
    if let Some(object) = event.as_object_mut() {
        object.remove("raw_body");
    }
    event
}

/// The `Host` header names the loopback (`127.0.0.1`, `localhost` or `[::1]`, any port).
fn loopback_host(request: &Request<Incoming>) -> bool {
    let Some(host) = request.headers().get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    )
}

fn json_content(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn read_json<T: for<'de> Deserialize<'de>>(request: Request<Incoming>) -> Result<T, Answer> {
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
            ))
        }
    };
    serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}")))
}

fn asset(text: &'static str, content_type: &'static str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

fn json_answer(status: StatusCode, body: &Value) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

/// An answer in the contract's error format.
fn error(status: StatusCode, description: &str) -> Answer {
    json_answer(
        status,
        &json!({"ok": false, "error_code": status.as_u16(), "description": description}),
    )
}
