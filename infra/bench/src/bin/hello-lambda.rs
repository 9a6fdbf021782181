//! The cold-start floor: the smallest function `lambda_runtime` runs, as its own examples
//! write it (a Tokio main, the default tracing subscriber, an echo handler). `make bench`
//! builds it with the release profile the functions use and starts it under the same
//! Runtime API stub.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
