//! The local stack holds AWS's limits: the local API gateway answers what API Gateway answers
//! by itself (a target that is not a path, a bad `Host`, a payload over 10 MiB, an integration
//! over its timeout), the Lambda emulator refuses an event over 6 MiB and fails a response
//! over 6 MiB + 100 bytes, and moto refuses an SQS message and a DynamoDB item over theirs.
//! The functions are small Runtime API clients in bash, so that the test needs no build of its
//! own; sizes vary from run to run around each limit.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use fchat_local::gateway::{LocalGateway, MAX_PAYLOAD_BYTES};
use fchat_local::harness::{LocalAws, RUNTIME_API_PRELUDE};
use fchat_local::invoke::Invoker;
use fchat_local::runtime::{FunctionSpec, LambdaHost, MAX_REQUEST_PAYLOAD, MAX_RESPONSE_PAYLOAD};
use fchat_local::template::HttpRoute;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers an HTTP API event with the size of the event it got and its raw path.
const ECHO: &str = r#"while next; do
  SIZE=$(wc -c < "$DIR/body")
  RAW=$(grep -o '"rawPath":"[^"]*"' "$DIR/body" | head -1 | cut -d'"' -f4)
  printf '{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\\"event_bytes\\":%s,\\"path\\":\\"%s\\"}"}' "$SIZE" "$RAW" \
    | respond response
done"#;

/// Answers after 4 seconds.
const SLOW: &str = r#"while next; do
  sleep 4
  printf '{"statusCode":200,"body":"late"}' | respond response
done"#;

/// Answers as many bytes as the event (a number) says.
const SIZED: &str = r#"while next; do
  SIZE=$(tr -dc 0-9 < "$DIR/body")
  head -c "$SIZE" /dev/zero | tr '\0' a | respond response
done"#;

/// How long the test gateway waits for an integration.
const TIMEOUT: Duration = Duration::from_millis(1500);

/// A number that differs between runs, below `modulo`.
fn jitter(modulo: u32) -> usize {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    ((nanos ^ std::process::id()) % modulo) as usize
}

struct Local {
    host: Arc<LambdaHost>,
    invoke_api: SocketAddr,
    api: SocketAddr,
    dir: PathBuf,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The three functions under the emulator, its Invoke API, and the gateway in front of
/// `echo` (everything) and `slow` (`/slow`), with a short integration timeout.
async fn local() -> Local {
    let dir = std::env::temp_dir().join(format!(
        "fchat-aws-limits-{}-{}",
        std::process::id(),
        jitter(1 << 30)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut specs = Vec::new();
    for (name, body) in [("echo", ECHO), ("slow", SLOW), ("sized", SIZED)] {
        let path = dir.join(name);
        std::fs::write(&path, format!("{RUNTIME_API_PRELUDE}{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        specs.push(FunctionSpec::new(name, &path).with_timeout(Duration::from_secs(20)));
    }
    let host = Arc::new(LambdaHost::start(specs).await.unwrap());
    host.ready(Duration::from_secs(20)).await.unwrap();
    let invoke_api = host
        .clone()
        .serve_invoke_api(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let route = |method: &str, path: &str, function: &str| HttpRoute {
        method: method.into(),
        path: path.into(),
        function: function.into(),
    };
    let routes = vec![
        route("ANY", "/{proxy+}", "echo"),
        route("ANY", "/slow", "slow"),
    ];
    let api = LocalGateway::new(routes, Invoker::new(format!("http://{invoke_api}")))
        .with_timeout(TIMEOUT)
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    Local {
        host,
        invoke_api,
        api,
        dir,
    }
}

/// Sends `head` and `body` as they are over a new connection and reads the answer until the
/// server closes it: its status and body.
async fn raw(addr: SocketAddr, head: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = head.to_owned();
    // Written beside the reading: the gateway may answer before it has read everything.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
        writer
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answer))
        .await
        .expect("the gateway answers")
        .expect("the answer can be read");
    drop(writing.await);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    (status, answer[split + 4..].to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn the_gateway_answers_what_api_gateway_answers_by_itself() {
    let local = local().await;
    let authority = local.api.to_string();
    let port = 1024 + jitter(60_000);
    let bad_request = json!({"message": "Bad Request"});

    // Asterisk form: the request that used to panic the function behind it.
    let (status, body) = raw(
        local.api,
        &format!("OPTIONS * HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"),
        Vec::new(),
    )
    .await;
    assert_eq!((status, json_of(&body)), (400, bad_request.clone()));
    // Authority form.
    let target = format!("api{port}.example:443");
    let (status, body) = raw(
        local.api,
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
        Vec::new(),
    )
    .await;
    assert_eq!((status, json_of(&body)), (400, bad_request.clone()));
    // A Host no URL can have, and two Hosts.
    for hosts in [
        format!("Host: 127.0.0.1:{}\r\n", 65_536 + port),
        format!("Host: {authority}*\r\n"),
        format!("Host: {authority}\r\nHost: api{port}.example\r\n"),
    ] {
        let (status, body) = raw(
            local.api,
            &format!("GET /app/tok{port} HTTP/1.1\r\n{hosts}Connection: close\r\n\r\n"),
            Vec::new(),
        )
        .await;
        assert_eq!(status, 400, "{hosts}: {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(
        local.host.invocations("echo"),
        Some(0),
        "nothing was invoked"
    );

    // An absolute-form target is routed by its path.
    let path = format!("/abs/{port}");
    let (status, body) = raw(
        local.api,
        &format!("GET http://{authority}{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["path"], json!(path));
}

#[tokio::test]
async fn the_gateway_holds_the_payload_limit_and_lambdas() {
    let local = local().await;
    let authority = local.api.to_string();
    let post = |size: usize| {
        (
            format!(
                "POST /app/tok HTTP/1.1\r\nHost: {authority}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {size}\r\nConnection: close\r\n\r\n"
            ),
            vec![b'a'; size],
        )
    };
    // Over API Gateway's 10 MiB: refused by the gateway.
    let (head, body) = post(MAX_PAYLOAD_BYTES + 1 + jitter(1000));
    let (status, answer) = raw(local.api, &head, body).await;
    assert_eq!(
        (status, json_of(&answer)),
        (413, json!({"message": "Request Entity Too Large"}))
    );
    assert_eq!(local.host.invocations("echo"), Some(0));
    // Under it, but the event is over Lambda's 6 MiB: the invocation fails.
    let (head, body) = post(MAX_REQUEST_PAYLOAD + jitter(1 << 20));
    let (status, answer) = raw(local.api, &head, body).await;
    assert_eq!(
        (status, json_of(&answer)),
        (500, json!({"message": "Internal Server Error"}))
    );
    assert_eq!(local.host.invocations("echo"), Some(0));
    // Under both: the function gets it all, with the event's envelope around it.
    let size = (1 << 20) + jitter(1 << 20);
    let (head, body) = post(size);
    let (status, answer) = raw(local.api, &head, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let event_bytes = json_of(&answer)["event_bytes"].as_u64().unwrap() as usize;
    assert!(event_bytes > size, "{event_bytes}");
}

#[tokio::test]
async fn the_gateway_gives_up_on_a_slow_integration_with_503() {
    let local = local().await;
    let started = Instant::now();
    let (status, body) = raw(
        local.api,
        &format!(
            "POST /slow HTTP/1.1\r\nHost: {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
            local.api
        ),
        b"{}".to_vec(),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(
        (status, json_of(&body)),
        (503, json!({"message": "Service Unavailable"}))
    );
    assert!(
        waited >= TIMEOUT && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

/// `POST`s `payload` to the Invoke API: status, headers, body.
async fn invoke(local: &Local, function: &str, payload: Vec<u8>) -> (u16, hyper::HeaderMap, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request = hyper::Request::post(format!(
        "http://{}/2015-03-31/functions/{function}/invocations",
        local.invoke_api
    ))
    .body(Full::new(Bytes::from(payload)))
    .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

#[tokio::test]
async fn the_emulator_refuses_an_event_over_6_mib_as_lambda_does() {
    let local = local().await;
    // A JSON string of exactly the limit, then one byte more.
    let event = |size: usize| {
        let mut payload = vec![b'x'; size];
        payload[0] = b'"';
        payload[size - 1] = b'"';
        payload
    };
    let (status, headers, body) = invoke(&local, "echo", event(MAX_REQUEST_PAYLOAD)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(headers.get("x-amz-function-error").is_none());
    for over in [1, 2 + jitter(4096)] {
        let (status, headers, body) =
            invoke(&local, "echo", event(MAX_REQUEST_PAYLOAD + over)).await;
        assert_eq!(status, 413);
        assert_eq!(
            headers["x-amzn-errortype"],
            "RequestEntityTooLargeException"
        );
        assert_eq!(
            json_of(&body),
            json!({"Type": "User", "message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"})
        );
    }
    assert_eq!(local.host.invocations("echo"), Some(1));
}

#[tokio::test]
async fn a_response_over_6_mib_fails_the_invocation_as_lambda_does() {
    let local = local().await;
    let pid = local.host.pid("sized");
    let (status, headers, body) = invoke(
        &local,
        "sized",
        MAX_RESPONSE_PAYLOAD.to_string().into_bytes(),
    )
    .await;
    assert_eq!((status, body.len()), (200, MAX_RESPONSE_PAYLOAD));
    assert!(headers.get("x-amz-function-error").is_none());

    let over = MAX_RESPONSE_PAYLOAD + 1 + jitter(4096);
    let (status, headers, body) = invoke(&local, "sized", over.to_string().into_bytes()).await;
    assert_eq!(status, 200, "Lambda answers a function error with 200");
    assert_eq!(headers["x-amz-function-error"], "Unhandled");
    assert_eq!(
        json_of(&body),
        json!({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."})
    );
    // The function lives on and answers the next invocation.
    let small = 10 + jitter(1000);
    let (status, _, body) = invoke(&local, "sized", small.to_string().into_bytes()).await;
    assert_eq!((status, body.len()), (200, small));
    assert_eq!(local.host.pid("sized"), pid);
}

fn service_code<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned)
}

/// What moto 5.2.5 refuses, as AWS does. SQS: a message over the queue's
/// `MaximumMessageSize` (the template sets 256 KiB; AWS's default is 1 MiB since 2025, moto's
/// too). DynamoDB: an item over 400 KB.
#[tokio::test]
async fn moto_refuses_oversized_sqs_messages_and_dynamodb_items() {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let sqs = aws.sqs();
    let queue = &aws.config.delivery_queue_url;
    let send = |queue: String, size: usize| {
        let sqs = sqs.clone();
        async move {
            sqs.send_message()
                .queue_url(queue)
                .message_group_id("limits")
                .message_deduplication_id(format!("size-{size}"))
                .message_body("m".repeat(size))
                .send()
                .await
        }
    };
    // The template's queues declare `MaximumMessageSize: 262144`, the product's job limit:
    // created so by the local stack, they refuse one byte more, as AWS does.
    let limit = gateway::job::MAX_JOB_BYTES;
    assert!(send(queue.clone(), limit - jitter(1000)).await.is_ok());
    assert!(send(queue.clone(), limit).await.is_ok());
    for over in [limit + 1, limit + 1 + jitter(1000)] {
        let refused = send(queue.clone(), over).await.unwrap_err();
        assert_eq!(
            service_code(&refused).as_deref(),
            Some("InvalidParameterValue")
        );
    }
    // A queue created without the attribute takes AWS's default today, 1 MiB.
    let created = sqs
        .create_queue()
        .queue_name(format!("limits-{}", jitter(1 << 30)))
        .send()
        .await
        .unwrap();
    let default_queue = created.queue_url().unwrap().to_owned();
    assert!(send(default_queue.clone(), limit + 1).await.is_ok());
    let refused = send(default_queue, 1024 * 1024 + 1 + jitter(1000))
        .await
        .unwrap_err();
    assert_eq!(
        service_code(&refused).as_deref(),
        Some("InvalidParameterValue")
    );

    // DynamoDB: an item's size is its attribute names and values, 400 KB at most.
    let dynamodb = aws.dynamodb();
    let put = |padding: usize| {
        let dynamodb = dynamodb.clone();
        let table = aws.config.tables.contexts.clone();
        async move {
            dynamodb
                .put_item()
                .table_name(table)
                .item("id", AttributeValue::S(format!("limits-{padding}")))
                .item("pad", AttributeValue::S("p".repeat(padding)))
                .send()
                .await
        }
    };
    assert!(put(390_000 + jitter(5000)).await.is_ok());
    let refused = put(400 * 1024 + 1 + jitter(5000)).await.unwrap_err();
    let error = refused.as_service_error().unwrap();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(error),
        Some("ValidationException")
    );
    assert!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::message(error)
            .is_some_and(|m| m.contains("Item size has exceeded the maximum allowed size")),
        "{error:?}"
    );
}
