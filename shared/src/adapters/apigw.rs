//! API Gateway (HTTP API, payload 2.0) events to and from the gateway's own HTTP shape.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderName, HeaderValue};
use base64::Engine;

use crate::api::error::ApiError;
use crate::api::http::{HttpRequest, HttpResponse};

/// The request, or the answer to give when its body cannot even be decoded.
pub fn request_from_event(event: ApiGatewayV2httpRequest) -> Result<HttpRequest, HttpResponse> {
    let path = event
        .raw_path
        .or(event.request_context.http.path)
        .unwrap_or_else(|| "/".into());
    let headers = event
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let body = match (event.body, event.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(encoded), true) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| HttpResponse::error(&ApiError::MalformedJson))?,
    };
    Ok(HttpRequest {
        method: event.request_context.http.method.as_str().to_owned(),
        path,
        headers,
        body,
    })
}

pub fn response_to_event(response: HttpResponse) -> ApiGatewayV2httpResponse {
    let mut event = ApiGatewayV2httpResponse::default();
    event.status_code = response.status.into();
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            event.headers.insert(name, value);
        }
    }
    event.body = Some(Body::Text(response.body));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base64_http_api_event_becomes_a_request() {
        let fixture = include_str!("../../tests/fixtures/apigw-user-message.json");
        let event: ApiGatewayV2httpRequest = serde_json::from_str(fixture).unwrap();
        let request = request_from_event(event).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/webhooks/MY_TOKEN/fchat");
        assert_eq!(request.header("Idempotency-Key"), Some("order-42"));
        assert_eq!(
            request.body,
            br#"{"email": "user@example.com", "text": "Hello!"}"#
        );
    }

    #[test]
    fn undecodable_base64_is_a_bad_request() {
        let fixture = include_str!("../../tests/fixtures/apigw-user-message.json")
            .replace("eyJlbWFpbCI6", "!!!not base64");
        let event: ApiGatewayV2httpRequest = serde_json::from_str(&fixture).unwrap();
        assert_eq!(request_from_event(event).unwrap_err().status, 400);
    }

    #[test]
    fn responses_keep_status_headers_and_body() {
        let event = response_to_event(HttpResponse::error(&ApiError::RouteNotFound));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["statusCode"], 404);
        assert_eq!(json["headers"]["content-type"], "application/json");
        assert_eq!(
            json["body"],
            serde_json::to_string(&ApiError::RouteNotFound.body()).unwrap()
        );
    }
}
