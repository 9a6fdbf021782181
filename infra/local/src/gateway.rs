//! A stand-in for API Gateway (HTTP API, payload format 2.0) on loopback: it matches each
//! request against the routes `template.yaml` declares, turns it into the event API Gateway
//! would send, invokes the function through the Lambda Invoke API (`cargo lambda watch`'s or
//! [`crate::runtime`]'s) and turns the function's answer back into HTTP.
//!
//! It holds API Gateway's limits and answers what API Gateway answers by itself, in its own
//! `{"message": ...}` format. What AWS documents, and what is assumed here:
//! - routes: a request no route matches is `404 {"message":"Not Found"}` (what HTTP APIs are
//!   seen to answer; the format is API Gateway's default gateway response);
//! - the request target must be a path: API Gateway routes paths only. `OPTIONS *` (asterisk
//!   form) and `CONNECT host:443` (authority form) are answered `400 {"message":"Bad
//!   Request"}`, and so is a `Host` that is not a host name or address with an optional port,
//!   or more than one `Host` (RFC 9112 §3.2 asks a server for 400). AWS documents none of
//!   these answers: the status and message are assumed. An absolute-form target
//!   (`GET http://host/path`) is routed by its path, as RFC 9112 §3.2.2 has servers accept it.
//! - payload: 10 MB (documented as the HTTP API's quota, "Payload size", not adjustable);
//!   above it `413 {"message":"Request Entity Too Large"}` (the message is assumed; REST
//!   APIs' `REQUEST_TOO_LARGE` gateway response is documented as 413).
//! - integration timeout: 30 s (documented, "Maximum integration timeout"); then
//!   `503 {"message":"Service Unavailable"}` (assumed from what HTTP APIs are seen to answer;
//!   REST APIs document `INTEGRATION_TIMEOUT` as 504). [`LocalGateway::with_timeout`] shortens
//!   it for tests. The invocation goes on after the gateway gives up, as on AWS.
//! - an invocation that fails (a function error, a crash, an event over Lambda's 6 MiB
//!   synchronous payload) is `500 {"message":"Internal Server Error"}` (AWS's troubleshooting
//!   guide for HTTP API Lambda integrations gives it for an error or a malformed answer; for
//!   Lambda refusing the event's size it is assumed).
//! - `X-Forwarded-Proto`, `X-Forwarded-Port` and `X-Forwarded-For` are the gateway's, not the
//!   client's, as in HTTP API events: the client's `X-Forwarded-For` is kept, the peer's
//!   address appended.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::invoke::Invoker;
use crate::template::{HttpRoute, DEFAULT_ROUTE};

/// API Gateway's own payload limit: the HTTP API's quota is "10 MB" (counted here as MiB).
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;
/// How long API Gateway waits for an HTTP API's integration.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct LocalGateway {
    routes: Vec<HttpRoute>,
    invoker: Invoker,
    /// How long an invocation may take before the client gets `503`.
    pub timeout: Duration,
    /// The port it listens on, for `X-Forwarded-Port`.
    port: u16,
}

impl LocalGateway {
    /// `invoke_base` is where the Invoke API listens, e.g. `http://127.0.0.1:9010`.
    pub fn new(routes: Vec<HttpRoute>, invoker: Invoker) -> Self {
        LocalGateway {
            routes,
            invoker,
            timeout: INTEGRATION_TIMEOUT,
            port: 0,
        }
    }

    /// The gateway with another integration timeout than API Gateway's 30 s (for tests).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Serves on `addr` in the background and returns the bound address.
    pub async fn serve(mut self, addr: SocketAddr) -> Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        self.port = bound.port();
        let gateway = Arc::new(self);
        fchat_loopback::spawn(listener, move |request, peer| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
        });
        Ok(bound)
    }

    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let method = request.method().as_str().to_owned();
        // Asterisk form (`OPTIONS *`) and authority form (`CONNECT host:443`) name no path.
        if !path.starts_with('/') || !host_is_acceptable(request.headers()) {
            return gateway_answer(StatusCode::BAD_REQUEST, "Bad Request");
        }
        let Some(route) = match_route(&self.routes, &method, &path) else {
            return gateway_answer(StatusCode::NOT_FOUND, "Not Found");
        };
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_PAYLOAD_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
            }
        };
        let event = api_gateway_event(route, &parts, &body, peer, self.port);
        let invocation = tokio::time::timeout(self.timeout, self.invoke(&route.function, event));
        match invocation.await {
            Ok(Ok(response)) => response,
            Err(_) => {
                eprintln!(
                    "local gateway: {method} {path} -> {}: no answer within {:?}",
                    route.function, self.timeout
                );
                gateway_answer(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            Ok(Err(error)) => {
                eprintln!(
                    "local gateway: {method} {path} -> {}: {error:#}",
                    route.function
                );
                gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }

    async fn invoke(&self, function: &str, event: Value) -> Result<Response<Full<Bytes>>> {
        let answer = self.invoker.invoke(function, &event).await?;
        http_response_from_function(&answer)
    }
}

/// The most specific route for a request, as API Gateway chooses: literal segments beat
/// parameters, parameters beat a greedy `{proxy+}`, a method beats `ANY`, and the `$default`
/// route takes what nothing else matches.
pub fn match_route<'a>(routes: &'a [HttpRoute], method: &str, path: &str) -> Option<&'a HttpRoute> {
    routes
        .iter()
        .filter(|r| r.method == "ANY" || r.method.eq_ignore_ascii_case(method))
        .filter_map(|r| {
            if r.path == DEFAULT_ROUTE {
                return Some(((false, (false, 0), false), r));
            }
            path_specificity(&r.path, path).map(|score| ((true, score, r.method != "ANY"), r))
        })
        .max_by_key(|(score, _)| *score)
        .map(|(_, route)| route)
}

/// `None` if `pattern` does not match `path`; otherwise how specific the match is.
fn path_specificity(pattern: &str, path: &str) -> Option<(bool, usize)> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut literals = 0;
    for (i, segment) in pattern.iter().enumerate() {
        if segment.starts_with('{') && segment.ends_with("+}") {
            let rest = &path[i.min(path.len())..];
            return (!rest.is_empty() && rest.iter().any(|s| !s.is_empty()))
                .then_some((false, literals));
        }
        let actual = path.get(i)?;
        if segment.starts_with('{') {
            if actual.is_empty() {
                return None;
            }
        } else if segment == actual {
            literals += 1;
        } else {
            return None;
        }
    }
    (pattern.len() == path.len()).then_some((true, literals))
}

/// A `Host` API Gateway could have routed: at most one, a host name or an IP address with an
/// optional port. None at all (HTTP/1.0) is taken.
fn host_is_acceptable(headers: &hyper::HeaderMap) -> bool {
    let mut hosts = headers.get_all(hyper::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) => true,
        (Some(host), None) => host.to_str().is_ok_and(is_host_and_port),
        (Some(_), Some(_)) => false,
    }
}

/// `name`, `name:port`, `1.2.3.4:port`, `[::1]:port`: a DNS name of letters, digits, `-` and
/// `_` in dot-separated labels (an IPv4 address is one), or a bracketed IPv6 address; a port
/// of 1 to 5 digits up to 65535.
fn is_host_and_port(value: &str) -> bool {
    if let Some(rest) = value.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, after)) => {
                address.parse::<std::net::Ipv6Addr>().is_ok()
                    && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port))
            }
            None => false,
        };
    }
    let (name, port_ok) = match value.split_once(':') {
        Some((name, port)) => (name, is_port(port)),
        None => (value, true),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    port_ok
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

fn api_gateway_event(
    route: &HttpRoute,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    peer: SocketAddr,
    port: u16,
) -> Value {
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_owned(), Value::from(values.join(",")));
    }
    // The forwarding headers are API Gateway's own.
    let forwarded_for = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {}", peer.ip()),
        _ => peer.ip().to_string(),
    };
    headers.insert("x-forwarded-for".into(), Value::from(forwarded_for));
    headers.insert("x-forwarded-port".into(), Value::from(port.to_string()));
    headers.insert("x-forwarded-proto".into(), Value::from("http"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let route_key = if route.path == DEFAULT_ROUTE {
        DEFAULT_ROUTE.to_owned()
    } else {
        format!("{} {}", route.method, route.path)
    };
    let path = parts.uri.path();
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::from(text), false),
        Err(_) => (
            Value::from(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// API Gateway's reading of a payload 2.0 answer: an object with `statusCode` is a response;
/// anything else is a JSON body with status 200.
fn http_response_from_function(payload: &[u8]) -> Result<Response<Full<Bytes>>> {
    let value: Value = serde_json::from_slice(payload)?;
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(value.to_string())))?);
    };
    let mut response = Response::builder().status(u16::try_from(status)?);
    if let Some(headers) = value.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            if let Some(value) = value.as_str() {
                response = response.header(name, value);
            }
        }
    }
    let body = value.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        Bytes::from(base64::engine::general_purpose::STANDARD.decode(body)?)
    } else {
        Bytes::from(body.to_owned())
    };
    Ok(response.body(Full::new(body))?)
}

/// An answer API Gateway gives by itself, in its own format.
fn gateway_answer(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({ "message": message }).to_string(),
    )));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, function: &str) -> HttpRoute {
        HttpRoute {
            method: method.into(),
            path: path.into(),
            function: function.into(),
        }
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = vec![
            route("ANY", "/{proxy+}", "ingest"),
            route("POST", "/callback/fchat", "callback"),
            route("GET", "/{token}/messages/{id}", "status"),
        ];
        let chosen = |method, path| match_route(&routes, method, path).map(|r| r.function.as_str());
        assert_eq!(chosen("POST", "/callback/fchat"), Some("callback"));
        assert_eq!(chosen("POST", "/tok/fchat"), Some("ingest"));
        assert_eq!(chosen("POST", "/webhooks/app/tok"), Some("ingest"));
        assert_eq!(chosen("GET", "/callback/fchat"), Some("ingest"));
        assert_eq!(chosen("GET", "/tok/messages/c1"), Some("status"));
        assert_eq!(chosen("GET", "/"), None);
    }

    #[test]
    fn the_default_route_takes_the_root_however_many_slashes() {
        let routes = vec![
            route("ANY", "/{proxy+}", "ingest"),
            route("ANY", DEFAULT_ROUTE, "root"),
            route("POST", "/callback/fchat", "callback"),
        ];
        let chosen = |method, path| match_route(&routes, method, path).map(|r| r.function.as_str());
        for method in ["GET", "POST", "DELETE", "PATCH"] {
            for path in ["/", "//", "///"] {
                assert_eq!(chosen(method, path), Some("root"), "{method} {path}");
            }
        }
        assert_eq!(chosen("POST", "/app/tok"), Some("ingest"));
        assert_eq!(chosen("POST", "/a//b"), Some("ingest"));
    }

    #[test]
    fn hosts_are_names_or_addresses_with_a_port_in_range() {
        let port = 1024 + std::process::id() % 60_000;
        for good in [
            format!("127.0.0.1:{port}"),
            format!("api-{port}.example.com"),
            format!("abc{port}.execute-api.us-east-1.amazonaws.com:443"),
            "localhost".to_owned(),
            "example.com.".to_owned(),
            format!("[::1]:{port}"),
            "[2001:db8::7]".to_owned(),
        ] {
            assert!(is_host_and_port(&good), "{good}");
        }
        for bad in [
            format!("127.0.0.1:{}", 65_536 + port),
            format!("api.example:{port}*"),
            "api example".to_owned(),
            "a@b.example".to_owned(),
            "host:".to_owned(),
            ":443".to_owned(),
            "[::1".to_owned(),
            "[not-v6]:80".to_owned(),
            "a..b".to_owned(),
            "a/b".to_owned(),
            String::new(),
        ] {
            assert!(!is_host_and_port(&bad), "{bad}");
        }
    }

    #[test]
    fn function_answers_become_http() {
        let answer = br#"{"statusCode":404,"headers":{"content-type":"application/json"},"body":"{\"ok\":false}"}"#;
        let response = http_response_from_function(answer).unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/json");
        let plain = http_response_from_function(br#"{"ok":true}"#).unwrap();
        assert_eq!(plain.status(), 200);
    }
}
