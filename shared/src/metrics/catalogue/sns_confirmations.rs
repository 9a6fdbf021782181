use crate::metrics::{Metric, Unit};

pub const SNS_CONFIRMATIONS: Metric = Metric {
    name: "SnsConfirmations",
    unit: Unit::Count,
    dimensions: &["Function"],
    meaning: "An SNS subscription confirmed (its SubscribeURL fetched).",
};
