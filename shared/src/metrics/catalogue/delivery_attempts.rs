use crate::metrics::{Metric, Unit};

pub const DELIVERY_ATTEMPTS: Metric = Metric {
    name: "DeliveryAttempts",
    unit: Unit::Count,
    dimensions: &["Function", "Answer"],
    meaning: "An attempt at handing a message to FChat, per Answer: ok, refused (a permanent 4xx, an unknown user, a group gone), throttled (429), transient (5xx, timeouts, connection errors, a delivery under way elsewhere) or storage (the gateway's own tables).",
};
