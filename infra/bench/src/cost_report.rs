//! docs/cost.md: the measured cost per million messages, the design's floor, an idle month,
//! and what the operators' options (metrics, dashboard, alarms, saved queries) cost.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cost;
use crate::report::Results;
use crate::stats::median;

/// The cost targets per million messages, by kind of message and front door.
pub(crate) fn cost_target(phase: &str, door: cost::FrontDoor) -> Option<f64> {
    use cost::FrontDoor::*;
    match (phase, door) {
        (p, HttpApi) if p.starts_with("group alert") => Some(4.50),
        (p, FunctionUrl) if p.starts_with("group alert") => Some(3.50),
        (p, HttpApi) if p.starts_with("user question") => Some(5.50),
        (p, FunctionUrl) if p.starts_with("user question") => Some(4.50),
        _ => None,
    }
}

/// An idle month's target, with the alarms on.
pub(crate) const IDLE_TARGET: f64 = 0.50;

pub(crate) type DoorEstimates = Vec<(cost::FrontDoor, cost::Estimate)>;

pub(crate) fn cost_estimates(r: &Results) -> Vec<(String, DoorEstimates)> {
    let Some(e) = &r.e2e else {
        return vec![];
    };
    e.phases
        .iter()
        .map(|p| {
            let measured = cost::Measured {
                messages: p.messages,
                calls: &p.calls,
                delivery_batches: p.batches,
                ingest_ms: median(&e.ingest_durations_ms),
                delivery_ms: median(&e.delivery_durations_ms),
                log_bytes: p.log_bytes as f64 / p.messages as f64,
            };
            let doors = cost::FrontDoor::ALL
                .iter()
                .map(|door| (*door, cost::per_million(&measured, *door)))
                .collect();
            (p.name.to_owned(), doors)
        })
        .collect()
}

pub(crate) fn cost_document(r: &Results, estimates: &[(String, DoorEstimates)]) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "# Cost\n")?;
    writeln!(
        md,
        "Written by `make bench` from what it measured (see [benchmarks.md](benchmarks.md)); \
         do not edit by hand. AWS list prices, us-east-1, on-demand, arm64, without free \
         tiers:\n"
    )?;
    writeln!(md, "| Item | Price | Unit |\n|---|---|---|")?;
    for (item, price, unit) in cost::PRICES {
        writeln!(md, "| {item} | ${price} | {unit} |")?;
    }
    writeln!(md)?;
    writeln!(
        md,
        "Requests and capacity units are counted, not guessed: the end-to-end run sends every \
         DynamoDB and SQS call of the functions and of the event-source poller through a \
         counting proxy (`infra/bench/src/proxy.rs`) that applies DynamoDB's and SQS's billing \
         rules (a write unit per KiB of item plus one per index key written; a read unit per \
         4 KiB, half when eventually consistent; an SQS request per 64 KiB). Durations are the \
         median invocation durations of that run, billed at {} MB rounded up to the \
         millisecond; they were measured against moto, which answers slower than DynamoDB, \
         so they overstate Lambda's share. Logs: the bytes the functions wrote in that run \
         (their JSON lines), plus {} bytes of Lambda platform lines per invocation ({}).\n",
        cost::MEMORY_MB,
        cost::platform_log_bytes(),
        if cost::platform_log_bytes() == 0.0 {
            "the template sets `SystemLogLevel: WARN`, so Lambda writes no start and report lines"
        } else {
            "start and report lines"
        }
    )?;
    writeln!(md, "## Per million messages delivered\n")?;
    writeln!(
        md,
        "Both front doors side by side (the template's `FrontDoor` parameter): the same run, \
         priced with the HTTP API's request or with a function URL, which has no request \
         charge.\n"
    )?;
    for (name, doors) in estimates {
        writeln!(md, "### {name}\n")?;
        door_table(&mut md, name, doors, "Total")?;
    }
    floor_section(&mut md)?;
    crate::conversation_cost::section(&mut md)?;
    writeln!(md, "## An idle month\n")?;
    writeln!(md, "| Line | $ per month |\n|---|---|")?;
    let idle = cost::idle_month();
    for (line, dollars) in &idle.lines {
        writeln!(md, "| {line} | {dollars:.2} |")?;
    }
    writeln!(md, "| **Total** | **{:.2}** |\n", idle.total())?;
    writeln!(
        md,
        "Storage is left out: apps, groups and users are a few KB, and contexts expire \
         (DynamoDB's TTL deletes are free), as do the notes of SNS unsubscriptions (one small \
         item per app, kept 400 days; each unsubscription SNS confirms, a rare event, costs \
         one UpdateItem, 1 WRU). The SQS free tier (a million requests a month) \
         covers the idle polling. The secrets are SSM Parameter Store SecureStrings under the \
         AWS managed key `aws/ssm`: no monthly fee for either (Secrets Manager would be $0.40 \
         a secret); each cold start reads its function's one or two secrets, a KMS request \
         each ($3 per million, and the KMS free tier's 20,000 requests a month cover them).\n"
    )?;
    writeln!(
        md,
        "At list price the idle month stands above its ${IDLE_TARGET:.2} target, and its floor \
         is the same two lines: the {} alarms (the dead-letter queue and each function's \
         errors) and the event source's five long pollers, which Lambda keeps on any SQS \
         queue it reads. Counting SQS's free tier, which never expires and covers the \
         pollers' 648,000 requests, an idle month costs ${:.2}. Going below the target at list \
         price would mean dropping alarms: keeping only the dead-letter alarm ($0.10) saves \
         $0.30, and a crash of the ingest or callback function would then show only in its \
         logs and in the apps' 5xx answers.\n",
        cost::ALARMS,
        cost::ALARMS * 0.10
    )?;
    metrics_section(&mut md)?;
    writeln!(
        md,
        "## Storms and outages\n\n\
         The delivery queue is FIFO, one message group per chat ([storms.md](storms.md)): SQS \
         FIFO requests cost $0.50 a million where a standard queue's cost $0.40, the price of \
         order per chat and of pausing a chat as one. What waiting adds, on top of the lines \
         above:\n\n\
         | Event | Requests and writes | Price |\n|---|---|---|\n\
         | A message paced (its chat sent to less than FChat's interval ago) | 1 visibility \
         change, then a share of the receive that hands it out again | about $0.55 per million \
         paced messages |\n\
         | A 429 (the chat waits `retry_after`) | the refused attempt (2 writes: lease and \
         outcome), 1 visibility change, and one release per job behind it in the batch | about \
         $1.80 per million refusals, plus $0.50 per million released jobs |\n\
         | An outage, per waiting chat | one probe every 10 to 20 s: a receive, a visibility \
         change, 2 writes and a read | about $2.3 per million probes: one to two cents per waiting \
         chat per day, whatever its backlog |\n"
    )?;
    writeln!(
        md,
        "## What stands between the measured cost and the floor\n"
    )?;
    writeln!(
        md,
        "The measured figures are above the floor by what the end-to-end run's traffic costs: \
         the event source hands the delivery function small batches (messages arrive one by \
         one), so each message pays nearly a receive and a delete of its own and a share of a \
         delivery invocation; and the measured durations and log lines. Taken already: only a \
         message with buttons is indexed by its FChat message id (one write less per plain \
         message), the tenants' tables are read eventually consistent (half a read unit \
         each), the secrets are SSM SecureStrings (no monthly fee), and the function URL is a \
         choice of the template. What remains, each a product decision:\n"
    )?;
    writeln!(
        md,
        "| Lever | Saves per million | What it would cost |\n|---|---|---|"
    )?;
    writeln!(
        md,
        "| A batching window on the event source (`MaximumBatchingWindowInSeconds`) | up to \
         the SQS receive and delete requests and the delivery invocations that small batches \
         cost: at {FULL:.0} per batch a message needs {:.2} SQS requests | Each message would \
         wait up to the window before delivery, which alerts want the opposite of; and a FIFO \
         queue, which the delivery queue is (order per chat), takes no batching window. |",
        1.0 + 2.0 / cost::FULL_BATCH,
        FULL = cost::FULL_BATCH
    )?;
    writeln!(
        md,
        "| Dropping the `sending` lease (one conditional write per message) | $0.625 | FChat \
         deduplicates sends by `client_message_id`, but the lease is what keeps two \
         deliveries of one job from racing and what the status route shows as `sending`. Not \
         taken: the lease stays. |\n"
    )?;
    writeln!(
        md,
        "Durations here were measured against moto; against DynamoDB in a region the Lambda \
         duration line shrinks, and the total with it, by a few cents at most.\n"
    )?;
    let _ = r;
    Ok(md)
}

/// The floor of the design: what each guarantee needs per message, priced, behind each door.
fn floor_section(md: &mut String) -> Result<()> {
    writeln!(md, "## The floor of the design\n")?;
    writeln!(
        md,
        "What one message needs at the least, each item paying for a guarantee: its one \
         request at the front door, the ingest invocation and a tenth of a delivery \
         invocation, one SQS send and a tenth of a receive and of a delete (full batches of \
         {:.0}), and these writes and reads; no retry, no idempotency key, nothing logged and \
         no duration.\n",
        cost::FULL_BATCH
    )?;
    for message in &cost::FLOOR_MESSAGES {
        writeln!(md, "### {}\n", message.name)?;
        for (what, units) in message.writes {
            writeln!(md, "- write, {units:.0} WRU: {what}")?;
        }
        for (what, units) in message.reads {
            writeln!(md, "- read, {units:.1} RRU: {what}")?;
        }
        writeln!(md)?;
        let doors: DoorEstimates = cost::FrontDoor::ALL
            .iter()
            .map(|door| (*door, cost::floor(message, *door)))
            .collect();
        door_table(md, message.name, &doors, "Floor")?;
    }
    Ok(())
}

/// One kind of message priced behind each front door: a column a door, its total against its
/// target.
fn door_table(md: &mut String, name: &str, doors: &DoorEstimates, total: &str) -> Result<()> {
    let names: Vec<&str> = doors.iter().map(|(door, _)| door.name()).collect();
    writeln!(md, "| Line | {} |", names.join(" | "))?;
    writeln!(md, "|---|{}", "---|".repeat(doors.len()))?;
    for (index, (line, _)) in doors[0].1.lines.iter().enumerate() {
        // The first line is the door's own, named in each column's heading.
        let line = if index == 0 {
            "Front door"
        } else {
            line.as_str()
        };
        let dollars: Vec<String> = doors
            .iter()
            .map(|(_, e)| format!("{:.3}", e.lines[index].1))
            .collect();
        writeln!(md, "| {line} | {} |", dollars.join(" | "))?;
    }
    let totals: Vec<String> = doors
        .iter()
        .map(|(door, e)| {
            let target =
                cost_target(name, *door).map_or(String::new(), |t| format!(" (target ${t:.2})"));
            format!("**{:.2}**{target}", e.total())
        })
        .collect();
    writeln!(md, "| **{total}** | {} |\n", totals.join(" | "))?;
    Ok(())
}

/// The operators' view: EMF lines, custom metrics, the dashboard, the alarms, the queries.
fn metrics_section(md: &mut String) -> Result<()> {
    let (request, delivery) = cost::emf_document_bytes();
    writeln!(md, "## Metrics, dashboard, alarms and saved queries\n")?;
    writeln!(
        md,
        "The functions report their metrics in CloudWatch's Embedded Metric Format \
         ([metrics.md](metrics.md)): log lines, so no `PutMetricData` request. Their bytes are \
         in the Logs ingestion lines above, measured from the functions' output: a request's \
         document is about {request} bytes and a delivery attempt's about {delivery}, so a \
         message adds about ${:.2} per million in ingestion. CloudWatch then bills each metric \
         series (a metric and one set of dimension values) that gets a value, per hour.\n",
        (request + delivery) as f64 / 1e9 * 1e6 * 0.50
    )?;
    writeln!(
        md,
        "| What | Default | $ per month | Notes |\n|---|---|---|---|"
    )?;
    for (what, default, dollars, notes) in cost::operator_options() {
        writeln!(md, "| {what} | {default} | {dollars:.2} | {notes} |")?;
    }
    writeln!(
        md,
        "\nIdle, none of it costs anything with the defaults: no traffic writes no EMF line and \
         so no series, the dashboard and the two delivery alarms are off, and saved queries are \
         free (running one costs its scan). With `Dashboard=true` and `DeliveryAlarms=true` an \
         idle month costs ${:.2} more at list price, less within CloudWatch's always-free tier \
         (3 dashboards, 10 alarm metrics and 10 custom metrics per account).\n",
        cost::DASHBOARD_MONTH + cost::DELIVERY_ALARM_METRICS * 0.10
    )?;
    Ok(())
}
