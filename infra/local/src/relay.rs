//! Passes a request on, unchanged, to another loopback server and brings back its whole
//! answer: how the IAM gate reaches moto, and how the benchmarks' counting proxy does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{request, response};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A plain-HTTP client for [`relay`], one per server (it keeps its connections open).
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// `parts` and `body` sent to `upstream` (a base URL) with the same method, path, query and
/// headers; the answer's head and whole body. An upstream that cannot be reached, or a
/// request that cannot be rebuilt, is answered `502 Bad Gateway`, as a proxy answers.
pub async fn relay(
    client: &Client,
    upstream: &str,
    parts: &request::Parts,
    body: Bytes,
) -> Result<(response::Parts, Bytes), hyper::Error> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut outgoing = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", upstream.trim_end_matches('/')));
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name, value);
    }
    let answer = match outgoing.body(Full::new(body)) {
        Ok(outgoing) => client.request(outgoing).await.ok(),
        Err(_) => None,
    };
    let Some(answer) = answer else {
        let (mut head, ()) = Response::new(()).into_parts();
        head.status = StatusCode::BAD_GATEWAY;
        return Ok((head, Bytes::new()));
    };
    let (head, body) = answer.into_parts();
    Ok((head, body.collect().await?.to_bytes()))
}
