//! The queue poller against moto's SQS and an Invoke API stub over real sockets: it never
//! waits forever on an invocation, and keeps up to its concurrency of batches in flight.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fchat_local::harness::LocalAws;
use fchat_local::invoke::Invoker;
use fchat_local::poller::Poller;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};

/// A function behind the Invoke API: answers each batch as processed after `delay`; the
/// first `hang` invocations never answer.
#[derive(Default)]
struct Stub {
    delay: Duration,
    hang: usize,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    records: AtomicUsize,
}

impl Stub {
    async fn serve(self: Arc<Self>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        fchat_loopback::spawn(listener, move |req, _peer| self.clone().invoke(req));
        addr
    }

    async fn invoke(
        self: Arc<Self>,
        req: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        if self.requests.fetch_add(1, Ordering::SeqCst) < self.hang {
            std::future::pending::<()>().await;
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        tokio::time::sleep(self.delay).await;
        self.records
            .fetch_add(event["Records"].as_array().unwrap().len(), Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(Response::new(Full::new(Bytes::from_static(
            br#"{"batchItemFailures":[]}"#,
        ))))
    }
}

/// Moto, and its delivery queue with a visibility timeout of 2 s holding `count` jobs
/// `{"job":"{label}-{i}"}`; answers the queue's URL too.
async fn queue_holding(count: usize, label: &str) -> (LocalAws, String) {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let url = aws.config.delivery_queue_url.clone();
    aws.set_visibility_timeout(&url, 2).await.unwrap();
    for i in 0..count {
        aws.sqs()
            .send_message()
            .queue_url(&url)
            .message_group_id(format!("{label}-{i}"))
            .message_deduplication_id(format!("{label}-{i}"))
            .message_body(format!(r#"{{"job":"{label}-{i}"}}"#))
            .send()
            .await
            .unwrap();
    }
    (aws, url)
}

fn poller(
    aws: &LocalAws,
    url: &str,
    invoke: SocketAddr,
    concurrency: usize,
    timeout: Duration,
) -> Poller {
    Poller {
        sqs: aws.sqs(),
        queue_url: url.to_owned(),
        queue_arn: aws.provisioned.queue_arns["DeliveryQueue"].clone(),
        function: "worker".into(),
        invoker: Invoker::new(format!("http://{invoke}")),
        batch_size: 5,
        concurrency,
        invoke_timeout: timeout,
    }
}

#[tokio::test]
async fn an_invocation_that_never_answers_fails_its_batch_after_the_timeout() {
    let (aws, url) = queue_holding(3, "stuck").await;
    let stub = Arc::new(Stub {
        hang: usize::MAX,
        ..Stub::default()
    });
    let invoke = stub.clone().serve().await;
    let poller = poller(&aws, &url, invoke, 1, Duration::from_secs(1));

    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        poller.poll_once(Duration::from_secs(1)),
    )
    .await
    .expect("the poller waited on the invocation forever")
    .unwrap();
    assert_eq!(outcome, (3, 3));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(stub.requests.load(Ordering::SeqCst), 1);

    // Nothing was deleted: the batch reappears after the visibility timeout.
    assert!(aws.peek(&url).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let mut back = aws.peek(&url).await.unwrap();
    back.sort();
    assert_eq!(
        back,
        vec![
            r#"{"job":"stuck-0"}"#,
            r#"{"job":"stuck-1"}"#,
            r#"{"job":"stuck-2"}"#
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_run_concurrently_up_to_the_limit_and_a_stuck_one_holds_nothing_up() {
    let (aws, url) = queue_holding(60, "job").await;
    // The first invocation never answers; the others take 400 ms a batch (of 5).
    let stub = Arc::new(Stub {
        delay: Duration::from_millis(400),
        hang: 1,
        ..Stub::default()
    });
    let invoke = stub.clone().serve().await;
    let polling = tokio::spawn(poller(&aws, &url, invoke, 3, Duration::from_secs(1)).run());

    let started = Instant::now();
    while stub.records.load(Ordering::SeqCst) < 60 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} of 60 processed",
            stub.records.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The stuck batch came back after its visibility timeout and went through.
    assert!(stub.requests.load(Ordering::SeqCst) >= 13);
    assert_eq!(stub.most_in_flight.load(Ordering::SeqCst), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    polling.abort();
    assert!(aws.peek(&url).await.unwrap().is_empty());
}
