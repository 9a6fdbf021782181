//! Which events `lambda_http` 1.3.2 cannot turn into an `http::Request` without panicking, so
//! that the front door refuses them first.
//!
//! Its conversion (`From<LambdaRequest> for http::Request<Body>`, `src/request.rs`) builds the
//! request's URI as a string and unwraps every step:
//! - `build_request_uri`: `Url::parse("{scheme}://{host}{path}").unwrap()`, where `host` is the
//!   `Host` header (else the request context's `domainName`; an ALB has no fallback), `scheme`
//!   is `X-Forwarded-Proto` (else `https`), and `path` is the raw path with a REST or HTTP API
//!   stage put in front; without a host, `Url::parse("http://localhost{path}").unwrap()`. A
//!   path that does not start with `/` runs into the host: `OPTIONS *` behind `Host:
//!   127.0.0.1:9000` becomes `https://127.0.0.1:9000*`, and the port `9000*` panics
//!   (`InvalidPort`). So do a `Host` of `a:99999` or `[::1`, and an `X-Forwarded-Proto` that is
//!   no scheme.
//! - the HTTP API's raw query string is appended as it is, then the builder's `.expect("failed
//!   to build request")` panics if `http::Uri` refuses the whole (a space in the query, say).
//!   The REST API's and an ALB's query strings are re-encoded by `form_urlencoded` first: they
//!   cannot fail.
//! - `Body::from_maybe_encoded` panics on a body that says `isBase64Encoded` and is not base64.
//!
//! [`refusal`] runs the same steps without unwrapping. It refuses one thing more than
//! `lambda_http` would panic on: a path that is not empty and does not start with `/` (a
//! request target in asterisk or authority form), which no HTTP API route can match and which
//! `lambda_http` would otherwise read as part of the host. The front door's tests check the
//! mirror against `lambda_http` itself on hostile events, so that an upgrade that changes the
//! conversion fails them.

use std::borrow::Cow;

use base64::Engine as _;
use lambda_http::http::{self, HeaderMap};
use lambda_http::request::LambdaRequest;
use url::Url;

/// Why the event is refused (for the log), or `None` when it converts.
pub fn refusal(event: &LambdaRequest) -> Option<&'static str> {
    match event {
        LambdaRequest::ApiGatewayV2(ag) => Target {
            raw_path: ag.raw_path.as_deref().unwrap_or(""),
            stage: ag.request_context.stage.as_deref(),
            headers: &ag.headers,
            host: host_header(&ag.headers).or(ag.request_context.domain_name.as_deref()),
            query: ag.raw_query_string.as_deref().filter(|q| !q.is_empty()),
        }
        .refusal()
        .or_else(|| body_refusal(ag.is_base64_encoded, ag.body.as_deref())),
        LambdaRequest::ApiGatewayV1(ag) => Target {
            raw_path: ag.path.as_deref().unwrap_or(""),
            stage: ag.request_context.stage.as_deref(),
            headers: &ag.headers,
            host: host_header(&ag.headers).or(ag.request_context.domain_name.as_deref()),
            query: None,
        }
        .refusal()
        .or_else(|| body_refusal(ag.is_base64_encoded, ag.body.as_deref())),
        LambdaRequest::Alb(alb) => Target {
            raw_path: alb.path.as_deref().unwrap_or(""),
            stage: None,
            headers: &alb.headers,
            host: host_header(&alb.headers),
            query: None,
        }
        .refusal()
        .or_else(|| body_refusal(alb.is_base64_encoded, alb.body.as_deref())),
        // `LambdaRequest` is non-exhaustive; the doors this crate does not enable (WebSocket,
        // VPC Lattice) never deserialize.
        _ => None,
    }
}

/// What `lambda_http` builds the request's URI from.
struct Target<'a> {
    raw_path: &'a str,
    /// A REST or HTTP API stage; `$default` adds nothing.
    stage: Option<&'a str>,
    headers: &'a HeaderMap,
    host: Option<&'a str>,
    /// Appended unencoded (the HTTP API's `rawQueryString` only).
    query: Option<&'a str>,
}

impl Target<'_> {
    fn refusal(&self) -> Option<&'static str> {
        if !self.raw_path.is_empty() && !self.raw_path.starts_with('/') {
            return Some("the request target is not a path");
        }
        let path = self.path_with_stage();
        let mut uri = match self.host {
            None => match Url::parse(&format!("http://localhost{path}")) {
                Ok(url) => url.path().to_owned(),
                Err(_) => return Some("the path is not a URL's"),
            },
            Some(host) => {
                let scheme = self
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("https");
                match Url::parse(&format!("{scheme}://{host}{path}")) {
                    Ok(url) => url.to_string(),
                    Err(_) => return Some("the Host or X-Forwarded-Proto header is not a URL's"),
                }
            }
        };
        if let Some(query) = self.query {
            uri.push('?');
            uri.push_str(query);
        }
        http::Uri::try_from(uri)
            .err()
            .map(|_| "the path or query string is not a URI's")
    }

    /// `lambda_http`'s `apigw_path_with_stage`.
    fn path_with_stage(&self) -> Cow<'_, str> {
        if std::env::var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_ok() {
            return Cow::Borrowed(self.raw_path);
        }
        match self.stage {
            None | Some("$default") => Cow::Borrowed(self.raw_path),
            Some(stage) if self.raw_path.starts_with(&format!("/{stage}/")) => {
                Cow::Borrowed(self.raw_path)
            }
            Some(stage) => Cow::Owned(format!("/{stage}{}", self.raw_path)),
        }
    }
}

/// The `Host` header as `lambda_http` reads it: absent when it is not visible ASCII.
fn host_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
}

fn body_refusal(base64: bool, body: Option<&str>) -> Option<&'static str> {
    let body = body.filter(|_| base64)?;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .err()
        .map(|_| "the body says base64 and is not")
}
