//! `hello-lambda` writing, each invocation, the EMF documents of an accepted message and of a
//! delivery through the `metrics` facade with `metrics_cloudwatch_embedded` as the recorder,
//! flushed to standard output at the end of the invocation: `make bench` compares its size
//! with the floor's and with `hello-emf-serde`'s.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("FChatGateway")
        .with_dimension("Function", "hello")
        .init()?;
    metrics::describe_counter!("MessagesAccepted", metrics::Unit::Count, "accepted");
    metrics::describe_counter!("DeliveryAttempts", metrics::Unit::Count, "attempts");
    metrics::describe_counter!("MessagesDelivered", metrics::Unit::Count, "delivered");
    metrics::describe_histogram!("DeliveryLatency", metrics::Unit::Milliseconds, "latency");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        metrics::counter!("MessagesAccepted", "Route" => "group_message", "Outcome" => "queued")
            .increment(1);
        metrics::counter!("DeliveryAttempts", "Answer" => "ok").increment(1);
        metrics::counter!("MessagesDelivered").increment(1);
        metrics::histogram!("DeliveryLatency")
            .record(now_ms.saturating_sub(now_ms / 1000 * 1000) as f64);
        collector
            .set_property("app", "alerts-prod")
            .set_property("route", "group_message")
            .set_property("outcome", "queued")
            .set_property("source", "group")
            .set_property("context_id", "8c1f0d7e54a94d7f9b1c2e3a4b5c6d7e")
            .flush(std::io::stdout())?;
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
