use crate::metrics::{Metric, Unit};

pub const MESSAGES_EXPIRED: Metric = Metric {
    name: "MessagesExpired",
    unit: Unit::Count,
    dimensions: &["Function"],
    meaning: "A message whose delivery window passed before FChat took it; its job goes to the dead-letter queue.",
};
