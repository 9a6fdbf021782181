use crate::metrics::{Metric, Unit};

pub const MESSAGES_FAILED: Metric = Metric {
    name: "MessagesFailed",
    unit: Unit::Count,
    dimensions: &["Function"],
    meaning: "A message that failed for good: FChat refused it, its group was deactivated or deleted, FChat does not know the user.",
};
