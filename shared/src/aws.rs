//! Building the AWS side once per cold start: the SDK configuration and the adapters.

use std::sync::Arc;

use crate::config::Config;
use crate::dynamo::DynamoStore;
use crate::ingest::Ingest;
use crate::ports::SystemClock;
use crate::sqs::SqsQueue;

/// The SDK configuration from the standard chain (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local stack).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The send API on DynamoDB and SQS.
pub fn ingest(sdk: &aws_config::SdkConfig, config: &Config) -> Ingest {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    Ingest {
        apps: store.clone(),
        groups: store.clone(),
        contexts: store,
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            config.delivery_queue_url.clone(),
        )),
        clock: Arc::new(SystemClock),
    }
}
