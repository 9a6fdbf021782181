//! What the console works out itself: whether a webhook request's signature is the gateway's
//! (checked with the gateway's own signer, `gateway::adapters::webhook::signing`), and each
//! message's delivery status (asked of the gateway's status route with the sending app's
//! token).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway::adapters::webhook::signing;
use hyper::Method;
use percent_encoding::utf8_percent_encode;
use serde_json::{json, Map, Value};

use super::upstream::Upstream;
use super::{lock, ConsoleApp, SEGMENT};

/// How far `webhook-timestamp` may be from when the request arrived (Standard Webhooks').
const TIMESTAMP_TOLERANCE_SECS: u64 = 5 * 60;

/// The console's verdict on one webhook request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SignatureCheck {
    /// A `v1` signature in `webhook-signature` is what the gateway's signer makes of this
    /// request with one of the app's secrets, and the timestamp is within five minutes.
    Verified,
    /// Why it is not.
    Invalid(String),
    /// The console has no secret for the app.
    NotChecked(String),
}

/// Checks a request the way an app would, by signing it again with the gateway's signer:
/// `headers` in lower case, `body` as received, `received_at` in Unix seconds.
pub(super) fn check_signature(
    secrets: &[String],
    headers: &HashMap<String, String>,
    body: &str,
    received_at: u64,
) -> SignatureCheck {
    if secrets.is_empty() {
        return SignatureCheck::NotChecked("the console has no webhook secret for this app".into());
    }
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| SignatureCheck::Invalid(format!("no {name} header")))
    };
    let (id, timestamp, listed) = match (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) {
        (Ok(id), Ok(timestamp), Ok(listed)) => (id, timestamp, listed),
        (Err(missing), _, _) | (_, Err(missing), _) | (_, _, Err(missing)) => return missing,
    };
    let Ok(timestamp) = timestamp.parse::<u64>() else {
        return SignatureCheck::Invalid("webhook-timestamp is not a number".into());
    };
    if timestamp.abs_diff(received_at) > TIMESTAMP_TOLERANCE_SECS {
        return SignatureCheck::Invalid(
            "webhook-timestamp is more than five minutes from when it arrived".into(),
        );
    }
    let mut expected = Vec::new();
    for secret in secrets {
        match signing::sign(std::slice::from_ref(secret), id, timestamp, body.as_bytes()) {
            Ok(signed) => expected.push(signed.signature),
            Err(error) => return SignatureCheck::NotChecked(error.to_string()),
        }
    }
    let matched = listed
        .split_whitespace()
        .any(|entry| expected.iter().any(|signature| signature == entry));
    if matched {
        SignatureCheck::Verified
    } else {
        SignatureCheck::Invalid("no v1 signature matches the app's secret".into())
    }
}

/// How long a status stays fresh before it is asked again (only while it may still change).
const REFRESH: Duration = Duration::from_millis(900);
/// The most status requests one refresh makes: the page polls every second.
const MAX_LOOKUPS: usize = 16;
/// A context no known app's token finds is asked again this many times, then left alone.
const MAX_MISSES: u32 = 5;

/// The contexts the console follows: those it sent, and those behind the messages FChat has
/// (`client_message_id` is the context id).
#[derive(Default)]
pub(super) struct Deliveries {
    known: Mutex<HashMap<String, Tracked>>,
}

#[derive(Default, Clone)]
struct Tracked {
    /// The app whose token found it.
    app: Option<String>,
    /// What the console sent: the user (none: the app's group) and the text, for the chat to
    /// show the message before FChat has it.
    sent: Option<(Option<String>, String)>,
    /// The status route's `context`.
    context: Option<Value>,
    checked: Option<Instant>,
    misses: u32,
    first_seen_ms: u64,
}

impl Tracked {
    fn due(&self, now: Instant) -> bool {
        let settled = self.context.as_ref().is_some_and(|context| {
            matches!(
                context["status"].as_str(),
                Some("sent" | "failed" | "expired")
            )
        });
        if settled || self.misses >= MAX_MISSES {
            return false;
        }
        let wait = REFRESH * (1 + self.misses * 3);
        self.checked
            .is_none_or(|checked| now.duration_since(checked) >= wait)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

impl Deliveries {
    /// Follows a context the console sent for `app`: `text` to the user `email`, or to the
    /// app's group.
    pub(super) fn track(&self, context_id: &str, app: &str, email: Option<&str>, text: &str) {
        let mut known = lock(&self.known);
        let tracked = known
            .entry(context_id.to_owned())
            .or_insert_with(|| Tracked {
                first_seen_ms: now_ms(),
                ..Tracked::default()
            });
        tracked.app = Some(app.to_owned());
        tracked.sent = Some((email.map(str::to_owned), text.to_owned()));
    }

    /// Asks the status route about the contexts whose status may have changed (`seen`: those
    /// behind FChat's messages), and answers every status known, by context id.
    pub(super) async fn refresh(
        &self,
        upstream: &Upstream,
        api: &str,
        apps: &[ConsoleApp],
        seen: &[String],
    ) -> Value {
        let now = Instant::now();
        let due: Vec<(String, Option<String>)> = {
            let mut known = lock(&self.known);
            for id in seen {
                known.entry(id.clone()).or_insert_with(|| Tracked {
                    first_seen_ms: now_ms(),
                    ..Tracked::default()
                });
            }
            let mut due: Vec<(&String, &Tracked)> = known
                .iter()
                .filter(|(_, tracked)| tracked.due(now))
                .collect();
            due.sort_by_key(|(_, tracked)| std::cmp::Reverse(tracked.first_seen_ms));
            due.into_iter()
                .take(MAX_LOOKUPS)
                .map(|(id, tracked)| (id.clone(), tracked.app.clone()))
                .collect()
        };
        let lookups = due.iter().map(|(id, app)| async move {
            let candidates: Vec<&ConsoleApp> = apps
                .iter()
                .filter(|known| app.as_ref().is_none_or(|name| &known.name == name))
                .collect();
            for candidate in candidates {
                let url = format!(
                    "{}/webhooks/{}/messages/{}",
                    api.trim_end_matches('/'),
                    utf8_percent_encode(&candidate.token, SEGMENT),
                    utf8_percent_encode(id, SEGMENT)
                );
                if let Ok((200, answer)) = upstream.call(Method::GET, &url, None).await {
                    return (
                        id,
                        Some((candidate.name.clone(), answer["context"].clone())),
                    );
                }
            }
            (id, None)
        });
        let results = futures_util::future::join_all(lookups).await;
        let mut known = lock(&self.known);
        for (id, found) in results {
            let Some(tracked) = known.get_mut(id) else {
                continue;
            };
            tracked.checked = Some(now);
            match found {
                Some((app, context)) => {
                    tracked.app = Some(app);
                    tracked.context = Some(context);
                    tracked.misses = 0;
                }
                None => tracked.misses += 1,
            }
        }
        let mut all = Map::new();
        for (id, tracked) in known.iter() {
            if tracked.app.is_some() || tracked.context.is_some() {
                all.insert(
                    id.clone(),
                    json!({"app": tracked.app, "context": tracked.context,
                           "first_seen_ms": tracked.first_seen_ms,
                           "email": tracked.sent.as_ref().and_then(|(email, _)| email.clone()),
                           "text": tracked.sent.as_ref().map(|(_, text)| text.clone())}),
                );
            }
        }
        Value::Object(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers(id: &str, timestamp: u64, signature: &str) -> HashMap<String, String> {
        HashMap::from([
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signature.to_owned()),
        ])
    }

    #[test]
    fn the_standard_webhooks_example_verifies_and_a_tampered_one_does_not() {
        // The Standard Webhooks libraries' documented example.
        let good = headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let body = r#"{"test": 2432232314}"#;
        let secrets = vec![SECRET.to_owned()];
        assert_eq!(
            check_signature(&secrets, &good, body, 1_614_265_330),
            SignatureCheck::Verified
        );
        // Listed after another scheme's entry, during a rotation.
        let mut rotated = good.clone();
        rotated.insert(
            "webhook-signature".into(),
            "v1a,xyz v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
        );
        assert_eq!(
            check_signature(&secrets, &rotated, body, 1_614_265_330),
            SignatureCheck::Verified
        );
        assert!(matches!(
            check_signature(&secrets, &good, r#"{"test": 2432232315}"#, 1_614_265_330),
            SignatureCheck::Invalid(_)
        ));
        assert!(matches!(
            check_signature(&secrets, &good, body, 1_614_265_330 + 301),
            SignatureCheck::Invalid(_)
        ));
        let mut missing = good.clone();
        missing.remove("webhook-id");
        assert_eq!(
            check_signature(&secrets, &missing, body, 1_614_265_330),
            SignatureCheck::Invalid("no webhook-id header".into())
        );
        assert!(matches!(
            check_signature(&[], &good, body, 1_614_265_330),
            SignatureCheck::NotChecked(_)
        ));
        assert!(matches!(
            check_signature(&["not-a-secret".into()], &good, body, 1_614_265_330),
            SignatureCheck::NotChecked(_)
        ));
    }
}
