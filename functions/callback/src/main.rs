//! The callback function: FChat's updates, forwarded to apps' webhooks.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use gateway::apigw::{request_from_event, response_to_event};
use gateway::config::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    gateway::logging::init();
    let config = Config::from_env()?;
    let callback = gateway::aws::callback(&gateway::aws::sdk_config().await, &config).await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayV2httpRequest>| async {
            let response = match request_from_event(event.payload) {
                Ok(request) => callback.handle(&request).await,
                Err(refusal) => refusal,
            };
            Ok::<ApiGatewayV2httpResponse, Error>(response_to_event(response))
        },
    ))
    .await
}
