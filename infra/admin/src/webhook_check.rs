//! `app test-webhook`: a signed `ping` sent to an app's webhook the way the gateway sends its
//! events (the same SSRF guard, roots of trust, timeout and Standard Webhooks signature), with
//! each step of the checklist in Tencent Chat's "Common Reasons for Webhook Failures" told
//! apart: the name resolves (DNS), to an address the gateway may call; a connection is
//! accepted (connect); the certificate verifies (TLS); an answer comes within the gateway's
//! timeout (timeout); it is a 2xx (status); and, when the app echoes it, whether the app
//! verified the signature (signature).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway::adapters::webhook::guard::{
    allowed_address, check_url, is_blocked, webhook_client_with, HostLookup, OutboundPolicy,
};
use gateway::adapters::webhook::signing::sign;
use serde_json::{json, Value};

/// The most of an answer that is read and shown.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The checklist's steps, in the order a request takes them.
pub const STEPS: [&str; 7] = [
    "url",
    "dns",
    "connect",
    "tls",
    "timeout",
    "status",
    "signature",
];

/// One step: passed, failed, or not applicable / not known (`None`).
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub ok: Option<bool>,
    pub detail: String,
}

/// What the ping found.
#[derive(Debug, Clone)]
pub struct Report {
    pub url: String,
    pub steps: Vec<Step>,
    pub status: Option<u16>,
    pub answer: Option<Value>,
    pub elapsed: Duration,
    pub event: Value,
}

impl Report {
    /// The first step that failed.
    pub fn failed_step(&self) -> Option<&Step> {
        self.steps.iter().find(|step| step.ok == Some(false))
    }

    pub fn to_json(&self, app: &str) -> Value {
        json!({
            "app": app,
            "url": self.url,
            "ok": self.failed_step().is_none(),
            "failed_step": self.failed_step().map(|step| step.name),
            "status": self.status,
            "answer": self.answer,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "event": self.event,
            "steps": self.steps.iter().map(|step| json!({
                "step": step.name,
                "result": match step.ok { Some(true) => "ok", Some(false) => "failed", None => "skipped" },
                "detail": step.detail,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn to_text(&self, app: &str) -> String {
        let mut lines = vec![format!("app {app}: ping to {}", self.url)];
        for step in &self.steps {
            let result = match step.ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "-",
            };
            lines.push(format!("  {result:<7}{:<10} {}", step.name, step.detail));
        }
        if let Some(answer) = &self.answer {
            lines.push(format!("answer: {answer}"));
        }
        lines.push(match self.failed_step() {
            None => format!("the webhook works ({} ms)", self.elapsed.as_millis()),
            Some(step) => format!("the webhook failed at {}: {}", step.name, step.detail),
        });
        lines.join("\n")
    }
}

/// Where a check stands: the steps so far.
struct Checklist {
    steps: Vec<Step>,
}

impl Checklist {
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Some(true), detail);
    }

    fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Some(false), detail);
    }

    fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, None, detail);
    }

    fn push(&mut self, name: &'static str, ok: Option<bool>, detail: impl Into<String>) {
        self.steps.push(Step {
            name,
            ok,
            detail: detail.into(),
        });
    }

    /// The steps not reached after a failure, shown as such.
    fn rest(&mut self) {
        let reached: Vec<&str> = self.steps.iter().map(|step| step.name).collect();
        for name in STEPS {
            if !reached.contains(&name) {
                self.skip(name, "not reached");
            }
        }
    }
}

/// An error and its causes, on one line (never the URL's query, which may hold a secret).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The `ping` event the app receives.
pub fn ping_event(app: &str, now: u64) -> Value {
    json!({
        "event": "ping",
        "app": app,
        "update_id": format!("ping-{}", uuid::Uuid::new_v4().simple()),
        "sent_at": now,
        "message": "fchat-admin app test-webhook: a test event; answer 2xx. Echo \"signature_verified\": true to show the signature checked out.",
    })
}

/// Sends a signed `ping` for `app` to `url`, signed with `secrets`, walking the checklist.
pub async fn check(
    app: &str,
    url: &str,
    secrets: &[String],
    policy: OutboundPolicy,
    lookup: Arc<dyn HostLookup>,
    timeout: Duration,
) -> Report {
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let event = ping_event(app, now);
    let mut list = Checklist { steps: Vec::new() };
    let mut report = Report {
        url: url.to_owned(),
        steps: Vec::new(),
        status: None,
        answer: None,
        elapsed: Duration::ZERO,
        event: event.clone(),
    };
    let outcome = walk(
        &mut list,
        &mut report,
        url,
        secrets,
        policy,
        lookup,
        timeout,
        &event,
        now,
    )
    .await;
    if outcome.is_none() {
        list.rest();
    }
    report.steps = list.steps;
    report.elapsed = started.elapsed();
    report
}

/// The checklist's steps; `None` when one failed and the rest were not reached.
#[allow(clippy::too_many_arguments)]
async fn walk(
    list: &mut Checklist,
    report: &mut Report,
    url: &str,
    secrets: &[String],
    policy: OutboundPolicy,
    lookup: Arc<dyn HostLookup>,
    timeout: Duration,
    event: &Value,
    now: u64,
) -> Option<()> {
    // The URL as the gateway checks it.
    let parsed = match check_url(url, policy) {
        Ok(parsed) => parsed,
        Err(refused) => {
            list.fail("url", format!("the gateway refuses this URL: {refused}"));
            return None;
        }
    };
    list.pass(
        "url",
        format!("{} is a URL the gateway calls", parsed.scheme()),
    );
    let port = parsed.port_or_known_default().unwrap_or(443);
    let https = parsed.scheme() == "https";

    // DNS: the name resolves, to an address the gateway may call.
    let addresses: Vec<IpAddr> = match parsed.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.to_owned();
            let found = match tokio::time::timeout(timeout, lookup.lookup(name.clone())).await {
                Err(_) => {
                    list.fail(
                        "dns",
                        format!("looking {name} up took over {} s", timeout.as_secs()),
                    );
                    return None;
                }
                Ok(Err(error)) => {
                    list.fail("dns", format!("{name} does not resolve: {error}"));
                    return None;
                }
                Ok(Ok(found)) if found.is_empty() => {
                    list.fail("dns", format!("{name} resolves to no address"));
                    return None;
                }
                Ok(Ok(found)) => found,
            };
            let allowed: Vec<IpAddr> = found
                .iter()
                .copied()
                .filter(|ip| allowed_address(*ip, policy))
                .collect();
            if allowed.is_empty() {
                list.fail(
                    "dns",
                    format!(
                        "{name} resolves to {}: private, loopback or reserved addresses the gateway never calls",
                        join(&found)
                    ),
                );
                return None;
            }
            list.pass("dns", format!("{name} resolves to {}", join(&allowed)));
            allowed
        }
        Some(url::Host::Ipv4(ip)) => {
            list.skip("dns", format!("an IP address ({ip}): nothing to look up"));
            vec![IpAddr::V4(ip)]
        }
        Some(url::Host::Ipv6(ip)) => {
            list.skip("dns", format!("an IP address ({ip}): nothing to look up"));
            vec![IpAddr::V6(ip)]
        }
        None => {
            list.fail("dns", "the URL has no host");
            return None;
        }
    };

    // Connect: some address accepts a connection on the port.
    let connect_timeout = timeout.min(Duration::from_secs(2));
    let mut last_error = String::new();
    let mut connected = None;
    for ip in &addresses {
        let address = SocketAddr::new(*ip, port);
        let attempt = Instant::now();
        match tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_stream)) => {
                connected = Some((address, attempt.elapsed()));
                break;
            }
            Ok(Err(error)) => last_error = format!("{address}: {error}"),
            Err(_) => {
                last_error = format!(
                    "{address}: no connection within {} s (a firewall dropping it?)",
                    connect_timeout.as_secs()
                )
            }
        }
    }
    match connected {
        Some((address, took)) => list.pass(
            "connect",
            format!("{address} accepted in {} ms", took.as_millis()),
        ),
        None => {
            list.fail(
                "connect",
                format!("no server accepts connections: {last_error}"),
            );
            return None;
        }
    }

    // The request itself, as the gateway sends an event.
    let body = event.to_string();
    let webhook_id = format!("msg_{}", event["update_id"].as_str().unwrap_or("ping"));
    let signed = match sign(secrets, &webhook_id, now, body.as_bytes()) {
        Ok(signed) => signed,
        Err(error) => {
            list.fail(
                "signature",
                format!("the app's secret cannot sign: {error}"),
            );
            return None;
        }
    };
    let client = webhook_client_with(policy, timeout, lookup);
    let mut request = client
        .post(parsed)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("fchat-gateway/", env!("CARGO_PKG_VERSION")),
        )
        .body(body);
    for (name, value) in signed.pairs() {
        request = request.header(name, value);
    }
    let sent = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            let (timed_out, blocked, connect) =
                (error.is_timeout(), is_blocked(&error), error.is_connect());
            let why = chain(&error.without_url());
            if timed_out {
                if https {
                    list.skip("tls", "not known: no answer came");
                }
                list.fail(
                    "timeout",
                    format!(
                        "no answer within {} s, the gateway's webhook timeout: {why}",
                        timeout.as_secs()
                    ),
                );
            } else if blocked {
                list.fail("dns", format!("the address is refused: {why}"));
            } else if connect && https {
                list.fail("tls", format!("the TLS handshake failed: {why}"));
            } else if connect {
                list.fail("connect", format!("the connection failed: {why}"));
            } else {
                list.fail("status", format!("no HTTP answer: {why}"));
            }
            return None;
        }
    };
    if https {
        list.pass(
            "tls",
            "the certificate verifies (the Mozilla roots the gateway trusts)",
        );
    } else {
        list.skip(
            "tls",
            "plain http (allowed on loopback, in the local stack only)",
        );
    }
    let status = response.status().as_u16();
    report.status = Some(status);
    let answer = read_answer(response, timeout.saturating_sub(sent.elapsed())).await;
    let took = sent.elapsed();
    match answer {
        None => {
            list.fail(
                "timeout",
                format!("the answer did not finish within {} s", timeout.as_secs()),
            );
            return None;
        }
        Some(answer) => {
            report.answer = Some(answer);
            list.pass(
                "timeout",
                format!(
                    "answered in {} ms (the gateway waits {} s)",
                    took.as_millis(),
                    timeout.as_secs()
                ),
            );
        }
    }
    match status {
        200..=299 => list.pass("status", format!("{status}")),
        401 | 403 => {
            list.fail(
                "status",
                format!("{status}: the app refused the request; does it check with the app's current webhook secret?"),
            );
            return None;
        }
        410 => {
            list.fail(
                "status",
                "410 Gone: the gateway stops forwarding events to it",
            );
            return None;
        }
        other => {
            list.fail(
                "status",
                format!("{other}: the gateway retries events answered so"),
            );
            return None;
        }
    }
    match report
        .answer
        .as_ref()
        .and_then(|answer| answer.get("signature_verified"))
        .and_then(Value::as_bool)
    {
        Some(true) => list.pass("signature", "the app says the signature verified"),
        Some(false) => {
            list.fail("signature", "the app says the signature did not verify");
            return None;
        }
        None => list.skip(
            "signature",
            "not echoed (an app may answer a ping with \"signature_verified\": true)",
        ),
    }
    Some(())
}

/// The answer's body (JSON, else text), at most [`MAX_ANSWER_BYTES`]; `None` if it does not
/// arrive in time.
async fn read_answer(mut response: reqwest::Response, within: Duration) -> Option<Value> {
    let read = async {
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                body.truncate(MAX_ANSWER_BYTES);
                break;
            }
        }
        body
    };
    let body = tokio::time::timeout(within, read).await.ok()?;
    Some(match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) if body.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
    })
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
