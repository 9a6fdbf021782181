//! The local stack the binaries run against: moto with the template's tables and queues, the
//! FChat simulator, an app webhook receiver, and the events the functions are handed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use bytes::Bytes;
use fchat_local::harness::{LocalAws, Stack, LOCAL_CALLBACK_SECRET};
use fchat_local::seed::Seed;
use gateway::ports::UserStore;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::world;

pub const WEBHOOK_SECRET: &str = "whsec_O0PrM7LIUOD/7Mw/aWYEcHrYT84mdpo07/YwJNBFDuM=";

/// The bench's tenants: the app (webhook at `webhook_url`), its group and the user.
pub fn seed(webhook_url: &str) -> Result<Seed> {
    Ok(serde_json::from_value(json!({
        "groups": [{"id": world::GROUP, "beatchat_id": world::BEATCHAT_ID, "name": "Ops"}],
        "apps": [{
            "name": world::APP,
            "token": world::TOKEN,
            "group": world::GROUP,
            "user_messaging": true,
            "webhook_url": webhook_url,
            "webhook_secret": WEBHOOK_SECRET,
            "context_ttl_seconds": 3600
        }],
        "users": [{"email": world::EMAIL, "fchat_id": world::FCHAT_ID, "name": "Example User"}]
    }))?)
}

/// Moto, the simulator and the receiver, with the seed loaded and the user known.
pub struct Services {
    pub aws: LocalAws,
    /// FChat and the app's webhook, serving the functions while the services live.
    _fchat: fchat_simulator::Simulator,
    _receiver: fchat_simulator::receiver::Receiver,
}

impl Services {
    pub async fn start() -> Result<Services> {
        let receiver = receiver().await?;
        let seed = seed(&format!("{}/webhook", receiver.url()))?;
        let (aws, fchat) = Stack::start_services(&seed).await?;
        let store = aws.store();
        store.put_user(&world::user()).await?;
        Ok(Services {
            aws,
            _fchat: fchat,
            _receiver: receiver,
        })
    }

    /// What a function process needs to run against these services.
    pub fn function_env(&self) -> HashMap<String, String> {
        let mut env = self.aws.provisioned.environment.clone();
        env.extend(fchat_local::moto::local_aws_environment(
            &self.aws.moto.endpoint,
            fchat_local::iam::ROOT_ACCESS_KEY,
        ));
        env.insert("WEBHOOK_ALLOW_LOOPBACK".into(), "true".into());
        env
    }

    /// Milliseconds to read the bot token as a cold start does: a fresh SDK client (and so a
    /// fresh connection), one `GetParameters`.
    pub async fn secrets_read_ms(&self) -> Result<f64> {
        let sdk = fchat_local::moto::local_sdk_config(&self.aws.moto.endpoint).await;
        let started = std::time::Instant::now();
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        gateway::wiring::bot_token(&ssm, &self.aws.config).await?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }

    /// A user message accepted and recorded in DynamoDB, and its job's body.
    pub async fn queued_job(&self) -> Result<String> {
        let store = self.aws.store();
        let (_, job) = world::accept_typical_message(&store).await?;
        Ok(job)
    }
}

pub async fn receiver() -> Result<fchat_simulator::receiver::Receiver> {
    fchat_simulator::receiver::Receiver::on_loopback(
        fchat_simulator::receiver::ReceiverConfig::checked_with(WEBHOOK_SECRET),
    )
    .await
}

/// An HTTP API (payload 2.0) event, as API Gateway hands it to a function.
pub fn http_event(path: &str, headers: &[(&str, &str)], body: &Value) -> Bytes {
    let mut header_map = serde_json::Map::new();
    header_map.insert("content-type".into(), "application/json".into());
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), Value::from(*value));
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": header_map,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "fchat-bench"},
            "requestId": Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": 0
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    });
    Bytes::from(event.to_string())
}

/// An SQS event with one record per job body.
pub fn sqs_event(bodies: &[String]) -> Bytes {
    let records: Vec<Value> = bodies
        .iter()
        .map(|body| {
            json!({
                "messageId": Uuid::new_v4().to_string(),
                "receiptHandle": Uuid::new_v4().to_string(),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:delivery",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    Bytes::from(json!({ "Records": records }).to_string())
}

/// A user's message in the group's room, as FChat posts it to the callback route.
pub fn room_message_event() -> Bytes {
    static UPDATE: AtomicU64 = AtomicU64::new(1_000_000);
    let update_id = UPDATE.fetch_add(1, Ordering::Relaxed);
    let member = json!({"_id": world::FCHAT_ID, "id": world::FCHAT_ID, "nickname": "Example User", "isRobot": false});
    let update = json!({
        "update_id": update_id,
        "appID": "fchat",
        "clientID": world::FCHAT_ID,
        "roomID": world::BEATCHAT_ID,
        "event": "MESSAGE",
        "data": {
            "room": world::BEATCHAT_ID,
            "sender": member,
            "members": [member],
            "message": "Acknowledged, looking at db-3 now",
            "messageType": "text",
            "id": format!("m-{update_id}"),
            "_id": format!("m-{update_id}")
        }
    });
    http_event(
        "/callback/fchat",
        &[("x-fchat-secret", LOCAL_CALLBACK_SECRET)],
        &update,
    )
}

/// The status code in a function's HTTP API answer.
pub fn answer_status(answer: &[u8]) -> u64 {
    serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v["statusCode"].as_u64())
        .unwrap_or(0)
}
