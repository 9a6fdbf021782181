use crate::metrics::{Metric, Unit};

pub const WEBHOOK_LATENCY: Metric = Metric {
    name: "WebhookLatency",
    unit: Unit::Milliseconds,
    dimensions: &["Function", "Outcome"],
    meaning: "How long an app's webhook took to answer (or to fail), per Outcome.",
};
