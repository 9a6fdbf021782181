//! The Runtime API routes a function process calls on its instance's listener: `/next` hands
//! the invocation out, `/response` and `/error` complete it, `/init/error` records a failed
//! initialization.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use super::error::MAX_RESPONSE_PAYLOAD;
use super::function::Function;
use super::http::{accepted, error_json, header_text, json_error, text};
use super::ids::{self, epoch_millis, trace_id};
use super::instance::{Event, Instance};
use super::lock;

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";

impl Instance {
    /// `GET /next`: waits for the invocation handed to this instance, if its invoker still waits.
    pub(super) async fn next(&self, function: &Function) -> Response<Full<Bytes>> {
        self.status
            .send_if_modified(|s| !std::mem::replace(&mut s.initialized, true));
        let mut queue = self.queue_rx.lock().await;
        loop {
            let Some(pending) = queue.recv().await else {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the invocation queue is closed",
                );
            };
            if pending.events.is_closed() {
                continue; // its invoker gave up while it was queued
            }
            let request_id = ids::request_id();
            let timeout = function.spec.timeout;
            let deadline = Instant::now() + timeout;
            let deadline_ms = epoch_millis() + timeout.as_millis();
            let _ = pending.events.send(Event::Dispatched { deadline });
            lock(&self.inflight).insert(request_id.clone(), (pending.events, Instant::now()));
            function.touch();

            let mut response = Response::new(Full::new(pending.payload));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", request_id);
            set("lambda-runtime-deadline-ms", deadline_ms.to_string());
            set("lambda-runtime-invoked-function-arn", function.arn.clone());
            set("lambda-runtime-trace-id", trace_id());
            return response;
        }
    }

    /// `/response` or `/error` for an invocation.
    fn complete(
        &self,
        function: &Function,
        request_id: &str,
        outcome: Result<Vec<u8>, Vec<u8>>,
    ) -> Response<Full<Bytes>> {
        let Some((events, dispatched)) = lock(&self.inflight).remove(request_id) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                &format!("unknown request id {request_id}"),
            );
        };
        function.completed.fetch_add(1, Ordering::Relaxed);
        lock(&function.durations).push(dispatched.elapsed());
        function.touch();
        if events.send(Event::Done(outcome)).is_err() {
            // The invoker gave up (timeout); lambda_runtime logs 410 as a stale response.
            return json_error(
                StatusCode::GONE,
                "InvocationTimedOut",
                &format!("invocation {request_id} timed out before its response"),
            );
        }
        accepted()
    }
}

pub(super) async fn runtime_api(
    function: Arc<Function>,
    instance: Arc<Instance>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(route) = path.strip_prefix(RUNTIME_PREFIX) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let method = req.method().clone();
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => instance.next(&function).await,
        (Method::POST, ["invocation", request_id, "response"]) => {
            let request_id = request_id.to_string();
            let outcome = match read_body_with_trailers(req).await {
                Ok(outcome) => outcome,
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
            };
            if outcome
                .as_ref()
                .is_ok_and(|body| body.len() > MAX_RESPONSE_PAYLOAD)
            {
                // Lambda fails the invocation and tells the runtime its response was too large.
                let error = error_json(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size \
                         ({MAX_RESPONSE_PAYLOAD} bytes)."
                    ),
                );
                let completed = instance.complete(&function, &request_id, Err(error));
                if completed.status() != StatusCode::ACCEPTED {
                    return completed;
                }
                return json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Function.ResponseSizeTooLarge",
                    &format!("response exceeds {MAX_RESPONSE_PAYLOAD} bytes"),
                );
            }
            instance.complete(&function, &request_id, outcome)
        }
        (Method::POST, ["invocation", request_id, "error"]) => {
            let request_id = request_id.to_string();
            let error_type = header_text(&req, "lambda-runtime-function-error-type");
            let body = match req.into_body().collect().await {
                Ok(body) => body.to_bytes().to_vec(),
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
            };
            let body = if body.is_empty() {
                error_json(error_type.as_deref().unwrap_or("Unhandled"), "")
            } else {
                body
            };
            instance.complete(&function, &request_id, Err(body))
        }
        (Method::POST, ["init", "error"]) => {
            let error_type = header_text(&req, "lambda-runtime-function-error-type");
            let body = match req.into_body().collect().await {
                Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
            };
            let body = if body.is_empty() {
                error_type.unwrap_or_else(|| "Runtime.InitError".to_owned())
            } else {
                body
            };
            instance.status.send_modify(|s| {
                s.init_error.get_or_insert(body);
            });
            accepted()
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A `/response` body; a streamed response may end with error trailers instead.
async fn read_body_with_trailers(
    req: Request<Incoming>,
) -> Result<Result<Vec<u8>, Vec<u8>>, hyper::Error> {
    let collected = req.into_body().collect().await?;
    let error_type = collected.trailers().and_then(|t| {
        let error_type = t.get("lambda-runtime-function-error-type")?.to_str().ok()?;
        let body = t
            .get("lambda-runtime-function-error-body")
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .ok()
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Some(error_json(error_type, &body))
    });
    Ok(match error_type {
        Some(error) => Err(error),
        None => Ok(collected.to_bytes().to_vec()),
    })
}
