//! The local stack's FChat simulator, told about a group chat the real FChat would have.

use anyhow::{anyhow, bail, Context as _, Result};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::views::plain;

/// How long the FChat simulator has to answer.
const SIMULATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `POST {base}/_sim/groups {"id": chat_id}`.
pub(crate) async fn create_chat(base: &str, chat_id: &str) -> Result<()> {
    let url = format!("{}/_sim/groups", base.trim_end_matches('/'));
    let request = hyper::Request::post(&url)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"id": chat_id}).to_string(),
        )))
        .with_context(|| format!("FCHAT_SIMULATOR_URL {base:?} is not a URL"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    let (status, body) = tokio::time::timeout(SIMULATOR_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("the FChat simulator at {base} did not answer"))?
        .with_context(|| format!("telling the FChat simulator at {base} about chat {chat_id}"))?;
    if !status.is_success() {
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        bail!(
            "the FChat simulator at {base} refused chat {chat_id}: {}",
            plain(&answer["description"])
        );
    }
    Ok(())
}
