//! The `/_sim/` control routes: the HTTP face of the [`crate::Simulator`] handle, for a
//! simulator running as a separate process. Loopback peers only, since they need no token.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::act::ActError;
use crate::faults::Faults;
use crate::http::{error, json_answer, method_not_allowed, ok, read_json, Answer};
use crate::limits::Limits;
use crate::lock;
use crate::model::{ButtonRef, SimUser};
use crate::state::{Callback, State};

impl State {
    /// The answer of a control endpoint that acts as a user.
    fn acted(outcome: Result<(u16, Value), ActError>) -> Answer {
        match outcome {
            Ok((status, body)) => {
                json_answer(StatusCode::OK, &json!({"status": status, "body": body}))
            }
            Err(e) => e.answer(),
        }
    }

    /// The `/_sim/` endpoints: the HTTP face of the [`crate::Simulator`] handle, for a simulator
    /// running as a separate process. Loopback peers only, since they need no token.
    pub(crate) async fn control(&self, request: Request<Incoming>, peer: SocketAddr) -> Answer {
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
            ("/_sim/actions", Method::GET) => json_answer(StatusCode::OK, &lock(&self.log).actions),
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
            ("/_sim/limits", Method::GET) => {
                json_answer(StatusCode::OK, &lock(&self.limits).status())
            }
            ("/_sim/limits", Method::PUT) => match read_json::<Limits>(request).await {
                Ok(limits) => {
                    let mut limiter = lock(&self.limits);
                    limiter.set(Some(limits));
                    json_answer(StatusCode::OK, &limiter.status())
                }
                Err(answer) => answer,
            },
            ("/_sim/limits", Method::DELETE) => {
                let mut limiter = lock(&self.limits);
                limiter.set(None);
                json_answer(StatusCode::OK, &limiter.status())
            }
            ("/_sim/users", Method::GET) => ok(json!(*lock(&self.users))),
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
                "/_sim/health" | "/_sim/messages" | "/_sim/actions" | "/_sim/faults"
                | "/_sim/limits" | "/_sim/users" | "/_sim/groups" | "/_sim/callback"
                | "/_sim/act/text" | "/_sim/act/click" | "/_sim/act/room",
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
