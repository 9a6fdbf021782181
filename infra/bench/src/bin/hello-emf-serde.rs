//! `hello-lambda` writing, each invocation, the EMF documents of an accepted message and of a
//! delivery the project's way (`gateway::metrics`, serde_json, one line per event): `make
//! bench` compares its size with the floor's and with `hello-emf-crate`'s.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    gateway::metrics::init("hello");
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let created_at_s = gateway::metrics::now_ms() / 1000;
        gateway::metrics::events::request::<gateway::error::ApiError>(
            "group_message",
            "queued",
            None,
            Some("alerts-prod"),
        );
        gateway::metrics::events::delivered(
            "group",
            created_at_s,
            "alerts-prod",
            "8c1f0d7e54a94d7f9b1c2e3a4b5c6d7e",
        );
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
