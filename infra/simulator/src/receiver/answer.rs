//! `PUT` and `DELETE /_receiver/answer`: the receiver's answer set over HTTP, for a receiver
//! running as a separate process (`make dev`'s, in the approval walkthrough of
//! `docs/conversations.md`).

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use super::{failure, ReceiverState};
use crate::http::{json_answer, read_body, Answer};
use crate::lock;

impl ReceiverState {
    /// `PUT` or `DELETE /_receiver/answer`: [`Receiver::set_answer`] and
    /// [`Receiver::reset_answer`] for a receiver running as a separate process.
    pub(super) async fn change_answer(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Answer {
        #[derive(serde::Deserialize)]
        struct Wanted {
            status: u16,
            #[serde(default)]
            body: Option<Value>,
        }
        if !peer.ip().is_loopback() {
            return failure(StatusCode::FORBIDDEN, "loopback only");
        }
        match *request.method() {
            Method::DELETE => {
                *lock(&self.answer) = None;
                json_answer(StatusCode::OK, &json!({"ok": true}))
            }
            Method::PUT => {
                let body = match read_body(request).await {
                    Ok(body) => body,
                    Err(answer) => return answer,
                };
                match serde_json::from_slice::<Wanted>(&body) {
                    Ok(wanted) if StatusCode::from_u16(wanted.status).is_ok() => {
                        *lock(&self.answer) = Some((wanted.status, wanted.body.clone()));
                        json_answer(
                            StatusCode::OK,
                            &json!({"status": wanted.status, "body": wanted.body}),
                        )
                    }
                    _ => failure(
                        StatusCode::BAD_REQUEST,
                        "send {\"status\": <HTTP status>, \"body\": <JSON or null>}",
                    ),
                }
            }
            _ => failure(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        }
    }
}
