//! The HTTP functions' front doors, through `lambda_http`: API Gateway's HTTP API (payload 2.0)
//! and REST API (payload 1.0), an Application Load Balancer, and a Lambda function URL. Each
//! event arrives as one `http::Request`; the services see the gateway's own HTTP shape, and
//! `lambda_http` answers in the shape of the door the request came through.

use std::future::Future;

use lambda_http::{service_fn, Body, Request, RequestExt, Response};

pub use lambda_http::Error;

use crate::api::http::{HttpRequest, HttpResponse};

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

/// Serves `handle` behind whichever front door invokes the function, until the runtime stops.
pub async fn serve<H, F>(handle: H) -> Result<(), Error>
where
    H: Fn(HttpRequest) -> F,
    F: Future<Output = HttpResponse> + Send,
{
    lambda_http::run(service_fn(|event: Request| {
        let answer = handle(request(event));
        async move { Ok::<_, Error>(response(answer.await)) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::ApiError;

    /// The same request through each door: the HTTP API (base64 body), a REST API on a named
    /// stage, an ALB (base64 body) and a function URL.
    #[test]
    fn every_front_door_gives_the_services_the_same_request() {
        for (door, event) in [
            (
                "HTTP API",
                include_str!("../../tests/fixtures/http-api-user-message.json"),
            ),
            (
                "REST API",
                include_str!("../../tests/fixtures/rest-api-user-message.json"),
            ),
            (
                "ALB",
                include_str!("../../tests/fixtures/alb-user-message.json"),
            ),
            (
                "function URL",
                include_str!("../../tests/fixtures/function-url-user-message.json"),
            ),
        ] {
            let event =
                lambda_http::request::from_str(event).unwrap_or_else(|e| panic!("{door}: {e}"));
            let request = request(event);
            assert_eq!(request.method, "POST", "{door}");
            assert_eq!(request.path, "/webhooks/MY_TOKEN/fchat", "{door}");
            assert_eq!(
                request.header("Idempotency-Key"),
                Some("order-42"),
                "{door}"
            );
            assert_eq!(
                request.body, br#"{"email": "user@example.com", "text": "Hello!"}"#,
                "{door}"
            );
        }
    }

    #[test]
    fn responses_keep_status_headers_and_body() {
        let answer = HttpResponse::error(&ApiError::RouteNotFound);
        let expected_body = answer.body.clone();
        let response = response(answer);
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.body(), &Body::Text(expected_body));
    }
}
