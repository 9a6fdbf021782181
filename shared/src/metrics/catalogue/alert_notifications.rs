use crate::metrics::{Metric, Unit};

pub const ALERT_NOTIFICATIONS: Metric = Metric {
    name: "AlertNotifications",
    unit: Unit::Count,
    dimensions: &["Function", "Source"],
    meaning: "An alert notification queued, per Source: alertmanager, grafana, sns or events.",
};
