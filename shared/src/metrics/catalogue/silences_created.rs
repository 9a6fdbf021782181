use crate::metrics::{Metric, Unit};

pub const SILENCES_CREATED: Metric = Metric {
    name: "SilencesCreated",
    unit: Unit::Count,
    dimensions: &["Function"],
    meaning: "A silence created in an app's Alertmanager from a click in the chat.",
};
