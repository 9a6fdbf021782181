use crate::metrics::{Metric, Unit};

pub const DELIVERY_RETRIES: Metric = Metric {
    name: "DeliveryRetries",
    unit: Unit::Count,
    dimensions: &["Function", "Answer"],
    meaning: "An attempt that will be retried after a backoff, per Answer (throttled, transient, storage).",
};
