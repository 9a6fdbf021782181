//! The console's HTTP client to the rest of the local stack (all on loopback): JSON in, status
//! and JSON out, each call bounded in time and size.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Acting as a user waits for the gateway, which waits up to 5 s for an app's webhook.
const TIMEOUT: Duration = Duration::from_secs(35);

/// The biggest answer read: the simulator's record of a long session stays well below.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

pub(super) struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    pub(super) fn new() -> Upstream {
        Upstream {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET url`, whose answer must be a 200 with JSON.
    pub(super) async fn get(&self, url: String) -> Result<Value, String> {
        match self
            .call(Method::GET, &url, None)
            .await
            .map_err(|why| format!("GET {url}: {why}"))?
        {
            (200, body) => Ok(body),
            (status, body) => Err(format!("GET {url} answered {status}: {body}")),
        }
    }

    /// Any request; answers the status and the body as JSON (`null` when empty, a JSON string
    /// when not JSON). `Err` says why no answer came, without the URL (which may hold a
    /// token): the caller says what it asked.
    pub(super) async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let request = Request::builder()
            .method(method)
            .uri(url)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                body.map(Value::to_string).unwrap_or_default(),
            )))
            .map_err(|e| format!("not a request: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| root_cause(&e))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            };
            Ok((status, body))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {TIMEOUT:?}")))
    }
}

/// An error with its causes: "connection refused" is what a developer needs to see.
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut why = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    why
}
