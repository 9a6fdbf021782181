//! Building the AWS side once per cold start: the SDK configuration and the adapters.

use std::sync::Arc;

use crate::config::Config;
use crate::delivery::Delivery;
use crate::dynamo::DynamoStore;
use crate::fchat::FChatClient;
use crate::ingest::Ingest;
use crate::ports::FChatError;
use crate::ports::SystemClock;
use crate::sqs::SqsQueue;

/// The SDK configuration from the standard chain (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local stack).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
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
    let delivery = Delivery {
        contexts: store.clone(),
        groups: store.clone(),
        users: store,
        fchat: Arc::new(fchat),
        clock: Arc::new(SystemClock),
        lease: config.delivery_lease,
        max_retry_delay: config.max_retry_delay,
    };
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.delivery_queue_url.clone(),
    );
    Ok((delivery, queue))
}
