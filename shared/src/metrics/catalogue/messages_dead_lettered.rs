use crate::metrics::{Metric, Unit};

pub const MESSAGES_DEAD_LETTERED: Metric = Metric {
    name: "MessagesDeadLettered",
    unit: Unit::Count,
    dimensions: &["Function", "Reason"],
    meaning: "A job moved to the dead-letter queue, per Reason: expired (delivery window passed), unreadable (not a job), forward_exhausted (an event's last forward attempt).",
};
