//! The simulator's answers in FChat's error format, reading bounded request bodies, and the
//! background server behind the simulator's and the receiver's handles.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Bigger bodies are refused: nothing the gateway sends comes close, and a bound keeps a
/// runaway client from exhausting memory.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Returned by the service to make hyper close the connection without writing an answer:
/// this is how `drop_next` and the end of a hang look to the client.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

pub(crate) type Answer = Response<Full<Bytes>>;

/// A server running in a background tokio task, with the state its requests are answered
/// from. Dropping it stops the server and closes its connections, so that a test's server
/// never outlives the test.
pub(crate) struct Server<S> {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<S>,
    _shutdown: watch::Sender<()>,
}

impl<S: Send + Sync + 'static> Server<S> {
    /// Binds `addr` (tests use `127.0.0.1:0`) and serves each request through
    /// `handle(state, request, peer)`; [`DropConnection`] closes the connection unanswered.
    pub(crate) async fn start<F>(
        addr: SocketAddr,
        state: S,
        handle: fn(Arc<S>, Request<Incoming>, SocketAddr) -> F,
    ) -> anyhow::Result<Server<S>>
    where
        F: Future<Output = Result<Answer, DropConnection>> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(state);
        let served = state.clone();
        let (shutdown, mut stopped) = watch::channel(());
        tokio::spawn(fchat_loopback::serve(
            listener,
            move |request, peer| handle(served.clone(), request, peer),
            async move {
                let _ = stopped.changed().await;
            },
        ));
        Ok(Server {
            addr,
            state,
            _shutdown: shutdown,
        })
    }
}

/// `Server { addr: ..., .. }`: what a handle shows of itself.
impl<S> fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn read_body(request: Request<Incoming>) -> Result<Bytes, Answer> {
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

pub(crate) async fn read_json<T: for<'de> Deserialize<'de>>(
    request: Request<Incoming>,
) -> Result<T, Answer> {
    let body = read_body(request).await?;
    serde_json::from_slice(&body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "Bad Request: invalid JSON"))
}

pub(crate) fn json_answer<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Answer {
    // Serialising these types cannot fail (string keys, no custom serialisers).
    let body = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

pub(crate) fn ok(result: Value) -> Answer {
    json_answer(StatusCode::OK, &json!({"ok": true, "result": result}))
}

pub(crate) fn error(status: StatusCode, description: &str) -> Answer {
    json_answer(
        status,
        &json!({"ok": false, "error_code": status.as_u16(), "description": description}),
    )
}

pub(crate) fn unauthorized() -> Answer {
    error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

pub(crate) fn method_not_allowed() -> Answer {
    error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

pub(crate) fn rate_limited(seconds: u64) -> Answer {
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
