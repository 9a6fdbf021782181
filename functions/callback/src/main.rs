//! The callback function: FChat's updates, forwarded to apps' webhooks; behind any front door
//! `lambda_http` serves.

use gateway::config::Config;

#[tokio::main]
async fn main() -> Result<(), gateway::front_door::Error> {
    gateway::logging::init();
    gateway::metrics::init("callback");
    let config = Config::from_env()?;
    let callback = gateway::wiring::callback(&gateway::wiring::sdk_config().await, &config).await?;
    let callback = &callback;
    gateway::front_door::serve(move |request| async move { callback.handle(&request).await }).await
}
