//! The emulator's answers: JSON bodies, Lambda's error shape, plain text.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

pub(super) fn header_text<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(super) fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

pub(super) fn error_json(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "errorType": error_type, "errorMessage": message }))
        .unwrap_or_default()
}

pub(super) fn json_error(
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    bytes_response(status, error_json(error_type, message))
}

pub(super) fn accepted() -> Response<Full<Bytes>> {
    bytes_response(StatusCode::ACCEPTED, br#"{"status":"OK"}"#.to_vec())
}
