//! End to end through the local stack: messages sent to the local API gateway, through the
//! real ingest binary, the queue, the SQS poller and the real delivery binary, to the FChat
//! simulator. Measures accepted-to-FChat latency, the binaries' peak RSS, their invocation
//! durations, and (through the counting proxy) every DynamoDB and SQS call on the way.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use fchat_local::harness::Stack;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::proxy::{Calls, CountingProxy, TableIndexes};
use crate::stats::median;
use crate::world;

pub struct Phase {
    pub name: &'static str,
    pub messages: usize,
    pub calls: BTreeMap<String, Calls>,
    /// Delivery invocations (queue batches) in this phase.
    pub batches: u64,
    /// What ingest and delivery logged in this phase.
    pub log_bytes: u64,
}

pub struct E2eResult {
    pub messages: usize,
    pub concurrency: usize,
    pub e2e_ms: Vec<f64>,
    pub send_ms: Vec<f64>,
    pub ingest_rss_kib: u64,
    pub delivery_rss_kib: u64,
    pub ingest_durations_ms: Vec<f64>,
    /// Per batch.
    pub delivery_durations_ms: Vec<f64>,
    pub phases: Vec<Phase>,
    /// Median latency of one DynamoDB GetItem against the emulator, from this process.
    pub emulator_call_ms: f64,
    pub wall_s: f64,
}

pub async fn measure(
    ingest: &Path,
    delivery: &Path,
    messages: usize,
    concurrency: usize,
) -> Result<E2eResult> {
    let receiver = crate::local::receiver().await?;
    let seed = crate::local::seed(&format!("{}/webhook", receiver.url()))?;
    let (aws, fchat) = Stack::start_services(&seed).await?;
    let tables = &aws.config.tables;
    let indexes = vec![
        TableIndexes {
            name: tables.apps.clone(),
            short: "apps".into(),
            index_keys: vec![
                gateway::tables::APPS_TOKEN_ATTRIBUTE.into(),
                gateway::tables::APPS_PREVIOUS_TOKEN_ATTRIBUTE.into(),
                gateway::tables::APPS_GROUP_ATTRIBUTE.into(),
            ],
        },
        TableIndexes {
            name: tables.groups.clone(),
            short: "groups".into(),
            index_keys: vec![gateway::tables::GROUPS_BEATCHAT_ATTRIBUTE.into()],
        },
        TableIndexes {
            name: tables.users.clone(),
            short: "users".into(),
            index_keys: vec![],
        },
        TableIndexes {
            name: tables.contexts.clone(),
            short: "contexts".into(),
            index_keys: vec![gateway::tables::CONTEXTS_MESSAGE_ATTRIBUTE.into()],
        },
    ];
    // Counted in front of the IAM gate: the functions run under their roles, as deployed.
    let proxy = CountingProxy::start(&aws.gate.url(), indexes).await?;
    let emulator_call_ms = emulator_latency(&aws).await?;
    let env = HashMap::from([
        ("AWS_ENDPOINT_URL".to_owned(), proxy.url()),
        // As deployed: one JSON line per request.
        ("AWS_LAMBDA_LOG_LEVEL".to_owned(), "INFO".to_owned()),
    ]);
    let stack = Stack::start_functions(
        aws,
        fchat,
        &[("ingest", ingest), ("delivery", delivery)],
        env,
    )
    .await?;
    let mut poller = stack.delivery_poller().await;
    poller.sqs = aws_sdk_sqs::Client::new(&fchat_local::moto::local_sdk_config(&proxy.url()).await);
    let poller_task = tokio::spawn(poller.run());

    // One message each way first: connections open, the user is known, as in a warm stack.
    send_and_wait(&stack, &group_alert, 1, 1).await?;
    send_and_wait(&stack, &user_question, 1, 1).await?;
    stack.fchat.clear_messages();
    proxy.take();
    let host = stack.host.clone();
    let durations_before = |f: &str| host.durations(f).map(|d| d.len()).unwrap_or(0);
    let (ingest_skip, delivery_skip) = (durations_before("ingest"), durations_before("delivery"));

    let started = Instant::now();
    let half = messages / 2;
    let mut e2e_ms = Vec::new();
    let mut send_ms = Vec::new();
    let mut phases = Vec::new();
    for (name, count, message) in [
        (
            "group alert, no buttons",
            half,
            group_alert as fn(usize) -> Request,
        ),
        ("user question, 2 buttons", messages - half, user_question),
    ] {
        let batches_before = host.invocations("delivery").unwrap_or(0);
        let logged = || {
            host.output_bytes("ingest").unwrap_or(0) + host.output_bytes("delivery").unwrap_or(0)
        };
        let logged_before = logged();
        let sent = send_and_wait(&stack, &message, count, concurrency).await?;
        let received = stack.fchat.messages();
        for (context_id, accepted_ms, round_trip_ms) in sent {
            let Some(arrived) = received
                .iter()
                .find(|m| m.client_message_id.as_deref() == Some(context_id.as_str()))
            else {
                bail!("message {context_id} did not reach FChat");
            };
            e2e_ms.push((arrived.received_at_ms as f64 - accepted_ms).max(0.0));
            send_ms.push(round_trip_ms);
        }
        stack.fchat.clear_messages();
        // The poller's last, empty receive belongs to the idle cost, not to these messages.
        tokio::time::sleep(Duration::from_millis(200)).await;
        phases.push(Phase {
            name,
            messages: count,
            calls: proxy.take(),
            batches: host.invocations("delivery").unwrap_or(0) - batches_before,
            log_bytes: logged() - logged_before,
        });
    }
    let wall_s = started.elapsed().as_secs_f64();
    let rss = |f: &str| {
        host.pid(f)
            .map(crate::rss::peak_rss_kib)
            .ok_or_else(|| anyhow!("{f} is not running"))
    };
    let ms = |f: &str, skip: usize| -> Vec<f64> {
        host.durations(f)
            .unwrap_or_default()
            .iter()
            .skip(skip)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    };
    let result = E2eResult {
        messages,
        concurrency,
        e2e_ms,
        send_ms,
        ingest_rss_kib: rss("ingest")?,
        delivery_rss_kib: rss("delivery")?,
        ingest_durations_ms: ms("ingest", ingest_skip),
        delivery_durations_ms: ms("delivery", delivery_skip),
        phases,
        emulator_call_ms,
        wall_s,
    };
    poller_task.abort();
    drop(receiver);
    Ok(result)
}

type Request = (String, Value);

fn group_alert(i: usize) -> Request {
    (
        format!("/webhooks/{}/{}", world::APP, world::TOKEN),
        json!({"text": format!("[FIRING] disk usage 97% on db-{i}: /var/lib/postgresql")}),
    )
}

fn user_question(_: usize) -> Request {
    (world::user_path(), world::typical_user_message())
}

/// Sends `count` messages, `concurrency` at a time, and waits until FChat has them all.
/// Answers each message's context id, when its acceptance arrived (Unix ms) and the request's
/// round trip (ms).
async fn send_and_wait(
    stack: &Stack,
    message: &(dyn Fn(usize) -> Request + Sync),
    count: usize,
    concurrency: usize,
) -> Result<Vec<(String, f64, f64)>> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut sends = Vec::with_capacity(count);
    for i in 0..count {
        let (path, body) = message(i);
        let permits = permits.clone();
        sends.push(async move {
            let _permit = permits.acquire().await?;
            let started = Instant::now();
            let (status, answer) = stack.post(&path, &body).await?;
            let round_trip = started.elapsed().as_secs_f64() * 1000.0;
            let accepted = unix_ms();
            if status != 200 {
                bail!("the send API answered {status}: {answer}");
            }
            let id = answer["context"]["id"]
                .as_str()
                .ok_or_else(|| anyhow!("no context id in {answer}"))?
                .to_owned();
            Ok((id, accepted, round_trip))
        });
    }
    let sent: Vec<(String, f64, f64)> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let received = stack.fchat.messages();
        let missing = sent
            .iter()
            .filter(|(id, _, _)| {
                !received
                    .iter()
                    .any(|m| m.client_message_id.as_deref() == Some(id.as_str()))
            })
            .count();
        if missing == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{missing} of {count} messages did not reach FChat within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(sent)
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// Median latency of a GetItem against the emulator (no proxy), over 50 calls.
async fn emulator_latency(aws: &fchat_local::harness::LocalAws) -> Result<f64> {
    let client = aws.dynamodb();
    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        client
            .get_item()
            .table_name(&aws.config.tables.apps)
            .key(
                gateway::tables::APPS_KEY,
                aws_sdk_dynamodb::types::AttributeValue::S(world::APP.into()),
            )
            .consistent_read(true)
            .send()
            .await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(&samples))
}
