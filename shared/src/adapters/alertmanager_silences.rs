//! Silences in an app's Alertmanager, through its API v2 (`POST /api/v2/silences`): through
//! the SSRF guard, without redirects, with a short timeout. The app's credentials go in the
//! `Authorization` header and nowhere else.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::adapters::webhook::guard::{check_url, is_blocked, webhook_client, OutboundPolicy};
use crate::domain::{AlertmanagerAuth, AlertmanagerLink, UnixTime};
use crate::logging::loggable;
use crate::ports::{SilenceError, SilenceRequest, Silencer};

/// The most of Alertmanager's answer that is read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

pub struct HttpSilencer {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl HttpSilencer {
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Self {
        HttpSilencer {
            client: webhook_client(policy, timeout),
            policy,
        }
    }
}

/// The body Alertmanager's API v2 takes for a new silence.
pub fn silence_body(silence: &SilenceRequest) -> Value {
    let matchers: Vec<Value> = silence
        .matchers
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value, "isRegex": false, "isEqual": true}))
        .collect();
    json!({
        "matchers": matchers,
        "startsAt": rfc3339(silence.starts_at),
        "endsAt": rfc3339(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    })
}

fn rfc3339(at: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(at as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Silencer for HttpSilencer {
    async fn create_silence(
        &self,
        alertmanager: &AlertmanagerLink,
        silence: &SilenceRequest,
    ) -> Result<String, SilenceError> {
        if silence.matchers.is_empty() {
            return Err(SilenceError::Permanent(
                "the alert group has no labels to match".into(),
            ));
        }
        let url = format!("{}/api/v2/silences", alertmanager.url.trim_end_matches('/'));
        let url = check_url(&url, self.policy)
            .map_err(|blocked| SilenceError::Permanent(format!("URL refused: {blocked}")))?;
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(silence_body(silence).to_string());
        request = match &alertmanager.auth {
            None => request,
            Some(AlertmanagerAuth::Bearer(token)) => request.bearer_auth(token),
            Some(AlertmanagerAuth::Basic { user, password }) => {
                request.basic_auth(user, Some(password))
            }
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_builder() || is_blocked(&error) => {
                return Err(SilenceError::Permanent(format!(
                    "the request was refused: {}",
                    error.without_url()
                )))
            }
            Err(error) => {
                return Err(SilenceError::Transient(format!(
                    "request failed: {}",
                    error.without_url()
                )))
            }
        };
        let status = response.status().as_u16();
        let mut response = response;
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                body.truncate(MAX_ANSWER_BYTES);
                break;
            }
        }
        let said = loggable(String::from_utf8_lossy(&body).trim());
        match status {
            200..=299 => serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("silenceID")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .ok_or_else(|| {
                    SilenceError::Transient("Alertmanager answered without a silenceID".into())
                }),
            408 | 429 | 500..=599 => Err(SilenceError::Transient(format!(
                "Alertmanager answered {status}"
            ))),
            _ => Err(SilenceError::Permanent(format!(
                "Alertmanager answered {status}: {said}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_alertmanagers_v2_silence() {
        let silence = SilenceRequest {
            matchers: [("alertname".to_owned(), "Disk \"full\"".to_owned())].into(),
            starts_at: 1_795_356_000,
            ends_at: 1_795_359_600,
            created_by: "ops@example.com".into(),
            comment: "from the chat".into(),
        };
        assert_eq!(
            silence_body(&silence),
            json!({
                "matchers": [{"name": "alertname", "value": "Disk \"full\"", "isRegex": false, "isEqual": true}],
                "startsAt": "2026-11-22T14:00:00Z",
                "endsAt": "2026-11-22T15:00:00Z",
                "createdBy": "ops@example.com",
                "comment": "from the chat",
            })
        );
    }
}
