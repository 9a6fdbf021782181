//! AWS cost from measured figures: per million messages delivered, and per idle month.
//!
//! List prices, us-east-1, on-demand, arm64, without free tiers.

use std::collections::BTreeMap;

use crate::proxy::{total, Calls};

pub const PRICES: &[(&str, f64, &str)] = &[
    ("Lambda duration, arm64", 0.000_013_333_4, "per GB-second"),
    ("Lambda requests", 0.20, "per million"),
    ("API Gateway HTTP API requests", 1.00, "per million"),
    (
        "Lambda function URL requests",
        0.0,
        "per million (no charge beyond the function's own requests)",
    ),
    (
        "SQS FIFO requests",
        0.50,
        "per million (64 KiB each; the delivery queue is FIFO, one message group per chat)",
    ),
    (
        "DynamoDB on-demand writes",
        0.625,
        "per million write request units",
    ),
    (
        "DynamoDB on-demand reads",
        0.125,
        "per million read request units",
    ),
    ("CloudWatch Logs ingestion", 0.50, "per GB"),
    (
        "SSM Parameter Store, standard parameter",
        0.0,
        "per parameter-month, API calls included (standard throughput)",
    ),
    (
        "KMS requests",
        3.00,
        "per million (a SecureString's decryption: one per secret per cold start)",
    ),
    (
        "CloudWatch alarm (standard)",
        0.10,
        "per alarm-month (per metric of a metric-math alarm)",
    ),
    ("CloudWatch dashboard", 3.00, "per dashboard-month"),
    (
        "CloudWatch custom metric",
        0.30,
        "per metric-month, prorated by the hours a series gets a value (EMF metrics)",
    ),
    ("CloudWatch Logs Insights", 0.005, "per GB scanned"),
];

/// The dashboard's monthly price (`Dashboard=true`).
pub const DASHBOARD_MONTH: f64 = 3.00;
/// The metrics the delivery alarms watch (`DeliveryAlarms=true`): p99 latency's one, and the
/// failure rate's two.
pub const DELIVERY_ALARM_METRICS: f64 = 3.0;
/// The series a busy deployment keeps fed every hour: accepted and refused per route in use,
/// delivered, latency, attempts and retries per answer, failed, webhook forwards and latency.
pub const BUSY_SERIES: f64 = 15.0;

/// The sizes of a request's EMF document and of a delivery attempt's, in bytes (an app name
/// and a context id of typical length).
pub fn emf_document_bytes() -> (usize, usize) {
    use gateway::metrics::catalogue::*;
    use gateway::metrics::Event;
    let request = Event::new()
        .dimension("Route", "group_message")
        .dimension("Outcome", "queued")
        .count(&MESSAGES_ACCEPTED)
        .field("app", "alerts-prod")
        .field("route", "group_message")
        .field("outcome", "queued")
        .document(1_800_000_000_000)
        .to_string();
    let delivery = Event::new()
        .dimension("Answer", "ok")
        .count(&DELIVERY_ATTEMPTS)
        .count(&MESSAGES_DELIVERED)
        .value(&DELIVERY_LATENCY, 61.0)
        .field("source", "group")
        .field("app", "alerts-prod")
        .field("context_id", "8c1f0d7e54a94d7f9b1c2e3a4b5c6d7e")
        .document(1_800_000_000_000)
        .to_string();
    (request.len() + 1, delivery.len() + 1)
}

/// What the operators' options cost a month, at list price: (what, default, dollars, notes).
pub fn operator_options() -> Vec<(&'static str, &'static str, f64, String)> {
    vec![
        (
            "EMF metrics (custom metrics)",
            "always",
            BUSY_SERIES * price("CloudWatch custom metric"),
            format!(
                "a busy deployment's {BUSY_SERIES:.0} series fed every hour; a series costs \
                 ${:.5} per hour it gets a value, nothing idle; the first 10 are free",
                price("CloudWatch custom metric") / 730.0
            ),
        ),
        (
            "Dashboard (`Dashboard`)",
            "false",
            price("CloudWatch dashboard"),
            "one dashboard; an account's first 3 are free".to_owned(),
        ),
        (
            "Delivery alarms (`DeliveryAlarms`)",
            "false",
            DELIVERY_ALARM_METRICS * price("CloudWatch alarm (standard)"),
            "latency p99 (one metric) and failure rate (metric math over two): they pay for \
             themselves once FChat's outages or refusals would otherwise go unseen"
                .to_owned(),
        ),
        (
            "Saved Logs Insights queries",
            "always",
            0.0,
            format!(
                "four query definitions, free; a run scans the chosen logs at ${} per GB",
                price("CloudWatch Logs Insights")
            ),
        ),
    ]
}

pub fn price(name: &str) -> f64 {
    PRICES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, p, _)| *p)
        .expect("a listed price")
}

/// Lambda's memory setting in the template, in MB.
pub const MEMORY_MB: f64 = 128.0;
/// CloudWatch Logs bytes Lambda's platform writes per invocation: its start and report lines
/// (JSON format), unless the template's `SystemLogLevel` is WARN, which leaves them out.
pub fn platform_log_bytes() -> f64 {
    let template = std::fs::read_to_string(fchat_local::workspace_root().join("template.yaml"))
        .unwrap_or_default();
    if template.contains("SystemLogLevel: WARN") {
        0.0
    } else {
        700.0
    }
}
/// ReceiveMessage calls per month that Lambda's SQS pollers make on an empty queue: five
/// long polls of 20 s each, all month.
pub const IDLE_RECEIVES_PER_MONTH: f64 = 5.0 * 3.0 * 60.0 * 24.0 * 30.0;
/// The SecureString parameters the functions read at cold start (bot token, callback secret).
pub const SECRETS: f64 = 2.0;
pub const ALARMS: f64 = 4.0;

/// How requests reach the ingest function (the template's `FrontDoor` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontDoor {
    HttpApi,
    FunctionUrl,
}

impl FrontDoor {
    pub const ALL: [FrontDoor; 2] = [FrontDoor::HttpApi, FrontDoor::FunctionUrl];

    pub fn name(self) -> &'static str {
        match self {
            FrontDoor::HttpApi => "HTTP API",
            FrontDoor::FunctionUrl => "function URL",
        }
    }

    /// The front door's line: what each message's one request costs at the door.
    fn line(self) -> (String, f64) {
        match self {
            FrontDoor::HttpApi => (
                "Front door (HTTP API: 1 request per message)".to_owned(),
                price("API Gateway HTTP API requests"),
            ),
            FrontDoor::FunctionUrl => (
                "Front door (function URL: no request charge)".to_owned(),
                price("Lambda function URL requests"),
            ),
        }
    }
}

/// One phase of the end-to-end run, as the cost model needs it.
pub struct Measured<'a> {
    pub messages: usize,
    pub calls: &'a BTreeMap<String, Calls>,
    pub delivery_batches: u64,
    pub ingest_ms: f64,
    /// Per batch.
    pub delivery_ms: f64,
    /// JSON log bytes the functions write per message (both functions).
    pub log_bytes: f64,
}

/// Dollars per million messages, by line.
pub struct Estimate {
    pub lines: Vec<(String, f64)>,
}

impl Estimate {
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|(_, d)| d).sum()
    }
}

fn billed_gb_seconds(ms: f64) -> f64 {
    // Lambda bills whole milliseconds, at least one.
    ms.ceil().max(1.0) / 1000.0 * MEMORY_MB / 1024.0
}

pub fn per_million(m: &Measured, door: FrontDoor) -> Estimate {
    let n = m.messages as f64;
    let per_message = |x: f64| x / n * 1e6;
    let counted = total(m.calls);
    let empty_receives: f64 = m
        .calls
        .iter()
        .filter(|(kind, _)| kind.ends_with("(empty)"))
        .map(|(_, c)| c.sqs_requests)
        .sum();
    let batches = m.delivery_batches as f64;
    let invocations = n + batches;
    let gb_s = price("Lambda duration, arm64");
    let platform = platform_log_bytes();
    let lines = vec![
        door.line(),
        (
            format!(
                "Lambda requests ({:.2} per message: ingest 1, delivery {:.2})",
                invocations / n,
                batches / n
            ),
            per_message(invocations) * price("Lambda requests") / 1e6,
        ),
        (
            format!(
                "Lambda duration (ingest {:.0} ms, delivery {:.0} ms per batch, {MEMORY_MB} MB)",
                m.ingest_ms.ceil(),
                m.delivery_ms.ceil()
            ),
            1e6 * (billed_gb_seconds(m.ingest_ms) + billed_gb_seconds(m.delivery_ms) * batches / n)
                * gb_s,
        ),
        (
            format!(
                "SQS ({:.2} requests per message, empty receives left out)",
                (counted.sqs_requests - empty_receives) / n
            ),
            per_message(counted.sqs_requests - empty_receives) * price("SQS FIFO requests") / 1e6,
        ),
        (
            format!(
                "DynamoDB writes ({:.2} WRU per message)",
                counted.write_units / n
            ),
            per_message(counted.write_units) * price("DynamoDB on-demand writes") / 1e6,
        ),
        (
            format!(
                "DynamoDB reads ({:.2} RRU per message)",
                counted.read_units / n
            ),
            per_message(counted.read_units) * price("DynamoDB on-demand reads") / 1e6,
        ),
        (
            format!(
                "CloudWatch Logs ({:.0} bytes per message)",
                m.log_bytes + platform * invocations / n
            ),
            (m.log_bytes + platform * invocations / n) * 1e6 / 1e9
                * price("CloudWatch Logs ingestion"),
        ),
    ];
    Estimate { lines }
}

/// The most jobs the delivery function takes at once (the template's `BatchSize`).
pub const FULL_BATCH: f64 = 10.0;

/// What one message needs at the least, each item for a guarantee: its request at the front
/// door, the invocations, the queue's requests at full batches, and the writes and reads,
/// with no retry, no idempotency key and nothing logged.
pub struct FloorMessage {
    pub name: &'static str,
    /// Each write, with the guarantee it pays for.
    pub writes: &'static [(&'static str, f64)],
    /// Each read unit (eventually consistent where the code reads so), with what it is for.
    pub reads: &'static [(&'static str, f64)],
}

pub const FLOOR_MESSAGES: [FloorMessage; 2] = [
    FloorMessage {
        name: "group alert, no buttons",
        writes: &[
            ("the context: the message is kept until FChat takes it", 1.0),
            ("the lease: two deliveries of one job never race", 1.0),
            ("the outcome: the app can see what became of it", 1.0),
        ],
        reads: &[
            ("the app (eventually consistent)", 0.5),
            ("the group at ingest (eventually consistent)", 0.5),
            ("the group at delivery (eventually consistent)", 0.5),
        ],
    },
    FloorMessage {
        name: "user question, 2 buttons",
        writes: &[
            ("the context: the message is kept until FChat takes it", 1.0),
            ("the lease: two deliveries of one job never race", 1.0),
            ("the outcome: the app can see what became of it", 1.0),
            (
                "the FChat message id's index entry: a click finds its message",
                1.0,
            ),
            ("the user's latest conversation: a reply finds its app", 1.0),
        ],
        reads: &[
            (
                "the app, by its token's index, then its item (eventually consistent)",
                1.0,
            ),
            ("the user at ingest (eventually consistent)", 0.5),
            ("the user at delivery (eventually consistent)", 0.5),
        ],
    },
];

/// The floor of the design for one message: [`FloorMessage`] priced.
pub fn floor(message: &FloorMessage, door: FrontDoor) -> Estimate {
    let writes: f64 = message.writes.iter().map(|(_, units)| units).sum();
    let reads: f64 = message.reads.iter().map(|(_, units)| units).sum();
    Estimate {
        lines: vec![
            door.line(),
            (
                format!("Lambda requests (ingest 1, delivery 1/{FULL_BATCH:.0} at full batches)"),
                (1.0 + 1.0 / FULL_BATCH) * price("Lambda requests"),
            ),
            (
                format!("SQS (1 send, and 1 receive and 1 delete per {FULL_BATCH:.0} messages)"),
                (1.0 + 2.0 / FULL_BATCH) * price("SQS FIFO requests"),
            ),
            (
                format!("DynamoDB writes ({writes:.0} WRU)"),
                writes * price("DynamoDB on-demand writes"),
            ),
            (
                format!("DynamoDB reads ({reads:.1} RRU)"),
                reads * price("DynamoDB on-demand reads"),
            ),
        ],
    }
}

/// Dollars per month with no traffic at all.
pub fn idle_month() -> Estimate {
    Estimate {
        lines: vec![
            (
                format!(
                    "SSM Parameter Store ({SECRETS} SecureString parameters, standard tier; \
                     no cold start, so no KMS decryption)"
                ),
                SECRETS * price("SSM Parameter Store, standard parameter"),
            ),
            (
                format!("CloudWatch alarms ({ALARMS})"),
                ALARMS * price("CloudWatch alarm (standard)"),
            ),
            (
                "Dashboard and delivery alarms (off by default: `Dashboard`, `DeliveryAlarms`)"
                    .to_owned(),
                0.0,
            ),
            (
                "EMF metrics (no traffic, no series) and saved queries (free)".to_owned(),
                0.0,
            ),
            (
                format!(
                    "SQS: the event source's long polls of the empty queue ({:.0} requests)",
                    IDLE_RECEIVES_PER_MONTH
                ),
                IDLE_RECEIVES_PER_MONTH * price("SQS FIFO requests") / 1e6,
            ),
            ("Lambda, API Gateway, DynamoDB requests".to_owned(), 0.0),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_with_nothing_but_the_api_costs_the_api_and_one_invocation() {
        let calls = BTreeMap::new();
        let estimate = per_million(
            &Measured {
                messages: 10,
                calls: &calls,
                delivery_batches: 0,
                ingest_ms: 0.0,
                delivery_ms: 0.0,
                log_bytes: 0.0,
            },
            FrontDoor::HttpApi,
        );
        // $1.00 API + $0.20 Lambda requests + 1 ms billed at 128 MB + platform logs.
        let expected =
            1.0 + 0.2 + 1e6 * 0.001 * 0.125 * 0.000_013_333_4 + platform_log_bytes() * 0.5 / 1e3;
        assert!(
            (estimate.total() - expected).abs() < 1e-9,
            "{}",
            estimate.total()
        );
    }

    #[test]
    fn a_function_url_saves_exactly_the_http_apis_request() {
        let calls = BTreeMap::new();
        let measured = Measured {
            messages: 10,
            calls: &calls,
            delivery_batches: 3,
            ingest_ms: 12.0,
            delivery_ms: 40.0,
            log_bytes: 300.0,
        };
        let api = per_million(&measured, FrontDoor::HttpApi).total();
        let url = per_million(&measured, FrontDoor::FunctionUrl).total();
        assert!((api - url - 1.0).abs() < 1e-9, "{api} {url}");
    }

    #[test]
    fn the_floor_prices_each_guarantees_writes() {
        let alert = floor(&FLOOR_MESSAGES[0], FrontDoor::FunctionUrl);
        // 1.1 invocations, 1.2 SQS requests, 3 writes, 1.5 read units.
        let expected = 1.1 * 0.2 + 1.2 * 0.5 + 3.0 * 0.625 + 1.5 * 0.125;
        assert!((alert.total() - expected).abs() < 1e-9, "{}", alert.total());
        let question = floor(&FLOOR_MESSAGES[1], FrontDoor::HttpApi);
        // The HTTP API, two more writes and half a read unit more.
        let more = 1.0 + 2.0 * 0.625 + 0.5 * 0.125;
        assert!((question.total() - alert.total() - more).abs() < 1e-9);
    }

    #[test]
    fn counted_units_are_priced_per_message() {
        let calls = BTreeMap::from([(
            "DynamoDB PutItem contexts".to_owned(),
            Calls {
                calls: 10,
                write_units: 20.0,
                read_units: 0.0,
                sqs_requests: 0.0,
            },
        )]);
        let estimate = per_million(
            &Measured {
                messages: 10,
                calls: &calls,
                delivery_batches: 10,
                ingest_ms: 10.0,
                delivery_ms: 10.0,
                log_bytes: 0.0,
            },
            FrontDoor::HttpApi,
        );
        let writes = estimate
            .lines
            .iter()
            .find(|(line, _)| line.starts_with("DynamoDB writes"))
            .unwrap();
        assert!((writes.1 - 2.0 * 0.625).abs() < 1e-9);
    }
}
