//! A Lambda Runtime API emulator that runs the real function binaries, plus an Invoke API.
//!
//! [`LambdaHost::start`] runs each function binary (built with `lambda_runtime`) as a child
//! process, with its own [Runtime API] listener on loopback: one Lambda instance (execution
//! environment). [`LambdaHost::invoke`] hands an event to an idle instance and waits for its
//! answer; [`LambdaHost::serve_invoke_api`] offers the same over HTTP as AWS Lambda's
//! `POST /2015-03-31/functions/{name}/invocations`, so that local tools can invoke functions by
//! name.
//!
//! As on Lambda, an instance runs one invocation at a time; concurrent invocations start more
//! instances, up to the function's `max_instances` (then they wait their turn). An instance
//! whose process dies fails the invocation it held at once (`Runtime.ExitError`) and is
//! replaced: the next invocation gets a new process (a cold start). One that overruns its
//! timeout is stopped, as Lambda resets the environment after a timeout. An event over 6 MiB
//! is refused (413 `RequestEntityTooLargeException`), and a response over 6 MiB + 100 bytes
//! fails the invocation (`Function.ResponseSizeTooLarge`), as Lambda's synchronous limits
//! have them.
//!
//! What `lambda_runtime` 1.5 needs from its environment and from the Runtime API:
//! - `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme), `AWS_LAMBDA_FUNCTION_NAME`,
//!   `AWS_LAMBDA_FUNCTION_VERSION` and `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (an `i32`) are
//!   mandatory: it panics without them. The log group and stream names are optional.
//! - `AWS_LAMBDA_INITIALIZATION_TYPE` must not be `snap-start` (that would make it call
//!   `/restore/next`), and `AWS_LAMBDA_MAX_CONCURRENCY` is better left unset.
//! - `/next` must answer 200 with `Lambda-Runtime-Aws-Request-Id` and
//!   `Lambda-Runtime-Deadline-Ms` (it panics without them; the deadline must parse as `u64`);
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` are read when present.
//!   Any other status would be taken as an event (in release builds) or skipped (204, debug
//!   builds only), so `/next` long-polls instead of answering early.
//! - It talks HTTP/1.1 with keep-alive through a pooled hyper client: `/next` and
//!   `/response` may come on the same connection, and a `/next` request stays open as long
//!   as no event is queued (no server-side timeouts here).
//!
//! [Runtime API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
//!
//! Inside, one concern a module:
//! - `spec`: what a function is ([`FunctionSpec`], its ARN) and the environment its process
//!   gets;
//! - `host`: the [`LambdaHost`] handle: starting, readiness, invoking, the counters;
//! - `function`: one function's instances and invocations: concurrency, hand-off, timeouts;
//! - `instance`: one execution environment's state;
//! - `process`: the supervisor: starting an instance's process, relaying its output,
//!   noticing its exit;
//! - `runtime_api`: the Runtime API routes a function process calls;
//! - `invoke_api`: AWS Lambda's Invoke API routes;
//! - `error`: [`InvokeError`] and the bodies AWS answers for it;
//! - `http`, `ids`: answers, request and trace ids.

mod error;
mod function;
mod host;
mod http;
mod ids;
mod instance;
mod invoke_api;
mod process;
mod runtime_api;
mod spec;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

pub use error::{InvokeError, MAX_REQUEST_PAYLOAD, MAX_RESPONSE_PAYLOAD};
pub use function::INIT_LIMIT;
pub use host::LambdaHost;
pub use invoke_api::METRICS_PATH;
pub use spec::{function_arn, FunctionSpec, ACCOUNT_ID, DEFAULT_REGION, DEFAULT_TIMEOUT};

/// Locks through poisoning: the state stays consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
