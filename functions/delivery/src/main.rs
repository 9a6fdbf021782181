//! The delivery function: jobs from the SQS delivery queue become FChat messages.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gateway::config::Config;
use gateway::delivery::deliver_batch;
use gateway::sqs::{batch_response, jobs_from_event};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    gateway::logging::init();
    gateway::metrics::init("delivery");
    let config = Config::from_env()?;
    let (delivery, queue) =
        gateway::wiring::delivery(&gateway::wiring::sdk_config().await, &config).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        let jobs = jobs_from_event(event.payload);
        let failed = deliver_batch(&delivery, &queue, &jobs).await;
        Ok::<SqsBatchResponse, Error>(batch_response(failed))
    }))
    .await
}
