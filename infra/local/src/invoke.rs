//! A client of the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), as
//! served by [`crate::runtime`] (`fchat-local functions`).

use anyhow::{anyhow, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
pub struct Invoker {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Invoker {
    /// `base` is where the Invoke API listens, e.g. `http://127.0.0.1:9010`.
    pub fn new(base: impl Into<String>) -> Self {
        Invoker {
            base: base.into().trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Checks that `function` exists, without running it (`X-Amz-Invocation-Type: DryRun`).
    pub async fn dry_run(&self, function: &str) -> Result<()> {
        let request = Request::post(format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base
        ))
        .header("x-amz-invocation-type", "DryRun")
        .body(Full::new(Bytes::new()))?;
        let response = self.client.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != hyper::StatusCode::NO_CONTENT {
            return Err(anyhow!(
                "{function} at {}: {status} {}",
                self.base,
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }

    /// Invokes `function` with `event` and answers its result; a function error is an error.
    pub async fn invoke(&self, function: &str, event: &serde_json::Value) -> Result<Bytes> {
        let request = Request::post(format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base
        ))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(event.to_string())))?;
        let response = self.client.request(request).await?;
        let failed = response.headers().contains_key("x-amz-function-error");
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if failed || !status.is_success() {
            return Err(anyhow!(
                "{function} failed ({status}): {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body)
    }
}
