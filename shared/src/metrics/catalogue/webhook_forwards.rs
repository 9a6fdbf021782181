use crate::metrics::{Metric, Unit};

pub const WEBHOOK_FORWARDS: Metric = Metric {
    name: "WebhookForwards",
    unit: Unit::Count,
    dimensions: &["Function", "Outcome"],
    meaning: "An attempt at posting an event to an app's webhook, per Outcome: ok, failed (retried), gone (410), refused (a URL the guard refuses, a secret that cannot sign). The app is a log field.",
};
