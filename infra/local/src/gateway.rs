//! A stand-in for API Gateway (HTTP API, payload format 2.0) on loopback: it matches each
//! request against the routes `template.yaml` declares, turns it into the event API Gateway
//! would send, invokes the function through the Lambda Invoke API (`cargo lambda watch`'s or
//! [`crate::runtime`]'s) and turns the function's answer back into HTTP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::invoke::Invoker;
use crate::provision::{HttpRoute, DEFAULT_ROUTE};

/// API Gateway's own payload limit.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

pub struct LocalGateway {
    routes: Vec<HttpRoute>,
    invoker: Invoker,
}

impl LocalGateway {
    /// `invoke_base` is where the Invoke API listens, e.g. `http://127.0.0.1:9010`.
    pub fn new(routes: Vec<HttpRoute>, invoker: Invoker) -> Self {
        LocalGateway { routes, invoker }
    }

    /// Serves on `addr` in the background and returns the bound address.
    pub async fn serve(self, addr: SocketAddr) -> Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
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
        let event = api_gateway_event(route, &parts, &body, peer);
        match self.invoke(&route.function, event).await {
            Ok(response) => response,
            Err(error) => {
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

fn api_gateway_event(
    route: &HttpRoute,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    peer: SocketAddr,
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
    fn function_answers_become_http() {
        let answer = br#"{"statusCode":404,"headers":{"content-type":"application/json"},"body":"{\"ok\":false}"}"#;
        let response = http_response_from_function(answer).unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/json");
        let plain = http_response_from_function(br#"{"ok":true}"#).unwrap();
        assert_eq!(plain.status(), 200);
    }
}
