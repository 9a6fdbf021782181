use crate::metrics::{Metric, Unit};

pub const DELIVERY_LATENCY: Metric = Metric {
    name: "DeliveryLatency",
    unit: Unit::Milliseconds,
    dimensions: &["Function"],
    meaning: "From the job's queueing (the request's acceptance) to FChat taking the message, retries and outages included.",
};
