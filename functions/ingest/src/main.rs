//! The ingest function: the send API and the status route, behind any front door `lambda_http`
//! serves (HTTP API, REST API, ALB, function URL).

use gateway::config::Config;

#[tokio::main]
async fn main() -> Result<(), gateway::front_door::Error> {
    gateway::logging::init();
    gateway::metrics::init("ingest");
    let config = Config::from_env()?;
    let ingest = gateway::wiring::ingest(&gateway::wiring::sdk_config().await, &config).await?;
    let ingest = &ingest;
    gateway::front_door::serve(move |request| async move { ingest.handle(&request).await }).await
}
