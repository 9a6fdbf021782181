//! The HTTP functions' front doors, through `lambda_http`: API Gateway's HTTP API (payload 2.0)
//! and REST API (payload 1.0), an Application Load Balancer, and a Lambda function URL. Each
//! event arrives as one `http::Request`; the services see the gateway's own HTTP shape, and
//! `lambda_http` answers in the shape of the door the request came through.
//!
//! `lambda_http` 1.3 panics on some events while turning them into an `http::Request` (a
//! request target that is not a path, `OPTIONS *` say, behind a `Host` with a port; a `Host`
//! or `X-Forwarded-Proto` no URL can have; a query string `http::Uri` refuses; a body that
//! claims base64 and is not). A release build aborts on a panic, so one such request would
//! kill the process and fail the invocation. [`serve`] therefore runs on `lambda_runtime`
//! itself: each event is read as `lambda_http`'s `LambdaRequest` (which never panics), checked
//! by [`guard::refusal`], answered `400` in the contract's format when it would not convert,
//! and only then handed to `lambda_http`'s own adapter. Both answers go through `lambda_http`'s
//! response conversion for the event's origin, so every door gets its own shape.

use std::future::{ready, Future};

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Body, Request, RequestExt, Response, Service};

pub use lambda_http::Error;

use crate::api::error::ApiError;
use crate::api::http::{HttpRequest, HttpResponse};

pub mod guard;

/// The request as the services see it. The path is the one the client asked for, without an
/// API Gateway stage (`lambda_http`'s raw HTTP path).
pub fn request(event: Request) -> HttpRequest {
    let path = match event.raw_http_path() {
        "" => "/".to_owned(),
        path => path.to_owned(),
    };
    let headers = event
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let query = event.uri().query().unwrap_or("").to_owned();
    let method = event.method().as_str().to_owned();
    let body = match event.into_body() {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    HttpRequest {
        query,
        method,
        path,
        headers,
        body,
    }
}

/// The services' answer as an `http::Response`. Header values that HTTP cannot carry are left
/// out; the services never produce one.
pub fn response(answer: HttpResponse) -> Response<Body> {
    let mut response = Response::new(Body::Text(answer.body));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(answer.status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            lambda_http::http::HeaderName::from_bytes(name.as_bytes()),
            lambda_http::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// One invocation: the event answered by `handle`, or refused with `400` when `lambda_http`
/// could not convert it; either way in the shape of the door it came through (the value
/// `lambda_runtime` sends back as the invocation's response).
pub async fn answer<H, F>(
    event: LambdaEvent<LambdaRequest>,
    handle: &H,
) -> Result<impl serde::Serialize, Error>
where
    H: Fn(HttpRequest) -> F,
    F: Future<Output = HttpResponse> + Send,
{
    if let Some(why) = guard::refusal(&event.payload) {
        tracing::warn!(why, "an event lambda_http cannot convert; answered 400");
        let refused = response(HttpResponse::error(&ApiError::MalformedRequest));
        let origin = event.payload.request_origin();
        return lambda_http::TransformResponse::<Response<Body>, Error>::Response(
            origin,
            Box::pin(ready(refused)),
        )
        .await;
    }
    let mut adapter = Adapter::from(service_fn(|event: Request| {
        let answer = handle(request(event));
        async move { Ok::<_, Error>(response(answer.await)) }
    }));
    adapter.call(event).await
}

/// Serves `handle` behind whichever front door invokes the function, until the runtime stops.
pub async fn serve<H, F>(handle: H) -> Result<(), Error>
where
    H: Fn(HttpRequest) -> F,
    F: Future<Output = HttpResponse> + Send,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaRequest>| async move { answer(event, handle).await },
    ))
    .await
}

#[cfg(test)]
mod tests;
