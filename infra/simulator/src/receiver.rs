//! A demo app webhook: what an application behind the gateway runs to receive FChat events.
//!
//! One receiver serves one app at `POST /webhook` ([`ReceiverConfig::secrets`]) and any
//! number of apps each at its own path, `POST /webhook/{app name}` ([`ReceiverConfig::apps`],
//! [`app_webhook_url`]), each checked with its own secrets. An app it has no secret for (one
//! the seed gives no `webhook_secret`, one created later) is still served: its requests are
//! recorded as not checked ("unsigned / no secret") and answered as usual.
//!
//! It checks every request's signature by the Standard Webhooks specification
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>),
//! written from the specification alone and not from the gateway's signing code, so that the
//! two are an independent check of each other. It records what arrived ([`Receiver::events`]),
//! answers as told ([`Receiver::set_answer`]: an app that is down, gone, ...) and can play a
//! bot that echoes users' messages.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

use crate::http::{json_answer, read_body, Answer, Server};
use crate::lock;

/// How far `webhook-timestamp` may be from now, either way: older requests may be replays.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 5 * 60;

/// The prefix of a serialized symmetric secret.
const SECRET_PREFIX: &str = "whsec_";

/// The path the receiver serves; apps have theirs below it.
const WEBHOOK_PATH: &str = "/webhook";

/// Where the receiver lists what it received (`GET`, loopback only).
pub const EVENTS_PATH: &str = "/_receiver/events";
/// `PUT` `{"status": 200, "body": {...}}`: how every verified request is answered from now on
/// (a click's `notice` and `edit`, say); `DELETE`: the default answer again. Loopback only.
pub const ANSWER_PATH: &str = "/_receiver/answer";

mod answer;

/// What an app's name keeps unencoded in its path: URLs' unreserved characters (letters,
/// digits, `-`, `.`, `_`, `~`). Everything else is percent-encoded. (`fchat-admin` refuses the
/// names `.` and `..`, which URLs resolve away, encoded or not.)
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path at which a receiver serves the app `name`: `/webhook/{name, percent-encoded}`.
pub fn app_path(name: &str) -> String {
    format!("{WEBHOOK_PATH}/{}", utf8_percent_encode(name, PATH_SEGMENT))
}

/// The webhook URL of the app `name` on the receiver at `base` (`http://127.0.0.1:9002`).
pub fn app_webhook_url(base: &str, name: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), app_path(name))
}

/// Why a request's signature is not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent or not text.
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not whole seconds since the epoch.
    InvalidTimestamp,
    /// More than five minutes before `now`.
    TimestampTooOld,
    /// More than five minutes after `now`.
    TimestampTooNew,
    /// None of the secrets is `whsec_` followed by base64.
    NoUsableSecret,
    /// No `v1` signature in the header matches any secret.
    NoMatchingSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(name) => write!(f, "no {name} header"),
            VerifyError::InvalidTimestamp => f.write_str("webhook-timestamp is not a number"),
            VerifyError::TimestampTooOld => f.write_str("webhook-timestamp is too old"),
            VerifyError::TimestampTooNew => f.write_str("webhook-timestamp is in the future"),
            VerifyError::NoUsableSecret => f.write_str("no usable whsec_ secret"),
            VerifyError::NoMatchingSignature => f.write_str("no signature matches"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Checks a Standard Webhooks signature: HMAC-SHA256, keyed with the base64-decoded part of
/// a secret after `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`. The
/// `webhook-signature` header lists space-separated `v1,<base64>` entries (other versions are
/// skipped); one matching under any of `secrets` is enough, which is how secrets rotate. A
/// timestamp more than five minutes away from `now_unix` is refused whatever the signature.
///
/// `body` must be the raw bytes received: JSON parsed and serialized again may differ.
pub fn verify(
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: u64,
) -> Result<(), VerifyError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;

    let seconds: u64 = timestamp
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if seconds + TIMESTAMP_TOLERANCE_SECS < now_unix {
        return Err(VerifyError::TimestampTooOld);
    }
    if seconds > now_unix + TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::TimestampTooNew);
    }

    let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| secret_key(s)).collect();
    if keys.is_empty() {
        return Err(VerifyError::NoUsableSecret);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| BASE64.decode(signature).ok())
        .collect();
    for key in &keys {
        let expected = sign(key, id, timestamp, body);
        // Every candidate is compared, in constant time, so that timing tells nothing.
        let matched = candidates.iter().fold(0u8, |matched, candidate| {
            matched | candidate.as_slice().ct_eq(&expected).unwrap_u8()
        });
        if matched == 1 {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

/// The key inside a `whsec_<base64>` secret.
fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.trim().strip_prefix(SECRET_PREFIX)?;
    BASE64.decode(encoded).ok().filter(|key| !key.is_empty())
}

fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// An app served at its own path, [`app_path`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverApp {
    pub name: String,
    /// Its `whsec_...` secrets; none: its requests are served but not checked.
    pub secrets: Vec<String>,
}

/// What a receiver starts with.
#[derive(Clone, Debug, Default)]
pub struct ReceiverConfig {
    /// The `whsec_...` secrets of `POST /webhook`; a request signed with any of them is
    /// verified. None: requests there are served but not checked.
    pub secrets: Vec<String>,
    /// Apps served at `POST /webhook/{name}`, each checked with its own secrets.
    pub apps: Vec<ReceiverApp>,
    /// Play a bot: answer a user's message with `{"text": "You said: ..."}`.
    pub echo: bool,
}

impl ReceiverConfig {
    /// One app at `POST /webhook`, its requests checked with `secret`.
    pub fn checked_with(secret: &str) -> ReceiverConfig {
        ReceiverConfig {
            secrets: vec![secret.to_owned()],
            ..ReceiverConfig::default()
        }
    }
}

/// A request the receiver got, verified or not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceivedEvent {
    /// The app whose path it came to (`/webhook/{app}`); `None` for `/webhook`.
    #[serde(default)]
    pub app: Option<String>,
    /// Every header, names in lower case, values as text (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
    /// The body as JSON; a body that is not JSON is kept as a JSON string.
    pub body: Value,
    /// False when the receiver has no secret for the path: the signature was not checked.
    #[serde(default)]
    pub signature_checked: bool,
    /// The signature was checked and one of the secrets matched.
    pub verified: bool,
    /// Why a checked signature did not verify.
    pub invalid_reason: Option<String>,
    pub received_at_ms: u64,
    /// The body exactly as received (invalid UTF-8 replaced): what a signature covers.
    #[serde(default)]
    pub raw_body: String,
    /// The receiver's answer: its HTTP status, and its body (`null` when empty).
    #[serde(default)]
    pub answer_status: u16,
    #[serde(default)]
    pub answer_body: Value,
}

impl ReceivedEvent {
    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A running receiver. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct Receiver {
    server: Server<ReceiverState>,
}

impl Receiver {
    /// Binds `addr` (tests use `127.0.0.1:0`), serves `POST /webhook` and `POST
    /// /webhook/{app}` in a background tokio task and returns the handle with the bound
    /// address.
    pub async fn start(addr: SocketAddr, config: ReceiverConfig) -> anyhow::Result<Receiver> {
        let (events, _) = broadcast::channel(1024);
        let state = ReceiverState {
            config,
            received: Mutex::new(Vec::new()),
            answer: Mutex::new(None),
            events,
        };
        let server = Server::start(addr, state, |state, request, peer| async move {
            Ok(state.handle(request, peer).await)
        })
        .await?;
        Ok(Receiver { server })
    }

    /// [`Receiver::start`] on a free loopback port.
    pub async fn on_loopback(config: ReceiverConfig) -> anyhow::Result<Receiver> {
        Self::start(([127, 0, 0, 1], 0).into(), config).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The URL to register as the webhook of the one app of [`ReceiverConfig::secrets`]:
    /// `http://127.0.0.1:PORT/webhook`.
    pub fn url(&self) -> String {
        format!("http://{}{WEBHOOK_PATH}", self.server.addr)
    }

    /// The URL to register as the webhook of the app `name`: `http://127.0.0.1:PORT/webhook/{name}`.
    pub fn app_url(&self, name: &str) -> String {
        app_webhook_url(&format!("http://{}", self.server.addr), name)
    }

    /// Every request received at a webhook path, in order, verified or not.
    pub fn events(&self) -> Vec<ReceivedEvent> {
        lock(&self.server.state.received).clone()
    }

    pub fn clear_events(&self) {
        lock(&self.server.state.received).clear();
    }

    /// Verified (and unchecked) requests are answered with `status` and `body` (none: an
    /// empty body) from now until changed: 503 plays an app that is down, 410 one that is gone.
    /// Requests whose signature does not verify are still answered 401.
    pub fn set_answer(&self, status: u16, body: Option<Value>) {
        *lock(&self.server.state.answer) = Some((status, body));
    }

    /// Back to the default answer: `200 {"ok": true}`, or the echo.
    pub fn reset_answer(&self) {
        *lock(&self.server.state.answer) = None;
    }

    /// Each request as it arrives, for live logs (the binary prints them).
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedEvent> {
        self.server.state.events.subscribe()
    }
}

struct ReceiverState {
    config: ReceiverConfig,
    received: Mutex<Vec<ReceivedEvent>>,
    /// `None`: the default answer.
    answer: Mutex<Option<(u16, Option<Value>)>>,
    events: broadcast::Sender<ReceivedEvent>,
}

impl ReceiverState {
    /// The app a path is for (`None`: `/webhook`), or `Err` for a path served by nobody.
    fn app_of(path: &str) -> Result<Option<String>, ()> {
        if path == WEBHOOK_PATH {
            return Ok(None);
        }
        let encoded = path
            .strip_prefix(WEBHOOK_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or(())?;
        match percent_decode_str(encoded).decode_utf8() {
            Ok(name) if !name.contains('/') => Ok(Some(name.into_owned())),
            _ => Err(()),
        }
    }

    /// The secrets a path is checked with; none for an app the receiver has no secret for.
    fn secrets_for(&self, app: Option<&str>) -> &[String] {
        match app {
            None => &self.config.secrets,
            Some(name) => self
                .config
                .apps
                .iter()
                .find(|known| known.name == name)
                .map(|known| known.secrets.as_slice())
                .unwrap_or(&[]),
        }
    }

    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Answer {
        if request.uri().path() == EVENTS_PATH {
            return self.list_events(&request, peer);
        }
        if request.uri().path() == ANSWER_PATH {
            return self.change_answer(request, peer).await;
        }
        let Ok(app) = Self::app_of(request.uri().path()) else {
            return failure(StatusCode::NOT_FOUND, "not found");
        };
        if request.method() != Method::POST {
            return failure(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let headers = request.headers().clone();
        let body = match read_body(request).await {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secrets = self.secrets_for(app.as_deref());
        let signature_checked = !secrets.is_empty();
        let verdict = if signature_checked {
            verify(secrets, &headers, &body, now.as_secs())
        } else {
            Ok(())
        };
        let mut event = ReceivedEvent {
            app,
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
            signature_checked,
            verified: signature_checked && verdict.is_ok(),
            invalid_reason: verdict.err().map(|e| e.to_string()),
            received_at_ms: now.as_millis() as u64,
            raw_body: String::from_utf8_lossy(&body).into_owned(),
            answer_status: 0,
            answer_body: Value::Null,
        };
        let (status, answer_body) = self.answer_for(&event);
        event.answer_status = status.as_u16();
        event.answer_body = answer_body.clone().unwrap_or(Value::Null);
        let answer = match answer_body {
            Some(body) => json_answer(status, &body),
            None => {
                let mut answer = Answer::default();
                *answer.status_mut() = status;
                answer
            }
        };
        lock(&self.received).push(event.clone());
        // Nobody listening is fine: the log is for people, the record above is for tests.
        let _ = self.events.send(event);
        answer
    }

    /// The status and body (none: empty) to answer a request with.
    fn answer_for(&self, event: &ReceivedEvent) -> (StatusCode, Option<Value>) {
        if event.signature_checked && !event.verified {
            return (
                StatusCode::UNAUTHORIZED,
                Some(failure_body("invalid signature")),
            );
        }
        match lock(&self.answer).clone() {
            Some((status, body)) => (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body),
            // `fchat-admin app test-webhook`'s ping: the verdict is echoed (null: not checked).
            None if event.body["event"] == "ping" => (
                StatusCode::OK,
                Some(
                    json!({"ok": true, "signature_verified": event.signature_checked.then_some(event.verified)}),
                ),
            ),
            None => match self.config.echo.then(|| echo(&event.body)).flatten() {
                Some(reply) => (StatusCode::OK, Some(reply)),
                None => (StatusCode::OK, Some(json!({"ok": true}))),
            },
        }
    }

    /// `GET /_receiver/events`: what [`Receiver::events`] answers, for a receiver running as a
    /// separate process (the local stack's console reads it). Loopback peers only.
    fn list_events(&self, request: &Request<Incoming>, peer: SocketAddr) -> Answer {
        if !peer.ip().is_loopback() {
            return failure(StatusCode::FORBIDDEN, "loopback only");
        }
        if request.method() != Method::GET {
            return failure(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        json_answer(StatusCode::OK, &*lock(&self.received))
    }
}

/// A bot's reply to a user's message: `{"text": "You said: <text>"}`.
fn echo(body: &Value) -> Option<Value> {
    if body["event"] != "message" {
        return None;
    }
    let text = body["message"]["text"].as_str()?;
    Some(json!({"text": format!("You said: {text}")}))
}

fn failure(status: StatusCode, error: &str) -> Answer {
    json_answer(status, &failure_body(error))
}

fn failure_body(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    /// The seed's app secret (`infra/local/seed.json`).
    const SECRET: &str = "whsec_O0PrM7LIUOD/7Mw/aWYEcHrYT84mdpo07/YwJNBFDuM=";
    const ID: &str = "u-7.MY_APP";
    const TIMESTAMP: u64 = 1_795_356_000;
    const BODY: &str = r#"{"event":"message","app":"MY_APP","message":{"text":"Xin chào"}}"#;
    /// Computed independently of this crate, with Python's standard library:
    /// `base64.b64encode(hmac.new(base64.b64decode(SECRET[6:]),
    ///  f"{ID}.{TIMESTAMP}.".encode() + BODY.encode(), hashlib.sha256).digest())`.
    const SIGNATURE: &str = "v1,Sq2pYRjYgEArI3ErwZEfuDmLsOm79vPns13DdWX/LkU=";

    fn headers(id: &str, timestamp: u64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        headers
    }

    fn secrets(secrets: &[&str]) -> Vec<String> {
        secrets.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_known_answer_verifies() {
        let headers = headers(ID, TIMESTAMP, SIGNATURE);
        assert_eq!(
            verify(&secrets(&[SECRET]), &headers, BODY.as_bytes(), TIMESTAMP),
            Ok(())
        );
    }

    #[test]
    fn the_specifications_example_secret_verifies() {
        // The example the Standard Webhooks libraries document, recomputed with Python as
        // above: g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=.
        let headers = headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let secret = secrets(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        assert_eq!(
            verify(&secret, &headers, br#"{"test": 2432232314}"#, 1_614_265_330),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_secret_does_not_verify() {
        let headers = headers(ID, TIMESTAMP, SIGNATURE);
        let other = secrets(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        assert_eq!(
            verify(&other, &headers, BODY.as_bytes(), TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verify(
                &secrets(&["not-a-secret"]),
                &headers,
                BODY.as_bytes(),
                TIMESTAMP
            ),
            Err(VerifyError::NoUsableSecret)
        );
        assert_eq!(
            verify(&[], &headers, BODY.as_bytes(), TIMESTAMP),
            Err(VerifyError::NoUsableSecret)
        );
    }

    #[test]
    fn a_tampered_request_does_not_verify() {
        let tampered = BODY.replace("chào", "chao");
        let good = headers(ID, TIMESTAMP, SIGNATURE);
        assert_eq!(
            verify(&secrets(&[SECRET]), &good, tampered.as_bytes(), TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        // The id and the timestamp are signed too.
        let other_id = headers("u-8.MY_APP", TIMESTAMP, SIGNATURE);
        assert_eq!(
            verify(&secrets(&[SECRET]), &other_id, BODY.as_bytes(), TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_time = headers(ID, TIMESTAMP + 1, SIGNATURE);
        assert_eq!(
            verify(&secrets(&[SECRET]), &other_time, BODY.as_bytes(), TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_are_refused() {
        let headers = headers(ID, TIMESTAMP, SIGNATURE);
        let secret = secrets(&[SECRET]);
        let body = BODY.as_bytes();
        assert_eq!(verify(&secret, &headers, body, TIMESTAMP + 300), Ok(()));
        assert_eq!(verify(&secret, &headers, body, TIMESTAMP - 300), Ok(()));
        assert_eq!(
            verify(&secret, &headers, body, TIMESTAMP + 301),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify(&secret, &headers, body, TIMESTAMP - 301),
            Err(VerifyError::TimestampTooNew)
        );
    }

    #[test]
    fn any_listed_v1_signature_may_match() {
        let secret = secrets(&[SECRET]);
        let body = BODY.as_bytes();
        let listed = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {SIGNATURE}");
        assert_eq!(
            verify(&secret, &headers(ID, TIMESTAMP, &listed), body, TIMESTAMP),
            Ok(())
        );
        // Another scheme's entry and garbage are skipped, not fatal.
        let mixed = format!("v1a,c2lnbmF0dXJl garbage v1,!!! {SIGNATURE}");
        assert_eq!(
            verify(&secret, &headers(ID, TIMESTAMP, &mixed), body, TIMESTAMP),
            Ok(())
        );
        // Only v1 is HMAC: the right bytes under another version do not count.
        let relabelled = SIGNATURE.replacen("v1,", "v2,", 1);
        assert_eq!(
            verify(
                &secret,
                &headers(ID, TIMESTAMP, &relabelled),
                body,
                TIMESTAMP
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        // Rotation: the old secret listed first, the right one second.
        let rotated = secrets(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SECRET]);
        assert_eq!(
            verify(
                &rotated,
                &headers(ID, TIMESTAMP, SIGNATURE),
                body,
                TIMESTAMP
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let secret = secrets(&[SECRET]);
        let body = BODY.as_bytes();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut headers = headers(ID, TIMESTAMP, SIGNATURE);
            headers.remove(name);
            assert_eq!(
                verify(&secret, &headers, body, TIMESTAMP),
                Err(VerifyError::MissingHeader(name))
            );
        }
        let mut headers = headers(ID, TIMESTAMP, SIGNATURE);
        headers.insert("webhook-timestamp", HeaderValue::from_static("soon"));
        assert_eq!(
            verify(&secret, &headers, body, TIMESTAMP),
            Err(VerifyError::InvalidTimestamp)
        );
    }

    #[test]
    fn app_paths_are_one_encoded_segment() {
        assert_eq!(app_path("MY_APP"), "/webhook/MY_APP");
        assert_eq!(app_path("ci-bot"), "/webhook/ci-bot");
        assert_eq!(app_path("a b/c?d#e"), "/webhook/a%20b%2Fc%3Fd%23e");
        assert_eq!(app_path("my.app~1"), "/webhook/my.app~1");
        assert_eq!(
            app_webhook_url("http://127.0.0.1:9002/", "Đội"),
            "http://127.0.0.1:9002/webhook/%C4%90%E1%BB%99i"
        );
        for name in ["MY_APP", "a b/c?d#e", "my.app", "Đội vận hành", "%41"] {
            assert_eq!(
                ReceiverState::app_of(&app_path(name)),
                if name.contains('/') {
                    Err(())
                } else {
                    Ok(Some(name.to_owned()))
                },
                "{name}"
            );
        }
        assert_eq!(ReceiverState::app_of("/webhook"), Ok(None));
        assert_eq!(ReceiverState::app_of("/webhook/"), Err(()));
        assert_eq!(ReceiverState::app_of("/webhookx"), Err(()));
    }

    #[test]
    fn echo_answers_users_messages_only() {
        assert_eq!(
            echo(&json!({"event": "message", "message": {"text": "hi"}})),
            Some(json!({"text": "You said: hi"}))
        );
        assert_eq!(
            echo(&json!({"event": "callback_query", "message": {"text": "hi"}})),
            None
        );
        assert_eq!(echo(&json!({"event": "message", "message": {}})), None);
    }
}
