//! Building the AWS side once per cold start: the SDK configuration and the adapters.

pub mod config;

use std::sync::Arc;

use crate::adapters::alertmanager_silences::HttpSilencer;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::fchat::FChatClient;
use crate::adapters::sns::SnsClient;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::ssm::{read_secret, read_secrets, Secret, SecretError};
use crate::adapters::webhook::guard::OutboundPolicy;
use crate::adapters::webhook::sender::HttpWebhooks;
use crate::ports::{FChat, SystemClock};
use crate::services::callback::Callback;
use crate::services::delivery::Delivery;
use crate::services::forwarding::{Forwarder, WEBHOOK_TIMEOUT};
use crate::services::ingest::Ingest;
use crate::wiring::config::Config;

/// Why a function cannot start: its message names what is wrong, never a secret's value.
#[derive(thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("the HTTP client to FChat cannot be built: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    Config(#[from] crate::wiring::config::ConfigError),
}

// `main` reports the error that stops a cold start with `Debug`: make it the clear message.
impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// FChat's bot token, from the parameter the configuration names.
pub async fn bot_token(ssm: &aws_sdk_ssm::Client, config: &Config) -> Result<Secret, SecretError> {
    read_secret(
        ssm,
        crate::wiring::config::BOT_TOKEN_PARAMETER,
        &config.fchat.bot_token_parameter,
    )
    .await
}

/// The bot token and the callback secret, in one request.
pub async fn callback_secrets(
    ssm: &aws_sdk_ssm::Client,
    config: &Config,
) -> Result<(Secret, Secret), StartError> {
    let name = config.fchat.callback_secret_parameter.as_deref().ok_or(
        crate::wiring::config::ConfigError::Missing(
            crate::wiring::config::CALLBACK_SECRET_PARAMETER,
        ),
    )?;
    let [bot_token, callback_secret] = read_secrets(
        ssm,
        [
            (
                crate::wiring::config::BOT_TOKEN_PARAMETER,
                config.fchat.bot_token_parameter.as_str(),
            ),
            (crate::wiring::config::CALLBACK_SECRET_PARAMETER, name),
        ],
    )
    .await?;
    Ok((bot_token, callback_secret))
}

/// The SDK configuration from the standard chain (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local stack), with the compiled-in roots of trust.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::adapters::trust::aws_http_client())
        .load()
        .await
}

/// How long the send API waits for FChat's user lookup before accepting anyway.
pub const USER_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The send API on DynamoDB, SQS and FChat's user lookup.
pub async fn ingest(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Ingest, StartError> {
    let token = bot_token(&aws_sdk_ssm::Client::new(sdk), config).await?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    let fchat = FChatClient::new(&config.fchat.api_url, token.expose(), USER_LOOKUP_TIMEOUT)?;
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
        sns: Arc::new(SnsClient::new(config.sns_allow_loopback)),
    })
}

/// Delivery on DynamoDB and FChat, and the queue its retries go back to.
pub async fn delivery(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<(Delivery, SqsQueue), StartError> {
    let token = bot_token(&aws_sdk_ssm::Client::new(sdk), config).await?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    // An attempt must end well inside its lease, FChat's answer included.
    let fchat_timeout = (config.delivery_lease / 3).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(10),
    );
    let fchat = FChatClient::new(&config.fchat.api_url, token.expose(), fchat_timeout)?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.delivery_queue_url.clone(),
    )
    .with_dead_letter_queue(config.delivery_dlq_url.clone());
    let policy = OutboundPolicy {
        allow_loopback: config.webhook_allow_loopback,
    };
    let fchat: Arc<dyn FChat> = Arc::new(fchat);
    let delivery = Delivery {
        contexts: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        apps: store.clone(),
        fchat: fchat.clone(),
        silencer: Arc::new(HttpSilencer::new(policy, WEBHOOK_TIMEOUT)),
        clock: Arc::new(SystemClock),
        lease: config.delivery_lease,
        max_retry_delay: config.max_retry_delay,
        pacing: if config.fchat_pacing {
            crate::services::delivery::Pacing::FCHAT
        } else {
            crate::services::delivery::Pacing::OFF
        },
        forwarder: forwarder(store, &queue, fchat, config),
        max_forward_delay: config.max_forward_delay,
    };
    Ok((delivery, queue))
}

/// Posting events to apps' webhooks: signed, through the SSRF guard, 5 s at most; a click's
/// answer acted on through `fchat`.
pub fn forwarder(
    store: Arc<DynamoStore>,
    queue: &SqsQueue,
    fchat: Arc<dyn FChat>,
    config: &Config,
) -> Forwarder {
    let policy = OutboundPolicy {
        allow_loopback: config.webhook_allow_loopback,
    };
    Forwarder {
        apps: store.clone(),
        contexts: store,
        queue: Arc::new(queue.clone()),
        webhooks: Arc::new(HttpWebhooks::new(policy, WEBHOOK_TIMEOUT)),
        clock: Arc::new(SystemClock),
        fchat,
    }
}

/// The callback route: FChat's updates forwarded to apps.
pub async fn callback(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<Callback, StartError> {
    let (token, secret) = callback_secrets(&aws_sdk_ssm::Client::new(sdk), config).await?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.tables.clone(),
    ));
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.delivery_queue_url.clone(),
    );
    let fchat: Arc<dyn FChat> = Arc::new(FChatClient::new(
        &config.fchat.api_url,
        token.expose(),
        USER_LOOKUP_TIMEOUT,
    )?);
    Ok(Callback {
        apps: store.clone(),
        groups: store.clone(),
        users: store.clone(),
        contexts: store.clone(),
        fchat: fchat.clone(),
        forwarder: forwarder(store, &queue, fchat, config),
        clock: Arc::new(SystemClock),
        secret: secret.expose().to_owned(),
        expired_text: config.expired_text.clone(),
    })
}
