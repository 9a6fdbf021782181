//! The SQS adapter, and the send API on DynamoDB and SQS together, against a real emulator
//! (moto's server on loopback) with the tables and queues `template.yaml` declares. The store
//! scenarios are in `store_contract.rs`.

use std::sync::Arc;

use gateway::domain::{DeliveryStatus, Group};
use gateway::http::HttpRequest;
use gateway::ingest::Ingest;
use gateway::job::{Job, JobKind};
use gateway::memory::FixedClock;
use gateway::message::MessageContent;
use gateway::ports::{AppStore, ContextStore, GroupStore, JobQueue};
use gateway::sqs::SqsQueue;

mod common;
use common::{app, dynamo, NOW};

#[tokio::test]
async fn jobs_are_sent_to_the_delivery_queue_as_versioned_json() {
    let (aws, _store) = dynamo().await;
    let queue = SqsQueue::new(aws.sqs(), aws.config.delivery_queue_url.clone());
    let job = Job::new(JobKind::SendGroup {
        context_id: "c-1".into(),
        app: "alerts".into(),
        group_id: "ops".into(),
        content: MessageContent {
            text: "Xin chào".into(),
            keyboard: vec![],
        },
    });
    queue.enqueue(&job).await.unwrap();
    let bodies = aws.peek(&aws.config.delivery_queue_url).await.unwrap();
    assert_eq!(bodies.len(), 1);
    assert_eq!(Job::from_json(&bodies[0]).unwrap(), job);
}

#[tokio::test]
async fn the_send_api_on_dynamodb_and_sqs_withdraws_its_context_when_the_queue_fails() {
    let (aws, store) = dynamo().await;
    let store = Arc::new(store);
    store.put_app(&app("alerts", "tok-1")).await.unwrap();
    store
        .put_group(&Group {
            id: "ops".into(),
            beatchat_id: Some("b-1".into()),
            active: true,
            name: None,
        })
        .await
        .unwrap();
    let ingest_with = |queue_url: String| Ingest {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        fchat: Arc::new(gateway::memory::MemoryFChat::default()),
        queue: Arc::new(SqsQueue::new(aws.sqs(), queue_url)),
        clock: Arc::new(FixedClock::at(NOW)),
        sns: Arc::new(gateway::adapters::sns::SnsClient::new(false)),
    };
    let request = HttpRequest {
        query: String::new(),
        method: "POST".into(),
        path: "/alerts/tok-1".into(),
        headers: vec![],
        body: br#"{"text":"disk full"}"#.to_vec(),
    };

    // A queue that does not exist stands for SQS being unavailable.
    let missing = aws
        .config
        .delivery_queue_url
        .replace("DeliveryQueue", "NoSuchQueue");
    let refused = ingest_with(missing).handle(&request).await;
    assert_eq!(refused.status, 503);
    let items = aws
        .dynamodb()
        .scan()
        .table_name(&aws.config.tables.contexts)
        .send()
        .await
        .unwrap();
    assert_eq!(items.count, 0, "a context was left behind");

    let accepted = ingest_with(aws.config.delivery_queue_url.clone())
        .handle(&request)
        .await;
    assert_eq!(accepted.status, 200);
    let body: serde_json::Value = serde_json::from_str(&accepted.body).unwrap();
    let id = body["context"]["id"].as_str().unwrap();
    let stored = store.context(id, NOW).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.deliver_by, stored.expires_at),
        (DeliveryStatus::Queued, NOW + 3_600, NOW + 3_600 + 120)
    );
    let jobs = aws.peek(&aws.config.delivery_queue_url).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(Job::from_json(&jobs[0]).unwrap().context_id(), Some(id));
}
