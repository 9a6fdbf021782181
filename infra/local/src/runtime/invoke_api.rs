//! AWS Lambda's Invoke API: `POST /2015-03-31/functions/{name or ARN}/invocations`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::error::{InvokeError, MAX_REQUEST_PAYLOAD};
use super::host::LambdaHost;
use super::http::{bytes_response, header_text, json_error, text};
use super::ids::request_id;

const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
/// `GET`: the EMF documents the functions wrote lately (not Lambda's; the local stack's own).
pub const METRICS_PATH: &str = "/_local/metrics";

pub(super) async fn invoke_api(
    host: Arc<LambdaHost>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    // The local stack's own: the EMF documents the functions wrote (the console's Metrics).
    if path == METRICS_PATH && req.method() == Method::GET {
        let documents: Vec<serde_json::Value> = host
            .metric_lines()
            .into_iter()
            .filter_map(|(_, line)| serde_json::from_str(&line).ok())
            .collect();
        let mut response = Response::new(Full::new(Bytes::from(
            serde_json::Value::Array(documents).to_string(),
        )));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return response;
    }
    let Some(name) = path
        .strip_prefix(INVOKE_PREFIX)
        .and_then(|rest| rest.strip_suffix("/invocations"))
    else {
        return json_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!("unknown operation {} {path}", req.method()),
        );
    };
    if req.method() != Method::POST {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "invoke with POST",
        );
    }
    let name = function_name_from_path(name);
    let invocation_type =
        header_text(&req, "x-amz-invocation-type").unwrap_or_else(|| "RequestResponse".to_owned());
    // Read no more than an invocation may carry: one byte over is refused as Lambda refuses it.
    let payload = match Limited::new(req.into_body(), MAX_REQUEST_PAYLOAD)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes().to_vec(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            return request_too_large(InvokeError::RequestTooLarge {
                function: name,
                size: MAX_REQUEST_PAYLOAD + 1,
            })
        }
        Err(err) => return text(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
    };
    let Some(function) = host.functions.get(&name).cloned() else {
        let error = InvokeError::UnknownFunction(name);
        let mut response = bytes_response(StatusCode::NOT_FOUND, error.aws_body());
        response.headers_mut().insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        return response;
    };

    let mut response = match invocation_type.as_str() {
        "RequestResponse" => match function.invoke(payload).await {
            Ok(body) => bytes_response(StatusCode::OK, body),
            Err(error @ InvokeError::Timeout { .. }) => {
                bytes_response(StatusCode::GATEWAY_TIMEOUT, error.aws_body())
            }
            Err(error @ InvokeError::Internal(_)) => {
                bytes_response(StatusCode::INTERNAL_SERVER_ERROR, error.aws_body())
            }
            Err(error @ InvokeError::RequestTooLarge { .. }) => request_too_large(error),
            Err(error) => {
                let mut response = bytes_response(StatusCode::OK, error.aws_body());
                response.headers_mut().insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
                response
            }
        },
        "Event" => {
            tokio::spawn(async move {
                if let Err(err) = function.invoke(payload).await {
                    eprintln!("lambda emulator: asynchronous invocation failed: {err}");
                }
            });
            bytes_response(StatusCode::ACCEPTED, Vec::new())
        }
        "DryRun" => bytes_response(StatusCode::NO_CONTENT, Vec::new()),
        other => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("unsupported X-Amz-Invocation-Type {other}"),
            )
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(id) = HeaderValue::try_from(request_id()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// Lambda's `413 RequestEntityTooLargeException`.
fn request_too_large(error: InvokeError) -> Response<Full<Bytes>> {
    let mut response = bytes_response(StatusCode::PAYLOAD_TOO_LARGE, error.aws_body());
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("RequestEntityTooLargeException"),
    );
    response
}

/// `ingest`, `ingest:$LATEST`, or an ARN (percent-encoded or not) → `ingest`. A malformed
/// escape is kept as written.
fn function_name_from_path(raw: &str) -> String {
    let decoded = percent_decode_str(raw).decode_utf8_lossy();
    let name = match decoded.split_once(":function:") {
        Some((_, rest)) => rest,
        None => decoded.as_ref(),
    };
    name.split(':').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_names_and_arns() {
        assert_eq!(function_name_from_path("ingest"), "ingest");
        assert_eq!(function_name_from_path("ingest:%24LATEST"), "ingest");
        assert_eq!(
            function_name_from_path("arn:aws:lambda:us-east-1:000000000000:function:ingest:live"),
            "ingest"
        );
        assert_eq!(function_name_from_path("a%2"), "a%2");
    }
}
