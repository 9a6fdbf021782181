use crate::metrics::{Metric, Unit};

pub const MESSAGES_DELIVERED: Metric = Metric {
    name: "MessagesDelivered",
    unit: Unit::Count,
    dimensions: &["Function"],
    meaning: "A message FChat took (its Source, group, user or alert, is a log field: one series feeds the failure-rate alarm).",
};
