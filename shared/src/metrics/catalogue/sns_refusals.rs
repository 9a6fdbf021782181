use crate::metrics::{Metric, Unit};

pub const SNS_REFUSALS: Metric = Metric {
    name: "SnsRefusals",
    unit: Unit::Count,
    dimensions: &["Function", "Reason"],
    meaning: "An SNS message refused, per Reason: SnsSignatureInvalid, SnsTopicNotAllowed, SnsUnavailable, NotSnsMessage...",
};
