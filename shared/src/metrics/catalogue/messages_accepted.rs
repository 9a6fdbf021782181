use crate::metrics::{Metric, Unit};

pub const MESSAGES_ACCEPTED: Metric = Metric {
    name: "MessagesAccepted",
    unit: Unit::Count,
    dimensions: &["Function", "Route", "Outcome"],
    meaning: "A request the ingest function accepted: Outcome queued (a job is on the queue) or replayed (an Idempotency-Key's first answer again), per Route (group_message, user_message, alertmanager, grafana, sns, events).",
};
