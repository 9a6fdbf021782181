use crate::metrics::{Metric, Unit};

pub const ALERT_ACTIONS: Metric = Metric {
    name: "AlertActions",
    unit: Unit::Count,
    dimensions: &["Function", "Action"],
    meaning: "What an alert notification did to its group's message when delivered, per Action: post, edit, reply, remind or nothing (a repeat, or older than the message).",
};
