//! The adapter that posts to apps' webhooks: Standard Webhooks signatures, the SSRF guard at
//! connect time, no redirects, a short timeout.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::adapters::webhook::guard::{check_url, is_blocked, webhook_client, OutboundPolicy};
use crate::adapters::webhook::signing::sign;
use crate::domain::credentials::sha256_hex;
use crate::ports::{WebhookOutcome, WebhookSender};

/// The most of a webhook's answer that is read (a bot reply is small).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct HttpWebhooks {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl HttpWebhooks {
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Self {
        HttpWebhooks {
            client: webhook_client(policy, timeout),
            policy,
        }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhooks {
    async fn post(
        &self,
        url: &str,
        secrets: &[String],
        webhook_id: &str,
        body: &[u8],
    ) -> WebhookOutcome {
        let url = match check_url(url, self.policy) {
            Ok(url) => url,
            Err(blocked) => {
                return WebhookOutcome::Refused(format!("webhook URL refused: {blocked}"))
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let webhook_id = header_safe_id(webhook_id);
        let signed = match sign(secrets, &webhook_id, now, body) {
            Ok(signed) => signed,
            Err(error) => return WebhookOutcome::Refused(format!("cannot sign: {error}")),
        };
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("fchat-gateway/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            // A request that cannot even be built fails the same way every time.
            Err(error) if error.is_builder() => {
                return WebhookOutcome::Refused(format!(
                    "the request cannot be built: {}",
                    error.without_url()
                ))
            }
            Err(error) if is_blocked(&error) => {
                return WebhookOutcome::Refused(format!(
                    "webhook address refused: {}",
                    error.without_url()
                ))
            }
            Err(error) => {
                return WebhookOutcome::Failed(format!("request failed: {}", error.without_url()))
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let mut answer = Vec::new();
                let mut response = response;
                while let Ok(Some(chunk)) = response.chunk().await {
                    answer.extend_from_slice(&chunk);
                    if answer.len() > MAX_ANSWER_BYTES {
                        answer.clear();
                        break;
                    }
                }
                WebhookOutcome::Delivered {
                    status,
                    body: answer,
                }
            }
            410 => WebhookOutcome::Gone,
            _ => WebhookOutcome::Failed(format!("the webhook answered {status}")),
        }
    }
}

/// A `webhook-id` that can be sent as a header as it is, or else `msg_` and its SHA-256: the
/// same for every attempt. The callback's ids are always the former; a forward queued by an
/// older version of the gateway may carry any id.
fn header_safe_id(id: &str) -> std::borrow::Cow<'_, str> {
    // Printable ASCII without spaces is a valid header value, and a sensible id.
    let plain = !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_graphic());
    if plain {
        id.into()
    } else {
        format!("msg_{}", sha256_hex(id.as_bytes())).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn every_webhook_id_becomes_a_stable_header_value() {
        assert_eq!(header_safe_id("msg_abc.MY_APP"), "msg_abc.MY_APP");
        let long = "u".repeat(2100);
        for hostile in ["u-\u{0}.app", "u-1\n.app", "", "ệ.app", long.as_str()] {
            let safe = header_safe_id(hostile);
            assert!(HeaderValue::from_str(&safe).is_ok(), "{safe:?}");
            assert!(safe.starts_with("msg_") && safe.len() == 68, "{safe}");
            assert_eq!(safe, header_safe_id(hostile));
        }
    }
}
