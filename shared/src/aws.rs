//! Building the AWS side once per cold start: the SDK configuration and the adapters.

use std::sync::Arc;

use crate::app_webhook::HttpWebhooks;
use crate::callback::Callback;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::dynamo::DynamoStore;
use crate::fchat::FChatClient;
use crate::forward::{Forwarder, WEBHOOK_TIMEOUT};
use crate::ingest::Ingest;
use crate::outbound::OutboundPolicy;
use crate::ports::FChatError;
use crate::ports::SystemClock;
use crate::sqs::SqsQueue;

/// The SDK configuration from the standard chain (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local stack), with the compiled-in roots of trust.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client())
        .load()
        .await
}

/// How long the send API waits for FChat's user lookup before accepting anyway.
pub const USER_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The send API on DynamoDB, SQS and FChat's user lookup.
pub fn ingest(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Ingest, FChatError> {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    let fchat = FChatClient::new(
        &config.fchat.api_url,
        &config.fchat.bot_token,
        USER_LOOKUP_TIMEOUT,
    )?;
    Ok(Ingest {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store,
        fchat: Arc::new(fchat),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            config.delivery_queue_url.clone(),
        )),
        clock: Arc::new(SystemClock),
    })
}

/// Delivery on DynamoDB and FChat, and the queue its retries go back to.
pub fn delivery(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<(Delivery, SqsQueue), FChatError> {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    // An attempt must end well inside its lease, FChat's answer included.
    let fchat_timeout = (config.delivery_lease / 3).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(10),
    );
    let fchat = FChatClient::new(
        &config.fchat.api_url,
        &config.fchat.bot_token,
        fchat_timeout,
    )?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.delivery_queue_url.clone(),
    )
    .with_dead_letter_queue(config.delivery_dlq_url.clone());
    let delivery = Delivery {
        contexts: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        fchat: Arc::new(fchat),
        clock: Arc::new(SystemClock),
        lease: config.delivery_lease,
        max_retry_delay: config.max_retry_delay,
        forwarder: forwarder(store, &queue, config),
        max_forward_delay: config.max_forward_delay,
    };
    Ok((delivery, queue))
}

/// Posting events to apps' webhooks: signed, through the SSRF guard, 5 s at most.
pub fn forwarder(store: Arc<DynamoStore>, queue: &SqsQueue, config: &Config) -> Forwarder {
    let policy = OutboundPolicy {
        allow_loopback: config.webhook_allow_loopback,
    };
    Forwarder {
        apps: store.clone(),
        contexts: store,
        queue: Arc::new(queue.clone()),
        webhooks: Arc::new(HttpWebhooks::new(policy, WEBHOOK_TIMEOUT)),
        clock: Arc::new(SystemClock),
    }
}

/// The callback route: FChat's updates forwarded to apps.
pub fn callback(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Callback, FChatError> {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.delivery_queue_url.clone(),
    );
    let Some(secret) = config.fchat.callback_secret.clone() else {
        return Err(FChatError::Permanent {
            reason: "FCHAT_CALLBACK_SECRET is not set".into(),
        });
    };
    let fchat = FChatClient::new(
        &config.fchat.api_url,
        &config.fchat.bot_token,
        USER_LOOKUP_TIMEOUT,
    )?;
    Ok(Callback {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        fchat: Arc::new(fchat),
        forwarder: forwarder(store, &queue, config),
        clock: Arc::new(SystemClock),
        secret,
        expired_text: config.expired_text.clone(),
    })
}
