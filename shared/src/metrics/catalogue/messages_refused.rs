use crate::metrics::{Metric, Unit};

pub const MESSAGES_REFUSED: Metric = Metric {
    name: "MessagesRefused",
    unit: Unit::Count,
    dimensions: &["Function", "Route", "Reason"],
    meaning: "A request the ingest function refused, per Route (unknown: no route matched) and Reason, the error catalogue's entry (MessageTooLong, GroupRouteNotAuthenticated, QueueUnavailable...).",
};
